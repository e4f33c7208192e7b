package wire

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// BenchmarkParseVsGopacket decodes the same 64-byte 802.1Q/IPv4/UDP frame
// with Parse and with gopacket's DecodingLayerParser set up for its fastest
// path (preallocated layers and decoded slice, IgnoreUnsupported), so the
// two figures compare the parsers, not allocation. bench/parse.sh runs it
// and prints the ratio.
func BenchmarkParseVsGopacket(b *testing.B) {
	frame := benchFrame(b)
	b.Run("netyard", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(frame)))
		var h Headers
		for b.Loop() {
			if err := Parse(frame, &h); err != nil {
				b.Fatal(err)
			}
		}
		if h.DstPort != 4789 {
			b.Fatalf("DstPort %d", h.DstPort)
		}
	})
	b.Run("gopacket", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(frame)))
		var (
			eth   layers.Ethernet
			dot1q layers.Dot1Q
			ip4   layers.IPv4
			udp   layers.UDP
		)
		p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &eth, &dot1q, &ip4, &udp)
		p.IgnoreUnsupported = true
		decoded := make([]gopacket.LayerType, 0, 8)
		for b.Loop() {
			if err := p.DecodeLayers(frame, &decoded); err != nil {
				b.Fatal(err)
			}
		}
		if udp.DstPort != 4789 || len(decoded) != 4 {
			b.Fatalf("DstPort %d, %d layers", udp.DstPort, len(decoded))
		}
	})
}

// BenchmarkParse runs Parse over every good frame kind, for a figure that
// includes IPv6 extension headers and TCP.
func BenchmarkParse(b *testing.B) {
	var frames [][]byte
	for _, g := range goodSpecs() {
		frames = append(frames, mustFrame(b, &g.spec))
	}
	b.ReportAllocs()
	var h Headers
	for b.Loop() {
		for _, f := range frames {
			_ = Parse(f, &h)
		}
	}
}

// BenchmarkAppendFrame builds the benchmark frame into a reused buffer.
func BenchmarkAppendFrame(b *testing.B) {
	s := FrameSpec{
		Dst: macB, Src: macA, Tags: []Tag{ctag(100, 0)},
		SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 1024, DstPort: 4789,
		Payload: make([]byte, 18),
	}
	buf := make([]byte, 0, 128)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendFrame(buf[:0], &s); err != nil {
			b.Fatal(err)
		}
	}
}
