package datapath

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"netyard/act"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
)

// TestNamespacesAtScale is issue 12's figure: N namespaces (NY_NS, e.g.
// 10000; the default 500 keeps the suite fast), each with a device and 10
// actions, created then deleted. It reports the memory per namespace and
// the times, and checks that the Go heap comes back within 10% (plus 8
// MiB for the runtime's own caches) of where it started, that the RSS
// gives back at least 90% of what the namespaces took (the pool keeps the
// buffers the traffic used for reuse: they are part of what stays), and
// that every counter set left the domain.
func TestNamespacesAtScale(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("memory figures are meaningless under the race detector (its shadow memory); the plain test run checks them")
	}
	n := 500
	if v, err := strconv.Atoi(os.Getenv("NY_NS")); err == nil && v > 0 {
		n = v
	}
	r := newRigPool(t, pkt.NewPool(pkt.PoolConfig{}))
	frame := udpFrame(t)
	settle := func() (heap, rss uint64) {
		runtime.GC()
		debug.FreeOSMemory()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc, rssBytes(t)
	}
	sets := r.e.Gens().Sets()
	heap0, rss0 := settle()
	start := time.Now()
	for i := range n {
		ns, err := r.e.Namespace(fmt.Sprintf("t%d", i), true)
		if err != nil {
			t.Fatal(err)
		}
		d, err := r.e.AddDevice(ns, netdev.Config{Name: "eth0"})
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if err := ns.AddActions([]act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}, tcsyntax.ModeAdd); err != nil {
				t.Fatal(err)
			}
		}
		_ = d.Inject(frame, r.clk.Now())
	}
	r.e.Run()
	created := time.Since(start)
	heap1, rss1 := settle()
	start = time.Now()
	for i := range n {
		if err := r.e.DelNamespace(fmt.Sprintf("t%d", i), true, nil); err != nil {
			t.Fatal(err)
		}
	}
	deleted := time.Since(start)
	heap2, rss2 := settle()
	if p := os.Getenv("NY_NS_HEAPPROF"); p != "" {
		f, _ := os.Create(p)
		pprof.WriteHeapProfile(f)
		f.Close()
	}
	t.Logf("%d namespaces (a device, 10 actions each): create %v (%v each), delete %v (%v each)", n, created, created/time.Duration(n), deleted, deleted/time.Duration(n))
	t.Logf("heap %d -> %d -> %d bytes (%d a namespace); RSS %d -> %d -> %d bytes (%d a namespace)",
		heap0, heap1, heap2, int64(heap1-heap0)/int64(n), rss0, rss1, rss2, (int64(rss1)-int64(rss0))/int64(n))
	if got := r.e.Gens().Sets(); got != sets {
		t.Fatalf("%d counter sets after the deletions, %d before", got, sets)
	}
	if heap2 > heap0+heap0/10+8<<20 {
		t.Errorf("heap %d after deleting, %d before creating", heap2, heap0)
	}
	if rss2 > rss0+(rss1-rss0)/10 {
		t.Errorf("RSS %d after deleting, %d before creating, %d with the namespaces: less than 90%% given back", rss2, rss0, rss1)
	}
	if live := r.pool.Stats().Live; live != 0 {
		t.Errorf("%d pool buffers live", live)
	}
}

// rssBytes is the process's resident set (/proc/self/statm).
func rssBytes(t *testing.T) uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skipf("no /proc/self/statm: %v", err)
	}
	f := strings.Fields(string(b))
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}
