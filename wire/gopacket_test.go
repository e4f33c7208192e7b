package wire

import (
	"bytes"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Cross-checks against gopacket, an independent implementation: what it
// decodes from our frames must agree with Parse, and what it serializes
// (with its own checksum code) must equal AppendFrame's bytes.

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	if a.Is4In6() && len(ip) == net.IPv4len {
		a = a.Unmap()
	}
	return a
}

// TestGopacketDecodeAgrees decodes every good IP frame with gopacket and
// compares the fields both know.
func TestGopacketDecodeAgrees(t *testing.T) {
	for _, g := range goodSpecs() {
		t.Run(g.name, func(t *testing.T) {
			frame := mustFrame(t, &g.spec)
			var h Headers
			if err := Parse(frame, &h); err != nil {
				t.Fatal(err)
			}
			p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.NoCopy)
			eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
			if eth == nil {
				t.Fatalf("gopacket: no Ethernet: %v", p.ErrorLayer())
			}
			// gopacket goes on into application layers (DNS, DHCPv6)
			// and may fail there; it must not fail before.
			if e := p.ErrorLayer(); e != nil && h.IPVersion != 0 && p.NetworkLayer() == nil {
				t.Errorf("gopacket failed on a frame Parse accepted: %v", e.Error())
			}
			switch h.Proto {
			case ProtoTCP, ProtoUDP, ProtoSCTP:
				if h.L4Off != 0 && !h.Fragment && p.TransportLayer() == nil { // gopacket leaves fragments whole
					t.Errorf("gopacket found no transport layer: %v", p)
				}
			}
			if !bytes.Equal(eth.DstMAC, h.DstMAC[:]) || !bytes.Equal(eth.SrcMAC, h.SrcMAC[:]) {
				t.Errorf("MACs: gopacket %v %v, Parse %v %v", eth.DstMAC, eth.SrcMAC, MAC(h.DstMAC), MAC(h.SrcMAC))
			}
			if h.EtherType < EtherTypeMinType || h.OuterType < EtherTypeMinType {
				return // gopacket keeps the 802.3 length; the kernel's pseudo types are ours
			}
			if uint16(eth.EthernetType) != h.OuterType {
				t.Errorf("outer type: gopacket %#04x, Parse %#04x", uint16(eth.EthernetType), h.OuterType)
			}
			var tags []*layers.Dot1Q
			for _, l := range p.Layers() {
				if d, ok := l.(*layers.Dot1Q); ok {
					tags = append(tags, d)
				}
			}
			if len(tags) > MaxTags {
				tags = tags[:MaxTags] // gopacket decodes every tag; Parse stops at two
			}
			if len(tags) != int(h.NumTags) {
				t.Fatalf("tags: gopacket %d, Parse %d", len(tags), h.NumTags)
			}
			for i, d := range tags {
				tg := h.Tags[i]
				if d.VLANIdentifier != tg.VID() || d.Priority != tg.PCP() || d.DropEligible != tg.DEI() {
					t.Errorf("tag %d: gopacket vid %d pcp %d, Parse %d %d", i, d.VLANIdentifier, d.Priority, tg.VID(), tg.PCP())
				}
			}
			if ip, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok && h.NumTags == uint8(len(tags)) && h.EtherType == EtherTypeIPv4 {
				if h.IPVersion != 4 || ip.TOS != h.TOS || ip.TTL != h.TTL || uint8(ip.Protocol) != h.Proto ||
					addrOf(ip.SrcIP) != h.SrcIP || addrOf(ip.DstIP) != h.DstIP || ip.Length != h.IPTotalLen {
					t.Errorf("ipv4: gopacket %+v, Parse %+v", ip, h)
				}
				frag := ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0
				if frag != h.Fragment || (ip.Flags&layers.IPv4MoreFragments != 0) != h.MoreFragments || (frag && (ip.FragOffset == 0) != h.FirstFragment) {
					t.Errorf("ipv4 fragment: gopacket flags %v offset %d, Parse %+v", ip.Flags, ip.FragOffset, h)
				}
			}
			if ip, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
				if h.IPVersion != 6 || ip.TrafficClass != h.TOS || ip.HopLimit != h.TTL ||
					addrOf(ip.SrcIP) != h.SrcIP || addrOf(ip.DstIP) != h.DstIP || ip.Length+IPv6HeaderLen != h.IPTotalLen {
					t.Errorf("ipv6: gopacket %+v, Parse %+v", ip, h)
				}
			}
			if f, ok := p.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
				if !h.Fragment || f.MoreFragments != h.MoreFragments || (f.FragmentOffset == 0) != h.FirstFragment {
					t.Errorf("ipv6 fragment: gopacket %+v, Parse %+v", f, h)
				}
				if f.FragmentOffset != 0 && uint8(f.NextHeader) != h.Proto {
					t.Errorf("ipv6 non-first fragment: gopacket next %d, Parse proto %d", f.NextHeader, h.Proto)
				}
			}
			if l := p.TransportLayer(); l != nil && h.L4Off != 0 {
				switch l := l.(type) {
				case *layers.UDP:
					if uint16(l.SrcPort) != h.SrcPort || uint16(l.DstPort) != h.DstPort {
						t.Errorf("udp: gopacket %d>%d, Parse %d>%d", l.SrcPort, l.DstPort, h.SrcPort, h.DstPort)
					}
				case *layers.TCP:
					flags := map[bool]uint16{true: 1}
					gf := flags[l.FIN] | flags[l.SYN]<<1 | flags[l.RST]<<2 | flags[l.PSH]<<3 | flags[l.ACK]<<4 |
						flags[l.URG]<<5 | flags[l.ECE]<<6 | flags[l.CWR]<<7 | flags[l.NS]<<8
					if uint16(l.SrcPort) != h.SrcPort || uint16(l.DstPort) != h.DstPort || gf != h.TCPFlags {
						t.Errorf("tcp: gopacket %d>%d flags %#x, Parse %d>%d %#x", l.SrcPort, l.DstPort, gf, h.SrcPort, h.DstPort, h.TCPFlags)
					}
					if int(h.L4Off)+int(l.DataOffset)*4 != len(frame)-len(l.Payload) {
						t.Errorf("tcp header length: gopacket %d", l.DataOffset)
					}
				case *layers.SCTP:
					if uint16(l.SrcPort) != h.SrcPort || uint16(l.DstPort) != h.DstPort {
						t.Errorf("sctp: gopacket %d>%d, Parse %d>%d", l.SrcPort, l.DstPort, h.SrcPort, h.DstPort)
					}
				}
			}
			if c, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
				if c.TypeCode.Type() != h.ICMPType || c.TypeCode.Code() != h.ICMPCode {
					t.Errorf("icmp: gopacket %v, Parse %d/%d", c.TypeCode, h.ICMPType, h.ICMPCode)
				}
			}
			if c, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
				if c.TypeCode.Type() != h.ICMPType || c.TypeCode.Code() != h.ICMPCode {
					t.Errorf("icmpv6: gopacket %v, Parse %d/%d", c.TypeCode, h.ICMPType, h.ICMPCode)
				}
			}
		})
	}
}

// TestGopacketSerializeAgrees: AppendFrame writes the same bytes, checksums
// included, as gopacket's serializer for the same headers.
func TestGopacketSerializeAgrees(t *testing.T) {
	payload := []byte("0123456789abcdefXYZ") // odd length: the checksum pads
	mac := func(m MAC) net.HardwareAddr { return net.HardwareAddr(m[:]) }
	ip := func(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }
	eth := func(et layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{DstMAC: mac(macB), SrcMAC: mac(macA), EthernetType: et}
	}
	v4 := func(p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TOS: 0x10, Id: 0x1234, Flags: layers.IPv4DontFragment, TTL: 61, Protocol: p, SrcIP: ip(ip4A), DstIP: ip(ip4B)}
	}
	v6 := func(p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, TrafficClass: 0x20, FlowLabel: 0x12345, NextHeader: p, HopLimit: 9, SrcIP: ip(ip6A), DstIP: ip(ip6B)}
	}
	tests := []struct {
		name string
		spec FrameSpec
		gp   func() []gopacket.SerializableLayer
	}{
		{"ipv4-udp", FrameSpec{Src: macA, Dst: macB, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoUDP, TOS: 0x10, ID: 0x1234, DF: true, TTL: 61, SrcPort: 1111, DstPort: 2222, Payload: payload},
			func() []gopacket.SerializableLayer {
				ipl := v4(layers.IPProtocolUDP)
				u := &layers.UDP{SrcPort: 1111, DstPort: 2222}
				_ = u.SetNetworkLayerForChecksum(ipl)
				return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), ipl, u, gopacket.Payload(payload)}
			}},
		{"qinq-ipv4-options-tcp", FrameSpec{Src: macA, Dst: macB, Tags: []Tag{stag(300, 6), ctag(7, 1)}, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoTCP, TOS: 0x10, ID: 0x1234, DF: true, TTL: 61,
			IPOptions: []byte{0x94, 4, 0, 0},
			SrcPort:   80, DstPort: 33000, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 512, TCPFlags: TCPFlagPSH | TCPFlagACK | TCPFlagNS,
			TCPOptions: []byte{2, 4, 0x05, 0xb4, 3, 3, 7}, Payload: payload},
			func() []gopacket.SerializableLayer {
				ipl := v4(layers.IPProtocolTCP)
				ipl.Options = []layers.IPv4Option{{OptionType: 0x94, OptionLength: 4, OptionData: []byte{0, 0}}}
				tc := &layers.TCP{SrcPort: 80, DstPort: 33000, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 512, PSH: true, ACK: true, NS: true,
					Options: []layers.TCPOption{{OptionType: 2, OptionLength: 4, OptionData: []byte{0x05, 0xb4}}, {OptionType: 3, OptionLength: 3, OptionData: []byte{7}}}}
				_ = tc.SetNetworkLayerForChecksum(ipl)
				return []gopacket.SerializableLayer{eth(layers.EthernetTypeQinQ),
					&layers.Dot1Q{Priority: 6, VLANIdentifier: 300, Type: layers.EthernetTypeDot1Q},
					&layers.Dot1Q{Priority: 1, VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
					ipl, tc, gopacket.Payload(payload)}
			}},
		{"ipv4-icmp-echo", FrameSpec{Src: macA, Dst: macB, SrcIP: ip4A, DstIP: ip4B, Proto: ProtoICMP, TOS: 0x10, ID: 0x1234, DF: true, TTL: 61, ICMPType: ICMPv4EchoRequest, ICMPID: 77, ICMPSeq: 3, Payload: payload},
			func() []gopacket.SerializableLayer {
				return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv4), v4(layers.IPProtocolICMPv4),
					&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 77, Seq: 3}, gopacket.Payload(payload)}
			}},
		{"dot1q-ipv6-udp", FrameSpec{Src: macA, Dst: macB, Tags: []Tag{ctag(42, 2)}, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoUDP, TOS: 0x20, FlowLabel: 0x12345, TTL: 9, SrcPort: 53, DstPort: 5353, Payload: payload},
			func() []gopacket.SerializableLayer {
				ipl := v6(layers.IPProtocolUDP)
				u := &layers.UDP{SrcPort: 53, DstPort: 5353}
				_ = u.SetNetworkLayerForChecksum(ipl)
				return []gopacket.SerializableLayer{eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{Priority: 2, VLANIdentifier: 42, Type: layers.EthernetTypeIPv6}, ipl, u, gopacket.Payload(payload)}
			}},
		{"ipv6-tcp", FrameSpec{Src: macA, Dst: macB, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoTCP, TOS: 0x20, FlowLabel: 0x12345, TTL: 9, SrcPort: 443, DstPort: 50123, Seq: 5, TCPFlags: TCPFlagSYN | TCPFlagECE | TCPFlagCWR, Window: 64240, Payload: payload},
			func() []gopacket.SerializableLayer {
				ipl := v6(layers.IPProtocolTCP)
				tc := &layers.TCP{SrcPort: 443, DstPort: 50123, Seq: 5, SYN: true, ECE: true, CWR: true, Window: 64240}
				_ = tc.SetNetworkLayerForChecksum(ipl)
				return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ipl, tc, gopacket.Payload(payload)}
			}},
		{"ipv6-icmpv6-echo", FrameSpec{Src: macA, Dst: macB, SrcIP: ip6A, DstIP: ip6B, Proto: ProtoICMPv6, TOS: 0x20, FlowLabel: 0x12345, TTL: 9, ICMPType: ICMPv6EchoReply, ICMPID: 0xabcd, ICMPSeq: 0x0102, Payload: payload},
			func() []gopacket.SerializableLayer {
				ipl := v6(layers.IPProtocolICMPv6)
				c := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(129, 0)}
				_ = c.SetNetworkLayerForChecksum(ipl)
				return []gopacket.SerializableLayer{eth(layers.EthernetTypeIPv6), ipl, c, &layers.ICMPv6Echo{Identifier: 0xabcd, SeqNumber: 0x0102}, gopacket.Payload(payload)}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustFrame(t, &tt.spec)
			buf := gopacket.NewSerializeBuffer()
			opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
			if err := gopacket.SerializeLayers(buf, opts, tt.gp()...); err != nil {
				t.Fatal(err)
			}
			if want := buf.Bytes(); !bytes.Equal(got, want) {
				t.Errorf("AppendFrame differs from gopacket:\n got % x\nwant % x", got, want)
			}
		})
	}
}
