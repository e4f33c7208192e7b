package cls

import (
	"encoding/binary"

	"netyard/pkt"
	"netyard/wire"
)

// flowKey is what flower matches a packet on: the fields of wire.Headers
// that flower has keys for, packed into 64-bit words so that a compiled
// filter is a short list of (word, mask, value) triples compared in a loop.
// It plays the part of the kernel's struct fl_flow_key, which fl_classify
// fills once per mask with skb_flow_dissect; here it is filled once per
// Classify call (again only after an action changed the packet) from the
// headers the datapath parsed at receive.
//
// A layer the packet lacks leaves its fields zero and its presence bit
// clear; a filter with a key in that layer also requires the bit, so that
// "dst_port 0" does not match a packet without ports, and "ip_tos 0/0xfc"
// does not match an ARP frame. The kernel gets the same effect from the
// control key's addr_type for addresses; for the other keys netyard is
// stricter than a zeroed dissector key, on purpose.
type flowKey [numKeyWords]uint64

// The words of a flowKey and their layout (bit offsets).
const (
	// kwMeta: presence bits 0-7, ip_flags 8-9, ip_proto 16-23, tos
	// 24-31, ttl 32-39, icmp type 40-47, icmp code 48-55.
	kwMeta = iota
	// kwL4: source port 0-15, destination port 16-31, TCP flags 32-47.
	kwL4
	// kwIndev: the receiving device's index, 0-31.
	kwIndev
	kwDstMAC // 48 bits, first byte most significant
	kwSrcMAC
	// kwVlan and kwCVlan: the outer and inner tag's TCI 0-15, TPID
	// 16-31, and the EtherType after the tag 32-47. A missing tag is all
	// zero, and flower always keys on the TPID.
	kwVlan
	kwCVlan
	// Addresses: IPv6 as two big-endian words, IPv4 in the top half of
	// the first word. The presence bits tell the families apart.
	kwSrcIPHi
	kwSrcIPLo
	kwDstIPHi
	kwDstIPLo
	numKeyWords
)

// Presence bits in kwMeta.
const (
	hasIPv4 uint64 = 1 << 0 // an IPv4 header parsed
	hasIPv6 uint64 = 1 << 1 // an IPv6 header parsed
	hasIP   uint64 = 1 << 2 // either
	// hasL4: the transport header parsed and the packet is not a
	// fragment. Flower calls the dissector without
	// FLOW_DISSECTOR_F_PARSE_1ST_FRAG, so not even a first fragment has
	// ports for it.
	hasL4 uint64 = 1 << 3
)

// Field positions in kwMeta and kwL4.
const (
	shIPFlags  = 8
	shIPProto  = 16
	shTOS      = 24
	shTTL      = 32
	shICMPType = 40
	shICMPCode = 48

	shSrcPort  = 0
	shDstPort  = 16
	shTCPFlags = 32

	shTCI  = 0
	shTPID = 16
	shNext = 32
)

// fill sets k from p's parsed headers and metadata.
func (k *flowKey) fill(p *pkt.Buffer) {
	h := &p.Hdr
	var meta uint64
	switch h.IPVersion {
	case 4:
		meta = hasIPv4 | hasIP
		s, d := h.SrcIP.As4(), h.DstIP.As4()
		k[kwSrcIPHi] = uint64(binary.BigEndian.Uint32(s[:])) << 32
		k[kwSrcIPLo] = 0
		k[kwDstIPHi] = uint64(binary.BigEndian.Uint32(d[:])) << 32
		k[kwDstIPLo] = 0
	case 6:
		meta = hasIPv6 | hasIP
		s, d := h.SrcIP.As16(), h.DstIP.As16()
		k[kwSrcIPHi] = binary.BigEndian.Uint64(s[:8])
		k[kwSrcIPLo] = binary.BigEndian.Uint64(s[8:])
		k[kwDstIPHi] = binary.BigEndian.Uint64(d[:8])
		k[kwDstIPLo] = binary.BigEndian.Uint64(d[8:])
	default:
		k[kwSrcIPHi], k[kwSrcIPLo], k[kwDstIPHi], k[kwDstIPLo] = 0, 0, 0, 0
	}
	if meta != 0 {
		if h.Fragment {
			meta |= uint64(FlagIsFragment) << shIPFlags
			if h.FirstFragment {
				meta |= uint64(FlagFragIsFirst) << shIPFlags
			}
		}
		meta |= uint64(h.Proto)<<shIPProto | uint64(h.TOS)<<shTOS | uint64(h.TTL)<<shTTL
	}
	if h.L4Off != 0 && !h.Fragment {
		meta |= hasL4 | uint64(h.ICMPType)<<shICMPType | uint64(h.ICMPCode)<<shICMPCode
		k[kwL4] = uint64(h.SrcPort)<<shSrcPort | uint64(h.DstPort)<<shDstPort | uint64(h.TCPFlags)<<shTCPFlags
	} else {
		k[kwL4] = 0
	}
	k[kwMeta] = meta
	k[kwIndev] = uint64(uint32(p.Ingress))
	k[kwDstMAC] = mac48(h.DstMAC)
	k[kwSrcMAC] = mac48(h.SrcMAC)
	k[kwVlan], k[kwCVlan] = 0, 0
	if h.NumTags >= 1 {
		next := h.EtherType
		if h.NumTags >= 2 {
			next = h.Tags[1].TPID
			k[kwCVlan] = tagWord(h.Tags[1], h.EtherType)
		}
		k[kwVlan] = tagWord(h.Tags[0], next)
	}
}

func tagWord(t wire.Tag, next uint16) uint64 {
	return uint64(t.TCI)<<shTCI | uint64(t.TPID)<<shTPID | uint64(next)<<shNext
}

func mac48(m [6]byte) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}
