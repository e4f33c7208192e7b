package tcsyntax

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
	"netyard/wire"
)

func ptr[T any](v T) *T { return &v }

func pfx(s string) *netip.Prefix {
	p := netip.MustParsePrefix(s)
	return &p
}

// flowerCmd is "tc filter add dev eth0 ingress protocol P flower ..." with
// the flower keys and actions given.
func flowerCmd(proto uint16, fl *cls.Flower, acts ...act.Spec) *Command {
	return &Command{Object: ObjFilter, Verb: VerbAdd, Mode: ModeAdd, Filter: &cls.Filter{
		Dev: "eth0", Parent: cls.ParentIngress, Protocol: proto, Classifier: fl, Actions: acts,
	}}
}

func mirredRedirect(dev string) *act.Mirred {
	return &act.Mirred{C: act.Common{Control: act.Stolen}, Dev: dev}
}

// goodCommands are accepted command lines and what they parse into. Each
// case names the property it checks. They also seed FuzzParse and the
// round-trip test.
var goodCommands = []struct {
	name string
	line string
	want *Command
}{
	// qdisc
	{"pfifo with limit", "qdisc add dev eth0 root handle 1: pfifo limit 100",
		&Command{Object: ObjQdisc, Verb: VerbAdd, Mode: ModeAdd, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Handle: 0x10000, Params: fifo.Pfifo{Limit: 100}}}},
	{"abbreviated keywords", "qd a dev eth0 root pfifo",
		&Command{Object: ObjQdisc, Verb: VerbAdd, Mode: ModeAdd, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Params: fifo.Pfifo{}}}},
	{"bfifo limit is a size", "qdisc replace dev eth0 parent 1:2 bfifo limit 10kb",
		&Command{Object: ObjQdisc, Verb: VerbReplace, Mode: ModeReplace, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: 0x10002, Params: fifo.Bfifo{Limit: 10240}}}},
	{"pfifo limit read with get_size", "qdisc change dev eth0 root pfifo limit 1k",
		&Command{Object: ObjQdisc, Verb: VerbChange, Mode: ModeChange, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Params: fifo.Pfifo{Limit: 1024}}}},
	{"clsact names parent and kind", "qdisc add dev eth0 clsact",
		&Command{Object: ObjQdisc, Verb: VerbAdd, Mode: ModeAdd, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleIngress, Handle: HandleClsact, Params: qdisc.Clsact{}}}},
	{"ingress accepts its handle", "qdisc add dev eth0 ingress handle ffff:",
		&Command{Object: ObjQdisc, Verb: VerbAdd, Mode: ModeAdd, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleIngress, Handle: HandleClsact, Params: qdisc.Ingress{}}}},
	{"delete without kind", "qdisc del dev eth0 root",
		&Command{Object: ObjQdisc, Verb: VerbDelete, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot}}},
	{"delete clsact", "qdisc delete dev eth0 clsact",
		&Command{Object: ObjQdisc, Verb: VerbDelete, Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleIngress, Handle: HandleClsact, Params: qdisc.Clsact{}}}},
	{"show all", "qdisc show", &Command{Object: ObjQdisc, Verb: VerbShow}},
	{"bare object lists", "qdisc", &Command{Object: ObjQdisc, Verb: VerbShow}},
	{"ls reaches lst", "qdisc ls dev eth0", &Command{Object: ObjQdisc, Verb: VerbShow, Select: Selector{Dev: "eth0"}}},
	{"show ingress only", "qdisc sh dev eth0 ingress",
		&Command{Object: ObjQdisc, Verb: VerbShow, Select: Selector{Dev: "eth0", Parent: qdisc.HandleIngress, HasParent: true}}},
	{"class show", "class show dev eth0 parent 1: classid 1:3",
		&Command{Object: ObjClass, Verb: VerbShow, Select: Selector{Dev: "eth0", Parent: 0x10000, HasParent: true, Handle: 0x10003, HasHandle: true}}},

	// filter + flower
	{"flower mirred, protocol ip", "filter add dev eth0 ingress protocol ip pref 10 flower dst_ip 10.1.2.3/8 ip_proto tcp dst_port 80 action mirred egress redirect dev eth1",
		withPrio(10, flowerCmd(wire.EtherTypeIPv4, &cls.Flower{DstIP: pfx("10.0.0.0/8"), IPProto: ptr(wire.ProtoTCP), DstPort: &cls.PortRange{Min: 80, Max: 80}}, mirredRedirect("eth1")))},
	{"protocol defaults to all", "filter add dev eth0 ingress flower skip_hw action drop",
		withSkipHW(flowerCmd(wire.EtherTypeAll, &cls.Flower{}, &act.Gact{C: act.Common{Control: act.Shot}}))},
	{"port range and udp by prefix", "filter add dev eth0 ingress protocol ipv6 flower ip_proto u src_port 1000-2000 dst_ip 2001:db8::/32",
		flowerCmd(wire.EtherTypeIPv6, &cls.Flower{IPProto: ptr(wire.ProtoUDP), SrcPort: &cls.PortRange{Min: 1000, Max: 2000}, DstIP: pfx("2001:db8::/32")})},
	{"ip_proto number is hex", "filter add dev eth0 ingress protocol ip flower ip_proto 11 dst_port 53",
		flowerCmd(wire.EtherTypeIPv4, &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}})},
	{"sctp ports", "filter add dev eth0 ingress protocol ip flower ip_proto sctp dst_port 9",
		flowerCmd(wire.EtherTypeIPv4, &cls.Flower{IPProto: ptr(ipProtoSCTP), DstPort: &cls.PortRange{Min: 9, Max: 9}})},
	{"vlan keys under 802.1Q", "filter add dev eth0 ingress protocol 802.1q flower vlan_id 5 vlan_prio 3 vlan_ethtype ipv4 src_ip 192.168.1.1",
		flowerCmd(wire.EtherTypeVLAN, &cls.Flower{VlanID: ptr[uint16](5), VlanPrio: ptr[uint8](3), VlanEthType: ptr(wire.EtherTypeIPv4), SrcIP: pfx("192.168.1.1/32")})},
	{"cvlan keys under 802.1ad", "filter add dev eth0 ingress protocol 802.1ad flower vlan_id 100 vlan_ethtype 802.1Q cvlan_id 200 cvlan_prio 1 cvlan_ethtype ip ip_proto icmp type 8 code 0",
		flowerCmd(wire.EtherTypeQinQ, &cls.Flower{VlanID: ptr[uint16](100), VlanEthType: ptr(wire.EtherTypeVLAN), CVlanID: ptr[uint16](200), CVlanPrio: ptr[uint8](1),
			CVlanEthType: ptr(wire.EtherTypeIPv4), IPProto: ptr(wire.ProtoICMP), ICMPType: ptr[uint8](8), ICMPCode: ptr[uint8](0)})},
	{"icmpv6 under ipv6", "filter add dev eth0 ingress protocol ipv6 flower ip_proto icmpv6 type 135",
		flowerCmd(wire.EtherTypeIPv6, &cls.Flower{IPProto: ptr(wire.ProtoICMPv6), ICMPType: ptr[uint8](135)})},
	{"macs with masks", "filter add dev eth0 ingress flower dst_mac 01:00:5e:00:00:00/25 src_mac aa:bb:cc:dd:ee:ff/ff:ff:ff:00:00:00 indev eth2",
		flowerCmd(wire.EtherTypeAll, &cls.Flower{Indev: "eth2",
			DstMAC: &cls.MACMask{Addr: [6]byte{1, 0, 0x5e, 0, 0, 0}, Mask: [6]byte{0xff, 0xff, 0xff, 0x80, 0, 0}},
			SrcMAC: &cls.MACMask{Addr: [6]byte{0xaa, 0xbb, 0xcc, 0, 0, 0}, Mask: [6]byte{0xff, 0xff, 0xff, 0, 0, 0}}})},
	{"tos ttl tcp_flags ip_flags", "filter add dev eth0 ingress protocol ip flower ip_tos 0x10/0xfc ip_ttl 64 ip_proto tcp tcp_flags 0x2/0x12 ip_flags nofrag",
		flowerCmd(wire.EtherTypeIPv4, &cls.Flower{TOS: &cls.Masked[uint8]{Value: 0x10, Mask: 0xfc}, TTL: &cls.Masked[uint8]{Value: 64, Mask: 0xff},
			IPProto: ptr(wire.ProtoTCP), TCPFlags: &cls.Masked[uint16]{Value: 2, Mask: 0x12}, IPFlags: &cls.Masked[uint32]{Value: 0, Mask: cls.FlagIsFragment}})},
	{"ip_flags combination", "filter add dev eth0 ingress protocol ip flower ip_flags frag/firstfrag",
		flowerCmd(wire.EtherTypeIPv4, &cls.Flower{IPFlags: &cls.Masked[uint32]{Value: 3, Mask: 3}})},
	{"dotted netmask and short ipv4", "filter add dev eth0 ingress protocol ip flower dst_ip 10/255.0.0.0",
		flowerCmd(wire.EtherTypeIPv4, &cls.Flower{DstIP: pfx("10.0.0.0/8")})},
	{"classid after the actions", "filter add dev eth0 ingress protocol ip flower action pass classid 1:5",
		withClass(0x10005, flowerCmd(wire.EtherTypeIPv4, &cls.Flower{}, &act.Gact{C: act.Common{Control: act.OK}}))},
	{"chain, handle and parent ffff: as ingress", "filter replace dev eth0 parent ffff: chain 3 prio 7 protocol arp handle 0x2 flower",
		&Command{Object: ObjFilter, Verb: VerbReplace, Mode: ModeReplace, Filter: &cls.Filter{Dev: "eth0", Parent: cls.ParentIngress, Chain: 3, Prio: 7,
			Protocol: wire.EtherTypeARP, Handle: 2, Classifier: &cls.Flower{}}}},
	{"matchall with flowid", "filter add dev eth0 egress matchall flowid 1:1 action vlan push id 7",
		&Command{Object: ObjFilter, Verb: VerbAdd, Mode: ModeAdd, Filter: &cls.Filter{Dev: "eth0", Parent: cls.ParentEgress, Protocol: wire.EtherTypeAll,
			Classifier: &cls.Matchall{}, ClassID: 0x10001, Actions: []act.Spec{&act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPush, ID: 7, Proto: wire.EtherTypeVLAN}}}}},
	{"change keeps protocol unspecified", "filter change dev eth0 ingress pref 5 handle 1 flower src_ip 10.0.0.1",
		&Command{Object: ObjFilter, Verb: VerbChange, Mode: ModeChange, Filter: &cls.Filter{Dev: "eth0", Parent: cls.ParentIngress, Prio: 5, Handle: 1,
			Classifier: &cls.Flower{SrcIP: pfx("10.0.0.1/32")}}}},
	{"delete a priority", "filter del dev eth0 ingress pref 5",
		&Command{Object: ObjFilter, Verb: VerbDelete, Filter: &cls.Filter{Dev: "eth0", Parent: cls.ParentIngress, Prio: 5}}},
	{"show selectors", "filter show dev eth0 egress chain 2 pref 3 protocol ipv6",
		&Command{Object: ObjFilter, Verb: VerbShow, Select: Selector{Dev: "eth0", Parent: cls.ParentEgress, HasParent: true, Chain: 2, HasChain: true, Prio: 3, Protocol: wire.EtherTypeIPv6}}},
	{"filters is filter", "filters ls dev eth0 ingress",
		&Command{Object: ObjFilter, Verb: VerbShow, Select: Selector{Dev: "eth0", Parent: cls.ParentIngress, HasParent: true}}},
	{"get one filter", "filter get dev eth0 ingress protocol ip pref 10 handle 1 flower",
		&Command{Object: ObjFilter, Verb: VerbGet, Select: Selector{Dev: "eth0", Parent: cls.ParentIngress, HasParent: true, Prio: 10, Protocol: wire.EtherTypeIPv4, Handle: 1, HasHandle: true, Kind: "flower"}}},

	// actions in filters
	{"gact shorthand and goto", "filter add dev eth0 ingress matchall action continue action reclassify action pipe action trap action goto chain 4 action jump 2",
		matchallCmd(&act.Gact{C: act.Common{Control: act.Unspec}}, &act.Gact{C: act.Common{Control: act.Reclassify}}, &act.Gact{C: act.Common{Control: act.Pipe}},
			&act.Gact{C: act.Common{Control: act.Trap}}, &act.Gact{C: act.Common{Control: act.GotoChain(4)}}, &act.Gact{C: act.Common{Control: act.Jump(2)}})},
	{"verdicts without the word action", "filter add dev eth0 ingress matchall action ok index 3 drop",
		matchallCmd(&act.Gact{C: act.Common{Control: act.OK, Index: 3}}, &act.Gact{C: act.Common{Control: act.Shot}})},
	{"index alone is gact's", "filter add dev eth0 ingress matchall action index 5",
		matchallCmd(ref("gact", 5))},
	{"gact kind word abbreviated", "filter add dev eth0 ingress matchall action g drop",
		matchallCmd(&act.Gact{C: act.Common{Control: act.Shot}})},
	{"KIND index N shares an action", "filter add dev eth0 ingress matchall action gact index 5 action mirred index 6 action police index 7 action vlan index 8 action skbedit index 9",
		matchallCmd(ref("gact", 5), ref("mirred", 6), ref("police", 7), ref("vlan", 8), ref("skbedit", 9))},
	{"mirred mirror with control, index, cookie", "filter add dev eth0 ingress matchall action mirred ingress mirror dev eth1 continue index 4 cookie 0a0BfF",
		matchallCmd(&act.Mirred{C: act.Common{Control: act.Unspec, Index: 4, Cookie: []byte{0x0a, 0x0b, 0xff}}, Ingress: true, Mirror: true, Dev: "eth1"})},
	// As iproute2's m_mirred.c: only mirror reads a control; a verdict
	// after a redirect is a gact of its own.
	{"verdict after a redirect is a gact", "filter add dev eth0 ingress matchall action mirred egress redirect dev eth1 pipe",
		matchallCmd(&act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}, &act.Gact{C: act.Common{Control: act.Pipe}})},
	{"mirror takes a control", "filter add dev eth0 ingress matchall action mirred egress mirror dev eth1 pass",
		matchallCmd(&act.Mirred{C: act.Common{Control: act.OK}, Dev: "eth1", Mirror: true})},
	{"vlan push and modify", "filter add dev eth0 ingress matchall action vlan push protocol 802.1ad id 10 priority 5 action vlan modify id 11 drop index 2",
		matchallCmd(&act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPush, ID: 10, Proto: wire.EtherTypeQinQ, Priority: 5, HasPriority: true},
			&act.Vlan{C: act.Common{Control: act.Shot, Index: 2}, Op: act.VlanModify, ID: 11, Proto: wire.EtherTypeVLAN})},
	{"skbedit fields", "filter add dev eth0 ingress matchall action skbedit priority 10 mark 0x10/0xf0 queue_mapping 3 pass",
		matchallCmd(&act.Skbedit{C: act.Common{Control: act.OK}, Priority: 0x10, HasPriority: true, Mark: 0x10, MarkMask: 0xf0, HasMark: true, QueueMapping: 3, HasQueueMapping: true})},
	{"police defaults", "filter add dev eth0 ingress matchall action police rate 1mbit burst 10k",
		matchallCmd(&act.Police{C: act.Common{Control: act.OK}, Rate: 125000, Burst: 10240, Exceed: act.Reclassify})},
	{"police bare verdict is exceed", "filter add dev eth0 ingress matchall action police rate 8kbit burst 1500 mtu 2k peakrate 16kbit drop index 3",
		matchallCmd(&act.Police{C: act.Common{Control: act.OK, Index: 3}, Rate: 1000, Burst: 1500, MTU: 2048, PeakRate: 2000, Exceed: act.Shot})},
	{"police conform-exceed slash", "filter add dev eth0 ingress matchall action police rate 1mbit burst 10k conform-exceed drop/pipe",
		matchallCmd(&act.Police{C: act.Common{Control: act.Pipe}, Rate: 125000, Burst: 10240, Exceed: act.Shot})},
	{"police conform-exceed spaced goto", "filter add dev eth0 ingress matchall action police rate 1mbit burst 10k conform-exceed goto chain 1 / continue",
		matchallCmd(&act.Police{C: act.Common{Control: act.Unspec}, Rate: 125000, Burst: 10240, Exceed: act.GotoChain(1)})},

	// tc actions
	{"actions add a list", "actions add action drop index 4 action mirred egress mirror dev eth1",
		&Command{Object: ObjAction, Verb: VerbAdd, Mode: ModeAdd, Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot, Index: 4}}, &act.Mirred{C: act.Common{Control: act.Pipe}, Mirror: true, Dev: "eth1"}}}},
	{"actions change is a replace", "actions change action skbedit mark 1 index 2",
		&Command{Object: ObjAction, Verb: VerbReplace, Mode: ModeReplace, Actions: []act.Spec{&act.Skbedit{C: act.Common{Control: act.Pipe, Index: 2}, Mark: 1, HasMark: true}}}},
	{"action is actions", "action replace action pass",
		&Command{Object: ObjAction, Verb: VerbReplace, Mode: ModeReplace, Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.OK}}}}},
	{"actions get several", "actions get action gact index 1 action mirred index 2",
		&Command{Object: ObjAction, Verb: VerbGet, Select: Selector{Actions: []ActionID{{"gact", 1}, {"mirred", 2}}}}},
	{"actions del", "actions del action police index 7",
		&Command{Object: ObjAction, Verb: VerbDelete, Select: Selector{Actions: []ActionID{{"police", 7}}}}},
	{"actions ls since", "actions ls action gact since 5000",
		&Command{Object: ObjAction, Verb: VerbShow, Select: Selector{Kind: "gact", Since: 5000}}},
	{"actions since a generation", "actions ls action gact since gen 42",
		&Command{Object: ObjAction, Verb: VerbShow, Select: Selector{Kind: "gact", SinceGen: 42, HasSinceGen: true}}},
	{"actions since generation 0", "actions list action mirred since generation 0",
		&Command{Object: ObjAction, Verb: VerbShow, Select: Selector{Kind: "mirred", HasSinceGen: true}}},
	{"filters since a generation", "filter show dev eth0 ingress since gen 7",
		&Command{Object: ObjFilter, Verb: VerbShow, Select: Selector{Dev: "eth0", Parent: cls.ParentIngress, HasParent: true, SinceGen: 7, HasSinceGen: true}}},
	// dev (netyard's own)
	{"dev afpacket", "dev add m0 type afpacket link veth-m0",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "m0", Type: "afpacket", Link: "veth-m0"}}},
	{"dev tap with queues", "dev add tap0 type tap link nytap queues 4",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "tap0", Type: "tap", Link: "nytap", Queues: 4}}},
	{"dev memory", "dev add eth9 type memory",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "eth9", Type: "memory"}}},
	{"dev with an mtu", "dev add j0 type afpacket link veth-j mtu 9000",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "j0", Type: "afpacket", Link: "veth-j", MTU: 9000}}},
	{"dev afpacket shed off", "dev add s0 type afpacket link veth-s shed off",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "s0", Type: "afpacket", Link: "veth-s", Shed: "off"}}},
	{"dev afpacket shed on", "dev add s1 type afpacket link veth-s queues 2 shed on mtu 1500",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "s1", Type: "afpacket", Link: "veth-s", Queues: 2, Shed: "on", MTU: 1500}}},
	{"dev xdp", "dev add x0 type xdp link veth-x",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "x0", Type: "xdp", Link: "veth-x"}}},
	{"dev xdp every word", "dev add x1 type xdp link eth3 queues 4 mode native zerocopy mtu 3000",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "x1", Type: "xdp", Link: "eth3", Queues: 4, Mode: "native", ZeroCopy: true, MTU: 3000}}},
	{"dev xdp generic", "dev add x2 type xdp link veth-x mode generic",
		&Command{Object: ObjDev, Verb: VerbAdd, Dev: &DevSpec{Name: "x2", Type: "xdp", Link: "veth-x", Mode: "generic"}}},
	{"dev show one", "dev show dev m0",
		&Command{Object: ObjDev, Verb: VerbShow, Select: Selector{Dev: "m0"}}},
	{"actions flush", "actions flush action mirred",
		&Command{Object: ObjAction, Verb: VerbFlush, Select: Selector{Kind: "mirred"}}},
}

func withPrio(p uint16, c *Command) *Command   { c.Filter.Prio = p; return c }
func withSkipHW(c *Command) *Command           { c.Filter.SkipHW = true; return c }
func withClass(id uint32, c *Command) *Command { c.Filter.ClassID = id; return c }

func matchallCmd(acts ...act.Spec) *Command {
	return &Command{Object: ObjFilter, Verb: VerbAdd, Mode: ModeAdd, Filter: &cls.Filter{
		Dev: "eth0", Parent: cls.ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{}, Actions: acts,
	}}
}

func TestParseGood(t *testing.T) {
	for _, tc := range goodCommands {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.Fields(tc.line))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.line, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q)\n got %s\nwant %s", tc.line, dump(got), dump(tc.want))
			}
		})
	}
}

// TestRoundTrip checks that Command.Args writes a command Parse reads back
// into the same command: printing loses nothing.
func TestRoundTrip(t *testing.T) {
	for _, tc := range goodCommands {
		t.Run(tc.name, func(t *testing.T) {
			words := tc.want.Args()
			got, err := Parse(words)
			if err != nil {
				t.Fatalf("Parse(%q): %v", strings.Join(words, " "), err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(Args()) of %q via %q\n got %s\nwant %s", tc.line, strings.Join(words, " "), dump(got), dump(tc.want))
			}
		})
	}
}

// badCommands are refused; the error must name the offending word (or
// the keyword whose value is wrong) and, where given, say why.
var badCommands = []struct {
	name, line string
	word       string // the error names it
	why        string // and contains this
}{
	{"no object", "", "", "missing object"},
	{"dev without type", "dev add m0 link veth0", "", "needs type"},
	{"dev unknown type", "dev add m0 type dpdk", "dpdk", "device type"},
	{"xdp without link", "dev add m0 type xdp", "", "needs link"},
	{"xdp unknown mode", "dev add m0 type xdp link eth0 mode offload", "offload", "XDP mode"},
	{"xdp mode without value", "dev add m0 type xdp link eth0 mode", "mode", ""},
	{"mode on afpacket", "dev add m0 type afpacket link eth0 mode native", "mode", "for type xdp"},
	{"zerocopy on tap", "dev add m0 type tap zerocopy", "zerocopy", "for type xdp"},
	{"shed on xdp", "dev add m0 type xdp link eth0 shed on", "shed", "for type afpacket"},
	{"shed unknown value", "dev add m0 type afpacket link eth0 shed auto", "auto", "shed value"},
	{"shed without value", "dev add m0 type afpacket link eth0 shed", "shed", ""},
	{"zerocopy generic", "dev add m0 type xdp link eth0 mode generic zerocopy", "zerocopy", "driver's XDP hook"},
	{"afpacket without link", "dev add m0 type afpacket", "", "needs link"},
	{"memory with an interface", "dev add m0 type memory link eth0", "eth0", "link layer"},
	{"pcap without file", "dev add m0 type pcap speed 2", "", "needs file"},
	{"pcap two paces", "dev add m0 type pcap file a.pcap speed 2 topspeed", "speed", "one of speed"},
	{"pcap speed 0", "dev add m0 type pcap file a.pcap speed 0", "speed", "> 0"},
	{"pcap loop negative", "dev add m0 type pcap file a.pcap loop -1", "loop", "for ever"},
	{"speed on tap", "dev add m0 type tap speed 10", "speed", "for type pcap"},
	{"dev queues out of range", "dev add m0 type tap queues 0", "queues", "1..256"},
	{"dev name too long", "dev add abcdefghijklmnop type tap", "add", "IFNAMSIZ"},
	{"dev unknown word", "dev add m0 type tap frob 10", "frob", "unknown"},
	{"dev mtu out of range", "dev add m0 type tap mtu 40", "mtu", "68..65535"},
	{"since gen not a number", "actions ls action gact since gen x", "since gen", "generation"},
	{"filter since gen not a number", "filter show dev eth0 ingress since gen -1", "since gen", "generation"},
	{"unknown object", "qdiscs show", "qdiscs", "unknown object"},
	{"unknown verb", "qdisc frob", "frob", "unknown command"},
	{"qdisc l is link", "qdisc l dev eth0", "l", "not supported"},
	{"unknown qdisc kind", "qdisc add dev eth0 root fq_codle", "fq_codle", "unknown qdisc kind"},
	{"qdisc without dev", "qdisc add root pfifo", "dev", "required"},
	{"qdisc without parent", "qdisc add dev eth0 pfifo", "", "missing parent"},
	{"qdisc two parents", "qdisc add dev eth0 root parent 1:1 pfifo", "parent", "twice"},
	{"qdisc root and clsact", "qdisc add dev eth0 root clsact", "clsact", "duplicate parent"},
	{"clsact elsewhere", "qdisc add dev eth0 root handle 1: clsact", "clsact", "duplicate parent"},
	{"clsact kind with parent", "qdisc add dev eth0 parent 1:1 ingress", "ingress", "duplicate parent"},
	{"bad handle", "qdisc add dev eth0 root handle 1x: pfifo", "handle", "invalid qdisc ID"},
	{"pfifo unknown parameter", "qdisc add dev eth0 root pfifo lim 5", "lim", "unknown parameter"},
	{"pfifo bad limit", "qdisc add dev eth0 root pfifo limit lots", "limit", "illegal limit"},
	{"pfifo limit needs a value", "qdisc add dev eth0 root pfifo limit", "limit", "needs"},
	{"clsact takes nothing", "qdisc add dev eth0 clsact limit 5", "limit", "takes no parameters"},
	{"qdisc show junk", "qdisc show dev eth0 fast", "fast", "unknown word"},
	{"htb class without a rate", "class add dev eth0 parent 1: classid 1:1 htb", "rate", "is required"},
	{"class of a kind without class options", "class add dev eth0 parent 1: classid 1:1 prio bands 3", "", "does not support option parsing"},
	{"class show without dev", "class show", "dev", "required"},

	{"filter without dev", "filter add ingress flower", "dev", "required"},
	{"filter unknown classifier", "filter add dev eth0 ingress u32 match", "u32", "unknown classifier"},
	{"filter without classifier", "filter add dev eth0 ingress pref 1", "", "missing classifier"},
	{"handle without kind", "filter del dev eth0 ingress handle 1", "handle", "filter type"},
	{"bad priority", "filter add dev eth0 ingress pref 70000 flower", "pref", "invalid priority"},
	{"bad protocol", "filter add dev eth0 ingress protocol ipx6 flower", "protocol", "invalid protocol"},
	{"two parents", "filter add dev eth0 ingress egress flower", "egress", "duplicate parent"},
	{"block", "filter add block 1 flower", "block", "not supported"},
	{"get needs pref", "filter get dev eth0 ingress protocol ip handle 1 flower", "pref", "priority"},
	{"get needs protocol", "filter get dev eth0 ingress pref 1 handle 1 flower", "protocol", "protocol"},
	{"show without dev", "filter show ingress", "dev", "required"},
	{"show junk", "filter show dev eth0 ingress flower", "flower", "unknown word"},

	{"flower unknown key", "filter add dev eth0 ingress flower dst_prot 80", "dst_prot", "unknown key; expected one of"},
	{"flower unsupported key", "filter add dev eth0 ingress flower ct_state +trk", "ct_state", "not supported"},
	{"a is arp_tip, as in tc", "filter add dev eth0 ingress protocol arp flower a 1.2.3.4", "a", "not supported"},
	{"port without ip_proto", "filter add dev eth0 ingress protocol ip flower dst_port 80", "dst_port", "ip_proto tcp, udp or sctp"},
	{"port with icmp", "filter add dev eth0 ingress protocol ip flower ip_proto icmp src_port 80", "src_port", "ip_proto tcp, udp or sctp"},
	{"ip_proto with protocol all", "filter add dev eth0 ingress flower ip_proto tcp", "ip_proto", "eth_type"},
	{"icmp with ipv6", "filter add dev eth0 ingress protocol ipv6 flower ip_proto icmp", "ip_proto", "icmp needs protocol ip"},
	{"icmpv6 with ip", "filter add dev eth0 ingress protocol ip flower ip_proto icmpv6", "ip_proto", "icmpv6 needs protocol ipv6"},
	{"src_ip with protocol all", "filter add dev eth0 ingress flower src_ip 10.0.0.1", "src_ip", "needs protocol ip or ipv6"},
	{"src_ip family mismatch", "filter add dev eth0 ingress protocol ip flower src_ip 2001:db8::1", "src_ip", "family"},
	{"dst_ip garbage", "filter add dev eth0 ingress protocol ip flower dst_ip 10.0.0.256", "dst_ip", "illegal address"},
	{"vlan_id without vlan protocol", "filter add dev eth0 ingress protocol ip flower vlan_id 5", "vlan_id", "802.1Q or 802.1AD"},
	{"vlan_prio without vlan protocol", "filter add dev eth0 ingress flower vlan_prio 5", "vlan_prio", "802.1Q or 802.1AD"},
	{"vlan_id too big", "filter add dev eth0 ingress protocol 802.1Q flower vlan_id 4096", "vlan_id", "0..4095"},
	{"vlan_prio too big", "filter add dev eth0 ingress protocol 802.1Q flower vlan_prio 8", "vlan_prio", "0..7"},
	{"vlan_ethtype without vlan protocol", "filter add dev eth0 ingress protocol ip flower vlan_ethtype ip", "vlan_ethtype", "802.1Q or 802.1AD"},
	{"cvlan_id without vlan_ethtype vlan", "filter add dev eth0 ingress protocol 802.1ad flower vlan_ethtype ip cvlan_id 5", "cvlan_id", "inner vlan ethertype"},
	{"cvlan_ethtype without vlan_ethtype", "filter add dev eth0 ingress protocol 802.1ad flower cvlan_ethtype ip", "cvlan_ethtype", "inner vlan ethertype"},
	{"ip keys after vlan_ethtype arp", "filter add dev eth0 ingress protocol 802.1Q flower vlan_ethtype arp ip_proto tcp", "ip_proto", "eth_type"},
	{"icmp type without icmp", "filter add dev eth0 ingress protocol ip flower ip_proto tcp type 8", "type", "ip_proto icmp"},
	{"port range backwards", "filter add dev eth0 ingress protocol ip flower ip_proto tcp dst_port 90-80", "dst_port", "greater than min"},
	{"masked port", "filter add dev eth0 ingress protocol ip flower ip_proto tcp dst_port 80/0xff00", "dst_port", "not supported"},
	{"bad mac", "filter add dev eth0 ingress flower dst_mac 00:11:22:33:44", "dst_mac", "illegal MAC"},
	{"tcp_flags too big", "filter add dev eth0 ingress protocol ip flower tcp_flags 0x1000", "tcp_flags", "0..fff"},
	{"ip_flags unknown", "filter add dev eth0 ingress protocol ip flower ip_flags frag/tail", "ip_flags", "unknown flag"},
	{"key twice", "filter add dev eth0 ingress protocol ip flower dst_ip 1.1.1.1 dst_ip 2.2.2.2", "dst_ip", "twice"},
	{"skip_sw", "filter add dev eth0 ingress flower skip_sw", "skip_sw", "software only"},
	{"indev too long", "filter add dev eth0 ingress flower indev abcdefghijklmnopq", "indev", "ifname"},
	{"key after actions", "filter add dev eth0 ingress protocol ip flower action drop dst_ip 1.2.3.4", "dst_ip", "unknown action kind"},
	{"matchall unknown word", "filter add dev eth0 ingress matchall dst_ip 1.2.3.4", "dst_ip", "unknown word"},

	{"action without kind", "filter add dev eth0 ingress matchall action", "action", "needs an action kind"},
	{"unknown action kind", "filter add dev eth0 ingress matchall action nat ingress", "nat", "unknown action kind"},
	{"gact without verdict", "filter add dev eth0 ingress matchall action gact", "gact", "expected a verdict"},
	{"stolen is not a verdict word", "filter add dev eth0 ingress matchall action gact stolen", "stolen", "expected a verdict"},
	{"goto without chain", "filter add dev eth0 ingress matchall action goto 5", "goto", "goto chain"},
	{"goto chain too big", "filter add dev eth0 ingress matchall action goto chain 268435456", "goto chain", "chain index"},
	{"jump zero", "filter add dev eth0 ingress matchall action jump 0", "jump", "jump count"},
	{"mirred dev missing value", "filter add dev eth0 ingress matchall action mirred egress redirect dev", "dev", "needs a device name"},
	{"mirred no dev", "filter add dev eth0 ingress matchall action mirred egress redirect", "dev", "needs a device name"},
	{"mirred no direction", "filter add dev eth0 ingress matchall action mirred redirect dev eth1", "redirect", "egress or ingress"},
	{"mirred both directions", "filter add dev eth0 ingress matchall action mirred egress ingress", "ingress", "both"},
	{"mirred both ops", "filter add dev eth0 ingress matchall action mirred egress mirror redirect", "redirect", "both"},
	{"mirred double index", "filter add dev eth0 ingress matchall action mirred egress index 1 mirror dev x index 2", "index", "double index"},
	{"vlan id on pop", "filter add dev eth0 ingress matchall action vlan pop id 5", "id", "push/modify"},
	{"vlan push without id", "filter add dev eth0 ingress matchall action vlan push", "id", "needs to be set"},
	{"vlan bad protocol", "filter add dev eth0 ingress matchall action vlan push id 1 protocol ip", "protocol", "not supported"},
	{"vlan two ops", "filter add dev eth0 ingress matchall action vlan pop push", "push", "already specified"},
	{"vlan no op", "filter add dev eth0 ingress matchall action vlan", "vlan", "pop, push or modify"},
	{"skbedit nothing", "filter add dev eth0 ingress matchall action skbedit pipe", "skbedit", "queue_mapping, priority or mark"},
	{"skbedit bad queue", "filter add dev eth0 ingress matchall action skbedit queue_mapping 70000", "queue_mapping", "0..65535"},
	{"skbedit mask 0", "filter add dev eth0 ingress matchall action skbedit mark 5/0", "mark", "mask of 0"},
	{"skbedit bad ptype", "filter add dev eth0 ingress matchall action skbedit ptype nowhere", "ptype", "Illegal ptype"},
	{"police without rate", "filter add dev eth0 ingress matchall action police burst 10k", "police", "'rate', 'pkts_rate' or 'mtu' must be specified"},
	{"police burst without rate", "filter add dev eth0 ingress matchall action police burst 10k mtu 1500", "burst", "needs 'rate'"},
	{"police without burst", "filter add dev eth0 ingress matchall action police rate 1mbit", "rate", "needs 'burst'"},
	{"police peakrate without mtu", "filter add dev eth0 ingress matchall action police rate 1mbit burst 10k peakrate 2mbit", "peakrate", "needs 'mtu'"},
	{"police bad rate", "filter add dev eth0 ingress matchall action police rate fast burst 10k", "rate", "expected a rate"},
	{"police cell size", "filter add dev eth0 ingress matchall action police rate 1mbit burst 10k/8", "burst", "cell size"},
	{"police conform-exceed junk", "filter add dev eth0 ingress matchall action police rate 1mbit burst 10k conform-exceed drop/maybe", "conform-exceed", "verdicts"},
	{"police avrate", "filter add dev eth0 ingress matchall action police avrate 1mbit", "avrate", "not supported"},
	{"cookie odd", "filter add dev eth0 ingress matchall action drop cookie abc", "cookie", "even length"},
	{"cookie too long", "filter add dev eth0 ingress matchall action drop cookie " + strings.Repeat("ab", 17), "cookie", "16 bytes"},
	{"hw_stats", "filter add dev eth0 ingress matchall action drop hw_stats delayed", "hw_stats", "not supported"},

	{"actions get without index", "actions get action gact", "gact", "no index"},
	{"actions get unknown kind", "actions get action nat index 1", "nat", "unknown action kind"},
	{"actions ls without kind", "actions ls action", "action", "needs an action kind"},
	{"actions ls unknown kind", "actions ls action ct", "ct", "unknown action kind"},
	{"actions two commands", "actions flush action gact add action drop", "add", "one command a line"},
	{"actions add nothing", "actions add", "action", "needs an action kind"},
}

func TestParseBad(t *testing.T) {
	for _, tc := range badCommands {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(strings.Fields(tc.line))
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want an error", tc.line, dump(c))
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error %v is not a *SyntaxError", tc.line, err)
			}
			if se.Word != tc.word {
				t.Errorf("Parse(%q) error %q names %q, want %q", tc.line, err, se.Word, tc.word)
			}
			if !strings.Contains(err.Error(), tc.why) {
				t.Errorf("Parse(%q) error %q does not say %q", tc.line, err, tc.why)
			}
		})
	}
}

// dump prints a command with its pointed-to values, for failure messages.
func dump(c *Command) string {
	if c == nil {
		return "<nil>"
	}
	var b strings.Builder
	b.WriteString(strings.Join(c.Args(), " "))
	b.WriteString(" | ")
	if c.Filter != nil {
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(fmtValue(c.Filter), "\n", " "), "\t", ""))
	}
	return b.String()
}

// TestPortZeroRefused: iproute2 sends no port key for a port or range
// starting at 0, so netyard refuses it instead of giving it a meaning tc
// does not have.
func TestPortZeroRefused(t *testing.T) {
	for _, line := range []string{
		"filter add dev eth0 ingress protocol ip flower ip_proto udp dst_port 0",
		"filter add dev eth0 ingress protocol ip flower ip_proto tcp src_port 0-100",
	} {
		if _, err := Parse(strings.Fields(line)); err == nil || !strings.Contains(err.Error(), "starting at 0") {
			t.Errorf("%s: %v", line, err)
		}
	}
}
