package tcsyntax

import "io"

// FilterLister prints "tc filter show" one filter at a time, as a client
// of a filter dump receives them: the listing of millions of filters
// streams, holding nothing but the previous filter's position (a
// priority's header line comes before its first filter, as Filters
// prints it). A JSON listing is one array across all of it.
type FilterLister struct {
	p    *Printer
	w    *Writer
	out  io.Writer
	sel  Selector
	prev FilterView
	have bool
}

// ListFilters starts a listing on out for the command's selection (what
// the command named is not repeated on each line).
func (p *Printer) ListFilters(out io.Writer, sel Selector) *FilterLister {
	w := p.writer()
	w.sink = out
	return &FilterLister{p: p, w: w, out: out, sel: sel}
}

// Reset points the lister at out for another part of a listing, keeping
// its buffers (a client that prints messages on several goroutines keeps
// one lister each). Text only. After says where the part begins.
func (l *FilterLister) Reset(out io.Writer) {
	l.out = out
	l.w.sink = out
	l.w.sinkErr = nil
	l.w.text = l.w.text[:0]
	l.have = false
}

// After tells the lister that the filter printed before the next one
// (in an earlier part) was at dev, parent, chain, prio: a prio's header
// line is printed only before its first filter.
func (l *FilterLister) After(dev string, parent, chain uint32, prio uint16) {
	l.have = true
	pf := &l.prev.Spec
	pf.Dev, pf.Parent, pf.Chain, pf.Prio = dev, parent, chain, prio
}

// Add prints the next filter.
func (l *FilterLister) Add(v *FilterView) {
	f, pf := &v.Spec, &l.prev.Spec
	if !l.have || pf.Chain != f.Chain || pf.Prio != f.Prio || pf.Dev != f.Dev || pf.Parent != f.Parent {
		printFilter(l.w, v, l.sel, &l.p.Options, true)
	}
	printFilter(l.w, v, l.sel, &l.p.Options, false)
	l.w.Drain()
	l.After(f.Dev, f.Parent, f.Chain, f.Prio)
}

// Close ends the listing; gen, when not nil, is the generation to ask
// "since gen" for next time (a last line "generation N").
func (l *FilterLister) Close(gen *uint64) error {
	printGeneration(l.w, gen)
	return l.p.flush(l.w, l.out)
}
