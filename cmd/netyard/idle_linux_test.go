package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
)

// TestIdleDaemonCPU: a daemon with two AF_PACKET devices and nothing to
// forward costs (next to) nothing: no busy polling, no periodic kicks. Its
// workers sleep without a timer and its receive goroutines in epoll; the
// bound is 0.5% of a CPU over 3 s, where the daemon with a 1 ms park timer
// used 3.4%. The CPU time is the scheduler's (schedstat, in ns) summed
// over the process's threads: the test itself only sleeps meanwhile.
func TestIdleDaemonCPU(t *testing.T) {
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	m := testutil.NewNetns(t, "nyI")
	m.IP("link", "add", "name", "nyi0", "type", "veth", "peer", "name", "nyi1")
	m.IP("link", "add", "name", "nyi2", "type", "veth", "peer", "name", "nyi3")
	for _, l := range []string{"nyi0", "nyi1", "nyi2", "nyi3"} {
		m.IP("link", "set", "dev", l, "up")
	}
	startDaemonIn(t, m, 2, `dev add a type afpacket link nyi0
dev add b type afpacket link nyi2
qdisc add dev a clsact
qdisc add dev b clsact
filter add dev a ingress matchall action mirred egress redirect dev b
filter add dev b ingress matchall action mirred egress redirect dev a
`)
	// Settle: the start's own work (and a GC it may trigger) ends.
	time.Sleep(500 * time.Millisecond)
	const span = 3 * time.Second
	c0 := processCPU(t)
	start := time.Now()
	time.Sleep(span)
	used := processCPU(t) - c0
	el := time.Since(start)
	frac := float64(used) / float64(el)
	t.Logf("idle daemon: %v of CPU in %v (%.3f%% of a CPU)", used, el.Round(time.Millisecond), 100*frac)
	if frac > 0.005 {
		t.Errorf("idle daemon used %v of CPU in %v (%.2f%% of a CPU), want below 0.5%%", used, el.Round(time.Millisecond), 100*frac)
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
