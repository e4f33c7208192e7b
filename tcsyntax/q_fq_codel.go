package tcsyntax

import (
	"strconv"
	"time"

	"netyard/qdisc"
	"netyard/qdisc/fqcodel"
)

// fq_codel (tc/q_fq_codel.c): "fq_codel [limit PACKETS] [flows NUMBER]
// [target TIME] [interval TIME] [quantum BYTES] [ecn | noecn]
// [ce_threshold TIME] [memory_limit BYTES] [drop_batch SIZE]".
//
// Parameters start from fqcodel.Defaults(), the kernel's defaults: tc
// sends only what was given and fq_codel_init fills in the rest. As in
// tc, a limit, flows, quantum, target, interval or drop_batch of 0 is not
// sent, so it leaves the default; so does a memory_limit or ce_threshold
// of 4294967295 (tc's "not given").
//
// Statistics (QdiscView.Extra and ClassView.Extra) are the fields of
// struct tc_fq_codel_xstats under tc's JSON names, built by FQCodelXstats
// and FQCodelClassXstats:
//
//	qdisc: maxpacket, drop_overlimit, new_flow_count, ecn_mark, ce_mark,
//	       memory_used, drop_overmemory, new_flows_len, old_flows_len
//	       (integers)
//	class: deficit, count, lastcount (integers), ldelay (time.Duration),
//	       dropping (bool), drop_next (time.Duration, negative when due)
//
// printFQCodelXstats tells the two apart by "deficit", which only a
// class has (tc by the xstats' type field).

func init() {
	RegisterQdisc(QdiscKind{
		Name: "fq_codel", Parse: parseFQCodel, Print: printFQCodel, Format: formatFQCodel,
		PrintXstats: printFQCodelXstats, ClassQueueStatsOnly: true,
	})
}

// unset32 is ~0U, tc's "not given" for memory_limit and ce_threshold.
const unset32 = 1<<32 - 1

func parseFQCodel(a *Args, dev string) (qdisc.Params, error) {
	p := fqcodel.Defaults()
	seen := map[string]bool{}
	for a.More() {
		w := a.Next()
		switch w {
		case "limit", "flows", "quantum", "drop_batch", "target", "interval", "ce_threshold", "memory_limit":
		case "ecn", "noecn":
			if seen["ecn"] {
				return nil, syntaxErr(a.Context, w, "ecn or noecn given twice")
			}
			seen["ecn"], p.ECN = true, w == "ecn"
			p.Given |= fqcodel.GivenECN
			continue
		case "ce_threshold_selector":
			return nil, syntaxErr(a.Context, w, "not supported by netyard (its ce_threshold applies to every ECN-capable packet)")
		case "help":
			return nil, syntaxErr(a.Context, w, "usage: fq_codel [ limit PACKETS ] [ flows NUMBER ] [ memory_limit BYTES ] [ target TIME ] [ interval TIME ] [ quantum BYTES ] [ [no]ecn ] [ ce_threshold TIME ] [ drop_batch SIZE ]")
		default:
			return nil, unknownWord(a.Context, w, "parameter", []string{
				"limit", "flows", "quantum", "drop_batch", "target", "ce_threshold", "memory_limit", "interval", "ecn", "noecn"})
		}
		v, err := a.Value(w, fqCodelWants[w])
		if err != nil {
			return nil, err
		}
		if seen[w] {
			return nil, duplicate(a.Context, w, v)
		}
		seen[w] = true
		illegal := func() error {
			return syntaxErr(a.Context, w, "%q: illegal %q: expected %s", v, w, fqCodelWants[w])
		}
		switch w {
		case "limit", "flows", "quantum", "drop_batch":
			// get_unsigned(..., 0): "0x400" and "02000" are numbers.
			n, ok := getU32(v, 0)
			if !ok {
				return nil, illegal()
			}
			if n == 0 {
				break // not sent: the default stays
			}
			switch w {
			case "limit":
				p.Limit, p.Given = n, p.Given|fqcodel.GivenLimit
			case "flows":
				p.Flows, p.Given = n, p.Given|fqcodel.GivenFlows
			case "quantum":
				p.Quantum, p.Given = n, p.Given|fqcodel.GivenQuantum
			case "drop_batch":
				p.DropBatch, p.Given = n, p.Given|fqcodel.GivenDropBatch
			}
		case "memory_limit":
			n, err := ParseSize(v)
			if err != nil {
				return nil, illegal()
			}
			if n != unset32 {
				p.MemoryLimit, p.Given = n, p.Given|fqcodel.GivenMemoryLimit
			}
		default: // target, interval, ce_threshold
			d, err := ParseTime(v)
			if err != nil {
				return nil, illegal()
			}
			switch {
			case w == "ce_threshold" && d == 0:
				// The kernel would mark every ECN-capable packet
				// (any sojourn exceeds 0); fqcodel.Params has 0 for
				// "off", so there is no way to say it.
				return nil, syntaxErr(a.Context, w, "%q: 0 is not supported by netyard (0 turns marking off there): give at least 1us", v)
			case w == "ce_threshold" && d != unset32*time.Microsecond:
				p.CEThreshold, p.Given = d, p.Given|fqcodel.GivenCEThreshold
			case d == 0:
				// not sent: the default stays
			case w == "target":
				p.Target, p.Given = d, p.Given|fqcodel.GivenTarget
			case w == "interval":
				p.Interval, p.Given = d, p.Given|fqcodel.GivenInterval
			}
		}
	}
	return p, nil
}

var fqCodelWants = map[string]string{
	"limit": "a number of packets", "flows": "a number of flows", "quantum": "a number of bytes",
	"drop_batch": "a number of packets", "memory_limit": "a size (32Mb, 1000000, ...)",
	"target": "a time (5ms, 500us, ...)", "interval": "a time (100ms, 1s, ...)", "ce_threshold": "a time (1ms, ...)",
}

// codelUS is what the kernel dumps for a configured time: whole
// microseconds turned into CoDel's 1024 ns units and back
// (codel_time_to_us), so 5 ms reads back as 4999 us.
func codelUS(d time.Duration) uint64 {
	us := uint64(d / time.Microsecond)
	return (us * 1000 >> 10 << 10) / 1000
}

// printFQCodel is fq_codel_print_opt: "limit 10240p flows 1024 quantum
// 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 ".
// Times are printed in microseconds in JSON, as the kernel returns them.
func printFQCodel(w *Writer, params qdisc.Params) {
	p, ok := params.(fqcodel.Params)
	if !ok {
		return
	}
	w.Uint(PrintAny, "limit", "limit %dp ", uint64(p.Limit))
	w.Uint(PrintAny, "flows", "flows %d ", uint64(p.Flows))
	w.Uint(PrintAny, "quantum", "quantum %d ", uint64(p.Quantum))
	printCodelTime(w, "target", p.Target)
	if p.CEThreshold != 0 {
		printCodelTime(w, "ce_threshold", p.CEThreshold)
	}
	printCodelTime(w, "interval", p.Interval)
	w.Size(PrintAny, "memory_limit", "memory_limit %s ", uint64(p.MemoryLimit))
	if p.ECN {
		w.Bool(PrintAny, "ecn", "ecn ", true)
	}
	if p.DropBatch != 0 {
		w.Uint(PrintAny, "drop_batch", "drop_batch %d ", uint64(p.DropBatch))
	}
}

func printCodelTime(w *Writer, key string, d time.Duration) {
	us := codelUS(d)
	w.Uint(PrintJSON, key, "", us)
	w.Text(key + " " + FormatTime(time.Duration(us)*time.Microsecond) + " ")
}

func formatFQCodel(params qdisc.Params) []string {
	p, ok := params.(fqcodel.Params)
	if !ok {
		return nil
	}
	// A parameter is written when it is not the default or was given
	// (Params.Given), so that a change reads back the same.
	d := fqcodel.Defaults()
	var words []string
	given := func(bit uint16) bool { return p.Given&bit != 0 }
	num := func(key string, v, def uint32, bit uint16) {
		if v != def || given(bit) {
			words = append(words, key, strconv.FormatUint(uint64(v), 10))
		}
	}
	num("limit", p.Limit, d.Limit, fqcodel.GivenLimit)
	num("flows", p.Flows, d.Flows, fqcodel.GivenFlows)
	num("quantum", p.Quantum, d.Quantum, fqcodel.GivenQuantum)
	if p.Target != d.Target || given(fqcodel.GivenTarget) {
		words = append(words, "target", exactTime(p.Target))
	}
	if p.Interval != d.Interval || given(fqcodel.GivenInterval) {
		words = append(words, "interval", exactTime(p.Interval))
	}
	if p.MemoryLimit != d.MemoryLimit || given(fqcodel.GivenMemoryLimit) {
		words = append(words, "memory_limit", exactSize(uint64(p.MemoryLimit)))
	}
	switch {
	case p.ECN != d.ECN:
		words = append(words, "noecn")
	case given(fqcodel.GivenECN):
		words = append(words, "ecn")
	}
	if p.CEThreshold != 0 || given(fqcodel.GivenCEThreshold) {
		words = append(words, "ce_threshold", exactTime(p.CEThreshold))
	}
	num("drop_batch", p.DropBatch, d.DropBatch, fqcodel.GivenDropBatch)
	return words
}

// exactTime writes a time so that ParseTime reads back the same value:
// tc's rounded form when it is exact, else microseconds.
func exactTime(d time.Duration) string {
	if s := FormatTime(d); mustParseTime(s) == d {
		return s
	}
	return strconv.FormatInt(int64(d/time.Microsecond), 10) + "us"
}

func mustParseTime(s string) time.Duration {
	d, _ := ParseTime(s)
	return d
}

// FQCodelXstats returns an fq_codel's statistics as QdiscView.Extra, in
// tc's names and order.
func FQCodelXstats(x fqcodel.XStats) []Field {
	return []Field{
		{"maxpacket", x.MaxPacket}, {"drop_overlimit", x.DropOverlimit},
		{"new_flow_count", x.NewFlowCount}, {"ecn_mark", x.ECNMark},
		{"ce_mark", x.CEMark}, {"memory_used", x.MemoryUsage}, {"drop_overmemory", x.DropOvermemory},
		{"new_flows_len", x.NewFlowsLen}, {"old_flows_len", x.OldFlowsLen},
	}
}

// FQCodelClassXstats returns one flow's statistics as ClassView.Extra.
func FQCodelClassXstats(c fqcodel.ClassStats) []Field {
	return []Field{
		{"deficit", c.Deficit}, {"count", c.Count}, {"lastcount", c.LastCount},
		{"ldelay", c.LDelay}, {"dropping", c.Dropping}, {"drop_next", c.DropNext},
	}
}

// FQCodelClassView returns flow c of the fq_codel with handle h on dev as
// "tc class show" lists it (fq_codel_dump_class, fq_codel_dump_class_stats):
// class h:minor under the qdisc, with queue counters and the flow's CoDel
// state.
func FQCodelClassView(dev string, h uint32, c fqcodel.ClassStats) ClassView {
	return ClassView{
		Dev: dev, Kind: "fq_codel", Handle: h&0xffff0000 | c.Minor&0xffff, Parent: h & 0xffff0000,
		Stats: qdisc.Stats{Drops: uint64(c.Drops), Backlog: uint64(c.Backlog), Qlen: uint64(c.Qlen)},
		Extra: FQCodelClassXstats(c),
	}
}

// printFQCodelXstats is fq_codel_print_xstats: for the qdisc "  maxpacket
// 0 drop_overlimit 0 new_flow_count 0 ecn_mark 0" (ce_mark, memory_used
// and drop_overmemory only when not 0), then "  new_flows_len 0
// old_flows_len 0" on the next line; for a class "  deficit 1514 count 0
// lastcount 0 ldelay 3us" and, while CoDel is dropping, "dropping
// drop_next 2ms". Fields missing from extra print as 0, as tc prints what
// a short kernel reply leaves zeroed.
func printFQCodelXstats(w *Writer, extra []Field) {
	f := fields(extra)
	if _, isClass := f.lookup("deficit"); isClass {
		w.Int(PrintAny, "deficit", "  deficit %d", f.int("deficit"))
		w.Uint(PrintAny, "count", " count %d", f.uint("count"))
		w.Uint(PrintAny, "lastcount", " lastcount %d", f.uint("lastcount"))
		ldelay := f.duration("ldelay")
		w.Uint(PrintJSON, "ldelay", "", uint64(ldelay/time.Microsecond))
		w.Text(" ldelay " + FormatTime(ldelay))
		if f.bool("dropping") {
			w.Bool(PrintAny, "dropping", " dropping", true)
			next := f.duration("drop_next")
			w.Int(PrintJSON, "drop_next", "", int64(next/time.Microsecond))
			if next < 0 {
				w.Text(" drop_next -" + FormatTime(-next))
			} else {
				w.Text(" drop_next " + FormatTime(next))
			}
		}
		return
	}
	w.Uint(PrintAny, "maxpacket", "  maxpacket %d", f.uint("maxpacket"))
	w.Uint(PrintAny, "drop_overlimit", " drop_overlimit %d", f.uint("drop_overlimit"))
	w.Uint(PrintAny, "new_flow_count", " new_flow_count %d", f.uint("new_flow_count"))
	w.Uint(PrintAny, "ecn_mark", " ecn_mark %d", f.uint("ecn_mark"))
	for _, k := range []string{"ce_mark", "memory_used", "drop_overmemory"} {
		if v := f.uint(k); v != 0 {
			w.Uint(PrintAny, k, " "+k+" %d", v)
		}
	}
	w.NL()
	w.Uint(PrintAny, "new_flows_len", "  new_flows_len %d", f.uint("new_flows_len"))
	w.Uint(PrintAny, "old_flows_len", " old_flows_len %d", f.uint("old_flows_len"))
}

// fields reads a kind's statistics by name, whatever integer type the
// Target filled them with.
type fields []Field

func (fs fields) lookup(name string) (any, bool) {
	for _, f := range fs {
		if f.Name == name {
			return f.Value, true
		}
	}
	return nil, false
}

func (fs fields) int(name string) int64 {
	v, _ := fs.lookup(name)
	switch v := v.(type) {
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	case time.Duration:
		return int64(v)
	case uint, uint8, uint16, uint32, uint64:
		return int64(fs.uint(name))
	}
	return 0
}

func (fs fields) uint(name string) uint64 {
	v, _ := fs.lookup(name)
	switch v := v.(type) {
	case uint:
		return uint64(v)
	case uint8:
		return uint64(v)
	case uint16:
		return uint64(v)
	case uint32:
		return uint64(v)
	case uint64:
		return v
	case int, int8, int16, int32, int64, time.Duration:
		if n := fs.int(name); n > 0 {
			return uint64(n)
		}
	}
	return 0
}

// duration reads a time: a time.Duration, or an integer of microseconds
// (what the kernel's xstats hold).
func (fs fields) duration(name string) time.Duration {
	v, _ := fs.lookup(name)
	if d, ok := v.(time.Duration); ok {
		return d
	}
	return time.Duration(fs.int(name)) * time.Microsecond
}

func (fs fields) bool(name string) bool {
	v, _ := fs.lookup(name)
	switch v := v.(type) {
	case bool:
		return v
	case nil:
		return false
	}
	return fs.int(name) != 0
}
