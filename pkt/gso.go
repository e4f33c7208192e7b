package pkt

import (
	"encoding/binary"
	"net/netip"

	"netyard/wire"
)

// WireLen is how many packets and bytes the frame stands for on the wire,
// what the counters of devices, filters and actions count: 1 and Len for
// an ordinary frame; for a GSO frame the segments it is sent as and their
// total length, each segment carrying the headers again (the kernel's
// gso_segs and qdisc_pkt_len). An ordinary frame costs one compare.
func (b *Buffer) WireLen() (packets, bytes int) {
	if b.GSOType == GSONone {
		return 1, b.Len()
	}
	return gsoWireLen(&b.Meta, b.Data())
}

// MaxSegLen is the length of the longest packet the frame is sent as: Len
// for an ordinary frame, the headers and GSOSize for a GSO frame (what the
// kernel's skb_gso_validate_mac_len checks against an MTU).
func (b *Buffer) MaxSegLen() int {
	if b.GSOType == GSONone {
		return b.Len()
	}
	hdr := gsoHeaderLen(&b.Meta, b.Data())
	if b.GSOSize == 0 || hdr <= 0 || hdr >= b.Len() {
		return b.Len()
	}
	return min(b.Len(), hdr+int(b.GSOSize))
}

func gsoWireLen(m *Meta, frame []byte) (packets, bytes int) {
	n := len(frame)
	hdr := gsoHeaderLen(m, frame)
	if m.GSOSize == 0 || hdr <= 0 || hdr >= n {
		return 1, n
	}
	segs := (n - hdr + int(m.GSOSize) - 1) / int(m.GSOSize)
	return segs, n + (segs-1)*hdr
}

// gsoHeaderLen is the length of the headers every segment repeats: up to
// the end of the TCP header (with options) or of the UDP header; 0 when the
// frame is too short to say.
func gsoHeaderLen(m *Meta, frame []byte) int {
	if m.GSOType == GSOUDPL4 {
		return int(m.CsumStart) + 8
	}
	t := int(m.CsumStart) + 12
	if t >= len(frame) {
		return 0
	}
	return int(m.CsumStart) + int(frame[t]>>4)*4
}

// Segmenter is software GSO (the kernel's skb_segment with tcp_gso_segment
// and __udp_gso_segment): it cuts a TCP/IPv4, TCP/IPv6 or UDP GSO frame
// into the segments the kernel would send, for a way out that takes no
// offload metadata (a TAP without a virtio-net header, AF_XDP, a pcap).
// Each segment gets the headers with IP total length (or payload length),
// IPv4 ID (+1 a segment) and header checksum, TCP sequence number and
// flags (CWR on the first only, FIN and PSH on the last only), and a
// complete transport checksum. It writes into buffers the caller gives,
// so it allocates nothing.
type Segmenter struct {
	src         []byte
	m           Meta
	ip, l4, hdr int
	off         int // the next segment's payload offset in src
	i           int
	v6, udp     bool
	seq         uint32
	id          uint16
	tcpFlags    byte
}

// ErrGSO is returned for a GSO frame the Segmenter cannot cut.
var ErrGSO = errorString("pkt: GSO frame not segmentable")

type errorString string

func (e errorString) Error() string { return string(e) }

// Init prepares to segment frame with the offload metadata m. It checks
// that the headers are where the metadata says: Ethernet (up to two VLAN
// tags), IPv4 or IPv6 without extension headers, then TCP or UDP at
// CsumStart.
func (s *Segmenter) Init(frame []byte, m *Meta) error {
	*s = Segmenter{src: frame, m: *m}
	if m.GSOType == GSONone || m.GSOSize == 0 {
		return ErrGSO
	}
	off, typ := 12, uint16(0)
	for range 3 {
		if off+2 > len(frame) {
			return ErrGSO
		}
		typ = binary.BigEndian.Uint16(frame[off:])
		if typ != 0x8100 && typ != 0x88a8 {
			break
		}
		off += 4
	}
	s.ip = off + 2
	s.l4 = int(m.CsumStart)
	switch typ {
	case 0x0800:
		if s.ip+20 > len(frame) || frame[s.ip]>>4 != 4 || s.ip+int(frame[s.ip]&0xf)*4 != s.l4 {
			return ErrGSO
		}
		s.id = binary.BigEndian.Uint16(frame[s.ip+4:])
	case 0x86dd:
		s.v6 = true
		if s.ip+40 != s.l4 || s.l4 > len(frame) {
			return ErrGSO
		}
	default:
		return ErrGSO
	}
	proto := frame[s.ip+9]
	if s.v6 {
		proto = frame[s.ip+6]
	}
	switch {
	case m.GSOType == GSOUDPL4 && proto == 17 && m.CsumOffset == 6:
		s.udp = true
	case (m.GSOType == GSOTCPv4 && !s.v6 || m.GSOType == GSOTCPv6 && s.v6) && proto == 6 && m.CsumOffset == 16:
	default:
		return ErrGSO
	}
	s.hdr = gsoHeaderLen(m, frame)
	if s.hdr < s.l4+8 || s.hdr >= len(frame) || (!s.udp && s.hdr < s.l4+20) {
		return ErrGSO
	}
	if !s.udp {
		s.seq = binary.BigEndian.Uint32(frame[s.l4+4:])
		s.tcpFlags = frame[s.l4+13]
	}
	s.off = s.hdr
	return nil
}

// MaxLen is the longest segment Next writes: the headers and GSOSize bytes.
func (s *Segmenter) MaxLen() int { return s.hdr + int(s.m.GSOSize) }

// Next writes the next segment into dst (at least MaxLen bytes) and
// returns its length, or 0 when every segment has been written.
func (s *Segmenter) Next(dst []byte) int {
	if s.off >= len(s.src) {
		return 0
	}
	pay := min(int(s.m.GSOSize), len(s.src)-s.off)
	last := s.off+pay >= len(s.src)
	n := s.hdr + pay
	copy(dst[:s.hdr], s.src[:s.hdr])
	copy(dst[s.hdr:n], s.src[s.off:s.off+pay])
	seg := dst[s.l4:n]
	if s.v6 {
		binary.BigEndian.PutUint16(dst[s.ip+4:], uint16(n-s.l4))
	} else {
		binary.BigEndian.PutUint16(dst[s.ip+2:], uint16(n-s.ip))
		binary.BigEndian.PutUint16(dst[s.ip+4:], s.id+uint16(s.i))
		dst[s.ip+10], dst[s.ip+11] = 0, 0
		binary.BigEndian.PutUint16(dst[s.ip+10:], wire.Checksum(dst[s.ip:s.l4]))
	}
	proto := uint8(6)
	if s.udp {
		proto = 17
		binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	} else {
		binary.BigEndian.PutUint32(seg[4:], s.seq+uint32(s.off-s.hdr))
		f := s.tcpFlags
		if s.i > 0 {
			f &^= 0x80 // CWR
		}
		if !last {
			f &^= 0x01 | 0x08 // FIN, PSH
		}
		seg[13] = f
	}
	seg[s.m.CsumOffset], seg[s.m.CsumOffset+1] = 0, 0
	var src, dstA netip.Addr
	if s.v6 {
		src, dstA = netip.AddrFrom16([16]byte(dst[s.ip+8:s.ip+24])), netip.AddrFrom16([16]byte(dst[s.ip+24:s.ip+40]))
	} else {
		src, dstA = netip.AddrFrom4([4]byte(dst[s.ip+12:s.ip+16])), netip.AddrFrom4([4]byte(dst[s.ip+16:s.ip+20]))
	}
	c := wire.TransportChecksum(proto, src, dstA, seg)
	if c == 0 && s.udp {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(seg[s.m.CsumOffset:], c)
	s.off += pay
	s.i++
	return n
}

// Cut segments p into buffers from p's pool, each with p's metadata less
// the offload state, and hands each to emit in order; p stays the
// caller's. It returns the error of Init, or ErrNoMemory when the pool
// refuses a buffer (the segments before it were emitted). emit must not
// keep the Segmenter.
func (s *Segmenter) Cut(p *Buffer, emit func(seg *Buffer)) error {
	if err := s.Init(p.Data(), &p.Meta); err != nil {
		return err
	}
	pool := p.pool
	for {
		var seg *Buffer
		var err error
		if s.MaxLen() <= pool.DataSize() {
			seg, err = pool.Get()
		} else {
			seg, err = pool.GetBig()
		}
		if err != nil {
			return err
		}
		if err := seg.Resize(s.MaxLen()); err != nil {
			seg.Release()
			return err
		}
		n := s.Next(seg.Data())
		if n == 0 {
			seg.Release()
			return nil
		}
		seg.tail = seg.head + n
		seg.Meta = p.Meta
		seg.GSOType, seg.GSOSize, seg.CsumPartial, seg.CsumStart, seg.CsumOffset = GSONone, 0, false, 0, 0
		_ = seg.Parse() // the segment's own lengths; p parsed, so it does
		emit(seg)
	}
}
