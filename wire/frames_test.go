package wire

import (
	"net/netip"
	"testing"
)

// Addresses and frames shared by the tests, fuzz seeds and benchmarks.
var (
	macA = MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}
	macB = MAC{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}
	ip4A = netip.MustParseAddr("192.0.2.1")
	ip4B = netip.MustParseAddr("198.51.100.7")
	ip6A = netip.MustParseAddr("2001:db8::1")
	ip6B = netip.MustParseAddr("2001:db8:ffff::2")

	ctag = func(vid uint16, pcp uint8) Tag { return Tag{TPID: EtherTypeVLAN, TCI: uint16(pcp)<<13 | vid} }
	stag = func(vid uint16, pcp uint8) Tag { return Tag{TPID: EtherTypeQinQ, TCI: uint16(pcp)<<13 | vid} }

	// Bodies of IPv6 extension headers (the bytes after next header and
	// length): PadN to 8 bytes, a type 0-less routing header (type 4,
	// segment routing, segments left 0) and an AH with SPI, sequence and a
	// 12-byte ICV.
	padNBody    = []byte{1, 4, 0, 0, 0, 0}
	routingBody = []byte{4, 0, 0, 0, 0, 0}
	ahBody      = []byte{0, 0, 0, 0, 0x10, 0x01, 0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
)

// mustFrame builds s or fails the test.
func mustFrame(tb testing.TB, s *FrameSpec) []byte {
	tb.Helper()
	b, err := AppendFrame(nil, s)
	if err != nil {
		tb.Fatalf("AppendFrame(%+v): %v", s, err)
	}
	return b
}

// goodSpec is a frame Parse must accept whole.
type goodSpec struct {
	name string
	spec FrameSpec
}

// goodSpecs cover every layer and branch of Parse. The fuzz targets seed
// from them and the truncation test cuts each one at every length.
func goodSpecs() []goodSpec {
	payload := []byte("netyard payload 0123456789")
	return []goodSpec{
		{"ipv4-udp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 5000, DstPort: 53, Payload: payload}},
		{"dot1q-ipv4-udp", FrameSpec{Dst: macB, Src: macA, Tags: []Tag{ctag(100, 5)}, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 5000, DstPort: 53, TOS: 0xb8, TTL: 3, Payload: payload}},
		{"qinq-ipv4-tcp", FrameSpec{Dst: macB, Src: macA, Tags: []Tag{stag(10, 1), ctag(20, 7)}, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: TCPFlagSYN, Payload: payload}},
		{"dot1q-dot1ad-ipv6-udp", FrameSpec{Dst: macB, Src: macA, Tags: []Tag{ctag(4095, 0), stag(0, 3)}, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoUDP, SrcPort: 1, DstPort: 2, Payload: payload}},
		{"ipv4-options-udp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 7, DstPort: 9,
			IPOptions: []byte{0x94, 0x04, 0, 0, 0x01, 0x07, 0x07, 0x04, 0, 0, 0, 0}, // router alert, NOP, record route (1 slot)
			Payload:   payload}},
		{"ipv4-first-fragment", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 123, DstPort: 456, ID: 77, MF: true, Payload: payload}},
		{"ipv4-middle-fragment", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, ID: 77, MF: true, FragOffset: 1480, Payload: payload}},
		{"ipv4-last-fragment", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP, ID: 77, FragOffset: 2960, Payload: payload}},
		{"ipv4-tcp-options-flags", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP, SrcPort: 22, DstPort: 61000,
			TCPFlags: TCPFlagSYN | TCPFlagACK | TCPFlagECE | TCPFlagCWR | TCPFlagNS, Seq: 1, Ack: 2, Window: 65535,
			TCPOptions: []byte{2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7}, // MSS, SACK ok, TS, NOP, WS
		}},
		{"ipv4-icmp-echo", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoICMP, ICMPType: ICMPv4EchoRequest, ICMPID: 9, ICMPSeq: 1, Payload: payload}},
		{"ipv4-icmp-unreach", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoICMP, ICMPType: 3, ICMPCode: 4, ICMPSeq: 1400}},
		{"ipv4-gre", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: 47, Payload: []byte{0, 0, 0x08, 0}}},
		{"ipv4-sctp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoSCTP, Payload: []byte{0x0b, 0x59, 0x0b, 0x5a, 0, 0, 0, 1, 0, 0, 0, 0}}},
		{"ipv4-udp-padded", FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 67, DstPort: 68, MinLen: MinFrameLen}},
		{"ipv6-udp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoUDP, SrcPort: 546, DstPort: 547, TOS: 0x2e << 2, TTL: 255, FlowLabel: 0xabcde, Payload: payload}},
		{"ipv6-tcp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoTCP, SrcPort: 179, DstPort: 50000, TCPFlags: TCPFlagFIN | TCPFlagPSH | TCPFlagACK | TCPFlagURG | TCPFlagRST, Payload: payload}},
		{"ipv6-icmpv6-echo", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoICMPv6, ICMPType: ICMPv6EchoRequest, ICMPID: 1, ICMPSeq: 2, Payload: payload}},
		{"ipv6-hopopts-udp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: []IPv6Ext{{ProtoHopOpts, padNBody}}, Proto: ProtoUDP, SrcPort: 1000, DstPort: 2000, Payload: payload}},
		{"ipv6-routing-tcp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: []IPv6Ext{{ProtoRouting, routingBody}}, Proto: ProtoTCP, SrcPort: 1000, DstPort: 2000, TCPFlags: TCPFlagACK}},
		{"ipv6-dstopts-icmpv6", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: []IPv6Ext{{ProtoDstOpts, make([]byte, 14)}}, Proto: ProtoICMPv6, ICMPType: 1, ICMPCode: 3}},
		{"ipv6-ah-udp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: []IPv6Ext{{ProtoAH, ahBody}}, Proto: ProtoUDP, SrcPort: 500, DstPort: 4500}},
		{"ipv6-full-chain-first-fragment", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B,
			ExtHeaders: []IPv6Ext{{ProtoHopOpts, padNBody}, {ProtoDstOpts, padNBody}, {ProtoRouting, routingBody}},
			MF:         true, ID: 0xdeadbeef, Proto: ProtoUDP, SrcPort: 4789, DstPort: 4789, Payload: payload}},
		{"ipv6-nonfirst-fragment", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, FragOffset: 1232, MF: true, ID: 5, Proto: ProtoUDP, Payload: payload}},
		{"ipv6-atomic-fragment", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Fragment: true, ID: 5, Proto: ProtoTCP, SrcPort: 80, DstPort: 8080, TCPFlags: TCPFlagRST}},
		{"ipv6-esp", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, ExtHeaders: []IPv6Ext{{ProtoDstOpts, padNBody}}, Proto: ProtoESP, Payload: []byte{0, 0, 1, 0, 0, 0, 0, 1, 0xee, 0xee}}},
		{"ipv6-no-next", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoNoNext, Payload: []byte{1, 2, 3}}},
		{"ipv6-udplite", FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoUDPLite, SrcPort: 3, DstPort: 4}},
		{"arp", FrameSpec{Dst: MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: macA, EtherType: EtherTypeARP, Payload: make([]byte, 28), MinLen: MinFrameLen}},
		{"three-tags", FrameSpec{Dst: macB, Src: macA, Tags: []Tag{stag(1, 0), ctag(2, 0), ctag(3, 0)}, EtherType: EtherTypeIPv4, Payload: make([]byte, 20)}},
		{"tpid-9100", FrameSpec{Dst: macB, Src: macA, EtherType: 0x9100, Payload: []byte{0, 5, 0x08, 0}}},
		{"llc", FrameSpec{Dst: macB, Src: macA, EtherType: 46, Payload: []byte{0x42, 0x42, 0x03}, MinLen: MinFrameLen}},
		{"raw-ipx", FrameSpec{Dst: macB, Src: macA, EtherType: 46, Payload: []byte{0xff, 0xff, 0, 30}, MinLen: MinFrameLen}},
	}
}

// benchFrame is the 64-byte 802.1Q/IPv4/UDP frame of the benchmarks.
func benchFrame(tb testing.TB) []byte {
	b := mustFrame(tb, &FrameSpec{
		Dst: macB, Src: macA, Tags: []Tag{ctag(100, 0)},
		SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, SrcPort: 1024, DstPort: 4789,
		Payload: make([]byte, 64-EthHeaderLen-VLANTagLen-IPv4MinHeaderLen-UDPHeaderLen),
	})
	if len(b) != 64 {
		tb.Fatalf("bench frame is %d bytes, want 64", len(b))
	}
	return b
}
