package wire

import (
	"fmt"
	"net/netip"
)

// FrameSpec describes a whole frame for AppendFrame: Ethernet, tags, an
// optional IPv4 or IPv6 header and, for TCP, UDP, UDP-Lite, ICMP and
// ICMPv6, the L4 header, then Payload. Zero fields take the obvious
// defaults (no tags, no options, TTL DefaultTTL).
type FrameSpec struct {
	Dst, Src MAC
	Tags     []Tag // outermost first
	// EtherType is used only for a frame without IP (SrcIP not valid);
	// Payload then follows the Ethernet header directly.
	EtherType uint16

	// SrcIP and DstIP pick the IP version; both must be of one family.
	SrcIP, DstIP netip.Addr
	Proto        uint8
	TOS          uint8  // IPv4 TOS or IPv6 traffic class
	TTL          uint8  // TTL or hop limit; 0 means DefaultTTL
	FlowLabel    uint32 // IPv6
	IPOptions    []byte // IPv4 options, padded to 4 bytes
	// ExtHeaders are IPv6 extension headers in frame order; the fragment
	// header AppendFrame adds for a fragment goes after them.
	ExtHeaders []IPv6Ext

	// Fragmentation. ID is the IPv4 identification (low 16 bits) or the
	// IPv6 fragment header's identification. FragOffset is in bytes (a
	// multiple of 8). A non-first fragment (FragOffset != 0) carries no L4
	// header: Payload follows the IP header (and extension headers). An
	// IPv6 frame gets a fragment header when Fragment, MF or FragOffset is
	// set (Fragment alone makes an RFC 6946 atomic fragment). A first
	// fragment's L4 checksum covers only the bytes in this frame.
	ID         uint32
	DF         bool // IPv4 don't fragment
	MF         bool
	FragOffset uint16
	Fragment   bool

	SrcPort, DstPort uint16 // TCP, UDP, UDP-Lite

	TCPFlags   uint16
	Seq, Ack   uint32
	Window     uint16
	TCPOptions []byte

	ICMPType, ICMPCode uint8 // ICMP, ICMPv6
	ICMPID, ICMPSeq    uint16

	Payload []byte
	// MinLen pads the frame with zero bytes to at least MinLen bytes
	// (MinFrameLen for what a NIC would put on the wire). The padding is
	// outside the IP packet.
	MinLen int
}

// AppendFrame appends the frame s describes to dst, with correct IPv4
// header and L4 checksums. It allocates nothing when dst has the capacity.
// On error dst is returned as it was given.
func AppendFrame(dst []byte, s *FrameSpec) ([]byte, error) {
	orig := dst
	ip := s.SrcIP.IsValid()
	etherType := s.EtherType
	if ip {
		switch {
		case s.SrcIP.Is4() && s.DstIP.Is4():
			etherType = EtherTypeIPv4
		case s.SrcIP.Is6() && s.DstIP.Is6():
			etherType = EtherTypeIPv6
		default:
			return orig, fmt.Errorf("frame: addresses %v, %v not of one family: %w", s.SrcIP, s.DstIP, ErrInvalidSpec)
		}
	}
	start := len(dst)
	dst = AppendEthernet(dst, s.Dst, s.Src, s.Tags, etherType)
	if !ip {
		dst = append(dst, s.Payload...)
		return pad(dst, start, s.MinLen), nil
	}
	ttl := s.TTL
	if ttl == 0 {
		ttl = DefaultTTL
	}

	// The L4 header, if any, and its length decide the IP lengths.
	l4len := 0
	if s.FragOffset == 0 {
		switch s.Proto {
		case ProtoTCP:
			l4len = (&TCPHeader{Options: s.TCPOptions}).Len()
		case ProtoUDP, ProtoUDPLite:
			l4len = UDPHeaderLen
		case ProtoICMP, ProtoICMPv6:
			l4len = ICMPHeaderLen
		}
	}
	seglen := l4len + len(s.Payload)

	var err error
	if etherType == EtherTypeIPv4 {
		if len(s.ExtHeaders) > 0 || s.FlowLabel != 0 {
			return orig, fmt.Errorf("frame: IPv6 extension headers or flow label on IPv4: %w", ErrInvalidSpec)
		}
		h := IPv4Header{
			TOS: s.TOS, ID: uint16(s.ID), DF: s.DF, MF: s.MF, FragOffset: s.FragOffset,
			TTL: ttl, Proto: s.Proto, Src: s.SrcIP, Dst: s.DstIP, Options: s.IPOptions,
		}
		total := h.Len() + seglen
		if total > 0xffff {
			return orig, fmt.Errorf("frame: IPv4 packet of %d bytes: %w", total, ErrInvalidSpec)
		}
		h.TotalLen = uint16(total)
		if dst, err = h.Append(dst); err != nil {
			return orig, err
		}
	} else {
		if len(s.IPOptions) > 0 || s.DF {
			return orig, fmt.Errorf("frame: IPv4 options or DF on IPv6: %w", ErrInvalidSpec)
		}
		frag := s.Fragment || s.MF || s.FragOffset != 0
		extlen := 0
		for _, e := range s.ExtHeaders {
			extlen += IPv6ExtLen(e.Proto, len(e.Body))
		}
		if frag {
			extlen += 8
		}
		if extlen+seglen > 0xffff {
			return orig, fmt.Errorf("frame: IPv6 payload of %d bytes: %w", extlen+seglen, ErrInvalidSpec)
		}
		next := func(i int) uint8 { // the header after ExtHeaders[i-1]
			if i < len(s.ExtHeaders) {
				return s.ExtHeaders[i].Proto
			}
			if frag && i == len(s.ExtHeaders) {
				return ProtoFragment
			}
			return s.Proto
		}
		h := IPv6Header{
			TrafficClass: s.TOS, FlowLabel: s.FlowLabel, PayloadLen: uint16(extlen + seglen),
			NextHeader: next(0), HopLimit: ttl, Src: s.SrcIP, Dst: s.DstIP,
		}
		if dst, err = h.Append(dst); err != nil {
			return orig, err
		}
		for i, e := range s.ExtHeaders {
			if e.Proto == ProtoFragment {
				return orig, fmt.Errorf("frame: fragment header in ExtHeaders, use FragOffset/MF/Fragment: %w", ErrInvalidSpec)
			}
			if dst, err = AppendIPv6Ext(dst, e.Proto, next(i+1), e.Body); err != nil {
				return orig, err
			}
		}
		if frag {
			if dst, err = AppendIPv6Fragment(dst, s.Proto, s.FragOffset, s.MF, s.ID); err != nil {
				return orig, err
			}
		}
	}
	l4 := len(dst)
	if l4len > 0 {
		switch s.Proto {
		case ProtoTCP:
			t := TCPHeader{
				SrcPort: s.SrcPort, DstPort: s.DstPort, Seq: s.Seq, Ack: s.Ack,
				Flags: s.TCPFlags, Window: s.Window, Options: s.TCPOptions,
			}
			if dst, err = t.Append(dst); err != nil {
				return orig, err
			}
		case ProtoUDP, ProtoUDPLite:
			u := UDPHeader{SrcPort: s.SrcPort, DstPort: s.DstPort, Length: uint16(seglen)}
			dst = u.Append(dst)
		case ProtoICMP, ProtoICMPv6:
			c := ICMPHeader{Type: s.ICMPType, Code: s.ICMPCode, ID: s.ICMPID, Seq: s.ICMPSeq}
			dst = c.Append(dst)
		}
	}
	dst = append(dst, s.Payload...)
	if l4len > 0 {
		if err := PutTransportChecksum(s.Proto, s.SrcIP, s.DstIP, dst[l4:]); err != nil {
			return orig, err
		}
	}
	return pad(dst, start, s.MinLen), nil
}

// pad appends zeros until the frame that starts at dst[start] is min long.
func pad(dst []byte, start, min int) []byte {
	if n := min - (len(dst) - start); n > 0 {
		var b []byte
		dst, b = grow(dst, n)
		clear(b)
	}
	return dst
}
