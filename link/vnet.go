package link

import (
	"encoding/binary"
	"errors"
	"fmt"

	"netyard/pkt"
	"netyard/wire"
)

// struct virtio_net_hdr (include/uapi/linux/virtio_net.h), the offload
// header AF_PACKET puts in front of every frame of a socket with
// PACKET_VNET_HDR (and TAP with IFF_VNET_HDR): flags, gso_type, then
// hdr_len, gso_size, csum_start, csum_offset as 16-bit fields in the
// virtio byte order, little-endian on every machine netyard builds for
// (vio_le: virtio_legacy_is_little_endian is true on little-endian hosts).
const (
	vnetHdrLen = 10

	vnetFlagNeedsCsum = 1
	vnetFlagDataValid = 2

	vnetGSONone  = 0
	vnetGSOTCPv4 = 1
	vnetGSOUDP   = 3 // UFO, gone since 4.14: not accepted
	vnetGSOTCPv6 = 4
	vnetGSOUDPL4 = 5
	vnetGSOECN   = 0x80
)

// errVnetHdr is what parseVnetHdr returns for a header it does not accept.
var errVnetHdr = errors.New("link: bad virtio_net_hdr")

// parseVnetHdr reads a virtio_net_hdr h that came with a frame of frameLen
// bytes into m's offload fields. It checks what the kernel's
// virtio_net_hdr_to_skb checks, so that a GSO or partial-checksum frame
// netyard hands on is one the kernel would have accepted: the checksum
// field inside the frame, a known GSO type with a size, and a GSO frame
// carrying a partial checksum. It does not allocate.
func parseVnetHdr(h []byte, m *pkt.Meta, frameLen int) error {
	if len(h) < vnetHdrLen {
		return fmt.Errorf("%w: %d bytes", errVnetHdr, len(h))
	}
	flags, typ := h[0], h[1]
	size := binary.LittleEndian.Uint16(h[4:])
	start := binary.LittleEndian.Uint16(h[6:])
	off := binary.LittleEndian.Uint16(h[8:])
	m.GSOType, m.GSOSize, m.CsumPartial, m.CsumStart, m.CsumOffset = pkt.GSONone, 0, false, 0, 0
	if flags&vnetFlagNeedsCsum != 0 {
		if int(start)+int(off)+2 > frameLen {
			return fmt.Errorf("%w: checksum at %d+%d in a %d-byte frame", errVnetHdr, start, off, frameLen)
		}
		m.CsumPartial, m.CsumStart, m.CsumOffset = true, start, off
	}
	switch typ &^ vnetGSOECN {
	case vnetGSONone:
		return nil
	case vnetGSOTCPv4:
		m.GSOType = pkt.GSOTCPv4
	case vnetGSOTCPv6:
		m.GSOType = pkt.GSOTCPv6
	case vnetGSOUDPL4:
		m.GSOType = pkt.GSOUDPL4
	default:
		return fmt.Errorf("%w: gso_type %#x", errVnetHdr, typ)
	}
	if size == 0 || !m.CsumPartial {
		m.GSOType, m.CsumPartial = pkt.GSONone, false
		return fmt.Errorf("%w: GSO type %#x with gso_size %d and flags %#x", errVnetHdr, typ, size, flags)
	}
	m.GSOSize = size
	return nil
}

// putVnetHdr writes the virtio_net_hdr for frame's offload state into h
// (vnetHdrLen bytes): what the kernel needs to segment a GSO frame and
// finish a partial checksum on transmit. hdr_len is the headers up to the
// end of the transport header, which the kernel copies into the linear
// part of the skb.
func putVnetHdr(h []byte, m *pkt.Meta, frame []byte) {
	clear(h[:vnetHdrLen])
	if !m.CsumPartial {
		return
	}
	h[0] = vnetFlagNeedsCsum
	binary.LittleEndian.PutUint16(h[6:], m.CsumStart)
	binary.LittleEndian.PutUint16(h[8:], m.CsumOffset)
	hdrLen := int(m.CsumStart) + int(m.CsumOffset) + 2
	switch m.GSOType {
	case pkt.GSOTCPv4, pkt.GSOTCPv6:
		if t := int(m.CsumStart) + 12; t < len(frame) {
			hdrLen = max(hdrLen, int(m.CsumStart)+int(frame[t]>>4)*4)
		}
		h[1] = vnetGSOTCPv4
		if m.GSOType == pkt.GSOTCPv6 {
			h[1] = vnetGSOTCPv6
		}
	case pkt.GSOUDPL4:
		hdrLen = int(m.CsumStart) + 8
		h[1] = vnetGSOUDPL4
	}
	if m.GSOType != pkt.GSONone {
		binary.LittleEndian.PutUint16(h[4:], m.GSOSize)
	}
	binary.LittleEndian.PutUint16(h[2:], uint16(min(hdrLen, len(frame))))
}

// completeAt finishes a partial checksum whose place the sender said
// (csum_start, csum_offset): the field holds the pseudo-header sum, and
// the ones' complement of the sum from start to the end of the frame goes
// there (skb_checksum_help). 0 is sent as 0xffff (CSUM_MANGLED_0; for TCP
// the two are the same number). It reports whether the offsets were
// inside the frame.
func completeAt(frame []byte, start, off int) bool {
	if start+off+2 > len(frame) {
		return false
	}
	c := wire.Checksum(frame[start:])
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[start+off:], c)
	return true
}
