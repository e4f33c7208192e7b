package ctl_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"netyard/ctl"
	"netyard/ctl/ctltest"
)

// waitTimeout bounds a wait for something that must happen; it is never
// a delay the test depends on.
const waitTimeout = 10 * time.Second

func listen(t *testing.T, srv *ctl.Server) (path string, served chan error) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ctl.Listen(path, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	served = make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return path, served
}

// TestUnixSocket runs the protocol over a real socket: mode 0600, a ping,
// a command, a dump of many messages, and a clean shutdown that removes
// the socket.
func TestUnixSocket(t *testing.T) {
	tbl := &ctltest.Table{}
	fill(tbl, 20000, 64)
	srv := ctl.NewServer(ctl.WithDumper("action/gact", tbl), ctl.WithHandler(ctl.HandlerFunc(
		func(ctx context.Context, req *ctl.ExecRequest, stdout, stderr io.Writer) error {
			_, err := io.WriteString(stdout, strings.Join(req.Words, ",")+"\n")
			return err
		})))
	path, served := listen(t, srv)

	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != fs.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("the temporary directory was left behind: %v", entries)
	}

	c, err := ctl.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(t.Context()); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := c.Exec(t.Context(), ctl.ExecRequest{Words: []string{"actions", "ls"}}, &out, nil); err != nil || out.String() != "actions,ls\n" {
		t.Errorf("Exec: %q, %v", out.String(), err)
	}
	keys, res, err := collect(t, c, ctl.DumpRequest{Kind: "action/gact"})
	if err != nil || len(keys) != 20000 || res.Messages < 50 {
		t.Errorf("Dump: %d objects in %d messages, %v", len(keys), res.Messages, err)
	}
	keys, res, err = collect(t, c, ctl.DumpRequest{Kind: "action/gact", MaxMessage: ctl.MaxMessageSize})
	if err != nil || len(keys) != 20000 || res.Messages != 2 {
		t.Errorf("Dump in 1 MiB messages: %d objects in %d messages, %v", len(keys), res.Messages, err)
	}

	srv.Close()
	if err := <-served; !errors.Is(err, ctl.ErrClosed) {
		t.Errorf("Serve = %v, want ErrClosed", err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
	if err := c.Ping(t.Context()); err == nil {
		t.Error("Ping after the server closed: no error")
	}
}

func TestListen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ctl.sock")

	l, err := ctl.Listen(path, 0o660, os.Getgid())
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Lstat(path); fi.Mode().Perm() != 0o660 {
		t.Errorf("mode %v, want 0660", fi.Mode().Perm())
	}
	// The accept loop gets its own copy of the listener: l is reused
	// below for the stale-socket case.
	go func(l net.Listener) {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}(l)
	if _, err := ctl.Listen(path, 0o600, -1); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Errorf("second Listen on a live socket: %v", err)
	}
	l.Close()

	// A stale socket: bound, closed, left behind.
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	l, err = ctl.Listen(path, 0o600, -1)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l.Close()

	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := ctl.Listen(file, 0o600, -1); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a file: %v", err)
	}
}

// TestDisconnectMidDump: a client that goes away in the middle of a dump
// ends its connection on the server (the write fails), and the server
// shuts down with nothing left running.
func TestDisconnectMidDump(t *testing.T) {
	tbl := &ctltest.Table{}
	fill(tbl, 100000, 64) // 9 MB of replies: more than the socket buffers hold
	srv := ctl.NewServer(ctl.WithDumper("t", tbl))
	ended := make(chan error, 1)
	ctl.SetConnDone(srv, func(err error) { ended <- err })
	path, _ := listen(t, srv)

	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	req := msg(ctl.MsgDump, netlink.Request|netlink.Dump, 1, attrs(str(ctl.AttrKind, "t")))
	if _, err := conn.Write(ctl.AppendMessage(nil, req)); err != nil {
		t.Fatal(err)
	}
	rd := ctl.NewReader(conn, ctl.MaxMessageSize)
	if m, err := rd.Next(); err != nil || m.Header.Type != ctl.MsgObjects {
		t.Fatalf("first reply: %+v %v", m.Header, err)
	}
	conn.Close()

	select {
	case err := <-ended:
		if err == nil {
			t.Error("the connection ended cleanly; want the write error")
		}
	case <-time.After(waitTimeout):
		t.Fatal("the server did not notice the client leave")
	}
	done := make(chan struct{})
	go func() { srv.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		t.Fatal("Close did not return")
	}
}

// TestCancelMidDump: a context that ends during a dump stops it at once
// (the socket's deadline is set), and the client dials again for the next
// call.
func TestCancelMidDump(t *testing.T) {
	tbl := &ctltest.Table{}
	fill(tbl, 100000, 64)
	srv := ctl.NewServer(ctl.WithDumper("t", tbl))
	path, _ := listen(t, srv)
	c, err := ctl.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(t.Context())
	n := 0
	_, err = c.Dump(ctx, ctl.DumpRequest{Kind: "t"}, func(ctl.Object) error {
		if n++; n == 1000 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n >= 100000 {
		t.Errorf("Dump = %v after %d objects, want context.Canceled well before the end", err, n)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Errorf("Ping after a canceled dump: %v", err)
	}
}

// TestServerCloseMidExec: Close ends a running command's context, and
// waits for it.
func TestServerCloseMidExec(t *testing.T) {
	started := make(chan struct{})
	srv := ctl.NewServer(ctl.WithHandler(ctl.HandlerFunc(func(ctx context.Context, req *ctl.ExecRequest, stdout, stderr io.Writer) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})))
	path, _ := listen(t, srv)
	c, err := ctl.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	execErr := make(chan error, 1)
	go func() { execErr <- c.Exec(context.Background(), ctl.ExecRequest{Words: []string{"wait"}}, nil, nil) }()
	<-started
	srv.Close()
	select {
	case err := <-execErr:
		if err == nil {
			t.Error("Exec succeeded although the server closed")
		}
	case <-time.After(waitTimeout):
		t.Fatal("Exec did not return after Close")
	}
}
