package pkt

import (
	"encoding/binary"
	"testing"
)

// FuzzSegmenter: any frame and metadata give an error from Init or
// segments that fit MaxLen, whose number and total length are WireLen's,
// and whose payloads put back together are the frame's payload. (The
// bytes of each segment are checked against the kernel's own segmentation
// in link's TestSegmenterAgainstKernel.)
func FuzzSegmenter(f *testing.F) {
	tcp := make([]byte, 14+20+20+3000)
	binary.BigEndian.PutUint16(tcp[12:], 0x0800)
	tcp[14], tcp[23] = 0x45, 6
	tcp[34+12] = 5 << 4
	f.Add(tcp, uint8(GSOTCPv4), uint16(1000), uint16(34), uint16(16))
	udp := make([]byte, 14+40+8+2500)
	binary.BigEndian.PutUint16(udp[12:], 0x86dd)
	udp[14], udp[20] = 0x60, 17
	f.Add(udp, uint8(GSOUDPL4), uint16(1000), uint16(54), uint16(6))
	f.Fuzz(func(t *testing.T, frame []byte, typ uint8, size, start, off uint16) {
		m := Meta{GSOType: typ, GSOSize: size, CsumPartial: true, CsumStart: start, CsumOffset: off}
		var s Segmenter
		if s.Init(frame, &m) != nil {
			return
		}
		dst := make([]byte, s.MaxLen())
		var payload []byte
		segs, bytes := 0, 0
		hdr := s.hdr
		for {
			n := s.Next(dst)
			if n == 0 {
				break
			}
			if n > s.MaxLen() || n <= hdr {
				t.Fatalf("segment of %d bytes, headers %d, max %d", n, hdr, s.MaxLen())
			}
			segs++
			bytes += n
			payload = append(payload, dst[hdr:n]...)
			if segs > len(frame) {
				t.Fatal("no end")
			}
		}
		b := Buffer{buf: frame, tail: len(frame)}
		b.Meta = m
		if p, n := b.WireLen(); p != segs || n != bytes {
			t.Fatalf("WireLen %d packets %d bytes; the segments are %d, %d", p, n, segs, bytes)
		}
		if string(payload) != string(frame[hdr:]) {
			t.Fatal("the segments' payloads are not the frame's")
		}
	})
}

// BenchmarkSegmenter cuts a 64 KiB TCP/IPv4 GSO frame into 1448-byte
// segments (45 of them): the software GSO a frame costs on a way out
// without offloads.
func BenchmarkSegmenter(b *testing.B) {
	f := make([]byte, 14+20+20+65000)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14], f[23] = 0x45, 6
	f[34+12] = 5 << 4
	m := Meta{GSOType: GSOTCPv4, GSOSize: 1448, CsumPartial: true, CsumStart: 34, CsumOffset: 16}
	dst := make([]byte, 2048)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	var s Segmenter
	for b.Loop() {
		if err := s.Init(f, &m); err != nil {
			b.Fatal(err)
		}
		for s.Next(dst) > 0 {
		}
	}
}

// TestTagKeepsCsumStart: a VLAN tag pushed or popped in front of the
// transport header moves csum_start with it, so that a GSO frame still
// segments (and a partial checksum still completes) after the vlan action.
func TestTagKeepsCsumStart(t *testing.T) {
	p := NewPool(PoolConfig{})
	f := make([]byte, 14+20+20+3000)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14], f[23] = 0x45, 6
	f[34+12] = 5 << 4
	b, err := p.GetBig()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	_ = b.SetData(f)
	b.GSOType, b.GSOSize, b.CsumPartial, b.CsumStart, b.CsumOffset = GSOTCPv4, 1000, true, 34, 16
	if err := b.InsertTag(12, 0x8100, 100); err != nil {
		t.Fatal(err)
	}
	if b.CsumStart != 38 {
		t.Fatalf("after a tag push csum_start is %d, want 38", b.CsumStart)
	}
	var s Segmenter
	if err := s.Init(b.Data(), &b.Meta); err != nil {
		t.Fatalf("the tagged GSO frame does not segment: %v", err)
	}
	if err := b.RemoveTag(12); err != nil {
		t.Fatal(err)
	}
	if b.CsumStart != 34 {
		t.Fatalf("after the pop csum_start is %d, want 34", b.CsumStart)
	}
}
