package netdev

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"netyard/pkt"
	"netyard/wire"
)

// tso4 is a TCP/IPv4 GSO frame of payload bytes, cut into gsoSize
// segments, as a sending stack hands it over (pseudo-header sum in the
// TCP checksum field).
func tso4(payload int, gsoSize uint16) ([]byte, pkt.Meta) {
	f := make([]byte, 14+20+20+payload)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	binary.BigEndian.PutUint16(f[16:], uint16(20+20+payload))
	f[22], f[23] = 64, 6
	copy(f[26:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(f[24:], wire.Checksum(f[14:34]))
	f[34+12] = 5 << 4
	f[34+13] = 0x18
	c := wire.TransportChecksum(6, netip.AddrFrom4([4]byte{10, 0, 0, 1}), netip.AddrFrom4([4]byte{10, 0, 0, 2}), make([]byte, 20+payload))
	binary.BigEndian.PutUint16(f[34+16:], ^c)
	return f, pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: gsoSize, CsumPartial: true, CsumStart: 34, CsumOffset: 16}
}

// TestTransmitSegmentsGSO: a GSO frame sent to a transmit Endpoint (no
// offloads) arrives as its segments, each with a TCP checksum that
// verifies and an IPv4 total length that fits, and the device counts the
// segments; a GSO frame that cannot be cut is dropped and counted. Once
// warm, the cut allocates nothing.
func TestTransmitSegmentsGSO(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	var got [][]byte
	keep := true
	sink := EndpointFunc(func(p *pkt.Buffer, _ int64) {
		if keep {
			got = append(got, append([]byte(nil), p.Data()...))
			if p.GSOType != pkt.GSONone || p.CsumPartial {
				t.Errorf("a segment kept offload state: %+v", p.Meta)
			}
		}
		p.Release()
	})
	d, err := New(1, Config{Name: "gso0"})
	if err != nil {
		t.Fatal(err)
	}
	d.SetTxSink(sink)
	f, m := tso4(10000, 1448)
	send := func() {
		p, _ := pool.GetBig()
		_ = p.SetData(f)
		p.GSOType, p.GSOSize, p.CsumPartial, p.CsumStart, p.CsumOffset = m.GSOType, m.GSOSize, m.CsumPartial, m.CsumStart, m.CsumOffset
		d.Transmit(0, p, 0)
	}
	send()
	if len(got) != 7 { // 6 x 1448 + 1312
		t.Fatalf("%d segments, want 7", len(got))
	}
	src, dst := netip.AddrFrom4([4]byte{10, 0, 0, 1}), netip.AddrFrom4([4]byte{10, 0, 0, 2})
	total := 0
	for i, s := range got {
		if wire.Checksum(s[14:34]) != 0 {
			t.Errorf("segment %d: IPv4 header checksum does not verify", i)
		}
		if int(binary.BigEndian.Uint16(s[16:]))+14 != len(s) {
			t.Errorf("segment %d: IPv4 total length %d in a %d-byte frame", i, binary.BigEndian.Uint16(s[16:]), len(s))
		}
		if wire.TransportChecksum(6, src, dst, s[34:]) != 0 {
			t.Errorf("segment %d: TCP checksum does not verify", i)
		}
		if seq := binary.BigEndian.Uint32(s[38:]); int(seq) != total {
			t.Errorf("segment %d: seq %d, want %d", i, seq, total)
		}
		total += len(s) - 54
	}
	if total != 10000 {
		t.Errorf("the segments carry %d payload bytes, want 10000", total)
	}
	if p, b := d.Counters.TxPackets.Load(), d.Counters.TxBytes.Load(); p != 7 || b != 10000+7*54 {
		t.Errorf("counted %d packets %d bytes, want 7 and %d", p, b, 10000+7*54)
	}

	// Headers that are not what the metadata says: dropped, counted.
	bad := pkt.Meta{GSOType: pkt.GSOTCPv6, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}
	p, _ := pool.GetBig()
	_ = p.SetData(f)
	p.GSOType, p.GSOSize, p.CsumPartial, p.CsumStart, p.CsumOffset = bad.GSOType, bad.GSOSize, bad.CsumPartial, bad.CsumStart, bad.CsumOffset
	d.Transmit(0, p, 0)
	if d.Counters.TxDropped.Load() != 1 {
		t.Errorf("an uncuttable GSO frame: %d dropped, want 1", d.Counters.TxDropped.Load())
	}

	keep = false
	if n := testing.AllocsPerRun(100, send); n > 0 && !raceOn {
		t.Errorf("software GSO: %v allocations a frame", n)
	}
	if s := pool.Stats(); s.Live != 0 {
		t.Errorf("%d buffers not released", s.Live)
	}
}
