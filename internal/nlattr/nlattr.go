// Package nlattr appends and reads netlink attributes (struct nlattr: a
// 16-bit length, a 16-bit type, the value, padded to 4 bytes), in host byte
// order as the kernel writes them. The dump encodings of actions (act) and
// filters (cls) are built with it. The appenders write into the caller's
// buffer and allocate nothing beyond its growth, where
// netlink.AttributeEncoder allocates a buffer of its own per object.
package nlattr

import (
	"encoding/binary"
	"fmt"
)

const (
	// HdrLen is the size of an attribute's header.
	HdrLen = 4
	// Nested is NLA_F_NESTED, set on the type of a nest.
	Nested   = 1 << 15
	typeMask = 1<<14 - 1
)

// AppendHdr appends a header for a value of n bytes.
func AppendHdr(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(HdrLen+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}

// Pad pads b to 4 bytes.
func Pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// AppendU32 appends a u32 attribute.
func AppendU32(b []byte, typ uint16, v uint32) []byte {
	return binary.NativeEndian.AppendUint32(AppendHdr(b, typ, 4), v)
}

// AppendU64 appends a u64 attribute.
func AppendU64(b []byte, typ uint16, v uint64) []byte {
	return binary.NativeEndian.AppendUint64(AppendHdr(b, typ, 8), v)
}

// AppendStr appends a NUL-terminated string attribute.
func AppendStr(b []byte, typ uint16, s string) []byte {
	b = append(AppendHdr(b, typ, len(s)+1), s...)
	return Pad(append(b, 0))
}

// AppendBytes appends a binary attribute.
func AppendBytes(b []byte, typ uint16, v []byte) []byte {
	return Pad(append(AppendHdr(b, typ, len(v)), v...))
}

// StartNest appends a nest's header with a length to be set by EndNest,
// and returns where it starts.
func StartNest(b []byte, typ uint16) ([]byte, int) {
	return AppendHdr(b, typ|Nested, 0), len(b)
}

// EndNest sets the length of the nest started at at.
func EndNest(b []byte, at int) []byte {
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
	return b
}

// Iter reads the attributes of a buffer one at a time. Its errors wrap
// Base, so that a caller's errors.Is finds its own sentinel.
type Iter struct {
	B    []byte
	Base error
	// Typ and Val are the current attribute's type (without the nested
	// and byte-order flags) and value.
	Typ uint16
	Val []byte
	Err error
}

// Next moves to the next attribute; false at the end or on an error.
func (a *Iter) Next() bool {
	if a.Err != nil || len(a.B) == 0 {
		return false
	}
	if len(a.B) < HdrLen {
		a.Err = fmt.Errorf("%w: %d trailing bytes", a.Base, len(a.B))
		return false
	}
	n := int(binary.NativeEndian.Uint16(a.B))
	if n < HdrLen || n > len(a.B) {
		a.Err = fmt.Errorf("%w: attribute length %d of %d bytes left", a.Base, n, len(a.B))
		return false
	}
	a.Typ = binary.NativeEndian.Uint16(a.B[2:]) & typeMask
	a.Val = a.B[HdrLen:n]
	adv := min((n+3)&^3, len(a.B))
	a.B = a.B[adv:]
	return true
}

// U32 reads the value as a u32.
func (a *Iter) U32() uint32 {
	if len(a.Val) != 4 {
		a.Err = fmt.Errorf("%w: attribute %d: %d bytes, want 4", a.Base, a.Typ, len(a.Val))
		return 0
	}
	return binary.NativeEndian.Uint32(a.Val)
}

// U64 reads the value as a u64.
func (a *Iter) U64() uint64 {
	if len(a.Val) != 8 {
		a.Err = fmt.Errorf("%w: attribute %d: %d bytes, want 8", a.Base, a.Typ, len(a.Val))
		return 0
	}
	return binary.NativeEndian.Uint64(a.Val)
}

// Str reads the value as a NUL-terminated string, without the NUL.
func (a *Iter) Str() []byte {
	if len(a.Val) == 0 || a.Val[len(a.Val)-1] != 0 {
		a.Err = fmt.Errorf("%w: attribute %d: not a NUL-terminated string", a.Base, a.Typ)
		return nil
	}
	return a.Val[:len(a.Val)-1]
}

// Fixed reads a value of exactly n bytes.
func (a *Iter) Fixed(n int) []byte {
	if len(a.Val) != n {
		a.Err = fmt.Errorf("%w: attribute %d: %d bytes, want %d", a.Base, a.Typ, len(a.Val), n)
		return nil
	}
	return a.Val
}
