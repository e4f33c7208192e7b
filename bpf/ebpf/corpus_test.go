package ebpf

import (
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// corpusPacket is one frame of the differential tests' corpus.
type corpusPacket struct {
	name string
	data []byte
}

func serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ls...); err != nil {
		panic(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// corpus is the packet corpus of the differential tests: well-formed IPv4
// and IPv6 TCP and UDP with several DSCPs and flows, VLAN and QinQ tags,
// IPv4 options and fragments, IPv6 extension headers and fragments,
// non-IP, broadcast and multicast, and truncations of them.
func corpus() []corpusPacket {
	dst := net.HardwareAddr{0, 0, 0, 0, 0, 0} // lo's address: PACKET_HOST in the kernel too
	src := net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: t}
	}
	ip4 := func(tos uint8, proto layers.IPProtocol, a, b byte) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TOS: tos, TTL: 64, Protocol: proto, Id: 7,
			SrcIP: net.IPv4(10, 0, 0, a), DstIP: net.IPv4(10, 0, 1, b)}
	}
	ip6 := func(tc uint8, nh layers.IPProtocol, a byte) *layers.IPv6 {
		return &layers.IPv6{Version: 6, TrafficClass: tc, NextHeader: nh, HopLimit: 64,
			SrcIP: net.ParseIP("2001:db8::1").To16(), DstIP: append(net.ParseIP("2001:db8::").To16()[:15:15], a)}
	}
	payload := gopacket.Payload([]byte("netyard differential payload...."))
	var out []corpusPacket
	add := func(name string, b []byte) { out = append(out, corpusPacket{name, b}) }

	for i, tos := range []uint8{0, 0x2e << 2, 0x0a << 2, 0x30 << 2, 0xb8} {
		v4 := ip4(tos, layers.IPProtocolTCP, byte(1+i%2), 2)
		tcp := &layers.TCP{SrcPort: layers.TCPPort(1000 + i%2), DstPort: 80, Seq: 1, SYN: true, Window: 1000}
		_ = tcp.SetNetworkLayerForChecksum(v4)
		add("ipv4-tcp", serialize(eth(layers.EthernetTypeIPv4), v4, tcp, payload))
		v4u := ip4(tos, layers.IPProtocolUDP, 3, byte(4+i%2))
		udp := &layers.UDP{SrcPort: 5353, DstPort: layers.UDPPort(53 + i%2)}
		_ = udp.SetNetworkLayerForChecksum(v4u)
		add("ipv4-udp", serialize(eth(layers.EthernetTypeIPv4), v4u, udp, payload))
		v6 := ip6(tos, layers.IPProtocolTCP, byte(1+i%2))
		tcp6 := &layers.TCP{SrcPort: 2000, DstPort: 443, ACK: true, Window: 500}
		_ = tcp6.SetNetworkLayerForChecksum(v6)
		add("ipv6-tcp", serialize(eth(layers.EthernetTypeIPv6), v6, tcp6, payload))
	}
	{
		v6 := ip6(0x20, layers.IPProtocolUDP, 9)
		udp := &layers.UDP{SrcPort: 7, DstPort: 9}
		_ = udp.SetNetworkLayerForChecksum(v6)
		add("ipv6-udp", serialize(eth(layers.EthernetTypeIPv6), v6, udp, payload))
	}
	// VLAN and QinQ
	for _, pcp := range []uint8{0, 5} {
		v4 := ip4(0x68, layers.IPProtocolUDP, 5, 6)
		udp := &layers.UDP{SrcPort: 1111, DstPort: 2222}
		_ = udp.SetNetworkLayerForChecksum(v4)
		add("vlan-ipv4-udp", serialize(eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{Priority: pcp, VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, v4, udp, payload))
	}
	{
		v6 := ip6(0xa0, layers.IPProtocolTCP, 7)
		tcp := &layers.TCP{SrcPort: 3333, DstPort: 22, ACK: true}
		_ = tcp.SetNetworkLayerForChecksum(v6)
		add("vlan-ipv6-tcp", serialize(eth(layers.EthernetTypeDot1Q),
			&layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv6}, v6, tcp, payload))
		v4 := ip4(0x10, layers.IPProtocolTCP, 8, 9)
		tcp4 := &layers.TCP{SrcPort: 4444, DstPort: 25}
		_ = tcp4.SetNetworkLayerForChecksum(v4)
		add("qinq-ipv4-tcp", serialize(eth(layers.EthernetTypeQinQ),
			&layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv4}, v4, tcp4, payload))
	}
	// IPv4 options, fragments
	{
		v4 := ip4(0, layers.IPProtocolUDP, 11, 12)
		v4.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}}
		udp := &layers.UDP{SrcPort: 99, DstPort: 100}
		_ = udp.SetNetworkLayerForChecksum(v4)
		add("ipv4-options-udp", serialize(eth(layers.EthernetTypeIPv4), v4, udp, payload))
		f := ip4(0, layers.IPProtocolUDP, 11, 12)
		f.Flags = layers.IPv4MoreFragments
		f.FragOffset = 0
		fu := &layers.UDP{SrcPort: 1, DstPort: 2}
		_ = fu.SetNetworkLayerForChecksum(f)
		add("ipv4-first-fragment", serialize(eth(layers.EthernetTypeIPv4), f, fu, payload))
		g := ip4(0, layers.IPProtocolUDP, 11, 12)
		g.FragOffset = 100
		add("ipv4-later-fragment", serialize(eth(layers.EthernetTypeIPv4), g, payload))
	}
	// IPv6 extension headers and fragments
	{
		v6 := ip6(0, layers.IPProtocolIPv6HopByHop, 20)
		hbh := &layers.IPv6HopByHop{}
		hbh.NextHeader = layers.IPProtocolIPv6Destination
		hbh.Options = []*layers.IPv6HopByHopOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		dopt := &layers.IPv6Destination{}
		dopt.NextHeader = layers.IPProtocolUDP
		dopt.Options = []*layers.IPv6DestinationOption{{OptionType: 1, OptionLength: 4, OptionData: []byte{0, 0, 0, 0}}}
		udp := &layers.UDP{SrcPort: 123, DstPort: 321}
		_ = udp.SetNetworkLayerForChecksum(v6)
		add("ipv6-exthdrs-udp", serialize(eth(layers.EthernetTypeIPv6), v6, hbh, dopt, udp, payload))
		for _, off := range []uint16{0, 185} {
			f6 := ip6(0, layers.IPProtocolIPv6Fragment, 21)
			fr := []byte{byte(layers.IPProtocolUDP), 0, byte(off >> 5), byte(off<<3) | 1, 0, 0, 0, 42}
			b := serialize(eth(layers.EthernetTypeIPv6), f6, gopacket.Payload(append(fr, []byte{0, 1, 0, 2, 0, 40, 0, 0}...)), payload)
			add("ipv6-fragment", b)
		}
	}
	// not IP; broadcast, multicast
	add("arp", serialize(&layers.Ethernet{SrcMAC: src, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP},
		&layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
			Operation: 1, SourceHwAddress: src, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}}))
	{
		v4 := ip4(0, layers.IPProtocolUDP, 1, 255)
		udp := &layers.UDP{SrcPort: 68, DstPort: 67}
		_ = udp.SetNetworkLayerForChecksum(v4)
		e := eth(layers.EthernetTypeIPv4)
		e.DstMAC = net.HardwareAddr{0x01, 0x00, 0x5e, 0, 0, 1}
		add("multicast-ipv4-udp", serialize(e, v4, udp, payload))
	}
	// truncations (longer than an Ethernet header: shorter frames never reach a hook, and BPF_PROG_TEST_RUN refuses them)
	base := append([]corpusPacket(nil), out...)
	for _, p := range []int{0, 3, 5, 14, 16, 19} {
		if p >= len(base) {
			continue
		}
		for _, cut := range []int{15, 18, 30, 34, 38, 54, 58} {
			if cut < len(base[p].data) {
				add(base[p].name+"-truncated", append([]byte(nil), base[p].data[:cut]...))
			}
		}
	}
	return out
}
