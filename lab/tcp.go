package lab

// A TCP bulk sender and its receiver in virtual time. Segments are real
// TCP/IPv4 frames (wire.AppendFrame) that cross netyard's devices, so its
// queues, rates, drops and CE marks act on them as on any traffic; the two
// endpoints are models of Linux's, reduced to what a bulk transfer through
// a bottleneck exercises:
//
//   - Connection: a SYN carrying ECE|CWR and a SYN-ACK carrying ECE
//     negotiate ECN (RFC 3168 section 6.1.1); both carry MSS, SACK-permitted,
//     timestamps and window scale. The third packet of the handshake is the
//     first data segment (RFC 9293 allows data on it). No FIN: a flow just
//     stops sending new data.
//   - Segments: always MSS (1448) bytes with the timestamp option, so a
//     data frame is 1514 bytes, as a Linux sender's on Ethernet. Sequence
//     numbers are kept as 64-bit segment numbers inside and wrap on the wire.
//   - Receiver (tcp_input.c's __tcp_ack_snd_check): acknowledges every
//     second full segment (AckEvery 2, the default), or every one (AckEvery
//     1); a lone segment waits at most tcpDelAck. It acknowledges at once
//     what is out of order, what fills a hole, and a segment whose CE mark
//     changes the ECE state (tcp_ecn_check_ce's quick ACK). It buffers out-
//     of-order data and reports it in up to three SACK blocks (RFC 2018),
//     the first being the one that holds the segment just received. The
//     receive window is never the limit (Linux's autotuning, 8 MiB
//     advertised), so rwnd is not modelled.
//   - ECN (RFC 3168): new data is sent ECT(0); retransmissions are not ECT
//     (section 6.1.5, and tcp_ecn_send). The receiver sets ECE on every ACK
//     from a CE mark until a segment with CWR arrives. The sender reacts to
//     ECE at most once per window of data: it reduces as for a loss, sets
//     CWR on the next new segment, and ignores ECE until something sent
//     after the reduction is acknowledged (the CWR has arrived).
//   - Loss recovery: SACK-based, RFC 6675's conservative algorithm with
//     Linux's accounting (tcp_packets_in_flight: packets out, minus SACKed
//     and lost, plus retransmitted). A segment is lost once three segments
//     above it are SACKed (DupThresh) or after three duplicate ACKs; a
//     retransmission is lost again once a segment sent after it is
//     delivered (the part of RACK, RFC 8985, that a path without
//     reordering needs). Lost segments go first, then new data.
//   - Window reduction (fast recovery and ECE alike): ssthresh from the
//     congestion control, and Proportional Rate Reduction (RFC 6937,
//     tcp_cwnd_reduction) brings cwnd down to it over a round trip; the
//     window is ssthresh when the reduction ends. Left out: F-RTO, DSACK
//     and undo, tail loss probes, the rescue retransmission.
//   - RTO (RFC 6298 with Linux's tcp_set_rto): SRTT and RTTVAR from
//     timestamp echoes (RFC 7323: every ACK that advances the window gives
//     a sample, retransmitted or not), RTO = SRTT + max(4*RTTVAR, 200 ms),
//     doubling on each timeout up to 60 s, 1 s before the first sample. A
//     timeout marks everything not SACKed lost and restarts from cwnd 1
//     (tcp_enter_loss).
//   - Congestion control: Reno (RFC 5681, tcp_cong.c) or CUBIC (RFC 9438,
//     tcp_cubic.c), see renoCC and cubicCC. Slow start counts segments
//     acknowledged (RFC 3465 with Linux's unlimited L: tcp_slow_start), so
//     delayed ACKs do not slow it down. CUBIC has Linux's HyStart (delay
//     detection only). No pacing: a sender's host link is taken to be
//     much faster than the bottleneck, so an ACK's release goes out at once,
//     as CUBIC over pfifo_fast does on Linux.

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"time"

	"netyard/wire"
)

// CongestionControl selects a TCP sender's algorithm.
type CongestionControl uint8

const (
	// Reno is RFC 5681: halve on loss, one segment per round trip after.
	Reno CongestionControl = iota + 1
	// Cubic is RFC 9438, Linux's default since 2.6.19.
	Cubic
)

func (c CongestionControl) String() string {
	switch c {
	case Reno:
		return "reno"
	case Cubic:
		return "cubic"
	}
	return fmt.Sprintf("cc(%d)", uint8(c))
}

const (
	// tcpMSS is the payload of a full segment: a 1500-byte MTU less 20
	// bytes of IPv4, 20 of TCP and 12 of timestamp option, Linux's MSS
	// with timestamps on Ethernet.
	tcpMSS = 1448
	// tcpInitCwnd is RFC 6928's initial window, Linux's TCP_INIT_CWND.
	tcpInitCwnd = 10
	// tcpDupThresh is RFC 6675's DupThresh (Linux's default reordering).
	tcpDupThresh = 3
	// tcpMinRTO is Linux's TCP_RTO_MIN. RFC 6298 asks for 1 s; every
	// stack in use takes 200 ms, and the issue asks for it.
	tcpMinRTO = 200 * time.Millisecond
	// tcpInitRTO is RFC 6298's RTO before the first RTT sample.
	tcpInitRTO = time.Second
	// tcpMaxRTO caps the backed-off RTO (RFC 6298 section 2.5 allows a
	// cap of at least 60 s).
	tcpMaxRTO = 60 * time.Second
	// tcpDelAck is how long a receiver holds a lone segment's ACK:
	// Linux's TCP_DELACK_MIN (RFC 9293 allows up to 500 ms).
	tcpDelAck = 40 * time.Millisecond
	// tcpWindowScale makes the advertised 0xffff window 8 MiB.
	tcpWindowScale = 7
	// tcpSampleEvery is how often a flow records goodput and cwnd.
	tcpSampleEvery = 100 * time.Millisecond
)

// TCP options as they appear on the wire (RFC 9293, 2018, 7323).
const (
	tcpOptEOL       = 0
	tcpOptNOP       = 1
	tcpOptMSS       = 2
	tcpOptWS        = 3
	tcpOptSACKPerm  = 4
	tcpOptSACK      = 5
	tcpOptTimestamp = 8
)

// ECN codepoints in the low bits of the TOS byte (RFC 3168).
const (
	ecnMask = 0x03
	ecnECT0 = 0x02
	ecnCE   = 0x03
)

// TCPFlow is one bulk transfer from From to To: the sender always has data.
type TCPFlow struct {
	Name             string
	From, To         *Host
	SrcPort, DstPort uint16
	// CC is the sender's congestion control (Cubic when 0).
	CC CongestionControl
	// ECN asks for ECN in the handshake; the receiver agrees.
	ECN bool
	// AckEvery is 1 (an ACK per segment) or 2 (delayed ACKs, the
	// default, as Linux).
	AckEvery int
	// InitialSsthresh, in segments, ends slow start early; 0 leaves it
	// unbounded until the first congestion event.
	InitialSsthresh int

	// Stats are the flow's counters; Samples its goodput and window every
	// tcpSampleEvery; RTTs every RTT sample the sender took.
	Stats   TCPStats
	Samples []TCPSample
	RTTs    []RTTSample
	// Events are the sender's window reductions and slow-start exits.
	Events []TCPEvent

	snd tcpSender
	rcv tcpReceiver
	sim *Sim
	buf []byte // frame scratch, shared by both ends (one event at a time)
}

// TCPStats counts what a flow's ends did.
type TCPStats struct {
	SegmentsSent   int `json:"segments_sent"`
	Retransmits    int `json:"retransmits"`
	FastRecoveries int `json:"fast_recoveries"`
	Timeouts       int `json:"timeouts"`
	ECNReductions  int `json:"ecn_reductions"`
	AcksSent       int `json:"acks_sent"`
	AcksWithECE    int `json:"acks_with_ece"`
	CEReceived     int `json:"ce_received"`
	OutOfOrder     int `json:"out_of_order"`
	// Duplicates are data segments the receiver already had: spurious
	// retransmissions.
	Duplicates     int   `json:"duplicates"`
	BytesAcked     int64 `json:"bytes_acked"`     // in order, at the sender
	BytesDelivered int64 `json:"bytes_delivered"` // in order, at the receiver
	// BytesReceived counts payload the receiver got for the first time,
	// in order or not: what the path delivered of use, without the lag
	// that waiting for a hole to be filled gives BytesAcked.
	BytesReceived   int64 `json:"bytes_received"`
	ECNNegotiated   bool  `json:"ecn_negotiated"`
	CongestionEvent int   `json:"congestion_events"` // reductions of any kind
	SlowStartExits  int   `json:"slow_start_exits"`  // by HyStart, without a loss
}

// TCPSample is a flow's state at one instant.
type TCPSample struct {
	Time     int64   // virtual ns
	Acked    int64   // bytes acknowledged in order so far
	Cwnd     float64 // segments
	Ssthresh float64 // segments (+Inf before the first reduction)
	SRTT     int64   // ns, 0 before the first sample
}

// TCPEvent is a change of the sender's window that is not growth.
type TCPEvent struct {
	Time       int64
	Kind       TCPEventKind
	CwndBefore float64 // segments
	CwndAfter  float64
	Ssthresh   float64
}

// TCPEventKind says what a TCPEvent was.
type TCPEventKind uint8

const (
	// EventFastRecovery: a loss found by SACKs or duplicate ACKs.
	EventFastRecovery TCPEventKind = iota + 1
	// EventECN: an ACK with ECE, answered without a retransmission.
	EventECN
	// EventTimeout: the retransmission timer expired.
	EventTimeout
	// EventSlowStartExit: HyStart ended slow start (cwnd unchanged).
	EventSlowStartExit
)

func (k TCPEventKind) String() string {
	switch k {
	case EventFastRecovery:
		return "fast-recovery"
	case EventECN:
		return "ecn"
	case EventTimeout:
		return "timeout"
	case EventSlowStartExit:
		return "slow-start-exit"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// RTTSample is one round-trip time measured from a timestamp echo.
type RTTSample struct {
	Time int64 // when the ACK arrived
	RTT  int64 // ns
}

// TCPBulk starts f: a handshake at start, then segments as fast as the
// congestion window allows until stop, after which only what is lost is
// sent again. It hooks both hosts' OnFrame (see hookTCP); a flow is
// started once.
func (s *Sim) TCPBulk(f *TCPFlow, start, stop time.Duration) error {
	if f.From == nil || f.To == nil {
		return fmt.Errorf("tcp flow %q: needs both hosts", f.Name)
	}
	if f.From == f.To {
		return fmt.Errorf("tcp flow %q: sender and receiver are the same host", f.Name)
	}
	if f.CC == 0 {
		f.CC = Cubic
	}
	if f.AckEvery == 0 {
		f.AckEvery = 2
	}
	if f.AckEvery != 1 && f.AckEvery != 2 {
		return fmt.Errorf("tcp flow %q: AckEvery %d: must be 1 or 2", f.Name, f.AckEvery)
	}
	if f.InitialSsthresh < 0 {
		return fmt.Errorf("tcp flow %q: InitialSsthresh %d: must be >= 0", f.Name, f.InitialSsthresh)
	}
	f.sim = s
	switch f.CC {
	case Reno:
		f.snd.cc = &renoCC{}
	case Cubic:
		f.snd.cc = newCubic()
	default:
		return fmt.Errorf("tcp flow %q: congestion control %v: want reno or cubic", f.Name, f.CC)
	}
	// Initial sequence numbers: fixed per port pair, so that runs repeat
	// and a wrap is near (the 64-bit arithmetic inside must not care).
	f.snd.iss = 0xfff00000 ^ uint32(f.SrcPort)<<8 ^ uint32(f.DstPort)
	f.rcv.iss = 0x7ff00000 ^ uint32(f.DstPort)<<8 ^ uint32(f.SrcPort)
	f.snd.init(f, s.Now()+int64(stop))
	f.rcv.f = f
	f.rcv.delack.fire = f.rcv.delackExpired
	hookTCP(f.To, f.From, f.SrcPort, f.DstPort, f.rcv.segment)
	hookTCP(f.From, f.To, f.DstPort, f.SrcPort, f.snd.ack)
	s.At(s.Now()+int64(start), f.snd.connect)
	var sample func()
	sample = func() {
		f.sample()
		if s.Now() < f.snd.stopAt {
			s.At(s.Now()+int64(tcpSampleEvery), sample)
		}
	}
	s.At(s.Now()+int64(start), sample)
	return nil
}

func (f *TCPFlow) sample() {
	sn := &f.snd
	f.Samples = append(f.Samples, TCPSample{Time: f.sim.Now(), Acked: f.Stats.BytesAcked,
		Cwnd: sn.cwnd, Ssthresh: sn.ssthresh, SRTT: sn.srtt})
}

// Cwnd and Ssthresh are the sender's window and threshold, in segments.
func (f *TCPFlow) Cwnd() float64     { return f.snd.cwnd }
func (f *TCPFlow) Ssthresh() float64 { return f.snd.ssthresh }

// SRTT is the sender's smoothed RTT; RTO its retransmission timeout.
func (f *TCPFlow) SRTT() time.Duration { return time.Duration(f.snd.srtt) }
func (f *TCPFlow) RTO() time.Duration  { return time.Duration(f.snd.rto) }

// Goodput returns, for each bin of time (a multiple of the 100 ms sample
// interval, at least one), its end and the bits a second acknowledged in
// order during it.
func (f *TCPFlow) Goodput(bin time.Duration) (t []int64, bps []float64) {
	k := max(int(bin/tcpSampleEvery), 1)
	for i := k; i < len(f.Samples); i += k {
		a, b := f.Samples[i-k], f.Samples[i]
		if b.Time <= a.Time {
			continue
		}
		t = append(t, b.Time)
		bps = append(bps, float64(b.Acked-a.Acked)*8/(float64(b.Time-a.Time)/1e9))
	}
	return t, bps
}

// hookTCP makes h hand the TCP segments of one connection (from peer's
// port sport to h's port dport) to fn, and everything else to what its
// OnFrame did before. Each flow adds one link to the chain; a host carries
// a handful of flows, so the chain stays short and each link's parse is of
// the headers only.
func hookTCP(h, peer *Host, sport, dport uint16, fn func(seg *tcpSegment, now int64)) {
	prev := h.OnFrame
	h.OnFrame = func(h *Host, a Arrival) {
		var seg tcpSegment
		if parseTCPSegment(a.Frame, &seg) && seg.srcPort == sport && seg.dstPort == dport &&
			seg.src == peer.IP && seg.dst == h.IP {
			fn(&seg, a.Time)
			return
		}
		if prev != nil {
			prev(h, a)
		}
	}
}

// tcpSegment is what an endpoint reads from a received frame.
type tcpSegment struct {
	src, dst         netip.Addr
	srcPort, dstPort uint16
	seq, ack         uint32
	flags            uint16
	tos              uint8
	payload          int
	hasTS            bool
	tsVal, tsEcr     uint32
	nsack            int
	sack             [4][2]uint32 // left, right edges
}

// parseTCPSegment reads a TCP segment with its timestamp and SACK options.
// A frame that is not TCP, or whose options are malformed, is not one.
func parseTCPSegment(frame []byte, seg *tcpSegment) bool {
	var h wire.Headers
	if wire.Parse(frame, &h) != nil || h.Proto != wire.ProtoTCP || h.L4Off == 0 || h.Fragment {
		return false
	}
	ipEnd := int(h.L3Off) + int(h.IPTotalLen)
	if ipEnd > len(frame) || ipEnd < int(h.L4Off)+wire.TCPMinHeaderLen {
		return false
	}
	b := frame[h.L4Off:ipEnd] // without Ethernet padding
	doff := int(b[12]>>4) * 4
	if doff < wire.TCPMinHeaderLen || doff > len(b) {
		return false
	}
	seg.src, seg.dst = h.SrcIP, h.DstIP
	seg.srcPort, seg.dstPort = h.SrcPort, h.DstPort
	seg.seq = binary.BigEndian.Uint32(b[4:8])
	seg.ack = binary.BigEndian.Uint32(b[8:12])
	seg.flags = h.TCPFlags
	seg.tos = h.TOS
	seg.payload = len(b) - doff
	opts := b[wire.TCPMinHeaderLen:doff]
	for len(opts) > 0 {
		kind := opts[0]
		if kind == tcpOptEOL {
			break
		}
		if kind == tcpOptNOP {
			opts = opts[1:]
			continue
		}
		if len(opts) < 2 || int(opts[1]) < 2 || int(opts[1]) > len(opts) {
			return false
		}
		body := opts[2:opts[1]]
		switch kind {
		case tcpOptTimestamp:
			if len(body) != 8 {
				return false
			}
			seg.hasTS = true
			seg.tsVal = binary.BigEndian.Uint32(body[0:4])
			seg.tsEcr = binary.BigEndian.Uint32(body[4:8])
		case tcpOptSACK:
			if len(body)%8 != 0 || len(body)/8 > len(seg.sack) {
				return false
			}
			seg.nsack = len(body) / 8
			for i := range seg.nsack {
				seg.sack[i][0] = binary.BigEndian.Uint32(body[8*i:])
				seg.sack[i][1] = binary.BigEndian.Uint32(body[8*i+4:])
			}
		}
		opts = opts[opts[1]:]
	}
	return true
}

// unwrap turns rel, a 32-bit offset from a connection's first data byte,
// into the 64-bit offset nearest ref (RFC 9293's modular comparison).
func unwrap(ref uint64, rel uint32) uint64 {
	d := int64(int32(rel - uint32(ref)))
	if d < 0 && uint64(-d) > ref {
		return 0
	}
	return uint64(int64(ref) + d)
}

// tsClock is the timestamp clock: microseconds of virtual time. Linux
// ticks in milliseconds (or microseconds with usec_ts); a finer clock only
// makes the RTT samples exact.
func tsClock(now int64) uint32 { return uint32(now / 1e3) }

// lazyTimer is a restartable timer on the simulation's event queue: moving
// the deadline later costs no event; one is queued only when the deadline
// moves earlier than the one pending.
type lazyTimer struct {
	deadline int64 // 0: stopped
	armed    int64 // time of the queued event that will look, 0 for none
	fire     func()
}

func (t *lazyTimer) set(s *Sim, at int64) {
	t.deadline = at
	if at != 0 && (t.armed == 0 || at < t.armed) {
		t.armed = at
		s.At(at, func() { t.expire(s, at) })
	}
}

func (t *lazyTimer) expire(s *Sim, at int64) {
	if at != t.armed {
		return // an earlier arming superseded this event
	}
	t.armed = 0
	switch {
	case t.deadline == 0:
	case s.Now() < t.deadline:
		t.set(s, t.deadline)
	default:
		t.deadline = 0
		t.fire()
	}
}

// congestionControl is the part of a sender that tcp_cong.c delegates to a
// tcp_congestion_ops: the reaction to a congestion event and the growth in
// congestion avoidance. Windows are in segments, fractional.
type congestionControl interface {
	// ssthresh is called at a congestion event (loss or ECE) with the
	// window before it, and returns the new slow-start threshold.
	ssthresh(cwnd float64, now int64) float64
	// congAvoid returns the window after acked segments are acknowledged
	// in congestion avoidance (cwnd >= ssthresh).
	congAvoid(cwnd float64, acked int, now, srtt int64) float64
	// timeout is told of an RTO (the window is about to restart at 1).
	timeout()
}

// renoCC is tcp_reno_ssthresh and tcp_reno_cong_avoid: halve, then one
// segment per window of acknowledged segments.
type renoCC struct{}

func (renoCC) ssthresh(cwnd float64, _ int64) float64 { return max(cwnd/2, 2) }
func (renoCC) congAvoid(cwnd float64, acked int, _, _ int64) float64 {
	return cwnd + float64(acked)/cwnd
}
func (renoCC) timeout() {}

// CUBIC constants of RFC 9438 section 5 (tcp_cubic.c's defaults).
const (
	cubicC    = 0.4 // segments / s^3
	cubicBeta = 0.7 // multiplicative decrease
)

// cubicCC is RFC 9438: after a reduction the window follows
// W_cubic(t) = C*(t-K)^3 + W_max, concave up to the previous maximum and
// convex beyond, and never less than W_est, the window Reno with the same
// average rate (alpha = 3(1-beta)/(1+beta)) would have: the Reno-friendly
// region, which rules at small windows and short round trips. With fast
// convergence (section 4.7) a flow that lost before reaching its previous
// maximum gives way to newcomers. The target is W_cubic(t + RTT) with
// RFC 9438's smoothed RTT (tcp_cubic.c adds the minimum RTT instead),
// clamped to [cwnd, 1.5*cwnd] (section 4.2; tcp_cubic.c's cnt >= 2).
//
// Two pieces of tcp_cubic.c that RFC 9438 does not have, because they
// decide how a Linux sender fills a buffer:
//   - Until the first congestion event the window grows by at least 5%
//     a round trip ("ca->cnt = 20" while last_max_cwnd is 0): the cubic
//     curve alone, starting flat, would take many seconds.
//   - HyStart's delay detection (hystart_update with HYSTART_DELAY): slow
//     start ends, without a loss, once the smallest of the first eight
//     RTT samples of a round exceeds the minimum RTT by an eighth of it,
//     clamped to [4 ms, 16 ms]. Its other detector, the ACK train, needs
//     ACKs less than 2 ms apart, which a flow sharing a 10 Mbit/s link
//     with delayed ACKs never sees; it is left out.
type cubicCC struct {
	wMax      float64 // W_max: window before the last reduction (after fast convergence); 0 before any
	cwndPrior float64 // window before the last reduction, for alpha
	origin    float64 // the curve's plateau: W_max, or cwnd when the epoch started above it
	k         float64 // seconds from the epoch's start to the plateau
	epoch     int64   // start of this congestion avoidance stage, 0 for none
	wEst      float64 // the Reno-friendly window

	// HyStart.
	found    bool   // slow start was ended by delay
	delayMin int64  // smallest RTT seen
	roundEnd uint64 // segment that ends the current round
	currRTT  int64  // smallest RTT of the round's first samples
	samples  int    // RTT samples in this round
}

// HyStart's constants (tcp_cubic.c).
const (
	hystartLowWindow  = 16 // segments: no detection below
	hystartMinSamples = 8
	hystartDelayMin   = 4 * time.Millisecond
	hystartDelayMax   = 16 * time.Millisecond
)

func newCubic() *cubicCC { return &cubicCC{} }

func (c *cubicCC) ssthresh(cwnd float64, _ int64) float64 {
	c.cwndPrior = cwnd
	if cwnd < c.wMax {
		c.wMax = cwnd * (1 + cubicBeta) / 2 // fast convergence
	} else {
		c.wMax = cwnd
	}
	c.epoch = 0
	return max(cwnd*cubicBeta, 2)
}

// wCubic is RFC 9438's equation 1 at t seconds into the epoch.
func (c *cubicCC) wCubic(t float64) float64 {
	d := t - c.k
	return cubicC*d*d*d + c.origin
}

func (c *cubicCC) congAvoid(cwnd float64, acked int, now, srtt int64) float64 {
	if c.epoch == 0 {
		c.epoch = now
		c.wEst = cwnd
		if cwnd < c.wMax {
			c.k = math.Cbrt((c.wMax - cwnd) / cubicC)
			c.origin = c.wMax
		} else {
			// Past the old maximum, after a timeout, or before any
			// reduction: a convex start from here (section 4.8).
			c.k = 0
			c.origin = cwnd
		}
	}
	t := float64(now-c.epoch) / 1e9
	alpha := 3 * (1 - cubicBeta) / (1 + cubicBeta)
	if c.wEst >= c.cwndPrior {
		alpha = 1
	}
	c.wEst += alpha * float64(acked) / cwnd
	if c.wCubic(t) < c.wEst {
		return max(cwnd, c.wEst) // Reno-friendly region (section 4.3)
	}
	target := min(max(c.wCubic(t+float64(srtt)/1e9), cwnd), 1.5*cwnd)
	inc := (target - cwnd) / cwnd
	if c.wMax == 0 {
		inc = max(inc, 1.0/20)
	}
	return cwnd + inc*float64(acked)
}

// timeout: section 4.8, the next stage starts convex from its own window,
// and tcp_cubic.c's bictcp_reset forgets everything, HyStart included.
func (c *cubicCC) timeout() { *c = cubicCC{} }

// slowStartRTT is HyStart's delay detection (hystart_update), given each
// RTT sample taken in slow start, the ACK's and the next new segment's
// numbers: it reports that slow start should end here.
func (c *cubicCC) slowStartRTT(now, rtt int64, ack, nxt uint64, cwnd float64) bool {
	if c.epoch != 0 && now-c.epoch < int64(time.Second) {
		return false // right after a recovery the RTTs are not the path's
	}
	if c.delayMin == 0 || rtt < c.delayMin {
		c.delayMin = rtt
	}
	if ack > c.roundEnd { // a new round (bictcp_hystart_reset)
		c.roundEnd = nxt
		c.currRTT, c.samples = 0, 0
	}
	if c.found || cwnd < hystartLowWindow {
		return false
	}
	if c.samples < hystartMinSamples {
		if c.currRTT == 0 || rtt < c.currRTT {
			c.currRTT = rtt
		}
		c.samples++
		return false
	}
	thresh := min(max(c.delayMin/8, int64(hystartDelayMin)), int64(hystartDelayMax))
	if c.currRTT > c.delayMin+thresh {
		c.found = true
		return true
	}
	return false
}

// slowStarter is a congestion control that can end slow start before a
// congestion event.
type slowStarter interface {
	slowStartRTT(now, rtt int64, ack, nxt uint64, cwnd float64) bool
}

// Sender phases, Linux's tcp_ca_state without Disorder.
type tcpPhase uint8

const (
	phaseOpen     tcpPhase = iota
	phaseCWR               // reduced for ECE; until cwrTo is acknowledged
	phaseRecovery          // fast recovery; until recoverTo is acknowledged
	phaseLoss              // after an RTO; until recoverTo is acknowledged
)

// segState is the scoreboard entry of one segment in flight.
type segState struct {
	sacked, lost, retrans bool
	sent                  int64 // last (re)transmission
}

// tcpSender is the sending end. Sequence numbers inside are segment
// numbers: segment n holds bytes [n*MSS, (n+1)*MSS) after the SYN.
type tcpSender struct {
	f       *TCPFlow
	cc      congestionControl
	iss     uint32
	peerISS uint32 // the receiver's, from the SYN-ACK
	stopAt  int64
	synSent int

	established bool
	ecn         bool
	synTimer    lazyTimer

	una, nxt uint64     // first unacknowledged, next new segment
	sb       []segState // segments [una, nxt)
	// Linux's counters over sb: tcp_packets_in_flight is
	// (nxt-una) - sacked - lost + retrans.
	sackedOut, lostOut, retransOut int
	lostMarked                     uint64 // segments below are marked lost if not SACKed
	retransHint                    uint64 // no lost, unretransmitted segment below
	dupAcks                        int

	cwnd, ssthresh    float64
	priorCwnd         float64 // cwnd when the reduction started
	prrDelivered      int     // segments delivered since (RFC 6937)
	prrOut            int     // segments sent since
	minRTT            int64
	phase             tcpPhase
	recoverTo, cwrTo  uint64
	sendCWR           bool
	tsRecent          uint32
	srtt, rttvar, rto int64
	backoff           int
	rtoTimer          lazyTimer
}

func (sn *tcpSender) init(f *TCPFlow, stopAt int64) {
	sn.f = f
	sn.stopAt = stopAt
	sn.cwnd = tcpInitCwnd
	sn.ssthresh = math.Inf(1)
	if f.InitialSsthresh > 0 {
		sn.ssthresh = float64(f.InitialSsthresh)
	}
	sn.rto = int64(tcpInitRTO)
	sn.synTimer.fire = sn.connect
	sn.rtoTimer.fire = sn.timeout
}

// connect sends the SYN, and again on each expiry of the SYN timer.
func (sn *tcpSender) connect() {
	if sn.established {
		return
	}
	f := sn.f
	flags := wire.TCPFlagSYN
	if f.ECN {
		flags |= wire.TCPFlagECE | wire.TCPFlagCWR
	}
	var opts [20]byte
	f.send(f.From, f.To, f.SrcPort, f.DstPort, sn.iss, 0, flags, 0, synOptions(&opts, tsClock(f.sim.Now()), 0), 0)
	if sn.synSent++; sn.synSent > 1 {
		sn.rto = min(2*sn.rto, int64(tcpMaxRTO)) // RFC 6298 5.5
	}
	sn.synTimer.set(f.sim, f.sim.Now()+sn.rto)
}

// synOptions writes Linux's SYN options: MSS, SACK-permitted, timestamps,
// NOP, window scale.
func synOptions(b *[20]byte, tsVal, tsEcr uint32) []byte {
	b[0], b[1] = tcpOptMSS, 4
	binary.BigEndian.PutUint16(b[2:], tcpMSS)
	b[4], b[5] = tcpOptSACKPerm, 2
	b[6], b[7] = tcpOptTimestamp, 10
	binary.BigEndian.PutUint32(b[8:], tsVal)
	binary.BigEndian.PutUint32(b[12:], tsEcr)
	b[16], b[17], b[18], b[19] = tcpOptNOP, tcpOptWS, 3, tcpWindowScale
	return b[:]
}

// tsOption writes NOP, NOP, timestamps: 12 bytes.
func tsOption(b []byte, tsVal, tsEcr uint32) []byte {
	b = append(b, tcpOptNOP, tcpOptNOP, tcpOptTimestamp, 10)
	b = binary.BigEndian.AppendUint32(b, tsVal)
	return binary.BigEndian.AppendUint32(b, tsEcr)
}

func (sn *tcpSender) inFlight() int {
	return int(sn.nxt-sn.una) - sn.sackedOut - sn.lostOut + sn.retransOut
}

// ack processes a segment from the receiver: the SYN-ACK, or an ACK.
// Its order follows tcp_ack: the scoreboard (SACK, cumulative ACK), loss
// marking, the state machine (tcp_fastretrans_alert), then the window
// (PRR while reducing, growth otherwise) and transmission.
func (sn *tcpSender) ack(seg *tcpSegment, now int64) {
	f := sn.f
	if seg.flags&wire.TCPFlagACK == 0 {
		return
	}
	if !sn.established {
		if seg.flags&wire.TCPFlagSYN == 0 || seg.ack != sn.iss+1 {
			return
		}
		sn.established = true
		sn.synTimer.set(f.sim, 0)
		// RFC 3168 6.1.1: a SYN-ACK with ECE and without CWR agrees.
		sn.ecn = f.ECN && seg.flags&(wire.TCPFlagECE|wire.TCPFlagCWR) == wire.TCPFlagECE
		f.Stats.ECNNegotiated = sn.ecn
		sn.peerISS = seg.seq
		sn.tsRecent = seg.tsVal
		if seg.hasTS && seg.tsEcr != 0 {
			sn.rttSample(now, seg.tsEcr)
		}
		sn.transmit(now)
		return
	}
	if seg.flags&wire.TCPFlagSYN != 0 {
		return // a retransmitted SYN-ACK: our data segments ACK it
	}
	ackBytes := unwrap(sn.una*tcpMSS, seg.ack-(sn.iss+1))
	ackSeg := ackBytes / tcpMSS
	if ackSeg < sn.una || ackSeg > sn.nxt {
		return // old, or acknowledges what was never sent
	}
	if seg.hasTS {
		sn.tsRecent = seg.tsVal
	}
	newly := int(ackSeg - sn.una)
	var rtt int64
	if newly > 0 && seg.hasTS && seg.tsEcr != 0 {
		rtt = sn.rttSample(now, seg.tsEcr)
	}

	// The scoreboard. delivered counts the segments this ACK says have
	// left the network (newly SACKed or cumulatively acknowledged
	// without having been SACKed: tcp_ack's newly_acked_sacked);
	// lastSent is the latest send time among them (RACK.xmit_ts).
	delivered, lastSent := 0, int64(0)
	for i := range seg.nsack {
		l := unwrap(sn.una*tcpMSS, seg.sack[i][0]-(sn.iss+1))
		r := unwrap(sn.una*tcpMSS, seg.sack[i][1]-(sn.iss+1))
		n, t := sn.markSacked((l+tcpMSS-1)/tcpMSS, r/tcpMSS)
		delivered += n
		lastSent = max(lastSent, t)
	}
	for _, st := range sn.sb[:newly] {
		if st.sacked {
			sn.sackedOut--
		} else {
			delivered++
			lastSent = max(lastSent, st.sent)
			if st.lost {
				sn.lostOut--
			}
			if st.retrans {
				sn.retransOut--
			}
		}
	}
	sn.sb = sn.sb[newly:]
	sn.una = ackSeg
	sn.lostMarked = max(sn.lostMarked, sn.una)
	sn.retransHint = max(sn.retransHint, sn.una)
	f.Stats.BytesAcked = int64(sn.una) * tcpMSS
	if newly > 0 {
		sn.dupAcks = 0
		sn.backoff = 0
		sn.setRTO()
		if sn.una == sn.nxt {
			sn.rtoTimer.set(f.sim, 0)
		} else {
			sn.rtoTimer.set(f.sim, now+sn.rto)
		}
	} else if sn.nxt > sn.una && seg.payload == 0 {
		sn.dupAcks++
	}
	newlyLost := 0
	if sn.sackedOut > 0 {
		newlyLost += sn.markLost()
	}
	if sn.retransOut > 0 && lastSent > 0 {
		newlyLost += sn.markRetransLost(lastSent)
	}

	// Leave a reduction once what was in flight at its start is acked.
	switch sn.phase {
	case phaseRecovery, phaseLoss:
		if sn.una >= sn.recoverTo {
			if sn.phase == phaseRecovery {
				sn.cwnd = sn.ssthresh // tcp_end_cwnd_reduction
			}
			sn.phase = phaseOpen
		}
	case phaseCWR:
		// tcp_fastretrans_alert holds CWR until something above
		// cwrTo is acknowledged: only then has the segment with CWR
		// (the first new one after the reduction) reached the
		// receiver, which until then sets ECE on every ACK for the
		// same CE mark.
		if sn.una > sn.cwrTo {
			sn.cwnd = sn.ssthresh
			sn.phase = phaseOpen
		}
	}
	if sn.ecn && seg.flags&wire.TCPFlagECE != 0 && sn.phase == phaseOpen && sn.nxt > sn.una {
		// RFC 3168 6.1.2: as a loss, without a retransmission, once
		// per window.
		sn.reduce(now, EventECN)
		sn.phase = phaseCWR
		sn.cwrTo = sn.nxt
		f.Stats.ECNReductions++
	}
	if sn.phase != phaseRecovery && sn.phase != phaseLoss && sn.nxt > sn.una &&
		(sn.dupAcks >= tcpDupThresh || sn.sb[0].lost) {
		sn.enterRecovery(now)
	}
	switch sn.phase {
	case phaseRecovery, phaseCWR:
		sn.prr(delivered, newly > 0 && newlyLost == 0)
	default:
		if newly > 0 {
			if ss, ok := sn.cc.(slowStarter); ok && rtt > 0 && sn.cwnd < sn.ssthresh &&
				ss.slowStartRTT(now, rtt, ackSeg, sn.nxt, sn.cwnd) {
				sn.ssthresh = sn.cwnd
				f.Stats.SlowStartExits++
				sn.event(now, EventSlowStartExit, sn.cwnd)
			}
			sn.grow(newly, now)
		}
	}
	sn.transmit(now)
}

// reduce starts a window reduction (tcp_init_cwnd_reduction): ssthresh
// from the congestion control; PRR then brings cwnd down to it over the
// next round trip. Every reduction sends CWR (tcp_ecn_queue_cwr), so that
// the receiver stops echoing a CE mark that the reduction answered.
func (sn *tcpSender) reduce(now int64, kind TCPEventKind) {
	sn.priorCwnd = sn.cwnd
	sn.ssthresh = sn.cc.ssthresh(sn.cwnd, now)
	sn.prrDelivered, sn.prrOut = 0, 0
	sn.sendCWR = sn.ecn
	sn.f.Stats.CongestionEvent++
	sn.f.Events = append(sn.f.Events, TCPEvent{Time: now, Kind: kind, CwndBefore: sn.priorCwnd, CwndAfter: sn.ssthresh, Ssthresh: sn.ssthresh})
}

func (sn *tcpSender) event(now int64, kind TCPEventKind, before float64) {
	sn.f.Events = append(sn.f.Events, TCPEvent{Time: now, Kind: kind, CwndBefore: before, CwndAfter: sn.cwnd, Ssthresh: sn.ssthresh})
}

// prr is Proportional Rate Reduction (RFC 6937, tcp_cwnd_reduction): while
// more than ssthresh is in flight, send ssthresh/priorCwnd of what is
// delivered, so the window comes down over a round trip instead of
// stopping the sender; below ssthresh, slow start back up to it (the
// SSRB bound). The first ACK of a recovery always lets the fast
// retransmission out.
func (sn *tcpSender) prr(delivered int, unaAdvanced bool) {
	if delivered <= 0 {
		if sn.prrOut == 0 && sn.phase == phaseRecovery {
			sn.cwnd = float64(sn.inFlight() + 1)
		}
		return
	}
	sn.prrDelivered += delivered
	pipe := sn.inFlight()
	ssthresh := int(sn.ssthresh)
	var sndcnt int
	if delta := ssthresh - pipe; delta < 0 {
		prior := max(int(math.Ceil(sn.priorCwnd)), 1)
		sndcnt = (ssthresh*sn.prrDelivered+prior-1)/prior - sn.prrOut
	} else {
		sndcnt = max(sn.prrDelivered-sn.prrOut, delivered)
		if unaAdvanced {
			sndcnt++
		}
		sndcnt = min(delta, sndcnt)
	}
	if sn.prrOut == 0 && sn.phase == phaseRecovery {
		sndcnt = max(sndcnt, 1)
	}
	sn.cwnd = float64(pipe + max(sndcnt, 0))
}

// enterRecovery is tcp_enter_recovery: the first unacknowledged segment
// is lost. An ECE reduction in the same window already counted (Linux
// does not reduce twice when it is in CWR).
func (sn *tcpSender) enterRecovery(now int64) {
	if sn.phase == phaseOpen {
		sn.reduce(now, EventFastRecovery)
	}
	sn.phase = phaseRecovery
	sn.recoverTo = sn.nxt
	sn.f.Stats.FastRecoveries++
	if st := &sn.sb[0]; !st.lost && !st.sacked {
		st.lost = true
		sn.lostOut++
		sn.retransHint = sn.una
	}
}

// grow is tcp_cong_avoid: slow start below ssthresh (the segments beyond
// it go to congestion avoidance, as tcp_slow_start returns them), the
// congestion control's rule above.
func (sn *tcpSender) grow(acked int, now int64) {
	if sn.cwnd < sn.ssthresh {
		n := min(float64(acked), sn.ssthresh-sn.cwnd)
		sn.cwnd += n
		acked -= int(math.Ceil(n))
		if acked <= 0 {
			return
		}
	}
	sn.cwnd = sn.cc.congAvoid(sn.cwnd, acked, now, sn.srtt)
}

// markSacked marks segments [from, to) SACKed and returns how many were
// not already, and the latest time one of those was sent.
func (sn *tcpSender) markSacked(from, to uint64) (int, int64) {
	from = max(from, sn.una)
	to = min(to, sn.nxt)
	n, last := 0, int64(0)
	for k := from; k < to; k++ {
		st := &sn.sb[k-sn.una]
		if st.sacked {
			continue
		}
		st.sacked = true
		sn.sackedOut++
		n++
		last = max(last, st.sent)
		if st.lost {
			sn.lostOut--
		}
		if st.retrans {
			sn.retransOut--
		}
	}
	return n, last
}

// markRetransLost finds retransmissions that are lost again: a segment
// sent later than one of them (by more than a quarter of the minimum RTT,
// RACK's reordering window, RFC 8985) has been delivered, and on a path
// that does not reorder that means the retransmission will not be. Linux
// gets this from RACK; without it only the RTO would resend them, which
// is what drop-tail queues that stay full make happen.
func (sn *tcpSender) markRetransLost(lastSent int64) int {
	reo := sn.minRTT / 4
	n := 0
	for i := range sn.sb {
		st := &sn.sb[i]
		if st.retrans && !st.sacked && st.sent < lastSent-reo {
			st.retrans = false // still lost: send it again
			sn.retransOut--
			sn.retransHint = min(sn.retransHint, sn.una+uint64(i))
			n++
		}
	}
	return n
}

// markLost is RFC 6675's IsLost: a segment not SACKed with DupThresh
// SACKed segments above it is lost. Those below the third SACKed segment
// from the top are exactly those; lostMarked remembers how far that went.
func (sn *tcpSender) markLost() int {
	seen, marked := 0, 0
	top := sn.una
	for n := sn.nxt; n > sn.lostMarked; n-- {
		if sn.sb[n-1-sn.una].sacked {
			seen++
			if seen == tcpDupThresh {
				top = n - 1
				break
			}
		}
	}
	for n := sn.lostMarked; n < top; n++ {
		st := &sn.sb[n-sn.una]
		if !st.sacked && !st.lost {
			st.lost = true
			sn.lostOut++
			marked++
			if st.retrans {
				// Marked lost again (after an RTO's mark was
				// cleared): it may be sent once more.
				st.retrans = false
				sn.retransOut--
			}
			sn.retransHint = min(sn.retransHint, n)
		}
	}
	sn.lostMarked = max(sn.lostMarked, top)
	return marked
}

// transmit sends while the window has room: lost segments first (RFC 6675
// NextSeg rule 1), then new data (rule 2) until the flow's stop time.
func (sn *tcpSender) transmit(now int64) {
	f := sn.f
	if !sn.established {
		return
	}
	for sn.inFlight() < max(int(sn.cwnd), 1) {
		n, ok := sn.nextLost()
		if ok {
			sn.sb[n-sn.una].retrans = true
			sn.retransOut++
			f.Stats.Retransmits++
			sn.sendSegment(n, false, now)
			continue
		}
		if now >= sn.stopAt {
			break
		}
		sn.sb = append(sn.sb, segState{})
		sn.nxt++
		sn.sendSegment(sn.nxt-1, sn.ecn, now)
	}
}

// nextLost finds the first lost segment not yet retransmitted.
func (sn *tcpSender) nextLost() (uint64, bool) {
	if sn.lostOut == 0 {
		return 0, false
	}
	for n := sn.retransHint; n < sn.nxt; n++ {
		st := sn.sb[n-sn.una]
		if st.lost && !st.retrans && !st.sacked {
			sn.retransHint = n
			return n, true
		}
	}
	sn.retransHint = sn.nxt
	return 0, false
}

// sendSegment puts segment n on the wire; ect marks new data ECT(0).
func (sn *tcpSender) sendSegment(n uint64, ect bool, now int64) {
	f := sn.f
	flags := wire.TCPFlagACK
	var tos uint8
	if ect {
		tos = ecnECT0
		if sn.sendCWR {
			flags |= wire.TCPFlagCWR
			sn.sendCWR = false
		}
	}
	sn.sb[n-sn.una].sent = now
	if sn.phase == phaseRecovery || sn.phase == phaseCWR {
		sn.prrOut++
	}
	var opts [12]byte
	seq := sn.iss + 1 + uint32(n*tcpMSS)
	f.send(f.From, f.To, f.SrcPort, f.DstPort, seq, sn.peerISS+1, flags, tos,
		tsOption(opts[:0], tsClock(now), sn.tsRecent), tcpMSS)
	f.Stats.SegmentsSent++
	if sn.rtoTimer.deadline == 0 {
		sn.rtoTimer.set(f.sim, now+sn.rto)
	}
}

// rttSample is RFC 6298 section 2 with the timestamp echo as the sample,
// which it returns.
func (sn *tcpSender) rttSample(now int64, tsEcr uint32) int64 {
	r := int64(tsClock(now)-tsEcr) * 1e3
	if r <= 0 {
		r = 1e3 // same microsecond: the clock's granularity
	}
	sn.f.RTTs = append(sn.f.RTTs, RTTSample{Time: now, RTT: r})
	if sn.minRTT == 0 || r < sn.minRTT {
		sn.minRTT = r
	}
	if sn.srtt == 0 {
		sn.srtt, sn.rttvar = r, r/2
	} else {
		d := sn.srtt - r
		if d < 0 {
			d = -d
		}
		sn.rttvar = (3*sn.rttvar + d) / 4
		sn.srtt = (7*sn.srtt + r) / 8
	}
	sn.setRTO()
	return r
}

// setRTO is tcp_set_rto: the minimum bounds the variance term, so RTO is
// at least SRTT + 200 ms; backed off by 2^backoff.
func (sn *tcpSender) setRTO() {
	if sn.srtt == 0 {
		return
	}
	rto := sn.srtt + max(4*sn.rttvar, int64(tcpMinRTO))
	sn.rto = min(rto<<sn.backoff, int64(tcpMaxRTO))
}

// timeout is the retransmission timer's expiry: tcp_enter_loss.
func (sn *tcpSender) timeout() {
	f := sn.f
	now := f.sim.Now()
	if sn.una == sn.nxt {
		return
	}
	f.Stats.Timeouts++
	if sn.phase == phaseOpen {
		sn.ssthresh = sn.cc.ssthresh(sn.cwnd, now)
		f.Stats.CongestionEvent++
	}
	sn.cc.timeout()
	before := sn.cwnd
	sn.cwnd = 1
	sn.sendCWR = sn.ecn // tcp_enter_loss queues CWR too
	sn.phase = phaseLoss
	sn.recoverTo = sn.nxt
	sn.dupAcks = 0
	sn.lostOut, sn.retransOut = 0, 0
	for i := range sn.sb {
		st := &sn.sb[i]
		st.retrans = false
		if !st.sacked {
			st.lost = true
			sn.lostOut++
		}
	}
	sn.lostMarked = sn.nxt
	sn.retransHint = sn.una
	sn.backoff++
	sn.rto = min(2*sn.rto, int64(tcpMaxRTO))
	sn.rtoTimer.set(f.sim, now+sn.rto)
	sn.event(now, EventTimeout, before)
	sn.transmit(now)
}

// span is a run of received bytes [start, end) above rcvNxt.
type span struct{ start, end uint64 }

// tcpReceiver is the receiving end. Offsets are bytes after the SYN.
type tcpReceiver struct {
	f        *TCPFlow
	iss      uint32 // ours
	irs      uint32 // the sender's ISS
	synced   bool
	ecn      bool
	ece      bool
	rcvNxt   uint64
	ooo      []span // sorted, disjoint, all above rcvNxt
	pending  int    // full segments received and not yet acknowledged
	lastAck  uint64 // rcvNxt as last acknowledged
	tsRecent uint32
	delack   lazyTimer
}

// segment processes a segment from the sender: the SYN, or data.
func (r *tcpReceiver) segment(seg *tcpSegment, now int64) {
	f := r.f
	if seg.flags&wire.TCPFlagSYN != 0 {
		if !r.synced {
			r.synced = true
			r.irs = seg.seq
			r.ecn = f.ECN && seg.flags&(wire.TCPFlagECE|wire.TCPFlagCWR) == wire.TCPFlagECE|wire.TCPFlagCWR
		}
		r.tsRecent = seg.tsVal // a SYN sent again is timed anew
		flags := wire.TCPFlagSYN | wire.TCPFlagACK
		if r.ecn {
			flags |= wire.TCPFlagECE
		}
		var opts [20]byte
		f.send(f.To, f.From, f.DstPort, f.SrcPort, r.iss, r.irs+1, flags, 0,
			synOptions(&opts, tsClock(now), r.tsRecent), 0)
		return
	}
	if !r.synced || seg.payload == 0 {
		return
	}
	start := unwrap(r.rcvNxt, seg.seq-(r.irs+1))
	end := start + uint64(seg.payload)
	immediate := false
	if r.ecn {
		if seg.flags&wire.TCPFlagCWR != 0 {
			r.ece = false
		}
		if seg.tos&ecnMask == ecnCE {
			f.Stats.CEReceived++
			if !r.ece {
				r.ece = true
				immediate = true
			}
		}
	}
	// RFC 7323 section 4.3: echo the timestamp of the segment that the
	// next ACK will be for, not of later or out-of-order ones.
	if seg.hasTS && start <= r.lastAck && end > r.lastAck {
		r.tsRecent = seg.tsVal
	}
	fresh := int64(0)
	if lo := max(start, r.rcvNxt); end > lo {
		fresh = int64(end-lo) - r.held(lo, end)
	}
	f.Stats.BytesReceived += fresh
	if fresh == 0 {
		f.Stats.Duplicates++
	}
	switch {
	case end <= r.rcvNxt:
		immediate = true // a duplicate: tell the sender where we are
	case start <= r.rcvNxt:
		holes := len(r.ooo) > 0
		r.rcvNxt = end
		for len(r.ooo) > 0 && r.ooo[0].start <= r.rcvNxt {
			r.rcvNxt = max(r.rcvNxt, r.ooo[0].end)
			r.ooo = r.ooo[1:]
		}
		f.Stats.BytesDelivered = int64(r.rcvNxt)
		r.pending++
		if holes || r.pending >= f.AckEvery {
			immediate = true
		}
	default:
		f.Stats.OutOfOrder++
		r.insert(span{start, end})
		immediate = true
	}
	if immediate {
		r.sendAck(now, start)
		return
	}
	if r.delack.deadline == 0 {
		r.delack.set(f.sim, now+int64(tcpDelAck))
	}
}

// held is how many bytes of [a, b) the out-of-order spans hold.
func (r *tcpReceiver) held(a, b uint64) int64 {
	n := int64(0)
	for _, s := range r.ooo {
		if lo, hi := max(a, s.start), min(b, s.end); hi > lo {
			n += int64(hi - lo)
		}
	}
	return n
}

// insert adds s to the out-of-order spans, merging neighbours.
func (r *tcpReceiver) insert(s span) {
	i := 0
	for i < len(r.ooo) && r.ooo[i].end < s.start {
		i++
	}
	j := i
	for j < len(r.ooo) && r.ooo[j].start <= s.end {
		s.start = min(s.start, r.ooo[j].start)
		s.end = max(s.end, r.ooo[j].end)
		j++
	}
	r.ooo = append(r.ooo[:i], append([]span{s}, r.ooo[j:]...)...)
}

func (r *tcpReceiver) delackExpired() {
	if r.pending > 0 {
		r.sendAck(r.f.sim.Now(), r.rcvNxt)
	}
}

// sendAck acknowledges rcvNxt, with SACK blocks for what is held above it:
// first the block holding recent (the segment that triggered the ACK),
// then the others from the highest down (RFC 2018 section 4 asks for the
// most recently reported next; the sender keeps its scoreboard, and the
// lab's return path does not lose ACKs, so the order only decides which
// blocks fit).
func (r *tcpReceiver) sendAck(now int64, recent uint64) {
	f := r.f
	r.pending = 0
	r.lastAck = r.rcvNxt
	r.delack.set(f.sim, 0)
	flags := wire.TCPFlagACK
	if r.ece {
		flags |= wire.TCPFlagECE
		f.Stats.AcksWithECE++
	}
	var ob [40]byte
	opts := tsOption(ob[:0], tsClock(now), r.tsRecent)
	if len(r.ooo) > 0 {
		// NOP NOP SACK: three blocks fit beside the timestamps.
		opts = append(opts, tcpOptNOP, tcpOptNOP, tcpOptSACK, 2)
		lenAt := len(opts) - 1
		put := func(s span) {
			opts = binary.BigEndian.AppendUint32(opts, r.irs+1+uint32(s.start))
			opts = binary.BigEndian.AppendUint32(opts, r.irs+1+uint32(s.end))
			opts[lenAt] += 8
		}
		first := -1
		for i, s := range r.ooo {
			if s.start <= recent && recent < s.end {
				first = i
				put(s)
			}
		}
		for i := len(r.ooo) - 1; i >= 0 && opts[lenAt] < 2+3*8; i-- {
			if i != first {
				put(r.ooo[i])
			}
		}
	}
	f.send(f.To, f.From, f.DstPort, f.SrcPort, r.iss+1, r.irs+1+uint32(r.rcvNxt), flags, 0, opts, 0)
	f.Stats.AcksSent++
}

// tcpZeros is the payload of every data segment.
var tcpZeros [tcpMSS]byte

// send builds one segment and puts it on from's cable.
func (f *TCPFlow) send(from, to *Host, sport, dport uint16, seq, ack uint32, flags uint16, tos uint8, opts []byte, payload int) {
	spec := wire.FrameSpec{
		Dst: to.MAC, Src: from.MAC,
		SrcIP: from.IP, DstIP: to.IP, Proto: wire.ProtoTCP, TOS: tos, DF: true,
		SrcPort: sport, DstPort: dport, TCPFlags: flags, Seq: seq, Ack: ack,
		Window: 0xffff, TCPOptions: opts, Payload: tcpZeros[:payload], MinLen: wire.MinFrameLen,
	}
	var err error
	f.buf, err = wire.AppendFrame(f.buf[:0], &spec)
	if err == nil {
		err = from.SendFrame(f.buf)
	}
	if err != nil {
		f.sim.errs = append(f.sim.errs, fmt.Errorf("tcp flow %q: %w", f.Name, err))
	}
}
