package ctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"syscall"

	"github.com/mdlayher/netlink"
)

// MaxBatchChunk is the largest chunk of a streamed batch a client sends:
// a quarter of DefaultMaxRequest, so that a chunk with its words and
// attribute headers always fits a request.
const MaxBatchChunk = DefaultMaxRequest / 4

// batchWindow is how many chunks may be in flight: the daemon applies one
// while the next ones wait in the socket, so the round trip is not on the
// critical path.
const batchWindow = 4

// BatchResult is how a streamed batch went.
type BatchResult struct {
	// Applied and Failed count commands; Chunks the chunks the daemon
	// ran, Refused those it refused unrun (sent before the client knew
	// of the failure that stopped the batch).
	Applied, Failed, Chunks, Refused int
	// StopLine is the line that stopped the batch (a failure without
	// force), 0 when it ran to its end.
	StopLine int
	// FirstErr is the first failed command's error as the daemon
	// reported it.
	FirstErr error
}

// Chunk is one chunk of a batch: whole lines, and the number of the
// first.
type Chunk struct {
	FirstLine int
	Data      []byte
}

var batchIDs atomic.Uint64

// ExecBatch streams a batch to the daemon: each chunk (whole lines, at
// most MaxBatchChunk bytes, numbered from its first line) goes as an exec
// request of words (which must say "-b -") on one connection, up to
// batchWindow of them in flight. The daemon applies each as it arrives;
// once a chunk fails without force it refuses the batch's later chunks
// unrun, so that nothing after the failing line is applied, and no more
// chunks are sent. chunks yields the chunks or an error (which ends the
// batch after the chunks before it). The result counts what the daemon
// applied; the error is a transport or chunking error, not a failed
// command (see BatchResult).
func (c *Client) ExecBatch(ctx context.Context, words []string, force bool,
	chunks func(yield func(Chunk, error) bool), stdout, stderr io.Writer) (BatchResult, error) {
	var res BatchResult
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return res, ErrClosed
	}
	if c.t == nil {
		t, err := c.dial(ctx)
		if err != nil {
			return res, err
		}
		c.t = t
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	t := c.t
	stopCtx := context.AfterFunc(ctx, t.interrupt)
	defer stopCtx()
	id := batchIDs.Add(1)
	window := batchWindow
	if c.cfg.testDial != nil {
		window = 1 // the test transport answers as it is written
	}
	var stopped atomic.Bool
	slots := make(chan struct{}, window)
	sent := make(chan uint32, window)
	var sendErr error // set before sent is closed
	writeFailed := false
	go func() {
		defer close(sent)
		for ch, err := range chunks {
			first, data := ch.FirstLine, ch.Data
			if err != nil {
				sendErr = err
				return
			}
			slots <- struct{}{}
			if stopped.Load() {
				return
			}
			c.seq++
			if c.seq == 0 {
				c.seq = 1
			}
			msg, err := encodeExec(ExecRequest{Words: words, Stdin: data, Batch: &BatchChunk{ID: id, FirstLine: first, Force: force}})
			if err != nil {
				sendErr = err
				return
			}
			msg.Header.Sequence = c.seq
			msg.Header.Length = uint32(hdrLen + len(msg.Data))
			b, err := msg.MarshalBinary()
			if err != nil {
				sendErr = err
				return
			}
			if _, err := t.Write(b); err != nil {
				sendErr, writeFailed = fmt.Errorf("ctl: sending batch chunk from line %d: %w", first, err), true
				return
			}
			sent <- c.seq
		}
	}()
	var rerr error
	for seq := range sent {
		if rerr != nil {
			<-slots
			continue
		}
		var d done
		complete, err := readReply(t.reader(), seq, DefaultMessageSize, func(m netlink.Message) (bool, error) {
			dd, fin, err := execReply(m, stdout, stderr)
			if fin {
				d = dd
			}
			return fin, err
		})
		<-slots
		if err != nil || !complete {
			rerr = err
			stopped.Store(true)
			t.interrupt() // a writer blocked on a full socket returns
			continue
		}
		var ce *Error
		if d.err != nil && errors.As(d.err, &ce) && ce.Errno == syscall.ECANCELED {
			res.Refused++ // sent after the failing chunk: nothing ran
			continue
		}
		res.Chunks++
		res.Applied += d.applied
		res.Failed += d.failed
		if d.err != nil {
			if res.FirstErr == nil {
				res.FirstErr = d.err
			}
			if !force {
				res.StopLine = d.stop
				stopped.Store(true)
			}
		}
	}
	if rerr != nil {
		c.drop()
		return res, rerr
	}
	if writeFailed {
		c.drop()
	}
	return res, sendErr
}
