// Package tbf implements the token bucket filter, mirroring
// net/sched/sch_tbf.c (and tc/q_tbf.c for the parameters).
//
// A packet of n bytes may leave when the bucket holds n/Rate seconds of
// tokens; the bucket fills at one second per second up to Burst/Rate. As
// in the kernel the tokens are time, not bytes. With PeakRate a second
// bucket of MTU/PeakRate seconds bounds how fast a burst goes out. Packets
// wait in a child qdisc, a bfifo of Limit bytes unless another is grafted
// (tc qdisc add ... parent 1:1). Packets larger than the burst (or than
// the peak bucket's MTU) can never leave and are dropped at enqueue.
//
// Dequeue returns nil while tokens are short, as tbf_dequeue does. The
// kernel then arms a watchdog timer; netyard has no timers in the
// qdisc, so NextReady tells the datapath when to come back instead.
//
// Time is the datapath's clock in nanoseconds (virtual in replays and
// labs). A clock that steps back counts as no time passing.
//
// Differences from the kernel, on purpose:
//   - Token arithmetic is exact, n*1e9/rate nanoseconds, as netyard's police
//     action does; the kernel multiplies by a reciprocal
//     (psched_ratecfg_precompute), which differs by at most one
//     nanosecond in a few seconds of tokens.
//   - No mpu. Overhead and linklayer atm adjust the length the buckets
//     are charged for (psched_l2t_ns), the burst's too: the kernel
//     keeps the bucket as l2t(burst) (TCA_TBF_BURST), so tc prints
//     burst 1800b for "burst 1500 overhead 300".
//   - "tc qdisc change" builds a new qdisc.
package tbf

import (
	"errors"
	"fmt"
	"math"
	"time"

	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

// Never is what NextReady returns when nothing is queued: no wake-up is
// needed until the next enqueue.
const Never int64 = math.MaxInt64

// Params is tbf's configuration, tc's "tbf rate RATE burst BYTES
// (limit BYTES | latency TIME) [peakrate RATE mtu BYTES]". Rates are in
// bytes per second, as the kernel keeps them (tc's "1mbit" is 125000).
type Params struct {
	Rate  uint64 // bytes per second; required
	Burst uint32 // bytes: the bucket's depth ("burst", "buffer", "maxburst"); required
	// Limit is the bytes that may wait for tokens ("limit"). Instead of
	// it, Latency gives the longest a packet may wait and the limit
	// follows from the rates, as tc computes it; give exactly one.
	Limit   uint32
	Latency time.Duration
	// PeakRate (bytes per second, 0 for none) must exceed Rate; MTU is
	// then the peak bucket's depth in bytes ("mtu", "minburst").
	PeakRate uint64
	MTU      uint32
	// Overhead is added to every packet's length, and with ATM the
	// length is counted in 53-byte cells of 48 bytes of payload
	// ("overhead", "linklayer atm|adsl").
	Overhead uint16
	ATM      bool
}

// LinkLen is the length a bucket is charged for n bytes (psched_l2t_ns's
// overhead and ATM cells).
func (p *Params) LinkLen(n uint64) uint64 {
	n += uint64(p.Overhead)
	if p.ATM {
		n = (n + 47) / 48 * 53
	}
	return n
}

// Kind implements qdisc.Params.
func (Params) Kind() string { return "tbf" }

// Qdisc is what New returns beyond qdisc.Qdisc; reach it with a type
// assertion.
type Qdisc interface {
	qdisc.Qdisc
	// NextReady returns the earliest time at or after now when Dequeue
	// can return a packet: now if one can leave now, the time the
	// tokens for the head packet will have accrued if not, or Never if
	// nothing is queued. A virtual-time datapath schedules its next
	// dequeue then; the kernel arms its watchdog for the same time.
	NextReady(now int64) int64
	// Child is the qdisc packets wait in (class 1:1).
	Child() qdisc.Qdisc
	// Graft replaces the child (tbf_graft): the old one is reset, its
	// packets dropped, and returned.
	Graft(child qdisc.Qdisc) (qdisc.Qdisc, error)
}

// New returns a running tbf.
func New(p Params) (qdisc.Qdisc, error) {
	p, err := normalize(p)
	if err != nil {
		return nil, err
	}
	child, err := fifo.New(fifo.Bfifo{Limit: p.Limit}, 0)
	if err != nil {
		return nil, fmt.Errorf("tbf: %w", err)
	}
	t := &tbf{
		params:  p,
		child:   child,
		rate:    p.Rate,
		peak:    p.PeakRate,
		maxSize: p.Burst,
		buffer:  l2t(p.Rate, p.LinkLen(uint64(p.Burst))),
	}
	if p.PeakRate != 0 {
		t.maxSize = min(t.maxSize, p.MTU)
		t.mtu = l2t(p.PeakRate, p.LinkLen(uint64(p.MTU)))
	}
	t.refill()
	return t, nil
}

// normalize checks p as tc and tbf_change do and returns it as the kernel
// keeps it: a limit (computed from the latency if that was given) and no
// MTU without a peak rate.
func normalize(p Params) (Params, error) {
	var errs []error
	// tc reports every missing parameter at once; so does this.
	if p.Rate == 0 {
		errs = append(errs, errors.New(`tbf: rate 0: the "rate" parameter is required and must be > 0`))
	}
	if p.Burst == 0 {
		errs = append(errs, errors.New(`tbf: burst 0: the "burst" parameter is required and must be > 0`))
	}
	if p.PeakRate != 0 && p.MTU == 0 {
		errs = append(errs, fmt.Errorf(`tbf: peakrate %d bytes/s: needs "mtu", the peak bucket's depth`, p.PeakRate))
	}
	switch {
	case p.Latency < 0:
		errs = append(errs, fmt.Errorf("tbf: latency %v: must be > 0", p.Latency))
	case p.Limit == 0 && p.Latency == 0:
		errs = append(errs, errors.New(`tbf: neither "limit" nor "latency": give one`))
	case p.Limit != 0 && p.Latency != 0:
		errs = append(errs, fmt.Errorf(`tbf: limit %d and latency %v: give only one`, p.Limit, p.Latency))
	}
	if len(errs) > 0 {
		return p, errors.Join(errs...)
	}
	if p.PeakRate != 0 && p.PeakRate <= p.Rate {
		return p, fmt.Errorf("tbf: peakrate %d bytes/s: must be above rate %d bytes/s", p.PeakRate, p.Rate)
	}
	if p.PeakRate == 0 {
		// tc sends no peak bucket without a peak rate.
		p.MTU = 0
	}
	if p.Latency != 0 {
		// tc_calc: limit = rate * latency + burst, or the peak
		// bucket's equivalent if smaller, in microseconds and
		// doubles as tc computes it.
		us := float64(p.Latency / time.Microsecond)
		lim := float64(p.Rate)*us/1e6 + float64(p.Burst)
		if p.PeakRate != 0 {
			lim = min(lim, float64(p.PeakRate)*us/1e6+float64(p.MTU))
		}
		if lim >= 1<<32 {
			return p, fmt.Errorf("tbf: latency %v: makes a limit of %.0f bytes, above 4 GiB", p.Latency, lim)
		}
		p.Limit, p.Latency = uint32(lim), 0
	}
	return p, nil
}

// l2t is psched_l2t_ns: the time in nanoseconds n bytes take at rate bytes
// per second, saturated at MaxInt64.
func l2t(rate, n uint64) int64 {
	const nsPerSec = uint64(time.Second)
	if n > math.MaxUint64/nsPerSec {
		return math.MaxInt64
	}
	return int64(min(n*nsPerSec/rate, math.MaxInt64))
}

// tbf is the running discipline (struct tbf_sched_data).
type tbf struct {
	params Params
	child  qdisc.Qdisc
	// peeked is the child's head packet, taken out to learn its length
	// and kept until the tokens allow it (qdisc_peek_dequeued).
	peeked *pkt.Buffer

	rate, peak uint64 // bytes/s; peak 0 for none
	maxSize    uint32 // bytes: the largest packet that can ever leave
	gso        pkt.Segmenter
	buffer     int64 // ns: the bucket's depth
	mtu        int64 // ns: the peak bucket's depth

	tokens, ptokens int64 // ns
	tc              int64 // time of the last departure (t_c)

	bytes, packets uint64
	overlimits     uint64
	drops          uint64 // oversize packets and packets lost on graft
	retiredDrops   uint64 // drops of children grafted away
}

var _ Qdisc = (*tbf)(nil)

// refill fills both buckets, as tbf_change and tbf_reset do. t_c needs no
// reset: a full bucket stays full however much time has passed.
func (t *tbf) refill() {
	t.tokens = t.buffer
	t.ptokens = t.mtu
}

// Enqueue is tbf_enqueue.
func (t *tbf) Enqueue(p *pkt.Buffer, now int64) bool {
	if uint32(p.Len()) > t.maxSize {
		if p.GSOType != pkt.GSONone && uint32(p.MaxSegLen()) <= t.maxSize {
			return t.segment(p, now)
		}
		t.drops++
		p.Release()
		return false
	}
	return t.child.Enqueue(p, now)
}

// segment is tbf_segment: a GSO frame longer than the bucket can ever
// pay for, whose segments are not, is cut (pkt.Segmenter) and each segment
// enqueued. It reports whether any segment was taken; those the child
// refused, and a frame that cannot be cut, count as drops.
func (t *tbf) segment(p *pkt.Buffer, now int64) bool {
	taken := false
	err := t.gso.Cut(p, func(seg *pkt.Buffer) {
		if t.child.Enqueue(seg, now) {
			taken = true
		}
	})
	if err != nil {
		t.drops++
	}
	p.Release()
	return taken
}

// peek returns the child's head packet without giving it up.
func (t *tbf) peek(now int64) *pkt.Buffer {
	if t.peeked == nil {
		t.peeked = t.child.Dequeue(now)
	}
	return t.peeked
}

// take computes the buckets after sending n bytes at now, as tbf_dequeue
// does; ok says whether both stay >= 0.
func (t *tbf) take(now int64, n int) (toks, ptoks int64, ok bool) {
	elapsed := max(now-t.tc, 0)
	toks = min(elapsed, t.buffer)
	paid := t.params.LinkLen(uint64(n))
	if t.peak != 0 {
		ptoks = min(toks+t.ptokens, t.mtu) - l2t(t.peak, paid)
	}
	toks = min(toks+t.tokens, t.buffer) - l2t(t.rate, paid)
	return toks, ptoks, toks|ptoks >= 0
}

// Dequeue is tbf_dequeue: the head packet if the buckets hold its tokens,
// else nil and an overlimit.
func (t *tbf) Dequeue(now int64) *pkt.Buffer {
	p := t.peek(now)
	if p == nil {
		return nil
	}
	// A GSO frame pays, and counts, for its segments (qdisc_pkt_len).
	pk, n := p.WireLen()
	toks, ptoks, ok := t.take(now, n)
	if !ok {
		t.overlimits++
		return nil
	}
	t.peeked = nil
	t.tc, t.tokens, t.ptokens = now, toks, ptoks
	t.packets += uint64(pk)
	t.bytes += uint64(n)
	return p
}

// readier is a child that can say when it will have a packet (a shaper).
type readier interface{ NextReady(now int64) int64 }

// NextReady implements Qdisc.
func (t *tbf) NextReady(now int64) int64 {
	p := t.peek(now)
	if p == nil {
		if t.child.Len() == 0 {
			return Never
		}
		// A child shaper holds packets it will not give yet.
		if r, ok := t.child.(readier); ok {
			return r.NextReady(now)
		}
		return now
	}
	_, n := p.WireLen()
	toks, ptoks, ok := t.take(now, n)
	if ok {
		return now
	}
	// The larger of the two deficits to make up: both buckets must be
	// non-negative before the packet can leave (the watchdog time).
	return now + max(-toks, -ptoks)
}

// Len implements qdisc.Qdisc.
func (t *tbf) Len() int {
	n := t.child.Len()
	if t.peeked != nil {
		n++
	}
	return n
}

// Stats implements qdisc.Qdisc. The queue counters are the child's (and
// the peeked packet's); drops include the child's, as the kernel's
// tbf_enqueue counts a child's drop in its own.
func (t *tbf) Stats() qdisc.Stats {
	cs := t.child.Stats()
	st := qdisc.Stats{
		Bytes:      t.bytes,
		Packets:    t.packets,
		Drops:      t.drops + t.retiredDrops + cs.Drops,
		Overlimits: t.overlimits,
		Backlog:    cs.Backlog,
		Qlen:       cs.Qlen,
	}
	if t.peeked != nil {
		st.Backlog += uint64(t.peeked.Len())
		st.Qlen++
	}
	return st
}

// Params implements qdisc.Qdisc: the configuration as the kernel keeps it
// (see normalize).
func (t *tbf) Params() qdisc.Params { return t.params }

// Reset is tbf_reset: the child's packets are dropped and the buckets
// refilled.
func (t *tbf) Reset() {
	t.dropPeeked()
	t.child.Reset()
	t.refill()
}

func (t *tbf) dropPeeked() {
	if t.peeked != nil {
		t.peeked.Release()
		t.peeked = nil
		t.drops++
	}
}

// Child implements Qdisc.
func (t *tbf) Child() qdisc.Qdisc { return t.child }

// Graft implements Qdisc.
func (t *tbf) Graft(child qdisc.Qdisc) (qdisc.Qdisc, error) {
	if child == nil {
		return nil, errors.New("tbf: graft of no qdisc")
	}
	old := t.child
	t.dropPeeked()
	old.Reset()
	t.retiredDrops += old.Stats().Drops
	t.child = child
	return old, nil
}
