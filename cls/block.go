package cls

import (
	"fmt"
	"sync/atomic"

	"netyard/act"
	"netyard/pkt"
	"netyard/stats"
	"netyard/wire"
)

// maxReclassifyLoop is __tcf_classify's max_reclassify_loop: a packet may
// restart classification (reclassify, goto chain) 16 times; the 17th
// restart drops it, which ends goto loops such as chain 1 -> chain 1.
const maxReclassifyLoop = 16

// filter is one installed filter: what the data path runs (protocol,
// compiled classifier, actions, class, counters) and what the control
// plane keeps to list and remove it (the parent it was added with, its
// flags, its bindings; chain and prio are its group's). It keeps no copy
// of the spec it was made from: listings rebuild that from the compiled
// classifier (Classifier.flower), as the kernel's fl_dump rebuilds
// flower's options from the key and mask it keeps. It never changes once
// made; a change or replace makes a new one with the same stats cell.
//
// A filter, its classifier and its (usually single) action are one
// allocation of 192 bytes: a million filters are bound by the allocator,
// by the pages first touched and by the collector's marking.
type filter struct {
	protocol uint16
	flags    uint8 // flagSkipHW
	nact     uint8 // actions in acts and bd, when more is nil (0 or 1)
	handle   uint32
	classID  uint32
	parent   uint32 // as given to Add, for listings
	cell     stats.Cell
	mask     *mask // the mask it sits in (control plane)
	// more holds the actions of a filter with more than one; nil for
	// the usual one or none, which are in acts and bd.
	more *filterActions
	cls  Classifier
	acts [1]act.Action
	bd   [1]bindRef
}

// filterActions are the actions of a filter with more than one, and their
// bindings, in order.
type filterActions struct {
	actions []act.Action
	binds   []bindRef
}

// actions returns the filter's actions, in order.
func (f *filter) actions() []act.Action {
	if f.more != nil {
		return f.more.actions
	}
	return f.acts[:f.nact]
}

// binds returns the bindings of the filter's actions, in order.
func (f *filter) binds() []bindRef {
	if f.more != nil {
		return f.more.binds
	}
	return f.bd[:f.nact]
}

// bindRef names a bound action in the table: an act.Binding without the
// action, which is the filter's actions()[i]. kind is the kind's place
// in act.Kinds (a byte, not a string header, in each of a million
// filters).
type bindRef struct {
	kind  uint8
	index uint32
}

func (r bindRef) kindName() string { return act.Kinds[r.kind] }

// bindKind is kind's place in act.Kinds, for a bindRef.
func bindKind(kind string) uint8 {
	for i, k := range act.Kinds {
		if k == kind {
			return uint8(i)
		}
	}
	// act.Table binds only the kinds it lists.
	panic(fmt.Sprintf("cls: action kind %q is not in act.Kinds", kind))
}

func (f *filter) binding(i int) act.Binding {
	b := f.binds()[i]
	return act.Binding{Kind: b.kindName(), Index: b.index, Action: f.actions()[i]}
}

// pos is where f sits: its group's chain and prio, its handle.
func (f *filter) pos() Pos {
	g := f.mask.g
	return Pos{Chain: g.chain, Prio: g.prio, Handle: f.handle}
}

// Block is one hook's filters (a device's ingress or egress) as the data
// path runs them: the index of index.go, read without locks. Chains owns
// one Block per hook for its whole life and changes it in place, RCU-style
// (index.go says how); Block() returns it, and the datapath publishes the
// pointer.
type Block struct {
	chains atomic.Pointer[[]*chainIdx] // sorted by index
}

// Result is what Classify decides.
type Result struct {
	// Verdict is tcf_classify's return value: Unspec when no filter
	// decided (none matched, or all that matched said "continue"), else
	// the verdict of the action list that ended classification. Shot
	// means drop; Consumed means an action took the packet; Stolen,
	// Queued and Trap mean the caller releases it without counting a
	// drop; OK, Pipe and Unspec let it go on.
	Verdict act.Verdict
	// ClassID is the deciding filter's classid (0 for none), for
	// classful qdiscs.
	ClassID uint32
	// Matched reports that a filter decided (the kernel's result >= 0).
	Matched bool
}

// groups returns the groups of chain index, nil when it has none.
func (b *Block) groups(index uint32) []*group {
	cs := b.chains.Load()
	if cs == nil {
		return nil
	}
	if c := findChain(*cs, index); c != nil {
		return *c.groups.Load()
	}
	return nil
}

func findChain(cs []*chainIdx, index uint32) *chainIdx {
	lo, hi := 0, len(cs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := cs[m]; {
		case c.index == index:
			return c
		case c.index < index:
			lo = m + 1
		default:
			hi = m
		}
	}
	return nil
}

// Classify runs p through the block as tcf_classify and __tcf_classify do
// (net/sched/cls_api.c):
//
//   - classification starts at chain 0, filters in prio then handle order
//     (each prio looked up through its masks' hash tables, index.go);
//   - a filter whose protocol is neither "all" nor p's outer EtherType
//     (p.Hdr.OuterType: on a tagged frame the TPID) is skipped;
//   - a filter that matches counts p and runs its actions (act.Exec); a
//     negative verdict (Unspec, "continue") goes on with the next filter,
//     any other ends classification with it;
//   - reclassify restarts at chain 0, "goto chain N" at chain N. A chain
//     without filters ends classification with Unspec: in the kernel a
//     goto action holds its chain, which exists but is empty, and
//     __tcf_classify's loop over it finds nothing. The 17th restart drops
//     the packet (max_reclassify_loop).
//
// The key a classifier matches on is filled once, and again only after an
// action ran (it may have changed the frame). Classify allocates nothing.
// A nil Block classifies nothing and returns Unspec.
func (b *Block) Classify(c *act.Ctx, p *pkt.Buffer) Result {
	if b == nil {
		return Result{Verdict: act.Unspec}
	}
	var (
		key   flowKey
		fresh bool
		loops int
	)
	groups := b.groups(0)
	// after is the handle of the filter that said "continue" in
	// groups[gi]: the lookup resumes above it, as the list walk goes on
	// with the next filter.
	after := uint32(0)
	for gi := 0; gi < len(groups); {
		g := groups[gi]
		if g.protocol != wire.EtherTypeAll && g.protocol != p.Hdr.OuterType {
			gi, after = gi+1, 0
			continue
		}
		if g.isBpf {
			// The group's programs run as cls_bpf runs them, to the
			// first that decides (bpf.go); it is one step here, as
			// one tcf_proto's classify is in the kernel.
			v, class, f := g.classifyBpf(c, p)
			gi, after = gi+1, 0
			// A program (skb_store_bytes, vlan push/pop) or a matched
			// filter's actions may have changed the frame even when no
			// filter decided: the next flower lookup parses it again.
			fresh = false
			if f == nil {
				continue
			}
			if next, ok := restartAt(v); ok {
				if loops >= maxReclassifyLoop {
					return Result{Verdict: act.Shot, ClassID: class, Matched: true}
				}
				loops++
				groups, gi = b.groups(next), 0
				continue
			}
			return Result{Verdict: v, ClassID: class, Matched: true}
		}
		if !fresh {
			key.fill(p)
			fresh = true
		}
		f := g.lookup(&key, after)
		if f == nil {
			gi, after = gi+1, 0
			continue
		}
		pk, by := p.WireLen() // a GSO frame counts as its segments
		f.cell.UseN(c.Worker, pk, by, c.Now)
		acts := f.actions()
		v := act.Exec(c, p, acts)
		if len(acts) > 0 {
			fresh = false
		}
		if next, ok := restartAt(v); ok {
			if loops >= maxReclassifyLoop {
				return Result{Verdict: act.Shot, ClassID: f.classID, Matched: true}
			}
			loops++
			groups, gi, after = b.groups(next), 0, 0
			continue
		}
		if v >= 0 {
			return Result{Verdict: v, ClassID: f.classID, Matched: true}
		}
		after = f.handle
	}
	return Result{Verdict: act.Unspec}
}

// restartAt reports whether verdict v restarts classification
// (reclassify: chain 0; goto chain N), and at which chain.
func restartAt(v act.Verdict) (uint32, bool) {
	if v == act.Reclassify {
		return 0, true
	}
	return v.Chain()
}
