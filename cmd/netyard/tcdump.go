package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"netyard/act"
	"netyard/ctl"
	"netyard/tcsyntax"
)

// defaultDumpMessage is the reply size netyard tc asks for: 256 KiB, eight
// times the kernel's 32 KiB cap, about 1,400 actions with statistics per
// message (fewer system calls; the daemon's buffer is per session).
const defaultDumpMessage = 256 << 10

// dumpActions lists actions through the daemon's dump ("action/KIND"),
// printing each reply message as it arrives, as tc prints the kernel's.
func dumpActions(ctx context.Context, c *ctl.Client, opts tcsyntax.Options, cmd *tcsyntax.Command, f *tcFlags, stdout, stderr io.Writer) error {
	// Times arrive as ages; printed against act.DecodeNow they read
	// "installed N sec" as the daemon's clock has it.
	opts.Now = act.DecodeNow
	out := bufio.NewWriterSize(stdout, 256<<10)
	// A dump that may restart (--retry) is held until it is consistent,
	// so that a restart does not print the table twice; otherwise it
	// streams.
	var held *bytes.Buffer
	var sink io.Writer = out
	if f.retries > 0 {
		held = new(bytes.Buffer)
		sink = held
	}
	printer := &tcsyntax.Printer{Options: opts}
	lister := printer.ListActions(sink)
	var (
		dec   act.Decoder
		views []tcsyntax.ActionView
	)
	flush := func() {
		lister.Message(views)
		views = views[:0]
	}
	size := f.msgSize
	if size == 0 {
		size = defaultDumpMessage
	}
	prog := startProgress(stderr, f.progress, "actions")
	defer prog.stop()
	req := ctl.DumpRequest{
		Kind:       "action/" + cmd.Select.Kind,
		MaxMessage: size,
		Terse:      opts.Brief,
		UsedWithin: time.Duration(cmd.Select.Since) * time.Millisecond,
		Since:      cmd.Select.SinceGen,
		OnMessage: func(n int) error {
			flush()
			dec.Reset(n)
			return nil
		},
		OnRestart: func() error {
			held.Reset()
			lister = printer.ListActions(held)
			views = views[:0]
			prog.restart()
			return nil
		},
	}
	res, err := c.Dump(ctx, req, func(o ctl.Object) error {
		views = append(views, tcsyntax.ActionView{})
		if err := dec.Decode(o.Data, &views[len(views)-1]); err != nil {
			return fmt.Errorf("action %x: %w", o.Key, err)
		}
		prog.add(1)
		return nil
	})
	inconsistent := errors.Is(err, ctl.ErrDumpInconsistent)
	if err != nil && !inconsistent {
		return err
	}
	flush()
	var next *uint64
	if cmd.Select.HasSinceGen {
		next = &res.NextSince
	}
	if err := lister.Close(next); err != nil {
		return err
	}
	if held != nil {
		if _, err := out.Write(held.Bytes()); err != nil {
			return err
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	prog.stop()
	if inconsistent {
		fmt.Fprintf(stderr, "Warning: actions were added or deleted during the dump (NLM_F_DUMP_INTR, %d restarts): those may be missing or listed; every action that existed throughout is listed once. Run it again, or use --retry N.\n", res.Restarts)
		return errReported
	}
	return nil
}

// progress shows a long dump's progress on a terminal: after a second, a
// line on stderr that counts, rewritten four times a second and erased at
// the end.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	what    string
	n       atomic.Uint64
	start   time.Time
	shown   bool
	stopped bool
	done    chan struct{}
}

func startProgress(w io.Writer, on bool, what string) *progress {
	p := &progress{w: w, what: what, start: time.Now(), done: make(chan struct{})}
	if !on {
		p.stopped = true
		return p
	}
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case now := <-t.C:
				p.mu.Lock()
				if el := now.Sub(p.start); el >= time.Second && !p.stopped {
					n := p.n.Load()
					fmt.Fprintf(p.w, "\rnetyard tc: %d %s, %.0f/s ", n, p.what, float64(n)/el.Seconds())
					p.shown = true
				}
				p.mu.Unlock()
			}
		}
	}()
	return p
}

func (p *progress) add(n uint64) { p.n.Add(n) }

func (p *progress) restart() { p.n.Store(0) }

func (p *progress) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.stopped = true
	close(p.done)
	if p.shown {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
