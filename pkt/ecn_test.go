package pkt

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"netyard/wire"
)

// TestChecksumHelp: a frame whose transport checksum holds only the
// pseudo-header sum (as a sender with checksum offload hands it over)
// gets the checksum wire.AppendFrame computes for the whole frame, as
// skb_checksum_help completes it.
func TestChecksumHelp(t *testing.T) {
	v4s, v4d := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7")
	v6s, v6d := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	tests := []struct {
		name      string
		spec      wire.FrameSpec
		l4, field int
	}{
		{"udp4", wire.FrameSpec{SrcIP: v4s, DstIP: v4d, Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 53, Payload: []byte("hello, world!")}, 34, 6},
		{"tcp4", wire.FrameSpec{SrcIP: v4s, DstIP: v4d, Proto: wire.ProtoTCP, SrcPort: 1, DstPort: 80, TCPFlags: 0x18, Payload: bytes.Repeat([]byte{0xfe}, 999)}, 34, 16},
		{"udp6", wire.FrameSpec{SrcIP: v6s, DstIP: v6d, Proto: wire.ProtoUDP, SrcPort: 7, DstPort: 9, Payload: []byte{1, 2, 3}}, 54, 6},
	}
	pool := NewPool(PoolConfig{})
	for _, tc := range tests {
		want, err := wire.AppendFrame(nil, &tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		proto := tc.spec.Proto
		// The pseudo-header sum, folded and not complemented: the
		// complement of the checksum of a segment of zeros.
		partial := ^wire.TransportChecksum(proto, tc.spec.SrcIP, tc.spec.DstIP, make([]byte, len(want)-tc.l4))
		b, _ := pool.Get()
		if err := b.SetData(want); err != nil {
			t.Fatal(err)
		}
		binary.BigEndian.PutUint16(b.Data()[tc.l4+tc.field:], partial)
		b.CsumPartial, b.CsumStart, b.CsumOffset = true, uint16(tc.l4), uint16(tc.field)
		if err := b.ChecksumHelp(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Data(), want) || b.CsumPartial {
			t.Errorf("%s: checksum %#04x, want %#04x (partial %v)", tc.name,
				binary.BigEndian.Uint16(b.Data()[tc.l4+tc.field:]), binary.BigEndian.Uint16(want[tc.l4+tc.field:]), b.CsumPartial)
		}
		// Offsets past the frame are an error, not a panic.
		b.CsumPartial, b.CsumStart = true, uint16(len(want))
		if err := b.ChecksumHelp(); err == nil {
			t.Errorf("%s: offsets past the frame accepted", tc.name)
		}
		b.Release()
	}
}
