package cls

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"

	"netyard/act"
	"netyard/pkt"
	"netyard/wire"
)

// Classifier is a compiled flower or matchall: the words of a flowKey that
// must match under their masks, and the port ranges. Matching a packet is
// a loop over a few words; it allocates nothing and calls nothing
// indirect. A Classifier is immutable.
//
// A Block does not call it filter by filter: the filters of one prio are
// looked up through a hash table per distinct mask (index.go), and match
// confirms the one a probe finds. Within a prio the filter with the lowest
// handle among those that match wins, as the list walk it replaces did;
// the kernel's flower takes the first match in mask creation order
// instead. The two agree whenever the filters of a prio do not overlap,
// which is what flower's own "Filter already exists" check is there to
// encourage.
type Classifier struct {
	kind kind
	nr   uint8 // ranges in use in rng
	// rng are the port ranges (at most one per port), inline: a million
	// filters keep a million classifiers.
	rng   [2]portRange
	words []keyWord
	// bpf is the bpf classifier's program (kind bpf), nil otherwise.
	bpf *bpfProg
	// inl holds words when there are few (most filters: a million of
	// them add up), so that they cost no allocation of their own.
	inl [inlineWords]keyWord
}

// kind is a classifier's kind, a byte rather than its name's string
// header in each of a million filters.
type kind uint8

const (
	kindFlower kind = iota + 1
	kindMatchall
	kindBpf
)

func (k kind) String() string {
	switch k {
	case kindFlower:
		return "flower"
	case kindMatchall:
		return "matchall"
	case kindBpf:
		return "bpf"
	}
	return ""
}

// ranges returns the classifier's port ranges.
func (c *Classifier) ranges() []portRange { return c.rng[:c.nr] }

// inlineWords is how many key words a Classifier holds without a separate
// allocation: enough for an address, a protocol and ports.
const inlineWords = 3

type keyWord struct {
	idx         uint8
	mask, value uint64
}

// portRange is flower's port range key (fl_range_port_dst_cmp): min <= port
// <= max on the port at shift in kwL4.
type portRange struct {
	shift    uint8
	min, max uint16
}

// Kind is "flower" or "matchall".
func (c *Classifier) Kind() string { return c.kind.String() }

// Match reports whether the classifier matches p, on its parsed headers
// (p.Hdr) and its receiving device (p.Ingress). The filter's protocol is
// not part of it: Block checks that first, as tcf_classify does.
func (c *Classifier) Match(p *pkt.Buffer) bool {
	if len(c.words) == 0 && c.nr == 0 {
		return true
	}
	var k flowKey
	k.fill(p)
	return c.match(&k)
}

func (c *Classifier) match(k *flowKey) bool {
	for i := range c.words {
		w := &c.words[i]
		if k[w.idx]&w.mask != w.value {
			return false
		}
	}
	for i := range c.nr {
		r := &c.rng[i]
		port := uint16(k[kwL4] >> r.shift)
		if port < r.min || port > r.max {
			return false
		}
	}
	return true
}

// sameKeys reports whether c and d match exactly the same packets by
// construction (the same masked words and ranges): flower refuses a second
// filter with the same key in one prio.
func (c *Classifier) sameKeys(d *Classifier) bool {
	return c.kind == d.kind && slices.Equal(c.words, d.words) && c.nr == d.nr && c.rng == d.rng
}

// NewClassifier compiles spec for a filter of the given protocol (host
// order; wire.EtherTypeAll for "all"). env resolves device names.
func NewClassifier(spec Spec, protocol uint16, env act.Env) (*Classifier, error) {
	c := new(Classifier)
	if err := compileInto(c, spec, protocol, env); err != nil {
		return nil, err
	}
	return c, nil
}

// compileInto is NewClassifier into c, which the caller allocated (Chains
// allocates a filter and its classifier together).
func compileInto(c *Classifier, spec Spec, protocol uint16, env act.Env) error {
	switch s := spec.(type) {
	case *Flower:
		return compileFlower(c, s, protocol, env)
	case *Matchall:
		*c = Classifier{kind: kindMatchall}
		return nil
	case *Bpf:
		return compileBpf(c, s, env)
	case nil:
		return fmt.Errorf("filter: no classifier: give flower, matchall or bpf")
	}
	return fmt.Errorf("filter: classifier %q: not supported (flower, matchall, bpf)", spec.Kind())
}

// keyBuilder collects masks and values per word.
type keyBuilder struct {
	mask, value flowKey
}

func (b *keyBuilder) set(idx int, mask, value uint64) {
	b.mask[idx] |= mask
	b.value[idx] = b.value[idx]&^mask | value&mask
}

// NewFlower compiles a flower spec (cls_flower.c's fl_set_key) for a filter
// of the given protocol. It enforces what tc enforces about which keys a
// protocol allows, since a key that can never be present would otherwise
// make a filter that silently never matches:
//
//   - vlan_id, vlan_prio and vlan_ethtype need protocol 802.1Q or 802.1ad
//     and then match the outer tag, whose TPID must be the protocol (the
//     kernel keys on vlan_tpid too). vlan_ethtype is the EtherType right
//     after the outer tag.
//   - cvlan_* need a vlan_ethtype of 802.1Q or 802.1ad: they match the
//     inner tag, whose TPID must be that vlan_ethtype.
//   - the L3 type is the protocol, or under a VLAN protocol the
//     vlan_ethtype, or under two tags the cvlan_ethtype. ip_proto, ip_tos,
//     ip_ttl need it to be ip or ipv6; an address needs the family of its
//     own (ip for IPv4, ipv6 for IPv6).
//   - ports need ip_proto tcp, udp or sctp; tcp_flags ip_proto tcp; the
//     ICMP keys ip_proto icmp under ip, or icmpv6 under ipv6.
//   - indev names a device that exists now; a filter keeps the index.
func NewFlower(f *Flower, protocol uint16, env act.Env) (*Classifier, error) {
	c := new(Classifier)
	if err := compileFlower(c, f, protocol, env); err != nil {
		return nil, err
	}
	return c, nil
}

func compileFlower(c *Classifier, f *Flower, protocol uint16, env act.Env) error {
	var b keyBuilder
	l3 := protocol
	vlanProto := protocol == wire.EtherTypeVLAN || protocol == wire.EtherTypeQinQ
	if f.VlanID != nil || f.VlanPrio != nil || f.VlanEthType != nil {
		if !vlanProto {
			return fmt.Errorf("flower: %s needs protocol 802.1Q or 802.1ad, not %#04x", vlanKeyName(f), protocol)
		}
	}
	innerTagged := false
	if vlanProto {
		l3 = 0
		b.set(kwVlan, 0xffff<<shTPID, uint64(protocol)<<shTPID)
		if err := tagKeys(&b, kwVlan, "vlan", f.VlanID, f.VlanPrio); err != nil {
			return err
		}
		if f.VlanEthType != nil {
			t := *f.VlanEthType
			b.set(kwVlan, 0xffff<<shNext, uint64(t)<<shNext)
			if t == wire.EtherTypeVLAN || t == wire.EtherTypeQinQ {
				innerTagged = true
				b.set(kwCVlan, 0xffff<<shTPID, uint64(t)<<shTPID)
			} else {
				l3 = t
			}
		}
	}
	if f.CVlanID != nil || f.CVlanPrio != nil || f.CVlanEthType != nil {
		if !innerTagged {
			return fmt.Errorf("flower: cvlan_* keys need vlan_ethtype 802.1Q or 802.1ad (the inner tag's TPID)")
		}
		if err := tagKeys(&b, kwCVlan, "cvlan", f.CVlanID, f.CVlanPrio); err != nil {
			return err
		}
		if f.CVlanEthType != nil {
			l3 = *f.CVlanEthType
			b.set(kwCVlan, 0xffff<<shNext, uint64(l3)<<shNext)
		}
	}

	if f.Indev != "" {
		idx, ok := env.DeviceIndex(f.Indev)
		if !ok {
			return fmt.Errorf("flower: indev %q: no such device", f.Indev)
		}
		b.set(kwIndev, 0xffffffff, uint64(uint32(idx)))
	}
	if f.DstMAC != nil {
		b.set(kwDstMAC, mac48(f.DstMAC.Mask), mac48(f.DstMAC.Addr))
	}
	if f.SrcMAC != nil {
		b.set(kwSrcMAC, mac48(f.SrcMAC.Mask), mac48(f.SrcMAC.Addr))
	}

	ip := l3 == wire.EtherTypeIPv4 || l3 == wire.EtherTypeIPv6
	needIP := func(key string) error {
		if !ip {
			return fmt.Errorf("flower: %s needs protocol ip or ipv6 (under a VLAN protocol: vlan_ethtype or cvlan_ethtype ip or ipv6)", key)
		}
		return nil
	}
	if f.IPProto != nil {
		if err := needIP("ip_proto"); err != nil {
			return err
		}
		b.set(kwMeta, hasIP|0xff<<shIPProto, hasIP|uint64(*f.IPProto)<<shIPProto)
	}
	if f.TOS != nil {
		if err := needIP("ip_tos"); err != nil {
			return err
		}
		b.set(kwMeta, hasIP|uint64(f.TOS.Mask)<<shTOS, hasIP|uint64(f.TOS.Value)<<shTOS)
	}
	if f.TTL != nil {
		if err := needIP("ip_ttl"); err != nil {
			return err
		}
		b.set(kwMeta, hasIP|uint64(f.TTL.Mask)<<shTTL, hasIP|uint64(f.TTL.Value)<<shTTL)
	}
	if f.IPFlags != nil {
		const known = FlagIsFragment | FlagFragIsFirst
		if f.IPFlags.Mask&^known != 0 {
			return fmt.Errorf("flower: ip_flags mask %#x: only frag (%#x) and firstfrag (%#x) are known", f.IPFlags.Mask, FlagIsFragment, FlagFragIsFirst)
		}
		b.set(kwMeta, uint64(f.IPFlags.Mask)<<shIPFlags, uint64(f.IPFlags.Value)<<shIPFlags)
	}
	for _, a := range []struct {
		name   string
		p      *netip.Prefix
		hi, lo int
	}{{"src_ip", f.SrcIP, kwSrcIPHi, kwSrcIPLo}, {"dst_ip", f.DstIP, kwDstIPHi, kwDstIPLo}} {
		if a.p == nil {
			continue
		}
		if err := addrKey(&b, a.name, *a.p, l3, a.hi, a.lo); err != nil {
			return err
		}
	}

	proto := -1
	if f.IPProto != nil {
		proto = int(*f.IPProto)
	}
	var (
		ranges [2]portRange
		nr     uint8
	)
	for _, pk := range []struct {
		name  string
		r     *PortRange
		shift uint8
	}{{"src_port", f.SrcPort, shSrcPort}, {"dst_port", f.DstPort, shDstPort}} {
		if pk.r == nil {
			continue
		}
		switch proto {
		case int(wire.ProtoTCP), int(wire.ProtoUDP), int(wire.ProtoSCTP):
		default:
			return fmt.Errorf("flower: %s needs ip_proto tcp, udp or sctp", pk.name)
		}
		if pk.r.Min > pk.r.Max {
			return fmt.Errorf("flower: %s %d-%d: the range's minimum must not exceed its maximum", pk.name, pk.r.Min, pk.r.Max)
		}
		b.set(kwMeta, hasL4, hasL4)
		if pk.r.Min == pk.r.Max {
			b.set(kwL4, 0xffff<<pk.shift, uint64(pk.r.Min)<<pk.shift)
		} else {
			ranges[nr] = portRange{shift: pk.shift, min: pk.r.Min, max: pk.r.Max}
			nr++
		}
	}
	if f.TCPFlags != nil {
		if proto != int(wire.ProtoTCP) {
			return fmt.Errorf("flower: tcp_flags needs ip_proto tcp")
		}
		b.set(kwMeta, hasL4, hasL4)
		b.set(kwL4, uint64(f.TCPFlags.Mask)<<shTCPFlags, uint64(f.TCPFlags.Value)<<shTCPFlags)
	}
	if f.ICMPType != nil || f.ICMPCode != nil {
		icmp := proto == int(wire.ProtoICMP) && l3 == wire.EtherTypeIPv4 ||
			proto == int(wire.ProtoICMPv6) && l3 == wire.EtherTypeIPv6
		if !icmp {
			return fmt.Errorf("flower: icmp type/code need ip_proto icmp with protocol ip, or icmpv6 with ipv6")
		}
		b.set(kwMeta, hasL4, hasL4)
		if f.ICMPType != nil {
			b.set(kwMeta, 0xff<<shICMPType, uint64(*f.ICMPType)<<shICMPType)
		}
		if f.ICMPCode != nil {
			b.set(kwMeta, 0xff<<shICMPCode, uint64(*f.ICMPCode)<<shICMPCode)
		}
	}

	*c = Classifier{kind: kindFlower, rng: ranges, nr: nr}
	n := 0
	for i := range numKeyWords {
		if b.mask[i] != 0 {
			n++
		}
	}
	c.words = c.inl[:0]
	if n > len(c.inl) {
		c.words = make([]keyWord, 0, n)
	}
	for i := range numKeyWords {
		if b.mask[i] != 0 {
			c.words = append(c.words, keyWord{idx: uint8(i), mask: b.mask[i], value: b.value[i]})
		}
	}
	return nil
}

func vlanKeyName(f *Flower) string {
	switch {
	case f.VlanID != nil:
		return "vlan_id"
	case f.VlanPrio != nil:
		return "vlan_prio"
	}
	return "vlan_ethtype"
}

// tagKeys adds a tag's VID and PCP keys: VLAN_VID_MASK and the three PCP
// bits of the TCI.
func tagKeys(b *keyBuilder, idx int, name string, id *uint16, prio *uint8) error {
	if id != nil {
		if *id > 0x0fff {
			return fmt.Errorf("flower: %s_id %d: must be 0..4095", name, *id)
		}
		b.set(idx, 0x0fff<<shTCI, uint64(*id)<<shTCI)
	}
	if prio != nil {
		if *prio > 7 {
			return fmt.Errorf("flower: %s_prio %d: must be 0..7", name, *prio)
		}
		b.set(idx, 0xe000<<shTCI, uint64(*prio)<<13<<shTCI)
	}
	return nil
}

// addrKey adds an address prefix. The family must be the filter's L3
// type's, and the packet must have an IP header of that family (the
// kernel's control.addr_type key).
func addrKey(b *keyBuilder, name string, p netip.Prefix, l3 uint16, hi, lo int) error {
	if !p.IsValid() {
		return fmt.Errorf("flower: %s: not a valid prefix", name)
	}
	p = p.Masked()
	a := p.Addr()
	if a.Is4() {
		if l3 != wire.EtherTypeIPv4 {
			return fmt.Errorf("flower: %s %s: an IPv4 address needs protocol ip", name, p)
		}
		b.set(kwMeta, hasIPv4, hasIPv4)
		v := a.As4()
		b.set(hi, prefixMask(p.Bits()), uint64(binary.BigEndian.Uint32(v[:]))<<32)
		return nil
	}
	if l3 != wire.EtherTypeIPv6 {
		return fmt.Errorf("flower: %s %s: an IPv6 address needs protocol ipv6", name, p)
	}
	b.set(kwMeta, hasIPv6, hasIPv6)
	v := a.As16()
	bits := p.Bits()
	b.set(hi, prefixMask(min(bits, 64)), binary.BigEndian.Uint64(v[:8]))
	b.set(lo, prefixMask(max(bits-64, 0)), binary.BigEndian.Uint64(v[8:]))
	return nil
}

// prefixMask is a 64-bit word with its top n bits set.
func prefixMask(n int) uint64 {
	if n <= 0 {
		return 0
	}
	return ^uint64(0) << (64 - n)
}
