package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
)

// The builders write headers into a caller's slice: AppendX appends to dst
// and returns the extended slice, growing it only when its capacity is too
// small, so a generator that reuses one buffer allocates nothing per frame.
// They serve tests, the lab's traffic generators and replay checks; the
// datapath itself only rewrites headers in place.

// ErrInvalidSpec is what the builders return (wrapped) for a header they
// cannot encode: a field out of range or addresses of the wrong family.
var ErrInvalidSpec = errors.New("invalid spec")

// ICMP message types the builders name (RFC 792, RFC 4443).
const (
	ICMPv4EchoReply   uint8 = 0
	ICMPv4EchoRequest uint8 = 8
	ICMPv6EchoRequest uint8 = 128
	ICMPv6EchoReply   uint8 = 129
)

// DefaultTTL is the TTL or hop limit FrameSpec uses when TTL is 0: Linux's
// net.ipv4.ip_default_ttl and net.ipv6.conf.*.hop_limit.
const DefaultTTL = 64

// MinFrameLen is the shortest Ethernet frame without its FCS (64 - 4);
// shorter frames are padded to it on the wire (set FrameSpec.MinLen).
const MinFrameLen = 60

// grow extends dst by n bytes and returns the whole slice and the new part.
func grow(dst []byte, n int) ([]byte, []byte) {
	dst = slices.Grow(dst, n)
	l := len(dst)
	dst = dst[:l+n]
	return dst, dst[l:]
}

// AppendTag appends one VLAN tag (TPID, TCI) to dst. In a frame each tag
// sits where the EtherType would, and the EtherType follows the last one.
func AppendTag(dst []byte, t Tag) []byte {
	dst, b := grow(dst, VLANTagLen)
	binary.BigEndian.PutUint16(b[0:2], t.TPID)
	binary.BigEndian.PutUint16(b[2:4], t.TCI)
	return dst
}

// AppendEthernet appends an Ethernet II header with the given tags
// (outermost first) and EtherType to dst.
func AppendEthernet(dst []byte, dstMAC, srcMAC MAC, tags []Tag, etherType uint16) []byte {
	dst, b := grow(dst, 12)
	copy(b[0:6], dstMAC[:])
	copy(b[6:12], srcMAC[:])
	for _, t := range tags {
		dst = AppendTag(dst, t)
	}
	dst, b = grow(dst, 2)
	binary.BigEndian.PutUint16(b, etherType)
	return dst
}

// IPv4Header is an IPv4 header to encode (RFC 791).
type IPv4Header struct {
	TOS      uint8
	TotalLen uint16 // header, options and payload
	ID       uint16
	DF, MF   bool
	// FragOffset is the fragment's offset in bytes; it must be a multiple
	// of 8 below 65536.
	FragOffset uint16
	TTL        uint8
	Proto      uint8
	Src, Dst   netip.Addr
	// Options are copied after the fixed header and padded with zeros
	// (end of options list) to a multiple of 4, at most 40 bytes.
	Options []byte
}

// Len is the encoded header length: 20 bytes and the padded options.
func (h *IPv4Header) Len() int { return IPv4MinHeaderLen + (len(h.Options)+3)&^3 }

// Append appends the header with its checksum to dst.
func (h *IPv4Header) Append(dst []byte) ([]byte, error) {
	if !h.Src.Is4() || !h.Dst.Is4() {
		return dst, fmt.Errorf("ipv4: addresses %v, %v: %w", h.Src, h.Dst, ErrInvalidSpec)
	}
	hl := h.Len()
	if hl > IPv4MaxHeaderLen {
		return dst, fmt.Errorf("ipv4: %d bytes of options, at most 40: %w", len(h.Options), ErrInvalidSpec)
	}
	if h.FragOffset&7 != 0 {
		return dst, fmt.Errorf("ipv4: fragment offset %d not a multiple of 8: %w", h.FragOffset, ErrInvalidSpec)
	}
	dst, b := grow(dst, hl)
	b[0] = 4<<4 | uint8(hl/4)
	b[1] = h.TOS
	binary.BigEndian.PutUint16(b[2:4], h.TotalLen)
	binary.BigEndian.PutUint16(b[4:6], h.ID)
	frag := h.FragOffset >> 3
	if h.DF {
		frag |= 0x4000
	}
	if h.MF {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:8], frag)
	b[8] = h.TTL
	b[9] = h.Proto
	b[10], b[11] = 0, 0
	s, d := h.Src.As4(), h.Dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
	n := copy(b[20:], h.Options)
	clear(b[20+n:])
	binary.BigEndian.PutUint16(b[10:12], Checksum(b))
	return dst, nil
}

// IPv6Header is an IPv6 fixed header to encode (RFC 8200).
type IPv6Header struct {
	TrafficClass uint8
	FlowLabel    uint32 // 20 bits
	PayloadLen   uint16 // extension headers and upper layer
	NextHeader   uint8
	HopLimit     uint8
	Src, Dst     netip.Addr
}

// Append appends the 40-byte header to dst.
func (h *IPv6Header) Append(dst []byte) ([]byte, error) {
	if !h.Src.Is6() || !h.Dst.Is6() {
		return dst, fmt.Errorf("ipv6: addresses %v, %v: %w", h.Src, h.Dst, ErrInvalidSpec)
	}
	if h.FlowLabel > 0xfffff {
		return dst, fmt.Errorf("ipv6: flow label %#x wider than 20 bits: %w", h.FlowLabel, ErrInvalidSpec)
	}
	dst, b := grow(dst, IPv6HeaderLen)
	binary.BigEndian.PutUint32(b[0:4], 6<<28|uint32(h.TrafficClass)<<20|h.FlowLabel)
	binary.BigEndian.PutUint16(b[4:6], h.PayloadLen)
	b[6] = h.NextHeader
	b[7] = h.HopLimit
	s, d := h.Src.As16(), h.Dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
	return dst, nil
}

// IPv6Ext is one IPv6 extension header for FrameSpec: its kind
// (ProtoHopOpts, ProtoRouting, ProtoDstOpts, ProtoAH or ProtoFragment) and
// its body, the bytes after the next-header and length bytes.
type IPv6Ext struct {
	Proto uint8
	Body  []byte
}

// IPv6ExtLen is the encoded length of an extension header of kind proto
// with a body of n bytes: 2 + n rounded up to 8 (every IPv6 extension
// header, AH included, is a multiple of 8 bytes).
func IPv6ExtLen(proto uint8, n int) int { return (2 + n + 7) &^ 7 }

// AppendIPv6Ext appends an extension header of kind proto whose next
// header is next to dst. body follows the two leading bytes and is padded
// with zeros (Pad1 options for hop-by-hop and destination options). The
// length byte is computed in the header's unit: 8-byte words minus one, AH
// 4-byte words minus two (RFC 4302 §2.2); the fragment header has a
// reserved byte there and a 6-byte body (use AppendIPv6Fragment).
func AppendIPv6Ext(dst []byte, proto, next uint8, body []byte) ([]byte, error) {
	n := IPv6ExtLen(proto, len(body))
	var lenByte int
	switch proto {
	case ProtoHopOpts, ProtoRouting, ProtoDstOpts:
		lenByte = n/8 - 1
	case ProtoAH:
		lenByte = n/4 - 2
	case ProtoFragment:
		if len(body) > 6 {
			return dst, fmt.Errorf("ipv6: fragment header body of %d bytes, at most 6: %w", len(body), ErrInvalidSpec)
		}
	default:
		return dst, fmt.Errorf("ipv6: %d is not an extension header: %w", proto, ErrInvalidSpec)
	}
	if lenByte > 0xff {
		return dst, fmt.Errorf("ipv6: extension header body of %d bytes too long: %w", len(body), ErrInvalidSpec)
	}
	dst, b := grow(dst, n)
	b[0] = next
	b[1] = uint8(lenByte)
	c := copy(b[2:], body)
	clear(b[2+c:])
	return dst, nil
}

// AppendIPv6Fragment appends an IPv6 fragment header (RFC 8200 §4.5):
// offset in bytes (a multiple of 8), the M flag and the identification.
func AppendIPv6Fragment(dst []byte, next uint8, offset uint16, more bool, id uint32) ([]byte, error) {
	if offset&7 != 0 {
		return dst, fmt.Errorf("ipv6: fragment offset %d not a multiple of 8: %w", offset, ErrInvalidSpec)
	}
	dst, b := grow(dst, 8)
	b[0], b[1] = next, 0
	fo := offset // the 13-bit offset in 8-byte units sits in the top bits
	if more {
		fo |= 1
	}
	binary.BigEndian.PutUint16(b[2:4], fo)
	binary.BigEndian.PutUint32(b[4:8], id)
	return dst, nil
}

// UDPHeader is a UDP header to encode (RFC 768).
type UDPHeader struct {
	SrcPort, DstPort uint16
	Length           uint16 // header and payload
	Checksum         uint16 // see PutTransportChecksum
}

// Append appends the 8-byte header to dst.
func (u *UDPHeader) Append(dst []byte) []byte {
	dst, b := grow(dst, UDPHeaderLen)
	binary.BigEndian.PutUint16(b[0:2], u.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], u.DstPort)
	binary.BigEndian.PutUint16(b[4:6], u.Length)
	binary.BigEndian.PutUint16(b[6:8], u.Checksum)
	return dst
}

// TCPHeader is a TCP header to encode (RFC 9293).
type TCPHeader struct {
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint16 // TCPFlag* bits, 12 of them
	Window           uint16
	Checksum         uint16 // see PutTransportChecksum
	Urgent           uint16
	// Options are copied after the fixed header and padded with zeros
	// (end of option list) to a multiple of 4, at most 40 bytes.
	Options []byte
}

// Len is the encoded header length, 4 times the data offset.
func (t *TCPHeader) Len() int { return TCPMinHeaderLen + (len(t.Options)+3)&^3 }

// Append appends the header to dst.
func (t *TCPHeader) Append(dst []byte) ([]byte, error) {
	hl := t.Len()
	if hl > TCPMaxHeaderLen {
		return dst, fmt.Errorf("tcp: %d bytes of options, at most 40: %w", len(t.Options), ErrInvalidSpec)
	}
	if t.Flags > 0x0fff {
		return dst, fmt.Errorf("tcp: flags %#x wider than 12 bits: %w", t.Flags, ErrInvalidSpec)
	}
	dst, b := grow(dst, hl)
	binary.BigEndian.PutUint16(b[0:2], t.SrcPort)
	binary.BigEndian.PutUint16(b[2:4], t.DstPort)
	binary.BigEndian.PutUint32(b[4:8], t.Seq)
	binary.BigEndian.PutUint32(b[8:12], t.Ack)
	binary.BigEndian.PutUint16(b[12:14], uint16(hl/4)<<12|t.Flags)
	binary.BigEndian.PutUint16(b[14:16], t.Window)
	binary.BigEndian.PutUint16(b[16:18], t.Checksum)
	binary.BigEndian.PutUint16(b[18:20], t.Urgent)
	n := copy(b[20:], t.Options)
	clear(b[20+n:])
	return dst, nil
}

// ICMPHeader is the 8-byte header of ICMP (RFC 792) and ICMPv6 (RFC 4443).
// ID and Seq are the echo identifier and sequence number; for other types
// they are the "rest of header" word, ID in its high half.
type ICMPHeader struct {
	Type, Code uint8
	Checksum   uint16 // see PutTransportChecksum
	ID, Seq    uint16
}

// Append appends the 8-byte header to dst.
func (c *ICMPHeader) Append(dst []byte) []byte {
	dst, b := grow(dst, ICMPHeaderLen)
	b[0], b[1] = c.Type, c.Code
	binary.BigEndian.PutUint16(b[2:4], c.Checksum)
	binary.BigEndian.PutUint16(b[4:6], c.ID)
	binary.BigEndian.PutUint16(b[6:8], c.Seq)
	return dst
}

// PutTransportChecksum computes and stores the checksum of seg, a
// complete segment of protocol proto (header and payload) carried between
// src and dst: TCP, UDP and UDP-Lite (whole segment: no partial coverage)
// and ICMPv6 with the pseudo-header, ICMP without it. UDP's computed 0 is
// stored as 0xffff (RFC 768: 0 means "no checksum").
func PutTransportChecksum(proto uint8, src, dst netip.Addr, seg []byte) error {
	var at int
	switch proto {
	case ProtoTCP:
		at = 16
	case ProtoUDP, ProtoUDPLite:
		at = 6
	case ProtoICMP, ProtoICMPv6:
		at = 2
	default:
		return fmt.Errorf("checksum: protocol %d: %w", proto, ErrInvalidSpec)
	}
	if len(seg) < at+2 {
		return fmt.Errorf("checksum: protocol %d segment of %d bytes: %w", proto, len(seg), ErrInvalidSpec)
	}
	seg[at], seg[at+1] = 0, 0
	var c uint16
	if proto == ProtoICMP {
		c = Checksum(seg)
	} else {
		c = TransportChecksum(proto, src, dst, seg)
		if c == 0 && proto != ProtoTCP && proto != ProtoICMPv6 {
			c = 0xffff
		}
	}
	binary.BigEndian.PutUint16(seg[at:], c)
	return nil
}
