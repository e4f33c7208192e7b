package wire

import (
	"encoding/binary"
	"net/netip"
)

// Checksum is the Internet checksum of b (RFC 1071): the ones' complement
// of the ones' complement sum of b's 16-bit big-endian words, an odd last
// byte padded with zero. Stored in a header whose checksum field was zero,
// it makes Checksum over the whole header 0, which is how a receiver
// verifies it.
func Checksum(b []byte) uint16 {
	return ^fold(sum(b, 0))
}

// TransportChecksum is the checksum of a TCP, UDP, UDP-Lite or ICMPv6
// segment (seg: header and payload) with the IPv4 (RFC 9293 §3.1, RFC 768)
// or IPv6 (RFC 8200 §8.1) pseudo-header of src, dst and proto in front.
// Like Checksum it yields 0 over a segment that carries its correct
// checksum. For UDP, a computed 0 is sent as 0xffff (PutTransportChecksum
// does that). src and dst must be of the same family.
func TransportChecksum(proto uint8, src, dst netip.Addr, seg []byte) uint16 {
	var acc uint64
	if src.Is4() {
		s, d := src.As4(), dst.As4()
		acc = sum(s[:], acc)
		acc = sum(d[:], acc)
	} else {
		s, d := src.As16(), dst.As16()
		acc = sum(s[:], acc)
		acc = sum(d[:], acc)
	}
	acc += uint64(proto) + uint64(len(seg))
	return ^fold(sum(seg, acc))
}

// sum adds b's 16-bit words to acc. It reads 8 bytes per step: a 64-bit
// big-endian load is the sum of four words shifted by multiples of 16, and
// ones' complement addition is end-around, so splitting the load in two
// 32-bit halves and folding at the end gives the same result (RFC 1071
// §2(B), "byte order independence" and "parallel summation").
func sum(b []byte, acc uint64) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		acc += v>>32 + v&0xffffffff
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	return acc
}

// fold reduces a 64-bit running sum to 16 bits with end-around carry.
func fold(acc uint64) uint16 {
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>32 + acc&0xffffffff
	acc = acc>>16 + acc&0xffff
	acc = acc>>16 + acc&0xffff
	return uint16(acc)
}
