package wifi

import (
	"math"
	"net/netip"
	"slices"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

// Test stations: an AP sends to these.
var (
	staA  = wire.MAC{2, 0, 0, 0, 0, 0xa}
	staB  = wire.MAC{2, 0, 0, 0, 0, 0xb}
	apMAC = wire.MAC{2, 0, 0, 0, 0, 1}
)

// DSCP code points used by the tests, shifted into a TOS byte by tos.
const (
	dscpEF   = 46
	dscpAF41 = 34
	dscpCS1  = 8
)

func tos(dscp uint8) uint8 { return dscp << 2 }

// ect0 is the ECT(0) codepoint in the TOS byte's ECN bits.
const ect0 = 0x2

// flow describes test traffic: UDP datagrams of size bytes (the whole
// Ethernet frame) to dst from source port sport, one every interval from
// start on. The port names the flow.
type flow struct {
	name     string
	dst      wire.MAC
	sport    uint16
	tos      uint8
	prio     uint32
	size     int
	interval time.Duration
	start    time.Duration
	v6       bool
}

// frame builds f's frame bytes.
func (f *flow) frame(tb testing.TB) []byte {
	tb.Helper()
	fs := wire.FrameSpec{
		Dst:     f.dst,
		Src:     apMAC,
		SrcIP:   netip.MustParseAddr("192.0.2.1"),
		DstIP:   netip.MustParseAddr("198.51.100.1"),
		Proto:   wire.ProtoUDP,
		TOS:     f.tos,
		SrcPort: f.sport,
		DstPort: 9,
	}
	hdr := wire.EthHeaderLen + wire.IPv4MinHeaderLen + wire.UDPHeaderLen
	if f.v6 {
		fs.SrcIP = netip.MustParseAddr("2001:db8::1")
		fs.DstIP = netip.MustParseAddr("2001:db8::2")
		hdr = wire.EthHeaderLen + wire.IPv6HeaderLen + wire.UDPHeaderLen
	}
	if f.size < hdr {
		tb.Fatalf("flow %s: frame of %d bytes is below its %d bytes of headers", f.name, f.size, hdr)
	}
	fs.Payload = make([]byte, f.size-hdr)
	b, err := wire.AppendFrame(nil, &fs)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// newPacket returns a parsed packet of frame from pool, with priority
// prio and arrival time now (Meta.Time).
func newPacket(tb testing.TB, pool *pkt.Pool, frame []byte, prio uint32, now int64) *pkt.Buffer {
	tb.Helper()
	p, err := pool.Get()
	if err != nil {
		tb.Fatal(err)
	}
	if err := p.SetData(frame); err != nil {
		tb.Fatal(err)
	}
	if err := p.Parse(); err != nil {
		tb.Fatal(err)
	}
	p.Priority = prio
	p.Time = now
	return p
}

// mustNew returns a device with p or fails the test; it is reset at
// cleanup so that the leak check sees every packet back.
func mustNew(tb testing.TB, p Params) Device {
	tb.Helper()
	d, err := New(p)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Reset)
	return d
}

// flowResult is what a run measured for one flow.
type flowResult struct {
	sent   int
	delays []time.Duration // arrival to start of the frame exchange
}

// quantile returns the q-quantile of the delays by nearest rank, 0 when
// there are none.
func (r *flowResult) quantile(q float64) time.Duration {
	if len(r.delays) == 0 {
		return 0
	}
	d := slices.Clone(r.delays)
	slices.Sort(d)
	i := int(math.Ceil(q*float64(len(d)))) - 1
	return d[min(max(i, 0), len(d)-1)]
}

// simulation drives a device in virtual time: flows arrive on schedule,
// and the device is dequeued whenever NextReady says, as the package
// comment describes. No sleeping: time is a number.
type simulation struct {
	tb      testing.TB
	d       Device
	pool    *pkt.Pool
	flows   []flow
	frames  [][]byte
	nextAt  []int64
	bySport map[uint16]int
	// measureFrom is when measuring starts (after warm-up).
	measureFrom int64
	results     []flowResult
	// starts are the exchange start times, in order, when recorded.
	starts []int64
	record bool
}

func newSimulation(tb testing.TB, d Device, flows []flow) *simulation {
	tb.Helper()
	s := &simulation{
		tb:      tb,
		d:       d,
		pool:    testutil.Pool(tb, pkt.PoolConfig{}),
		flows:   flows,
		bySport: make(map[uint16]int),
		results: make([]flowResult, len(flows)),
	}
	// Cleanups run last first: reset the device before the pool's
	// leak check.
	tb.Cleanup(d.Reset)
	for i := range flows {
		s.frames = append(s.frames, flows[i].frame(tb))
		s.nextAt = append(s.nextAt, int64(flows[i].start))
		if _, dup := s.bySport[flows[i].sport]; dup {
			tb.Fatalf("flows share source port %d", flows[i].sport)
		}
		s.bySport[flows[i].sport] = i
	}
	return s
}

// run advances virtual time to end.
func (s *simulation) run(end time.Duration) {
	s.tb.Helper()
	var now int64
	for now < int64(end) {
		arrival, fi := Never, -1
		for i, t := range s.nextAt {
			if t < arrival {
				arrival, fi = t, i
			}
		}
		tx := s.d.NextReady(now)
		if arrival <= tx {
			now = arrival
			if now >= int64(end) {
				break
			}
			f := &s.flows[fi]
			s.d.Enqueue(newPacket(s.tb, s.pool, s.frames[fi], f.prio, now), now)
			s.nextAt[fi] += int64(f.interval)
			// An arrival can only bring the next exchange forward.
			if after := s.d.NextReady(now); after > tx {
				s.tb.Fatalf("enqueue at %d moved NextReady from %d to %d", now, tx, after)
			}
			continue
		}
		now = tx
		if now >= int64(end) {
			break
		}
		p := s.d.Dequeue(now)
		if p == nil {
			s.tb.Fatalf("Dequeue(%d) returned nothing at NextReady", now)
		}
		if s.record {
			s.starts = append(s.starts, now)
		}
		if fi, ok := s.bySport[p.Hdr.SrcPort]; ok && now >= s.measureFrom {
			r := &s.results[fi]
			r.sent++
			r.delays = append(r.delays, time.Duration(now-p.Time))
		}
		p.Release()
	}
}
