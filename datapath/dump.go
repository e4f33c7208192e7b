package datapath

import (
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"netyard/act"
	"netyard/ctl"
)

// ActionDumpers returns the namespace's action tables as ctl Dumpers, one
// per kind, named "action/KIND" (what `netyard tc actions ls action KIND`
// asks the daemon for).
//
// A dump's first walk closes a generation (stats.Domain.Advance, a grace
// period of at most one visit of each worker) and returns it as the
// generation to ask "since" next time; every change the dump does not see
// is stamped after it. A "since" dump finds what changed from the
// counters' change logs (act.Table.ChangedSince), once per request, and
// then walks only those actions: its cost is in proportion to the changes.
// When the logs no longer reach back that far, it walks the table and
// compares each action's generation.
func (ns *Namespace) ActionDumpers() map[string]ctl.Dumper {
	out := make(map[string]ctl.Dumper, len(act.Kinds))
	for _, k := range act.Kinds {
		out["action/"+k] = &actionDumper{ns: ns, kind: k}
	}
	return out
}

type actionDumper struct {
	ns   *Namespace
	kind string
}

// changed is a since-dump's memo: the indices that changed.
type changed struct {
	indices []uint32
	ok      bool
}

func (d *actionDumper) Dump(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
	var gens ctl.Gens
	if len(q.Select) > 0 {
		return gens, fmt.Errorf("action dump: unexpected selector %q", strings.Join(q.Select, " "))
	}
	var after uint32
	switch len(q.After) {
	case 0:
	case 4:
		after = binary.BigEndian.Uint32(q.After)
	default:
		return gens, fmt.Errorf("action dump: resume key of %d bytes, want 4 (the index)", len(q.After))
	}
	t := d.ns.actions
	if q.Batch == 0 {
		gens.Change = d.ns.e.gens.Advance()
	}
	now := d.ns.e.clock.Now()
	var usedAfter int64
	if q.UsedWithin > 0 {
		usedAfter = now - int64(q.UsedWithin/time.Nanosecond)
	}
	var (
		key [4]byte
		buf = make([]byte, 0, 512)
	)
	emit := func(e act.Entry) bool {
		c := e.Cell
		gen := c.Gen()
		if q.Since != 0 && gen <= q.Since {
			return true
		}
		if usedAfter != 0 && c.LastUsed() < usedAfter {
			// Never used counts as used when installed, as the
			// kernel starts tcfa_tm.lastuse at the install time.
			if st := c.Read(); st.LastUsed != 0 || st.Installed < usedAfter {
				return true
			}
		}
		binary.BigEndian.PutUint32(key[:], e.Index)
		buf = act.AppendObject(buf[:0], e, q.Terse, now)
		return yield(ctl.Object{Key: key[:], Gen: gen, Data: buf})
	}
	var err error
	if q.Since != 0 {
		var m *changed
		if q.Memo != nil {
			m, _ = (*q.Memo).(*changed)
		}
		if m == nil {
			m = &changed{}
			m.indices, m.ok = t.ChangedSince(d.kind, q.Since)
			if q.Memo != nil {
				*q.Memo = m
			}
		}
		if m.ok {
			gens.Struct, err = t.WalkIndices(d.kind, m.indices, after, emit)
			return gens, err
		}
	}
	gens.Struct, err = t.Walk(d.kind, after, emit)
	return gens, err
}

// CloseGeneration implements tcsyntax.Generations: "tc actions ls ...
// since gen G" through the exec path (replay, the lab).
func (ns *Namespace) CloseGeneration() uint64 { return ns.e.gens.Advance() }
