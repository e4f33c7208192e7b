package link

import (
	"encoding/binary"

	"netyard/wire"
)

// txFits reports whether a frame may leave on a link of the given MTU. It
// is the kernel's rule for packet sockets (af_packet.c, packet_snd and
// tpacket_snd with packet_extra_vlan_len_allowed): at least an Ethernet
// header, at most MTU plus the Ethernet header, plus 4 more when the
// outer type is 802.1Q. Checking here lets the backend count the drop
// instead of the kernel discarding the frame silently (PACKET_LOSS).
func txFits(frame []byte, mtu int) bool {
	n := len(frame)
	if n < wire.EthHeaderLen {
		return false
	}
	if n <= mtu+wire.EthHeaderLen {
		return true
	}
	return n <= mtu+wire.EthHeaderLen+wire.VLANTagLen &&
		binary.BigEndian.Uint16(frame[12:]) == wire.EtherTypeVLAN
}

// putTagged copies src into dst with the tag (tpid, tci) inserted after the
// MAC addresses, as on the wire: AF_PACKET hands over a received frame
// with its outer tag stripped into tp_vlan_tci (skb_vlan_untag runs before
// the taps in __netif_receive_skb_core), and the datapath must see the
// frame as it arrived, priority tags included (docs/VLAN.md). One copy,
// no move: the buffer's headroom stays whole for tags the datapath pushes.
// len(dst) must be len(src)+4 and len(src) >= 12.
func putTagged(dst, src []byte, tpid, tci uint16) {
	copy(dst[:12], src[:12])
	binary.BigEndian.PutUint16(dst[12:], tpid)
	binary.BigEndian.PutUint16(dst[14:], tci)
	copy(dst[12+wire.VLANTagLen:], src[12:])
}

// completeChecksum fills in the TCP or UDP checksum of a frame the kernel
// handed over with CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY): a frame sent
// by the local stack of the link's namespace through a device that offers
// checksum offload (a veth peer does), so the checksum field holds only the
// pseudo-header sum and the "hardware" was to add the rest. netyard is that
// hardware now: without this, a forwarded UDP datagram reaches its
// receiver with a bad checksum and is dropped there. It mirrors
// skb_checksum_help (net/core/dev.c): sum from the transport header to the
// end of the IP payload, fold, complement, store, 0 sent as 0xffff.
//
// The kernel knows csum_start and csum_offset; AF_PACKET does not pass
// them without a virtio-net header, so they are found by parsing: up to two
// VLAN tags, IPv4 or IPv6 (with hop-by-hop, routing and destination-options
// headers), TCP or UDP. It reports whether it changed the frame; a frame it
// cannot parse is left alone (SCTP's CRC32c offload is not completed).
func completeChecksum(frame []byte) bool {
	l, ok := transportOf(frame)
	if !ok {
		return false
	}
	l.complete(frame)
	return true
}

// l4 locates a frame's TCP or UDP segment and its checksum field.
type l4 struct {
	ip    int // the IP header
	off   int // the transport header
	end   int // the end of the IP payload
	field int // the checksum, from off
	proto uint8
	v6    bool
}

// transportOf parses frame down to its TCP or UDP header (see
// completeChecksum for what it walks).
func transportOf(frame []byte) (l4, bool) {
	off := 12
	typ := uint16(0)
	for range wire.MaxTags + 1 {
		if len(frame) < off+2 {
			return l4{}, false
		}
		typ = binary.BigEndian.Uint16(frame[off:])
		if typ != wire.EtherTypeVLAN && typ != wire.EtherTypeQinQ {
			break
		}
		off += wire.VLANTagLen
	}
	off += 2
	l := l4{ip: off}
	var proto uint8
	var end int // end of the IP payload
	switch typ {
	case wire.EtherTypeIPv4:
		ip := frame[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return l4{}, false
		}
		ihl := int(ip[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if ihl < 20 || total < ihl || total > len(ip) {
			return l4{}, false
		}
		if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
			return l4{}, false // a fragment
		}
		proto = ip[9]
		end = off + total
		off += ihl
	case wire.EtherTypeIPv6:
		l.v6 = true
		ip := frame[off:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return l4{}, false
		}
		end = off + 40 + int(binary.BigEndian.Uint16(ip[4:]))
		if end > len(frame) {
			return l4{}, false
		}
		proto = ip[6]
		off += 40
		// The extension headers of RFC 8200 §4 that may precede a
		// transport header; a fragment header ends the walk (a
		// partial checksum never comes with a fragment).
		for proto == wire.ProtoHopOpts || proto == wire.ProtoRouting || proto == wire.ProtoDstOpts {
			if off+8 > end {
				return l4{}, false
			}
			proto, off = frame[off], off+(int(frame[off+1])+1)*8
		}
	default:
		return l4{}, false
	}
	switch proto {
	case wire.ProtoTCP:
		l.field = 16
	case wire.ProtoUDP:
		l.field = 6
	default:
		return l4{}, false
	}
	if off+l.field+2 > end {
		return l4{}, false
	}
	l.off, l.end, l.proto = off, end, proto
	return l, true
}

// complete fills in the checksum of a segment whose field holds the
// pseudo-header sum.
func (l l4) complete(frame []byte) {
	c := wire.Checksum(frame[l.off:l.end])
	if c == 0 {
		c = 0xffff // CSUM_MANGLED_0
	}
	binary.BigEndian.PutUint16(frame[l.off+l.field:], c)
}

// completePartialChecksum completes the TCP or UDP checksum of a frame
// that left its sender's stack with the checksum left to offload
// (CHECKSUM_PARTIAL) when the backend cannot say so: AF_XDP hands frames
// over with no skb state, and on a veth the local stack of the peer's
// namespace leaves UDP and TCP checksums to "hardware" that never runs
// (the frame stays in memory). Such a field holds exactly the sum of the
// pseudo-header (RFC 768, 9293, 8200 §8.1) and the segment does not
// verify; a checksum that verifies is left alone, so a frame completed
// here is one its receiver would have dropped. The cost for every other
// frame is the parse and a sum over the addresses.
func completePartialChecksum(frame []byte) bool {
	l, ok := transportOf(frame)
	if !ok {
		return false
	}
	got := binary.BigEndian.Uint16(frame[l.off+l.field:])
	if got == 0 || got != l.pseudoSum(frame) {
		return false // a UDP datagram without checksum, or a complete one
	}
	// A complete checksum equals the pseudo-header sum by chance once
	// in 65536: it verifies, and stays.
	if addOnes(got, ^wire.Checksum(frame[l.off:l.end])) == 0xffff {
		return false
	}
	l.complete(frame)
	return true
}

// pseudoSum is the folded ones' complement sum of the segment's
// pseudo-header: what the sender's stack leaves in a partial checksum
// (~csum_tcpudp_magic, ~csum_ipv6_magic).
func (l l4) pseudoSum(frame []byte) uint16 {
	addrs := frame[l.ip+12 : l.ip+20]
	if l.v6 {
		addrs = frame[l.ip+8 : l.ip+40]
	}
	return addOnes(addOnes(^wire.Checksum(addrs), uint16(l.proto)), uint16(l.end-l.off))
}

// addOnes is ones' complement addition.
func addOnes(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s>>16 + s&0xffff)
}
