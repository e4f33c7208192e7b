package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"netyard/act"
	"netyard/ctl"
	"netyard/tcsyntax"
)

// defaultDumpMessage is the reply size netyard tc asks for: 1 MiB, the
// largest ctl allows and 32 times the kernel's cap, about 9,700 gact
// actions with statistics per message. Against 256 KiB it takes a dump of
// 6,000,000 actions from 3.0-3.6 s to 2.7 s on a 2-core machine: fewer
// system calls and walks (bench/dump.sh).
const defaultDumpMessage = 1 << 20

// dumpActions lists actions through the daemon's dump ("action/KIND"),
// printing each reply message as it arrives, as tc prints the kernel's.
func dumpActions(ctx context.Context, c *ctl.Client, opts tcsyntax.Options, cmd *tcsyntax.Command, f *tcFlags, stdout, stderr io.Writer) error {
	// Times arrive as ages; printed against act.DecodeNow they read
	// "installed N sec" as the daemon's clock has it.
	opts.Now = act.DecodeNow
	printer := &tcsyntax.Printer{Options: opts}
	newPrinter := func(out io.Writer) messagePrinter {
		if opts.JSON {
			return newSerialPrinter(printer, out)
		}
		return &choosingPrinter{
			serial:   func() messagePrinter { return newSerialPrinter(printer, out) },
			parallel: func() messagePrinter { return newParallelPrinter(printer, out, runtime.GOMAXPROCS(0)) },
		}
	}
	req := ctl.DumpRequest{
		Kind:       netnsKind(opts.Netns, "action/"+cmd.Select.Kind),
		Terse:      opts.Brief,
		UsedWithin: time.Duration(cmd.Select.Since) * time.Millisecond,
		Since:      cmd.Select.SinceGen,
	}
	return runDump(ctx, c, req, dumpOutput{what: "actions", sinceGen: cmd.Select.HasSinceGen, newPrinter: newPrinter}, f, stdout, stderr)
}

// dumpOutput is what a dump prints and how.
type dumpOutput struct {
	what       string // "actions", "filters"
	sinceGen   bool   // the listing ends with the generation line
	newPrinter func(io.Writer) messagePrinter
}

// runDump runs a dump request and prints it: streaming, or held until it
// is consistent when it may restart (--retry), with the progress line,
// the --time line, and the NLM_F_DUMP_INTR warning.
func runDump(ctx context.Context, c *ctl.Client, req ctl.DumpRequest, o dumpOutput, f *tcFlags, stdout, stderr io.Writer) error {
	out := bufio.NewWriterSize(stdout, 64<<10)
	// A dump that may restart (--retry) is held until it is consistent,
	// so that a restart does not print the table twice; otherwise it
	// streams.
	var held *bytes.Buffer
	var sink io.Writer = out
	if f.retries > 0 {
		held = new(bytes.Buffer)
		sink = held
	}
	mp := o.newPrinter(sink)
	size := f.msgSize
	switch {
	case size != 0:
	case o.sinceGen:
		// A delta is small, and the client's fresh buffers cost more
		// than a few more messages would.
		size = ctl.MinMessageSize
	default:
		size = defaultDumpMessage
	}
	prog := startProgress(stderr, f.progress, o.what)
	defer prog.stop()
	req.MaxMessage = size
	req.OnMessage = func(n int) error {
		return mp.begin(n)
	}
	req.OnRestart = func() error {
		if err := mp.finish(nil); err != nil {
			return err
		}
		held.Reset()
		mp = o.newPrinter(held)
		prog.restart()
		return nil
	}
	start := time.Now()
	res, err := c.Dump(ctx, req, func(o ctl.Object) error {
		prog.add(1)
		return mp.add(o)
	})
	inconsistent := errors.Is(err, ctl.ErrDumpInconsistent)
	var next *uint64
	if o.sinceGen {
		next = &res.NextSince
	}
	if ferr := mp.finish(next); err == nil || inconsistent {
		if ferr != nil {
			return ferr
		}
	}
	if err != nil && !inconsistent {
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
	if f.timing {
		fmt.Fprintf(stderr, "netyard tc: %d %s in %d messages, %.3f ms\n", res.Objects, o.what, res.Messages, float64(time.Since(start))/1e6)
	}
	if inconsistent {
		fmt.Fprintf(stderr, "Warning: %s were added or deleted during the dump (NLM_F_DUMP_INTR, %d restarts): those may be missing or listed; every one that existed throughout is listed once. Run it again, or use --retry N.\n", o.what, res.Restarts)
		return errReported
	}
	return nil
}

// messagePrinter prints a dump message by message: begin starts a message
// of n objects, add gives it one, finish prints what is left and the
// closing generation line (gen, when not nil).
type messagePrinter interface {
	begin(n int) error
	add(o ctl.Object) error
	finish(gen *uint64) error
}

// serialPrinter decodes and prints on the dump's goroutine, one action at
// a time: JSON (one array across messages), and small dumps.
type serialPrinter struct {
	l       *tcsyntax.ActionLister
	dec     act.Decoder
	v       tcsyntax.ActionView
	started bool
	done    bool
	err     error
}

func newSerialPrinter(p *tcsyntax.Printer, out io.Writer) *serialPrinter {
	return &serialPrinter{l: p.ListActions(out)}
}

func (s *serialPrinter) begin(n int) error {
	if s.started {
		s.l.End()
	}
	s.started = true
	s.l.Start(n)
	return nil
}

func (s *serialPrinter) add(o ctl.Object) error {
	s.dec.Reset(1) // the view is printed before the next is decoded
	if err := s.dec.Decode(o.Data, &s.v); err != nil {
		return fmt.Errorf("action %x: %w", o.Key, err)
	}
	s.l.Add(&s.v)
	return nil
}

func (s *serialPrinter) finish(gen *uint64) error {
	if s.done {
		return s.err
	}
	s.done = true
	if s.started {
		s.l.End()
	}
	s.err = s.l.Close(gen)
	return s.err
}

// choosingPrinter picks the text printer by the first message: a dump
// whose first message is small is small (every message but the last is
// full), and is printed on the dump's goroutine with buffers of its size;
// a big one is printed on every core. Fresh memory is what a small dump
// costs most (a page fault is some 13 us in this project's CI VM), and the
// parallel printer holds several messages' worth.
type choosingPrinter struct {
	serial, parallel func() messagePrinter
	// from is the first message's size from which printing goes
	// parallel; 0 means parallelFrom.
	from int
	messagePrinter
}

// parallelFrom is the first message's size from which printing goes
// parallel.
const parallelFrom = 4096

func (c *choosingPrinter) begin(n int) error {
	if c.messagePrinter == nil {
		from := c.from
		if from == 0 {
			from = parallelFrom
		}
		if n >= from {
			c.messagePrinter = c.parallel()
		} else {
			c.messagePrinter = c.serial()
		}
	}
	return c.messagePrinter.begin(n)
}

func (c *choosingPrinter) finish(gen *uint64) error {
	if c.messagePrinter == nil {
		c.messagePrinter = c.serial()
	}
	return c.messagePrinter.finish(gen)
}

// parallelPrinter prints text on several goroutines: a message's text
// depends on that message alone (its own "total acts N", actions numbered
// from 0), so each formatter decodes and prints whole messages, and a
// writer puts them out in order. The dump's goroutine only copies each
// object's bytes into the message's batch, so what crosses cores is a
// stream of bytes, not decoded views. With the daemon on one core, a
// listing of millions of actions spreads over both (bench/dump.sh).
type parallelPrinter struct {
	// newFormatter makes one formatter's function, with its own decoder
	// and printer state: it decodes a batch and puts its text in
	// b.text.
	newFormatter func() func(b *rawBatch)
	out          io.Writer
	free, work   chan *rawBatch
	done         chan *rawBatch
	formatters   sync.WaitGroup
	written      chan error
	cur          *rawBatch
	seq          int
	finished     bool
	err          error // finish's result, for a second call
	lastKey      []byte
	// closing prints the end of the listing (its generation line) after
	// the last message.
	closing func(out io.Writer, gen *uint64) error
}

// rawBatch is one message: its objects' bytes back to back, then its
// text.
type rawBatch struct {
	seq, n int
	data   []byte
	ends   []int
	// prevKey is the key of the previous message's last object (nil for
	// the first message): a filter listing prints a prio's header line
	// only before its first filter, which may be in an earlier message.
	prevKey []byte
	text    bytes.Buffer
	err     error
}

func newParallelPrinter(p *tcsyntax.Printer, out io.Writer, workers int) *parallelPrinter {
	pp := newParallelPrinterWith(func() func(*rawBatch) { return actionFormatter(p) }, out, workers)
	pp.closing = func(out io.Writer, gen *uint64) error { return p.ListActions(out).Close(gen) }
	return pp
}

func newParallelPrinterWith(newFormatter func() func(*rawBatch), out io.Writer, workers int) *parallelPrinter {
	workers = max(workers, 1)
	// One batch more than formatters: one fills while the others are
	// formatted. Each holds a message and its text (about 3.5 MB for a
	// 1 MiB message), and memory touched for the first time is what a
	// fresh process pays most for.
	batches := workers + 1
	pp := &parallelPrinter{newFormatter: newFormatter, out: out,
		free: make(chan *rawBatch, batches), work: make(chan *rawBatch, batches),
		done: make(chan *rawBatch, batches), written: make(chan error, 1)}
	for range batches {
		pp.free <- new(rawBatch)
	}
	for range workers {
		pp.formatters.Go(pp.format)
	}
	go pp.write()
	return pp
}

func (pp *parallelPrinter) format() {
	f := pp.newFormatter()
	for b := range pp.work {
		f(b)
		pp.done <- b
	}
}

// actionFormatter decodes a message of actions and prints it as tc prints
// one message of "tc actions ls".
func actionFormatter(p *tcsyntax.Printer) func(*rawBatch) {
	var (
		dec   act.Decoder
		views []tcsyntax.ActionView
	)
	l := p.ListActions(io.Discard)
	return func(b *rawBatch) {
		dec.Reset(b.n)
		views = views[:0]
		start := 0
		for _, end := range b.ends {
			views = append(views, tcsyntax.ActionView{})
			if err := dec.Decode(b.data[start:end], &views[len(views)-1]); err != nil {
				b.err = err
				break
			}
			start = end
		}
		b.text.Reset()
		// About 250 bytes of text an action: grown once, not doubled
		// from nothing (the doublings cost more than the printing in a
		// dump of a thousand actions).
		b.text.Grow(b.n * 256)
		l.Reset(&b.text)
		l.Message(views)
		if err := l.Close(nil); err != nil && b.err == nil {
			b.err = err
		}
		clear(views)
	}
}

// write puts the messages out in order and hands their batches back.
func (pp *parallelPrinter) write() {
	var first error
	pending := make(map[int]*rawBatch)
	next := 0
	for b := range pp.done {
		pending[b.seq] = b
		for {
			b, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			if first == nil {
				first = b.err
			}
			if first == nil {
				_, first = pp.out.Write(b.text.Bytes())
			}
			pp.free <- b
		}
	}
	pp.written <- first
}

func (pp *parallelPrinter) dispatch() {
	if pp.cur != nil {
		pp.work <- pp.cur
		pp.cur = nil
	}
}

func (pp *parallelPrinter) begin(n int) error {
	pp.dispatch()
	b := <-pp.free
	b.seq, b.n, b.err = pp.seq, n, nil
	b.prevKey = append(b.prevKey[:0], pp.lastKey...)
	b.data, b.ends = b.data[:0], slices.Grow(b.ends[:0], n)
	b.data = slices.Grow(b.data, n*128)
	pp.seq++
	pp.cur = b
	return nil
}

func (pp *parallelPrinter) add(o ctl.Object) error {
	b := pp.cur
	b.data = append(b.data, o.Data...)
	b.ends = append(b.ends, len(b.data))
	pp.lastKey = append(pp.lastKey[:0], o.Key...)
	return nil
}

// finish may be called again (a restart's error path): it ends the
// goroutines once and repeats its answer.
func (pp *parallelPrinter) finish(gen *uint64) error {
	if pp.finished {
		return pp.err
	}
	pp.finished = true
	pp.dispatch()
	close(pp.work)
	pp.formatters.Wait()
	close(pp.done)
	if pp.err = <-pp.written; pp.err != nil || gen == nil {
		return pp.err
	}
	pp.err = pp.closing(pp.out, gen)
	return pp.err
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
