package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestCappedWorkers: the daemon runs at most one worker per CPU it may use,
// and says so when it runs fewer than asked.
func TestCappedWorkers(t *testing.T) {
	for _, tc := range []struct {
		n, cpus, want int
		warn          bool
	}{
		{0, 4, 0, false}, // one per CPU: the engine's default
		{1, 1, 1, false},
		{2, 2, 2, false},
		{2, 4, 2, false},
		{2, 1, 1, true}, // the bench's case: a daemon pinned to one CPU
		{16, 4, 4, true},
		{3, 0, 3, false}, // unknown CPU count: as asked
	} {
		var logb bytes.Buffer
		got := cappedWorkers(tc.n, tc.cpus, slog.New(slog.NewTextHandler(&logb, nil)))
		warned := strings.Contains(logb.String(), "more workers than CPUs")
		if got != tc.want || warned != tc.warn {
			t.Errorf("cappedWorkers(%d, %d) = %d (warned %v), want %d (warn %v); log %q", tc.n, tc.cpus, got, warned, tc.want, tc.warn, logb.String())
		}
	}
}

// TestDaemonWorkersCapped: a daemon asked for more workers than
// GOMAXPROCS runs GOMAXPROCS of them (its ready line says how many).
func TestDaemonWorkersCapped(t *testing.T) {
	cpus := runtime.GOMAXPROCS(0)
	logb, _ := startDaemon(t, daemonConfig{socket: filepath.Join(t.TempDir(), "ctl.sock"), devs: nameList{"eth0"}, workers: cpus + 1})
	log := logb.String()
	if !strings.Contains(log, "more workers than CPUs") {
		t.Errorf("no warning for %d workers on %d CPUs: %s", cpus+1, cpus, log)
	}
	if want := "workers=" + strconv.Itoa(cpus) + " "; !strings.Contains(log, want) {
		t.Errorf("ready line does not say %q: %s", want, log)
	}
}
