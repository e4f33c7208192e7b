// Package htb implements the hierarchy token bucket, mirroring
// net/sched/sch_htb.c.
//
// A tree of classes, each with a rate and a ceiling (bytes a second) and
// two token buckets (tokens for the rate, ctokens for the ceiling, kept in
// nanoseconds as the kernel keeps them). Leaves hold a qdisc (pfifo until
// another one is grafted). A class is in one of three modes
// (htb_class_mode): green (CAN_SEND: within its rate), yellow (MAY_BORROW:
// over its rate, within its ceiling) or red (CANT_SEND: over its ceiling).
// A packet leaves from the lowest level at which one of its leaf's
// ancestors (or the leaf itself) is green, lower prio number first; a
// yellow class borrows from its parent through the parent's feed. Sending
// charges the buckets as htb_charge_class does: classes below the lender
// count a borrow and pay ctokens only, the lender and those above pay
// both. Classes that are not green wait in an event queue (a binary heap,
// O(log n), for the kernel's per-level rb-trees) until their mode can
// change. Among classes of the same level and priority, service is round
// robin; a leaf sends its quantum of bytes (DRR deficit, per level) before
// the round moves on.
//
// Levels are the kernel's: leaves are level 0, a class at the root is
// level 7 (TC_HTB_MAXDEPTH-1), its inner children 6, and so on.
//
// Differences from the kernel, on purpose:
//   - The rows and feeds are circular lists in activation order, not
//     rb-trees sorted by class id: O(1) to join and leave, the same round
//     robin (each active class once a round), but a round may visit
//     classes in another order than ascending class id.
//   - All due events are run at the start of a dequeue (the kernel runs
//     at most 500 a level, level by level, between its dequeue attempts).
//   - No rate estimators, no hysteresis (the kernel's default,
//     htb_hysteresis = 0), no offload, no overhead or linklayer for
//     the class rates (mpu is there).
package htb

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"time"

	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

// Limits of include/uapi/linux/pkt_sched.h and sch_htb.c.
const (
	MaxDepth = 8 // TC_HTB_MAXDEPTH: levels 0..7
	NumPrio  = 8 // TC_HTB_NUMPRIO: prio 0..7
	// DefaultR2Q is tc's r2q: a leaf's quantum is rate/r2q bytes.
	DefaultR2Q = 10
	// MinQuantum and MaxQuantum bound a computed quantum; the kernel
	// warns "quantum of class X is small|big. Consider r2q change."
	MinQuantum = 1000
	MaxQuantum = 200000
	// mbuffer is cl->mbuffer: 60 s, the most a bucket's deficit and the
	// time since the last checkpoint are counted.
	mbuffer = int64(60 * time.Second)
)

// Never is what NextReady returns when nothing is queued.
const Never int64 = math.MaxInt64

// Params is "htb [default ID] [r2q N] [direct_qlen N]".
type Params struct {
	// Default is the minor of the class that takes unclassified
	// packets; 0 (or a class that does not exist or is not a leaf)
	// sends them to the direct queue, unshaped.
	Default uint32
	// R2Q divides a leaf's rate into its quantum (DefaultR2Q if 0).
	R2Q uint32
	// DirectQlen bounds the direct queue (packets); 0 means the device's
	// txqueuelen (fifo.DefaultLimit).
	DirectQlen uint32
}

// Kind implements qdisc.Params.
func (Params) Kind() string { return "htb" }

// ClassParams is "htb rate R [ceil R] [burst B] [cburst B] [prio N]
// [quantum N]". Burst and CBurst are in bytes; tcsyntax fills in tc's
// defaults before they get here (Buffer and CBuffer are what the kernel
// keeps: the time the burst takes at the rate, in ns).
type ClassParams struct {
	Rate, Ceil      uint64 // bytes a second
	Burst, CBurst   uint32 // bytes, as given or computed by tc
	Buffer, CBuffer int64  // ns (hopt->buffer and cbuffer as the kernel keeps them)
	Prio            uint32
	// Quantum is the leaf's DRR quantum in bytes; 0 computes it from
	// the rate and the qdisc's r2q.
	Quantum uint32
	// MPU is the minimum packet unit: a smaller packet pays for MPU
	// bytes in both buckets (psched_l2t_ns with r->mpu).
	MPU uint32
}

// Errors.
var (
	ErrNoClass  = errors.New("no such class")
	ErrExists   = errors.New("class exists")
	ErrInUse    = errors.New("HTB class in use")
	ErrTooDeep  = errors.New("tree is too deep")
	ErrBadClass = errors.New("bad class id")
)

// modes (enum htb_cmode).
const (
	cantSend  = 0 // HTB_CANT_SEND
	mayBorrow = 1 // HTB_MAY_BORROW
	canSend   = 2 // HTB_CAN_SEND
)

// rrList is a row or a feed of one priority: its classes sorted by class
// id (the kernel's rb-tree) and the round's position (hprio->ptr /
// clprio->ptr). ptr -1 is the kernel's NULL: past the end, so that the
// next lookup rewinds and moves the level above; lastID is last_ptr_id,
// the class the position was on when that class left, so that the round
// resumes at it (or the next id up) if it comes back, as
// htb_id_find_next_upper does. A class that toggles between green and
// yellow keeps its turn this way.
//
// The slice is sorted by binary search; joining and leaving move the
// pointers after the place (a memmove of at most the list's length,
// which is one class's children or one level's active classes).
type rrList struct {
	items  []*class
	ptr    int
	lastID uint32
}

func (l *rrList) init() { l.items, l.ptr, l.lastID = l.items[:0], -1, 0 }

func (l *rrList) empty() bool { return len(l.items) == 0 }

func (l *rrList) search(id uint32) int {
	lo, hi := 0, len(l.items)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if l.items[m].id < id {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// add is htb_add_to_id_tree.
func (l *rrList) add(cl *class) {
	i := l.search(cl.id)
	l.items = append(l.items, nil)
	copy(l.items[i+1:], l.items[i:])
	l.items[i] = cl
	if l.ptr >= i {
		l.ptr++
	}
}

// remove is htb_safe_rb_erase with the pointer handling of
// htb_deactivate_prios and htb_remove_class_from_row.
func (l *rrList) remove(cl *class) {
	i := l.search(cl.id)
	if i >= len(l.items) || l.items[i] != cl {
		panic(fmt.Sprintf("htb: class %x not in the list it leaves", cl.id))
	}
	switch {
	case l.ptr == i:
		l.ptr, l.lastID = -1, cl.id
	case l.ptr > i:
		l.ptr--
	}
	copy(l.items[i:], l.items[i+1:])
	l.items[len(l.items)-1] = nil
	l.items = l.items[:len(l.items)-1]
}

// advance is htb_next_rb_node.
func (l *rrList) advance() {
	if l.ptr < 0 {
		return
	}
	l.ptr++
	if l.ptr >= len(l.items) {
		l.ptr = -1
	}
}

// current resolves a lost position by last id, as htb_lookup_leaf does:
// -1 when the round is past the end.
func (l *rrList) current() int {
	if l.ptr < 0 && l.lastID != 0 {
		if i := l.search(l.lastID); i < len(l.items) {
			l.ptr = i
		}
	}
	l.lastID = 0
	return l.ptr
}

// class is struct htb_class.
type class struct {
	id       uint32
	parent   *class
	children int
	level    int
	params   ClassParams
	prio     int
	quantum  int32

	rate, ceil      uint64
	mpu             int
	buffer, cbuffer int64
	tokens, ctokens int64
	tc              int64
	mode            int8

	// leaf
	q       qdisc.Qdisc
	deficit [MaxDepth]int32

	// prioActivity is the set of priorities the class is active in:
	// a leaf's own, an inner class's children's (prio_activity).
	prioActivity uint32
	// inner: children that borrow from this class, per priority.
	feed [NumPrio]rrList

	pqKey   int64
	pqIndex int // -1 when not waiting

	bytes, packets      uint64
	drops, overlimits   uint64
	lends, borrows      uint64
	leafBytes, leafPkts uint64 // sent by this leaf (bstats of a leaf)
}

// ClassStats is one class as "tc -s class show" lists it.
type ClassStats struct {
	ID, Parent uint32 // Parent is the qdisc's handle for a root class
	Level      int
	Params     ClassParams
	Quantum    uint32
	Leaf       qdisc.Qdisc // nil for an inner class
	Stats      qdisc.Stats
	// Lends, Borrows and Giants are tc_htb_xstats; Tokens and CTokens
	// are in psched ticks (64 ns), as the kernel dumps them.
	Lends, Borrows, Giants uint32
	Tokens, CTokens        int32
}

// Qdisc is what New returns beyond qdisc.Qdisc; reach it with a type
// assertion.
type Qdisc interface {
	qdisc.Qdisc
	// NextReady returns now if a packet can leave now, else the time
	// the first waiting class changes mode (or a shaping leaf has a
	// packet), or Never if nothing is queued.
	NextReady(now int64) int64
	// AddClass creates class id under parent (the qdisc's handle or
	// qdisc.HandleRoot for a root class) with a pfifo leaf. It returns
	// a warning text when the computed quantum was clamped, as the
	// kernel's extack warning.
	AddClass(id, parent uint32, p ClassParams, now int64) (warning string, err error)
	// ChangeClass changes an existing class's parameters.
	ChangeClass(id uint32, p ClassParams) (warning string, err error)
	// DelClass deletes a class without children; its leaf's packets
	// are dropped. A parent left without children becomes a leaf with
	// a new pfifo.
	DelClass(id uint32, now int64) error
	// HasClass reports whether class id exists and whether it is a
	// leaf.
	HasClass(id uint32) (exists, leaf bool)
	// Graft replaces the qdisc of leaf class id; the old one is reset
	// and returned.
	Graft(id uint32, child qdisc.Qdisc) (qdisc.Qdisc, error)
	// Classes appends every class in class id order.
	Classes(dst []ClassStats) []ClassStats
	// Leaf returns the qdisc of leaf class id, nil if there is none.
	Leaf(id uint32) qdisc.Qdisc
	// SetParams changes the qdisc's own parameters (default, r2q,
	// direct_qlen), as "tc qdisc change".
	SetParams(p Params)
	// SetClassifier sets the filters that choose a class (htb_classify's
	// tcf_classify): nil classifies by skb->priority only.
	SetClassifier(c qdisc.Classifier)
	// DirectPackets is direct_packets_stat.
	DirectPackets() uint64
}

// htb is struct htb_sched.
type htb struct {
	params  Params
	handle  uint32
	mtu     int
	classes map[uint32]*class

	row     [MaxDepth][NumPrio]rrList
	rowMask [MaxDepth]uint32
	wait    []*class // heap on pqKey

	direct         *pkt.Buffer
	directTail     *pkt.Buffer
	directLen      int
	directBacklog  uint64
	directPkts     uint64
	directQlen     int
	classifier     qdisc.Classifier
	qlen           int
	bytes, packets uint64
	drops          uint64
	overlimits     uint64
	childReady     int64 // earliest NextReady of a shaping leaf that gave nothing
	stalledAt      int64 // the time of the last dequeue that found active leaves silent
	stalled        bool
	txqueuelen     uint32
}

var _ Qdisc = (*htb)(nil)

// New returns a running htb with no classes. handle is the qdisc's
// major:0 handle; mtu the device's.
func New(p Params, handle uint32, mtu int) (qdisc.Qdisc, error) {
	if handle&0xffff != 0 || handle == 0 {
		return nil, fmt.Errorf("htb: handle %x:%x: must be a major handle (minor 0)", handle>>16, handle&0xffff)
	}
	q := &htb{handle: handle, mtu: mtu, classes: map[uint32]*class{}, txqueuelen: fifo.DefaultLimit}
	for l := range q.row {
		for p := range q.row[l] {
			q.row[l][p].init()
		}
	}
	q.SetParams(p)
	return q, nil
}

// SetParams implements Qdisc.
func (q *htb) SetParams(p Params) {
	if p.R2Q == 0 {
		p.R2Q = DefaultR2Q
	}
	if p.DirectQlen == 0 {
		p.DirectQlen = q.txqueuelen
	}
	p.Default &= 0xffff
	q.params = p
	q.directQlen = int(p.DirectQlen)
}

// SetClassifier implements Qdisc.
func (q *htb) SetClassifier(c qdisc.Classifier) { q.classifier = c }

// DirectPackets implements Qdisc.
func (q *htb) DirectPackets() uint64 { return q.directPkts }

// l2t is psched_l2t_ns: the time n bytes take at rate, in ns.
func l2t(rate uint64, n int) int64 {
	if rate == 0 {
		return math.MaxInt64 / 4
	}
	return int64(uint64(n) * uint64(time.Second) / rate)
}

func (q *htb) find(id uint32) *class {
	if id&0xffff0000 != q.handle {
		return nil
	}
	return q.classes[id]
}

func (q *htb) quantumOf(p ClassParams) (int32, string) {
	if p.Quantum != 0 {
		return int32(min(p.Quantum, math.MaxInt32)), ""
	}
	qt := p.Rate / uint64(q.params.R2Q)
	switch {
	case qt < MinQuantum:
		return MinQuantum, "small"
	case qt > MaxQuantum:
		return MaxQuantum, "big"
	}
	return int32(qt), ""
}

func (q *htb) setParams(cl *class, p ClassParams) string {
	if p.Ceil == 0 {
		p.Ceil = p.Rate
	}
	cl.params = p
	cl.rate, cl.ceil = p.Rate, p.Ceil
	cl.mpu = int(p.MPU)
	cl.buffer, cl.cbuffer = p.Buffer, p.CBuffer
	if cl.buffer == 0 {
		cl.buffer = l2t(p.Rate, int(p.Burst))
	}
	if cl.cbuffer == 0 {
		cl.cbuffer = l2t(p.Ceil, int(p.CBurst))
	}
	var warn string
	if cl.level == 0 {
		cl.quantum, warn = q.quantumOf(p)
		cl.prio = int(min(p.Prio, NumPrio-1))
	}
	if warn != "" {
		return fmt.Sprintf("sch_htb: quantum of class %X is %s. Consider r2q change.", cl.id, warn)
	}
	return ""
}

// AddClass implements Qdisc (htb_change_class for a new class).
func (q *htb) AddClass(id, parentID uint32, p ClassParams, now int64) (string, error) {
	if p.Rate == 0 {
		return "", fmt.Errorf("htb: class %x:%x: rate must be > 0", id>>16, id&0xffff)
	}
	if id&0xffff == 0 || id&0xffff0000 != q.handle {
		return "", fmt.Errorf("%w: %x:%x under qdisc %x:", ErrBadClass, id>>16, id&0xffff, q.handle>>16)
	}
	if q.classes[id] != nil {
		return "", fmt.Errorf("%w: %x:%x", ErrExists, id>>16, id&0xffff)
	}
	var parent *class
	if parentID != qdisc.HandleRoot && parentID != q.handle {
		parent = q.find(parentID)
		if parent == nil {
			return "", fmt.Errorf("%w: parent %x:%x", ErrNoClass, parentID>>16, parentID&0xffff)
		}
		if parent.parent != nil && parent.parent.level < 2 {
			return "", ErrTooDeep
		}
	}
	leaf, err := fifo.New(fifo.Pfifo{Limit: q.txqueuelen}, q.mtu)
	if err != nil {
		return "", err
	}
	cl := &class{id: id, parent: parent, q: leaf, pqIndex: -1, mode: canSend, tc: now}
	for i := range cl.feed {
		cl.feed[i].init()
	}
	if parent != nil && parent.level == 0 {
		q.toInner(parent)
	}
	warn := q.setParams(cl, p)
	cl.tokens, cl.ctokens = cl.buffer, cl.cbuffer
	if parent != nil {
		parent.children++
	}
	q.classes[id] = cl
	return warn, nil
}

// toInner turns leaf parent into an inner class: its queue is purged, it
// leaves the rows and the event queue (htb_change_class).
func (q *htb) toInner(parent *class) {
	q.purge(parent)
	if parent.prioActivity != 0 {
		q.deactivate(parent)
	}
	if parent.mode != canSend {
		q.waitRemove(parent)
		parent.mode = canSend
	}
	if parent.parent != nil {
		parent.level = parent.parent.level - 1
	} else {
		parent.level = MaxDepth - 1
	}
	parent.q = nil
	for i := range parent.feed {
		parent.feed[i].init()
	}
	parent.prioActivity = 0
}

// purge drops a leaf's packets, keeping the qdisc's own counts right.
func (q *htb) purge(cl *class) {
	if cl.q == nil {
		return
	}
	n := cl.q.Len()
	cl.q.Reset()
	q.qlen -= n - cl.q.Len()
	cl.drops += uint64(n)
	q.drops += uint64(n)
}

// ChangeClass implements Qdisc.
func (q *htb) ChangeClass(id uint32, p ClassParams) (string, error) {
	cl := q.find(id)
	if cl == nil {
		return "", fmt.Errorf("%w: %x:%x", ErrNoClass, id>>16, id&0xffff)
	}
	if p.Rate == 0 {
		return "", fmt.Errorf("htb: class %x:%x: rate must be > 0", id>>16, id&0xffff)
	}
	// A backlogged leaf leaves its priority's lists and comes back under
	// its new prio; an inner class's activity is its children's
	// priorities (it has no prio of its own in the lists), so its
	// parameters change in place, as htb_change_class changes them.
	active := cl.level == 0 && cl.prioActivity != 0
	if active {
		q.deactivate(cl)
	}
	warn := q.setParams(cl, p)
	if active {
		q.activate(cl)
	}
	return warn, nil
}

// DelClass implements Qdisc (htb_delete).
func (q *htb) DelClass(id uint32, now int64) error {
	cl := q.find(id)
	if cl == nil {
		return fmt.Errorf("%w: %x:%x", ErrNoClass, id>>16, id&0xffff)
	}
	if cl.children > 0 {
		return ErrInUse
	}
	q.purge(cl)
	if cl.prioActivity != 0 {
		q.deactivate(cl)
	}
	if cl.mode != canSend {
		q.waitRemove(cl)
	}
	delete(q.classes, id)
	if p := cl.parent; p != nil {
		p.children--
		if p.children == 0 {
			// htb_parent_to_leaf
			if p.mode != canSend {
				q.waitRemove(p)
			}
			p.level = 0
			p.q, _ = fifo.New(fifo.Pfifo{Limit: q.txqueuelen}, q.mtu)
			p.tokens, p.ctokens = p.buffer, p.cbuffer
			p.tc, p.mode = now, canSend
			p.quantum, _ = q.quantumOf(p.params)
			p.prio = int(min(p.params.Prio, NumPrio-1))
			p.prioActivity = 0
		}
	}
	return nil
}

// Leaf implements Qdisc.
func (q *htb) Leaf(id uint32) qdisc.Qdisc {
	if cl := q.find(id); cl != nil && cl.level == 0 {
		return cl.q
	}
	return nil
}

// HasClass implements Qdisc.
func (q *htb) HasClass(id uint32) (bool, bool) {
	cl := q.find(id)
	if cl == nil {
		return false, false
	}
	return true, cl.level == 0
}

// Graft implements Qdisc.
func (q *htb) Graft(id uint32, child qdisc.Qdisc) (qdisc.Qdisc, error) {
	cl := q.find(id)
	if cl == nil {
		return nil, fmt.Errorf("%w: %x:%x", ErrNoClass, id>>16, id&0xffff)
	}
	if cl.level != 0 {
		return nil, fmt.Errorf("htb: class %x:%x is not a leaf", id>>16, id&0xffff)
	}
	if child == nil {
		child, _ = fifo.New(fifo.Pfifo{Limit: q.txqueuelen}, q.mtu)
	}
	old := cl.q
	q.purge(cl)
	if cl.prioActivity != 0 {
		q.deactivate(cl)
	}
	cl.q = child
	if child.Len() > 0 {
		q.qlen += child.Len()
		q.activate(cl)
	}
	return old, nil
}

// --- activation (htb_activate_prios / htb_deactivate_prios) ---

func (q *htb) activate(cl *class) {
	if cl.prioActivity != 0 {
		return
	}
	cl.prioActivity = 1 << cl.prio
	q.activatePrios(cl)
}

func (q *htb) deactivate(cl *class) {
	q.deactivatePrios(cl)
	cl.prioActivity = 0
}

func (q *htb) activatePrios(cl *class) {
	p := cl.parent
	mask := cl.prioActivity
	for cl.mode == mayBorrow && p != nil && mask != 0 {
		m := mask
		for m != 0 {
			prio := bits.TrailingZeros32(m)
			m &^= 1 << prio
			if !p.feed[prio].empty() {
				// The parent is already active in prio.
				mask &^= 1 << prio
			}
			p.feed[prio].add(cl)
		}
		p.prioActivity |= mask
		cl = p
		p = cl.parent
	}
	if cl.mode == canSend && mask != 0 {
		q.addToRow(cl, mask)
	}
}

func (q *htb) deactivatePrios(cl *class) {
	p := cl.parent
	mask := cl.prioActivity
	for cl.mode == mayBorrow && p != nil && mask != 0 {
		m := mask
		mask = 0
		for m != 0 {
			prio := bits.TrailingZeros32(m)
			m &^= 1 << prio
			p.feed[prio].remove(cl)
			if p.feed[prio].empty() {
				mask |= 1 << prio
			}
		}
		p.prioActivity &^= mask
		cl = p
		p = cl.parent
	}
	if cl.mode == canSend && mask != 0 {
		q.removeFromRow(cl, mask)
	}
}

func (q *htb) addToRow(cl *class, mask uint32) {
	q.rowMask[cl.level] |= mask
	for m := mask; m != 0; {
		prio := bits.TrailingZeros32(m)
		m &^= 1 << prio
		q.row[cl.level][prio].add(cl)
	}
}

func (q *htb) removeFromRow(cl *class, mask uint32) {
	var empty uint32
	for m := mask; m != 0; {
		prio := bits.TrailingZeros32(m)
		m &^= 1 << prio
		r := &q.row[cl.level][prio]
		r.remove(cl)
		if r.empty() {
			empty |= 1 << prio
		}
	}
	q.rowMask[cl.level] &^= empty
}

// --- modes and the event queue ---

// classMode is htb_class_mode (no hysteresis): diff becomes the time
// until the mode can change.
func classMode(cl *class, diff *int64) int8 {
	if toks := cl.ctokens + *diff; toks < 0 {
		*diff = -toks
		return cantSend
	}
	if toks := cl.tokens + *diff; toks >= 0 {
		return canSend
	}
	*diff = -(cl.tokens + *diff)
	return mayBorrow
}

// changeMode is htb_change_class_mode.
func (q *htb) changeMode(cl *class, diff *int64) {
	m := classMode(cl, diff)
	if m == cl.mode {
		return
	}
	if m == cantSend {
		cl.overlimits++
		q.overlimits++
	}
	if cl.prioActivity != 0 {
		if cl.mode != cantSend {
			q.deactivatePrios(cl)
		}
		cl.mode = m
		if m != cantSend {
			q.activatePrios(cl)
		}
		return
	}
	cl.mode = m
}

func (q *htb) waitAdd(cl *class, now, delay int64) {
	cl.pqKey = now + delay
	if cl.pqKey == now {
		cl.pqKey++
	}
	cl.pqIndex = len(q.wait)
	q.wait = append(q.wait, cl)
	q.up(cl.pqIndex)
}

func (q *htb) waitRemove(cl *class) {
	i := cl.pqIndex
	if i < 0 {
		return
	}
	last := len(q.wait) - 1
	q.swap(i, last)
	q.wait[last] = nil
	q.wait = q.wait[:last]
	cl.pqIndex = -1
	if i < last {
		q.down(i)
		q.up(i)
	}
}

func (q *htb) swap(i, j int) {
	q.wait[i], q.wait[j] = q.wait[j], q.wait[i]
	q.wait[i].pqIndex = i
	q.wait[j].pqIndex = j
}

func (q *htb) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if q.wait[p].pqKey <= q.wait[i].pqKey {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q *htb) down(i int) {
	n := len(q.wait)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.wait[r].pqKey < q.wait[l].pqKey {
			m = r
		}
		if q.wait[i].pqKey <= q.wait[m].pqKey {
			return
		}
		q.swap(i, m)
		i = m
	}
}

// doEvents is htb_do_events over every level: the classes whose wait is
// over get their mode recomputed.
func (q *htb) doEvents(now int64) {
	for len(q.wait) > 0 && q.wait[0].pqKey <= now {
		cl := q.wait[0]
		diff := min(now-cl.tc, mbuffer)
		q.changeMode(cl, &diff) // touches the rows, not the heap
		if cl.mode == canSend {
			q.waitRemove(cl)
			continue
		}
		// Still waiting: its new time replaces the old in place (one
		// sift down instead of a removal and an insertion).
		cl.pqKey = now + diff
		if cl.pqKey == now {
			cl.pqKey++
		}
		q.down(0)
	}
}

// chargeClass is htb_charge_class: the leaf sent bytes at level.
func (q *htb) chargeClass(cl *class, level int, bytes int, pkts int, now int64) {
	for ; cl != nil; cl = cl.parent {
		diff := min(now-cl.tc, mbuffer)
		paid := max(bytes, cl.mpu)
		if cl.level >= level {
			if cl.level == level {
				cl.lends++
			}
			toks := diff + cl.tokens
			if toks > cl.buffer {
				toks = cl.buffer
			}
			toks -= l2t(cl.rate, paid)
			if toks <= -mbuffer {
				toks = 1 - mbuffer
			}
			cl.tokens = toks
		} else {
			cl.borrows++
			cl.tokens += diff // t_c moves
		}
		ctoks := diff + cl.ctokens
		if ctoks > cl.cbuffer {
			ctoks = cl.cbuffer
		}
		ctoks -= l2t(cl.ceil, paid)
		if ctoks <= -mbuffer {
			ctoks = 1 - mbuffer
		}
		cl.ctokens = ctoks
		cl.tc = now
		old := cl.mode
		diff = 0
		q.changeMode(cl, &diff)
		if old != cl.mode {
			if old != canSend {
				q.waitRemove(cl)
			}
			if cl.mode != canSend {
				q.waitAdd(cl, now, diff)
			}
		}
		if cl.level != 0 {
			cl.bytes += uint64(bytes)
			cl.packets += uint64(pkts)
		}
	}
}

// --- enqueue and dequeue ---

// classify is htb_classify: nil with direct true for the direct queue,
// nil with direct false for a packet a filter dropped (r Dropped) or
// took (r Taken).
func (q *htb) classify(p *pkt.Buffer) (cl *class, direct bool, r qdisc.ClassifyResult) {
	if p.Priority == q.handle {
		return nil, true, qdisc.NoMatch
	}
	c := q.find(p.Priority)
	if c != nil && c.level == 0 {
		return c, false, qdisc.NoMatch
	}
	// A priority naming an inner class runs that class's filters in the
	// kernel; netyard's filters are the qdisc's only, so it has none and
	// goes to the default.
	if c == nil && q.classifier != nil {
		id, res := q.classifier.Classify(p)
		switch res {
		case qdisc.Dropped, qdisc.Taken:
			return nil, false, res
		case qdisc.Matched:
			if id == q.handle {
				return nil, true, res
			}
			// An inner class would run its own filters; netyard
			// has filters on the qdisc only, so an inner class (or
			// no class: "filter selected invalid classid") falls
			// back to the default.
			if c := q.find(id); c != nil && c.level == 0 {
				return c, false, res
			}
		}
	}
	if c := q.find(q.handle | q.params.Default); c != nil && c.level == 0 {
		return c, false, qdisc.NoMatch
	}
	return nil, true, qdisc.NoMatch
}

// Enqueue is htb_enqueue.
func (q *htb) Enqueue(p *pkt.Buffer, now int64) bool {
	n := uint64(p.Len())
	cl, direct, res := q.classify(p)
	switch {
	case res == qdisc.Taken:
		return false
	case direct:
		if q.directLen >= q.directQlen {
			q.drops++
			p.Release()
			return false
		}
		p.Next = nil
		if q.directTail == nil {
			q.direct = p
		} else {
			q.directTail.Next = p
		}
		q.directTail = p
		q.directLen++
		q.directBacklog += n
		q.directPkts++
	case cl == nil:
		q.drops++
		p.Release()
		return false
	default:
		// The leaf's length before and after: a leaf that drops
		// another packet to take this one (fq_codel) changes it by
		// something else than one.
		before := cl.q.Len()
		ok := cl.q.Enqueue(p, now)
		q.qlen += cl.q.Len() - before
		if cl.q.Len() > 0 {
			q.activate(cl)
		}
		if !ok {
			q.drops++
			cl.drops++
			return false
		}
		return true
	}
	q.qlen++
	return true
}

// dequeueTree is htb_dequeue_tree.
func (q *htb) dequeueTree(prio, level int, now int64) *pkt.Buffer {
	top := &q.row[level][prio]
	start := q.lookupLeaf(top, prio)
	cl := start
	var p *pkt.Buffer
	// Bounded as the kernel's loop detection: a round visits each
	// active leaf once.
	for i := 0; cl != nil && i <= 2*len(q.classes); i++ {
		before := cl.q.Len()
		p = cl.q.Dequeue(now)
		q.qlen -= before - cl.q.Len()
		if p != nil {
			break
		}
		if cl.q.Len() == 0 {
			// It dropped what it held (CoDel) and is empty.
			q.deactivate(cl)
		} else {
			// A leaf that holds packets but gives none (a
			// shaper): qdisc_warn_nonwc, and on to the next.
			if r, ok := cl.q.(interface{ NextReady(int64) int64 }); ok {
				if t := r.NextReady(now); t > now && t < q.childReady {
					q.childReady = t
				}
			}
			q.advanceFor(cl, level, prio)
		}
		if top.empty() {
			return nil
		}
		cl = q.lookupLeaf(top, prio)
		if cl == start {
			return nil
		}
	}
	if p == nil {
		return nil
	}
	pk, n := p.WireLen()
	cl.leafBytes += uint64(n)
	cl.leafPkts++
	cl.deficit[level] -= int32(n)
	if cl.deficit[level] < 0 {
		cl.deficit[level] += cl.quantum
		q.advanceFor(cl, level, prio)
	}
	if cl.q.Len() == 0 {
		q.deactivate(cl)
	}
	q.chargeClass(cl, level, n, pk, now)
	return p
}

// advanceFor moves the round past leaf cl: in row 0 when it sends at
// level 0, else in its parent's feed.
func (q *htb) advanceFor(cl *class, level, prio int) {
	if level == 0 {
		q.row[0][prio].advance()
		return
	}
	cl.parent.feed[prio].advance()
}

// lookupLeaf is htb_lookup_leaf: from the row's position down the feeds
// to a leaf; a list whose round is over rewinds and moves the one above.
func (q *htb) lookupLeaf(top *rrList, prio int) *class {
	var stk [MaxDepth + 1]*rrList
	sp := 0
	stk[0] = top
	for range 65535 {
		l := stk[sp]
		i := l.current()
		if i < 0 {
			// At the right end: rewind, and go up.
			if l.empty() {
				return nil
			}
			l.ptr = 0
			if sp > 0 {
				sp--
				stk[sp].advance()
			}
			continue
		}
		cl := l.items[i]
		if cl.level == 0 {
			return cl
		}
		if sp+1 >= len(stk) {
			return nil
		}
		sp++
		stk[sp] = &cl.feed[prio]
	}
	return nil
}

// Dequeue is htb_dequeue.
func (q *htb) Dequeue(now int64) *pkt.Buffer {
	if p := q.direct; p != nil {
		q.direct = p.Next
		if q.direct == nil {
			q.directTail = nil
		}
		p.Next = nil
		q.directLen--
		q.directBacklog -= uint64(p.Len())
		q.qlen--
		return q.sent(p)
	}
	if q.qlen == 0 {
		return nil
	}
	q.doEvents(now)
	q.childReady = Never
	for level := range MaxDepth {
		for m := q.rowMask[level]; m != 0; {
			prio := bits.TrailingZeros32(m)
			m &^= 1 << prio
			if p := q.dequeueTree(prio, level, now); p != nil {
				return q.sent(p)
			}
		}
	}
	q.stalled, q.stalledAt = true, now
	return nil
}

func (q *htb) sent(p *pkt.Buffer) *pkt.Buffer {
	n := uint64(p.Len())
	q.packets++
	q.bytes += n
	q.stalled = false
	return p
}

// NextReady implements Qdisc.
func (q *htb) NextReady(now int64) int64 {
	if q.direct != nil {
		return now
	}
	if q.qlen == 0 {
		return Never
	}
	next := Never
	if len(q.wait) > 0 {
		if k := q.wait[0].pqKey; k <= now {
			return now
		} else {
			next = k
		}
	}
	var active bool
	for _, m := range q.rowMask {
		active = active || m != 0
	}
	if active {
		if !q.stalled || q.stalledAt != now {
			return now
		}
		next = min(next, q.childReady)
	}
	return next
}

// Len implements qdisc.Qdisc.
func (q *htb) Len() int { return q.qlen }

// Stats implements qdisc.Qdisc. The backlog is summed from the leaves
// when asked (the control plane), not kept per packet.
func (q *htb) Stats() qdisc.Stats {
	b := q.directBacklog
	for _, cl := range q.classes {
		if cl.q != nil {
			b += cl.q.Stats().Backlog
		}
	}
	return qdisc.Stats{Bytes: q.bytes, Packets: q.packets, Drops: q.drops, Overlimits: q.overlimits,
		Backlog: b, Qlen: uint64(q.qlen)}
}

// Params implements qdisc.Qdisc.
func (q *htb) Params() qdisc.Params { return q.params }

// Reset is htb_reset: every leaf is reset, the direct queue emptied,
// every class back to green with full buckets.
func (q *htb) Reset() {
	for p := q.direct; p != nil; {
		n := p.Next
		p.Next = nil
		p.Release()
		q.drops++
		p = n
	}
	q.direct, q.directTail, q.directLen, q.directBacklog = nil, nil, 0, 0
	// Every list and the event queue are emptied wholesale: undoing
	// activations one class at a time would depend on the order.
	for _, cl := range q.classes {
		if cl.q != nil {
			q.purge(cl)
		}
		cl.prioActivity = 0
		cl.pqIndex = -1
		cl.mode = canSend
		cl.tokens, cl.ctokens = cl.buffer, cl.cbuffer
		cl.deficit = [MaxDepth]int32{}
		for i := range cl.feed {
			cl.feed[i].init()
		}
	}
	for l := range q.row {
		for p := range q.row[l] {
			q.row[l][p].init()
		}
		q.rowMask[l] = 0
	}
	clear(q.wait)
	q.wait = q.wait[:0]
	q.qlen = 0
}

// Classes implements Qdisc.
// The listing sorts the class ids then (O(n log n) a listing, control
// plane only) so that adding or deleting a class costs no sorted copy.
func (q *htb) Classes(dst []ClassStats) []ClassStats {
	ids := make([]uint32, 0, len(q.classes))
	for id := range q.classes {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		cl := q.classes[id]
		cs := ClassStats{ID: id, Level: cl.level, Params: cl.params, Quantum: uint32(cl.quantum),
			Lends: uint32(cl.lends), Borrows: uint32(cl.borrows),
			Tokens: ticks(cl.tokens), CTokens: ticks(cl.ctokens)}
		cs.Params.Ceil = cl.ceil
		cs.Params.Buffer, cs.Params.CBuffer = cl.buffer, cl.cbuffer
		cs.Parent = q.handle
		if cl.parent != nil {
			cs.Parent = cl.parent.id
		} else {
			cs.Parent = qdisc.HandleRoot
		}
		if cl.level == 0 {
			cs.Leaf = cl.q
			st := cl.q.Stats()
			cs.Stats = qdisc.Stats{Bytes: cl.leafBytes, Packets: cl.leafPkts, Drops: cl.drops,
				Overlimits: cl.overlimits, Backlog: st.Backlog, Qlen: st.Qlen}
		} else {
			cs.Stats = qdisc.Stats{Bytes: cl.bytes, Packets: cl.packets, Drops: cl.drops, Overlimits: cl.overlimits}
		}
		dst = append(dst, cs)
	}
	return dst
}

// ticks is PSCHED_NS2TICKS clamped to an int32, as tc_htb_xstats holds it.
func ticks(ns int64) int32 {
	return int32(max(min(ns>>6, math.MaxInt32), math.MinInt32))
}
