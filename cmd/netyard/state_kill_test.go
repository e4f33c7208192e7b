package main

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestStateSurvivesSIGKILL is the kill test of issue 12: a daemon with
// --state (a child process: this test binary, NY_RUN) is sent changes one
// after the other and killed with SIGKILL at a random moment (15 times, NY_KILLS=50 for the 50);
// each restart's configuration must be a prefix of the changes sent that
// includes the last acknowledged one (the one in flight may or may not be
// in it), never a torn or an older file. NY_KILLS sets the count.
func TestStateSurvivesSIGKILL(t *testing.T) {
	kills := 15 // NY_KILLS=50 for the count (9 s here)
	if v, err := strconv.Atoi(os.Getenv("NY_KILLS")); err == nil {
		kills = v
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	state := filepath.Join(dir, "state.tc")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "daemon", "--socket", sock, "--state", state, "--workers", "1", "--dev", "eth0")
		cmd.Env = append(os.Environ(), "NY_RUN=1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Ready when the socket answers.
		for i := 0; ; i++ {
			if _, _, code := tcOn(sock)("qdisc", "show"); code == 0 {
				return cmd
			}
			if i > 500 {
				cmd.Process.Kill()
				t.Fatal("daemon not ready")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	tc := tcOn(sock)
	index := regexp.MustCompile(`actions add action gact drop index (\d+)`)
	acked := 0 // the last change acknowledged
	rng := rand.New(rand.NewPCG(12, 1))
	for k := range kills {
		cmd := start()
		saved, e, code := tc("save")
		if code != 0 {
			t.Fatalf("kill %d: save: %s", k, e)
		}
		// The configuration is actions 1..n, in order, with n at least
		// the last acknowledged and at most the one in flight.
		ms := index.FindAllStringSubmatch(saved, -1)
		for i, m := range ms {
			if m[1] != strconv.Itoa(i+1) {
				t.Fatalf("kill %d: not a prefix of the changes: action %d is index %s:\n%s", k, i+1, m[1], saved)
			}
		}
		n := len(ms)
		if n < acked || n > acked+1 {
			t.Fatalf("kill %d: %d changes restored, %d acknowledged before the kill", k, n, acked)
		}
		acked = n
		// Kill at a random moment while changes go on.
		after := time.Duration(rng.IntN(40)) * time.Millisecond
		timer := time.AfterFunc(after, func() { cmd.Process.Signal(syscall.SIGKILL) })
		for {
			_, _, code := tc("actions", "add", "action", "gact", "drop", "index", strconv.Itoa(acked+1))
			if code != 0 {
				break // killed: this one was in flight
			}
			acked++
		}
		timer.Stop()
		cmd.Wait()
		os.Remove(sock) // a killed daemon leaves its socket; the next one would replace it anyway
	}
	if acked < kills {
		t.Fatalf("only %d changes acknowledged in %d runs: the kills came too early to test anything", acked, kills)
	}
	t.Logf("%d kills, %d changes acknowledged", kills, acked)
}
