package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
)

// One fuzz target per parser. Each checks, on arbitrary bytes: no panic,
// an error of a known kind, offsets inside the input; and where a builder
// exists, it builds a header from the fuzzed fields, parses it back and
// compares (build -> parse round trip).

// parseLayered is Parse as the composition of the exported per-layer
// parsers. Parse inlines them for speed; FuzzParse holds the two equal.
func parseLayered(frame []byte, h *Headers) error {
	*h = Headers{}
	if err := ParseEthernet(frame, h); err != nil {
		return err
	}
	var (
		l4  int
		err error
	)
	switch h.EtherType {
	case EtherTypeIPv4:
		l4, err = ParseIPv4(frame, int(h.L3Off), h)
	case EtherTypeIPv6:
		l4, err = ParseIPv6(frame, int(h.L3Off), h)
	default:
		return nil
	}
	if err != nil || l4 == 0 {
		return err
	}
	return ParseL4(frame[:int(h.L3Off)+int(h.IPTotalLen)], l4, h.Proto, h)
}

// checkErr fails unless err is nil or one of the package's *Error values
// of a known kind.
func checkErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *Error
	if !errors.As(err, &e) || !(errors.Is(err, ErrTruncated) || errors.Is(err, ErrBadHeader)) {
		t.Fatalf("error %v (%T) is not a wire *Error of a known kind", err, err)
	}
}

// seedFrames are the good frames and a few broken ones.
func seedFrames(tb testing.TB) [][]byte {
	var out [][]byte
	for _, g := range goodSpecs() {
		f := mustFrame(tb, &g.spec)
		out = append(out, f, f[:len(f)-1])
	}
	return out
}

func FuzzParse(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		var h, l Headers
		err := Parse(frame, &h)
		checkErr(t, err)
		if lerr := parseLayered(frame, &l); lerr != err || l != h {
			t.Fatalf("Parse and the per-layer parsers disagree:\n Parse %v %+v\nlayers %v %+v", err, h, lerr, l)
		}
		if len(frame) <= MaxFrameLen {
			checkOffsets(t, frame, &h)
		}
		if err == nil && h.IPVersion != 0 && !h.Fragment && h.L4Off != 0 {
			// Rebuild the frame from what Parse found: the same
			// headers must come back.
			rebuildCheck(t, frame, &h)
		}
	})
}

// rebuildCheck builds a frame from h (plus the L4 payload of frame) and
// parses it again.
func rebuildCheck(t *testing.T, frame []byte, h *Headers) {
	switch h.Proto {
	case ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6:
	default:
		return
	}
	if h.IPVersion == 4 && frame[h.L3Off]&0xf != 5 || h.IPVersion == 6 && h.L4Off != h.L3Off+IPv6HeaderLen {
		return // options and extension headers are not in Headers
	}
	if h.Proto == ProtoTCP && frame[h.L4Off+12]>>4 != 5 {
		return // TCP options are not in Headers
	}
	if (h.Proto == ProtoICMP) != (h.IPVersion == 4) && (h.Proto == ProtoICMP || h.Proto == ProtoICMPv6) {
		return // ICMP over IPv6 and ICMPv6 over IPv4 are decoded but not built
	}
	hl := map[uint8]uint16{ProtoTCP: TCPMinHeaderLen, ProtoUDP: UDPHeaderLen, ProtoICMP: ICMPHeaderLen, ProtoICMPv6: ICMPHeaderLen}[h.Proto]
	s := FrameSpec{
		Dst: h.DstMAC, Src: h.SrcMAC, Tags: h.Tags[:h.NumTags],
		SrcIP: h.SrcIP, DstIP: h.DstIP, Proto: h.Proto, TOS: h.TOS, TTL: h.TTL,
		SrcPort: h.SrcPort, DstPort: h.DstPort, TCPFlags: h.TCPFlags, ICMPType: h.ICMPType, ICMPCode: h.ICMPCode,
		Payload: frame[h.L4Off+hl : h.L3Off+h.IPTotalLen],
	}
	if s.TTL == 0 {
		return // 0 means DefaultTTL to the builder
	}
	b, err := AppendFrame(nil, &s)
	if err != nil {
		t.Fatalf("AppendFrame(%+v): %v", s, err)
	}
	var g Headers
	if err := Parse(b, &g); err != nil {
		t.Fatalf("Parse(rebuilt): %v", err)
	}
	if g != *h {
		t.Fatalf("rebuilt frame parses to\n%+v\nwant\n%+v", g, *h)
	}
}

func FuzzEthernet(f *testing.F) {
	for _, fr := range seedFrames(f) {
		f.Add(fr, uint8(2), uint16(EtherTypeQinQ), uint16(0x2001), uint16(EtherTypeVLAN), uint16(5), uint16(EtherTypeIPv6))
	}
	f.Add([]byte{}, uint8(3), uint16(EtherTypeVLAN), uint16(1), uint16(EtherTypeVLAN), uint16(2), uint16(EtherTypeVLAN))
	f.Add([]byte{}, uint8(0), uint16(0), uint16(0), uint16(0), uint16(0), uint16(100))
	f.Fuzz(func(t *testing.T, frame []byte, ntags uint8, tpid1, tci1, tpid2, tci2, etherType uint16) {
		var h Headers
		err := ParseEthernet(frame, &h)
		checkErr(t, err)
		if int(h.L3Off) > len(frame) || h.NumTags > MaxTags {
			t.Fatalf("L3Off %d NumTags %d for %d bytes", h.L3Off, h.NumTags, len(frame))
		}
		if err == nil && int(h.L3Off) != EthHeaderLen+VLANTagLen*int(h.NumTags) {
			t.Fatalf("L3Off %d with %d tags", h.L3Off, h.NumTags)
		}

		// Round trip: tags as built, parsed back. Only 802.1Q and
		// 802.1ad TPIDs are tags, and only MaxTags of them; a VLAN
		// EtherType after fewer tags reads as one more tag.
		tags := []Tag{{tpid1, tci1}, {tpid2, tci2}}[:min(int(ntags), 2)]
		b := AppendEthernet(nil, macA, macB, tags, etherType)
		b = append(b, 0xff, 0xff, 0xff, 0xff)
		// The model: the 16-bit words after the MACs, walked as the
		// kernel walks them.
		var words []uint16
		for _, tg := range tags {
			words = append(words, tg.TPID, tg.TCI)
		}
		words = append(words, etherType, 0xffff, 0xffff)
		isVLAN := func(t uint16) bool { return t == EtherTypeVLAN || t == EtherTypeQinQ }
		var want []Tag
		k := 0
		for len(want) < MaxTags && isVLAN(words[k]) {
			want = append(want, Tag{words[k], words[k+1]})
			k += 2
		}
		next := words[k]
		if next < EtherTypeMinType {
			next = EtherType802_2
			if words[k+1] == 0xffff {
				next = EtherType802_3
			}
		}
		h = Headers{}
		if err := ParseEthernet(b, &h); err != nil {
			t.Fatalf("ParseEthernet(% x): %v", b, err)
		}
		if int(h.NumTags) != len(want) || h.DstMAC != macA || h.SrcMAC != macB || h.EtherType != next {
			t.Fatalf("built % x: %+v, want tags %+v, EtherType %#04x", b, h, want, next)
		}
		for i := range want {
			if h.Tags[i] != want[i] {
				t.Fatalf("tag %d: %+v, want %+v", i, h.Tags[i], want[i])
			}
		}
	})
}

func FuzzIPv4(f *testing.F) {
	for _, fr := range seedFrames(f) {
		if len(fr) > 14 && binary.BigEndian.Uint16(fr[12:]) == EtherTypeIPv4 {
			f.Add(fr[14:], uint8(0x10), uint8(64), uint8(ProtoUDP), uint16(1), uint16(0), false, true, uint32(0xc0000201), uint32(0x0a000001), []byte{}, uint16(8))
		}
	}
	f.Add([]byte{0x4f, 0, 0, 60}, uint8(0), uint8(1), uint8(ProtoTCP), uint16(0), uint16(8*100), true, false, uint32(1), uint32(2), []byte{0x94, 4, 0, 0}, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, tos, ttl, proto uint8, id, fragOff uint16, mf, df bool, src, dst uint32, opts []byte, payloadLen uint16) {
		var h Headers
		l4, err := ParseIPv4(data, 0, &h)
		checkErr(t, err)
		if err == nil {
			if int(h.IPTotalLen) > len(data) || l4 > int(h.IPTotalLen) || (l4 != 0 && l4 < IPv4MinHeaderLen) {
				t.Fatalf("l4 %d, total %d, %d bytes", l4, h.IPTotalLen, len(data))
			}
			if (l4 == 0) != (h.Fragment && !h.FirstFragment) {
				t.Fatalf("l4 %d for fragment %v first %v", l4, h.Fragment, h.FirstFragment)
			}
		} else if h != (Headers{}) {
			t.Fatalf("h written on error: %+v", h)
		}

		// Round trip through the builder.
		if len(opts) > 40 {
			opts = opts[:40]
		}
		s, d := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, src))), netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, dst)))
		ip := IPv4Header{TOS: tos, ID: id, DF: df, MF: mf, FragOffset: fragOff &^ 7, TTL: ttl, Proto: proto, Src: s, Dst: d, Options: opts}
		payloadLen %= 1500
		ip.TotalLen = uint16(ip.Len()) + payloadLen
		b, err := ip.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if Checksum(b) != 0 {
			t.Fatalf("header checksum does not verify: % x", b)
		}
		b = append(b, make([]byte, payloadLen)...)
		h = Headers{}
		l4, err = ParseIPv4(b, 0, &h)
		if err != nil {
			t.Fatalf("ParseIPv4(built % x): %v", b, err)
		}
		frag := mf || ip.FragOffset != 0
		want := Headers{IPVersion: 4, TOS: tos, TTL: ttl, Proto: proto, SrcIP: s, DstIP: d, IPTotalLen: ip.TotalLen,
			Fragment: frag, FirstFragment: frag && ip.FragOffset == 0, MoreFragments: mf}
		if h != want {
			t.Fatalf("parsed\n%+v\nwant\n%+v", h, want)
		}
		if wl4 := ip.Len(); ip.FragOffset != 0 {
			if l4 != 0 {
				t.Fatalf("non-first fragment gave l4 %d", l4)
			}
		} else if l4 != wl4 {
			t.Fatalf("l4 %d, want %d", l4, wl4)
		}
	})
}

// extKinds maps a fuzzed byte to an extension header kind.
var extKinds = [...]uint8{ProtoHopOpts, ProtoRouting, ProtoDstOpts, ProtoAH}

func FuzzIPv6(f *testing.F) {
	for _, fr := range seedFrames(f) {
		if len(fr) > 14 && binary.BigEndian.Uint16(fr[12:]) == EtherTypeIPv6 {
			f.Add(fr[14:], uint8(0), uint32(0), uint8(ProtoUDP), []byte{0, 1, 2, 3}, false, uint16(0), false, uint16(8))
		}
	}
	f.Add([]byte{0x60}, uint8(0xff), uint32(0xfffff), uint8(ProtoTCP), []byte{0x20, 0x31, 0x42, 0x53, 0x64, 0x75, 0x86, 0x97}, true, uint16(8*3), true, uint16(0))
	f.Fuzz(func(t *testing.T, data []byte, tc uint8, flow uint32, proto uint8, exts []byte, frag bool, fragOff uint16, more bool, payloadLen uint16) {
		var h Headers
		l4, err := ParseIPv6(data, 0, &h)
		checkErr(t, err)
		if err == nil {
			if int(h.IPTotalLen) > len(data) || l4 > int(h.IPTotalLen) || (l4 != 0 && l4 < IPv6HeaderLen) {
				t.Fatalf("l4 %d, total %d, %d bytes", l4, h.IPTotalLen, len(data))
			}
			if h.Fragment && !h.FirstFragment && l4 != 0 {
				t.Fatalf("non-first fragment gave l4 %d", l4)
			}
		} else if h != (Headers{}) {
			t.Fatalf("h written on error: %+v", h)
		}

		// Round trip: each byte of exts is one extension header, its
		// kind in the low 2 bits and its body length in 8-byte words in
		// the next 3.
		if len(exts) > MaxIPv6ExtHeaders {
			exts = exts[:MaxIPv6ExtHeaders]
		}
		if frag && len(exts) == MaxIPv6ExtHeaders {
			exts = exts[:MaxIPv6ExtHeaders-1]
		}
		spec := FrameSpec{SrcIP: ip6A, DstIP: ip6B, Proto: proto, TOS: tc, FlowLabel: flow & 0xfffff, TTL: 1,
			Fragment: frag, MF: frag && more, Payload: make([]byte, payloadLen%1500)}
		if frag {
			spec.FragOffset = fragOff &^ 7
		}
		if spec.FragOffset == 0 && (proto == ProtoTCP || proto == ProtoUDP || proto == ProtoUDPLite || proto == ProtoICMP || proto == ProtoICMPv6) {
			spec.SrcPort, spec.DstPort = 1234, 5678
		}
		l4want := EthHeaderLen + IPv6HeaderLen
		for _, e := range exts {
			k := extKinds[e&3]
			body := make([]byte, 6+8*int(e>>2&7))
			spec.ExtHeaders = append(spec.ExtHeaders, IPv6Ext{k, body})
			l4want += IPv6ExtLen(k, len(body))
		}
		if spec.Fragment || spec.MF || spec.FragOffset != 0 {
			l4want += 8
		}
		b, err := AppendFrame(nil, &spec)
		if err != nil {
			t.Fatal(err)
		}
		h = Headers{}
		err = Parse(b, &h)
		// An extension header kind as the upper-layer protocol is walked
		// as one: skip what is not a plain round trip.
		switch proto {
		case ProtoHopOpts, ProtoRouting, ProtoDstOpts, ProtoAH, ProtoFragment:
			return
		}
		if err != nil && !(errors.Is(err, ErrTruncated) && h.L4Off == 0 && h.IPVersion == 6) {
			t.Fatalf("Parse(built % x): %v", b, err)
		}
		nonFirst := spec.FragOffset != 0
		if h.IPVersion != 6 || h.Proto != proto || h.TOS != tc || h.TTL != 1 || h.SrcIP != ip6A || h.DstIP != ip6B ||
			int(h.IPTotalLen) != len(b)-EthHeaderLen || h.Fragment != (spec.Fragment || spec.MF || nonFirst) ||
			h.FirstFragment != (h.Fragment && !nonFirst) || h.MoreFragments != spec.MF {
			t.Fatalf("built %+v\nparsed %+v", spec, h)
		}
		switch {
		case nonFirst || proto == ProtoESP || proto == ProtoNoNext:
			if h.L4Off != 0 {
				t.Fatalf("L4Off %d, want 0", h.L4Off)
			}
		case err == nil && int(h.L4Off) != l4want:
			t.Fatalf("L4Off %d, want %d", h.L4Off, l4want)
		}
	})
}

func FuzzTCP(f *testing.F) {
	f.Add([]byte{0, 80, 0x1f, 0x90, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x12, 0xff, 0xff, 0, 0, 0, 0}, uint16(1), uint16(2), uint16(TCPFlagSYN), uint32(7), []byte{2, 4, 5, 0xb4}, []byte("hi"), false)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x40}, uint16(0), uint16(0), uint16(0xfff), uint32(0), []byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, data []byte, sport, dport, flags uint16, seq uint32, opts, payload []byte, v6 bool) {
		var h Headers
		err := ParseTCP(data, 0, &h)
		checkErr(t, err)
		if err == nil && int(data[12]>>4)*4 > len(data) {
			t.Fatalf("accepted data offset %d with %d bytes", data[12]>>4, len(data))
		}
		if err != nil && h != (Headers{}) {
			t.Fatalf("h written on error: %+v", h)
		}
		if len(opts) > 40 {
			opts = opts[:40]
		}
		flags &= 0x0fff
		spec := FrameSpec{SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP, SrcPort: sport, DstPort: dport, TCPFlags: flags, Seq: seq, TCPOptions: opts, Payload: payload}
		if v6 {
			spec.SrcIP, spec.DstIP = ip6A, ip6B
		}
		if len(payload) > 1400 {
			spec.Payload = payload[:1400]
		}
		b, err := AppendFrame(nil, &spec)
		if err != nil {
			t.Fatal(err)
		}
		h = Headers{}
		if err := Parse(b, &h); err != nil {
			t.Fatalf("Parse(built): %v", err)
		}
		if h.SrcPort != sport || h.DstPort != dport || h.TCPFlags != flags {
			t.Fatalf("parsed %d>%d %#x, built %d>%d %#x", h.SrcPort, h.DstPort, h.TCPFlags, sport, dport, flags)
		}
		seg := b[h.L4Off:]
		if c := TransportChecksum(ProtoTCP, spec.SrcIP, spec.DstIP, seg); c != 0 {
			t.Fatalf("checksum verifies to %#04x", c)
		}
		if hl := int(seg[12]>>4) * 4; !bytes.Equal(seg[hl:], spec.Payload) || !bytes.Equal(seg[20:20+len(opts)], opts) {
			t.Fatalf("options or payload not where the data offset says")
		}
	})
}

func FuzzUDP(f *testing.F) {
	f.Add([]byte{0, 53, 0x30, 0x39, 0, 8, 0, 0}, uint16(53), uint16(12345), []byte("q"), false, false)
	f.Add([]byte{0, 53, 0x30}, uint16(0), uint16(0), []byte{}, true, true)
	f.Fuzz(func(t *testing.T, data []byte, sport, dport uint16, payload []byte, v6, lite bool) {
		var h Headers
		err := ParseUDP(data, 0, &h)
		checkErr(t, err)
		if (err == nil) != (len(data) >= UDPHeaderLen) {
			t.Fatalf("%d bytes: err %v", len(data), err)
		}
		if err == nil && (h.SrcPort != binary.BigEndian.Uint16(data) || h.DstPort != binary.BigEndian.Uint16(data[2:])) {
			t.Fatalf("ports %d>%d from % x", h.SrcPort, h.DstPort, data[:4])
		}
		proto := ProtoUDP
		if lite {
			proto = ProtoUDPLite
		}
		spec := FrameSpec{SrcIP: ip4A, DstIP: ip4B, Proto: proto, SrcPort: sport, DstPort: dport, Payload: payload}
		if v6 {
			spec.SrcIP, spec.DstIP = ip6A, ip6B
		}
		if len(payload) > 1400 {
			spec.Payload = payload[:1400]
		}
		b, err := AppendFrame(nil, &spec)
		if err != nil {
			t.Fatal(err)
		}
		h = Headers{}
		if err := Parse(b, &h); err != nil {
			t.Fatalf("Parse(built): %v", err)
		}
		seg := b[h.L4Off:]
		if h.SrcPort != sport || h.DstPort != dport || h.Proto != proto || int(binary.BigEndian.Uint16(seg[4:])) != len(seg) {
			t.Fatalf("parsed %+v from % x", h, seg[:8])
		}
		if c := TransportChecksum(proto, spec.SrcIP, spec.DstIP, seg); c != 0 || binary.BigEndian.Uint16(seg[6:]) == 0 {
			t.Fatalf("checksum %#04x verifies to %#04x", binary.BigEndian.Uint16(seg[6:]), c)
		}
	})
}

func FuzzICMP(f *testing.F) {
	f.Add([]byte{8, 0, 0, 0, 0, 1, 0, 1}, uint8(8), uint8(0), uint16(1), uint16(1), []byte("ping"), false)
	f.Add([]byte{128, 0, 0}, uint8(129), uint8(0), uint16(0xffff), uint16(0), []byte{}, true)
	f.Fuzz(func(t *testing.T, data []byte, typ, code uint8, id, seq uint16, payload []byte, v6 bool) {
		var h Headers
		err := ParseICMP(data, 0, &h)
		checkErr(t, err)
		if (err == nil) != (len(data) >= ICMPHeaderLen) {
			t.Fatalf("%d bytes: err %v", len(data), err)
		}
		if err == nil && (h.ICMPType != data[0] || h.ICMPCode != data[1]) {
			t.Fatalf("type/code %d/%d from % x", h.ICMPType, h.ICMPCode, data[:2])
		}
		spec := FrameSpec{SrcIP: ip4A, DstIP: ip4B, Proto: ProtoICMP, ICMPType: typ, ICMPCode: code, ICMPID: id, ICMPSeq: seq, Payload: payload}
		if v6 {
			spec.SrcIP, spec.DstIP, spec.Proto = ip6A, ip6B, ProtoICMPv6
		}
		if len(payload) > 1400 {
			spec.Payload = payload[:1400]
		}
		b, err := AppendFrame(nil, &spec)
		if err != nil {
			t.Fatal(err)
		}
		h = Headers{}
		if err := Parse(b, &h); err != nil {
			t.Fatalf("Parse(built): %v", err)
		}
		seg := b[h.L4Off:]
		if h.ICMPType != typ || h.ICMPCode != code || binary.BigEndian.Uint16(seg[4:]) != id || binary.BigEndian.Uint16(seg[6:]) != seq {
			t.Fatalf("parsed %+v from % x", h, seg[:8])
		}
		c := Checksum(seg)
		if v6 {
			c = TransportChecksum(ProtoICMPv6, ip6A, ip6B, seg)
		}
		if c != 0 {
			t.Fatalf("checksum verifies to %#04x", c)
		}
	})
}
