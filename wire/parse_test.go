package wire

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

// Expected Headers of the good frames, written out by hand from the specs
// in goodSpecs (not computed by the code under test).
func wantHeaders() map[string]Headers {
	// eth is the L2 part: MACs, tags, types and L3Off.
	eth := func(et uint16, tags ...Tag) Headers {
		h := Headers{DstMAC: macB, SrcMAC: macA, NumTags: uint8(len(tags)), EtherType: et, OuterType: et, L3Off: uint16(14 + 4*len(tags))}
		copy(h.Tags[:], tags)
		if len(tags) > 0 {
			h.OuterType = tags[0].TPID
		}
		return h
	}
	v4 := func(h Headers, proto uint8, total, l4 int) Headers {
		h.IPVersion, h.Proto, h.TTL, h.SrcIP, h.DstIP = 4, proto, 64, ip4A, ip4B
		h.IPTotalLen, h.L4Off = uint16(total), uint16(l4)
		return h
	}
	v6 := func(h Headers, proto uint8, total, l4 int) Headers {
		h.IPVersion, h.Proto, h.TTL, h.SrcIP, h.DstIP = 6, proto, 64, ip6A, ip6B
		h.IPTotalLen, h.L4Off = uint16(total), uint16(l4)
		return h
	}
	ports := func(h Headers, s, d uint16) Headers { h.SrcPort, h.DstPort = s, d; return h }
	frag := func(h Headers, first, more bool) Headers {
		h.Fragment, h.FirstFragment, h.MoreFragments = true, first, more
		return h
	}
	tcp := func(h Headers, s, d, flags uint16) Headers { h = ports(h, s, d); h.TCPFlags = flags; return h }
	icmp := func(h Headers, t, c uint8) Headers { h.ICMPType, h.ICMPCode = t, c; return h }
	tosTTL := func(h Headers, tos, ttl uint8) Headers { h.TOS, h.TTL = tos, ttl; return h }
	const pl = 26 // len("netyard payload 0123456789")

	m := map[string]Headers{
		"ipv4-udp":                       ports(v4(eth(EtherTypeIPv4), ProtoUDP, 20+8+pl, 34), 5000, 53),
		"dot1q-ipv4-udp":                 tosTTL(ports(v4(eth(EtherTypeIPv4, ctag(100, 5)), ProtoUDP, 20+8+pl, 38), 5000, 53), 0xb8, 3),
		"qinq-ipv4-tcp":                  tcp(v4(eth(EtherTypeIPv4, stag(10, 1), ctag(20, 7)), ProtoTCP, 20+20+pl, 42), 40000, 443, 0x002),
		"dot1q-dot1ad-ipv6-udp":          ports(v6(eth(EtherTypeIPv6, ctag(4095, 0), stag(0, 3)), ProtoUDP, 40+8+pl, 62), 1, 2),
		"ipv4-options-udp":               ports(v4(eth(EtherTypeIPv4), ProtoUDP, 32+8+pl, 46), 7, 9),
		"ipv4-first-fragment":            frag(ports(v4(eth(EtherTypeIPv4), ProtoUDP, 20+8+pl, 34), 123, 456), true, true),
		"ipv4-middle-fragment":           frag(v4(eth(EtherTypeIPv4), ProtoUDP, 20+pl, 0), false, true),
		"ipv4-last-fragment":             frag(v4(eth(EtherTypeIPv4), ProtoTCP, 20+pl, 0), false, false),
		"ipv4-tcp-options-flags":         tcp(v4(eth(EtherTypeIPv4), ProtoTCP, 20+40, 34), 22, 61000, 0x1d2),
		"ipv4-icmp-echo":                 icmp(v4(eth(EtherTypeIPv4), ProtoICMP, 20+8+pl, 34), 8, 0),
		"ipv4-icmp-unreach":              icmp(v4(eth(EtherTypeIPv4), ProtoICMP, 20+8, 34), 3, 4),
		"ipv4-gre":                       v4(eth(EtherTypeIPv4), 47, 24, 34),
		"ipv4-sctp":                      ports(v4(eth(EtherTypeIPv4), ProtoSCTP, 32, 34), 2905, 2906),
		"ipv4-udp-padded":                ports(v4(eth(EtherTypeIPv4), ProtoUDP, 28, 34), 67, 68),
		"ipv6-udp":                       tosTTL(ports(v6(eth(EtherTypeIPv6), ProtoUDP, 40+8+pl, 54), 546, 547), 0xb8, 255),
		"ipv6-tcp":                       tcp(v6(eth(EtherTypeIPv6), ProtoTCP, 40+20+pl, 54), 179, 50000, 0x03d),
		"ipv6-icmpv6-echo":               icmp(v6(eth(EtherTypeIPv6), ProtoICMPv6, 40+8+pl, 54), 128, 0),
		"ipv6-hopopts-udp":               ports(v6(eth(EtherTypeIPv6), ProtoUDP, 40+8+8+pl, 62), 1000, 2000),
		"ipv6-routing-tcp":               tcp(v6(eth(EtherTypeIPv6), ProtoTCP, 40+8+20, 62), 1000, 2000, 0x010),
		"ipv6-dstopts-icmpv6":            icmp(v6(eth(EtherTypeIPv6), ProtoICMPv6, 40+16+8, 70), 1, 3),
		"ipv6-ah-udp":                    ports(v6(eth(EtherTypeIPv6), ProtoUDP, 40+24+8, 78), 500, 4500),
		"ipv6-full-chain-first-fragment": frag(ports(v6(eth(EtherTypeIPv6), ProtoUDP, 40+32+8+pl, 86), 4789, 4789), true, true),
		"ipv6-nonfirst-fragment":         frag(v6(eth(EtherTypeIPv6), ProtoUDP, 40+8+pl, 0), false, true),
		"ipv6-atomic-fragment":           frag(tcp(v6(eth(EtherTypeIPv6), ProtoTCP, 40+8+20, 62), 80, 8080, 0x004), true, false),
		"ipv6-esp":                       v6(eth(EtherTypeIPv6), ProtoESP, 40+8+10, 0),
		"ipv6-no-next":                   v6(eth(EtherTypeIPv6), ProtoNoNext, 43, 0),
		"ipv6-udplite":                   ports(v6(eth(EtherTypeIPv6), ProtoUDPLite, 48, 54), 3, 4),
		"arp":                            eth(EtherTypeARP),
		"three-tags":                     eth(EtherTypeVLAN, stag(1, 0), ctag(2, 0)),
		"tpid-9100":                      eth(0x9100),
		"llc":                            eth(EtherType802_2),
		"raw-ipx":                        eth(EtherType802_3),
	}
	a := m["arp"]
	a.DstMAC = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	m["arp"] = a
	return m
}

// TestParseGood: every good frame parses without error into exactly the
// Headers written down for it.
func TestParseGood(t *testing.T) {
	want := wantHeaders()
	for _, g := range goodSpecs() {
		t.Run(g.name, func(t *testing.T) {
			w, ok := want[g.name]
			if !ok {
				t.Fatalf("no expected Headers for %q", g.name)
			}
			frame := mustFrame(t, &g.spec)
			var h Headers
			if err := Parse(frame, &h); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if h != w {
				t.Errorf("Parse:\n got %+v\nwant %+v", h, w)
			}
		})
	}
	if len(want) != len(goodSpecs()) {
		t.Errorf("%d expectations for %d frames", len(want), len(goodSpecs()))
	}
}

// TestParseResets: Parse clears what a previous packet left in h.
func TestParseResets(t *testing.T) {
	h := Headers{SrcPort: 1, L4Off: 99, Fragment: true, NumTags: 2, Tags: [2]Tag{{1, 2}, {3, 4}}, ICMPType: 7}
	frame := mustFrame(t, &goodSpecs()[0].spec)
	if err := Parse(frame, &h); err != nil {
		t.Fatal(err)
	}
	if w := wantHeaders()[goodSpecs()[0].name]; h != w {
		t.Errorf("got %+v\nwant %+v", h, w)
	}
	if err := Parse(frame[:10], &h); !errors.Is(err, ErrTruncated) {
		t.Fatalf("Parse(10 bytes) = %v, want ErrTruncated", err)
	}
	if h != (Headers{}) {
		t.Errorf("after a failed Parse h = %+v, want zero", h)
	}
}

// TestParseTruncated cuts every good frame at every length short of the
// end of its IP packet (or of its L2 header for non-IP frames): Parse must
// fail with ErrTruncated, never panic, keep offsets inside the prefix, and
// report only fields that agree with the whole frame's.
func TestParseTruncated(t *testing.T) {
	want := wantHeaders()
	for _, g := range goodSpecs() {
		t.Run(g.name, func(t *testing.T) {
			frame := mustFrame(t, &g.spec)
			full := want[g.name]
			end := int(full.L3Off) + int(full.IPTotalLen)
			for n := 0; n < len(frame); n++ {
				var h Headers
				err := Parse(frame[:n], &h)
				if n < end {
					if !errors.Is(err, ErrTruncated) {
						t.Fatalf("len %d: err %v, want ErrTruncated", n, err)
					}
				} else if err != nil {
					t.Fatalf("len %d (padding cut): %v", n, err)
				}
				checkOffsets(t, frame[:n], &h)
				f := full
				if f.EtherType == EtherType802_3 && n < int(f.L3Off)+2 {
					// eth_type_trans cannot see the 0xFFFF: LLC it is.
					f.EtherType, f.OuterType = EtherType802_2, EtherType802_2
				}
				checkSubset(t, n, &h, &f)
			}
		})
	}
}

// checkOffsets: every offset Parse reports lies inside frame, with the
// header it announces.
func checkOffsets(tb testing.TB, frame []byte, h *Headers) {
	tb.Helper()
	if int(h.L3Off) > len(frame) {
		tb.Fatalf("L3Off %d beyond frame of %d", h.L3Off, len(frame))
	}
	if h.IPVersion != 0 {
		end := int(h.L3Off) + int(h.IPTotalLen)
		if end > len(frame) {
			tb.Fatalf("IP packet [%d, %d) beyond frame of %d", h.L3Off, end, len(frame))
		}
		if h.L4Off != 0 && (h.L4Off < h.L3Off+IPv4MinHeaderLen || int(h.L4Off) > end) {
			tb.Fatalf("L4Off %d outside IP packet [%d, %d)", h.L4Off, h.L3Off, end)
		}
		if h.L4Off != 0 {
			need := map[uint8]int{ProtoTCP: TCPMinHeaderLen, ProtoUDP: UDPHeaderLen, ProtoICMP: ICMPHeaderLen, ProtoICMPv6: ICMPHeaderLen}[h.Proto]
			if int(h.L4Off)+need > end {
				tb.Fatalf("L4 header of proto %d at %d needs %d bytes, packet ends at %d", h.Proto, h.L4Off, need, end)
			}
		}
		if h.Fragment && !h.FirstFragment && (h.L4Off != 0 || h.SrcPort != 0 || h.DstPort != 0) {
			tb.Fatalf("non-first fragment with L4: %+v", h)
		}
	} else if h.L4Off != 0 || h.Proto != 0 {
		tb.Fatalf("L4 without IP: %+v", h)
	}
}

// checkSubset: a prefix reveals nothing that the whole frame contradicts.
func checkSubset(tb testing.TB, n int, h, full *Headers) {
	tb.Helper()
	g := *h
	// Zero in g what full has and g lacks, field group by field group:
	// then g must equal full with the same groups zeroed.
	f := *full
	if g.NumTags < f.NumTags {
		for i := g.NumTags; i < f.NumTags; i++ {
			f.Tags[i] = Tag{}
		}
		f.NumTags = g.NumTags
	}
	if g.L3Off == 0 {
		f.EtherType, f.L3Off = 0, 0
	}
	if g == (Headers{}) {
		f.DstMAC, f.SrcMAC, f.OuterType = [6]byte{}, [6]byte{}, 0
	}
	if g.IPVersion == 0 {
		f.IPVersion, f.Proto, f.TOS, f.TTL, f.SrcIP, f.DstIP = 0, 0, 0, 0, netip.Addr{}, netip.Addr{}
		f.Fragment, f.FirstFragment, f.MoreFragments, f.IPTotalLen = false, false, false, 0
	}
	if g.L4Off == 0 {
		f.L4Off, f.SrcPort, f.DstPort, f.TCPFlags, f.ICMPType, f.ICMPCode = 0, 0, 0, 0, 0, 0
	}
	if g != f {
		tb.Fatalf("len %d: prefix gave\n%+v\nwhole frame\n%+v", n, *h, *full)
	}
}

// TestParseMalformed: frames that are long enough but wrong. Each must
// give the named error kind and layer, and keep the layers before it.
func TestParseMalformed(t *testing.T) {
	udp4 := func() []byte { return mustFrame(t, &goodSpecs()[0].spec) } // IPv4 at 14, UDP at 34
	tcp4 := func() []byte {
		return mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP, Payload: make([]byte, 8)})
	}
	udp6 := func() []byte {
		return mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoUDP, Payload: make([]byte, 8)})
	}
	// ext6 has n destination options headers (8 bytes each) before UDP.
	ext6 := func(n int) []byte {
		ext := make([]IPv6Ext, n)
		for i := range ext {
			ext[i] = IPv6Ext{ProtoDstOpts, padNBody}
		}
		return mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: ext, Proto: ProtoUDP, SrcPort: 1, DstPort: 2})
	}
	// refresh recomputes the IPv4 header checksum after an edit, so the
	// frame is wrong only where the case says.
	refresh := func(b []byte, l3 int) []byte {
		ihl := int(b[l3]&0xf) * 4
		if ihl < 20 {
			ihl = 20
		}
		b[l3+10], b[l3+11] = 0, 0
		c := Checksum(b[l3 : l3+ihl])
		b[l3+10], b[l3+11] = byte(c>>8), byte(c)
		return b
	}
	tests := []struct {
		name    string
		frame   func() []byte
		kind    error
		layer   string
		ipv     uint8 // IPVersion still reported
		hasL3Of bool
	}{
		{"ipv4 version 5", func() []byte { b := udp4(); b[14] = 0x55; return refresh(b, 14) }, ErrBadHeader, "ipv4", 0, true},
		{"ipv4 version 6 under 0x0800", func() []byte { b := udp6(); b[12], b[13] = 0x08, 0x00; return b }, ErrBadHeader, "ipv4", 0, true},
		{"ipv4 IHL 4", func() []byte { b := udp4(); b[14] = 0x44; return refresh(b, 14) }, ErrBadHeader, "ipv4", 0, true},
		{"ipv4 IHL 0", func() []byte { b := udp4(); b[14] = 0x40; return refresh(b, 14) }, ErrBadHeader, "ipv4", 0, true},
		{"ipv4 IHL 15 beyond frame", func() []byte { b := udp4()[:14+40]; b[14] = 0x4f; b[17] = 40; return b }, ErrTruncated, "ipv4", 0, true},
		{"ipv4 total length 19 < IHL", func() []byte { b := udp4(); b[16], b[17] = 0, 19; return refresh(b, 14) }, ErrBadHeader, "ipv4", 0, true},
		{"ipv4 total length 0", func() []byte { b := udp4(); b[16], b[17] = 0, 0; return refresh(b, 14) }, ErrBadHeader, "ipv4", 0, true},
		{"ipv4 total length beyond frame", func() []byte { b := udp4(); b[16], b[17] = 0x05, 0xdc; return refresh(b, 14) }, ErrTruncated, "ipv4", 0, true},
		{"ipv4 total length cuts udp", func() []byte { b := udp4(); b[16], b[17] = 0, 24; return refresh(b, 14) }, ErrTruncated, "udp", 4, true},
		{"tcp data offset 4", func() []byte { b := tcp4(); b[34+12] = 0x40; return b }, ErrBadHeader, "tcp", 4, true},
		{"tcp data offset 0", func() []byte { b := tcp4(); b[34+12] = 0x00; return b }, ErrBadHeader, "tcp", 4, true},
		{"tcp data offset 15 beyond packet", func() []byte { b := tcp4(); b[34+12] = 0xf0; return b }, ErrTruncated, "tcp", 4, true},
		{"ipv6 version 4 under 0x86dd", func() []byte { b := udp6(); b[14] = 0x45; return b }, ErrBadHeader, "ipv6", 0, true},
		{"ipv6 payload length beyond frame", func() []byte { b := udp6(); b[18], b[19] = 0x10, 0; return b }, ErrTruncated, "ipv6", 0, true},
		{"ipv6 payload length cuts udp", func() []byte { b := udp6(); b[18], b[19] = 0, 4; return b }, ErrTruncated, "udp", 6, true},
		{"ipv6 9 extension headers", func() []byte { return ext6(9) }, ErrBadHeader, "ipv6", 0, true},
		{"ipv6 ext length beyond payload", func() []byte { b := ext6(1); b[54+1] = 200; return b }, ErrTruncated, "ipv6", 0, true},
		{"ipv6 AH length beyond payload", func() []byte {
			return mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: []IPv6Ext{{ProtoAH, ahBody[:6]}}, Proto: ProtoUDP})[:54+8+8-1]
		}, ErrTruncated, "ipv6", 0, true},
		{"ipv6 self-referencing hop-by-hop chain", func() []byte {
			b := ext6(1)
			b[20] = ProtoHopOpts
			b[54] = ProtoHopOpts // next header of the HBH is HBH again: bounded by the count, not by the bytes
			b = append(b[:54], append(bytesRepeat([]byte{ProtoHopOpts, 0, 1, 4, 0, 0, 0, 0}, 12), b[62:]...)...)
			b[18], b[19] = 0, byte(len(b)-54)
			return b
		}, ErrBadHeader, "ipv6", 0, true},
		{"icmp 4 bytes", func() []byte {
			return mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: 47, Payload: []byte{3, 1, 0, 0}, MinLen: 60})
		}, ErrTruncated, "icmp", 4, true},
		{"sctp 11 bytes", func() []byte {
			return mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoSCTP, Payload: make([]byte, 11)})
		}, ErrTruncated, "l4", 4, true},
		{"frame of 65536 bytes", func() []byte { b := udp4(); return append(b, make([]byte, 65536-len(b))...) }, ErrBadHeader, "ethernet", 0, false},
		{"second tag cut", func() []byte { return mustFrame(t, &goodSpecs()[2].spec)[:20] }, ErrTruncated, "vlan", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.frame()
			if tt.name == "icmp 4 bytes" { // GRE carrier rewritten to ICMP, the frame padded
				b[23] = ProtoICMP
				refresh(b, 14)
			}
			var h Headers
			err := Parse(b, &h)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("Parse = %v, want kind %v", err, tt.kind)
			}
			var e *Error
			if !errors.As(err, &e) || e.Layer != tt.layer {
				t.Fatalf("Parse = %v, want layer %q", err, tt.layer)
			}
			if h.IPVersion != tt.ipv {
				t.Errorf("IPVersion %d, want %d (layers before the error are kept)", h.IPVersion, tt.ipv)
			}
			if (h.L3Off != 0) != tt.hasL3Of {
				t.Errorf("L3Off %d, want set=%v", h.L3Off, tt.hasL3Of)
			}
			if h.L4Off != 0 || h.SrcPort != 0 || h.TCPFlags != 0 || h.ICMPType != 0 {
				t.Errorf("L4 fields set on a failed L4: %+v", h)
			}
			if len(b) <= MaxFrameLen {
				checkOffsets(t, b, &h)
			}
		})
	}
}

func bytesRepeat(b []byte, n int) []byte {
	out := make([]byte, 0, len(b)*n)
	for range n {
		out = append(out, b...)
	}
	return out
}

// TestParseExtHeaderLimit: a chain of exactly MaxIPv6ExtHeaders parses.
func TestParseExtHeaderLimit(t *testing.T) {
	ext := make([]IPv6Ext, MaxIPv6ExtHeaders)
	for i := range ext {
		ext[i] = IPv6Ext{ProtoDstOpts, padNBody}
	}
	b := mustFrame(t, &FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: ext, Proto: ProtoUDP, SrcPort: 1, DstPort: 2})
	var h Headers
	if err := Parse(b, &h); err != nil {
		t.Fatal(err)
	}
	if want := 14 + 40 + 8*MaxIPv6ExtHeaders; int(h.L4Off) != want || h.DstPort != 2 {
		t.Errorf("L4Off %d DstPort %d, want %d, 2", h.L4Off, h.DstPort, want)
	}
}

// TestPerLayerOffsets: the per-layer parsers refuse an offset outside the
// slice instead of slicing out of range.
func TestPerLayerOffsets(t *testing.T) {
	b := make([]byte, 64)
	for _, off := range []int{-1, 65, 1 << 40} {
		var h Headers
		errs := []error{
			func() error { _, err := ParseIPv4(b, off, &h); return err }(),
			func() error { _, err := ParseIPv6(b, off, &h); return err }(),
			ParseTCP(b, off, &h), ParseUDP(b, off, &h), ParseICMP(b, off, &h),
			ParsePorts(b, off, 4, &h), ParseL4(b, off, 99, &h),
		}
		for i, err := range errs {
			if !errors.Is(err, ErrBadHeader) {
				t.Errorf("offset %d, parser %d: %v, want ErrBadHeader", off, i, err)
			}
		}
		if h != (Headers{}) {
			t.Errorf("offset %d: h changed to %+v", off, h)
		}
	}
}

// TestParseAllocs: Parse allocates nothing, on good frames and on errors.
func TestParseAllocs(t *testing.T) {
	var frames [][]byte
	for _, g := range goodSpecs() {
		f := mustFrame(t, &g.spec)
		frames = append(frames, f, f[:len(f)/2], f[:13])
	}
	var h Headers
	var sink error
	allocs := testing.AllocsPerRun(100, func() {
		for _, f := range frames {
			sink = Parse(f, &h)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse: %v allocations per run of %d frames, want 0", allocs, len(frames))
	}
	_ = sink
}

// TestErrorText: the text names layer, reason and kind.
func TestErrorText(t *testing.T) {
	var h Headers
	err := Parse(make([]byte, 3), &h)
	if got, want := fmt.Sprint(err), "ethernet: frame shorter than 14 bytes: truncated"; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}
