package wire

import (
	"net/netip"
)

// MaxTags is the number of VLAN tags Parse decodes (an 802.1ad S-tag over an
// 802.1Q C-tag). A third tag is left in the payload: the EtherType then reads
// as a VLAN TPID and no L3 is parsed, as the kernel's flow dissector does
// past its own nesting limit.
const MaxTags = 2

// MAC is an Ethernet address. Headers keeps plain [6]byte arrays, which
// assign to and from MAC without conversion.
type MAC [6]byte

// String formats m as the kernel and iproute2 do: lower-case hex, colons.
func (m MAC) String() string {
	const hex = "0123456789abcdef"
	var b [17]byte
	for i, c := range m {
		if i > 0 {
			b[i*3-1] = ':'
		}
		b[i*3] = hex[c>>4]
		b[i*3+1] = hex[c&0xf]
	}
	return string(b[:])
}

// Tag is one VLAN tag as it sits in the frame.
type Tag struct {
	TPID uint16 // EtherTypeVLAN (802.1Q) or EtherTypeQinQ (802.1ad)
	TCI  uint16 // PCP (3 bits) | DEI (1 bit) | VID (12 bits)
}

// VID is the tag's VLAN identifier. VID 0 marks a priority tag.
func (t Tag) VID() uint16 { return t.TCI & 0x0fff }

// PCP is the tag's priority code point (802.1p priority).
func (t Tag) PCP() uint8 { return uint8(t.TCI >> 13) }

// DEI is the tag's drop eligible indicator (formerly CFI).
func (t Tag) DEI() bool { return t.TCI&0x1000 != 0 }

// Headers is what Parse learns about a frame: the layers it found and where
// they start. It holds no pointer into the frame, so it can live in a
// pkt.Buffer and be copied freely. Offsets are from the start of the frame.
//
// Parse fills as much as it can validate: a frame with a good IPv4 header and
// a truncated UDP header has L3 filled and L4 empty, and Parse returns the
// error that stopped it. Classifiers treat a missing layer as "does not
// match", as flower does when the flow dissector stops early.
type Headers struct {
	DstMAC, SrcMAC [6]byte

	// Tags are the VLAN tags in frame order, outermost first.
	NumTags uint8
	Tags    [MaxTags]Tag

	// EtherType is the type after the tags (the L3 protocol), and
	// OuterType the type right after the MAC addresses (what tc's
	// "protocol" is compared to: on a tagged frame it is the TPID).
	// A type field below 0x0600 (an 802.3 length) reads as
	// EtherType802_3 or EtherType802_2, as eth_type_trans sets it.
	EtherType uint16
	OuterType uint16

	// L3Off is where the network header starts: the end of the Ethernet
	// header and tags (skb_network_offset). It is set once the L2 headers
	// are complete, whatever the EtherType; IPVersion says whether an IP
	// header was found and validated there. 0 when L2 was cut short.
	L3Off uint16
	// L4Off is where the transport header starts (the flow dissector's
	// thoff). It is set only when that header is usable: for TCP, UDP,
	// UDP-Lite, SCTP, DCCP, ICMP and ICMPv6 when the fixed header was
	// validated; for other protocols as soon as the IP layer ends. It
	// stays 0 for a non-first fragment, after ESP or IPv6 "no next
	// header", and when the L4 header is cut short.
	L4Off uint16

	// IPVersion is 4 or 6 when an IP header was parsed, else 0.
	IPVersion uint8
	// Proto is the L4 protocol: IPv4's protocol or the last IPv6 next
	// header after the extension headers (for an IPv6 non-first fragment,
	// the fragment header's next header).
	Proto uint8
	TOS   uint8 // IPv4 TOS or IPv6 traffic class (DSCP << 2 | ECN)
	TTL   uint8 // IPv4 TTL or IPv6 hop limit
	SrcIP netip.Addr
	DstIP netip.Addr
	// Fragment is set for any IPv4 or IPv6 fragment; FirstFragment for
	// one whose offset is 0 (only that one carries the L4 header).
	Fragment      bool
	FirstFragment bool
	// MoreFragments mirrors the MF bit (IPv6: the M flag).
	MoreFragments bool
	// IPTotalLen is the L3 length the IP header claims (IPv6: payload
	// length + 40). Trailing bytes beyond it are Ethernet padding.
	IPTotalLen uint16

	// L4 (valid when L4Off != 0)
	SrcPort, DstPort uint16 // TCP, UDP, UDP-Lite, SCTP, DCCP
	TCPFlags         uint16 // the 12 flag bits of the TCP header (NS..FIN)
	ICMPType         uint8  // ICMP, ICMPv6
	ICMPCode         uint8
}

// TCP flag bits as they sit in TCPFlags (the low 12 bits of the 16-bit
// word at offset 12 of the TCP header; the kernel's TCP_FLAG_* without the
// data offset). tc flower's tcp_flags key uses the same layout.
const (
	TCPFlagFIN uint16 = 1 << iota
	TCPFlagSYN
	TCPFlagRST
	TCPFlagPSH
	TCPFlagACK
	TCPFlagURG
	TCPFlagECE
	TCPFlagCWR
	TCPFlagNS // ECN nonce (RFC 3540, now historic); AccECN calls it AE
)

// Tagged reports whether the frame carries at least one VLAN tag.
func (h *Headers) Tagged() bool { return h.NumTags > 0 }
