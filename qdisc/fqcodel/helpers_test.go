package fqcodel

import (
	"net/netip"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

// ECN codepoints for building packets.
const (
	notECT = 0x0
	ect1   = 0x1
	ect0   = 0x2
	ce     = 0x3
)

// spec describes a test packet: a UDP datagram of the given frame size
// from source port sport (one port, one flow), IPv4 unless v6.
type spec struct {
	sport uint16
	tos   uint8
	size  int
	v6    bool
}

// packets builds test packets from a leak-checked pool.
type packets struct {
	tb   testing.TB
	pool *pkt.Pool
	buf  []byte
}

func newPackets(tb testing.TB) *packets {
	return &packets{tb: tb, pool: testutil.Pool(tb, pkt.PoolConfig{})}
}

func (ps *packets) get(s spec) *pkt.Buffer {
	ps.tb.Helper()
	fs := wire.FrameSpec{
		Dst:     wire.MAC{2, 0, 0, 0, 0, 2},
		Src:     wire.MAC{2, 0, 0, 0, 0, 1},
		SrcIP:   netip.MustParseAddr("192.0.2.1"),
		DstIP:   netip.MustParseAddr("198.51.100.1"),
		Proto:   wire.ProtoUDP,
		TOS:     s.tos,
		SrcPort: s.sport,
		DstPort: 9,
	}
	hdr := wire.EthHeaderLen + wire.IPv4MinHeaderLen + wire.UDPHeaderLen
	if s.v6 {
		fs.SrcIP = netip.MustParseAddr("2001:db8::1")
		fs.DstIP = netip.MustParseAddr("2001:db8::2")
		hdr = wire.EthHeaderLen + wire.IPv6HeaderLen + wire.UDPHeaderLen
	}
	if s.size < hdr {
		ps.tb.Fatalf("frame size %d below the %d bytes of headers", s.size, hdr)
	}
	fs.Payload = make([]byte, s.size-hdr)
	var err error
	ps.buf, err = wire.AppendFrame(ps.buf[:0], &fs)
	if err != nil {
		ps.tb.Fatal(err)
	}
	b, err := ps.pool.Get()
	if err != nil {
		ps.tb.Fatal(err)
	}
	if err := b.SetData(ps.buf); err != nil {
		ps.tb.Fatal(err)
	}
	if err := b.Parse(); err != nil {
		ps.tb.Fatal(err)
	}
	return b
}

// mustNew returns an fq_codel with p, or fails the test. It is reset at
// cleanup: get the packets (newPackets) first, so that the leak check runs
// after the reset.
func mustNew(tb testing.TB, p Params, opts ...Option) *fqCodel {
	tb.Helper()
	q, err := New(p, 1, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(q.Reset)
	return q.(*fqCodel)
}

// drain dequeues everything at now and releases it, returning the source
// ports in dequeue order.
func drain(q *fqCodel, now int64) []uint16 {
	var ports []uint16
	for p := q.Dequeue(now); p != nil; p = q.Dequeue(now) {
		ports = append(ports, p.Hdr.SrcPort)
		p.Release()
	}
	return ports
}

const ms = int64(1e6)
