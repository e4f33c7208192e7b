package datapath

import (
	"math"
	"strings"
	"time"

	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fqcodel"
	"netyard/qdisc/htb"
	"netyard/qdisc/mq"
	"netyard/qdisc/netem"
	"netyard/qdisc/prio"
	"netyard/qdisc/tbf"
	"netyard/tcsyntax"
	"netyard/wifi"
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
		s = addStats(s, c.Stats())
	}
	return s
}

func (m *mqRoot) Params() qdisc.Params { return m.params }

func (m *mqRoot) Reset() {
	for _, c := range m.children {
		c.Reset()
	}
}

// NextReady is the earliest time a child can send: now for a child that
// holds packets and does not shape (pfifo, fq_codel), a shaper's own time
// otherwise, math.MaxInt64 when nothing is queued (as prio's NextReady).
func (m *mqRoot) NextReady(now int64) int64 {
	t := int64(math.MaxInt64)
	for _, c := range m.children {
		if c.Len() == 0 {
			continue
		}
		s, ok := c.(interface{ NextReady(int64) int64 })
		if !ok {
			return now
		}
		t = min(t, s.NextReady(now))
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
	case netem.Qdisc:
		return r.Child()
	case tbf.Qdisc:
		if minor == 1 {
			return r.Child()
		}
	case htb.Qdisc:
		return r.Leaf(parent)
	}
	return nil
}

// xstats are a qdisc's own statistics as tcsyntax prints them.
func xstats(q qdisc.Qdisc) []tcsyntax.Field {
	switch q := q.(type) {
	case fqcodel.Qdisc:
		return tcsyntax.FQCodelXstats(q.XStats())
	case netem.Qdisc:
		return tcsyntax.NetemXstats(q.XStats())
	case wifi.Device:
		// Per access category: what it sent and dropped, its ECN
		// marks, its airtime and its queueing delay.
		x := q.XStats()
		var out []tcsyntax.Field
		for ac := range wifi.NumACs {
			a := &x.AC[ac]
			name := strings.ToLower(wifi.AC(ac).String())
			out = append(out,
				tcsyntax.Field{Name: name + "_packets", Value: a.Packets},
				tcsyntax.Field{Name: name + "_drops", Value: a.Drops},
				tcsyntax.Field{Name: name + "_ecn_mark", Value: a.ECNMarks},
				tcsyntax.Field{Name: name + "_airtime_us", Value: uint64(a.Airtime / time.Microsecond)},
				tcsyntax.Field{Name: name + "_delay_p99_us", Value: uint64(a.Sojourn.Quantile(0.99) / time.Microsecond)},
			)
		}
		return out
	}
	return nil
}

// classes lists the classes of one qdisc with handle h at the given
// place: fq_codel's flows, prio's bands, tbf's one class, and an mq or
// mqprio root's queues (and mqprio's traffic classes). The caller holds the
// device's txMu.
func (d *Device) classes(q qdisc.Qdisc, h uint32, now int64, out []tcsyntax.ClassView) []tcsyntax.ClassView {
	dev := d.nd.Name()
	switch r := q.(type) {
	case fqcodel.Qdisc:
		for _, c := range r.Classes(now, nil) {
			out = append(out, tcsyntax.FQCodelClassView(dev, h, c))
		}
	case prio.Qdisc:
		for _, c := range r.Classes(nil) {
			leaf := uint32(0)
			for _, g := range d.grafted {
				if g.Parent == h|c.Minor {
					leaf = g.Handle
				}
			}
			out = append(out, tcsyntax.PrioClassView(dev, h, c, leaf))
		}
	case netem.Qdisc:
		// netem_dump_class: the one class exists once a qdisc is
		// grafted on it.
		if c := r.Child(); c != nil {
			leaf := uint32(0)
			for _, g := range d.grafted {
				if g.Parent&0xffff0000 == h {
					leaf = g.Handle
				}
			}
			out = append(out, tcsyntax.ClassView{Dev: dev, Kind: "netem", Handle: h | 1, Parent: h, Leaf: leaf, Stats: c.Stats()})
		}
	case htb.Qdisc:
		for _, c := range r.Classes(nil) {
			leaf := uint32(0)
			for _, g := range d.grafted {
				if g.Parent == c.ID {
					leaf = g.Handle
				}
			}
			out = append(out, tcsyntax.HtbClassView(dev, c, leaf))
		}
	case tbf.Qdisc:
		leaf := uint32(0)
		for _, g := range d.grafted {
			if g.Parent == h|1 {
				leaf = g.Handle
			}
		}
		out = append(out, tcsyntax.ClassView{Dev: dev, Kind: "tbf", Handle: h | 1, Parent: h, Leaf: leaf, Stats: r.Child().Stats()})
	case *mqRoot:
		mp, isPrio := r.params.(mq.MQPrio)
		if isPrio {
			for tc := range int(mp.NumTC) {
				var st qdisc.Stats
				for i, c := range r.children {
					if mp.QueueTC(i) == tc {
						st = addStats(st, c.Stats())
					}
				}
				out = append(out, tcsyntax.ClassView{Dev: dev, Kind: "mqprio", Handle: mq.TCClass(h, tc), Parent: qdisc.HandleRoot, Stats: st})
			}
		}
		for i, c := range r.children {
			cv := tcsyntax.ClassView{Dev: dev, Kind: r.params.Kind(), Handle: mq.QueueClass(h, i), Parent: qdisc.HandleRoot,
				Leaf: d.children[i].Handle, Stats: c.Stats()}
			if isPrio {
				if tc := mp.QueueTC(i); tc >= 0 {
					cv.Parent = mq.TCClass(h, tc)
				}
			}
			out = append(out, cv)
		}
		for i, c := range r.children {
			out = d.classes(c, d.children[i].Handle, now, out)
		}
	}
	return out
}

func addStats(a, b qdisc.Stats) qdisc.Stats {
	a.Bytes += b.Bytes
	a.Packets += b.Packets
	a.Drops += b.Drops
	a.Overlimits += b.Overlimits
	a.Requeues += b.Requeues
	a.Backlog += b.Backlog
	a.Qlen += b.Qlen
	return a
}
