package ctl_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netyard/ctl"
)

// TestListenNeverReplacesLive: a second daemon never replaces a live
// daemon's socket (issue 15, item 11): not when the live one is too busy
// to accept (its backlog full: connecting says EAGAIN, not "refused"), and
// not when several start at once (exactly one gets the path, and it is the
// one that answers there).
func TestListenNeverReplacesLive(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl.sock")
	// A live daemon that does not accept: a socket listening with a
	// backlog of 0, its one pending slot taken.
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	var pending []net.Conn
	defer func() {
		for _, c := range pending {
			c.Close()
		}
	}()
	for range 4 {
		c, err := net.Dial("unix", path)
		if err != nil {
			if !errors.Is(err, unix.EAGAIN) {
				t.Fatalf("filling the backlog: %v", err)
			}
			break
		}
		pending = append(pending, c)
	}
	before, _ := os.Lstat(path)
	if l, err := ctl.Listen(path, 0o600, -1); err == nil {
		l.Close()
		t.Fatal("Listen replaced a live daemon's socket whose backlog was full")
	} else if !strings.Contains(err.Error(), "may be serving") {
		t.Errorf("err %v", err)
	}
	if after, err := os.Lstat(path); err != nil || !os.SameFile(before, after) {
		t.Fatalf("the live socket was replaced or removed: %v", err)
	}

	// Daemons starting at once on a free path: one wins.
	path2 := filepath.Join(dir, "race.sock")
	var wg sync.WaitGroup
	ls := make([]net.Listener, 8)
	for i := range ls {
		wg.Go(func() {
			if l, err := ctl.Listen(path2, 0o600, -1); err == nil {
				ls[i] = l
			} else if !strings.Contains(err.Error(), "already serving") {
				t.Errorf("Listen %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var won []net.Listener
	for _, l := range ls {
		if l != nil {
			won = append(won, l)
			defer l.Close()
		}
	}
	if len(won) != 1 {
		t.Fatalf("%d of %d Listens succeeded on one path, want 1", len(won), len(ls))
	}
	// The losers' probes are queued on the winner too: answer them all.
	go func() {
		for {
			c, err := won[0].Accept()
			if err != nil {
				return
			}
			c.Write([]byte{1})
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path2)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(waitTimeout))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		t.Fatalf("the winner does not answer at the path: %v", err)
	}
}

// TestListenPathLimit: a socket path over the kernel's limit is refused
// with the limit in the message (issue 15, item 11), as is one that fits
// but whose temporary name would not.
func TestListenPathLimit(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("d", 40), strings.Repeat("s", 120-len(dir)))
	if _, err := ctl.Listen(long, 0o600, -1); err == nil || !strings.Contains(err.Error(), "limit of 107") {
		t.Errorf("a %d-byte path: %v", len(long), err)
	}
	sub := filepath.Join(dir, strings.Repeat("d", 100-len(dir)))
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	fits := filepath.Join(sub, "ctl.sock")[:ctl.MaxSocketPath] // 107 bytes
	l, err := ctl.Listen(fits, 0o600, -1)
	if err == nil {
		l.Close()
		t.Fatalf("a 107-byte path whose temporary name is longer: no error")
	}
	if !strings.Contains(err.Error(), "limit of 107") || !strings.Contains(err.Error(), "at most") {
		t.Errorf("%v", err)
	}
	ok := filepath.Join(dir, "ctl.sock")
	l, err = ctl.Listen(ok, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
