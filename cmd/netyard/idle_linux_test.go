package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
)

// TestIdleDaemonCPU: a daemon with two devices of a real backend and
// nothing to forward costs (next to) nothing: no busy polling, no periodic
// kicks. Its workers sleep without a timer and its receive goroutines in
// epoll; the bound is 0.5% of a CPU over 3 s, where the daemon with a 1 ms
// park timer used 3.4%. A burst of traffic first takes the workers through
// their busy path (for AF_XDP: the deferred park that coalesces wake-ups),
// which must end in a park without a timer. The CPU time is the
// scheduler's (schedstat, in ns) summed over the process's threads: the
// test itself only sleeps meanwhile.
func TestIdleDaemonCPU(t *testing.T) {
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	for _, typ := range []string{"afpacket", "xdp"} {
		t.Run(typ, func(t *testing.T) { testIdleDaemonCPU(t, typ) })
	}
}

func testIdleDaemonCPU(t *testing.T, typ string) {
	m := testutil.NewNetns(t, "nyI")
	m.IP("link", "add", "name", "nyi0", "type", "veth", "peer", "name", "nyi1")
	m.IP("link", "add", "name", "nyi2", "type", "veth", "peer", "name", "nyi3")
	for _, l := range []string{"nyi0", "nyi1", "nyi2", "nyi3"} {
		m.IP("link", "set", "dev", l, "up")
	}
	startDaemonIn(t, m, 2, `dev add a type `+typ+` link nyi0
dev add b type `+typ+` link nyi2
qdisc add dev a clsact
qdisc add dev b clsact
filter add dev a ingress matchall action mirred egress redirect dev b
filter add dev b ingress matchall action mirred egress redirect dev a
`)
	var out, errb strings.Builder
	if err := m.Do(func() error {
		if code := run([]string{"gen", "-i", "nyi1", "--dst-mac", "02:00:00:00:99:02", "--src-ip", "10.96.0.1", "--dst-ip", "10.96.0.2",
			"--count", "2000", "--rate", "20k"}, &out, &errb); code != 0 {
			return fmt.Errorf("gen: exit %d: %s", code, errb.String())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Settle: the start's own work, the burst (and a GC they may
	// trigger) end.
	time.Sleep(500 * time.Millisecond)
	// A second window when the first is over the bound: a one-off (a
	// background GC's end, a descheduled sysmon on a loaded machine) is
	// not an idle cost; a periodic one shows in both.
	const span = 3 * time.Second
	for try := 1; ; try++ {
		c0 := processCPU(t)
		start := time.Now()
		time.Sleep(span)
		used := processCPU(t) - c0
		el := time.Since(start)
		frac := float64(used) / float64(el)
		t.Logf("idle daemon (%s), window %d: %v of CPU in %v (%.3f%% of a CPU)", typ, try, used, el.Round(time.Millisecond), 100*frac)
		if frac <= 0.005 {
			return
		}
		if try == 2 {
			t.Errorf("idle daemon (%s) used %v of CPU in %v (%.2f%% of a CPU) in two windows running, want below 0.5%%", typ, used, el.Round(time.Millisecond), 100*frac)
			return
		}
	}
}

// processCPU is the CPU time the process's threads have run, from
// /proc/self/task/*/schedstat (nanoseconds, the scheduler's own count;
// the tick-based utime/stime would round 3 s of idling to 0 or 10 ms).
// Threads that ended meanwhile are lost, which only makes the figure
// lower; a Go process rarely ends threads.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var sum time.Duration
	for _, task := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc/self/task", task.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			t.Fatalf("schedstat of task %s: %q", task.Name(), b)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			t.Fatalf("schedstat of task %s: %v", task.Name(), err)
		}
		sum += time.Duration(ns)
	}
	return sum
}
