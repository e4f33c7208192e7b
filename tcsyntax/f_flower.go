package tcsyntax

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"netyard/act"
	"netyard/cls"
	"netyard/wire"
)

// The flower classifier (tc/f_flower.c): the keys cls.Flower holds, with
// f_flower.c's rules for which key may follow which. Those rules depend on
// the filter's protocol and on keys read before: flower_parse_opt keeps an
// "eth_type" that starts as the filter's protocol and that vlan_ethtype and
// cvlan_ethtype replace, and an "ip_proto" that ports and icmp keys need.

func init() {
	registerClassifier(&classifier{name: "flower", parse: parseFlower, format: formatFlower, print: printFlower})
}

// ipProtoSCTP and the others are the IANA numbers tc knows by name.
const (
	ipProtoSCTP uint8 = 132
	ipProtoESP  uint8 = 50
	ipProtoAH   uint8 = 51
	ipProtoL2TP uint8 = 115
	noIPProto   uint8 = 0xff // flower_parse_opt's "not given"
)

// flowerParser is flower_parse_opt's state.
type flowerParser struct {
	f           *cls.Filter
	fl          *cls.Flower
	blk         *flowerBlock
	tcProto     uint16 // the filter's protocol
	ethType     uint16 // the protocol the next keys apply to
	vlanEthType uint16
	ipProto     uint8
	seen        uint64 // bit i: flowerKeys[i] was given
}

// flowerBlock is a flower filter in one allocation: the filter, its
// flower part, and the values of the keys most filters have, which the
// flower's pointers point into (a batch of a million filters allocated
// each of them apart). Rarer keys get their own allocation.
type flowerBlock struct {
	f                cls.Filter
	fl               cls.Flower
	dstIP, srcIP     netip.Prefix
	dstPort, srcPort cls.PortRange
	ipProto          uint8
	acts             [1]act.Spec // room for the usual one action
	// gact is the room for the usual action's spec: in a reused block
	// (a FilterCopier target keeps nothing of it), the first gact of
	// the filter's actions is parsed here (Args.gact).
	gact act.Gact
}

// flowerKey is one keyword of flower_parse_opt, in its order: abbreviations
// resolve to the first key they match ("s" is skip_hw, "t" tcp_flags,
// "a" arp_tip). exact keys are compared whole, as f_flower.c does with
// strcmp. A nil parse is a key tc knows and netyard does not support.
type flowerKey struct {
	name  string
	exact bool
	parse func(p *flowerParser, a *Args, key string) error
}

var flowerKeys []flowerKey

// flowerKeyIndex maps each key's full name to the key lookupFlowerKey
// resolves it to (computed by it, so the order rules hold): most words
// are full names, found without trying the keys one by one.
var flowerKeyIndex map[string]int

func init() {
	defer func() {
		if len(flowerKeys) > 64 {
			panic("flowerParser.seen holds 64 keys")
		}
		flowerKeyIndex = make(map[string]int, len(flowerKeys))
		for _, k := range flowerKeys {
			flowerKeyIndex[k.name] = lookupFlowerKeySlow(k.name)
		}
	}()
	flowerKeys = []flowerKey{
		{name: "classid", parse: (*flowerParser).classID},
		{name: "flowid", parse: (*flowerParser).classID},
		{name: "hw_tc"},
		{name: "ip_flags", parse: (*flowerParser).ipFlags},
		{name: "l2_miss", exact: true},
		{name: "verbose", parse: func(*flowerParser, *Args, string) error { return nil }},
		{name: "skip_hw", parse: (*flowerParser).skipHW},
		{name: "skip_sw", parse: (*flowerParser).skipSW},
		{name: "ct_state"}, {name: "ct_zone"}, {name: "ct_mark"}, {name: "ct_label"},
		{name: "indev", parse: (*flowerParser).indev},
		{name: "num_of_vlans", exact: true},
		{name: "vlan_id", parse: (*flowerParser).vlanID},
		{name: "vlan_prio", parse: (*flowerParser).vlanPrio},
		{name: "vlan_ethtype", parse: (*flowerParser).ethTypeKey},
		{name: "cvlan_id", parse: (*flowerParser).vlanID},
		{name: "cvlan_prio", parse: (*flowerParser).vlanPrio},
		{name: "cvlan_ethtype", parse: (*flowerParser).ethTypeKey},
		{name: "mpls"}, {name: "mpls_label"}, {name: "mpls_tc"}, {name: "mpls_bos"}, {name: "mpls_ttl"},
		{name: "dst_mac", parse: (*flowerParser).mac},
		{name: "src_mac", parse: (*flowerParser).mac},
		{name: "ip_proto", parse: (*flowerParser).ipProtoKey},
		{name: "ip_tos", parse: (*flowerParser).tosTTL},
		{name: "ip_ttl", parse: (*flowerParser).tosTTL},
		{name: "dst_ip", parse: (*flowerParser).ip},
		{name: "src_ip", parse: (*flowerParser).ip},
		{name: "dst_port", parse: (*flowerParser).port},
		{name: "src_port", parse: (*flowerParser).port},
		{name: "tcp_flags", parse: (*flowerParser).tcpFlags},
		{name: "type", parse: (*flowerParser).icmp},
		{name: "code", parse: (*flowerParser).icmp},
		{name: "l2tpv3_sid", exact: true}, {name: "spi", exact: true},
		{name: "arp_tip"}, {name: "arp_sip"}, {name: "arp_op"}, {name: "arp_tha"}, {name: "arp_sha"},
		{name: "pppoe_sid", exact: true}, {name: "ppp_proto", exact: true},
		{name: "enc_dst_ip"}, {name: "enc_src_ip"}, {name: "enc_key_id"}, {name: "enc_dst_port"},
		{name: "enc_tos"}, {name: "enc_ttl"},
		{name: "geneve_opts"}, {name: "vxlan_opts"}, {name: "erspan_opts"}, {name: "gtp_opts", exact: true},
		{name: "action"},
		{name: "cfm", exact: true},
	}
}

// lookupFlowerKey returns the index in flowerKeys of the key w names,
// or -1.
func lookupFlowerKey(w string) int {
	if i, ok := flowerKeyIndex[w]; ok {
		return i
	}
	return lookupFlowerKeySlow(w)
}

func lookupFlowerKeySlow(w string) int {
	for i := range flowerKeys {
		k := &flowerKeys[i]
		if k.exact && w == k.name || !k.exact && matches(w, k.name) {
			return i
		}
	}
	return -1
}

func supportedFlowerKeys() []string {
	var names []string
	for _, k := range flowerKeys {
		if k.parse != nil || k.name == "action" {
			names = append(names, k.name)
		}
	}
	return names
}

func parseFlower(a *Args, f *cls.Filter, handle string) (*cls.Filter, error) {
	if handle != "" {
		h, ok := getU32(handle, 0)
		if !ok {
			return nil, badValue("flower", "handle", handle, "illegal handle: expected a number")
		}
		f.Handle = h
	}
	var blk *flowerBlock
	if a.reuseFilter {
		blk = &a.blk
		*blk = flowerBlock{f: *f}
	} else {
		blk = &flowerBlock{f: *f}
	}
	f = &blk.f
	p := &a.flower // scratch, reused line after line
	*p = flowerParser{
		f: f, fl: &blk.fl, blk: blk,
		tcProto: f.Protocol, ethType: f.Protocol,
		ipProto: noIPProto,
	}
	f.Classifier = p.fl
	return f, p.parse(a)
}

func (p *flowerParser) parse(a *Args) error {
	f := p.f
	for a.More() {
		w := a.Next()
		if w == "help" {
			return syntaxErr("flower", w, "usage: flower [ MATCH-LIST ] [ skip_hw ] [ classid CLASSID ] [ action ACTION-SPEC ]; keys: %s", strings.Join(supportedFlowerKeys(), ", "))
		}
		i := lookupFlowerKey(w)
		if i < 0 {
			return unknownWord("flower", w, "key", supportedFlowerKeys())
		}
		k := &flowerKeys[i]
		if k.name == "action" {
			specs := f.Actions
			if specs == nil {
				specs = p.blk.acts[:0:1]
			}
			if a.reuseFilter && p.blk == &a.blk {
				a.gact = &p.blk.gact
			}
			specs, err := appendActionList(specs, a, isActionStop)
			a.gact = nil
			if err != nil {
				return err
			}
			f.Actions = specs
			if w := a.Peek(); w != "" && !isActionStop(w) {
				return syntaxErr("flower", w, "unexpected after the actions; flower keys go before \"action\"")
			}
			continue
		}
		if k.parse == nil {
			return syntaxErr("flower", w, "not supported by netyard")
		}
		if p.seen&(1<<i) != 0 && k.name != "verbose" {
			return syntaxErr("flower", w, "given twice")
		}
		p.seen |= 1 << i
		if err := k.parse(p, a, k.name); err != nil {
			return err
		}
	}
	return nil
}

// isActionStop reports the words that end a filter's action list and go
// back to the classifier (parse_action breaks on them).
func isActionStop(w string) bool { return w == "classid" || w == "flowid" }

func (p *flowerParser) classID(a *Args, key string) error {
	v, err := a.Value(key, "a class id")
	if err != nil {
		return err
	}
	h, err := ParseClassID(v)
	if err != nil {
		return badValue("flower", key, v, "illegal classid: expected MAJOR:MINOR (hex)")
	}
	p.f.ClassID = h
	return nil
}

func (p *flowerParser) skipHW(*Args, string) error {
	p.f.SkipHW = true
	return nil
}

func (p *flowerParser) skipSW(_ *Args, key string) error {
	return syntaxErr("flower", key, "netyard is software only: a filter that skips software would never run")
}

// validIfname is check_ifname (lib/utils.c), mirroring the kernel's
// dev_valid_name: not empty, shorter than IFNAMSIZ, no '/' or space.
func validIfname(s string) bool {
	if s == "" || len(s) >= 16 {
		return false
	}
	return !strings.ContainsAny(s, "/ \t\n\v\f\r")
}

func (p *flowerParser) indev(a *Args, key string) error {
	v, err := a.Value(key, "a device name")
	if err != nil {
		return err
	}
	if !validIfname(v) {
		return badValue("flower", key, v, "not a valid ifname")
	}
	p.fl.Indev = a.name(v)
	return nil
}

func isVlanType(t uint16) bool { return t == wire.EtherTypeVLAN || t == wire.EtherTypeQinQ }

func (p *flowerParser) vlanID(a *Args, key string) error {
	v, err := a.Value(key, "a VLAN id")
	if err != nil {
		return err
	}
	if key == "vlan_id" && !isVlanType(p.tcProto) {
		return syntaxErr("flower", key, "can't set \"vlan_id\" if ethertype isn't 802.1Q or 802.1AD (protocol 802.1Q or 802.1ad)")
	}
	if key == "cvlan_id" && !isVlanType(p.vlanEthType) {
		return syntaxErr("flower", key, "can't set \"cvlan_id\" if inner vlan ethertype isn't 802.1Q or 802.1AD (vlan_ethtype 802.1Q or 802.1ad)")
	}
	id, ok := getU16(v, 10)
	if !ok || id > 0xfff {
		return badValue("flower", key, v, "illegal VLAN id: expected 0..4095")
	}
	if key == "vlan_id" {
		p.fl.VlanID = &id
	} else {
		p.fl.CVlanID = &id
	}
	return nil
}

func (p *flowerParser) vlanPrio(a *Args, key string) error {
	v, err := a.Value(key, "a priority")
	if err != nil {
		return err
	}
	if key == "vlan_prio" && !isVlanType(p.tcProto) {
		return syntaxErr("flower", key, "can't set \"vlan_prio\" if ethertype isn't 802.1Q or 802.1AD (protocol 802.1Q or 802.1ad)")
	}
	if key == "cvlan_prio" && !isVlanType(p.vlanEthType) {
		return syntaxErr("flower", key, "can't set \"cvlan_prio\" if inner vlan ethertype isn't 802.1Q or 802.1AD (vlan_ethtype 802.1Q or 802.1ad)")
	}
	prio, ok := getU8(v, 10)
	if !ok || prio > 7 {
		return badValue("flower", key, v, "illegal VLAN priority: expected 0..7")
	}
	if key == "vlan_prio" {
		p.fl.VlanPrio = &prio
	} else {
		p.fl.CVlanPrio = &prio
	}
	return nil
}

// ethTypeKey reads vlan_ethtype and cvlan_ethtype
// (flower_parse_vlan_eth_type). vlan_ethtype needs the current ethertype
// to be a VLAN one; cvlan_ethtype needs vlan_ethtype to be. Either makes
// its value the ethertype later keys see.
func (p *flowerParser) ethTypeKey(a *Args, key string) error {
	v, err := a.Value(key, "an ethertype")
	if err != nil {
		return err
	}
	outer, need := p.ethType, "ethertype isn't 802.1Q or 802.1AD (protocol 802.1Q or 802.1ad)"
	if key == "cvlan_ethtype" {
		outer, need = p.vlanEthType, "inner vlan ethertype isn't 802.1Q or 802.1AD (vlan_ethtype 802.1Q or 802.1ad)"
	}
	if !isVlanType(outer) {
		return syntaxErr("flower", key, "can't set %q if %s", key, need)
	}
	t, err := ParseProtocol(v)
	if err != nil {
		return badValue("flower", key, v, "invalid "+key)
	}
	if key == "vlan_ethtype" {
		p.vlanEthType = t
		p.fl.VlanEthType = &t
	} else {
		p.fl.CVlanEthType = &t
	}
	p.ethType = t
	return nil
}

// parseMAC reads a MAC address "aa:bb:cc:dd:ee:ff" (ll_addr_a2n: hex
// bytes, one or two digits each).
func parseMAC(s string) ([6]byte, bool) {
	var m [6]byte
	parts := strings.Split(s, ":")
	if len(parts) != 6 {
		return m, false
	}
	for i, part := range parts {
		if len(part) == 0 || len(part) > 2 {
			return m, false
		}
		v, ok := parseUint(part, 16, 0xff)
		if !ok || strings.HasPrefix(part, "0x") {
			return m, false
		}
		m[i] = byte(v)
	}
	return m, true
}

// mac reads "ADDR", "ADDR/BITS" or "ADDR/MASK" (flower_parse_eth_addr).
func (p *flowerParser) mac(a *Args, key string) error {
	v, err := a.Value(key, "a MAC address")
	if err != nil {
		return err
	}
	addr, mask, hasMask := v, "", false
	if i := strings.IndexByte(v, '/'); i >= 0 {
		addr, mask, hasMask = v[:i], v[i+1:], true
	}
	m := &cls.MACMask{Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	var ok bool
	if m.Addr, ok = parseMAC(addr); !ok {
		return badValue("flower", key, v, "illegal MAC address: expected aa:bb:cc:dd:ee:ff[/BITS|/MASK]")
	}
	if hasMask {
		if bits, isNum := parseUint(mask, 10, 48); isNum {
			m.Mask = [6]byte{}
			for i := uint64(0); i < bits; i++ {
				m.Mask[i/8] |= 0x80 >> (i % 8)
			}
		} else if m.Mask, ok = parseMAC(mask); !ok {
			return badValue("flower", key, v, "illegal MAC mask: expected a prefix length 0..48 or a MAC address")
		}
	}
	for i := range m.Addr {
		m.Addr[i] &= m.Mask[i] // the kernel stores the masked key
	}
	if key == "dst_mac" {
		p.fl.DstMAC = m
	} else {
		p.fl.SrcMAC = m
	}
	return nil
}

// ipProtoKey is flower_parse_ip_proto: the current ethertype must be ip or
// ipv6 (icmp needs ip, icmpv6 ipv6); a number is read as hex, as in tc.
func (p *flowerParser) ipProtoKey(a *Args, key string) error {
	v, err := a.Value(key, "an IP protocol")
	if err != nil {
		return err
	}
	isIP, isIPv6 := p.ethType == wire.EtherTypeIPv4, p.ethType == wire.EtherTypeIPv6
	if !isIP && !isIPv6 {
		return syntaxErr("flower", key, "illegal \"eth_type\" for ip proto: needs protocol ip or ipv6 (or vlan_ethtype/cvlan_ethtype ip or ipv6)")
	}
	var proto uint8
	switch {
	case matches(v, "tcp"):
		proto = wire.ProtoTCP
	case matches(v, "udp"):
		proto = wire.ProtoUDP
	case matches(v, "sctp"):
		proto = ipProtoSCTP
	case matches(v, "icmp"):
		if !isIP {
			return syntaxErr("flower", key, "illegal \"eth_type\" for ip proto: icmp needs protocol ip (use icmpv6 with ipv6)")
		}
		proto = wire.ProtoICMP
	case matches(v, "icmpv6"):
		if !isIPv6 {
			return syntaxErr("flower", key, "illegal \"eth_type\" for ip proto: icmpv6 needs protocol ipv6")
		}
		proto = wire.ProtoICMPv6
	case v == "l2tp":
		proto = ipProtoL2TP
	case v == "esp":
		proto = ipProtoESP
	case v == "ah":
		proto = ipProtoAH
	default:
		n, ok := getU8(v, 16)
		if !ok {
			return badValue("flower", key, v, "illegal ip_proto: expected tcp, udp, sctp, icmp, icmpv6 or a number (hex)")
		}
		proto = n
	}
	p.ipProto = proto
	p.blk.ipProto = proto
	p.fl.IPProto = &p.blk.ipProto
	return nil
}

// tosTTL is flower_parse_ip_tos_ttl: a value (decimal, else hex) and an
// optional hex mask.
func (p *flowerParser) tosTTL(a *Args, key string) error {
	v, err := a.Value(key, "a value[/mask]")
	if err != nil {
		return err
	}
	val, mask, hasMask := v, "", false
	if i := strings.IndexByte(v, '/'); i >= 0 {
		val, mask, hasMask = v[:i], v[i+1:], true
	}
	m := &cls.Masked[uint8]{Mask: 0xff}
	var ok bool
	if m.Value, ok = getU8(val, 10); !ok {
		if m.Value, ok = getU8(val, 16); !ok {
			return badValue("flower", key, v, "illegal value: expected 0..255[/MASK]")
		}
	}
	if hasMask {
		if m.Mask, ok = getU8(mask, 16); !ok {
			return badValue("flower", key, v, "illegal mask: expected hex 0..ff")
		}
	}
	m.Value &= m.Mask
	if key == "ip_tos" {
		p.fl.TOS = m
	} else {
		p.fl.TTL = m
	}
	return nil
}

// parseIPv4 is iproute2's get_addr_ipv4: one to four dot-separated parts,
// each read by strtoul with base 0 ("10" is 10.0.0.0, "0x0a.1" 10.1.0.0).
func parseIPv4(s string) (netip.Addr, bool) {
	var b [4]byte
	for i := 0; ; i++ {
		if i == len(b) {
			return netip.Addr{}, false // a fifth part
		}
		part, rest, more := strings.Cut(s, ".")
		v, ok := parseUint(part, 0, 255)
		if !ok {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
		if !more {
			return netip.AddrFrom4(b), true
		}
		s = rest
	}
}

// parsePrefix is get_prefix for flower: ADDR[/LEN] where LEN is a number
// or, for IPv4, a contiguous dotted netmask. The result is masked, as the
// kernel stores it.
func parsePrefix(s string) (netip.Prefix, bool) {
	addrS, lenS, hasLen := s, "", false
	if i := strings.IndexByte(s, '/'); i >= 0 {
		addrS, lenS, hasLen = s[:i], s[i+1:], true
	}
	var addr netip.Addr
	var ok bool
	if strings.ContainsRune(addrS, ':') {
		a, err := netip.ParseAddr(addrS)
		if err != nil || a.Zone() != "" || a.Is4In6() {
			return netip.Prefix{}, false
		}
		addr = a
	} else if addr, ok = parseIPv4(addrS); !ok {
		return netip.Prefix{}, false
	}
	bits := addr.BitLen()
	if hasLen {
		if n, isNum := parseUint(lenS, 0, uint64(bits)); isNum {
			bits = int(n)
		} else if m, isAddr := parseIPv4(lenS); isAddr && addr.Is4() {
			v := uint32(m.As4()[0])<<24 | uint32(m.As4()[1])<<16 | uint32(m.As4()[2])<<8 | uint32(m.As4()[3])
			ones := 0
			for v&0x80000000 != 0 {
				v <<= 1
				ones++
			}
			if v != 0 {
				return netip.Prefix{}, false // not contiguous
			}
			bits = ones
		} else {
			return netip.Prefix{}, false
		}
	}
	pfx, err := addr.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, false
	}
	return pfx, true
}

// ip is flower_parse_ip_addr: protocol ip takes IPv4 addresses, ipv6 IPv6
// ones; any other protocol (including "all") has no IP addresses. A
// filter changed without a protocol (0) takes either.
func (p *flowerParser) ip(a *Args, key string) error {
	v, err := a.Value(key, "an address[/prefix]")
	if err != nil {
		return err
	}
	var want int
	switch p.ethType {
	case wire.EtherTypeIPv4:
		want = 4
	case wire.EtherTypeIPv6:
		want = 6
	case 0:
	default:
		return syntaxErr("flower", key, "needs protocol ip or ipv6 (or vlan_ethtype/cvlan_ethtype ip or ipv6), not %s", FormatProtocol(p.ethType))
	}
	pfx, ok := parsePrefix(v)
	if !ok {
		return badValue("flower", key, v, "illegal address: expected ADDR[/PREFIXLEN]")
	}
	if want == 4 && !pfx.Addr().Is4() || want == 6 && !pfx.Addr().Is6() {
		return badValue("flower", key, v, "illegal \"eth_type\" for ip address: the address family does not match protocol "+FormatProtocol(p.ethType))
	}
	if key == "dst_ip" {
		p.blk.dstIP = pfx
		p.fl.DstIP = &p.blk.dstIP
	} else {
		p.blk.srcIP = pfx
		p.fl.SrcIP = &p.blk.srcIP
	}
	return nil
}

func isPortProto(proto uint8) bool {
	return proto == wire.ProtoTCP || proto == wire.ProtoUDP || proto == ipProtoSCTP
}

// port is flower_parse_port: "N" or "MIN-MAX" (MAX > MIN), which need
// ip_proto tcp, udp or sctp.
func (p *flowerParser) port(a *Args, key string) error {
	v, err := a.Value(key, "a port or MIN-MAX")
	if err != nil {
		return err
	}
	var r cls.PortRange
	if i := strings.IndexByte(v, '-'); i >= 0 {
		lo, ok1 := getU16(v[:i], 10)
		hi, ok2 := getU16(v[i+1:], 10)
		if !ok1 || !ok2 {
			return badValue("flower", key, v, "illegal port range: expected MIN-MAX")
		}
		if hi <= lo {
			return badValue("flower", key, v, "max value should be greater than min value")
		}
		r = cls.PortRange{Min: lo, Max: hi}
	} else if n, ok := getU16(v, 10); ok {
		r = cls.PortRange{Min: n, Max: n}
	} else if strings.IndexByte(v, '/') >= 0 {
		return badValue("flower", key, v, "masked ports are not supported by netyard; use a MIN-MAX range")
	} else {
		return badValue("flower", key, v, "illegal port: expected 0..65535 or MIN-MAX")
	}
	if r.Min == 0 {
		// iproute2's flower_parse_port sends no key at all for a port
		// (or a range) starting at 0, so "dst_port 0" matches any port
		// there; netyard refuses it rather than give it another meaning.
		return badValue("flower", key, v, "a port or range starting at 0 is ignored by tc (it matches every port); give 1..65535 or leave the key out")
	}
	if !isPortProto(p.ipProto) {
		return syntaxErr("flower", key, "needs ip_proto tcp, udp or sctp before it")
	}
	if key == "dst_port" {
		p.blk.dstPort = r
		p.fl.DstPort = &p.blk.dstPort
	} else {
		p.blk.srcPort = r
		p.fl.SrcPort = &p.blk.srcPort
	}
	return nil
}

// tcpFlagsMask is TCP_FLAGS_MAX_MASK: the 12 bits of the TCP header's
// flags field.
const tcpFlagsMask = 0xfff

// tcpFlags is flower_parse_tcp_flags: hex value and mask, at most fff.
func (p *flowerParser) tcpFlags(a *Args, key string) error {
	v, err := a.Value(key, "flags[/mask] in hex")
	if err != nil {
		return err
	}
	val, mask, hasMask := v, "", false
	if i := strings.IndexByte(v, '/'); i >= 0 {
		val, mask, hasMask = v[:i], v[i+1:], true
	}
	m := &cls.Masked[uint16]{Mask: tcpFlagsMask}
	var ok bool
	if m.Value, ok = getU16(val, 16); !ok || m.Value&^tcpFlagsMask != 0 {
		return badValue("flower", key, v, "illegal tcp_flags: expected hex 0..fff[/MASK]")
	}
	if hasMask {
		if m.Mask, ok = getU16(mask, 16); !ok || m.Mask&^tcpFlagsMask != 0 {
			return badValue("flower", key, v, "illegal tcp_flags mask: expected hex 0..fff")
		}
	}
	m.Value &= m.Mask
	p.fl.TCPFlags = m
	return nil
}

// icmp reads "type" and "code" (flower_parse_icmp): they need ip_proto
// icmp with protocol ip, or icmpv6 with ipv6.
func (p *flowerParser) icmp(a *Args, key string) error {
	v, err := a.Value(key, "a number")
	if err != nil {
		return err
	}
	if !(p.ethType == wire.EtherTypeIPv4 && p.ipProto == wire.ProtoICMP ||
		p.ethType == wire.EtherTypeIPv6 && p.ipProto == wire.ProtoICMPv6) {
		return syntaxErr("flower", key, "illegal \"icmp %s\": needs ip_proto icmp (protocol ip) or icmpv6 (protocol ipv6) before it", key)
	}
	val, mask, hasMask := v, "", false
	if i := strings.IndexByte(v, '/'); i >= 0 {
		val, mask, hasMask = v[:i], v[i+1:], true
	}
	n, ok := getU8(val, 10)
	if !ok {
		return badValue("flower", key, v, "illegal icmp "+key+": expected 0..255")
	}
	if hasMask {
		if m, ok := getU8(mask, 10); !ok || m != 0xff {
			return badValue("flower", key, v, "masked icmp keys are not supported by netyard")
		}
	}
	if key == "type" {
		p.fl.ICMPType = &n
	} else {
		p.fl.ICMPCode = &n
	}
	return nil
}

// ipFlagNames is flags_str in f_flower.c.
var ipFlagNames = []struct {
	bit  uint32
	name string
}{
	{cls.FlagIsFragment, "frag"},
	{cls.FlagFragIsFirst, "firstfrag"},
}

// ipFlags is flower_parse_matching_flags: "frag", "nofrag", "firstfrag",
// "nofirstfrag" joined by "/".
func (p *flowerParser) ipFlags(a *Args, key string) error {
	v, err := a.Value(key, "flags (frag, nofrag, firstfrag, nofirstfrag joined by /)")
	if err != nil {
		return err
	}
	m := &cls.Masked[uint32]{}
	for _, tok := range strings.Split(v, "/") {
		if tok == "" {
			continue // strtok skips empty tokens
		}
		name, no := strings.CutPrefix(tok, "no")
		found := false
		for _, f := range ipFlagNames {
			if name == f.name {
				if no {
					m.Value &^= f.bit
				} else {
					m.Value |= f.bit
				}
				m.Mask |= f.bit
				found = true
			}
		}
		if !found {
			return badValue("flower", key, v, fmt.Sprintf("unknown flag %q: expected frag, nofrag, firstfrag or nofirstfrag", tok))
		}
	}
	if m.Mask == 0 {
		return badValue("flower", key, v, "no flag given")
	}
	p.fl.IPFlags = m
	return nil
}

// flowerEthType is the "eth_type" the kernel reports for a flower filter
// (fl_set_key's key->basic.n_proto): the innermost ethertype that is not
// a VLAN tag, or 0 when there is none (protocol all, or a VLAN protocol
// without vlan_ethtype).
func flowerEthType(protocol uint16, fl *cls.Flower) uint16 {
	if protocol == wire.EtherTypeAll {
		return 0
	}
	if !isVlanType(protocol) {
		return protocol
	}
	if fl.VlanEthType == nil {
		return 0
	}
	if !isVlanType(*fl.VlanEthType) {
		return *fl.VlanEthType
	}
	if fl.CVlanEthType != nil {
		return *fl.CVlanEthType
	}
	return 0
}

func formatMAC(m [6]byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// maskBits is __mask_bits: the prefix length of a contiguous mask, -1 for
// a mask with a hole or no bit at all.
func maskBits(m []byte) int {
	bits, hole := 0, false
	for _, b := range m {
		for j := 7; j >= 0; j-- {
			switch {
			case b>>j&1 == 1:
				if hole {
					return -1
				}
				bits++
			case bits > 0:
				hole = true
			default:
				return -1
			}
		}
	}
	return bits
}

// formatMACMask is flower_print_eth_addr's value: the address, then
// "/BITS" for a shorter prefix or "/MASK" for another mask.
func formatMACMask(m *cls.MACMask) string {
	s := formatMAC(m.Addr)
	switch bits := maskBits(m.Mask[:]); {
	case bits < 0:
		s += "/" + formatMAC(m.Mask)
	case bits < 48:
		s += "/" + strconv.Itoa(bits)
	}
	return s
}

// formatPrefix is flower_print_ip_addr's value: the address, and the
// prefix length when it is shorter than the address.
func formatPrefix(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

func ipProtoName(proto uint8) string {
	switch proto {
	case wire.ProtoTCP:
		return "tcp"
	case wire.ProtoUDP:
		return "udp"
	case ipProtoSCTP:
		return "sctp"
	case wire.ProtoICMP:
		return "icmp"
	case wire.ProtoICMPv6:
		return "icmpv6"
	case ipProtoL2TP:
		return "l2tp"
	case ipProtoESP:
		return "esp"
	case ipProtoAH:
		return "ah"
	}
	return fmt.Sprintf("0x%02x", proto)
}

func ethTypeName(t uint16) string {
	switch t {
	case wire.EtherTypeIPv4:
		return "ipv4"
	case wire.EtherTypeIPv6:
		return "ipv6"
	case wire.EtherTypeARP:
		return "arp"
	case 0x8035:
		return "rarp"
	}
	return fmt.Sprintf("%04x", t)
}

// printFlower is flower_print_opt: the handle and classid on the filter's
// line, then one key a line ("  dst_ip 10.0.0.0/8"), the flags, and the
// actions.
func printFlower(w *Writer, v *FilterView, o *Options) {
	f := &v.Spec
	fl, ok := f.Classifier.(*cls.Flower)
	if !ok {
		return
	}
	if f.Handle != 0 {
		w.Uint(PrintAny, "handle", "handle %#x ", uint64(f.Handle))
	}
	if f.ClassID != 0 {
		w.String(PrintAny, "classid", "classid %s ", FormatClassID(f.ClassID))
	}
	if o.Brief {
		// -brief asks the kernel for a terse dump (fl_terse_dump):
		// the flags and the actions, no keys.
		printClsFlags(w, f)
		printFilterActions(w, v.Actions, o)
		return
	}
	// print_indent_name_value; format is key+" %s", a constant so that
	// a listing of a million filters builds no format strings.
	line := func(key, format, value string) {
		w.Text("\n  ")
		w.String(PrintAny, key, format, value)
	}
	if fl.Indev != "" {
		w.NL()
		w.String(PrintAny, "indev", "  indev %s", fl.Indev)
	}
	w.Open("keys")
	if fl.VlanID != nil {
		w.NL()
		w.Uint(PrintAny, "vlan_id", "  vlan_id %d", uint64(*fl.VlanID))
	}
	if fl.VlanPrio != nil {
		w.NL()
		w.Uint(PrintAny, "vlan_prio", "  vlan_prio %d", uint64(*fl.VlanPrio))
	}
	if fl.VlanEthType != nil {
		w.NL()
		w.String(PrintAny, "vlan_ethtype", "  vlan_ethtype %s", FormatProtocol(*fl.VlanEthType))
	}
	if fl.CVlanID != nil {
		w.NL()
		w.Uint(PrintAny, "cvlan_id", "  cvlan_id %d", uint64(*fl.CVlanID))
	}
	if fl.CVlanPrio != nil {
		w.NL()
		w.Uint(PrintAny, "cvlan_prio", "  cvlan_prio %d", uint64(*fl.CVlanPrio))
	}
	if fl.CVlanEthType != nil {
		w.NL()
		w.String(PrintAny, "cvlan_ethtype", "  cvlan_ethtype %s", FormatProtocol(*fl.CVlanEthType))
	}
	if fl.DstMAC != nil {
		line("dst_mac", "dst_mac %s", formatMACMask(fl.DstMAC))
	}
	if fl.SrcMAC != nil {
		line("src_mac", "src_mac %s", formatMACMask(fl.SrcMAC))
	}
	if t := flowerEthType(f.Protocol, fl); t != 0 {
		w.NL()
		w.String(PrintAny, "eth_type", "  eth_type %s", ethTypeName(t))
	}
	if fl.IPProto != nil {
		w.NL()
		w.String(PrintAny, "ip_proto", "  ip_proto %s", ipProtoName(*fl.IPProto))
	}
	printMaskedU8(w, "ip_tos", fl.TOS)
	printMaskedU8(w, "ip_ttl", fl.TTL)
	if fl.DstIP != nil {
		w.Text("\n  ")
		w.Prefix(PrintAny, "dst_ip", "dst_ip %s", *fl.DstIP)
	}
	if fl.SrcIP != nil {
		w.Text("\n  ")
		w.Prefix(PrintAny, "src_ip", "src_ip %s", *fl.SrcIP)
	}
	// Single ports first, then ranges, as flower_print_opt.
	for _, pr := range []struct {
		key string
		r   *cls.PortRange
	}{{"dst_port", fl.DstPort}, {"src_port", fl.SrcPort}} {
		if pr.r != nil && pr.r.Min == pr.r.Max {
			w.Text("\n ")
			w.Uint(PrintAny, pr.key, " "+pr.key+" %d", uint64(pr.r.Min))
		}
	}
	for _, pr := range []struct {
		key string
		r   *cls.PortRange
	}{{"dst_port", fl.DstPort}, {"src_port", fl.SrcPort}} {
		if pr.r != nil && pr.r.Min != pr.r.Max {
			if w.IsJSON() {
				w.Open(pr.key)
				w.Uint(PrintAny, "start", "", uint64(pr.r.Min))
				w.Uint(PrintAny, "end", "", uint64(pr.r.Max))
				w.Close()
			} else {
				line(pr.key, pr.key+" %s", fmt.Sprintf("%d-%d", pr.r.Min, pr.r.Max))
			}
		}
	}
	if fl.TCPFlags != nil {
		line("tcp_flags", "tcp_flags %s", fmt.Sprintf("0x%x/%x", fl.TCPFlags.Value, fl.TCPFlags.Mask))
	}
	if fl.ICMPType != nil {
		line("icmp_type", "icmp_type %s", strconv.Itoa(int(*fl.ICMPType)))
	}
	if fl.ICMPCode != nil {
		line("icmp_code", "icmp_code %s", strconv.Itoa(int(*fl.ICMPCode)))
	}
	if fl.IPFlags != nil && fl.IPFlags.Mask != 0 {
		count := 0
		for _, fn := range ipFlagNames {
			if fl.IPFlags.Mask&fn.bit == 0 {
				continue
			}
			count++
			if count == 1 {
				w.NL()
				w.Text("  ip_flags ")
				w.Open("ip_flags")
			} else {
				w.Text("/")
			}
			set := fl.IPFlags.Value&fn.bit != 0
			w.Bool(PrintJSON, fn.name, "", set)
			if set {
				w.Text(fn.name)
			} else {
				w.Text("no" + fn.name)
			}
		}
		if count > 0 {
			w.Close()
		}
	}
	w.Close() // keys
	printClsFlags(w, f)
	printFilterActions(w, v.Actions, o)
}

// printMaskedU8 is tc_util.c's print_masked_u8 with a newline: "  ip_tos
// 4" or "  ip_tos 4/0xfc"; in JSON the value and, when masked,
// "ip_tos_mask".
func printMaskedU8(w *Writer, key string, m *cls.Masked[uint8]) {
	if m == nil {
		return
	}
	w.Text("\n ")
	if w.IsJSON() {
		w.Uint(PrintAny, key, "", uint64(m.Value))
		if m.Mask != 0xff {
			w.Uint(PrintAny, key+"_mask", "", uint64(m.Mask))
		}
		return
	}
	s := strconv.Itoa(int(m.Value))
	if m.Mask != 0xff {
		s += fmt.Sprintf("/0x%x", m.Mask)
	}
	w.String(PrintAny, key, " "+key+" %s", s)
}

// printClsFlags prints the TCA_CLS_FLAGS of a software filter: skip_hw
// when asked for, and not_in_hw, which the kernel reports for every filter
// no hardware holds; netyard's filters are all of that kind.
func printClsFlags(w *Writer, f *cls.Filter) {
	if f.SkipHW {
		w.NL()
		w.Bool(PrintAny, "skip_hw", "  skip_hw", true)
	}
	if f.SkipSW {
		w.NL()
		w.Bool(PrintAny, "skip_sw", "  skip_sw", true)
	}
	w.NL()
	w.Bool(PrintAny, "not_in_hw", "  not_in_hw", true)
}

// formatFlower writes a flower filter's options as tc words, in
// flower_print_opt's order.
func formatFlower(f *cls.Filter) []string {
	fl, ok := f.Classifier.(*cls.Flower)
	if !ok {
		return nil
	}
	words := []string{"flower"}
	add := func(w ...string) { words = append(words, w...) }
	if f.ClassID != 0 {
		add("classid", FormatClassID(f.ClassID))
	}
	if f.SkipHW {
		add("skip_hw")
	}
	if fl.Indev != "" {
		add("indev", fl.Indev)
	}
	if fl.VlanID != nil {
		add("vlan_id", strconv.Itoa(int(*fl.VlanID)))
	}
	if fl.VlanPrio != nil {
		add("vlan_prio", strconv.Itoa(int(*fl.VlanPrio)))
	}
	if fl.VlanEthType != nil {
		add("vlan_ethtype", protoWord(*fl.VlanEthType))
	}
	if fl.CVlanID != nil {
		add("cvlan_id", strconv.Itoa(int(*fl.CVlanID)))
	}
	if fl.CVlanPrio != nil {
		add("cvlan_prio", strconv.Itoa(int(*fl.CVlanPrio)))
	}
	if fl.CVlanEthType != nil {
		add("cvlan_ethtype", protoWord(*fl.CVlanEthType))
	}
	if fl.DstMAC != nil {
		add("dst_mac", formatMAC(fl.DstMAC.Addr)+"/"+formatMAC(fl.DstMAC.Mask))
	}
	if fl.SrcMAC != nil {
		add("src_mac", formatMAC(fl.SrcMAC.Addr)+"/"+formatMAC(fl.SrcMAC.Mask))
	}
	if fl.IPProto != nil {
		name := ipProtoName(*fl.IPProto)
		if strings.HasPrefix(name, "0x") {
			name = strconv.FormatUint(uint64(*fl.IPProto), 16)
		}
		add("ip_proto", name)
	}
	if fl.TOS != nil {
		add("ip_tos", fmt.Sprintf("%d/0x%x", fl.TOS.Value, fl.TOS.Mask))
	}
	if fl.TTL != nil {
		add("ip_ttl", fmt.Sprintf("%d/0x%x", fl.TTL.Value, fl.TTL.Mask))
	}
	if fl.DstIP != nil {
		add("dst_ip", fl.DstIP.String())
	}
	if fl.SrcIP != nil {
		add("src_ip", fl.SrcIP.String())
	}
	for _, pr := range []struct {
		key string
		r   *cls.PortRange
	}{{"dst_port", fl.DstPort}, {"src_port", fl.SrcPort}} {
		switch {
		case pr.r == nil:
		case pr.r.Min == pr.r.Max:
			add(pr.key, strconv.Itoa(int(pr.r.Min)))
		default:
			add(pr.key, fmt.Sprintf("%d-%d", pr.r.Min, pr.r.Max))
		}
	}
	if fl.TCPFlags != nil {
		add("tcp_flags", fmt.Sprintf("0x%x/0x%x", fl.TCPFlags.Value, fl.TCPFlags.Mask))
	}
	if fl.ICMPType != nil {
		add("type", strconv.Itoa(int(*fl.ICMPType)))
	}
	if fl.ICMPCode != nil {
		add("code", strconv.Itoa(int(*fl.ICMPCode)))
	}
	if fl.IPFlags != nil && fl.IPFlags.Mask != 0 {
		var toks []string
		for _, fn := range ipFlagNames {
			switch {
			case fl.IPFlags.Mask&fn.bit == 0:
			case fl.IPFlags.Value&fn.bit != 0:
				toks = append(toks, fn.name)
			default:
				toks = append(toks, "no"+fn.name)
			}
		}
		add("ip_flags", strings.Join(toks, "/"))
	}
	return words
}

// protoWord writes an EtherType so that ParseProtocol reads it back.
func protoWord(t uint16) string {
	if s := FormatProtocol(t); !strings.HasPrefix(s, "[") {
		return s
	}
	return fmt.Sprintf("0x%04x", t)
}
