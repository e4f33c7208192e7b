package nlattr

import (
	"errors"
	"testing"
)

var errTest = errors.New("test attributes")

// TestRoundTrip: what the appenders write, Iter reads back, with the
// padding and nest lengths the kernel uses.
func TestRoundTrip(t *testing.T) {
	b := AppendU32(nil, 1, 0xdeadbeef)
	b = AppendStr(b, 2, "flower") // 4 + 7 bytes, padded to 12
	b, at := StartNest(b, 3)
	b = AppendU64(b, 4, 1<<40)
	b = AppendBytes(b, 5, []byte{1, 2, 3})
	b = EndNest(b, at)
	if len(b)%4 != 0 || len(b) != 8+12+4+12+8 {
		t.Fatalf("encoded %d bytes: %x", len(b), b)
	}
	a := Iter{B: b, Base: errTest}
	var got []uint16
	for a.Next() {
		got = append(got, a.Typ)
		switch a.Typ {
		case 1:
			if a.U32() != 0xdeadbeef {
				t.Errorf("u32 %x", a.Val)
			}
		case 2:
			if string(a.Str()) != "flower" {
				t.Errorf("str %q", a.Val)
			}
		case 3:
			n := Iter{B: a.Val, Base: errTest}
			if !n.Next() || n.Typ != 4 || n.U64() != 1<<40 || !n.Next() || n.Typ != 5 || string(n.Fixed(3)) != "\x01\x02\x03" || n.Next() || n.Err != nil {
				t.Errorf("nest: %x (%v)", a.Val, n.Err)
			}
		}
	}
	if a.Err != nil || len(got) != 3 {
		t.Fatalf("read %v, %v", got, a.Err)
	}
}

// TestMalformed: short, overlong and mistyped attributes are errors that
// wrap Base, never panics.
func TestMalformed(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		read func(*Iter)
	}{
		{[]byte{1, 0}, nil},                   // shorter than a header
		{[]byte{3, 0, 1, 0}, nil},             // length below the header
		{[]byte{9, 0, 1, 0, 0, 0, 0, 0}, nil}, // length past the end
		{AppendU64(nil, 1, 1), func(a *Iter) { a.U32() }},
		{AppendU32(nil, 1, 1), func(a *Iter) { a.U64() }},
		{AppendBytes(nil, 1, []byte("ab")), func(a *Iter) { a.Str() }},
		{AppendU32(nil, 1, 1), func(a *Iter) { a.Fixed(12) }},
	} {
		a := Iter{B: c.b, Base: errTest}
		for a.Next() {
			if c.read != nil {
				c.read(&a)
			}
		}
		if !errors.Is(a.Err, errTest) {
			t.Errorf("%x: error %v, want one wrapping %v", c.b, a.Err, errTest)
		}
	}
}
