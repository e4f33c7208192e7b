package cls

import (
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
// plane keeps to list and remove it (spec, bindings). It never changes
// once made; a change or replace makes a new one with the same stats cell.
type filter struct {
	protocol uint16
	cls      *Classifier
	actions  []act.Action
	classID  uint32
	cell     stats.Cell

	spec     Filter // the stored copy: chosen Prio, Handle, Protocol; Actions nil
	bindings []act.Binding
}

// Block is one hook's filters (a device's ingress or egress), immutable,
// as the datapath publishes it behind an atomic pointer. The control plane
// (Chains) builds a new Block for every change.
type Block struct {
	chains []blockChain // in chain index order
}

type blockChain struct {
	index   uint32
	filters []*filter // in prio, then handle order
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

// chain returns the filters of chain index, nil when it has none.
func (b *Block) chain(index uint32) []*filter {
	lo, hi := 0, len(b.chains)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		switch c := &b.chains[m]; {
		case c.index == index:
			return c.filters
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
//   - classification starts at chain 0, filters in prio then handle order;
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
	filters := b.chain(0)
restart:
	for _, f := range filters {
		if f.protocol != wire.EtherTypeAll && f.protocol != p.Hdr.OuterType {
			continue
		}
		if !fresh {
			key.fill(p)
			fresh = true
		}
		if !f.cls.match(&key) {
			continue
		}
		f.cell.Use(c.Worker, p.Len(), c.Now)
		v := act.Exec(c, p, f.actions)
		if len(f.actions) > 0 {
			fresh = false
		}
		next, restarts := uint32(0), false
		if v == act.Reclassify {
			restarts = true
		} else if n, ok := v.Chain(); ok {
			next, restarts = n, true
		}
		if restarts {
			if loops >= maxReclassifyLoop {
				return Result{Verdict: act.Shot, ClassID: f.classID, Matched: true}
			}
			loops++
			filters = b.chain(next)
			goto restart
		}
		if v >= 0 {
			return Result{Verdict: v, ClassID: f.classID, Matched: true}
		}
	}
	return Result{Verdict: act.Unspec}
}
