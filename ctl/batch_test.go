package ctl_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netyard/ctl"
)

// lineHandler applies a chunk line by line: "ok N" lines are recorded as
// applied, "fail N" lines fail; it stops at a failure unless forced, as
// tcsyntax's batch does. Before running the chunk from firstBlock it waits
// until the client has produced wait chunks, so that later chunks are
// in flight when it fails.
type lineHandler struct {
	mu       sync.Mutex
	applied  []string
	produced *atomic.Int64
	wait     int64
}

func (h *lineHandler) Exec(_ context.Context, req *ctl.ExecRequest, _, stderr io.Writer) error {
	b := req.Batch
	if b == nil {
		return fmt.Errorf("not a batch chunk")
	}
	if b.FirstLine == 1 {
		deadline := time.Now().Add(waitTimeout)
		for h.produced.Load() < h.wait && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
	}
	var first error
	for i, l := range strings.Split(strings.TrimSuffix(string(req.Stdin), "\n"), "\n") {
		line := b.FirstLine + i
		if strings.HasPrefix(l, "fail") {
			b.Failed++
			err := fmt.Errorf("line %d: failed", line)
			fmt.Fprintf(stderr, "Error: %v\n", err)
			if first == nil {
				first = err
			}
			if !b.Force {
				b.StopLine = line
				return err
			}
			continue
		}
		h.mu.Lock()
		h.applied = append(h.applied, l)
		h.mu.Unlock()
		b.Applied++
	}
	return first
}

// TestExecBatchStopsExactly: a failure in the first chunk while later
// chunks are already sent leaves exactly the lines before it applied; the
// daemon refuses the chunks in flight. With force every good line is
// applied and each failure counted.
func TestExecBatchStopsExactly(t *testing.T) {
	const lines, perChunk, bad = 1000, 50, 20
	var produced atomic.Int64
	h := &lineHandler{produced: &produced, wait: 4}
	path, _ := listen(t, ctl.NewServer(ctl.WithHandler(h)))
	c, err := ctl.Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chunks := func(yield func(ctl.Chunk, error) bool) {
		for first := 1; first <= lines; first += perChunk {
			var b bytes.Buffer
			for l := first; l < first+perChunk; l++ {
				if l == bad || l == 3*perChunk+7 {
					fmt.Fprintf(&b, "fail %d\n", l)
				} else {
					fmt.Fprintf(&b, "ok %d\n", l)
				}
			}
			produced.Add(1)
			if !yield(ctl.Chunk{FirstLine: first, Data: b.Bytes()}, nil) {
				return
			}
		}
	}
	var errb bytes.Buffer
	res, err := c.ExecBatch(context.Background(), []string{"-b", "-"}, false, chunks, nil, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if res.StopLine != bad || res.Applied != bad-1 || res.Failed != 1 || res.Refused < 2 || res.Chunks != 1 {
		t.Fatalf("result %+v: want stop at %d, %d applied, 1 failed, 1 chunk run, 2 or more refused", res, bad, bad-1)
	}
	if len(h.applied) != bad-1 || h.applied[len(h.applied)-1] != fmt.Sprintf("ok %d", bad-1) {
		t.Fatalf("applied %d lines (last %q), want lines 1..%d", len(h.applied), h.applied[len(h.applied)-1], bad-1)
	}
	// The connection is usable afterwards, and a new batch runs.
	h.applied, h.wait = nil, 0
	res, err = c.ExecBatch(context.Background(), []string{"-force", "-b", "-"}, true, chunks, nil, &errb)
	if err != nil {
		t.Fatal(err)
	}
	if res.Applied != lines-2 || res.Failed != 2 || res.StopLine != 0 || res.Chunks != lines/perChunk || len(h.applied) != lines-2 {
		t.Fatalf("forced result %+v, %d applied: want %d applied, 2 failed", res, len(h.applied), lines-2)
	}
	if !strings.Contains(errb.String(), fmt.Sprintf("line %d: failed", 3*perChunk+7)) {
		t.Fatalf("stderr %q: the second failure is not reported", errb.String())
	}
}
