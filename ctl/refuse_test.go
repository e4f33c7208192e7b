package ctl_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"testing"

	"netyard/ctl"
)

// TestRefusalReachesClient: a request the daemon refuses before reading
// it (one over its size limit) is answered with the reason, and the client
// returns that reason, not "write: broken pipe" (issue 15, item 10). The
// request is far larger than the socket's buffers, so the client is still
// writing when the daemon gives up on it.
func TestRefusalReachesClient(t *testing.T) {
	srv := ctl.NewServer(ctl.WithMaxRequest(64<<10), ctl.WithHandler(ctl.HandlerFunc(
		func(_ context.Context, req *ctl.ExecRequest, stdout, _ io.Writer) error {
			_, err := io.WriteString(stdout, "ran\n")
			return err
		})))
	path, _ := listen(t, srv)
	for _, size := range []int{128 << 10, 4 << 20} {
		c, err := ctl.Dial(path)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Exec(t.Context(), ctl.ExecRequest{Words: []string{"-b", "-"}, Stdin: bytes.Repeat([]byte("x"), size)}, io.Discard, io.Discard)
		c.Close()
		var ce *ctl.Error
		if !errors.As(err, &ce) || ce.Errno != syscall.EMSGSIZE || !strings.Contains(err.Error(), "exceeds the 65536-byte limit") {
			t.Errorf("%d-byte request: %v, want the daemon's reason (EMSGSIZE, the limit)", size, err)
		}
		if err != nil && strings.Contains(err.Error(), "broken pipe") {
			t.Errorf("%d-byte request: the client reported its own write error: %v", size, err)
		}
	}
	// The daemon still serves.
	c, err := ctl.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out strings.Builder
	if err := c.Exec(t.Context(), ctl.ExecRequest{Words: []string{"x"}}, &out, nil); err != nil || out.String() != "ran\n" {
		t.Errorf("after the refusals: %q %v", out.String(), err)
	}
}
