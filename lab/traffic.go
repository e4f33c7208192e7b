package lab

import (
	"fmt"
	"slices"
	"time"

	"netyard/wire"
)

// Flow is one stream of lab traffic from one host to another: UDP packets
// that carry a marker (flow, sequence number, send time) so the receiver
// can count loss and measure one-way delay without a shared clock beyond
// the simulation's.
type Flow struct {
	Name             string
	From, To         *Host
	SrcPort, DstPort uint16
	// Size is the UDP payload length (at least the 24-byte marker).
	Size int
	Tags []wire.Tag
	TOS  uint8

	// Sent, Received, and the one-way delays of what was received (for
	// request/response flows: round-trip times of the replies).
	Sent, Received int
	Delays         []int64
	// Seqs are the sequence numbers of what a one-way flow received, in
	// the order it arrived (for loss bursts and reordering).
	Seqs []uint64
	// Copies counts packets of the flow that reached another host (a
	// mirror's monitor).
	Copies int

	id      uint32
	rr      bool // request/response: the receiver echoes
	replies int
	buf     []byte
	payload []byte
	// first and gap are a constant-rate flow's first send time and
	// spacing (sentAt).
	first, gap int64
}

func (s *Sim) addFlow(f *Flow) error {
	if f.From == nil || f.To == nil {
		return fmt.Errorf("flow %q: needs both hosts", f.Name)
	}
	if f.Size < markerLen {
		f.Size = markerLen
	}
	s.flows = append(s.flows, f)
	f.id = uint32(len(s.flows))
	f.payload = make([]byte, f.Size)
	return nil
}

// CBR sends f at a constant rate of pps packets a second from start to
// stop: a voice or video stream, or, at a high rate, a bulk flow that does
// not back off.
func (s *Sim) CBR(f *Flow, pps int, start, stop time.Duration) error {
	if pps <= 0 {
		return fmt.Errorf("flow %q: rate %d pps: must be > 0", f.Name, pps)
	}
	if err := s.addFlow(f); err != nil {
		return err
	}
	gap := int64(time.Second) / int64(pps)
	end := s.Now() + int64(stop)
	f.first, f.gap = s.Now()+int64(start), gap
	var tick func()
	tick = func() {
		if s.Now() >= end {
			return
		}
		s.sendFlow(f, false, 0, 0)
		s.At(s.Now()+gap, tick)
	}
	s.At(s.Now()+int64(start), tick)
	return nil
}

// sentAt is when a constant-rate flow sent packet seq.
func (f *Flow) sentAt(seq uint64) int64 { return f.first + int64(seq)*f.gap }

// RequestResponse sends a request every interval from start to stop; the
// receiving host answers each with a reply of the same size, and the flow's
// Delays are the round-trip times.
func (s *Sim) RequestResponse(f *Flow, interval, start, stop time.Duration) error {
	f.rr = true
	return s.CBR(f, int(time.Second/interval), start, stop)
}

// sendFlow builds and sends one packet of f: a request, or a reply to
// sequence seq that carries the request's send time back, so the sender
// measures the round trip.
func (s *Sim) sendFlow(f *Flow, reply bool, seq uint64, sent int64) {
	from, to := f.From, f.To
	sp, dp := f.SrcPort, f.DstPort
	m := marker{flow: f.id, sent: s.Now(), reply: reply}
	if reply {
		from, to = to, from
		sp, dp = dp, sp
		m.seq = seq
		m.sent = sent
	} else {
		m.seq = uint64(f.Sent)
		f.Sent++
	}
	m.put(f.payload)
	spec := wire.FrameSpec{
		Dst: to.MAC, Src: from.MAC, Tags: f.Tags,
		SrcIP: from.IP, DstIP: to.IP, Proto: wire.ProtoUDP, TOS: f.TOS,
		SrcPort: sp, DstPort: dp, Payload: f.payload, MinLen: wire.MinFrameLen,
	}
	var err error
	f.buf, err = wire.AppendFrame(f.buf[:0], &spec)
	if err == nil {
		err = from.SendFrame(f.buf)
	}
	if err != nil {
		s.errs = append(s.errs, fmt.Errorf("flow %q: %w", f.Name, err))
	}
}

func (s *Sim) flowArrived(h *Host, m marker, now int64) {
	if m.flow == 0 || int(m.flow) > len(s.flows) {
		return
	}
	f := s.flows[m.flow-1]
	want := f.To
	if m.reply {
		want = f.From
	}
	if h != want {
		// A mirrored copy, at a monitor.
		f.Copies++
		return
	}
	switch {
	case m.reply:
		f.replies++
		f.Delays = append(f.Delays, now-m.sent)
	case f.rr:
		f.Received++
		s.sendFlow(f, true, m.seq, m.sent)
	default:
		f.Received++
		f.Delays = append(f.Delays, now-m.sent)
		f.Seqs = append(f.Seqs, m.seq)
	}
}

// FlowResult is a flow's summary.
type FlowResult struct {
	Name     string  `json:"name"`
	Sent     int     `json:"sent"`
	Received int     `json:"received"`
	Replies  int     `json:"replies,omitempty"`
	LossPct  float64 `json:"loss_pct"`
	// Delays in microseconds: one-way, or round trip for request/response.
	DelayP50us float64 `json:"delay_p50_us"`
	DelayP99us float64 `json:"delay_p99_us"`
	DelayMaxus float64 `json:"delay_max_us"`
	RoundTrip  bool    `json:"round_trip,omitempty"`
}

// Result summarises f.
func (f *Flow) Result() FlowResult {
	r := FlowResult{Name: f.Name, Sent: f.Sent, Received: f.Received, RoundTrip: f.rr}
	got := f.Received
	if f.rr {
		r.Replies = f.replies
		got = f.replies
	}
	if f.Sent > 0 {
		r.LossPct = 100 * float64(f.Sent-got) / float64(f.Sent)
	}
	d := slices.Clone(f.Delays)
	slices.Sort(d)
	r.DelayP50us = percentile(d, 0.50)
	r.DelayP99us = percentile(d, 0.99)
	if len(d) > 0 {
		r.DelayMaxus = float64(d[len(d)-1]) / 1e3
	}
	return r
}

// percentile of sorted ns values, in microseconds (nearest rank).
func percentile(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i]) / 1e3
}
