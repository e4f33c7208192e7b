package pkt

import (
	"encoding/binary"

	"netyard/wire"
)

// ECN codepoints (RFC 3168), the low two bits of the TOS or traffic class.
const (
	ecnMask   = 0x3
	ecnNotECT = 0x0
	ecnCE     = 0x3
)

// SetCE is INET_ECN_set_ce (include/net/inet_ecn.h): it marks an ECN-capable
// IPv4 or IPv6 packet Congestion Experienced and reports true, or reports
// false for a packet that is not ECN-capable or not IP. A packet already
// marked CE counts as marked, as in the kernel. The IPv4 header checksum is
// updated incrementally (RFC 1624), as IP_ECN_set_ce does; IPv6 has no
// header checksum. p.Hdr must describe the frame; it is kept current.
func (p *Buffer) SetCE() bool {
	h := &p.Hdr
	d := p.Data()
	off := int(h.L3Off)
	switch h.IPVersion {
	case 4:
		if off+20 > len(d) {
			return false
		}
		tos := d[off+1]
		if tos&ecnMask == ecnNotECT {
			return false
		}
		if tos&ecnMask == ecnCE {
			return true
		}
		// The TOS is the low byte of the header's first 16-bit word.
		old := binary.BigEndian.Uint16(d[off:])
		d[off+1] = tos | ecnCE
		updateChecksum(d[off+10:off+12], old, binary.BigEndian.Uint16(d[off:]))
		h.TOS = d[off+1]
		return true
	case 6:
		if off+40 > len(d) {
			return false
		}
		// Traffic class: the low nibble of byte 0 and the high nibble of
		// byte 1; its ECN bits are bits 5 and 4 of byte 1.
		tc := d[off]<<4 | d[off+1]>>4
		if tc&ecnMask == ecnNotECT {
			return false
		}
		d[off+1] |= ecnCE << 4
		h.TOS = tc | ecnCE
		return true
	}
	return false
}

// updateChecksum rewrites the Internet checksum in sum after one 16-bit
// word of the covered data changed from old to new: HC' = ~(~HC + ~m + m')
// (RFC 1624, eqn. 3), which never produces the -0 that eqn. 2 can.
func updateChecksum(sum []byte, old, new uint16) {
	acc := uint32(^binary.BigEndian.Uint16(sum)) + uint32(^old) + uint32(new)
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	binary.BigEndian.PutUint16(sum, ^uint16(acc))
}

// ChecksumHelp is skb_checksum_help: a frame whose transport checksum is
// partial (CsumPartial: the field holds the pseudo-header sum) gets its
// full checksum, the sum from CsumStart to the end stored at
// CsumStart+CsumOffset (0 stored as 0xffff, CSUM_MANGLED_0), and is no
// longer partial. Whoever changes the payload of such a frame without
// fixing the checksum calls it first (netem's corrupt). A frame without
// a partial checksum is left alone.
func (p *Buffer) ChecksumHelp() error {
	if !p.CsumPartial {
		return nil
	}
	d := p.Data()
	start, at := int(p.CsumStart), int(p.CsumStart)+int(p.CsumOffset)
	if start > len(d) || at+2 > len(d) {
		return errorString("pkt: checksum offsets beyond the frame")
	}
	c := wire.Checksum(d[start:])
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(d[at:], c)
	p.CsumPartial = false
	return nil
}
