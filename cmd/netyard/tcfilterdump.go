package main

import (
	"context"
	"fmt"
	"io"
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
	req := ctl.DumpRequest{Kind: "filter", Select: words, Since: sel.SinceGen}
	newPrinter := func(out io.Writer) messagePrinter {
		return &filterPrinter{l: printer.ListFilters(out, sel), sel: sel}
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
	if err := p.dec.Decode(o.Data, &p.v); err != nil {
		return fmt.Errorf("filter %x: %w", o.Key, err)
	}
	v := &p.v
	if p.sel.Protocol != 0 && v.Spec.Protocol != p.sel.Protocol {
		return nil
	}
	v.Spec.Dev, v.Spec.Parent = p.sel.Dev, p.sel.Parent
	p.tv.Spec, p.tv.Stats = v.Spec, v.Stats
	p.tv.Actions = p.tv.Actions[:0]
	for _, a := range v.Actions {
		p.tv.Actions = append(p.tv.Actions, tcsyntax.ActionView{Spec: a.Spec, Stats: a.Stats, Refs: a.Refs, Binds: a.Binds})
	}
	p.l.Add(&p.tv)
	return nil
}

func (p *filterPrinter) finish(gen *uint64) error {
	if !p.done {
		p.done = true
		p.err = p.l.Close(gen)
	}
	return p.err
}
