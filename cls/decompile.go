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
	var key, mask flowKey
	for _, w := range c.words {
		key[w.idx], mask[w.idx] = w.value, w.mask
	}
	field := func(i int, shift uint, width uint64) (value, m uint64, ok bool) {
		m = mask[i] >> shift & width
		return key[i] >> shift & width, m, m != 0
	}
	macKey := func(i int, out *MACMask) *MACMask {
		if mask[i] == 0 {
			return nil
		}
		put48(out.Addr[:], key[i])
		put48(out.Mask[:], mask[i])
		return out
	}
	fl.DstMAC = macKey(kwDstMAC, &v.dstMAC)
	fl.SrcMAC = macKey(kwSrcMAC, &v.srcMAC)
	tag := func(i int, id *uint16, prio *uint8, eth *uint16) (*uint16, *uint8, *uint16) {
		var pid *uint16
		var pprio *uint8
		var peth *uint16
		if x, _, ok := field(i, shTCI, 0x0fff); ok {
			*id, pid = uint16(x), id
		}
		if x, _, ok := field(i, shTCI+13, 7); ok {
			*prio, pprio = uint8(x), prio
		}
		if x, _, ok := field(i, shNext, 0xffff); ok {
			*eth, peth = uint16(x), eth
		}
		return pid, pprio, peth
	}
	fl.VlanID, fl.VlanPrio, fl.VlanEthType = tag(kwVlan, &v.vlanID, &v.vlanPrio, &v.vlanEth)
	fl.CVlanID, fl.CVlanPrio, fl.CVlanEthType = tag(kwCVlan, &v.cvlanID, &v.cvlanPrio, &v.cvlanEth)
	if x, _, ok := field(kwMeta, shIPProto, 0xff); ok {
		v.ipProto, fl.IPProto = uint8(x), &v.ipProto
	}
	if x, m, ok := field(kwMeta, shTOS, 0xff); ok {
		v.tos, fl.TOS = Masked[uint8]{Value: uint8(x), Mask: uint8(m)}, &v.tos
	}
	if x, m, ok := field(kwMeta, shTTL, 0xff); ok {
		v.ttl, fl.TTL = Masked[uint8]{Value: uint8(x), Mask: uint8(m)}, &v.ttl
	}
	if x, m, ok := field(kwMeta, shIPFlags, 0xff); ok {
		v.ipFlags, fl.IPFlags = Masked[uint32]{Value: uint32(x), Mask: uint32(m)}, &v.ipFlags
	}
	if x, _, ok := field(kwMeta, shICMPType, 0xff); ok {
		v.icmpType, fl.ICMPType = uint8(x), &v.icmpType
	}
	if x, _, ok := field(kwMeta, shICMPCode, 0xff); ok {
		v.icmpCode, fl.ICMPCode = uint8(x), &v.icmpCode
	}
	v6 := mask[kwMeta]&hasIPv6 != 0
	addr := func(hi, lo int, out *netip.Prefix) *netip.Prefix {
		if mask[hi] == 0 && mask[lo] == 0 {
			return nil
		}
		if v6 {
			var a [16]byte
			binary.BigEndian.PutUint64(a[:8], key[hi])
			binary.BigEndian.PutUint64(a[8:], key[lo])
			*out = netip.PrefixFrom(netip.AddrFrom16(a), bits.OnesCount64(mask[hi])+bits.OnesCount64(mask[lo]))
			return out
		}
		var a [4]byte
		binary.BigEndian.PutUint32(a[:], uint32(key[hi]>>32))
		*out = netip.PrefixFrom(netip.AddrFrom4(a), bits.OnesCount64(mask[hi]))
		return out
	}
	fl.SrcIP = addr(kwSrcIPHi, kwSrcIPLo, &v.srcIP)
	fl.DstIP = addr(kwDstIPHi, kwDstIPLo, &v.dstIP)
	if x, _, ok := field(kwL4, shSrcPort, 0xffff); ok {
		v.srcPort, fl.SrcPort = PortRange{Min: uint16(x), Max: uint16(x)}, &v.srcPort
	}
	if x, _, ok := field(kwL4, shDstPort, 0xffff); ok {
		v.dstPort, fl.DstPort = PortRange{Min: uint16(x), Max: uint16(x)}, &v.dstPort
	}
	for _, r := range c.ranges() {
		if r.shift == shSrcPort {
			v.srcPort, fl.SrcPort = PortRange{Min: r.min, Max: r.max}, &v.srcPort
		} else {
			v.dstPort, fl.DstPort = PortRange{Min: r.min, Max: r.max}, &v.dstPort
		}
	}
	if x, m, ok := field(kwL4, shTCPFlags, 0xffff); ok {
		v.tcpFlags, fl.TCPFlags = Masked[uint16]{Value: uint16(x), Mask: uint16(m)}, &v.tcpFlags
	}
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
	if f.cls.kind == kindMatchall {
		return &Matchall{}
	}
	var v flowerValues
	fl := new(Flower)
	f.cls.flower(fl, &v, c.indev[f])
	return cloneClassifierSpec(fl)
}
