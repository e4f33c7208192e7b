package wire

import "net/netip"

// MaxTags is the number of VLAN tags Parse decodes (an 802.1ad S-tag over an
// 802.1Q C-tag). A third tag is left in the payload: the EtherType then reads
// as a VLAN TPID and no L3 is parsed, as the kernel's flow dissector does
// past its own nesting limit.
const MaxTags = 2

// Tag is one VLAN tag as it sits in the frame.
type Tag struct {
	TPID uint16 // EtherTypeVLAN (802.1Q) or EtherTypeQinQ (802.1ad)
	TCI  uint16 // PCP (3 bits) | DEI (1 bit) | VID (12 bits)
}

// VID is the tag's VLAN identifier. VID 0 marks a priority tag.
func (t Tag) VID() uint16 { return t.TCI & 0x0fff }

// PCP is the tag's priority code point (802.1p priority).
func (t Tag) PCP() uint8 { return uint8(t.TCI >> 13) }

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
	EtherType uint16
	OuterType uint16

	L3Off uint16 // start of the L3 header; 0 when there is none
	L4Off uint16 // start of the L4 header; 0 when there is none

	// IPVersion is 4 or 6 when an IP header was parsed, else 0.
	IPVersion uint8
	// Proto is the L4 protocol: IPv4's protocol or the last IPv6 next
	// header after the extension headers.
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
	SrcPort, DstPort uint16 // UDP, TCP
	TCPFlags         uint16 // the 12 flag bits of the TCP header (NS..FIN)
	ICMPType         uint8  // ICMP, ICMPv6
	ICMPCode         uint8
}
