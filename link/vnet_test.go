package link

import (
	"encoding/binary"
	"errors"
	"testing"

	"netyard/pkt"
)

// vnetHdr builds a virtio_net_hdr the way the kernel's
// virtio_net_hdr_from_skb lays it out (little-endian fields).
func vnetHdr(flags, typ uint8, hdrLen, size, start, off uint16) []byte {
	h := make([]byte, vnetHdrLen)
	h[0], h[1] = flags, typ
	binary.LittleEndian.PutUint16(h[2:], hdrLen)
	binary.LittleEndian.PutUint16(h[4:], size)
	binary.LittleEndian.PutUint16(h[6:], start)
	binary.LittleEndian.PutUint16(h[8:], off)
	return h
}

func TestParseVnetHdr(t *testing.T) {
	for _, tc := range []struct {
		name     string
		h        []byte
		frameLen int
		want     pkt.Meta
		bad      bool
	}{
		{name: "plain", h: vnetHdr(0, 0, 0, 0, 0, 0), frameLen: 60},
		{name: "data valid", h: vnetHdr(vnetFlagDataValid, 0, 0, 0, 0, 0), frameLen: 60},
		// A TCP/IPv4 segment sent by a veth peer's stack with checksum
		// offload: csum_start is the TCP header (14+20), the field 16 in.
		{name: "partial tcp4", h: vnetHdr(1, 0, 66, 0, 34, 16), frameLen: 66,
			want: pkt.Meta{CsumPartial: true, CsumStart: 34, CsumOffset: 16}},
		{name: "tso4", h: vnetHdr(1, vnetGSOTCPv4, 66, 1448, 34, 16), frameLen: 65226,
			want: pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}},
		{name: "tso4 ecn", h: vnetHdr(1, vnetGSOTCPv4|vnetGSOECN, 66, 1448, 34, 16), frameLen: 3000,
			want: pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}},
		{name: "tso6", h: vnetHdr(1, vnetGSOTCPv6, 86, 1428, 54, 16), frameLen: 30000,
			want: pkt.Meta{GSOType: pkt.GSOTCPv6, GSOSize: 1428, CsumPartial: true, CsumStart: 54, CsumOffset: 16}},
		{name: "udp l4", h: vnetHdr(1, vnetGSOUDPL4, 42, 1472, 34, 6), frameLen: 20000,
			want: pkt.Meta{GSOType: pkt.GSOUDPL4, GSOSize: 1472, CsumPartial: true, CsumStart: 34, CsumOffset: 6}},
		{name: "short", h: vnetHdr(0, 0, 0, 0, 0, 0)[:9], frameLen: 60, bad: true},
		{name: "csum past end", h: vnetHdr(1, 0, 0, 0, 34, 16), frameLen: 51, bad: true},
		{name: "csum at end", h: vnetHdr(1, 0, 0, 0, 34, 16), frameLen: 52,
			want: pkt.Meta{CsumPartial: true, CsumStart: 34, CsumOffset: 16}},
		{name: "ufo", h: vnetHdr(1, vnetGSOUDP, 42, 1472, 34, 6), frameLen: 20000, bad: true},
		{name: "unknown type", h: vnetHdr(1, 7, 42, 1472, 34, 6), frameLen: 20000, bad: true},
		{name: "gso without size", h: vnetHdr(1, vnetGSOTCPv4, 66, 0, 34, 16), frameLen: 20000, bad: true},
		{name: "gso without csum", h: vnetHdr(0, vnetGSOTCPv4, 66, 1448, 34, 16), frameLen: 20000, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m pkt.Meta
			m.Mark = 7 // other fields are not touched
			err := parseVnetHdr(tc.h, &m, tc.frameLen)
			if tc.bad {
				if !errors.Is(err, errVnetHdr) {
					t.Fatalf("err %v, want errVnetHdr", err)
				}
				if m.GSOType != pkt.GSONone {
					t.Errorf("a refused header left GSO type %d", m.GSOType)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Mark = 7
			if m != tc.want {
				t.Errorf("got %+v, want %+v", m, tc.want)
			}
		})
	}
}

// tcpFrame is an Ethernet/IPv4/TCP frame with payload bytes of data and
// a TCP header of tcpLen bytes (options zero).
func tcpFrame(payload, tcpLen int, v6 bool) []byte {
	ipLen := 20
	if v6 {
		ipLen = 40
	}
	f := make([]byte, 14+ipLen+tcpLen+payload)
	if v6 {
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		f[14] = 0x60
		binary.BigEndian.PutUint16(f[18:], uint16(tcpLen+payload))
		f[20], f[21] = 6, 64
		f[22+15], f[38+15] = 1, 2
	} else {
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		f[14] = 0x45
		binary.BigEndian.PutUint16(f[16:], uint16(ipLen+tcpLen+payload))
		f[22], f[23] = 64, 6
		copy(f[26:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	}
	t := 14 + ipLen
	f[t+12] = byte(tcpLen/4) << 4
	for i := range payload {
		f[t+tcpLen+i] = byte(i)
	}
	return f
}

// TestPutVnetHdr: the header written for a frame parses back to the same
// metadata, and hdr_len covers the headers through TCP options.
func TestPutVnetHdr(t *testing.T) {
	for _, tc := range []struct {
		name    string
		m       pkt.Meta
		frame   []byte
		hdrLen  uint16
		gsoType uint8
	}{
		{"plain", pkt.Meta{}, tcpFrame(100, 20, false), 0, 0},
		{"partial", pkt.Meta{CsumPartial: true, CsumStart: 34, CsumOffset: 16}, tcpFrame(100, 32, false), 52, 0},
		{"tso4 with options", pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}, tcpFrame(5000, 32, false), 66, vnetGSOTCPv4},
		{"tso6", pkt.Meta{GSOType: pkt.GSOTCPv6, GSOSize: 1428, CsumPartial: true, CsumStart: 54, CsumOffset: 16}, tcpFrame(5000, 20, true), 74, vnetGSOTCPv6},
		{"udp l4", pkt.Meta{GSOType: pkt.GSOUDPL4, GSOSize: 1000, CsumPartial: true, CsumStart: 34, CsumOffset: 6}, make([]byte, 3042), 42, vnetGSOUDPL4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := make([]byte, vnetHdrLen)
			for i := range h {
				h[i] = 0xee // every byte is written
			}
			putVnetHdr(h, &tc.m, tc.frame)
			if got := binary.LittleEndian.Uint16(h[2:]); got != tc.hdrLen {
				t.Errorf("hdr_len %d, want %d", got, tc.hdrLen)
			}
			if h[1] != tc.gsoType {
				t.Errorf("gso_type %d, want %d", h[1], tc.gsoType)
			}
			var m pkt.Meta
			if err := parseVnetHdr(h, &m, len(tc.frame)); err != nil {
				t.Fatal(err)
			}
			if m != tc.m {
				t.Errorf("round trip: %+v, want %+v", m, tc.m)
			}
		})
	}
	m := pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}
	f := tcpFrame(64000, 32, false)
	h := make([]byte, vnetHdrLen)
	if n := testing.AllocsPerRun(100, func() {
		putVnetHdr(h, &m, f)
		_ = parseVnetHdr(h, &m, len(f))
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// TestGSOSegments: a GSO frame counts as the segments the kernel sends
// (gso_segs) and their bytes, headers repeated (qdisc_pkt_len).
func TestGSOSegments(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	tso := pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}
	for _, tc := range []struct {
		name         string
		m            pkt.Meta
		frame        []byte
		pkts, octets uint64
	}{
		{"plain", pkt.Meta{}, tcpFrame(1000, 20, false), 1, 1054},
		// 64000 bytes of payload in 1448-byte segments: 44 full and one
		// of 288; each carries 14+20+32 bytes of headers.
		{"tso4", tso, tcpFrame(64000, 32, false), 45, 64000 + 45*66},
		{"exact", tso, tcpFrame(2*1448, 32, false), 2, 2*1448 + 2*66},
		{"one", tso, tcpFrame(100, 32, false), 1, 166},
		{"tso6", pkt.Meta{GSOType: pkt.GSOTCPv6, GSOSize: 1000, CsumPartial: true, CsumStart: 54, CsumOffset: 16}, tcpFrame(2500, 20, true), 3, 2500 + 3*74},
		{"udp l4", pkt.Meta{GSOType: pkt.GSOUDPL4, GSOSize: 1000, CsumPartial: true, CsumStart: 34, CsumOffset: 6}, make([]byte, 42+2500), 3, 2500 + 3*42},
		{"headers only", tso, tcpFrame(0, 32, false), 1, 66},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf, err := pool.GetBig()
			if err != nil {
				t.Fatal(err)
			}
			defer buf.Release()
			if err := buf.SetData(tc.frame); err != nil {
				t.Fatal(err)
			}
			buf.GSOType, buf.GSOSize, buf.CsumPartial, buf.CsumStart, buf.CsumOffset = tc.m.GSOType, tc.m.GSOSize, tc.m.CsumPartial, tc.m.CsumStart, tc.m.CsumOffset
			p, b := buf.WireLen()
			if uint64(p) != tc.pkts || uint64(b) != tc.octets {
				t.Errorf("got %d packets %d bytes, want %d, %d", p, b, tc.pkts, tc.octets)
			}
		})
	}
}

// FuzzParseVnetHdr: any header and frame length give an error or
// metadata that a transmitter can use: the checksum field inside the
// frame, a GSO type with a size and a checksum, and a header written back
// from it that parses to the same.
func FuzzParseVnetHdr(f *testing.F) {
	f.Add(vnetHdr(1, vnetGSOTCPv4, 66, 1448, 34, 16), 65226)
	f.Add(vnetHdr(1, 0, 0, 0, 34, 16), 52)
	f.Add(vnetHdr(0, 0, 0, 0, 0, 0), 60)
	f.Add(vnetHdr(1, vnetGSOUDPL4, 42, 1472, 34, 6), 3000)
	f.Fuzz(func(t *testing.T, h []byte, frameLen int) {
		if frameLen < 0 || frameLen > 1<<17 {
			return
		}
		var m pkt.Meta
		if err := parseVnetHdr(h, &m, frameLen); err != nil {
			if m.GSOType != pkt.GSONone {
				t.Fatalf("error %v with GSO type %d", err, m.GSOType)
			}
			return
		}
		if m.CsumPartial && int(m.CsumStart)+int(m.CsumOffset)+2 > frameLen {
			t.Fatalf("checksum at %d+%d outside a %d-byte frame", m.CsumStart, m.CsumOffset, frameLen)
		}
		if m.GSOType != pkt.GSONone && (m.GSOSize == 0 || !m.CsumPartial) {
			t.Fatalf("GSO without size or checksum: %+v", m)
		}
		frame := make([]byte, frameLen)
		out := make([]byte, vnetHdrLen)
		putVnetHdr(out, &m, frame)
		var m2 pkt.Meta
		if err := parseVnetHdr(out, &m2, frameLen); err != nil || m2 != m {
			t.Fatalf("round trip: %+v, %v; want %+v", m2, err, m)
		}
	})
}
