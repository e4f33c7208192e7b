package act

import (
	"fmt"
	"sync/atomic"

	"netyard/pkt"
	"netyard/stats"
)

// skbedit sets packet metadata (tcf_skbedit_act, net/sched/act_skbedit.c):
// priority, mark under a mask, and the TX queue. The kernel applies the
// queue mapping only when the device has that many TX queues; netyard
// records it (HasQueueMapping) and leaves the bound check to queue
// selection, which knows the device. inheritdsfield takes the priority
// from the IPv4 or IPv6 DS field (>> 2) before priority applies; ptype is
// kept for tc's sake (netyard's packets carry no pkt_type).
type skbedit struct {
	cell stats.Cell
	p    atomic.Pointer[skbeditParams]
}

type skbeditParams struct {
	spec Skbedit
	mask uint32
}

var _ Action = (*skbedit)(nil)

func newSkbedit(s *Skbedit, cell stats.Cell) (*skbedit, error) {
	prm, err := skbeditConfig(s)
	if err != nil {
		return nil, err
	}
	e := &skbedit{cell: cell}
	e.p.Store(prm)
	return e, nil
}

func skbeditConfig(s *Skbedit) (*skbeditParams, error) {
	if err := checkControl("skbedit", "control", s.C.Control); err != nil {
		return nil, err
	}
	if !s.HasPriority && !s.HasMark && !s.HasQueueMapping && !s.HasPType && !s.InheritDS {
		// tcf_skbedit_init: no flags is -EINVAL.
		return nil, fmt.Errorf("skbedit: nothing to set: give priority, mark, queue_mapping, ptype or inheritdsfield")
	}
	if s.HasPType && s.PType > 3 {
		// tcf_skbedit_init: !skb_pkt_type_ok(ptype) is -EINVAL.
		return nil, fmt.Errorf("skbedit: ptype %d: must be host, broadcast, multicast or otherhost", s.PType)
	}
	c, err := copyCommon(s.C)
	if err != nil {
		return nil, fmt.Errorf("skbedit: %w", err)
	}
	spec := *s
	spec.C = c
	prm := &skbeditParams{spec: spec, mask: s.MarkMask}
	if prm.mask == 0 {
		prm.mask = 0xffffffff // "default behaviour is to use all the bits"
	}
	return prm, nil
}

func (e *skbedit) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	prm := e.p.Load()
	pk, by := p.WireLen() // a GSO frame counts as its segments
	e.cell.UseN(c.Worker, pk, by, c.Now)
	s := &prm.spec
	if s.InheritDS {
		if v := p.Hdr.IPVersion; v == 4 || v == 6 {
			p.Priority = uint32(p.Hdr.TOS >> 2)
		}
	}
	if s.HasPriority {
		p.Priority = s.Priority
	}
	if s.HasQueueMapping {
		p.QueueMapping = s.QueueMapping
		p.HasQueueMapping = true
	}
	if s.HasMark {
		p.Mark = p.Mark&^prm.mask | s.Mark&prm.mask
	}
	return s.C.Control
}

func (e *skbedit) Spec() Spec { s := e.p.Load().spec; return cloneSpec(&s) }

// live is the running spec itself: shared, never to be changed.
func (e *skbedit) live() Spec        { return &e.p.Load().spec }
func (e *skbedit) Stats() stats.Cell { return e.cell }

func (e *skbedit) replace(from Action, _ int64) error {
	f, ok := from.(*skbedit)
	if !ok {
		return errKindChange("skbedit", from)
	}
	e.p.Store(f.p.Load())
	return nil
}
