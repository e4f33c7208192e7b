package lab

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"testing"
	"time"

	"netyard/wire"
)

// tcpPath is a sender behind eth0 and a receiver behind eth1, eth1
// transmitting at rate with qdisc as its root, ACKs back through eth0
// without a limit: the bufferbloat scenario's topology, smaller.
func tcpPath(t *testing.T, rate, qdisc string, cable time.Duration) (*Sim, *Host, *Host) {
	t.Helper()
	s := NewSim(nil)
	t.Cleanup(s.Close)
	src, err := s.AttachHost("sender", "192.0.2.1", "eth0", cable)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := s.AttachHost("receiver", "192.0.2.2", "eth1", cable)
	if err != nil {
		t.Fatal(err)
	}
	rules := fmt.Sprintf(`
filter add dev eth0 ingress matchall action mirred egress redirect dev eth1
filter add dev eth1 ingress matchall action mirred egress redirect dev eth0
link set dev eth1 rate %s
qdisc replace dev eth1 root %s
`, rate, qdisc)
	if err := s.Apply(rules); err != nil {
		t.Fatal(err)
	}
	return s, src, dst
}

// dataSegment reports the segment number of a data frame of f (0 for the
// first), and whether it is one.
func dataSegment(f *TCPFlow, frame []byte) (uint64, *tcpSegment, bool) {
	var seg tcpSegment
	if !parseTCPSegment(frame, &seg) || seg.srcPort != f.SrcPort || seg.payload == 0 {
		return 0, nil, false
	}
	return uint64(seg.seq-(f.snd.iss+1)) / tcpMSS, &seg, true
}

// tamper puts fn in front of the receiver's TCP: fn sees each data
// segment of f and its frame, and returns false to drop it (a loss on the
// last hop) or changes the frame (a CE mark).
func tamper(h *Host, f *TCPFlow, fn func(n uint64, seg *tcpSegment, frame []byte) bool) {
	next := h.OnFrame
	h.OnFrame = func(h *Host, a Arrival) {
		if n, seg, ok := dataSegment(f, a.Frame); ok && !fn(n, seg, a.Frame) {
			return
		}
		next(h, a)
	}
}

// markCE sets CE on an IPv4 frame and fixes its header checksum.
func markCE(frame []byte) {
	var h wire.Headers
	if wire.Parse(frame, &h) != nil {
		panic("markCE: not a frame")
	}
	ip := frame[h.L3Off : h.L3Off+20]
	ip[1] |= ecnCE
	binary.BigEndian.PutUint16(ip[10:], 0)
	binary.BigEndian.PutUint16(ip[10:], wire.Checksum(ip))
}

func eventsOf(f *TCPFlow, kind TCPEventKind) []TCPEvent {
	var out []TCPEvent
	for _, e := range f.Events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestTCPSlowStart: with no queue to speak of, the window doubles every
// round trip from RFC 6928's 10 segments, with an ACK per segment or per
// two (slow start counts segments, not ACKs), for Reno and CUBIC alike.
func TestTCPSlowStart(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cc       CongestionControl
		ackEvery int
	}{
		{"reno, ack every segment", Reno, 1},
		{"reno, delayed acks", Reno, 2},
		{"cubic, ack every segment", Cubic, 1},
		{"cubic, delayed acks", Cubic, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 1 Gbit/s and 2.5 ms cables: a 10 ms round trip, 12 µs a
			// segment, so 80 segments leave in 1 ms.
			s, src, dst := tcpPath(t, "1gbit", "pfifo limit 10000", 2500*time.Microsecond)
			f := &TCPFlow{Name: "ss", From: src, To: dst, SrcPort: 1000, DstPort: 2000, CC: tc.cc, AckEvery: tc.ackEvery}
			if err := s.TCPBulk(f, 0, time.Second); err != nil {
				t.Fatal(err)
			}
			// The handshake takes a round trip; round k's ACKs are all
			// back by (k+2) round trips plus its transmission time.
			start := s.Now()
			rtt := int64(10 * time.Millisecond)
			for k, want := range []float64{20, 40, 80, 160} {
				s.RunUntil(start + int64(k+2)*rtt + rtt/2)
				if f.Cwnd() != want {
					t.Errorf("after round %d: cwnd %.1f, want %.0f", k, f.Cwnd(), want)
				}
			}
			if f.Stats.Retransmits != 0 || len(f.Events) != 0 || !math.IsInf(f.Ssthresh(), 1) {
				t.Errorf("retransmits %d, events %v, ssthresh %v: want a clean slow start", f.Stats.Retransmits, f.Events, f.Ssthresh())
			}
			if got := f.SRTT(); got < 10*time.Millisecond || got > 12*time.Millisecond {
				t.Errorf("srtt %v, want 10 ms and a little", got)
			}
		})
	}
}

// TestTCPLossReaction: one segment lost in congestion avoidance. Three
// SACKed segments above it start fast recovery (no timeout); the window is
// cut once, by Reno's half or CUBIC's beta 0.7; one retransmission repairs
// the hole and the receiver ends with every byte, in order.
func TestTCPLossReaction(t *testing.T) {
	for _, tc := range []struct {
		cc   CongestionControl
		beta float64
	}{
		{Reno, 0.5},
		{Cubic, cubicBeta},
	} {
		t.Run(tc.cc.String(), func(t *testing.T) {
			s, src, dst := tcpPath(t, "100mbit", "pfifo limit 10000", 5*time.Millisecond)
			f := &TCPFlow{Name: "loss", From: src, To: dst, SrcPort: 1000, DstPort: 2000, CC: tc.cc, InitialSsthresh: 30}
			if err := s.TCPBulk(f, 0, time.Second); err != nil {
				t.Fatal(err)
			}
			const victim = 300
			dropped := 0
			tamper(dst, f, func(n uint64, _ *tcpSegment, _ []byte) bool {
				if n == victim && dropped == 0 {
					dropped++
					return false
				}
				return true
			})
			s.RunUntil(s.Now() + int64(1500*time.Millisecond))
			if dropped != 1 {
				t.Fatalf("segment %d never sent", victim)
			}
			rec := eventsOf(f, EventFastRecovery)
			if len(rec) != 1 || len(f.Events) != 1 {
				t.Fatalf("events %+v, want one fast recovery", f.Events)
			}
			e := rec[0]
			if math.Abs(e.CwndAfter-tc.beta*e.CwndBefore) > 1e-9 || e.Ssthresh != e.CwndAfter {
				t.Errorf("cwnd %.2f -> %.2f (ssthresh %.2f), want x%.1f", e.CwndBefore, e.CwndAfter, e.Ssthresh, tc.beta)
			}
			if f.Stats.Retransmits != 1 || f.Stats.Timeouts != 0 || f.Stats.FastRecoveries != 1 {
				t.Errorf("retransmits %d, timeouts %d, recoveries %d: want 1, 0, 1", f.Stats.Retransmits, f.Stats.Timeouts, f.Stats.FastRecoveries)
			}
			if f.Stats.BytesDelivered != f.Stats.BytesAcked || f.Stats.BytesReceived != f.Stats.BytesDelivered ||
				f.Stats.BytesAcked < (victim+100)*tcpMSS {
				t.Errorf("acked %d, delivered %d, received %d: want the same, beyond the hole",
					f.Stats.BytesAcked, f.Stats.BytesDelivered, f.Stats.BytesReceived)
			}
			// Congestion avoidance goes on from the reduced window.
			if f.Cwnd() <= e.CwndAfter {
				t.Errorf("cwnd %.1f after recovery did not grow from %.1f", f.Cwnd(), e.CwndAfter)
			}
		})
	}
}

// TestTCPECNReaction: one CE mark. The receiver echoes ECE until the
// sender's CWR arrives; the sender reduces once for all those ACKs (once
// per window), by the same factor as for a loss, and retransmits nothing.
// Data goes out ECT(0); the one CWR rides on new data.
func TestTCPECNReaction(t *testing.T) {
	for _, tc := range []struct {
		cc   CongestionControl
		beta float64
	}{
		{Reno, 0.5},
		{Cubic, cubicBeta},
	} {
		t.Run(tc.cc.String(), func(t *testing.T) {
			s, src, dst := tcpPath(t, "100mbit", "pfifo limit 10000", 5*time.Millisecond)
			// An ACK per segment: every ACK until CWR arrives has ECE.
			f := &TCPFlow{Name: "ecn", From: src, To: dst, SrcPort: 1000, DstPort: 2000, CC: tc.cc, ECN: true,
				AckEvery: 1, InitialSsthresh: 30}
			if err := s.TCPBulk(f, 0, time.Second); err != nil {
				t.Fatal(err)
			}
			const victim = 300
			var cwr, notECT int
			tamper(dst, f, func(n uint64, seg *tcpSegment, frame []byte) bool {
				if seg.flags&wire.TCPFlagCWR != 0 {
					cwr++
				}
				if seg.tos&ecnMask != ecnECT0 {
					notECT++
				}
				if n == victim {
					markCE(frame)
				}
				return true
			})
			s.RunUntil(s.Now() + int64(time.Second))
			if !f.Stats.ECNNegotiated {
				t.Fatal("ECN not negotiated")
			}
			ecn := eventsOf(f, EventECN)
			if len(ecn) != 1 || len(f.Events) != 1 {
				t.Fatalf("events %+v, want one ECN reduction", f.Events)
			}
			if e := ecn[0]; math.Abs(e.CwndAfter-tc.beta*e.CwndBefore) > 1e-9 {
				t.Errorf("cwnd %.2f -> %.2f, want x%.1f", e.CwndBefore, e.CwndAfter, tc.beta)
			}
			if f.Stats.CEReceived != 1 || f.Stats.AcksWithECE < 2 {
				t.Errorf("CE received %d, ACKs with ECE %d: want 1 and several (until CWR)", f.Stats.CEReceived, f.Stats.AcksWithECE)
			}
			if cwr != 1 || f.Stats.ECNReductions != 1 || f.Stats.Retransmits != 0 || notECT != 0 {
				t.Errorf("CWR sent %d, reductions %d, retransmits %d, not ECT %d: want 1, 1, 0, 0",
					cwr, f.Stats.ECNReductions, f.Stats.Retransmits, notECT)
			}
		})
	}
}

// TestTCPTimeout: an outage that takes a whole window and every
// retransmission leaves no ACK to clock anything out: the retransmission
// timer fires, no sooner than 200 ms after the last ACK, the window
// restarts at 1, and once the path is back everything arrives in order.
func TestTCPTimeout(t *testing.T) {
	s, src, dst := tcpPath(t, "100mbit", "pfifo limit 10000", 5*time.Millisecond)
	f := &TCPFlow{Name: "rto", From: src, To: dst, SrcPort: 1000, DstPort: 2000, CC: Reno, InitialSsthresh: 30}
	if err := s.TCPBulk(f, 0, time.Second); err != nil {
		t.Fatal(err)
	}
	const victim = 300
	var outage int64 // when the path went down
	lost := 0
	tamper(dst, f, func(n uint64, _ *tcpSegment, _ []byte) bool {
		if n == victim && outage == 0 {
			outage = s.Now()
		}
		if outage != 0 && s.Now() < outage+int64(100*time.Millisecond) {
			lost++
			return false
		}
		return true
	})
	s.RunUntil(s.Now() + int64(2*time.Second))
	to := eventsOf(f, EventTimeout)
	if lost == 0 || len(to) != 1 {
		t.Fatalf("%d segments lost, events %+v: want one timeout", lost, f.Events)
	}
	// The last ACK left the receiver just before the outage and took
	// 10 ms back.
	if waited := time.Duration(to[0].Time - (outage + int64(10*time.Millisecond))); waited < tcpMinRTO {
		t.Errorf("timeout %v after the last ACK, want >= %v", waited, tcpMinRTO)
	}
	if to[0].CwndAfter != 1 {
		t.Errorf("cwnd after the timeout %.1f, want 1", to[0].CwndAfter)
	}
	if f.Stats.BytesDelivered != f.Stats.BytesAcked || f.Stats.BytesAcked < (victim+100)*tcpMSS {
		t.Errorf("acked %d, delivered %d: want the same, beyond the outage", f.Stats.BytesAcked, f.Stats.BytesDelivered)
	}
}

// TestTCPOnBottleneck: one flow alone on a 10 Mbit/s link with a queue of
// about a bandwidth-delay product fills it: the sawtooth of losses and
// fast recoveries keeps >= 90% of the link as goodput, with no timeouts,
// and the sequence numbers wrap on the wire (ISS is 1 MiB below 2^32).
func TestTCPOnBottleneck(t *testing.T) {
	for _, cc := range []CongestionControl{Reno, Cubic} {
		t.Run(cc.String(), func(t *testing.T) {
			s, src, dst := tcpPath(t, "10mbit", "pfifo limit 20", 5*time.Millisecond)
			f := &TCPFlow{Name: "bulk", From: src, To: dst, SrcPort: 1000, DstPort: 2000, CC: cc}
			const dur = 10 * time.Second
			if err := s.TCPBulk(f, 0, dur); err != nil {
				t.Fatal(err)
			}
			s.RunUntil(s.Now() + int64(dur))
			// 1448 bytes of goodput in each 1514-byte frame.
			max := 10e6 * tcpMSS / 1514
			got := float64(f.Stats.BytesReceived) * 8 / dur.Seconds()
			if got < 0.9*max {
				t.Errorf("goodput %.2f Mbit/s, want >= 90%% of %.2f", got/1e6, max/1e6)
			}
			if f.Stats.FastRecoveries < 3 || f.Stats.Timeouts != 0 {
				t.Errorf("%d fast recoveries, %d timeouts: want a sawtooth without timeouts", f.Stats.FastRecoveries, f.Stats.Timeouts)
			}
			if f.Stats.BytesReceived < 1<<21 {
				t.Errorf("only %d bytes: the sequence numbers did not wrap", f.Stats.BytesReceived)
			}
		})
	}
}

// TestCubicCurve drives cubicCC alone with a window of ACKs each round
// trip: after a reduction from 100 segments the window is concave up to
// W_max at K = cbrt(W_max*(1-beta)/C) and convex beyond (RFC 9438
// figure 1); with a small window and a short round trip it is Reno's,
// the Reno-friendly region (section 4.3).
func TestCubicCurve(t *testing.T) {
	// run reduces a window of wmax and acknowledges a window of
	// segments every rtt for d, returning the window.
	run := func(wmax float64, rtt, d time.Duration) (*cubicCC, float64) {
		c := newCubic()
		now := int64(time.Second)
		cwnd := c.ssthresh(wmax, now)
		for end := now + int64(d); now < end; now += int64(rtt) {
			for range int(cwnd) {
				cwnd = c.congAvoid(cwnd, 1, now, int64(rtt))
			}
		}
		return c, cwnd
	}
	k := math.Cbrt(100 * (1 - cubicBeta) / cubicC) // 4.22 s
	for _, tc := range []struct {
		name   string
		wmax   float64
		rtt, d time.Duration
		lo, hi float64
	}{
		// At t the window is W_cubic(t + RTT), t counted from the
		// epoch's first ACK.
		{"concave, half way", 100, 100 * time.Millisecond, time.Duration(k / 2 * 1e9), 95.0, 97.0},
		{"plateau at K", 100, 100 * time.Millisecond, time.Duration(k * 1e9), 99.9, 100.5},
		{"convex at 2K", 100, 100 * time.Millisecond, time.Duration(2 * k * 1e9), 128, 134},
		// W_cubic stays near 10 for seconds; Reno's window grows 0.53
		// a round trip up to 10, then 1: 7 + 3 + (100 - 5.7) in 1 s.
		{"reno-friendly", 10, 10 * time.Millisecond, time.Second, 101, 106},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cwnd := run(tc.wmax, tc.rtt, tc.d)
			if cwnd < tc.lo || cwnd > tc.hi {
				t.Errorf("cwnd %.2f, want %.1f..%.1f (W_cubic %.2f, W_est %.2f)", cwnd, tc.lo, tc.hi,
					c.wCubic(tc.d.Seconds()+tc.rtt.Seconds()), c.wEst)
			}
		})
	}
	// Fast convergence: a reduction below the previous maximum lowers
	// W_max to the middle of the window and the window times beta.
	c := newCubic()
	c.ssthresh(100, 1)
	if ss := c.ssthresh(80, 2); ss != 80*cubicBeta || c.wMax != 80*(1+cubicBeta)/2 {
		t.Errorf("ssthresh %.1f, W_max %.1f: want 56 and 68", ss, c.wMax)
	}
}

// TestHyStart: CUBIC leaves slow start without a loss once the round's
// RTT grows by 4 ms (an eighth of 20 ms, clamped to [4, 16] ms) over the
// minimum; Reno fills the queue until it overflows.
func TestHyStart(t *testing.T) {
	for _, tc := range []struct {
		cc       CongestionControl
		wantExit bool
	}{
		{Reno, false},
		{Cubic, true},
	} {
		t.Run(tc.cc.String(), func(t *testing.T) {
			s, src, dst := tcpPath(t, "10mbit", "pfifo limit 1000", 5*time.Millisecond)
			f := &TCPFlow{Name: "hystart", From: src, To: dst, SrcPort: 1000, DstPort: 2000, CC: tc.cc}
			if err := s.TCPBulk(f, 0, 2*time.Second); err != nil {
				t.Fatal(err)
			}
			s.RunUntil(s.Now() + int64(2*time.Second))
			exits := eventsOf(f, EventSlowStartExit)
			if got := len(exits) == 1; got != tc.wantExit {
				t.Fatalf("events %+v, want a slow-start exit: %v", f.Events, tc.wantExit)
			}
			if !tc.wantExit {
				return
			}
			// The path holds 17 segments (10 Mbit/s x 20 ms), and 4 ms
			// of queue is 3.3 more; HyStart looks at the smallest of a
			// round's first eight RTT samples, taken before the round's
			// own burst has queued, so it sees the queue a round or two
			// late: well before the 1000-packet queue fills.
			if w := exits[0].CwndBefore; w < 16 || w > 128 {
				t.Errorf("slow start left at cwnd %.0f, want 16..128", w)
			}
			if f.Stats.Retransmits != 0 {
				t.Errorf("%d retransmits: HyStart should have avoided the overflow", f.Stats.Retransmits)
			}
		})
	}
}

// TestParseTCPSegment: options are read (timestamps, SACK) and malformed
// ones make the frame "not a segment", never a panic.
func TestParseTCPSegment(t *testing.T) {
	build := func(opts []byte) []byte {
		spec := wire.FrameSpec{SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"), Proto: wire.ProtoTCP,
			SrcPort: 1, DstPort: 2, Seq: 7, Ack: 9, TCPFlags: wire.TCPFlagACK, TCPOptions: opts, Payload: []byte("xyz")}
		b, err := wire.AppendFrame(nil, &spec)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var ts []byte
	ts = tsOption(ts, 1234, 5678)
	sack := append(append([]byte(nil), ts...), tcpOptNOP, tcpOptNOP, tcpOptSACK, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0, 0, 0, 30, 0, 0, 0, 40)
	for _, tc := range []struct {
		name  string
		frame []byte
		ok    bool
		check func(*tcpSegment) bool
	}{
		{"timestamps", build(ts), true, func(s *tcpSegment) bool {
			return s.hasTS && s.tsVal == 1234 && s.tsEcr == 5678 && s.payload == 3 && s.seq == 7 && s.ack == 9
		}},
		{"sack blocks", build(sack), true, func(s *tcpSegment) bool {
			return s.nsack == 2 && s.sack[0] == [2]uint32{10, 20} && s.sack[1] == [2]uint32{30, 40}
		}},
		{"option length past the header", build([]byte{tcpOptTimestamp, 30, 0, 0}), false, nil},
		{"option length 0", build([]byte{tcpOptSACK, 0, 0, 0}), false, nil},
		{"timestamp of the wrong size", build([]byte{tcpOptTimestamp, 6, 0, 0, 0, 0, 0, 0}), false, nil},
		{"sack not a multiple of 8", build([]byte{tcpOptSACK, 6, 0, 0, 0, 0, 0, 0}), false, nil},
		{"truncated frame", build(ts)[:40], false, nil},
		{"udp", func() []byte {
			spec := wire.FrameSpec{SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"), Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 2}
			b, _ := wire.AppendFrame(nil, &spec)
			return b
		}(), false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seg tcpSegment
			ok := parseTCPSegment(tc.frame, &seg)
			if ok != tc.ok || (ok && !tc.check(&seg)) {
				t.Errorf("parse: %v %+v, want %v", ok, seg, tc.ok)
			}
		})
	}
}

// TestUnwrap: 32-bit offsets near a reference become the nearest 64-bit
// offset, across a wrap both ways.
func TestUnwrap(t *testing.T) {
	for _, tc := range []struct {
		ref  uint64
		rel  uint32
		want uint64
	}{
		{0, 0, 0},
		{0, 1448, 1448},
		{1<<32 - 100, 50, 1<<32 + 50},
		{1<<32 + 50, 1<<32 - 100, 1<<32 - 100},
		{5 << 32, 10, 5<<32 + 10},
		{100, 1<<32 - 10, 0}, // before the start: clamped
	} {
		if got := unwrap(tc.ref, tc.rel); got != tc.want {
			t.Errorf("unwrap(%#x, %#x) = %#x, want %#x", tc.ref, tc.rel, got, tc.want)
		}
	}
}

// TestTCPBulkErrors: bad flow settings are errors.
func TestTCPBulkErrors(t *testing.T) {
	s := NewSim(nil)
	defer s.Close()
	a, _ := s.AttachHost("a", "192.0.2.1", "eth0", time.Millisecond)
	b, _ := s.AttachHost("b", "192.0.2.2", "eth1", time.Millisecond)
	for _, tc := range []struct {
		name string
		f    TCPFlow
	}{
		{"no receiver", TCPFlow{From: a}},
		{"same host", TCPFlow{From: a, To: a}},
		{"ack every 3", TCPFlow{From: a, To: b, AckEvery: 3}},
		{"unknown cc", TCPFlow{From: a, To: b, CC: 9}},
		{"negative ssthresh", TCPFlow{From: a, To: b, InitialSsthresh: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if err := s.TCPBulk(&f, 0, time.Second); err == nil {
				t.Error("no error")
			}
		})
	}
}
