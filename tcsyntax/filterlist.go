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

// Add prints the next filter.
func (l *FilterLister) Add(v *FilterView) {
	f, pf := &v.Spec, &l.prev.Spec
	if !l.have || pf.Chain != f.Chain || pf.Prio != f.Prio || pf.Dev != f.Dev || pf.Parent != f.Parent {
		printFilter(l.w, v, l.sel, &l.p.Options, true)
	}
	printFilter(l.w, v, l.sel, &l.p.Options, false)
	l.w.Drain()
	l.have = true
	pf.Dev, pf.Parent, pf.Chain, pf.Prio = f.Dev, f.Parent, f.Chain, f.Prio
}

// Close ends the listing; gen, when not nil, is the generation to ask
// "since gen" for next time (a last line "generation N").
func (l *FilterLister) Close(gen *uint64) error {
	printGeneration(l.w, gen)
	return l.p.flush(l.w, l.out)
}
