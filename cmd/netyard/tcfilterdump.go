package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strconv"

	"netyard/act"
	"netyard/cls"
	"netyard/ctl"
	"netyard/tcsyntax"
)

// dumpFilters lists one hook's filters through the daemon's dump
// ("filter"), printing them as they arrive: "tc filter show dev D
// ingress|egress [chain N] [pref N] [protocol P] [since gen G]", with -s,
// -j and -p. A million filters travel in messages of up to 1 MiB, each
// batch resumed after the last (chain, prio, handle), with the progress
// line, --retry and the consistency warning of action dumps.
func dumpFilters(ctx context.Context, c *ctl.Client, opts tcsyntax.Options, cmd *tcsyntax.Command, f *tcFlags, stdout, stderr io.Writer) error {
	sel := cmd.Select
	opts.Now = act.DecodeNow
	printer := &tcsyntax.Printer{Options: opts}
	words := []string{"dev", sel.Dev, "parent", strconv.FormatUint(uint64(sel.Parent), 16)}
	if sel.HasChain {
		words = append(words, "chain", strconv.FormatUint(uint64(sel.Chain), 10))
	}
	if sel.Prio != 0 {
		words = append(words, "pref", strconv.FormatUint(uint64(sel.Prio), 10))
	}
	req := ctl.DumpRequest{Kind: netnsKind(opts.Netns, "filter"), Select: words, Since: sel.SinceGen}
	newPrinter := func(out io.Writer) messagePrinter {
		serial := func() messagePrinter { return &filterPrinter{l: printer.ListFilters(out, sel), sel: sel} }
		if opts.JSON {
			return serial()
		}
		// A filter with its action is some 270 bytes: a full 1 MiB
		// message holds about 3,800.
		return &choosingPrinter{serial: serial, from: parallelFrom / 4, parallel: func() messagePrinter {
			pp := newParallelPrinterWith(func() func(*rawBatch) { return filterFormatter(printer, sel) }, out, runtime.GOMAXPROCS(0))
			pp.closing = func(out io.Writer, gen *uint64) error { return printer.ListFilters(out, sel).Close(gen) }
			return pp
		}}
	}
	return runDump(ctx, c, req, dumpOutput{what: "filters", sinceGen: sel.HasSinceGen, newPrinter: newPrinter}, f, stdout, stderr)
}

// filterDumpable reports whether a command is a filter listing that the
// daemon's filter dump answers: "show" of one device's ingress or egress
// hook. Everything else (get, a qdisc's filters, all devices) runs as
// words.
func filterDumpable(cmd *tcsyntax.Command) bool {
	s := &cmd.Select
	return cmd.Object == tcsyntax.ObjFilter && cmd.Verb == tcsyntax.VerbShow && s.Dev != "" && s.HasParent &&
		(s.Parent == cls.ParentIngress || s.Parent == cls.ParentEgress)
}

// filterPrinter decodes and prints each filter as it arrives.
type filterPrinter struct {
	l    *tcsyntax.FilterLister
	sel  tcsyntax.Selector
	dec  cls.Decoder
	v    cls.FilterView
	tv   tcsyntax.FilterView
	done bool
	err  error
}

func (p *filterPrinter) begin(int) error { return nil }

func (p *filterPrinter) add(o ctl.Object) error {
	p.dec.Reset(1) // printed before the next is decoded
	return printFilterObject(&p.dec, p.l, p.sel, o.Data, &p.v, &p.tv)
}

// printFilterObject decodes one filter object and prints it, unless the
// selection's protocol leaves it out.
func printFilterObject(dec *cls.Decoder, l *tcsyntax.FilterLister, sel tcsyntax.Selector, data []byte, v *cls.FilterView, tv *tcsyntax.FilterView) error {
	if err := dec.Decode(data, v); err != nil {
		return fmt.Errorf("filter: %w", err)
	}
	if sel.Protocol != 0 && v.Spec.Protocol != sel.Protocol {
		return nil
	}
	v.Spec.Dev, v.Spec.Parent = sel.Dev, sel.Parent
	tv.Spec, tv.Stats = v.Spec, v.Stats
	tv.Actions = tv.Actions[:0]
	for _, a := range v.Actions {
		tv.Actions = append(tv.Actions, tcsyntax.ActionView{Spec: a.Spec, Stats: a.Stats, Refs: a.Refs, Binds: a.Binds})
	}
	l.Add(tv)
	return nil
}

// filterFormatter prints a message of filters on a formatter goroutine
// of the parallel printer, going on from the previous message's last
// filter.
func filterFormatter(p *tcsyntax.Printer, sel tcsyntax.Selector) func(*rawBatch) {
	var (
		dec cls.Decoder
		v   cls.FilterView
		tv  tcsyntax.FilterView
	)
	l := p.ListFilters(io.Discard, sel)
	return func(b *rawBatch) {
		dec.Reset(b.n)
		b.text.Reset()
		// About 350 bytes of text a flower filter with one action.
		b.text.Grow(b.n * 384)
		l.Reset(&b.text)
		if b.prevKey != nil {
			if pos, err := cls.ParseDumpKey(b.prevKey); err == nil {
				l.After(sel.Dev, sel.Parent, pos.Chain, pos.Prio)
			}
		}
		start := 0
		for _, end := range b.ends {
			if err := printFilterObject(&dec, l, sel, b.data[start:end], &v, &tv); err != nil {
				b.err = err
				break
			}
			start = end
		}
		if err := l.Close(nil); err != nil && b.err == nil {
			b.err = err
		}
	}
}

func (p *filterPrinter) finish(gen *uint64) error {
	if !p.done {
		p.done = true
		p.err = p.l.Close(gen)
	}
	return p.err
}
