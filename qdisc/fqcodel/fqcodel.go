// Package fqcodel implements fq_codel, the Fair Queuing Controlled Delay
// discipline of RFC 8290, as net/sched/sch_fq_codel.c does, with CoDel
// (RFC 8289) as include/net/codel_impl.h does it (see codel.go).
//
// Packets are hashed by flow (addresses, protocol, ports: netdev.FlowHash,
// or the packet's hash when the stack already computed one) into Flows
// queues. Each queue is a FIFO with its own CoDel state. Queues with
// packets sit on one of two lists served by deficit round robin with a
// quantum of bytes: a queue that becomes active joins the new-flows list,
// which is served first, so a sparse flow (a DNS query, a TCP ACK stream)
// overtakes bulk flows (RFC 8290 section 4.1); a queue that spends its
// quantum moves to the old-flows list. When the whole discipline is over
// its packet limit or its memory limit, the flow with the largest byte
// backlog loses up to half of it from the head, at most DropBatch packets
// (fq_codel_drop), and its CoDel count grows by as many.
//
// As in the kernel, "memory" is the packets' true size: the whole pool
// buffer each occupies, not just its frame.
//
// Left out, on purpose:
//   - Filters attached to fq_codel (tc filter add ... parent 1:) that pick
//     the flow: classification is by hash, or by skb priority when its
//     major is the qdisc's handle, as fq_codel_classify does without a
//     filter.
//   - ce_threshold_selector and ce_threshold_mask (Linux 5.15): CEThreshold
//     applies to every ECN-capable packet.
//   - "tc qdisc change": a change builds a new qdisc.
//
// Differences from the kernel, on purpose:
//   - Per-flow drop counts: the kernel reports 0 drops for an fq_codel
//     class; netyard counts the drops (CoDel and overflow) of each flow
//     since the qdisc was created or reset.
//   - Handle 0 (no handle given, see WithHandle) turns the priority
//     classification off, where the kernel would compare with handle 0.
//   - Reset counts the packets it frees as drops, as netyard's fifo does.
package fqcodel

import (
	"fmt"
	"time"

	"netyard/netdev"
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/wire"
)

// Defaults of sch_fq_codel.c (fq_codel_init) and codel_params_init.
const (
	DefaultLimit       = 10240 // packets (10*1024)
	DefaultFlows       = 1024  // flow queues
	DefaultQuantum     = 1514  // bytes: psched_mtu of a 1500-byte Ethernet device
	DefaultTarget      = 5 * time.Millisecond
	DefaultInterval    = 100 * time.Millisecond
	DefaultMemoryLimit = 32 << 20 // bytes
	DefaultDropBatch   = 64       // packets
)

// Bounds the kernel enforces or clamps to.
const (
	// MaxFlows is the most flow queues fq_codel_change accepts.
	MaxFlows = 65536
	// MinQuantum is the smallest quantum: the kernel raises smaller ones
	// to it (max(256U, quantum)).
	MinQuantum = 256
	// MaxQuantum is FQ_CODEL_QUANTUM_MAX: larger ones are refused.
	MaxQuantum = 1 << 20
	// MaxMemoryLimit is what the kernel lowers a larger memory limit to
	// (min(1U << 31, memory_limit)).
	MaxMemoryLimit = 1 << 31
	// maxTime is the largest target, interval or ce_threshold: netlink
	// carries them as a uint32 of microseconds.
	maxTime = time.Duration(1<<32-1) * time.Microsecond
)

// Params is fq_codel's configuration, tc's "fq_codel [ limit PACKETS ]
// [ flows NUMBER ] [ target TIME ] [ interval TIME ] [ quantum BYTES ]
// [ ce_threshold TIME ] [ memory_limit BYTES ] [ drop_batch SIZE ]
// [ [no]ecn ]". Every field is explicit: start from Defaults.
type Params struct {
	Limit       uint32 // packets queued at most
	Flows       uint32 // flow queues (1..MaxFlows)
	Quantum     uint32 // bytes a flow sends per round (MinQuantum..MaxQuantum)
	Target      time.Duration
	Interval    time.Duration
	MemoryLimit uint32 // bytes of packet memory queued at most
	DropBatch   uint32 // packets dropped at most per overflow
	ECN         bool   // mark ECN-capable packets instead of dropping them
	// CEThreshold marks ECN-capable packets whose sojourn time exceeds
	// it, whatever CoDel decides (for DCTCP-like senders); 0 is off.
	CEThreshold time.Duration
	// Given says which parameters a command gave (GivenLimit, ...), as
	// the netlink attributes tc sends: "tc qdisc change" changes those
	// and keeps the others (fq_codel_change). 0 for Params made in code.
	Given uint16
}

// Bits of Params.Given.
const (
	GivenLimit uint16 = 1 << iota
	GivenFlows
	GivenQuantum
	GivenTarget
	GivenInterval
	GivenMemoryLimit
	GivenDropBatch
	GivenECN
	GivenCEThreshold
)

// Merge is fq_codel_change: old with the parameters p gave (p.Given)
// put in. The result's Given is old's and p's together.
func Merge(old, p Params) Params {
	g := p.Given
	if g&GivenLimit != 0 {
		old.Limit = p.Limit
	}
	if g&GivenFlows != 0 {
		old.Flows = p.Flows
	}
	if g&GivenQuantum != 0 {
		old.Quantum = p.Quantum
	}
	if g&GivenTarget != 0 {
		old.Target = p.Target
	}
	if g&GivenInterval != 0 {
		old.Interval = p.Interval
	}
	if g&GivenMemoryLimit != 0 {
		old.MemoryLimit = p.MemoryLimit
	}
	if g&GivenDropBatch != 0 {
		old.DropBatch = p.DropBatch
	}
	if g&GivenECN != 0 {
		old.ECN = p.ECN
	}
	if g&GivenCEThreshold != 0 {
		old.CEThreshold = p.CEThreshold
	}
	old.Given |= g
	return old
}

// Kind implements qdisc.Params.
func (Params) Kind() string { return "fq_codel" }

// Defaults returns tc's defaults: what "tc qdisc add dev X root fq_codel"
// gives on a 1500-byte Ethernet device. The kernel's default quantum is
// the device's MTU plus its link header; set Quantum for other MTUs.
func Defaults() Params {
	return Params{
		Limit:       DefaultLimit,
		Flows:       DefaultFlows,
		Quantum:     DefaultQuantum,
		Target:      DefaultTarget,
		Interval:    DefaultInterval,
		MemoryLimit: DefaultMemoryLimit,
		DropBatch:   DefaultDropBatch,
		ECN:         true,
	}
}

// Option adds what New needs to know about where the qdisc sits.
type Option func(*config)

type config struct {
	handle uint32
	mtu    int
}

// WithHandle gives the qdisc's own handle (major:0). A packet whose
// priority is handle:N, 1 <= N <= Flows, goes to flow N without hashing
// (set by "skbedit priority", as fq_codel_classify honours it). Without
// a handle the priority is not looked at.
func WithHandle(h uint32) Option { return func(c *config) { c.handle = h } }

// WithMTU gives the device's MTU (without the link header), 1500 when not
// given. CoDel does not drop while the whole qdisc holds at most one
// MTU-sized packet plus link header (codel_params.mtu = psched_mtu).
func WithMTU(mtu int) Option { return func(c *config) { c.mtu = mtu } }

// Qdisc is what New returns beyond qdisc.Qdisc; reach it with a type
// assertion.
type Qdisc interface {
	qdisc.Qdisc
	// XStats returns fq_codel's own counters (tc -s qdisc show).
	XStats() XStats
	// Classes appends the flows that are scheduled (on the new or old
	// list) to dst, in flow order, as fq_codel_walk lists them for
	// "tc -s class show". now is for DropNext.
	Classes(now int64, dst []ClassStats) []ClassStats
}

// XStats is struct tc_fq_codel_qd_stats.
type XStats struct {
	MaxPacket      uint32 // the largest packet seen
	DropOverlimit  uint32 // packets dropped because the qdisc was full (limit or memory)
	ECNMark        uint32 // packets CoDel marked CE instead of dropping
	NewFlowCount   uint32 // times a flow joined the new-flows list
	NewFlowsLen    uint32 // flows on the new-flows list now
	OldFlowsLen    uint32 // flows on the old-flows list now
	CEMark         uint32 // packets marked CE for exceeding CEThreshold
	MemoryUsage    uint32 // bytes of packet memory queued now
	DropOvermemory uint32 // of DropOverlimit, those over the memory limit
}

// ClassStats is one flow as "tc -s class show" shows it: the queue
// counters and struct tc_fq_codel_cl_stats.
type ClassStats struct {
	// Minor is the class's minor number: the flow's index plus one. The
	// class id is the qdisc's major with this minor.
	Minor     uint32
	Qlen      uint32 // packets queued
	Backlog   uint32 // bytes queued
	Drops     uint32 // packets dropped (see the package comment)
	Deficit   int32  // bytes left in this round
	LDelay    time.Duration
	Count     uint32
	LastCount uint32
	Dropping  bool
	// DropNext is when the next drop is due, from now (negative when
	// overdue); 0 unless Dropping.
	DropNext time.Duration
}

// New returns a running fq_codel. seed keys the flow hash: the same seed
// gives the same flow for the same packet, run after run (replay and lab
// depend on it); use the datapath's hash seed so that the hash computed
// here is the one queue selection uses too.
func New(p Params, seed uint32, opts ...Option) (qdisc.Qdisc, error) {
	cfg := config{mtu: netdev.DefaultMTU}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := validate(p)
	if err != nil {
		return nil, err
	}
	if cfg.handle&0xffff != 0 {
		return nil, fmt.Errorf("fq_codel: handle %x:%x: must be a major handle (minor 0)", cfg.handle>>16, cfg.handle&0xffff)
	}
	if cfg.mtu <= 0 {
		return nil, fmt.Errorf("fq_codel: mtu %d: must be > 0", cfg.mtu)
	}
	q := &fqCodel{
		params:    p,
		seed:      seed,
		handle:    cfg.handle,
		flows:     make([]flow, p.Flows),
		backlogs:  make([]uint32, p.Flows),
		nflows:    p.Flows,
		quantum:   int32(p.Quantum),
		limit:     uint64(p.Limit),
		memLimit:  p.MemoryLimit,
		dropBatch: p.DropBatch,
		target:    toCodelParam(p.Target),
		interval:  toCodelParam(p.Interval),
		mtu:       uint64(cfg.mtu + wire.EthHeaderLen),
		ecn:       p.ECN,
		ceEnabled: p.CEThreshold != 0,
		ceThresh:  toCodelParam(p.CEThreshold),
		newFlows:  flowList{head: none, tail: none},
		oldFlows:  flowList{head: none, tail: none},
	}
	for i := range q.flows {
		q.flows[i].next = none
	}
	return q, nil
}

// toCodelParam converts a configured time as the kernel receives it:
// whole microseconds over netlink, then (us * 1000) >> CODEL_SHIFT.
func toCodelParam(d time.Duration) uint32 {
	us := uint64(d / time.Microsecond)
	return uint32(us * 1000 >> codelShift)
}

// validate checks p as fq_codel_change does, refusing also what would
// make the discipline meaningless (a zero target, interval, limit or
// memory limit), and applies the kernel's clamps.
func validate(p Params) (Params, error) {
	switch {
	case p.Limit == 0:
		return p, fmt.Errorf("fq_codel: limit 0: must be >= 1 packet")
	case p.Flows == 0 || p.Flows > MaxFlows:
		return p, fmt.Errorf("fq_codel: flows %d: must be 1..%d", p.Flows, MaxFlows)
	case p.Quantum > MaxQuantum:
		return p, fmt.Errorf("fq_codel: quantum %d: must be at most %d bytes", p.Quantum, MaxQuantum)
	case p.MemoryLimit == 0:
		return p, fmt.Errorf("fq_codel: memory_limit 0: must be > 0 bytes")
	}
	for _, t := range []struct {
		name string
		d    time.Duration
		zero bool // 0 allowed (off)
	}{
		{"target", p.Target, false},
		{"interval", p.Interval, false},
		{"ce_threshold", p.CEThreshold, true},
	} {
		switch {
		case t.d < 0 || !t.zero && t.d == 0:
			return p, fmt.Errorf("fq_codel: %s %v: must be > 0", t.name, t.d)
		case t.d != 0 && t.d < time.Microsecond:
			return p, fmt.Errorf("fq_codel: %s %v: must be at least 1us (tc counts microseconds)", t.name, t.d)
		case t.d > maxTime:
			return p, fmt.Errorf("fq_codel: %s %v: must be at most %v", t.name, t.d, maxTime)
		}
	}
	// The kernel keeps whole microseconds.
	p.Target = p.Target.Truncate(time.Microsecond)
	p.Interval = p.Interval.Truncate(time.Microsecond)
	p.CEThreshold = p.CEThreshold.Truncate(time.Microsecond)
	p.Quantum = max(p.Quantum, MinQuantum)
	p.DropBatch = max(p.DropBatch, 1)
	p.MemoryLimit = min(p.MemoryLimit, MaxMemoryLimit)
	return p, nil
}

// none marks the end of a flow list.
const none = -1

// Which list a flow is on (the kernel tells by list_empty(&flowchain)).
const (
	offList uint8 = iota
	onNew
	onOld
)

// flow is struct fq_codel_flow: a FIFO linked through pkt.Buffer.Next and
// its CoDel state. Flows live in one flat slice and link to each other by
// index, so scheduling touches no pointer but the packets'.
type flow struct {
	head, tail *pkt.Buffer
	next       int32 // next flow on the same list, or none
	list       uint8
	deficit    int32
	qlen       uint32
	drops      uint32
	cv         codelVars
}

// flowList is a singly linked list of flows by index. fq_codel only ever
// takes flows from the head and adds them at the tail, so one link is
// enough.
type flowList struct{ head, tail int32 }

// fqCodel is the running discipline. One worker uses it at a time.
type fqCodel struct {
	params Params
	seed   uint32
	handle uint32

	flows []flow
	// backlogs is each flow's byte backlog, apart from flows as in the
	// kernel: fq_codel_drop scans it for the fattest flow, and 4 bytes a
	// flow keep that scan within a few cache lines.
	backlogs []uint32
	nflows   uint32

	newFlows, oldFlows flowList

	// Parameters in the units the data path uses.
	quantum   int32
	limit     uint64
	memLimit  uint32
	dropBatch uint32
	target    uint32 // codel time
	interval  uint32 // codel time
	mtu       uint64 // bytes: psched_mtu
	ecn       bool
	ceEnabled bool
	ceThresh  uint32 // codel time

	st       qdisc.Stats
	memUsage uint32
	x        XStats // counters; the list lengths are filled in by XStats
}

var _ Qdisc = (*fqCodel)(nil)

// trueSize is the memory a queued packet holds: its whole pool buffer
// (skb->truesize). It does not change while the packet is queued.
func trueSize(p *pkt.Buffer) uint32 {
	return uint32(p.Headroom() + p.Len() + p.Tailroom())
}

// classify is fq_codel_classify without filters: the priority when its
// major is our handle and its minor names a flow, else the flow hash
// scaled to the number of flows (reciprocal_scale). It returns an index.
func (q *fqCodel) classify(p *pkt.Buffer) uint32 {
	if q.handle != 0 && p.Priority&0xffff0000 == q.handle {
		if m := p.Priority & 0xffff; m > 0 && m <= q.nflows {
			return m - 1
		}
	}
	if !p.HashValid {
		p.Hash = netdev.FlowHash(&p.Hdr, q.seed)
		p.HashValid = true
	}
	return uint32(uint64(p.Hash) * uint64(q.nflows) >> 32)
}

// Enqueue is fq_codel_enqueue.
func (q *fqCodel) Enqueue(p *pkt.Buffer, now int64) bool {
	idx := q.classify(p)
	f := &q.flows[idx]
	p.EnqueueTime = now
	p.Next = nil
	if f.head == nil {
		f.head = p
	} else {
		f.tail.Next = p
	}
	f.tail = p
	f.qlen++
	n := uint32(p.Len())
	q.backlogs[idx] += n
	q.st.Backlog += uint64(n)
	if f.list == offList {
		q.pushTail(&q.newFlows, int32(idx))
		f.list = onNew
		q.x.NewFlowCount++
		f.deficit = q.quantum
	}
	q.memUsage += trueSize(p)
	memLimited := q.memUsage > q.memLimit
	q.st.Qlen++
	if q.st.Qlen <= q.limit && !memLimited {
		return true
	}
	before := q.st.Qlen
	q.dropFattest(idx)
	dropped := uint32(before - q.st.Qlen)
	q.x.DropOverlimit += dropped
	if memLimited {
		q.x.DropOvermemory += dropped
	}
	return false
}

// dropFattest is fq_codel_drop: it finds the flow with the largest byte
// backlog and drops packets from its head until half of that backlog is
// gone or DropBatch packets are, then raises the flow's CoDel count by
// as many so that CoDel signals harder too. The linear scan is the
// kernel's choice: it costs nothing per packet, only on overflow, and
// the batch amortises it. fallback is the flow just enqueued to, used
// when every backlog is 0 bytes (empty frames).
func (q *fqCodel) dropFattest(fallback uint32) {
	var maxBacklog uint32
	idx := fallback
	for i, b := range q.backlogs {
		if b > maxBacklog {
			maxBacklog, idx = b, uint32(i)
		}
	}
	threshold := maxBacklog >> 1
	f := &q.flows[idx]
	var n, length, mem uint32
	for f.head != nil {
		p := f.head
		f.head = p.Next
		p.Next = nil
		length += uint32(p.Len())
		mem += trueSize(p)
		p.Release()
		n++
		if n >= q.dropBatch || length >= threshold {
			break
		}
	}
	f.cv.count += n
	f.qlen -= n
	f.drops += n
	q.backlogs[idx] -= length
	q.memUsage -= mem
	q.st.Drops += uint64(n)
	q.st.Backlog -= uint64(length)
	q.st.Qlen -= uint64(n)
}

// Dequeue is fq_codel_dequeue: deficit round robin over the new flows,
// then the old ones, each flow's head going through CoDel.
func (q *fqCodel) Dequeue(now int64) *pkt.Buffer {
	t := codelTime(now)
	for {
		l := &q.newFlows
		if l.head == none {
			l = &q.oldFlows
			if l.head == none {
				return nil
			}
		}
		idx := l.head
		f := &q.flows[idx]
		if f.deficit <= 0 {
			f.deficit += q.quantum
			q.popHead(l)
			q.pushTail(&q.oldFlows, idx)
			f.list = onOld
			continue
		}
		p := q.codelDequeue(f, uint32(idx), t)
		if p == nil {
			// An empty new flow goes through the old list once
			// before it leaves, so that a flow cannot stay new (and
			// first) by emptying and refilling: the anti-starvation
			// rule of RFC 8290 section 4.2.
			q.popHead(l)
			if l == &q.newFlows && q.oldFlows.head != none {
				q.pushTail(&q.oldFlows, idx)
				f.list = onOld
			} else {
				f.list = offList
			}
			continue
		}
		n := p.Len()
		q.st.Packets++
		q.st.Bytes += uint64(n)
		f.deficit -= int32(n)
		return p
	}
}

// codelDequeue is codel_dequeue for flow f at codel time now.
func (q *fqCodel) codelDequeue(f *flow, idx uint32, now uint32) *pkt.Buffer {
	v := &f.cv
	p := q.flowDequeue(f, idx)
	if p == nil {
		v.dropping = false
		return nil
	}
	drop := q.shouldDrop(p, v, now)
	if v.dropping {
		if !drop {
			// The sojourn time went below target: leave the
			// dropping state.
			v.dropping = false
		} else if afterEq(now, v.dropNext) {
			// Time for the next drop. A large backlog may make
			// the next one due already, hence the loop.
			for v.dropping && afterEq(now, v.dropNext) {
				v.count++ // wraps harmlessly: nothing divides by it
				v.newtonStep()
				if q.ecn && setCE(p) {
					q.x.ECNMark++
					v.dropNext = controlLaw(v.dropNext, q.interval, v.recInvSqrt)
					goto end
				}
				q.drop(p, f)
				p = q.flowDequeue(f, idx)
				if !q.shouldDrop(p, v, now) {
					v.dropping = false
				} else {
					v.dropNext = controlLaw(v.dropNext, q.interval, v.recInvSqrt)
				}
			}
		}
	} else if drop {
		if q.ecn && setCE(p) {
			q.x.ECNMark++
		} else {
			q.drop(p, f)
			p = q.flowDequeue(f, idx)
			q.shouldDrop(p, v, now) // for its effect on ldelay and firstAboveTime
		}
		v.dropping = true
		// If the queue went above target soon after it last went
		// below, the drop rate that controlled it then is a good
		// start now: resume from the drops of the last cycle.
		delta := v.count - v.lastcount
		if delta > 1 && before(now-v.dropNext, 16*q.interval) {
			v.count = delta
			// One step from the old estimate; later steps correct
			// it quadratically.
			v.newtonStep()
		} else {
			v.count = 1
			v.recInvSqrt = ^uint16(0)
		}
		v.lastcount = v.count
		v.dropNext = controlLaw(now, q.interval, v.recInvSqrt)
	}
end:
	if p != nil && q.ceEnabled && after(v.ldelay, q.ceThresh) && setCE(p) {
		q.x.CEMark++
	}
	return p
}

// shouldDrop is codel_should_drop.
func (q *fqCodel) shouldDrop(p *pkt.Buffer, v *codelVars, now uint32) bool {
	if p == nil {
		v.firstAboveTime = 0
		return false
	}
	v.ldelay = now - codelTime(p.EnqueueTime)
	if n := uint32(p.Len()); n > q.x.MaxPacket {
		q.x.MaxPacket = n
	}
	if before(v.ldelay, q.target) || q.st.Backlog <= q.mtu {
		// Below target (or too little queued to matter): stay below
		// for at least an interval before dropping again.
		v.firstAboveTime = 0
		return false
	}
	if v.firstAboveTime == 0 {
		// Just went above: drop if it stays above for an interval.
		v.firstAboveTime = now + q.interval
		return false
	}
	return after(now, v.firstAboveTime)
}

// flowDequeue takes the head packet of flow idx (dequeue_func).
func (q *fqCodel) flowDequeue(f *flow, idx uint32) *pkt.Buffer {
	p := f.head
	if p == nil {
		return nil
	}
	f.head = p.Next
	p.Next = nil
	f.qlen--
	n := uint32(p.Len())
	q.backlogs[idx] -= n
	q.memUsage -= trueSize(p)
	q.st.Qlen--
	q.st.Backlog -= uint64(n)
	return p
}

// drop releases a packet CoDel dropped (drop_func).
func (q *fqCodel) drop(p *pkt.Buffer, f *flow) {
	p.Release()
	q.st.Drops++
	f.drops++
}

func (q *fqCodel) pushTail(l *flowList, idx int32) {
	q.flows[idx].next = none
	if l.tail == none {
		l.head = idx
	} else {
		q.flows[l.tail].next = idx
	}
	l.tail = idx
}

func (q *fqCodel) popHead(l *flowList) {
	idx := l.head
	l.head = q.flows[idx].next
	if l.head == none {
		l.tail = none
	}
	q.flows[idx].next = none
}

// Len implements qdisc.Qdisc.
func (q *fqCodel) Len() int { return int(q.st.Qlen) }

// Stats implements qdisc.Qdisc.
func (q *fqCodel) Stats() qdisc.Stats { return q.st }

// Params implements qdisc.Qdisc: the configuration after the kernel's
// clamps.
func (q *fqCodel) Params() qdisc.Params { return q.params }

// Reset is fq_codel_reset: every queued packet is freed (and counted as
// dropped), every flow leaves its list and forgets its CoDel state.
func (q *fqCodel) Reset() {
	for i := range q.flows {
		f := &q.flows[i]
		for p := f.head; p != nil; {
			next := p.Next
			p.Next = nil
			p.Release()
			q.st.Drops++
			p = next
		}
		*f = flow{next: none}
	}
	clear(q.backlogs)
	q.newFlows = flowList{head: none, tail: none}
	q.oldFlows = flowList{head: none, tail: none}
	q.st.Qlen = 0
	q.st.Backlog = 0
	q.memUsage = 0
}

// XStats implements Qdisc (fq_codel_dump_stats).
func (q *fqCodel) XStats() XStats {
	x := q.x
	x.MemoryUsage = q.memUsage
	for i := q.newFlows.head; i != none; i = q.flows[i].next {
		x.NewFlowsLen++
	}
	for i := q.oldFlows.head; i != none; i = q.flows[i].next {
		x.OldFlowsLen++
	}
	return x
}

// Classes implements Qdisc (fq_codel_walk and fq_codel_dump_class_stats).
func (q *fqCodel) Classes(now int64, dst []ClassStats) []ClassStats {
	t := codelTime(now)
	for i := range q.flows {
		f := &q.flows[i]
		if f.list == offList {
			continue
		}
		c := ClassStats{
			Minor:     uint32(i) + 1,
			Qlen:      f.qlen,
			Backlog:   q.backlogs[i],
			Drops:     f.drops,
			Deficit:   f.deficit,
			LDelay:    codelDuration(f.cv.ldelay),
			Count:     f.cv.count,
			LastCount: f.cv.lastcount,
			Dropping:  f.cv.dropping,
		}
		if f.cv.dropping {
			if d := int32(f.cv.dropNext - t); d >= 0 {
				c.DropNext = codelDuration(uint32(d))
			} else {
				c.DropNext = -codelDuration(uint32(-d))
			}
		}
		dst = append(dst, c)
	}
	return dst
}
