package wire

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// refChecksum is RFC 1071 §4.1's loop, word by word, as the reference for
// the 8-bytes-at-a-time sum.
func refChecksum(b []byte) uint16 {
	var s uint32
	for ; len(b) > 1; b = b[2:] {
		s += uint32(b[0])<<8 | uint32(b[1])
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// TestChecksum: the RFC 1071 §3 example, and agreement with the reference
// loop at every length and alignment, with all-ones data that carries the
// most.
func TestChecksum(t *testing.T) {
	// RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2.
	if got := Checksum([]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}); got != ^uint16(0xddf2) {
		t.Errorf("RFC 1071 example: %#04x, want %#04x", got, ^uint16(0xddf2))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	ones := make([]byte, 300)
	for i := range ones {
		ones[i] = 0xff
	}
	for _, data := range [][]byte{buf, ones, make([]byte, 300)} {
		for start := range 8 {
			for end := start; end <= len(data); end++ {
				if got, want := Checksum(data[start:end]), refChecksum(data[start:end]); got != want {
					t.Fatalf("Checksum(data[%d:%d]) = %#04x, want %#04x", start, end, got, want)
				}
			}
		}
	}
}

// TestBuiltChecksumsVerify: every header checksum AppendFrame writes
// verifies to zero, as a receiver checks it.
func TestBuiltChecksumsVerify(t *testing.T) {
	for _, g := range goodSpecs() {
		frame := mustFrame(t, &g.spec)
		var h Headers
		if err := Parse(frame, &h); err != nil {
			t.Fatal(err)
		}
		if h.IPVersion == 4 {
			ihl := int(frame[h.L3Off]&0xf) * 4
			if c := Checksum(frame[h.L3Off : int(h.L3Off)+ihl]); c != 0 {
				t.Errorf("%s: IPv4 header checksum verifies to %#04x", g.name, c)
			}
		}
		if h.L4Off == 0 || (h.Fragment && h.MoreFragments) {
			continue // first fragments: the checksum covers only this frame's bytes
		}
		seg := frame[h.L4Off : int(h.L3Off)+int(h.IPTotalLen)]
		var c uint16
		switch h.Proto {
		case ProtoICMP:
			c = Checksum(seg)
		case ProtoTCP, ProtoUDP, ProtoUDPLite, ProtoICMPv6:
			c = TransportChecksum(h.Proto, h.SrcIP, h.DstIP, seg)
		default:
			continue
		}
		if c != 0 {
			t.Errorf("%s: L4 checksum verifies to %#04x", g.name, c)
		}
	}
}

// TestUDPZeroChecksum: a UDP checksum that computes to 0 is sent as 0xffff
// (RFC 768), which still verifies.
func TestUDPZeroChecksum(t *testing.T) {
	s := FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 9, DstPort: 9, Payload: []byte{1, 2, 3, 4, 0, 0}}
	frame := mustFrame(t, &s)
	// A word equal to the current checksum, added to the sum, makes the
	// sum 0xffff and so the computed checksum 0.
	c0 := binary.BigEndian.Uint16(frame[34+6:])
	binary.BigEndian.PutUint16(s.Payload[4:], c0)
	frame = mustFrame(t, &s)
	if got := binary.BigEndian.Uint16(frame[34+6:]); got != 0xffff {
		t.Fatalf("UDP checksum %#04x, want 0xffff", got)
	}
	if c := TransportChecksum(ProtoUDP, ip4A, ip4B, frame[34:]); c != 0 {
		t.Errorf("0xffff checksum verifies to %#04x", c)
	}
}

// TestAppendFrameAllocs: with capacity, AppendFrame allocates nothing;
// without, it grows dst once per call at most.
func TestAppendFrameAllocs(t *testing.T) {
	buf := make([]byte, 0, 2048)
	for _, g := range goodSpecs() {
		s := g.spec
		allocs := testing.AllocsPerRun(50, func() {
			var err error
			if buf, err = AppendFrame(buf[:0], &s); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations", g.name, allocs)
		}
	}
}

// TestAppendFrameAppends: AppendFrame appends after what dst holds and
// pads from the frame's own start.
func TestAppendFrameAppends(t *testing.T) {
	prefix := []byte{0xaa, 0xbb, 0xcc}
	s := FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, MinLen: MinFrameLen}
	b, err := AppendFrame(append([]byte(nil), prefix...), &s)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != len(prefix)+MinFrameLen || b[0] != 0xaa || b[2] != 0xcc {
		t.Fatalf("got %d bytes % x", len(b), b[:4])
	}
	var h Headers
	if err := Parse(b[len(prefix):], &h); err != nil || h.IPTotalLen != 28 {
		t.Errorf("Parse: %v, IPTotalLen %d", err, h.IPTotalLen)
	}
}

// TestAppendFrameInvalid: specs the builders cannot encode give
// ErrInvalidSpec and leave dst as it was.
func TestAppendFrameInvalid(t *testing.T) {
	base := func(f func(*FrameSpec)) FrameSpec {
		s := FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP}
		f(&s)
		return s
	}
	v6 := func(f func(*FrameSpec)) FrameSpec {
		return base(func(s *FrameSpec) { s.SrcIP, s.DstIP = ip6A, ip6B; f(s) })
	}
	tests := []struct {
		name string
		spec FrameSpec
	}{
		{"mixed families", base(func(s *FrameSpec) { s.DstIP = ip6B })},
		{"ipv4 options over 40 bytes", base(func(s *FrameSpec) { s.IPOptions = make([]byte, 41) })},
		{"ipv4 fragment offset not a multiple of 8", base(func(s *FrameSpec) { s.FragOffset = 12 })},
		{"ipv4 packet over 65535 bytes", base(func(s *FrameSpec) { s.Payload = make([]byte, 65535-40+1) })},
		{"extension headers on ipv4", base(func(s *FrameSpec) { s.ExtHeaders = []IPv6Ext{{ProtoDstOpts, nil}} })},
		{"tcp options over 40 bytes", base(func(s *FrameSpec) { s.TCPOptions = make([]byte, 41) })},
		{"tcp flags over 12 bits", base(func(s *FrameSpec) { s.TCPFlags = 0x1000 })},
		{"ipv6 flow label over 20 bits", v6(func(s *FrameSpec) { s.FlowLabel = 1 << 20 })},
		{"ipv4 options on ipv6", v6(func(s *FrameSpec) { s.IPOptions = []byte{1} })},
		{"fragment header in ExtHeaders", v6(func(s *FrameSpec) { s.ExtHeaders = []IPv6Ext{{ProtoFragment, nil}} })},
		{"not an extension header", v6(func(s *FrameSpec) { s.ExtHeaders = []IPv6Ext{{ProtoUDP, nil}} })},
		{"extension header body over 2046 bytes", v6(func(s *FrameSpec) { s.ExtHeaders = []IPv6Ext{{ProtoDstOpts, make([]byte, 2047)}} })},
		{"ipv6 payload over 65535 bytes", v6(func(s *FrameSpec) { s.Payload = make([]byte, 65536-20) })},
		{"ipv6 fragment offset not a multiple of 8", v6(func(s *FrameSpec) { s.FragOffset = 4 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte{1, 2}
			got, err := AppendFrame(dst, &tt.spec)
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("err %v, want ErrInvalidSpec", err)
			}
			if len(got) != 2 {
				t.Errorf("dst grew to %d bytes on error", len(got))
			}
		})
	}
}

// TestIPv6ExtLengths: the length byte in each header's own unit, anchored
// on RFC 4302 §2.2's AH with a 96-bit ICV (24 bytes, Payload Len 4).
func TestIPv6ExtLengths(t *testing.T) {
	tests := []struct {
		name    string
		proto   uint8
		body    int
		total   int
		lenByte byte
	}{
		{"hop-by-hop minimal", ProtoHopOpts, 6, 8, 0},
		{"destination options padded", ProtoDstOpts, 7, 16, 1},
		{"routing 2 words", ProtoRouting, 14, 16, 1},
		{"AH with 96-bit ICV", ProtoAH, 22, 24, 4},
		{"fragment", ProtoFragment, 6, 8, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := AppendIPv6Ext(nil, tt.proto, ProtoUDP, make([]byte, tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if len(b) != tt.total || b[0] != ProtoUDP || b[1] != tt.lenByte {
				t.Errorf("% x: want %d bytes, length byte %d", b, tt.total, tt.lenByte)
			}
		})
	}
}

// TestIPv6FragmentHeader: offset and M flag land where RFC 8200 §4.5 puts
// them and Parse reads them back.
func TestIPv6FragmentHeader(t *testing.T) {
	b, err := AppendIPv6Fragment(nil, ProtoTCP, 8*1000, true, 0x01020304)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{ProtoTCP, 0, 0x1f, 0x41, 1, 2, 3, 4} // 1000<<3 | M
	if string(b) != string(want) {
		t.Errorf("% x, want % x", b, want)
	}
}

// TestMACAndTag: the small value types format and decode as iproute2 shows
// them.
func TestMACAndTag(t *testing.T) {
	if got := (MAC{0x02, 0xab, 0, 0x10, 0xff, 0x01}).String(); got != "02:ab:00:10:ff:01" {
		t.Errorf("MAC.String = %q", got)
	}
	tag := Tag{TPID: EtherTypeVLAN, TCI: 5<<13 | 1<<12 | 4094}
	if tag.VID() != 4094 || tag.PCP() != 5 || !tag.DEI() {
		t.Errorf("Tag %+v: vid %d pcp %d dei %v", tag, tag.VID(), tag.PCP(), tag.DEI())
	}
	var h Headers
	if h.Tagged() {
		t.Error("zero Headers tagged")
	}
	h.NumTags = 1
	if !h.Tagged() {
		t.Error("one tag, not Tagged")
	}
}

// TestTransportChecksumIPv6: the IPv6 pseudo-header sums the 16-byte
// addresses. For a v4-mapped pair the extra words are 0xffff, ones'
// complement -0, so the result equals the IPv4 one; other addresses differ.
func TestTransportChecksumIPv6(t *testing.T) {
	seg := []byte{0, 1, 0, 2, 0, 8, 0, 0}
	a4 := TransportChecksum(ProtoUDP, ip4A, ip4B, seg)
	a6 := TransportChecksum(ProtoUDP, netip.AddrFrom16(ip4A.As16()), netip.AddrFrom16(ip4B.As16()), seg)
	if a4 != a6 {
		t.Errorf("v4 %#04x, v4-mapped v6 %#04x", a4, a6)
	}
	b6 := TransportChecksum(ProtoUDP, ip6A, ip6B, seg)
	if b6 == a4 {
		t.Errorf("different addresses, same checksum %#04x", b6)
	}
}
