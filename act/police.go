package act

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"netyard/pkt"
	"netyard/stats"
)

// police is a token-bucket policer (tcf_police_act, net/sched/act_police.c).
// As in the kernel the buckets hold time, not bytes: a packet of n bytes
// costs n/rate seconds of tokens (psched_l2t_ns), the committed bucket
// holds at most Burst/Rate seconds, and the optional peak bucket at most
// MTU/PeakRate seconds. A packet conforms when it fits the MTU and both
// buckets stay >= 0 after paying; it then takes the conform verdict
// (C.Control), otherwise the exceed verdict and an overlimit is counted.
// Whichever verdict is Shot counts a drop, as the kernel's inc_drops label
// does. Without a rate (an MTU-only policer) a packet within the MTU
// conforms without touching the buckets or the drop counter.
//
// Time comes from Ctx.Now, the datapath's clock (virtual in replays and
// labs), never from time.Now. A clock that steps back is read as no time
// passing; the kernel's ktime_get_ns never steps back.
//
// Differences from the kernel, on purpose:
//   - Rates are exact: tokens are n*1e9/rate nanoseconds, where the kernel
//     uses psched_ratecfg's multiply-and-shift and keeps the burst in 64 ns
//     psched ticks.
//   - The length is the whole frame at both hooks. The kernel charges an
//     ingress packet without its MAC header (qdisc_pkt_len after
//     eth_type_trans), so an ingress policer here is stricter by 14 bytes
//     (18 with a tag) per packet.
//   - No avrate (estimator-based policing), overhead or linklayer.
//
// The bucket is shared by every worker that runs the action, behind a
// mutex, as the kernel's tcfp_lock spinlock; one policer is one bucket.
type police struct {
	cell stats.Cell
	p    atomic.Pointer[policeParams]

	mu    sync.Mutex
	tc    int64 // time of the last conforming packet (tcfp_t_c)
	toks  int64 // committed bucket, ns (tcfp_toks)
	ptoks int64 // peak bucket, ns (tcfp_ptoks)
	pkts  int64 // packet bucket, ns (tcfp_pkttoks)
}

type policeParams struct {
	spec     Police
	rate     uint64 // bytes/s; 0: no bucket
	peak     uint64 // bytes/s; 0: no peak bucket
	mtu      uint32
	burst    int64 // ns
	mtuPtoks int64 // ns: the peak bucket's size
	pktCost  int64 // ns a packet costs in the packet bucket (0: none)
	pktBurst int64 // ns: the packet bucket's size
}

var _ Action = (*police)(nil)

// defaultPoliceMTU is the MTU of a policer with a rate and no "mtu": the
// kernel uses 255 << cell_log of the rate table, and iproute2's
// tc_calc_rtable picks cell_log 3 for its default MTU of 2047 bytes, so
// frames above 2040 bytes exceed.
const defaultPoliceMTU = 255 << 3

func newPolice(s *Police, env Env, cell stats.Cell) (*police, error) {
	prm, err := policeConfig(s)
	if err != nil {
		return nil, err
	}
	pl := &police{cell: cell}
	pl.reset(prm, env.Now())
	pl.p.Store(prm)
	return pl, nil
}

func policeConfig(s *Police) (*policeParams, error) {
	if err := checkControl("police", "conform verdict", s.C.Control); err != nil {
		return nil, err
	}
	if _, ok := s.C.Control.Chain(); ok {
		// tcf_police_init: "goto chain not allowed on fallback".
		return nil, fmt.Errorf("police: conform verdict %s: goto chain is allowed only as the exceed verdict", s.C.Control)
	}
	if err := checkControl("police", "exceed verdict", s.Exceed); err != nil {
		return nil, err
	}
	switch {
	case (s.PktsRate == 0) != (s.PktsBurst == 0):
		// tcf_police_init
		return nil, fmt.Errorf("police: Both or neither packet-per-second burst and rate must be provided")
	case s.PktsRate > 0 && s.Rate > 0:
		return nil, fmt.Errorf("police: packet-per-second and byte-per-second rate limits not allowed in same action")
	case s.Rate == 0 && s.MTU == 0 && s.PktsRate == 0:
		return nil, fmt.Errorf("police: no rate and no mtu: give a rate (with a burst) or an mtu")
	case s.Rate > 0 && s.Burst == 0:
		return nil, fmt.Errorf("police: rate %d bytes/s: needs a burst > 0", s.Rate)
	case s.PeakRate > 0 && s.Rate == 0:
		return nil, fmt.Errorf("police: peakrate %d bytes/s: needs a rate", s.PeakRate)
	case s.PeakRate > 0 && s.MTU == 0:
		return nil, fmt.Errorf("police: peakrate %d bytes/s: needs an mtu (the peak bucket's size)", s.PeakRate)
	}
	c, err := copyCommon(s.C)
	if err != nil {
		return nil, fmt.Errorf("police: %w", err)
	}
	spec := *s
	spec.C = c
	prm := &policeParams{spec: spec, rate: s.Rate, peak: s.PeakRate, mtu: s.MTU}
	if prm.mtu == 0 {
		prm.mtu = math.MaxUint32 // no rate: "~0"
		if s.Rate > 0 {
			prm.mtu = defaultPoliceMTU
		}
	}
	if s.Rate > 0 {
		prm.burst = l2t(s.Rate, uint64(s.Burst))
	}
	if s.PeakRate > 0 {
		prm.mtuPtoks = l2t(s.PeakRate, uint64(prm.mtu))
	}
	if s.PktsRate > 0 {
		prm.pktCost = l2t(s.PktsRate, 1) // psched_pkt2t_ns
		prm.pktBurst = l2t(s.PktsRate, s.PktsBurst)
	}
	return prm, nil
}

// linkLen is the length the rate is charged for: psched_l2t_ns's overhead
// and ATM cell alignment.
func linkLen(n uint64, s *Police) uint64 {
	n += uint64(s.Overhead)
	if s.ATM {
		n = (n + 47) / 48 * 53
	}
	return n
}

// l2t is psched_l2t_ns: the time in nanoseconds that n bytes take at rate
// bytes per second, saturated at MaxInt64.
func l2t(rate, n uint64) int64 {
	const nsPerSec uint64 = 1e9
	if n > math.MaxUint64/nsPerSec {
		return math.MaxInt64
	}
	t := n * nsPerSec / rate
	if t > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(t)
}

// reset fills the buckets, as tcf_police_init does on create and replace.
func (pl *police) reset(prm *policeParams, now int64) {
	pl.mu.Lock()
	pl.tc = now
	pl.toks = prm.burst
	pl.ptoks = prm.mtuPtoks
	pl.pkts = prm.pktBurst
	pl.mu.Unlock()
}

func (pl *police) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	// A GSO frame is policed as tcf_police_act does: its segments'
	// bytes against the rate (qdisc_pkt_len), its longest segment
	// against the MTU (skb_gso_validate_mac_len).
	pk, n := p.WireLen()
	seg := p.MaxSegLen()
	pl.cell.UseN(c.Worker, pk, n, c.Now)
	if v, exceeded, ok := pl.conform(pl.p.Load(), seg); ok {
		return pl.early(c, v, exceeded)
	}
	// The settings that go with the bucket are read under its lock
	// (replace publishes both there).
	pl.mu.Lock()
	prm := pl.p.Load()
	if v, exceeded, ok := pl.conform(prm, seg); ok {
		pl.mu.Unlock()
		return pl.early(c, v, exceeded)
	}
	now := c.Now
	elapsed := max(now-pl.tc, 0)
	if prm.pktCost > 0 {
		// The packet bucket (tcf_police_act's pps_present).
		pkts := min(elapsed+pl.pkts, prm.pktBurst) - prm.pktCost
		if pkts >= 0 {
			pl.tc, pl.pkts = now, pkts
			pl.mu.Unlock()
			return pl.verdict(c, prm.spec.C.Control, false)
		}
		pl.mu.Unlock()
		return pl.verdict(c, prm.spec.Exceed, true)
	}
	toks := min(elapsed, prm.burst)
	var ptoks int64
	paid := linkLen(uint64(n), &prm.spec)
	if prm.peak > 0 {
		ptoks = min(toks+pl.ptoks, prm.mtuPtoks)
		ptoks -= l2t(prm.peak, paid)
	}
	toks = min(toks+pl.toks, prm.burst)
	toks -= l2t(prm.rate, paid)
	if toks|ptoks >= 0 {
		pl.tc = now
		pl.toks = toks
		pl.ptoks = ptoks
		pl.mu.Unlock()
		return pl.verdict(c, prm.spec.C.Control, false)
	}
	pl.mu.Unlock()
	return pl.verdict(c, prm.spec.Exceed, true)
}

// conform decides what needs no bucket: a packet over the MTU exceeds, and
// with no rate every packet within the MTU conforms (tcf_police_act's
// "MTU only" mode). ok is false when the bucket has to decide.
func (pl *police) conform(prm *policeParams, n int) (v Verdict, exceeded, ok bool) {
	if uint64(n) > uint64(prm.mtu) {
		return prm.spec.Exceed, true, true
	}
	if prm.rate == 0 && prm.pktCost == 0 {
		return prm.spec.C.Control, false, true
	}
	return 0, false, false
}

// early returns a verdict decided without the bucket: an MTU-only conform
// goes straight to tcf_police_act's "end" (no drop counted, even for
// drop); an oversized packet is counted as an exceeding one.
func (pl *police) early(c *Ctx, v Verdict, exceeded bool) Verdict {
	if !exceeded {
		return v
	}
	return pl.verdict(c, v, true)
}

// verdict counts an exceeding packet as an overlimit, and a drop when the
// verdict is drop.
func (pl *police) verdict(c *Ctx, v Verdict, exceeded bool) Verdict {
	if exceeded {
		pl.cell.Overlimit(c.Worker)
	}
	if v == Shot {
		pl.cell.Drop(c.Worker)
	}
	return v
}

func (pl *police) Spec() Spec { s := pl.p.Load().spec; return cloneSpec(&s) }

// live is the running spec itself: shared, never to be changed.
func (pl *police) live() Spec        { return &pl.p.Load().spec }
func (pl *police) Stats() stats.Cell { return pl.cell }

func (pl *police) replace(from Action, now int64) error {
	f, ok := from.(*police)
	if !ok {
		return errKindChange("police", from)
	}
	// The new settings and the refilled bucket are published together,
	// under the bucket's lock, so that no packet is charged against the
	// new bucket with the old rate (Exec reads the settings again under
	// the lock).
	prm := f.p.Load()
	pl.mu.Lock()
	pl.tc = now
	pl.toks = prm.burst
	pl.ptoks = prm.mtuPtoks
	pl.p.Store(prm)
	pl.mu.Unlock()
	return nil
}
