// Package netem implements the network emulator, mirroring
// net/sched/sch_netem.c (Linux 6.x: the time-sorted queue, rate, slots,
// ECN, the seeded generator) with tc/q_netem.c's parameters.
//
// A packet is, in the kernel's order: duplicated (the copy enters netem
// again, with duplication off), lost (or, with ecn, marked CE if it is
// ECN-capable), corrupted (one random bit of the frame flipped, after the
// transport checksum of a checksum-offloaded frame is completed; a GSO
// frame is cut into its segments first and only the first is corrupted),
// dropped when limit packets are queued, then either reordered (sent
// before everything queued: reorder and gap) or given a time to send:
// now plus a delay drawn from the delay distribution, and with rate the
// time the link takes for it after the last packet queued. Dequeue
// releases packets in time order (the tfifo), and with slots only while
// a slot is open.
//
// Randomness: every decision the kernel draws from its seeded generator
// (prandom_u32_state, seeded by "seed N" with prandom_seed_state) is
// drawn here from the same generator in the same order, so that the same
// seed and the same packets give the kernel's decisions. The kernel takes
// a few numbers from its unseeded get_random_u32 instead — the initial
// "last" value of each correlated sequence, the corrupted byte and bit,
// the uniform slot delays — and those are not reproducible in the kernel
// at all; netyard draws them from a second Tausworthe generator seeded
// from the seed (aux), so that a seeded netyard netem is reproducible in
// every bit. Without a seed the kernel picks a random one (and shows
// it); netyard takes the seed given to New with WithDefaultSeed (the
// datapath derives it from the engine's hash seed, fixed in replay and
// lab) and shows it the same way.
//
// Time is the datapath's clock in nanoseconds. Dequeue returns nil while
// the head packet's time has not come; NextReady says when it will, as
// the kernel's watchdog is armed for it.
//
// Differences from the kernel, on purpose:
//   - The time-sorted queue is a binary heap ordered by time to send and
//     then by arrival (the kernel: an rbtree whose equal keys go right,
//     plus a list for in-order arrivals); the order packets leave in is
//     the same, the cost O(log n) a packet.
//   - A duplicate enters this netem again, not the root of the qdisc
//     tree: the same when netem is the root; under a parent (a prio
//     band) the copy skips the parent's classification, which puts it
//     in the same band unless a filter would tell the two apart.
//   - Times are signed: a delay drawn below zero (jitter larger than the
//     delay) sends the packet now in virtual time that starts at 0,
//     where the kernel's unsigned clock would wrap.
//   - A negative packet overhead larger than the packet counts as a
//     zero-length packet (the kernel's unsigned length wraps around).
//   - Statistics: drops and queue counters include the child's, as
//     netyard's tbf and prio count theirs; the queue counters include
//     the packets waiting in the child.
package netem

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"time"

	"netyard/pkt"
	"netyard/qdisc"
)

// Never is what NextReady returns when nothing is queued.
const Never int64 = math.MaxInt64

// DefaultLimit is tc's default limit (packets).
const DefaultLimit = 1000

// Probabilities are fractions of math.MaxUint32, as tc sends them and the
// kernel keeps them: tc's "1%" is rint(0.01 * 4294967295).

// LossModel says which loss generator runs (the kernel's loss_model).
type LossModel uint8

const (
	LossRandom LossModel = iota // CLG_RANDOM: Loss with LossCorr
	LossState                   // CLG_4_STATES: "loss state P13 [P31 [P32 [P23 [P14]]]]"
	LossGE                      // CLG_GILB_ELL: "loss gemodel P [R [1-H [1-K]]]"
)

// Params is netem's configuration, what tc sends (struct tc_netem_qopt
// and the TCA_NETEM_* attributes), with the units the kernel keeps.
type Params struct {
	Limit uint32 // packets that may wait in netem's own queue; tc's default is DefaultLimit

	Latency   time.Duration // "delay": the mean delay
	Jitter    time.Duration // its spread: the standard deviation with a table, the half-width without
	DelayCorr uint32        // correlation of successive delays
	// Dist is the delay distribution: "" or Uniform, Normal, Pareto,
	// ParetoNormal.
	Dist string

	LossModel LossModel
	Loss      uint32 // LossRandom: the probability of a loss
	LossCorr  uint32
	// LossState: the 4-state Markov chain's transition probabilities
	// (struct tc_netem_gimodel).
	P13, P31, P32, P23, P14 uint32
	// LossGE: Gilbert-Elliott (struct tc_netem_gemodel): P good to bad,
	// R bad to good, H the probability of no loss in the bad state (tc
	// reads and prints 1-H), K1 the probability of a loss in the good
	// state (tc's 1-K).
	P, R, H, K1 uint32
	// ECN marks an ECN-capable packet CE instead of losing it.
	ECN bool

	Corrupt, CorruptCorr   uint32
	Duplicate, DupCorr     uint32
	Reorder, ReorderCorr   uint32
	Gap                    uint32 // reorder every Gap-th packet (tc sets 1 with reorder)
	Rate                   uint64 // bytes per second, 0 for none
	PacketOverhead         int32  // bytes added to each packet for the rate
	CellSize               uint32 // the rate counts whole cells of CellSize bytes...
	CellOverhead           int32  // ... each CellOverhead bytes longer
	SlotMin, SlotMax       time.Duration
	SlotDist               string        // a slot distribution instead of [SlotMin, SlotMax)
	SlotDelay, SlotJitter  time.Duration // with SlotDist
	SlotPackets, SlotBytes int32         // a slot's most packets and bytes, 0 for no limit
	Seed                   uint64
	HasSeed                bool // Seed was given ("seed N"); otherwise New picks one
}

// Kind implements qdisc.Params.
func (Params) Kind() string { return "netem" }

// Slots reports whether the slot model is on (the kernel dumps
// TCA_NETEM_SLOT only then).
func (p *Params) Slots() bool {
	return p.SlotMin != 0 || p.SlotMax != 0 || p.SlotJitter != 0
}

// XStats are the counters tc -s prints after netem's queue statistics
// (struct tc_netem_xstats).
type XStats struct {
	Delayed     uint64 // packets given a time to send in the time-sorted queue
	Dropped     uint64 // packets the loss model lost
	Corrupted   uint64
	Duplicated  uint64
	Reordered   uint64
	ECNMarked   uint64
	AllocErrors uint64 // duplicates or segments the packet pool refused
}

// Qdisc is what New returns beyond qdisc.Qdisc; reach it with a type
// assertion.
type Qdisc interface {
	qdisc.Qdisc
	// NextReady returns now if Dequeue can return a packet now, else
	// when the head packet's time (and slot) comes, or Never.
	NextReady(now int64) int64
	// XStats returns netem's own counters.
	XStats() XStats
	// Child is the qdisc grafted on class 1 (nil until one is).
	Child() qdisc.Qdisc
	// Graft puts child under netem's one class (netem_graft), nil
	// taking it away; the old child is reset and returned.
	Graft(child qdisc.Qdisc) (qdisc.Qdisc, error)
}

// Option adds what New needs beyond the parameters.
type Option func(*netem)

// WithDefaultSeed is the seed used when the parameters give none.
func WithDefaultSeed(seed uint64) Option { return func(n *netem) { n.defaultSeed = seed } }

// Validate checks p as tc and netem_change do.
func Validate(p *Params) error {
	var errs []error
	if p.Latency < 0 || p.Jitter < 0 {
		errs = append(errs, fmt.Errorf("netem: delay %v jitter %v: must not be negative", p.Latency, p.Jitter))
	}
	if _, err := Table(p.Dist); err != nil {
		errs = append(errs, err)
	}
	if p.Dist != "" && p.Dist != Uniform && (p.Latency == 0 || p.Jitter == 0) {
		errs = append(errs, errors.New("netem: distribution specified but no latency and jitter values"))
	}
	if p.Reorder != 0 && p.Latency == 0 {
		errs = append(errs, errors.New("netem: reordering not possible without specifying some delay"))
	}
	if p.Reorder == 0 && p.Gap != 0 {
		errs = append(errs, errors.New("netem: gap specified without reorder probability"))
	}
	if p.ECN && p.LossModel == LossRandom && p.Loss == 0 {
		errs = append(errs, errors.New("netem: ecn requested without loss model"))
	}
	if p.LossModel > LossGE {
		errs = append(errs, fmt.Errorf("netem: loss model %d: unknown", p.LossModel))
	}
	if p.SlotDist != "" {
		if _, err := Table(p.SlotDist); err != nil {
			errs = append(errs, err)
		}
		if p.SlotJitter <= 0 {
			errs = append(errs, errors.New("netem: slot distribution: non-positive jitter"))
		}
	} else if p.SlotMax < p.SlotMin || p.SlotMin < 0 {
		errs = append(errs, fmt.Errorf("netem: slot %v %v: the maximum must not be below the minimum", p.SlotMin, p.SlotMax))
	}
	return errors.Join(errs...)
}

// New returns a running netem.
func New(p Params, opts ...Option) (qdisc.Qdisc, error) {
	if err := Validate(&p); err != nil {
		return nil, err
	}
	n := &netem{}
	for _, o := range opts {
		o(n)
	}
	if !p.HasSeed {
		p.Seed, p.HasSeed = n.defaultSeed, true
	}
	n.params = p
	n.change()
	return n, nil
}

// auxSalt separates the auxiliary generator's seed from the main one's.
const auxSalt = 0x6e6574656d617578 // "netemaux"

// change is netem_change on a fresh qdisc: the parameters in the form
// the data path reads them.
func (n *netem) change() {
	p := &n.params
	n.latency = int64(p.Latency)
	// Capping jitter to the range acceptable by tabledist().
	n.jitter = int32(min(int64(p.Jitter), math.MaxInt32))
	n.dist, _ = Table(p.Dist)
	n.rnd.seed(p.Seed)
	n.aux.seed(p.Seed ^ auxSalt)
	initCrnd := func(c *crnd, rho uint32) { *c = crnd{rho: rho, last: n.aux.u32()} }
	initCrnd(&n.delayCor, p.DelayCorr)
	initCrnd(&n.lossCor, p.LossCorr)
	initCrnd(&n.dupCor, p.DupCorr)
	initCrnd(&n.reorderCor, p.ReorderCorr)
	initCrnd(&n.corruptCor, p.CorruptCorr)
	n.duplicate = p.Duplicate
	n.reorder = p.Reorder
	if p.Gap != 0 {
		// For compatibility with earlier versions: a gap means a
		// reorder probability of 100% unless one is given (tc always
		// gives one with a gap).
		if p.Reorder == 0 {
			n.reorder = math.MaxUint32
		}
	}
	switch p.LossModel {
	case LossState:
		n.clg = clg{state: txInGap, a1: p.P13, a2: p.P31, a3: p.P32, a4: p.P14, a5: p.P23}
	case LossGE:
		n.clg = clg{state: goodState, a1: p.P, a2: p.R, a3: p.H, a4: p.K1}
	}
	n.slotDist, _ = Table(p.SlotDist)
	n.slotPackets, n.slotBytes = p.SlotPackets, p.SlotBytes
	if n.slotPackets == 0 {
		n.slotPackets = math.MaxInt32
	}
	if n.slotBytes == 0 {
		n.slotBytes = math.MaxInt32
	}
	n.slotJitter = int32(min(int64(p.SlotJitter), math.MaxInt32))
	n.slotOn = p.Slots()
	// get_slot sets slot_next to the time of the change, which is
	// before any packet's time to send: the first dequeue opens the
	// first slot. The distant past does the same without a clock.
	n.slotNext = math.MinInt64 / 2
	n.packetsLeft, n.bytesLeft = n.slotPackets, n.slotBytes
}

// Loss chain states (the kernel's _4_state_model and GE_state_model).
const (
	txInGap     = 1 // TX_IN_GAP_PERIOD
	txInBurst   = 2 // TX_IN_BURST_PERIOD
	lostInBurst = 3 // LOST_IN_BURST_PERIOD
	lostInGap   = 4 // LOST_IN_GAP_PERIOD

	goodState = 1
	badState  = 2
)

// clg is struct clgstate.
type clg struct {
	state              uint8
	a1, a2, a3, a4, a5 uint32
}

// entry is one packet in the time-sorted queue.
type entry struct {
	t   int64  // time_to_send
	seq uint64 // arrival order among equal times
	p   *pkt.Buffer
}

// netem is struct netem_sched_data.
type netem struct {
	params      Params
	defaultSeed uint64

	latency   int64
	jitter    int32
	dist      []int16
	duplicate uint32 // 0 while a duplicate is being enqueued
	reorder   uint32
	counter   uint32

	rnd, aux                                          rndState
	delayCor, lossCor, dupCor, reorderCor, corruptCor crnd
	clg                                               clg

	slotOn                 bool
	slotNext               int64
	packetsLeft, bytesLeft int32
	slotPackets, slotBytes int32
	slotJitter             int32
	slotDist               []int16

	// tfifo, as the kernel's: a packet whose time is not before the
	// last one's in the list goes to the end of the list (O(1): every
	// packet, when there is no jitter); any other into a min-heap by
	// (t, seq), seq keeping equal times in arrival order as the
	// rbtree's "equal keys go right" does. maxT is the latest time
	// queued, for rate (the kernel's last skb of the rbtree or the list).
	list tlist
	heap []entry
	seq  uint64
	maxT int64
	// head is sch->q, where reordered packets wait: the kernel puts
	// each at the head (__qdisc_enqueue_head), so it is a stack, the
	// last pushed leaving first. Its bottom is sch->q.tail.
	head []entry

	child qdisc.Qdisc
	gso   pkt.Segmenter

	backlog        uint64 // bytes in heap and head
	bytes, packets uint64
	drops          uint64
	requeues       uint64
	retiredDrops   uint64
	x              XStats
}

var _ Qdisc = (*netem)(nil)

// loss4State is loss_4state, in the kernel's uint32 arithmetic
// (a1+a4 and a2+a3 wrap as the kernel's do).
func (n *netem) loss4State() bool {
	c := &n.clg
	rnd := n.rnd.u32()
	switch c.state {
	case txInGap:
		switch {
		case rnd < c.a4:
			c.state = lostInGap
			return true
		case c.a4 < rnd && rnd < c.a1+c.a4:
			c.state = lostInBurst
			return true
		case c.a1+c.a4 < rnd:
			c.state = txInGap
		}
	case txInBurst:
		if rnd < c.a5 {
			c.state = lostInBurst
			return true
		}
		c.state = txInBurst
	case lostInBurst:
		switch {
		case rnd < c.a3:
			c.state = txInBurst
		case c.a3 < rnd && rnd < c.a2+c.a3:
			c.state = txInGap
		case c.a2+c.a3 < rnd:
			c.state = lostInBurst
			return true
		}
	case lostInGap:
		c.state = txInGap
	}
	return false
}

// lossGE is loss_gilb_ell: the state moves first, then the loss is drawn
// with the probability of the state it was in.
func (n *netem) lossGE() bool {
	c := &n.clg
	switch c.state {
	case goodState:
		if n.rnd.u32() < c.a1 {
			c.state = badState
		}
		if n.rnd.u32() < c.a4 {
			return true
		}
	case badState:
		if n.rnd.u32() < c.a2 {
			c.state = goodState
		}
		if n.rnd.u32() > c.a3 {
			return true
		}
	}
	return false
}

// lossEvent is loss_event.
func (n *netem) lossEvent() bool {
	switch n.params.LossModel {
	case LossState:
		return n.loss4State()
	case LossGE:
		return n.lossGE()
	}
	return n.params.Loss != 0 && n.params.Loss >= n.lossCor.get(&n.rnd)
}

// packetTime is packet_time_ns: the time n bytes (plus the overheads,
// in whole cells) take at the rate.
func (n *netem) packetTime(length int) int64 {
	p := &n.params
	l := max(int64(length)+int64(p.PacketOverhead), 0)
	if p.CellSize != 0 {
		cells := uint64(l) / uint64(p.CellSize)
		if uint64(l) > cells*uint64(p.CellSize) {
			cells++
		}
		l = int64(cells * uint64(uint32(int64(p.CellSize)+int64(p.CellOverhead))))
	}
	hi, lo := bits.Mul64(uint64(l), uint64(time.Second))
	if hi >= p.Rate {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, p.Rate)
	return int64(min(q, math.MaxInt64))
}

// Len implements qdisc.Qdisc: netem's own queue and its child's.
func (n *netem) Len() int {
	l := n.qlen()
	if n.child != nil {
		l += n.child.Len()
	}
	return l
}

// qlen is sch->q.qlen: what limit bounds.
func (n *netem) qlen() int { return len(n.heap) + n.list.n + len(n.head) }

// timed is the number of packets in the tfifo.
func (n *netem) timed() int { return len(n.heap) + n.list.n }

// Enqueue is netem_enqueue.
func (n *netem) Enqueue(p *pkt.Buffer, now int64) bool {
	count := 1
	if n.duplicate != 0 && n.duplicate >= n.dupCor.get(&n.rnd) {
		count++
	}
	if n.lossEvent() {
		if n.params.ECN && p.SetCE() {
			// The kernel counts a mark as a drop (qdisc_qstats_drop).
			n.drops++
			n.x.ECNMarked++
		} else {
			count--
		}
	}
	if count == 0 {
		n.drops++
		n.x.Dropped++
		p.Release()
		return false
	}
	kept := false // a duplicate was queued (the kernel's rc_drop)
	if count > 1 {
		if c, err := p.Clone(); err == nil {
			save := n.duplicate
			n.duplicate = 0
			kept = n.Enqueue(c, now)
			n.duplicate = save
			n.x.Duplicated++
		} else {
			n.x.AllocErrors++
		}
	}
	if n.params.Corrupt != 0 && n.params.Corrupt >= n.corruptCor.get(&n.rnd) {
		if p.GSOType != pkt.GSONone {
			return n.corruptGSO(p, now) || kept
		}
		if !n.corrupt(p) {
			return kept
		}
	}
	return n.enqueueTimed(p, now) || kept
}

// corrupt flips one random bit of p (skb->data[rnd % headlen] ^= 1 << rnd
// % 8) after completing a partial checksum (skb_checksum_help), so that
// the corruption is seen by the receiver's checksum. It reports false,
// with p dropped and counted, when the checksum cannot be completed.
func (n *netem) corrupt(p *pkt.Buffer) bool {
	if err := p.ChecksumHelp(); err != nil || p.Len() == 0 {
		n.drops++
		p.Release()
		return false
	}
	d := p.Data()
	d[n.aux.below(uint32(len(d)))] ^= 1 << n.aux.below(8)
	n.x.Corrupted++
	return true
}

// corruptGSO is netem_segment: a GSO frame picked for corruption is cut
// into its segments; the first is corrupted and queued, the others enter
// netem again (each with its own chance of loss, duplication, ...).
func (n *netem) corruptGSO(p *pkt.Buffer, now int64) bool {
	first, taken := true, false
	err := n.gso.Cut(p, func(seg *pkt.Buffer) {
		if first {
			first = false
			if n.corrupt(seg) && n.enqueueTimed(seg, now) {
				taken = true
			}
			return
		}
		if n.Enqueue(seg, now) {
			taken = true
		}
	})
	if err != nil {
		if first {
			n.drops++ // qdisc_drop of a frame that cannot be cut
		} else {
			n.x.AllocErrors++
		}
	}
	p.Release()
	return taken
}

// enqueueTimed is the rest of netem_enqueue: the limit, then the reorder
// decision or the time to send.
func (n *netem) enqueueTimed(p *pkt.Buffer, now int64) bool {
	if n.qlen() >= int(n.params.Limit) {
		n.drops++
		p.Release()
		return false
	}
	_, length := p.WireLen()
	n.backlog += uint64(length)
	if n.params.Gap == 0 || n.counter < n.params.Gap-1 || n.reorder < n.reorderCor.get(&n.rnd) {
		delay := tabledist(n.latency, n.jitter, &n.delayCor, &n.rnd, n.dist)
		if n.params.Rate != 0 {
			last, ok := int64(0), false
			if len(n.head) > 0 {
				last, ok = n.head[0].t, true
			}
			if n.timed() > 0 && (!ok || n.maxT > last) {
				last, ok = n.maxT, true
			}
			if ok {
				// The last packet queued is the reference: the
				// time it leaves after now is taken off the delay.
				delay = max(delay-(last-now), 0)
				now = last
			}
			delay += n.packetTime(length)
		}
		n.counter++
		n.tfifoEnqueue(entry{t: now + delay, p: p})
		n.x.Delayed++
		return true
	}
	// Reorder: the packet goes before everything queued.
	n.counter = 0
	n.head = append(n.head, entry{t: now, p: p})
	n.requeues++
	n.x.Reordered++
	return true
}

// tfifoEnqueue is tfifo_enqueue: to the list if e is not before its
// tail, else into the heap.
func (n *netem) tfifoEnqueue(e entry) {
	if n.timed() == 0 || e.t > n.maxT {
		n.maxT = e.t
	}
	if n.list.n == 0 || e.t >= n.list.tail().t {
		n.list.push(e)
		return
	}
	n.push(e)
}

// peek is netem_peek: the heap's head if it is earlier than the list's,
// else the list's. It reports whether the list's was taken.
func (n *netem) peek() (e *entry, fromList bool) {
	switch {
	case len(n.heap) == 0:
		return n.list.front(), true
	case n.list.n == 0:
		return &n.heap[0], false
	case n.heap[0].t < n.list.front().t:
		return &n.heap[0], false
	}
	return n.list.front(), true
}

// push inserts e into the heap. The heap is binary and popped
// bottom-up (Floyd): the hole the head leaves goes down to a leaf along
// the smaller children, one comparison a level, and the last entry rises
// from there, rarely more than a level. A top-down sift compares twice
// a level, both unpredictable with jittered times (BenchmarkNetem: pop
// was most of the time).
func (n *netem) push(e entry) {
	e.seq = n.seq
	n.seq++
	n.heap = append(n.heap, entry{})
	n.siftUp(len(n.heap)-1, e)
}

// siftUp puts e at hole i or above it.
func (n *netem) siftUp(i int, e entry) {
	h := n.heap
	for i > 0 {
		parent := (i - 1) / 2
		if !less(&e, &h[parent]) {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = e
}

func less(a, b *entry) bool { return a.t < b.t || a.t == b.t && a.seq < b.seq }

// pop removes the heap's head.
func (n *netem) pop() *pkt.Buffer {
	h := n.heap
	p := h[0].p
	last := len(h) - 1
	e := h[last]
	h[last] = entry{}
	h = h[:last]
	n.heap = h
	if last == 0 {
		return p
	}
	i := 0
	for {
		c := 2*i + 1
		if c >= last {
			break
		}
		if c+1 < last && less(&h[c+1], &h[c]) {
			c++
		}
		h[i] = h[c]
		i = c
	}
	n.siftUp(i, e)
	return p
}

// nextSlot is get_slot_next: the next slot opens after a delay drawn
// from the slot distribution, or uniformly from [SlotMin, SlotMax), and
// holds SlotPackets packets and SlotBytes bytes.
func (n *netem) nextSlot(now int64) {
	p := &n.params
	var next int64
	if n.slotDist == nil && p.SlotDist == "" {
		next = int64(p.SlotMin) + int64(uint64(n.aux.u32())*uint64(p.SlotMax-p.SlotMin)>>32)
	} else {
		next = tabledist(int64(p.SlotDelay), n.slotJitter, nil, &n.rnd, n.slotDist)
	}
	n.slotNext = now + next
	n.packetsLeft, n.bytesLeft = n.slotPackets, n.slotBytes
}

// Dequeue is netem_dequeue.
func (n *netem) Dequeue(now int64) *pkt.Buffer {
	for {
		if k := len(n.head); k > 0 {
			p := n.head[k-1].p
			n.head[k-1] = entry{}
			n.head = n.head[:k-1]
			return n.deliver(p, true)
		}
		if n.timed() == 0 {
			break
		}
		e, fromList := n.peek()
		t := e.t
		if n.slotOn && n.slotNext < t {
			n.nextSlot(now)
		}
		if t > now || n.slotOn && n.slotNext > now {
			break
		}
		var p *pkt.Buffer
		if fromList {
			p = n.list.pop()
		} else {
			p = n.pop()
		}
		_, length := p.WireLen()
		n.backlog -= uint64(length)
		if n.slotOn {
			n.packetsLeft--
			n.bytesLeft -= int32(min(length, math.MaxInt32))
			if n.packetsLeft <= 0 || n.bytesLeft <= 0 {
				n.nextSlot(now)
			}
		}
		if n.child == nil {
			return n.deliver(p, false)
		}
		// With a child, ready packets move into it (the kernel counts
		// the child's refusal as netem's drop; here the child's drop
		// counter, summed into netem's, has it).
		n.child.Enqueue(p, now)
	}
	if n.child != nil {
		if p := n.child.Dequeue(now); p != nil {
			return n.deliver(p, false)
		}
	}
	return nil
}

// deliver counts p as sent (qdisc_bstats_update); a packet of the
// reorder stack also leaves the backlog.
func (n *netem) deliver(p *pkt.Buffer, fromHead bool) *pkt.Buffer {
	pk, b := p.WireLen()
	if fromHead {
		n.backlog -= uint64(b)
	}
	n.packets += uint64(pk)
	n.bytes += uint64(b)
	return p
}

// readier is a child that can say when it will have a packet.
type readier interface{ NextReady(now int64) int64 }

// NextReady implements Qdisc: the watchdog's time, max(time_to_send,
// slot_next), or the child's.
func (n *netem) NextReady(now int64) int64 {
	if len(n.head) > 0 {
		return now
	}
	next := Never
	if n.timed() > 0 {
		e, _ := n.peek()
		next = max(e.t, now)
		if n.slotOn && n.slotNext > next {
			next = n.slotNext
		}
	}
	if n.child != nil && n.child.Len() > 0 {
		if r, ok := n.child.(readier); ok {
			next = min(next, max(r.NextReady(now), now))
		} else {
			return now
		}
	}
	return next
}

// Stats implements qdisc.Qdisc.
func (n *netem) Stats() qdisc.Stats {
	st := qdisc.Stats{
		Bytes: n.bytes, Packets: n.packets,
		Drops:    n.drops + n.retiredDrops,
		Requeues: n.requeues,
		Backlog:  n.backlog,
		Qlen:     uint64(n.qlen()),
	}
	if n.child != nil {
		cs := n.child.Stats()
		st.Drops += cs.Drops
		st.Backlog += cs.Backlog
		st.Qlen += cs.Qlen
	}
	return st
}

// XStats implements Qdisc.
func (n *netem) XStats() XStats { return n.x }

// Params implements qdisc.Qdisc: the parameters with the seed in use.
func (n *netem) Params() qdisc.Params { return n.params }

// Reset is netem_reset: every queued packet is dropped (not counted, as
// qdisc_reset does not count), the child reset.
func (n *netem) Reset() {
	for i := range n.heap {
		n.heap[i].p.Release()
		n.heap[i] = entry{}
	}
	for i := range n.head {
		n.head[i].p.Release()
		n.head[i] = entry{}
	}
	for n.list.n > 0 {
		n.list.pop().Release()
	}
	n.heap, n.head = n.heap[:0], n.head[:0]
	n.backlog = 0
	if n.child != nil {
		n.child.Reset()
	}
}

// Child implements Qdisc.
func (n *netem) Child() qdisc.Qdisc { return n.child }

// Graft implements Qdisc.
func (n *netem) Graft(child qdisc.Qdisc) (qdisc.Qdisc, error) {
	old := n.child
	if old != nil {
		old.Reset()
		n.retiredDrops += old.Stats().Drops
	}
	n.child = child
	return old, nil
}

// tlist is the tfifo's linear list: a ring of entries in time order that
// doubles when full (the heap and the ring keep their memory, so a queue
// that has grown allocates nothing more).
type tlist struct {
	buf     []entry
	head, n int
}

func (l *tlist) front() *entry { return &l.buf[l.head] }

func (l *tlist) tail() *entry { return &l.buf[(l.head+l.n-1)&(len(l.buf)-1)] }

func (l *tlist) push(e entry) {
	if l.n == len(l.buf) {
		buf := make([]entry, max(64, 2*len(l.buf)))
		for i := range l.n {
			buf[i] = l.buf[(l.head+i)&(len(l.buf)-1)]
		}
		l.buf, l.head = buf, 0
	}
	l.buf[(l.head+l.n)&(len(l.buf)-1)] = e
	l.n++
}

func (l *tlist) pop() *pkt.Buffer {
	e := &l.buf[l.head]
	p := e.p
	*e = entry{}
	l.head = (l.head + 1) & (len(l.buf) - 1)
	l.n--
	return p
}
