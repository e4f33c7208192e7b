package datapath

import (
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fqcodel"
	"netyard/qdisc/prio"
	"netyard/qdisc/tbf"
	"netyard/tcsyntax"
)

// mqRoot is the root of a multi-queue device under mq or mqprio
// (sch_mq.c, sch_mqprio.c): one child qdisc per TX queue, the queue chosen
// by the stack's policy (netdev.PickTx) before the packet is queued. The
// worker that owns the device dequeues the children in turn, as a
// multi-queue NIC's rings drain independently; mqRoot only routes and
// sums.
type mqRoot struct {
	params   qdisc.Params
	children []qdisc.Qdisc
	next     int
}

var _ qdisc.Qdisc = (*mqRoot)(nil)

// Enqueue puts p in its TX queue's child; p.QueueMapping holds the queue
// PickTx chose.
func (m *mqRoot) Enqueue(p *pkt.Buffer, now int64) bool {
	q := int(p.QueueMapping)
	if q >= len(m.children) {
		q = 0
	}
	return m.children[q].Enqueue(p, now)
}

// Dequeue takes from the children round robin, one packet a turn, so
// that no queue waits behind another's backlog.
func (m *mqRoot) Dequeue(now int64) *pkt.Buffer {
	for range m.children {
		c := m.children[m.next]
		m.next = (m.next + 1) % len(m.children)
		if c.Len() == 0 {
			continue
		}
		if p := c.Dequeue(now); p != nil {
			return p
		}
	}
	return nil
}

func (m *mqRoot) Len() int {
	n := 0
	for _, c := range m.children {
		n += c.Len()
	}
	return n
}

// Stats sums the children, as mq_dump does.
func (m *mqRoot) Stats() qdisc.Stats {
	var s qdisc.Stats
	for _, c := range m.children {
		cs := c.Stats()
		s.Bytes += cs.Bytes
		s.Packets += cs.Packets
		s.Drops += cs.Drops
		s.Overlimits += cs.Overlimits
		s.Requeues += cs.Requeues
		s.Backlog += cs.Backlog
		s.Qlen += cs.Qlen
	}
	return s
}

func (m *mqRoot) Params() qdisc.Params { return m.params }

func (m *mqRoot) Reset() {
	for _, c := range m.children {
		c.Reset()
	}
}

// NextReady is the earliest of the children's, for shapers among them.
func (m *mqRoot) NextReady(now int64) int64 {
	t := int64(0)
	for _, c := range m.children {
		if s, ok := c.(interface{ NextReady(int64) int64 }); ok && c.Len() > 0 {
			if r := s.NextReady(now); t == 0 || r < t {
				t = r
			}
		}
	}
	return t
}

// childOf returns the qdisc under class parent of root (prio band, tbf
// class), or nil.
func childOf(root qdisc.Qdisc, parent uint32) qdisc.Qdisc {
	minor := parent & 0xffff
	switch r := root.(type) {
	case prio.Qdisc:
		return r.Child(minor)
	case tbf.Qdisc:
		if minor == 1 {
			return r.Child()
		}
	}
	return nil
}

// xstats are a qdisc's own statistics as tcsyntax prints them (the Field
// names are tc's JSON keys, which tcsyntax's q_*.go print functions read).
func xstats(q qdisc.Qdisc) []tcsyntax.Field {
	switch q := q.(type) {
	case fqcodel.Qdisc:
		x := q.XStats()
		return []tcsyntax.Field{
			{Name: "maxpacket", Value: x.MaxPacket},
			{Name: "drop_overlimit", Value: x.DropOverlimit},
			{Name: "new_flow_count", Value: x.NewFlowCount},
			{Name: "ecn_mark", Value: x.ECNMark},
			{Name: "new_flows_len", Value: x.NewFlowsLen},
			{Name: "old_flows_len", Value: x.OldFlowsLen},
			{Name: "ce_mark", Value: x.CEMark},
			{Name: "memory_used", Value: x.MemoryUsage},
			{Name: "drop_overmemory", Value: x.DropOvermemory},
		}
	}
	return nil
}
