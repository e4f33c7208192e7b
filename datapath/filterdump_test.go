package datapath

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"netyard/pkt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"netyard/act"
	"netyard/cls"
	"netyard/ctl"
	"netyard/netdev"
	"netyard/tcsyntax"
	"netyard/wire"
)

// addFlowerFilters adds n flower filters "dst_ip 10.x.y.z" at prio 1 of
// d's ingress, with handles from first by step, each with its own gact
// pass, straight through the hook's Chains (the redirect-cycle check that
// Namespace.AddFilter runs after every add is not what these measure).
func addFlowerFilters(tb testing.TB, d *Device, n int, first, step uint32) {
	tb.Helper()
	for i := range n {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		f := &cls.Filter{Dev: d.nd.Name(), Parent: ParentIngress, Prio: 1, Handle: first + uint32(i)*step, Protocol: wire.EtherTypeIPv4,
			Classifier: &cls.Flower{DstIP: &dst}, Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.OK}}}}
		if err := d.inChains.Add(f, act.ModeAdd); err != nil {
			tb.Fatalf("filter %d: %v", i, err)
		}
	}
	publish(d.inChains, &d.ingress)
}

func filterDumpEngine(tb testing.TB) (*Engine, *Namespace, *Device) {
	e := New(Config{Workers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ns := e.Default()
	d, err := e.AddDevice(ns, netdev.Config{Name: "eth0"})
	if err != nil {
		tb.Fatal(err)
	}
	return e, ns, d
}

// TestFilterDumpInconsistent: filters added while a dump of many messages
// runs make it end with NLM_F_DUMP_INTR; every filter that existed
// throughout is still delivered exactly once, in key order, and one added
// ahead of the cursor is delivered too.
func TestFilterDumpInconsistent(t *testing.T) {
	_, ns, d := filterDumpEngine(t)
	const n = 20000
	addFlowerFilters(t, d, n, 2, 2) // even handles 2..40000
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ctl.Listen(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	srv := ctl.NewServer(ctl.WithDumper("filter", ns.FilterDumper()))
	go srv.Serve(l)
	defer srv.Close()
	c, err := ctl.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	add := func(handle uint32, dst string) {
		p := netip.MustParsePrefix(dst)
		if err := ns.AddFilter(&cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1, Handle: handle, Protocol: wire.EtherTypeIPv4,
			Classifier: &cls.Flower{DstIP: &p}, Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}}, tcsyntax.ModeAdd); err != nil {
			t.Error(err)
		}
	}
	msgs := 0
	req := ctl.DumpRequest{Kind: "filter", Select: []string{"dev", "eth0", "parent", "fffffff2"}, MaxMessage: ctl.MinMessageSize,
		OnMessage: func(int) error {
			if msgs++; msgs == 1 {
				add(3, "11.0.0.1/32")     // behind the cursor soon
				add(39999, "11.0.0.2/32") // ahead of it
			}
			return nil
		}}
	seen := map[uint32]int{}
	var last []byte
	res, err := c.Dump(context.Background(), req, func(o ctl.Object) error {
		if last != nil && bytes.Compare(o.Key, last) <= 0 {
			t.Fatalf("key %x after %x", o.Key, last)
		}
		last = append(last[:0], o.Key...)
		seen[binary.BigEndian.Uint32(o.Key[6:])]++
		return nil
	})
	if !errors.Is(err, ctl.ErrDumpInconsistent) || !res.Inconsistent {
		t.Fatalf("dump with adds during it: %v (inconsistent %v, %d messages)", err, res.Inconsistent, res.Messages)
	}
	if res.Messages < 10 {
		t.Fatalf("only %d messages: the adds may not have raced", res.Messages)
	}
	for i := range n {
		if h := uint32(2*i + 2); seen[h] != 1 {
			t.Fatalf("filter handle %d delivered %d times", h, seen[h])
		}
	}
	if seen[39999] != 1 {
		t.Errorf("handle 39999, added ahead of the cursor, delivered %d times", seen[39999])
	}
	// A quiet dump of the same hook is consistent.
	if res, err := c.Dump(context.Background(), ctl.DumpRequest{Kind: "filter", Select: req.Select}, func(ctl.Object) error { return nil }); err != nil || res.Objects != n+2 {
		t.Fatalf("quiet dump: %v, %d objects, want %d", err, res.Objects, n+2)
	}
	// Selectors are checked.
	for _, sel := range [][]string{nil, {"dev", "eth0"}, {"dev", "eth9", "parent", "fffffff2"}, {"dev", "eth0", "parent", "1"}, {"dev", "eth0", "parent", "fffffff2", "handle", "1"}, {"dev"}} {
		if _, err := c.Dump(context.Background(), ctl.DumpRequest{Kind: "filter", Select: sel}, func(ctl.Object) error { return nil }); err == nil {
			t.Errorf("selector %q: no error", sel)
		}
	}
}

// BenchmarkFilterDump is the daemon's side of `netyard tc -s filter show
// dev eth0 ingress` over a million flower filters (NETYARD_BENCH_FILTERS
// changes it), each with its own gact: the walk, both counters, and the
// encoding of the filter and its action, without the socket. ns/op is
// per filter.
func BenchmarkFilterDump(b *testing.B) {
	_, ns, d := filterDumpEngine(b)
	n := benchFilters()
	addFlowerFilters(b, d, n, 1, 1)
	dd := ns.FilterDumper()
	sel := []string{"dev", "eth0", "parent", "fffffff2"}
	var size int
	b.ReportAllocs()
	b.ResetTimer()
	objects := 0
	for objects < b.N {
		var memo any
		if _, err := dd.Dump(ctl.DumpQuery{Select: sel, Memo: &memo}, func(o ctl.Object) bool {
			size += len(o.Data)
			objects++
			return objects < b.N
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(size)/float64(objects), "B/object")
}

// BenchmarkFilterDumpSince is "since gen G" after 1,000 of the million
// filters changed (replaced): ns/op is per dump, to set against
// BenchmarkFilterDump's per-filter cost times the million.
func BenchmarkFilterDumpSince(b *testing.B) {
	e, ns, d := filterDumpEngine(b)
	n := benchFilters()
	addFlowerFilters(b, d, n, 1, 1)
	g := e.Gens().Advance()
	for i := 0; i < n; i += n / 1000 {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		if err := d.inChains.Add(&cls.Filter{Prio: 1, Handle: uint32(i + 1), Classifier: &cls.Flower{DstIP: &dst},
			Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}}, act.ModeReplace); err != nil {
			b.Fatal(err)
		}
	}
	publish(d.inChains, &d.ingress)
	dd := ns.FilterDumper()
	sel := []string{"dev", "eth0", "parent", "fffffff2"}
	b.ReportAllocs()
	for b.Loop() {
		var memo any
		got := 0
		if _, err := dd.Dump(ctl.DumpQuery{Select: sel, Since: g, Memo: &memo}, func(ctl.Object) bool { got++; return true }); err != nil {
			b.Fatal(err)
		}
		if got != 1000 {
			b.Fatalf("%d filters changed, want 1000", got)
		}
	}
}

// benchFilters is the number of filters the benchmarks install:
// 1,000,000, or NETYARD_BENCH_FILTERS.
func benchFilters() int {
	if s := os.Getenv("NETYARD_BENCH_FILTERS"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 1000 {
			return n
		}
	}
	return 1_000_000
}

// BenchmarkPathFilters is BenchmarkPath with the million filters:
// eth0's ingress holds n flower filters "dst_ip 10.x.y.z" (one mask), each
// with its own gact drop, and the frames go to the last one's address.
// Copy into a pooled buffer, parse, classify (one probe), the action,
// counters; ns/pkt over batches of 64, 0 allocs. Set against filters=1.
func BenchmarkPathFilters(b *testing.B) {
	for _, n := range []int{1, benchFilters()} {
		b.Run("filters="+strconv.Itoa(n), func(b *testing.B) {
			pool := pkt.NewPool(pkt.PoolConfig{})
			r := newRigPool(b, pool, "eth0")
			d, _ := r.ns.Device("eth0")
			for i := range n {
				dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
				if err := d.inChains.Add(&cls.Filter{Prio: 1, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Flower{DstIP: &dst},
					Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}}, act.ModeAdd); err != nil {
					b.Fatal(err)
				}
			}
			publish(d.inChains, &d.ingress)
			frame := udpFrame(b)
			var h wire.Headers
			_ = wire.Parse(frame, &h)
			last := n - 1
			copy(frame[h.L3Off+16:], []byte{10, byte(last >> 16), byte(last >> 8), byte(last)})
			// A fresh IPv4 checksum is not needed: the parser does not
			// check it (as the kernel's flow dissector does not).
			batch(r, d, frame, 64)
			if st := d.inChains.List(nil); n == 1 && st[0].Stats.Packets != 64 {
				b.Fatalf("the filter counted %d of 64 packets", st[0].Stats.Packets)
			}
			runtime.GC()
			b.ReportAllocs()
			for b.Loop() {
				batch(r, d, frame, 64)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
		})
	}
}

// TestFiltersConcurrentClients: four clients add, replace and delete
// filters of one hook through the Namespace (each command under
// Engine.mu) while the workers classify traffic through it and a fifth
// client dumps it; run with -race. Afterwards the hook holds exactly what
// the clients' successful commands left, and every dump listed its
// filters in key order.
func TestFiltersConcurrentClients(t *testing.T) {
	e, ns, d := filterDumpEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	wait := e.Start(ctx)
	defer func() { cancel(); wait() }()
	frame := udpFrame(t)
	var h wire.Headers
	_ = wire.Parse(frame, &h)
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Go(func() { // traffic to 10.0.w.x, some of which the filters match
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f := slices.Clone(frame)
			copy(f[h.L3Off+16:], []byte{10, 0, byte(i % 4), byte(i % 64)})
			_ = d.Inject(f, time.Now().UnixNano())
			if i%64 == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	})
	bg.Go(func() { // a dumping client
		dd := ns.FilterDumper()
		sel := []string{"dev", "eth0", "parent", "fffffff2"}
		for {
			select {
			case <-stop:
				return
			default:
			}
			var last []byte
			var memo any
			if _, err := dd.Dump(ctl.DumpQuery{Select: sel, Memo: &memo}, func(o ctl.Object) bool {
				if last != nil && bytes.Compare(o.Key, last) <= 0 {
					t.Errorf("dump: key %x after %x", o.Key, last)
				}
				last = append(last[:0], o.Key...)
				return true
			}); err != nil {
				t.Error(err)
			}
		}
	})
	live := make([]map[uint32]bool, 4)
	var clients sync.WaitGroup
	for w := range 4 {
		clients.Go(func() {
			have := map[uint32]bool{}
			for i := range 200 {
				handle := uint32(w*100 + 1 + (i*7)%64)
				dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(w), byte(handle % 64)}), 32)
				if have[handle] && i%3 == 0 {
					if err := ns.DelFilter(&cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1, Handle: handle}); err != nil {
						t.Errorf("del %d: %v", handle, err)
					}
					delete(have, handle)
					continue
				}
				verdict := []act.Verdict{act.OK, act.Shot, act.Unspec}[i%3]
				if err := ns.AddFilter(&cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1, Handle: handle, Protocol: wire.EtherTypeIPv4,
					Classifier: &cls.Flower{DstIP: &dst}, Actions: []act.Spec{&act.Gact{C: act.Common{Control: verdict}}}}, tcsyntax.ModeReplace); err != nil {
					t.Errorf("replace %d: %v", handle, err)
				}
				have[handle] = true
			}
			live[w] = have
		})
	}
	clients.Wait()
	close(stop)
	bg.Wait()
	want := map[uint32]bool{}
	for _, m := range live {
		for h := range m {
			want[h] = true
		}
	}
	views, err := ns.Filters("eth0", ParentIngress, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) != len(want) {
		t.Fatalf("%d filters left, the clients left %d", len(views), len(want))
	}
	for _, v := range views {
		if !want[v.Spec.Handle] {
			t.Errorf("filter %#x should not be there", v.Spec.Handle)
		}
	}
}
