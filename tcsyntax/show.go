package tcsyntax

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"netyard/act"
	"netyard/qdisc"
	"netyard/stats"
)

// Printing whole objects as tc's show commands do (tc/tc_qdisc.c
// print_qdisc, tc/tc_class.c print_class, tc/tc_filter.c print_filter,
// tc/m_action.c print_action), through one Writer for text and JSON.

// Options are tc's output options, and the time to print ages against.
type Options struct {
	// Stats is the number of -s given; any adds statistics.
	Stats int
	// Details is -d: adds the few details tc shows only then.
	Details bool
	// JSON is -j; Pretty (-p) indents it as tc does.
	JSON, Pretty bool
	// Brief is -brief: for actions, a terse listing (kind, index and
	// statistics), which the daemon dumps without the parameters.
	Brief bool
	// IEC is -iec: rates in powers of 1024 ("Kibit").
	IEC bool
	// Now is the current time in nanoseconds on the clock of the
	// statistics' times, for "installed N sec used N sec".
	Now int64
	// Netns is -n NAME (-netns NAME): the namespace the command
	// addresses, "" for the default one (CLI.Resolve).
	Netns string
}

// Printer prints views as tc prints the objects. Its methods write a
// complete answer: text lines, or one JSON array and a newline.
type Printer struct {
	Options
}

func (p *Printer) writer() *Writer {
	w := newWriter(p.JSON, p.Pretty)
	if w.js != nil {
		w.js.startArray()
	}
	return w
}

func (p *Printer) flush(w *Writer, out io.Writer) error {
	if w.js != nil {
		w.js.endArray()
		w.js.b = append(w.js.b, '\n')
	}
	if w.sinkErr != nil {
		return w.sinkErr
	}
	_, err := out.Write(w.Bytes())
	return err
}

// Qdiscs prints qdiscs as "tc qdisc show". sel.Dev set means the command
// named the device, so lines do not repeat it.
func (p *Printer) Qdiscs(out io.Writer, views []QdiscView, sel Selector) error {
	w := p.writer()
	for i := range views {
		printQdisc(w, &views[i], sel, &p.Options)
	}
	return p.flush(w, out)
}

// Classes prints classes as "tc class show".
func (p *Printer) Classes(out io.Writer, views []ClassView, sel Selector) error {
	w := p.writer()
	for i := range views {
		printClass(w, &views[i], sel, &p.Options)
	}
	return p.flush(w, out)
}

// Filters prints filters as "tc filter show": a line for each priority
// (the kernel's tcf_proto) and then its filters. The selectors the command
// gave (dev, parent, pref, protocol, chain) are not repeated on each line.
// A long listing streams to out.
func (p *Printer) Filters(out io.Writer, views []FilterView, sel Selector) error {
	w := p.writer()
	w.sink = out
	printFilters(w, views, sel, &p.Options, true)
	return p.flush(w, out)
}

// filtersSince is Filters with the closing "generation N" of a "since
// gen" listing.
func (p *Printer) filtersSince(out io.Writer, views []FilterView, sel Selector, gen uint64) error {
	w := p.writer()
	w.sink = out
	printFilters(w, views, sel, &p.Options, true)
	printGeneration(w, &gen)
	return p.flush(w, out)
}

// Filter prints one filter as "tc filter get" does: no priority line, and
// the parent shown.
func (p *Printer) Filter(out io.Writer, v *FilterView) error {
	w := p.writer()
	printFilter(w, v, Selector{Dev: v.Spec.Dev}, &p.Options, false)
	return p.flush(w, out)
}

// Actions prints actions as "tc actions ls" (list, numbered from 0 after
// a "total acts N" line) or "tc actions get" (numbered from 1; tc shows
// "total acts 0" there, as the kernel sends no count).
func (p *Printer) Actions(out io.Writer, views []ActionView, list bool) error {
	if list {
		l := p.ListActions(out)
		l.Message(views)
		return l.Close(nil)
	}
	w := p.writer()
	w.sink = out
	printActionMessage(w, views, 0, 1, &p.Options)
	return p.flush(w, out)
}

// ActionLister prints "tc actions ls" one dump message at a time, as tc
// prints each netlink message of the kernel's dump: its own "total acts
// N" line and its actions numbered from 0. A listing of millions of
// actions streams: nothing is held beyond one message.
type ActionLister struct {
	p   *Printer
	w   *Writer
	out io.Writer
	n   int // actions of the message so far (Add)
}

// ListActions starts a listing on out.
func (p *Printer) ListActions(out io.Writer) *ActionLister {
	w := p.writer()
	w.sink = out
	return &ActionLister{p: p, w: w, out: out}
}

// Reset points the lister at out for another listing, keeping its
// buffers: a client that prints messages on several goroutines keeps one
// lister each and resets it for every message. Text only: a JSON listing
// is one array and is printed in order by one lister.
func (l *ActionLister) Reset(out io.Writer) {
	l.out = out
	l.w.sink = out
	l.w.sinkErr = nil
	l.w.text = l.w.text[:0]
}

// Message prints one message's actions; an empty one prints nothing, as
// the kernel sends no message for an empty table.
func (l *ActionLister) Message(views []ActionView) {
	if len(views) > 0 {
		printActionMessage(l.w, views, uint64(len(views)), 0, &l.p.Options)
	}
}

// Start begins a message of total actions printed one at a time with Add
// and ended with End: Message without holding the message's views (a
// client that decodes an action and prints it at once).
func (l *ActionLister) Start(total int) {
	l.n = 0
	startActionMessage(l.w, uint64(total))
}

// Add prints the message's next action.
func (l *ActionLister) Add(v *ActionView) {
	printListedAction(l.w, v, l.n, &l.p.Options)
	l.n++
}

// End ends the message Start began.
func (l *ActionLister) End() { endActionMessage(l.w) }

// Close ends the listing. gen, when not nil, is the generation to pass to
// "since gen" next time (netyard's incremental dumps): a last line
// "generation N", or an object {"generation": N} in JSON.
func (l *ActionLister) Close(gen *uint64) error {
	printGeneration(l.w, gen)
	return l.p.flush(l.w, l.out)
}

// printGeneration prints the closing line of a "since gen" listing (gen
// not nil): "generation N", or an object {"generation": N} in JSON.
func printGeneration(w *Writer, gen *uint64) {
	if gen != nil {
		w.Open("")
		w.Uint(PrintAny, "generation", "generation %d", *gen)
		w.NL()
		w.Close()
	}
}

func printActionMessage(w *Writer, views []ActionView, total uint64, first int, o *Options) {
	startActionMessage(w, total)
	for i := range views {
		printListedAction(w, &views[i], first+i, o)
	}
	endActionMessage(w)
}

// startActionMessage is what tc prints before a message's actions: its
// "total acts N", then the actions array opens.
func startActionMessage(w *Writer, total uint64) {
	w.Open("")
	w.Uint(PrintAny, "total acts", "total acts %d", total)
	w.NL()
	w.Close()
	w.Open("")
	w.OpenArray("actions")
}

func endActionMessage(w *Writer) {
	w.CloseArray()
	w.Close()
}

// QdiscsJSON returns qdiscs as "tc -j qdisc show" prints them (with the
// device on each), for statistics files. With o.Stats the counters are
// included.
func QdiscsJSON(views []QdiscView, o Options) json.RawMessage {
	o.JSON = true
	var b writerBuffer
	_ = (&Printer{o}).Qdiscs(&b, views, Selector{})
	return b.trim()
}

// FiltersJSON returns filters as "tc -j filter show" prints them, with the
// device and parent on each.
func FiltersJSON(views []FilterView, o Options) json.RawMessage {
	o.JSON = true
	var b writerBuffer
	_ = (&Printer{o}).Filters(&b, views, Selector{})
	return b.trim()
}

// ActionsJSON returns actions as "tc -j actions ls" prints them.
func ActionsJSON(views []ActionView, o Options) json.RawMessage {
	o.JSON = true
	var b writerBuffer
	_ = (&Printer{o}).Actions(&b, views, true)
	return b.trim()
}

type writerBuffer []byte

func (b *writerBuffer) Write(p []byte) (int, error) {
	*b = append(*b, p...)
	return len(p), nil
}

func (b writerBuffer) trim() json.RawMessage {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return json.RawMessage(b)
}

// printDev is print_devname: "dev eth0 " in text, "dev" in JSON.
func printDev(w *Writer, dev string) {
	w.Text("dev ")
	w.String(PrintAny, "dev", "%s ", dev)
}

// printQdisc is print_qdisc.
func printQdisc(w *Writer, v *QdiscView, sel Selector, o *Options) {
	q := &v.Spec
	kind := "unknown"
	if q.Params != nil {
		kind = q.Params.Kind()
	}
	w.Open("")
	w.String(PrintAny, "kind", "qdisc %s", kind)
	w.String(PrintAny, "handle", " %s", formatQdiscHandle(q.Handle))
	w.Text(" ")
	if sel.Dev == "" {
		printDev(w, q.Dev)
	}
	if q.Parent == qdisc.HandleRoot {
		w.Bool(PrintAny, "root", "root ", true)
	} else if q.Parent != 0 {
		w.String(PrintAny, "parent", "parent %s ", FormatClassID(q.Parent))
	}
	refcnt := v.Refcnt
	if refcnt == 0 && q.Parent == qdisc.HandleRoot {
		refcnt = 2
	}
	if refcnt > 1 {
		w.Uint(PrintAny, "refcnt", "refcnt %d ", uint64(refcnt))
	}
	w.Open("options")
	if k := qdiscKinds[kind]; k != nil && k.PrintOpts != nil {
		k.PrintOpts(w, q.Params, o)
	} else if k != nil {
		k.Print(w, q.Params)
	}
	w.Close()
	w.Text("\n")
	if o.Stats > 0 {
		printQueueStats(w, " ", &v.Stats)
		w.Text("\n")
		if len(v.Extra) > 0 {
			printXstats(w, qdiscKinds[kind], v.Extra)
			w.Text("\n")
		}
	}
	w.Close()
}

// printClass is print_class.
func printClass(w *Writer, c *ClassView, sel Selector, o *Options) {
	w.Open("")
	w.String(PrintAny, "class", "class %s ", c.Kind)
	w.String(PrintAny, "handle", "%s ", FormatClassID(c.Handle))
	if sel.Dev == "" {
		printDev(w, c.Dev)
	}
	if c.Parent == qdisc.HandleRoot {
		w.Bool(PrintAny, "root", "root ", true)
	} else {
		w.String(PrintAny, "parent", "parent %s ", FormatClassID(c.Parent))
	}
	if c.Leaf != 0 {
		w.String(PrintAny, "leaf", "leaf %s ", formatQdiscHandle(c.Leaf))
	}
	k := qdiscKinds[c.Kind]
	if k != nil && k.PrintClassOpts != nil && c.Params != nil {
		w.Open("options")
		k.PrintClassOpts(w, c, o)
		w.Close()
	} else if k != nil && k.PrintClass != nil && c.Params != nil {
		w.Open("options")
		k.PrintClass(w, c)
		w.Close()
	}
	w.NL()
	if o.Stats > 0 {
		if k != nil && k.ClassQueueStatsOnly {
			s := &c.Stats
			printQueue2(w, " ", s.Drops, s.Overlimits, s.Requeues, s.Backlog, s.Qlen)
		} else {
			printQueueStats(w, " ", &c.Stats)
		}
		w.NL()
		if len(c.Extra) > 0 {
			printXstats(w, k, c.Extra)
			w.NL()
		}
	}
	w.Close()
}

// printXstats prints a kind's own statistics: with its PrintXstats, or
// as "  name value ..." on one line and top-level JSON fields.
func printXstats(w *Writer, k *QdiscKind, extra []Field) {
	if k != nil && k.PrintXstats != nil {
		k.PrintXstats(w, extra)
		return
	}
	w.Text(" ")
	for _, f := range extra {
		w.Text(" ")
		printField(w, f)
	}
}

// printField prints "name value" in text and name: value in JSON.
func printField(w *Writer, f Field) {
	format := f.Name + " %d"
	switch v := f.Value.(type) {
	case uint64:
		w.Uint(PrintAny, f.Name, format, v)
	case uint32:
		w.Uint(PrintAny, f.Name, format, uint64(v))
	case uint16:
		w.Uint(PrintAny, f.Name, format, uint64(v))
	case uint8:
		w.Uint(PrintAny, f.Name, format, uint64(v))
	case uint:
		w.Uint(PrintAny, f.Name, format, uint64(v))
	case int64:
		w.Int(PrintAny, f.Name, format, v)
	case int32:
		w.Int(PrintAny, f.Name, format, int64(v))
	case int:
		w.Int(PrintAny, f.Name, format, int64(v))
	case bool:
		w.Text(f.Name + " " + fmt.Sprint(v))
		if w.IsJSON() {
			w.Bool(PrintJSON, f.Name, "", v)
		}
	case string:
		w.String(PrintAny, f.Name, f.Name+" %s", v)
	default:
		w.String(PrintAny, f.Name, f.Name+" %s", fmt.Sprint(v))
	}
}

// printQueueStats is print_tcstats2_attr for a qdisc or class: "Sent ...
// (dropped ..., overlimits ... requeues ...) " and the backlog line.
func printQueueStats(w *Writer, prefix string, s *qdisc.Stats) {
	printStats2(w, prefix, s.Bytes, s.Packets, s.Drops, s.Overlimits, s.Requeues, s.Backlog, s.Qlen)
}

func printStats2(w *Writer, prefix string, bytes, packets, drops, overlimits, requeues, backlog, qlen uint64) {
	if w.js == nil {
		// The text below in one go, without a call per field: a
		// listing of millions of actions prints it for each one.
		b := append(w.text, prefix...)
		b = strconv.AppendUint(append(b, "Sent "...), bytes, 10)
		b = strconv.AppendUint(append(b, " bytes "...), packets, 10)
		b = strconv.AppendUint(append(b, " pkt (dropped "...), drops, 10)
		b = strconv.AppendUint(append(b, ", overlimits "...), overlimits, 10)
		b = strconv.AppendUint(append(b, " requeues "...), requeues, 10)
		b = append(append(append(b, ") \n"...), prefix...), "backlog "...)
		b = appendSize(b, backlog)
		b = strconv.AppendUint(append(b, ' '), qlen, 10)
		b = strconv.AppendUint(append(b, "p requeues "...), requeues, 10)
		w.text = b
		return
	}
	w.Text(prefix)
	w.Uint(PrintAny, "bytes", "Sent %d bytes", bytes)
	w.Uint(PrintAny, "packets", " %d pkt", packets)
	printQueue2(w, prefix, drops, overlimits, requeues, backlog, qlen)
}

// printQueue2 is the gnet_stats_queue part of print_tcstats2_attr: all
// there is for a class without basic stats (" (dropped ...").
func printQueue2(w *Writer, prefix string, drops, overlimits, requeues, backlog, qlen uint64) {
	w.Uint(PrintAny, "drops", " (dropped %d", drops)
	w.Uint(PrintAny, "overlimits", ", overlimits %d", overlimits)
	w.Uint(PrintAny, "requeues", " requeues %d) ", requeues)
	w.NL()
	w.Text(prefix)
	w.Size(PrintAny, "backlog", "backlog %s", backlog)
	w.Uint(PrintAny, "qlen", " %dp", qlen)
	w.Uint(PrintText, "", " requeues %d", requeues)
}

// printFilters prints a listing: before the first filter of each
// priority, the line the kernel sends for the priority itself (its
// tcf_proto, with no options).
func printFilters(w *Writer, views []FilterView, sel Selector, o *Options, headers bool) {
	for i := range views {
		v := &views[i]
		if headers && (i == 0 || views[i-1].Spec.Chain != v.Spec.Chain || views[i-1].Spec.Prio != v.Spec.Prio ||
			views[i-1].Spec.Dev != v.Spec.Dev || views[i-1].Spec.Parent != v.Spec.Parent) {
			printFilter(w, v, sel, o, true)
		}
		printFilter(w, v, sel, o, false)
		w.Drain()
	}
}

// printFilter is print_filter; head prints the priority's line.
func printFilter(w *Writer, v *FilterView, sel Selector, o *Options, head bool) {
	f := &v.Spec
	w.Open("")
	w.Text("filter ")
	if sel.Dev == "" {
		printDev(w, f.Dev)
	}
	if !sel.HasParent || sel.Parent != f.Parent {
		if key, kw := filterParentName(f.Parent); kw {
			w.Bool(PrintAny, key, key+" ", true)
		} else {
			w.String(PrintAny, "parent", "parent %s ", FormatClassID(f.Parent))
		}
	}
	if f.Protocol != 0 || f.Prio != 0 {
		if f.Protocol != 0 && sel.Protocol != f.Protocol {
			w.String(PrintAny, "protocol", "protocol %s ", FormatProtocol(f.Protocol))
		}
		if f.Prio != 0 && sel.Prio != f.Prio {
			w.Uint(PrintAny, "pref", "pref %d ", uint64(f.Prio))
		}
	}
	kind := ""
	if f.Classifier != nil {
		kind = f.Classifier.Kind()
		w.String(PrintAny, "kind", "%s ", kind)
	}
	if !sel.HasChain || sel.Chain != f.Chain {
		w.Uint(PrintAny, "chain", "chain %d ", uint64(f.Chain))
	}
	if !head {
		if c := classifiers[kind]; c != nil {
			w.Open("options")
			c.print(w, v, o)
			w.Close()
		}
	}
	w.NL()
	w.Close()
}

// printFilterActions is tc_print_action for a filter's actions: numbered
// from 1, with the filter's binding counts.
func printFilterActions(w *Writer, views []ActionView, o *Options) {
	if len(views) == 0 {
		return
	}
	printActionList(w, views, 1, o)
}

// printActionList is tc_dump_action.
func printActionList(w *Writer, views []ActionView, first int, o *Options) {
	w.OpenArray("actions")
	for i := range views {
		printListedAction(w, &views[i], first+i, o)
	}
	w.CloseArray()
}

// printListedAction is one action of a listing: "action order N:" and the
// action.
func printListedAction(w *Writer, v *ActionView, order int, o *Options) {
	w.Open("")
	w.NL()
	w.Uint(PrintAny, "order", "\taction order %d: ", uint64(order))
	printAction(w, v, o)
	w.Close()
	w.Drain()
}

// printAction is tc_print_one_action: the kind's own part, then with -s
// the statistics, then the cookie. netyard has no hardware, so the lines
// tc prints about offload (not_in_hw, used_hw_stats) are left out.
func printAction(w *Writer, v *ActionView, o *Options) {
	s := v.Spec
	if s == nil {
		return
	}
	k := actionKinds[s.Kind()]
	if o.Brief {
		// tc -brief (a terse dump, TCA_ACT_FLAG_TERSE_DUMP): the kind
		// and the index, as tc_print_one_action prints them then.
		w.String(PrintAny, "kind", "%s", s.Kind())
		w.NL()
		w.Uint(PrintAny, "index", "\t index %d", uint64(s.Common().Index))
		w.NL()
	} else if _, isRef := s.(*act.Ref); k != nil && !isRef {
		k.print(w, s, v, o)
	} else {
		w.String(PrintAny, "kind", "%s ", s.Kind())
		w.NL()
		printIndexLine(w, "\tindex %d", s.Common().Index, v, o)
	}
	if o.Stats > 0 {
		w.Text("\tAction statistics:")
		w.NL()
		w.Open("stats")
		printActionStats(w, &v.Stats)
		w.Close()
		w.NL()
	}
	if c := s.Common().Cookie; len(c) > 0 && !o.Brief {
		w.String(PrintAny, "cookie", "\tcookie %s", hex.EncodeToString(c))
		w.NL()
	}
	// tc_print_one_action's TCA_ACT_FLAGS. (tc leaves skip_hw and
	// skip_sw out under a filter; a filter's actions carry none here,
	// the kernel refusing them there.)
	if f := s.Common().Flags; f != 0 {
		if f&act.FlagNoPercpu != 0 {
			w.Bool(PrintAny, "no_percpu", "\tno_percpu", true)
		}
		if f&act.FlagSkipHW != 0 {
			w.Bool(PrintAny, "skip_hw", "\tskip_hw", true)
		}
		if f&act.FlagSkipSW != 0 {
			w.Bool(PrintAny, "skip_sw", "\tskip_sw", true)
		}
		w.NL()
	}
}

func printActionStats(w *Writer, s *stats.Snapshot) {
	printStats2(w, "\t", s.Bytes, s.Packets, s.Drops, s.Overlimits, 0, 0, 0)
}
