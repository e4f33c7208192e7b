package datapath

import (
	"fmt"
	"strconv"

	"netyard/cls"
	"netyard/ctl"
)

// FilterDumper returns the namespace's filters as a ctl Dumper (the table
// "filter", what `netyard tc filter show` asks the daemon for). A request
// selects one hook with the words "dev D parent P" (P in hex: ffff:fff2
// for ingress, ffff:fff3 for egress) and may narrow it with "chain N" and
// "pref N".
//
// It works as the action dumpers do (dump.go): objects are keyed by
// (chain, prio, handle), each batch resumes after the last key with three
// binary searches (cls.Chains.Walk); the first batch closes a generation
// and returns it for "since gen"; a "since" dump finds the filters changed
// from the counters' change logs once per request (cls.Chains.ChangedSince)
// and walks only those. The structural generation is the hook's (every
// filter add and delete), so a dump that raced with one is flagged
// NLM_F_DUMP_INTR.
func (ns *Namespace) FilterDumper() ctl.Dumper { return &filterDumper{ns: ns} }

type filterDumper struct{ ns *Namespace }

// filterSelect is a filter dump's selection.
type filterSelect struct {
	dev    string
	parent uint32
	sel    cls.Select
	chain  uint32
}

func parseFilterSelect(words []string) (filterSelect, error) {
	var s filterSelect
	hasParent := false
	for i := 0; i < len(words); i += 2 {
		if i+1 >= len(words) {
			return s, fmt.Errorf("filter dump: selector %q without a value", words[i])
		}
		w, v := words[i], words[i+1]
		var err error
		switch w {
		case "dev":
			s.dev = v
		case "parent":
			var p uint64
			p, err = strconv.ParseUint(v, 16, 32)
			s.parent, hasParent = uint32(p), true
		case "chain":
			var c uint64
			c, err = strconv.ParseUint(v, 10, 32)
			s.chain = uint32(c)
			s.sel.Chain = &s.chain
		case "pref":
			var p uint64
			p, err = strconv.ParseUint(v, 10, 16)
			s.sel.Prio = uint16(p)
		default:
			return s, fmt.Errorf("filter dump: unknown selector %q (dev, parent, chain, pref)", w)
		}
		if err != nil {
			return s, fmt.Errorf("filter dump: %s %q: %w", w, v, err)
		}
	}
	if s.dev == "" || !hasParent {
		return s, fmt.Errorf("filter dump: give dev and parent (one hook)")
	}
	return s, nil
}

// changedFilters is a since-dump's memo.
type changedFilters struct {
	ps []cls.Pos
	ok bool
}

func (d *filterDumper) Dump(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
	var gens ctl.Gens
	s, err := parseFilterSelect(q.Select)
	if err != nil {
		return gens, err
	}
	if q.UsedWithin > 0 {
		return gens, fmt.Errorf("filter dump: \"since MSECS\" is for actions; filters take \"since gen G\"")
	}
	dev, err := d.ns.Device(s.dev)
	if err != nil {
		return gens, err
	}
	chains, _, err := dev.hook(s.parent)
	if err != nil {
		return gens, err
	}
	var after *cls.Pos
	if len(q.After) > 0 {
		p, err := cls.ParseDumpKey(q.After)
		if err != nil {
			return gens, err
		}
		after = &p
	}
	if q.Batch == 0 {
		gens.Change = d.ns.e.gens.Advance()
	}
	now := d.ns.e.clock.Now()
	var (
		key [10]byte
		buf = make([]byte, 0, 1024)
	)
	emit := func(e cls.DumpEntry) bool {
		gen := e.Gen()
		if q.Since != 0 && gen <= q.Since {
			return true
		}
		k := cls.DumpKey(key[:0], e.Pos())
		buf = e.Append(buf[:0], q.Terse, now)
		return yield(ctl.Object{Key: k, Gen: gen, Data: buf})
	}
	if q.Since != 0 {
		var m *changedFilters
		if q.Memo != nil {
			m, _ = (*q.Memo).(*changedFilters)
		}
		if m == nil {
			m = &changedFilters{}
			m.ps, m.ok = chains.ChangedSince(q.Since)
			if q.Memo != nil {
				*q.Memo = m
			}
		}
		if m.ok {
			gens.Struct = chains.WalkPositions(m.ps, after, s.sel, emit)
			return gens, nil
		}
	}
	gens.Struct = chains.Walk(after, s.sel, emit)
	return gens, nil
}
