package cls_test

import (
	"net/netip"
	"strings"
	"testing"

	"netyard/cls"
	"netyard/wire"
)

const (
	ethIP   = wire.EtherTypeIPv4
	ethIPv6 = wire.EtherTypeIPv6
	ethQ    = wire.EtherTypeVLAN
	ethAD   = wire.EtherTypeQinQ
	ethAll  = wire.EtherTypeAll
)

// TestFlowerKeys matches one flower filter against one packet per case:
// each key, with and without masks, and packets that lack the key's layer.
// The filter's protocol is checked by Block, not by Match (see
// TestProtocol); here it only decides which keys the filter may have.
func TestFlowerKeys(t *testing.T) {
	frag := func(off uint16) wire.FrameSpec {
		s := udp4()
		s.MF, s.FragOffset, s.ID = true, off, 7
		return s
	}
	icmp4 := wire.FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B, Proto: wire.ProtoICMP, ICMPType: 8}
	icmp6 := wire.FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B, Proto: wire.ProtoICMPv6, ICMPType: 128}
	v6dst := func(a string) wire.FrameSpec {
		s := udp6()
		s.DstIP = netip.MustParseAddr(a)
		return s
	}
	tests := []struct {
		name    string
		proto   uint16
		f       cls.Flower
		pkt     wire.FrameSpec
		ingress int32
		want    bool
	}{
		{"empty flower matches", ethAll, cls.Flower{}, arp(), 0, true},

		{"dst_mac", ethAll, cls.Flower{DstMAC: &cls.MACMask{Addr: macB, Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, udp4(), 0, true},
		{"dst_mac other", ethAll, cls.Flower{DstMAC: &cls.MACMask{Addr: macA, Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, udp4(), 0, false},
		{"dst_mac masked", ethAll, cls.Flower{DstMAC: &cls.MACMask{Addr: [6]byte{0x02, 0, 0, 0x99, 0x99, 0x99}, Mask: [6]byte{0xff, 0xff, 0xff}}}, udp4(), 0, true},
		{"src_mac", ethAll, cls.Flower{SrcMAC: &cls.MACMask{Addr: macA, Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, udp4(), 0, true},
		{"src_mac other", ethAll, cls.Flower{SrcMAC: &cls.MACMask{Addr: macB, Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}}, udp4(), 0, false},

		{"ip_proto udp", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP)}, udp4(), 0, true},
		{"ip_proto tcp on udp", ethIP, cls.Flower{IPProto: ptr(wire.ProtoTCP)}, udp4(), 0, false},
		{"ip_proto 0 on arp", ethIP, cls.Flower{IPProto: ptr(uint8(0))}, arp(), 0, false},

		{"src_ip /32", ethIP, cls.Flower{SrcIP: prefix("192.0.2.1/32")}, udp4(), 0, true},
		{"src_ip /24", ethIP, cls.Flower{SrcIP: prefix("192.0.2.0/24")}, udp4(), 0, true},
		{"src_ip other /24", ethIP, cls.Flower{SrcIP: prefix("192.0.3.0/24")}, udp4(), 0, false},
		{"dst_ip /0 on ipv4", ethIP, cls.Flower{DstIP: prefix("0.0.0.0/0")}, udp4(), 0, true},
		{"dst_ip /0 on arp", ethIP, cls.Flower{DstIP: prefix("0.0.0.0/0")}, arp(), 0, false},
		{"dst_ip /0 v4 on ipv6", ethIP, cls.Flower{DstIP: prefix("0.0.0.0/0")}, udp6(), 0, false},
		{"dst_ip not normalised", ethIP, cls.Flower{DstIP: prefix("198.51.100.99/24")}, udp4(), 0, true},

		{"v6 src /128", ethIPv6, cls.Flower{SrcIP: prefix("2001:db8::1/128")}, udp6(), 0, true},
		{"v6 src /32", ethIPv6, cls.Flower{SrcIP: prefix("2001:db8::/32")}, udp6(), 0, true},
		{"v6 src other /32", ethIPv6, cls.Flower{SrcIP: prefix("2001:db9::/32")}, udp6(), 0, false},
		{"v6 dst /100 across words", ethIPv6, cls.Flower{DstIP: prefix("2001:db8::1:2:0:0/100")}, udp6(), 0, true},
		{"v6 dst /100 differs in bit 97", ethIPv6, cls.Flower{DstIP: prefix("2001:db8::1:2:0:0/100")}, v6dst("2001:db8::1:2:8003:4"), 0, false},
		{"v6 dst /100 differs after bit 100", ethIPv6, cls.Flower{DstIP: prefix("2001:db8::1:2:0:0/100")}, v6dst("2001:db8::1:2:0fff:ffff"), 0, true},
		{"v6 ::/0 on ipv4", ethIPv6, cls.Flower{DstIP: prefix("::/0")}, udp4(), 0, false},

		{"dst_port", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}}, udp4(), 0, true},
		{"dst_port other", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 54, Max: 54}}, udp4(), 0, false},
		{"dst_port range", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 50, Max: 60}}, udp4(), 0, true},
		{"dst_port range edge", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 60}}, udp4(), 0, true},
		{"dst_port range above", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 54, Max: 60}}, udp4(), 0, false},
		{"src_port range and dst_port", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), SrcPort: &cls.PortRange{Min: 1024, Max: 65535}, DstPort: &cls.PortRange{Min: 53, Max: 53}}, udp4(), 0, true},
		{"src_port range below", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), SrcPort: &cls.PortRange{Min: 4001, Max: 65535}}, udp4(), 0, false},
		{"v6 dst_port", ethIPv6, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}}, udp6(), 0, true},
		{"dst_port on a non-first fragment", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 0, Max: 65535}}, frag(8), 0, false},
		{"dst_port on a first fragment", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}}, frag(0), 0, false},
		{"ip_proto on a non-first fragment", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP)}, frag(8), 0, true},

		{"frag on a whole packet", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: cls.FlagIsFragment, Mask: cls.FlagIsFragment}}, udp4(), 0, false},
		{"frag on a fragment", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: cls.FlagIsFragment, Mask: cls.FlagIsFragment}}, frag(8), 0, true},
		{"nofrag on a whole packet", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: 0, Mask: cls.FlagIsFragment}}, udp4(), 0, true},
		{"firstfrag on a first fragment", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: cls.FlagFragIsFirst, Mask: cls.FlagFragIsFirst}}, frag(0), 0, true},
		{"firstfrag on a later fragment", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: cls.FlagFragIsFirst, Mask: cls.FlagFragIsFirst}}, frag(16), 0, false},
		{"frag,nofirstfrag on a later fragment", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: cls.FlagIsFragment, Mask: cls.FlagIsFragment | cls.FlagFragIsFirst}}, frag(16), 0, true},
		{"nofirstfrag on a whole packet", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: 0, Mask: cls.FlagFragIsFirst}}, udp4(), 0, true},

		{"ip_tos masked", ethIP, cls.Flower{TOS: &cls.Masked[uint8]{Value: 0x10, Mask: 0xfc}}, udp4(), 0, true},
		{"ip_tos exact other", ethIP, cls.Flower{TOS: &cls.Masked[uint8]{Value: 0x10, Mask: 0xff}}, udp4(), 0, false},
		{"ip_tos on ipv6 traffic class", ethIPv6, cls.Flower{TOS: &cls.Masked[uint8]{Value: 0xb8, Mask: 0xfc}}, udp6(), 0, true},
		{"ip_tos 0 on arp", ethIP, cls.Flower{TOS: &cls.Masked[uint8]{Value: 0, Mask: 0xff}}, arp(), 0, false},
		{"ip_ttl", ethIP, cls.Flower{TTL: &cls.Masked[uint8]{Value: 64, Mask: 0xff}}, udp4(), 0, true},
		{"ip_ttl other", ethIP, cls.Flower{TTL: &cls.Masked[uint8]{Value: 63, Mask: 0xff}}, udp4(), 0, false},

		{"tcp_flags syn set", ethIP, cls.Flower{IPProto: ptr(wire.ProtoTCP), TCPFlags: &cls.Masked[uint16]{Value: 0x02, Mask: 0x02}}, tcp4(0x12), 0, true},
		{"tcp_flags ack without syn", ethIP, cls.Flower{IPProto: ptr(wire.ProtoTCP), TCPFlags: &cls.Masked[uint16]{Value: 0x10, Mask: 0x12}}, tcp4(0x12), 0, false},
		{"tcp_flags exact", ethIP, cls.Flower{IPProto: ptr(wire.ProtoTCP), TCPFlags: &cls.Masked[uint16]{Value: 0x12, Mask: 0xfff}}, tcp4(0x12), 0, true},

		{"icmp type", ethIP, cls.Flower{IPProto: ptr(wire.ProtoICMP), ICMPType: ptr(uint8(8)), ICMPCode: ptr(uint8(0))}, icmp4, 0, true},
		{"icmp other type", ethIP, cls.Flower{IPProto: ptr(wire.ProtoICMP), ICMPType: ptr(uint8(0))}, icmp4, 0, false},
		{"icmp code other", ethIP, cls.Flower{IPProto: ptr(wire.ProtoICMP), ICMPCode: ptr(uint8(1))}, icmp4, 0, false},
		{"icmpv6 type", ethIPv6, cls.Flower{IPProto: ptr(wire.ProtoICMPv6), ICMPType: ptr(uint8(128))}, icmp6, 0, true},
		{"icmp type 0 on udp", ethIP, cls.Flower{IPProto: ptr(wire.ProtoICMP), ICMPType: ptr(uint8(0))}, udp4(), 0, false},

		{"vlan_id", ethQ, cls.Flower{VlanID: ptr(uint16(10))}, udp4(c8100(10, 3)), 0, true},
		{"vlan_id other", ethQ, cls.Flower{VlanID: ptr(uint16(11))}, udp4(c8100(10, 3)), 0, false},
		{"vlan_prio", ethQ, cls.Flower{VlanID: ptr(uint16(10)), VlanPrio: ptr(uint8(3))}, udp4(c8100(10, 3)), 0, true},
		{"vlan_prio other", ethQ, cls.Flower{VlanPrio: ptr(uint8(4))}, udp4(c8100(10, 3)), 0, false},
		{"vlan_id on untagged", ethQ, cls.Flower{VlanID: ptr(uint16(0))}, udp4(), 0, false},
		{"vlan keys need the protocol's tpid", ethQ, cls.Flower{VlanID: ptr(uint16(10))}, udp4(s88a8(10, 0)), 0, false},
		{"vlan_ethtype", ethQ, cls.Flower{VlanEthType: ptr(ethIP)}, udp4(c8100(10, 0)), 0, true},
		{"vlan_ethtype is the type after the outer tag", ethAD, cls.Flower{VlanEthType: ptr(ethIP)}, udp4(s88a8(100, 0), c8100(10, 0)), 0, false},
		{"ip keys under vlan_ethtype", ethQ, cls.Flower{VlanEthType: ptr(ethIP), IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}}, udp4(c8100(10, 0)), 0, true},
		{"cvlan_id", ethAD, cls.Flower{VlanID: ptr(uint16(100)), VlanEthType: ptr(ethQ), CVlanID: ptr(uint16(10))}, udp4(s88a8(100, 0), c8100(10, 2)), 0, true},
		{"cvlan_id other", ethAD, cls.Flower{VlanEthType: ptr(ethQ), CVlanID: ptr(uint16(11))}, udp4(s88a8(100, 0), c8100(10, 2)), 0, false},
		{"cvlan_prio", ethAD, cls.Flower{VlanEthType: ptr(ethQ), CVlanPrio: ptr(uint8(2))}, udp4(s88a8(100, 0), c8100(10, 2)), 0, true},
		{"cvlan on a single tag", ethAD, cls.Flower{VlanEthType: ptr(ethQ), CVlanID: ptr(uint16(0))}, udp4(s88a8(100, 0)), 0, false},
		{"cvlan_ethtype and ip keys", ethAD, cls.Flower{VlanEthType: ptr(ethQ), CVlanEthType: ptr(ethIP), DstIP: prefix("198.51.100.0/24")}, udp4(s88a8(100, 0), c8100(10, 2)), 0, true},
		{"cvlan_ethtype other", ethAD, cls.Flower{VlanEthType: ptr(ethQ), CVlanEthType: ptr(ethIPv6)}, udp4(s88a8(100, 0), c8100(10, 2)), 0, false},

		{"indev", ethAll, cls.Flower{Indev: "eth1"}, udp4(), 2, true},
		{"indev other", ethAll, cls.Flower{Indev: "eth1"}, udp4(), 1, false},
		{"indev on a local packet", ethAll, cls.Flower{Indev: "eth1"}, udp4(), 0, false},
	}
	pool := leakPool(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := cls.NewClassifier(&tt.f, tt.proto, &env{})
			if err != nil {
				t.Fatalf("NewClassifier: %v", err)
			}
			p := packet(t, pool, tt.pkt)
			defer p.Release()
			p.Ingress = tt.ingress
			if got := c.Match(p); got != tt.want {
				t.Errorf("Match = %v, want %v (headers %+v)", got, tt.want, p.Hdr)
			}
		})
	}
}

// TestMatchall: matchall matches whatever it is shown.
func TestMatchall(t *testing.T) {
	pool := leakPool(t)
	c, err := cls.NewClassifier(&cls.Matchall{}, ethAll, &env{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []wire.FrameSpec{arp(), udp4(), udp6(), udp4(c8100(1, 1))} {
		p := packet(t, pool, s)
		if !c.Match(p) {
			t.Errorf("matchall did not match %+v", p.Hdr)
		}
		p.Release()
	}
}

// TestFlowerErrors: keys that cannot be present under the filter's
// protocol are refused, as tc refuses them, with what to fix.
func TestFlowerErrors(t *testing.T) {
	tests := []struct {
		name  string
		proto uint16
		f     cls.Flower
		want  string
	}{
		{"vlan_id under ip", ethIP, cls.Flower{VlanID: ptr(uint16(1))}, "vlan_id needs protocol 802.1Q or 802.1ad"},
		{"vlan_id 4096", ethQ, cls.Flower{VlanID: ptr(uint16(4096))}, "vlan_id 4096: must be 0..4095"},
		{"vlan_prio 8", ethQ, cls.Flower{VlanPrio: ptr(uint8(8))}, "vlan_prio 8: must be 0..7"},
		{"cvlan without inner tpid", ethQ, cls.Flower{VlanEthType: ptr(ethIP), CVlanID: ptr(uint16(1))}, "cvlan_* keys need vlan_ethtype"},
		{"ip_proto under all", ethAll, cls.Flower{IPProto: ptr(wire.ProtoUDP)}, "ip_proto needs protocol ip or ipv6"},
		{"ip_tos under arp", wire.EtherTypeARP, cls.Flower{TOS: &cls.Masked[uint8]{Value: 1, Mask: 1}}, "ip_tos needs"},
		{"ip_ttl under 802.1Q", ethQ, cls.Flower{TTL: &cls.Masked[uint8]{Value: 1, Mask: 1}}, "ip_ttl needs"},
		{"ipv6 address under ip", ethIP, cls.Flower{DstIP: prefix("2001:db8::/32")}, "an IPv6 address needs protocol ipv6"},
		{"ipv4 address under ipv6", ethIPv6, cls.Flower{SrcIP: prefix("10.0.0.0/8")}, "an IPv4 address needs protocol ip"},
		{"invalid prefix", ethIP, cls.Flower{SrcIP: new(netip.Prefix)}, "not a valid prefix"},
		{"port without ip_proto", ethIP, cls.Flower{DstPort: &cls.PortRange{Min: 1, Max: 1}}, "dst_port needs ip_proto tcp, udp or sctp"},
		{"port under icmp", ethIP, cls.Flower{IPProto: ptr(wire.ProtoICMP), SrcPort: &cls.PortRange{Min: 1, Max: 1}}, "src_port needs ip_proto"},
		{"port range reversed", ethIP, cls.Flower{IPProto: ptr(wire.ProtoTCP), DstPort: &cls.PortRange{Min: 9, Max: 1}}, "dst_port 9-1"},
		{"tcp_flags under udp", ethIP, cls.Flower{IPProto: ptr(wire.ProtoUDP), TCPFlags: &cls.Masked[uint16]{Value: 2, Mask: 2}}, "tcp_flags needs ip_proto tcp"},
		{"icmp under tcp", ethIP, cls.Flower{IPProto: ptr(wire.ProtoTCP), ICMPType: ptr(uint8(8))}, "icmp type/code need"},
		{"icmpv6 under ip", ethIP, cls.Flower{IPProto: ptr(wire.ProtoICMPv6), ICMPType: ptr(uint8(128))}, "icmp type/code need"},
		{"ip_flags unknown bit", ethIP, cls.Flower{IPFlags: &cls.Masked[uint32]{Value: 4, Mask: 4}}, "only frag"},
		{"indev unknown", ethAll, cls.Flower{Indev: "wlan0"}, `indev "wlan0": no such device`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cls.NewClassifier(&tt.f, tt.proto, &env{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewClassifier error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
