package cls

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// flowerValues holds the values a rebuilt Flower's key pointers point to,
// so that rebuilding one allocates nothing (dumps rebuild every filter's
// into the same scratch).
type flowerValues struct {
	dstMAC, srcMAC      MACMask
	vlanID, cvlanID     uint16
	vlanPrio, cvlanPrio uint8
	vlanEth, cvlanEth   uint16
	ipProto             uint8
	srcIP, dstIP        netip.Prefix
	srcPort, dstPort    PortRange
	tos, ttl            Masked[uint8]
	tcpFlags            Masked[uint16]
	ipFlags             Masked[uint32]
	icmpType, icmpCode  uint8
}

// flower rebuilds into fl the flower spec that compiles to c, with its
// values in v: every key whose mask is not zero, as the kernel's
// fl_dump_key does from the key and mask it keeps (a key given with an
// all-zero mask, such as "ip_tos 0/0" or "dst_ip 0.0.0.0/0", matches
// everything and is not shown; a masked value shows its masked bits).
// indev is the name of the indev key's device. Compiling the result with
// the filter's protocol gives c again (TestFlowerRebuilt).
func (c *Classifier) flower(fl *Flower, v *flowerValues, indev string) {
	*fl = Flower{Indev: indev}
	// One pass over the (few) words; the address words are collected
	// first, as an IPv6 prefix spans two of them. A dump runs this for
	// every filter: no closures, no key arrays to clear.
	var ipKey, ipMask [4]uint64 // src hi, src lo, dst hi, dst lo
	v6 := false
	for i := range c.words {
		w := &c.words[i]
		m, x := w.mask, w.value
		switch w.idx {
		case kwMeta:
			v6 = m&hasIPv6 != 0
			if m>>shIPProto&0xff != 0 {
				v.ipProto, fl.IPProto = uint8(x>>shIPProto), &v.ipProto
			}
			if mm := uint8(m >> shTOS); mm != 0 {
				v.tos, fl.TOS = Masked[uint8]{Value: uint8(x >> shTOS), Mask: mm}, &v.tos
			}
			if mm := uint8(m >> shTTL); mm != 0 {
				v.ttl, fl.TTL = Masked[uint8]{Value: uint8(x >> shTTL), Mask: mm}, &v.ttl
			}
			if mm := uint32(uint8(m >> shIPFlags)); mm != 0 {
				v.ipFlags, fl.IPFlags = Masked[uint32]{Value: uint32(uint8(x >> shIPFlags)), Mask: mm}, &v.ipFlags
			}
			if m>>shICMPType&0xff != 0 {
				v.icmpType, fl.ICMPType = uint8(x>>shICMPType), &v.icmpType
			}
			if m>>shICMPCode&0xff != 0 {
				v.icmpCode, fl.ICMPCode = uint8(x>>shICMPCode), &v.icmpCode
			}
		case kwL4:
			if m>>shSrcPort&0xffff != 0 {
				p := uint16(x >> shSrcPort)
				v.srcPort, fl.SrcPort = PortRange{Min: p, Max: p}, &v.srcPort
			}
			if m>>shDstPort&0xffff != 0 {
				p := uint16(x >> shDstPort)
				v.dstPort, fl.DstPort = PortRange{Min: p, Max: p}, &v.dstPort
			}
			if mm := uint16(m >> shTCPFlags); mm != 0 {
				v.tcpFlags, fl.TCPFlags = Masked[uint16]{Value: uint16(x >> shTCPFlags), Mask: mm}, &v.tcpFlags
			}
		case kwDstMAC:
			put48(v.dstMAC.Addr[:], x)
			put48(v.dstMAC.Mask[:], m)
			fl.DstMAC = &v.dstMAC
		case kwSrcMAC:
			put48(v.srcMAC.Addr[:], x)
			put48(v.srcMAC.Mask[:], m)
			fl.SrcMAC = &v.srcMAC
		case kwVlan:
			fl.VlanID, fl.VlanPrio, fl.VlanEthType = tagKeysOf(m, x, &v.vlanID, &v.vlanPrio, &v.vlanEth)
		case kwCVlan:
			fl.CVlanID, fl.CVlanPrio, fl.CVlanEthType = tagKeysOf(m, x, &v.cvlanID, &v.cvlanPrio, &v.cvlanEth)
		case kwSrcIPHi, kwSrcIPLo, kwDstIPHi, kwDstIPLo:
			j := int(w.idx) - kwSrcIPHi
			ipKey[j], ipMask[j] = x, m
		}
	}
	for _, r := range c.ranges() {
		if r.shift == shSrcPort {
			v.srcPort, fl.SrcPort = PortRange{Min: r.min, Max: r.max}, &v.srcPort
		} else {
			v.dstPort, fl.DstPort = PortRange{Min: r.min, Max: r.max}, &v.dstPort
		}
	}
	fl.SrcIP = prefixOf(v6, ipKey[0], ipKey[1], ipMask[0], ipMask[1], &v.srcIP)
	fl.DstIP = prefixOf(v6, ipKey[2], ipKey[3], ipMask[2], ipMask[3], &v.dstIP)
}

// tagKeysOf rebuilds a tag's vlan_id, vlan_prio and vlan_ethtype keys
// from its word (tagKeys' inverse; the TPID is the protocol's, not a key).
func tagKeysOf(m, x uint64, id *uint16, prio *uint8, eth *uint16) (*uint16, *uint8, *uint16) {
	var pid *uint16
	var pprio *uint8
	var peth *uint16
	if m>>shTCI&0x0fff != 0 {
		*id, pid = uint16(x>>shTCI)&0x0fff, id
	}
	if m>>(shTCI+13)&7 != 0 {
		*prio, pprio = uint8(x>>(shTCI+13))&7, prio
	}
	if m>>shNext&0xffff != 0 {
		*eth, peth = uint16(x>>shNext), eth
	}
	return pid, pprio, peth
}

// prefixOf rebuilds an address key from its two words (addrKey's
// inverse), nil when both masks are zero.
func prefixOf(v6 bool, hi, lo, mhi, mlo uint64, out *netip.Prefix) *netip.Prefix {
	if mhi == 0 && mlo == 0 {
		return nil
	}
	if v6 {
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi)
		binary.BigEndian.PutUint64(a[8:], lo)
		*out = netip.PrefixFrom(netip.AddrFrom16(a), bits.OnesCount64(mhi)+bits.OnesCount64(mlo))
		return out
	}
	var a [4]byte
	binary.BigEndian.PutUint32(a[:], uint32(hi>>32))
	*out = netip.PrefixFrom(netip.AddrFrom4(a), bits.OnesCount64(mhi))
	return out
}

// put48 writes the low 48 bits of x into b[:6], most significant first
// (mac48's inverse).
func put48(b []byte, x uint64) {
	_ = b[5]
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(x>>40), byte(x>>32), byte(x>>24), byte(x>>16), byte(x>>8), byte(x)
}

// spec rebuilds the classifier part of f's configuration: a new Flower or
// Matchall that shares nothing.
func (c *Chains) spec(f *filter) Spec {
	switch f.cls.kind {
	case kindMatchall:
		return &Matchall{}
	case kindBpf:
		return cloneBpf(f.cls.bpf.spec)
	}
	var v flowerValues
	fl := new(Flower)
	f.cls.flower(fl, &v, c.indev[f])
	return cloneClassifierSpec(fl)
}
