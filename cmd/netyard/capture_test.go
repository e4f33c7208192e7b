package main

import (
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netyard/ctl"
	"netyard/datapath"
)

// stuckWriter is a capture client's output that never takes anything
// until the test ends: the client stops reading, the daemon's stream
// blocks and the session's queue fills.
type stuckWriter struct{ ctx context.Context }

func (w stuckWriter) Write(p []byte) (int, error) {
	<-w.ctx.Done()
	return 0, w.ctx.Err()
}

// TestDaemonCaptureDropsAndCap: the frames a slow `netyard capture`
// client makes the daemon drop are counted in the daemon (dev show -s:
// listener drops, with the listeners attached), not only on the
// client's stderr; a device takes at most datapath.MaxListeners capture
// sessions, and the next one is refused with an error that says so.
func TestDaemonCaptureDropsAndCap(t *testing.T) {
	sock := startBPFDaemon(t, daemonConfig{})
	dir := t.TempDir()
	air := filepath.Join(dir, "air.pcap")
	writeAir(t, air, 20)
	tc := mustCLI(t, sock, "tc")
	tc("dev", "add", "air", "type", "pcap", "file", air, "rate", "200000", "loop", "0")

	type devStats struct {
		Stats struct {
			Listeners     uint64 `json:"listeners"`
			ListenerDrops uint64 `json:"listener_drops"`
		} `json:"stats"`
	}
	stats := func() devStats {
		var v []devStats
		out := tc("-s", "-j", "dev", "show", "dev", "air")
		if err := json.Unmarshal([]byte(out), &v); err != nil || len(v) != 1 {
			t.Fatalf("dev show -s -j: %v\n%s", err, out)
		}
		return v[0]
	}
	waitFor := func(what string, ok func(devStats) bool) devStats {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			s := stats()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: dev show -s says %+v", what, s.Stats)
			}
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	stuck := func() {
		c, err := ctl.Dial(sock)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			_ = c.Exec(ctx, ctl.ExecRequest{Words: []string{"capture", "dev", "air", "monitor"}}, stuckWriter{ctx}, io.Discard)
		}()
	}
	stuck()
	s := waitFor("a stuck client's drops", func(s devStats) bool { return s.Stats.ListenerDrops > 0 })
	if s.Stats.Listeners != 1 {
		t.Errorf("%d listeners, want the one session", s.Stats.Listeners)
	}
	if txt := tc("-s", "dev", "show", "dev", "air"); !strings.Contains(txt, "listeners: 1 ") || !strings.Contains(txt, " frames dropped") {
		t.Errorf("dev show -s lacks the listeners line:\n%s", txt)
	}

	for range datapath.MaxListeners - 1 {
		stuck()
	}
	waitFor("all sessions attached", func(s devStats) bool { return s.Stats.Listeners == datapath.MaxListeners })
	_, e, code := cli(sock, "capture", "dev", "air", "count", "1", "file", filepath.Join(dir, "over.pcap"))
	if code == 0 || !strings.Contains(e, "too many listeners") || !strings.Contains(e, "at most 8") {
		t.Errorf("capture number %d: exit %d, stderr %q; want it refused, saying why", datapath.MaxListeners+1, code, e)
	}

	cancel()
	wg.Wait()
	waitFor("the sessions gone", func(s devStats) bool { return s.Stats.Listeners == 0 })
	// room again
	if o, e, code := cli(sock, "capture", "dev", "air", "monitor", "count", "3", "file", filepath.Join(dir, "after.pcap")); code != 0 {
		t.Fatalf("capture after the others ended: exit %d: %s %s", code, o, e)
	}
}
