package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDaemon runs runDaemon until the test ends and returns its log.
func startDaemon(t *testing.T, cfg daemonConfig) (*lockedBuffer, <-chan error) {
	t.Helper()
	logb := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(logb, nil)), ready) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return logb, done
}

// TestDaemonArgs: --dev names the kernel would refuse and --workers below
// 1 are usage errors (issue 15, item 8), before anything starts.
func TestDaemonArgs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"--workers", "-1"}, "--workers -1"},
		{[]string{"--workers", "0"}, "--workers 0"},
		{[]string{"--dev", "bad name"}, `"bad name"`},
		{[]string{"--dev", "eth0:1"}, `"eth0:1"`},
		{[]string{"--dev", ".."}, `".."`},
		{[]string{"--dev", "sixteen-bytes-xx"}, "at most 15"},
		{[]string{"--socket", "/tmp/" + strings.Repeat("s", 110)}, "limit of 107"},
		{[]string{"--seed", "x"}, "a number from 0 to 4294967295"},
		{[]string{"--seed", "-1"}, "a number from 0 to 4294967295"},
		{[]string{"--seed", "4294967296"}, "a number from 0 to 4294967295"},
	} {
		var out, errb strings.Builder
		code := run(append([]string{"daemon", "--socket", sock}, c.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), c.says) {
			t.Errorf("daemon %q: exit %d, stderr %q (want 2 and %q)", c.args, code, errb.String(), c.says)
		}
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("daemon %q: the socket was created", c.args)
		}
	}
}

// TestTCHelpNeedsNoDaemon: netyard tc -h prints the usage, which lists
// every object, with no daemon anywhere (issue 15, items 11 and 13).
func TestTCHelpNeedsNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "nobody.sock")
	for _, args := range [][]string{{"-h"}, {"-help"}, {"-s", "-h"}, {"-j"}} {
		var out, errb strings.Builder
		code := run(append([]string{"tc", "--socket", sock}, args...), &out, &errb)
		if code != 0 || !strings.Contains(out.String(), "Usage:") || !strings.Contains(out.String(), "dev | link | loops") || errb.Len() != 0 {
			t.Errorf("tc %q: exit %d\nstdout %q\nstderr %q", args, code, out.String(), errb.String())
		}
	}
}

// TestTCDialErrors: why the daemon cannot be reached is said as it is
// (issue 15, item 11): permission denied names the socket's mode and
// --group instead of asking whether the daemon runs. As root the real
// EACCES cannot happen (root passes the mode), so the error ctl.Dial
// returns is also built from the errno.
func TestTCDialErrors(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(sock, 0o600)
	dialErr := func(errno syscall.Errno) error {
		return fmt.Errorf("ctl: dial %s: %w", sock, &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", errno)})
	}
	for _, c := range []struct {
		err       error
		says, not string
	}{
		{dialErr(syscall.EACCES), "permission denied: the socket is mode 0600 (see --group)", "daemon running"},
		{dialErr(syscall.ENOENT), "is netyard daemon running?", "permission"},
		{dialErr(syscall.ECONNREFUSED), "is netyard daemon running?", "permission"},
		{dialErr(syscall.EAGAIN), "resource temporarily unavailable", "daemon running"},
	} {
		got := dialError(sock, c.err).Error()
		if !strings.Contains(got, c.says) || strings.Contains(got, c.not) {
			t.Errorf("%v: %q, want %q without %q", c.err, got, c.says, c.not)
		}
	}
	long := filepath.Join(dir, strings.Repeat("s", 110))
	if got := dialError(long, dialErr(syscall.EINVAL)).Error(); !strings.Contains(got, "limit of 107") {
		t.Errorf("a %d-byte path: %q", len(long), got)
	}
	if os.Geteuid() != 0 {
		// The real thing: a socket nobody may write to.
		os.Chmod(sock, 0)
		var out, errb strings.Builder
		code := run([]string{"tc", "--socket", sock, "qdisc", "show"}, &out, &errb)
		if code != 1 || !strings.Contains(errb.String(), "permission denied: the socket is mode 0000 (see --group)") {
			t.Errorf("exit %d, stderr %q", code, errb.String())
		}
	}
}

// TestDaemonSocket: the socket's start (issue 15, items 11 and 12): a
// second daemon leaves a live daemon's socket alone and says so; a path
// over the kernel's limit is refused with the limit; the default
// socket's missing directory is created 0755, another's is reported;
// the startup log counts devices from -c too (item 13).
func TestDaemonSocket(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "netyard", "ctl.sock")
	rules := filepath.Join(dir, "rules.tc")
	os.WriteFile(rules, []byte("dev add m1 type memory\ndev add m2 type memory\n"), 0o644)
	os.Mkdir(filepath.Join(dir, "run"), 0o755)

	// Not the default path: a missing directory is reported.
	err := runDaemon(t.Context(), daemonConfig{socket: sock}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "does not exist: create it") {
		t.Fatalf("missing directory: %v", err)
	}
	// The default path: created.
	logb, _ := startDaemon(t, daemonConfig{socket: sock, makeDir: true, rules: rules, devs: nameList{"eth0"}})
	if fi, err := os.Stat(filepath.Dir(sock)); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("socket directory: %v %v", err, fi.Mode())
	}
	if !strings.Contains(logb.String(), "devices=3") {
		t.Errorf("startup log does not count the rules' devices: %s", logb.String())
	}
	before, _ := os.Lstat(sock)
	err = runDaemon(t.Context(), daemonConfig{socket: sock, makeDir: true}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Fatalf("second daemon: %v", err)
	}
	if after, err := os.Lstat(sock); err != nil || !os.SameFile(before, after) {
		t.Fatalf("the second daemon touched the first's socket: %v", err)
	}
	var out, errb strings.Builder
	if code := run([]string{"tc", "--socket", sock, "-s", "dev", "show"}, &out, &errb); code != 0 || !strings.Contains(out.String(), "m2") {
		t.Errorf("the first daemon after a second tried: exit %d %q %q", code, out.String(), errb.String())
	}
	// Runts are counted apart from drops (item 6).
	if !strings.Contains(out.String(), "RX: 0 packets 0 bytes 0 dropped 0 errors") {
		t.Errorf("dev show -s lacks the RX errors:\n%s", out.String())
	}

	long := filepath.Join(dir, strings.Repeat("x", 120))
	err = runDaemon(t.Context(), daemonConfig{socket: long}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "limit of 107") {
		t.Errorf("a %d-byte socket path: %v", len(long), err)
	}
}

// TestDaemonSeed: --seed N seeds the engine (flow hash, random draws) and
// is logged; without it each daemon draws a random seed, also logged, so
// that a run can be repeated with --seed.
func TestDaemonSeed(t *testing.T) {
	dir := t.TempDir()
	logb, _ := startDaemon(t, daemonConfig{socket: filepath.Join(dir, "a.sock"), seed: 0x2a, seedGiven: true})
	if !strings.Contains(logb.String(), "seed=42") {
		t.Fatalf("--seed 42 not in the log:\n%s", logb.String())
	}
	seedOf := func(log string) string {
		i := strings.Index(log, " seed=")
		if i < 0 {
			t.Fatalf("no seed in the log:\n%s", log)
		}
		return strings.Fields(log[i+1:])[0]
	}
	b, _ := startDaemon(t, daemonConfig{socket: filepath.Join(dir, "b.sock")})
	c, _ := startDaemon(t, daemonConfig{socket: filepath.Join(dir, "c.sock")})
	if sb, sc := seedOf(b.String()), seedOf(c.String()); sb == sc {
		t.Fatalf("two daemons without --seed drew the same seed (%s): it must not be predictable", sb)
	}
}
