package wire

import (
	"encoding/binary"
	"net/netip"
)

// Parse decodes frame into h: Ethernet II, up to MaxTags VLAN tags, IPv4 or
// IPv6 (with extension headers), and TCP, UDP, UDP-Lite, SCTP, DCCP, ICMP
// or ICMPv6. It resets *h first, fills every layer it could validate and
// returns the *Error that stopped it (nil when every layer it knows was
// good). An EtherType or IP protocol Parse does not know is not an error:
// decoding stops there with the offsets set.
//
// Parse mirrors the kernel's __skb_flow_dissect (net/core/flow_dissector.c),
// which is what tc flower matches on:
//   - only 802.1Q (0x8100) and 802.1ad (0x88a8) TPIDs are tags
//     (eth_type_vlan); the pre-standard 0x9100 is an unknown EtherType, as
//     in the kernel;
//   - a non-first IPv4 or IPv6 fragment gets no L4: L4Off and the ports
//     stay 0 (FLOW_DIS_IS_FRAGMENT without FLOW_DIS_FIRST_FRAG);
//   - a first fragment's L4 header IS decoded (ports, flags, ICMP type),
//     which the kernel does not do for flower: fl_classify calls the
//     dissector without FLOW_DISSECTOR_F_PARSE_1ST_FRAG, so it stops at L3
//     for every fragment, and even with that flag it takes no ports from
//     a fragment. A classifier that mirrors flower ignores the L4 fields
//     when Fragment is set; other users (hashing, lab checks) get them;
//   - IPv6 extension headers are walked as the dissector walks them
//     (hop-by-hop, routing, destination options, fragment) plus AH, which
//     the dissector does not skip (it reads AH's SPI as "ports"); ESP and
//     "no next header" end the walk.
//
// Where the dissector would silently read garbage, Parse rejects instead:
// the IP version is checked, IPv4 total length and IPv6 payload length must
// fit the frame (as ip_rcv_core and ipv6_rcv demand; bytes past them are
// Ethernet padding and are never read as L4), TCP's data offset must be >= 5
// and its options present. UDP's length field and all checksums are not
// checked: tc sees a packet before udp_rcv does.
//
// Left out: MPLS, PPPoE, GRE and other tunnels (their protocol is reported
// in EtherType or Proto with the offset of their header), ARP fields, and
// IPv6 jumbograms (a payload length of 0 reads as an empty payload; no
// Ethernet MTU can carry a jumbogram).
//
// Parse never reads outside frame, never panics and allocates nothing.
//
// Parse is the per-packet hot path, so it does the Ethernet, VLAN, IPv4 and
// L4 work itself instead of calling ParseEthernet, ParseIPv4 and ParseL4:
// with the calls it took 12-20 ns on BenchmarkParseVsGopacket's frame,
// written out 8 ns (four calls, and h's fields stored by one and reloaded
// by the next). IPv6, with its extension header walk, still goes through
// ParseIPv6. FuzzParse checks that Parse and the composition of the
// per-layer parsers (parseLayered in the tests) agree on every input.
func Parse(frame []byte, h *Headers) error {
	*h = Headers{}
	if len(frame) > MaxFrameLen {
		return errFrameTooLong
	}
	if len(frame) < EthHeaderLen {
		return errEthShort
	}
	// L2: as ParseEthernet.
	h.DstMAC = [6]byte(frame[0:6])
	h.SrcMAC = [6]byte(frame[6:12])
	typ := binary.BigEndian.Uint16(frame[12:14])
	off := EthHeaderLen
	if typ < EtherTypeMinType {
		typ = lengthType(frame[off:])
	}
	h.OuterType = typ
	n := uint8(0)
	for ; n < MaxTags && (typ == EtherTypeVLAN || typ == EtherTypeQinQ); n++ {
		if len(frame)-off < VLANTagLen {
			h.NumTags = n
			return errVLANShort
		}
		t := frame[off : off+VLANTagLen]
		h.Tags[n] = Tag{TPID: typ, TCI: binary.BigEndian.Uint16(t[0:2])}
		typ = binary.BigEndian.Uint16(t[2:4])
		off += VLANTagLen
		if typ < EtherTypeMinType {
			typ = lengthType(frame[off:])
		}
	}
	h.NumTags = n
	h.EtherType = typ
	h.L3Off = uint16(off)

	// L3: IPv4 as ParseIPv4, IPv6 by ParseIPv6. pkt is the IP packet,
	// without the Ethernet padding.
	var (
		l4  int
		pkt []byte
	)
	switch typ {
	case EtherTypeIPv4:
		b := frame[off:]
		if len(b) < IPv4MinHeaderLen {
			return errIPv4Short
		}
		if b[0]>>4 != 4 {
			return errIPv4Version
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < IPv4MinHeaderLen {
			return errIPv4IHL
		}
		if ihl > len(b) {
			return errIPv4Options
		}
		total := int(binary.BigEndian.Uint16(b[2:4]))
		if total < ihl {
			return errIPv4TotLenLow
		}
		if total > len(b) {
			return errIPv4TotLenLong
		}
		h.IPVersion = 4
		h.TOS = b[1]
		h.IPTotalLen = uint16(total)
		h.TTL = b[8]
		h.Proto = b[9]
		h.SrcIP = netip.AddrFrom4([4]byte(b[12:16]))
		h.DstIP = netip.AddrFrom4([4]byte(b[16:20]))
		if frag := binary.BigEndian.Uint16(b[6:8]); frag&(ipv4MF|ipv4OffMask) != 0 {
			h.Fragment = true
			h.MoreFragments = frag&ipv4MF != 0
			if frag&ipv4OffMask != 0 {
				return nil
			}
			h.FirstFragment = true
		}
		l4 = off + ihl
		pkt = frame[:off+total]
	case EtherTypeIPv6:
		var err error
		if l4, err = ParseIPv6(frame, off, h); err != nil || l4 == 0 {
			return err
		}
		pkt = frame[:off+int(h.IPTotalLen)]
	default:
		return nil
	}

	// L4: as ParseL4; ParseUDP, ParsePorts and ParseICMP are inlined.
	switch h.Proto {
	case ProtoTCP:
		return ParseTCP(pkt, l4, h)
	case ProtoUDP, ProtoUDPLite:
		return ParseUDP(pkt, l4, h)
	case ProtoSCTP, ProtoDCCP:
		return ParsePorts(pkt, l4, sctpDCCPHeaderLen, h)
	case ProtoICMP, ProtoICMPv6:
		return ParseICMP(pkt, l4, h)
	}
	h.L4Off = uint16(l4)
	return nil
}

// The IPv4 fragment field (RFC 791): the MF flag and the 13-bit offset.
const (
	ipv4MF      = 0x2000
	ipv4OffMask = 0x1fff
)

// sctpDCCPHeaderLen is the length of SCTP's common header and DCCP's
// generic header with short sequence numbers (RFC 9260 §3.1, RFC 4340
// §5.1). Both start with the ports.
const sctpDCCPHeaderLen = 12

// ParseEthernet decodes the Ethernet II header and up to MaxTags VLAN tags
// at the start of frame into h: DstMAC, SrcMAC, NumTags, Tags, OuterType,
// EtherType and L3Off. It mirrors eth_type_trans (net/ethernet/eth.c) for
// the type and the VLAN branch of __skb_flow_dissect for the tags. A third
// tag is not decoded: EtherType is then its TPID.
//
// On a truncated tag, h keeps the MACs, OuterType and the complete tags
// before it; EtherType and L3Off stay 0.
func ParseEthernet(frame []byte, h *Headers) error {
	if len(frame) > MaxFrameLen {
		return errFrameTooLong
	}
	if len(frame) < EthHeaderLen {
		return errEthShort
	}
	h.DstMAC = [6]byte(frame[0:6])
	h.SrcMAC = [6]byte(frame[6:12])
	typ := binary.BigEndian.Uint16(frame[12:14])
	off := EthHeaderLen
	if typ < EtherTypeMinType {
		typ = lengthType(frame[off:])
	}
	h.OuterType = typ
	// Unrolled over MaxTags, with the count in a register: a loop that
	// indexed h.Tags by h.NumTags cost a fifth of Parse in
	// BenchmarkParseVsGopacket (a load after a store on every turn).
	n := uint8(0)
	for ; n < MaxTags && (typ == EtherTypeVLAN || typ == EtherTypeQinQ); n++ {
		if len(frame)-off < VLANTagLen {
			h.NumTags = n
			return errVLANShort
		}
		t := frame[off : off+VLANTagLen]
		h.Tags[n] = Tag{TPID: typ, TCI: binary.BigEndian.Uint16(t[0:2])}
		typ = binary.BigEndian.Uint16(t[2:4])
		off += VLANTagLen
		if typ < EtherTypeMinType {
			typ = lengthType(frame[off:])
		}
	}
	h.NumTags = n
	h.EtherType = typ
	h.L3Off = uint16(off)
	return nil
}

// lengthType is the pseudo EtherType of an 802.3 frame whose type field is
// a length, decided from its payload as eth_type_trans does: 0xFFFF starts
// raw Novell IPX (ETH_P_802_3), anything else is LLC (ETH_P_802_2).
func lengthType(payload []byte) uint16 {
	if len(payload) >= 2 && payload[0] == 0xff && payload[1] == 0xff {
		return EtherType802_3
	}
	return EtherType802_2
}

// MaxIPv6ExtHeaders bounds the extension headers ParseIPv6 walks before it
// gives up with ErrBadHeader. RFC 8200 §4.1 orders at most six before the
// upper layer (hop-by-hop, destination options, routing, fragment, AH,
// destination options; ESP ends the walk), so 8 passes every well-formed
// chain while a chain of tiny headers cannot make a frame cost more than
// a few dozen reads. The kernel's dissector stops at
// MAX_FLOW_DISSECT_HDRS (15) headers of all kinds.
const MaxIPv6ExtHeaders = 8

// ParseIPv4 decodes the IPv4 header at frame[off:] into h (L3Off,
// IPVersion, Proto, TOS, TTL, SrcIP, DstIP, IPTotalLen and the fragment
// flags) and returns the offset of the L4 header, or 0 when there is none
// to parse (a non-first fragment). Options are skipped, not decoded.
//
// It checks what ip_rcv_core (net/ipv4/ip_input.c) checks before the stack
// trusts a header: version 4, IHL >= 5, the header and the total length
// within frame, total length >= header length. Bytes of frame past the
// total length are padding. The fragment logic is __skb_flow_dissect's.
// h is not touched on error.
func ParseIPv4(frame []byte, off int, h *Headers) (int, error) {
	if uint(off) > uint(len(frame)) {
		return 0, errOffset
	}
	b := frame[off:]
	if len(b) < IPv4MinHeaderLen {
		return 0, errIPv4Short
	}
	if b[0]>>4 != 4 {
		return 0, errIPv4Version
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < IPv4MinHeaderLen {
		return 0, errIPv4IHL
	}
	if ihl > len(b) {
		return 0, errIPv4Options
	}
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if total < ihl {
		return 0, errIPv4TotLenLow
	}
	if total > len(b) {
		return 0, errIPv4TotLenLong
	}
	h.L3Off = uint16(off)
	h.IPVersion = 4
	h.TOS = b[1]
	h.IPTotalLen = uint16(total)
	h.TTL = b[8]
	h.Proto = b[9]
	h.SrcIP = netip.AddrFrom4([4]byte(b[12:16]))
	h.DstIP = netip.AddrFrom4([4]byte(b[16:20]))
	frag := binary.BigEndian.Uint16(b[6:8])
	if frag&(ipv4MF|ipv4OffMask) != 0 { // ip_is_fragment
		h.Fragment = true
		h.MoreFragments = frag&ipv4MF != 0
		if frag&ipv4OffMask != 0 {
			return 0, nil
		}
		h.FirstFragment = true
	}
	return off + ihl, nil
}

// ParseIPv6 decodes the IPv6 header at frame[off:] and its extension
// headers into h (L3Off, IPVersion, Proto, TOS, TTL, SrcIP, DstIP,
// IPTotalLen and the fragment flags) and returns the offset of the L4
// header, or 0 when there is none to parse: a non-first fragment, ESP (the
// rest is encrypted) or "no next header".
//
// Hop-by-hop, routing and destination options headers are skipped by
// their length as ipv6_skip_exthdr (net/ipv6/exthdrs_core.c) and the
// dissector do; AH by its own length unit (RFC 4302: 4-byte words, minus
// 2). At most MaxIPv6ExtHeaders are walked. The payload length must fit
// frame (ipv6_rcv, net/ipv6/ip6_input.c); no header is read past it.
// h is not touched on error.
func ParseIPv6(frame []byte, off int, h *Headers) (int, error) {
	if uint(off) > uint(len(frame)) {
		return 0, errOffset
	}
	b := frame[off:]
	if len(b) < IPv6HeaderLen {
		return 0, errIPv6Short
	}
	if b[0]>>4 != 6 {
		return 0, errIPv6Version
	}
	total := IPv6HeaderLen + int(binary.BigEndian.Uint16(b[4:6]))
	if total > len(b) {
		return 0, errIPv6PayLong
	}
	b = b[:total]
	next := b[6]
	p := IPv6HeaderLen
	var fragment, first, more, done bool
walk:
	for n := 0; ; n++ {
		switch next {
		case ProtoHopOpts, ProtoRouting, ProtoDstOpts, ProtoAH, ProtoFragment:
		case ProtoESP, ProtoNoNext:
			done = true
			break walk
		default:
			break walk
		}
		if n == MaxIPv6ExtHeaders {
			return 0, errIPv6ExtTooMny
		}
		if len(b)-p < 8 { // every extension header is at least 8 bytes
			return 0, errIPv6ExtShort
		}
		var hlen int
		switch next {
		case ProtoFragment:
			hlen = 8
			fo := binary.BigEndian.Uint16(b[p+2 : p+4])
			fragment, more = true, fo&1 != 0
			first = fo&^7 == 0
		case ProtoAH:
			hlen = (int(b[p+1]) + 2) * 4
		default:
			hlen = (int(b[p+1]) + 1) * 8
		}
		if hlen > len(b)-p {
			return 0, errIPv6ExtShort
		}
		next = b[p]
		p += hlen
		if fragment && !first {
			done = true
			break walk
		}
	}
	h.L3Off = uint16(off)
	h.IPVersion = 6
	h.TOS = uint8(binary.BigEndian.Uint16(b[0:2]) >> 4)
	h.IPTotalLen = uint16(total)
	h.TTL = b[7]
	h.Proto = next
	h.SrcIP = netip.AddrFrom16([16]byte(b[8:24]))
	h.DstIP = netip.AddrFrom16([16]byte(b[24:40]))
	h.Fragment, h.FirstFragment, h.MoreFragments = fragment, first, more
	if done {
		return 0, nil
	}
	return off + p, nil
}

// ParseL4 decodes the transport header of protocol proto at pkt[off:],
// where pkt ends where the IP packet ends (not at the end of the frame's
// padding). It dispatches to ParseTCP, ParseUDP, ParsePorts and ParseICMP;
// for any other protocol it only records L4Off.
func ParseL4(pkt []byte, off int, proto uint8, h *Headers) error {
	switch proto {
	case ProtoTCP:
		return ParseTCP(pkt, off, h)
	case ProtoUDP, ProtoUDPLite:
		return ParseUDP(pkt, off, h)
	case ProtoSCTP, ProtoDCCP:
		return ParsePorts(pkt, off, sctpDCCPHeaderLen, h)
	case ProtoICMP, ProtoICMPv6:
		return ParseICMP(pkt, off, h)
	}
	if uint(off) > uint(len(pkt)) {
		return errOffset
	}
	h.L4Off = uint16(off)
	return nil
}

// ParseTCP decodes the TCP header at pkt[off:] into h: SrcPort, DstPort,
// TCPFlags and L4Off. The data offset must be >= 5 and the options within
// pkt (tcp_v4_rcv's checks, net/ipv4/tcp_ipv4.c); the flags are read as
// __skb_flow_dissect_tcp reads them. Options are not decoded. h is not
// touched on error.
func ParseTCP(pkt []byte, off int, h *Headers) error {
	if uint(off) > uint(len(pkt)) {
		return errOffset
	}
	b := pkt[off:]
	if len(b) < TCPMinHeaderLen {
		return errTCPShort
	}
	word := binary.BigEndian.Uint16(b[12:14])
	doff := int(word>>12) * 4
	if doff < TCPMinHeaderLen {
		return errTCPDataOff
	}
	if doff > len(b) {
		return errTCPOptions
	}
	h.SrcPort = binary.BigEndian.Uint16(b[0:2])
	h.DstPort = binary.BigEndian.Uint16(b[2:4])
	h.TCPFlags = word & 0x0fff
	h.L4Off = uint16(off)
	return nil
}

// ParseUDP decodes the UDP (or UDP-Lite) header at pkt[off:] into h:
// SrcPort, DstPort and L4Off. The length field is not checked; the flow
// dissector does not read it either. h is not touched on error.
func ParseUDP(pkt []byte, off int, h *Headers) error {
	if uint(off) > uint(len(pkt)) {
		return errOffset
	}
	b := pkt[off:]
	if len(b) < UDPHeaderLen {
		return errUDPShort
	}
	h.SrcPort = binary.BigEndian.Uint16(b[0:2])
	h.DstPort = binary.BigEndian.Uint16(b[2:4])
	h.L4Off = uint16(off)
	return nil
}

// ParsePorts decodes the source and destination ports that start the
// hdrLen-byte header at pkt[off:] (SCTP, DCCP: any protocol
// proto_ports_offset places at offset 0) into h, with L4Off.
func ParsePorts(pkt []byte, off, hdrLen int, h *Headers) error {
	if uint(off) > uint(len(pkt)) {
		return errOffset
	}
	b := pkt[off:]
	if len(b) < hdrLen || len(b) < 4 {
		return errPortsShort
	}
	h.SrcPort = binary.BigEndian.Uint16(b[0:2])
	h.DstPort = binary.BigEndian.Uint16(b[2:4])
	h.L4Off = uint16(off)
	return nil
}

// ParseICMP decodes the ICMP or ICMPv6 header at pkt[off:] into h:
// ICMPType, ICMPCode and L4Off. Both share the layout; the header must be
// the ICMPHeaderLen bytes icmp_rcv and icmpv6_rcv require. The flow
// dissector (skb_flow_get_icmp_tci) reads the same two bytes. h is not
// touched on error.
func ParseICMP(pkt []byte, off int, h *Headers) error {
	if uint(off) > uint(len(pkt)) {
		return errOffset
	}
	b := pkt[off:]
	if len(b) < ICMPHeaderLen {
		return errICMPShort
	}
	h.ICMPType = b[0]
	h.ICMPCode = b[1]
	h.L4Off = uint16(off)
	return nil
}
