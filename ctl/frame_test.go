package ctl

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
)

// The golden byte slices are little-endian: netlink is in host order.
func skipBigEndian(t testing.TB) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden bytes are little-endian; netlink is host-order")
	}
}

func TestReaderGolden(t *testing.T) {
	skipBigEndian(t)
	// Two messages back to back; the second's nlmsg_len (21) is not a
	// multiple of 4, so three padding bytes follow it (NLMSG_ALIGN).
	stream := []byte{
		0x14, 0x00, 0x00, 0x00, // nlmsg_len 20
		0x01, 0x00, // NLMSG_NOOP
		0x05, 0x00, // NLM_F_REQUEST|NLM_F_ACK
		0x07, 0x00, 0x00, 0x00, // seq 7
		0x2a, 0x00, 0x00, 0x00, // pid 42
		0xde, 0xad, 0xbe, 0xef, // payload
		0x15, 0x00, 0x00, 0x00, // nlmsg_len 21
		0x10, 0x00, // MsgExec
		0x01, 0x00, // NLM_F_REQUEST
		0x08, 0x00, 0x00, 0x00, // seq 8
		0x00, 0x00, 0x00, 0x00, // pid 0
		0x61, 0x62, 0x63, 0x64, 0x65, // payload "abcde"
		0x00, 0x00, 0x00, // padding
	}
	rd := NewReader(bytes.NewReader(stream), 64)
	want := []netlink.Message{
		{Header: netlink.Header{Length: 20, Type: netlink.Noop, Flags: netlink.Request | netlink.Acknowledge, Sequence: 7, PID: 42}, Data: []byte{0xde, 0xad, 0xbe, 0xef}},
		{Header: netlink.Header{Length: 21, Type: MsgExec, Flags: netlink.Request, Sequence: 8}, Data: []byte("abcde")},
	}
	for i, w := range want {
		m, err := rd.Next()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if m.Header != w.Header || !bytes.Equal(m.Data, w.Data) {
			t.Errorf("message %d = %+v %x, want %+v %x", i, m.Header, m.Data, w.Header, w.Data)
		}
	}
	if _, err := rd.Next(); err != io.EOF {
		t.Errorf("after the last message: %v, want io.EOF", err)
	}
}

func hdr(length uint32, typ netlink.HeaderType, seq uint32) []byte {
	return appendHeader(nil, netlink.Header{Length: length, Type: typ, Flags: netlink.Request, Sequence: seq})
}

func TestReaderErrors(t *testing.T) {
	const limit = 64
	tests := []struct {
		name     string
		in       []byte
		want     error
		got      int // FrameError.Got
		wantFrac string
	}{
		{name: "truncated header", in: hdr(20, MsgExec, 1)[:10], want: ErrTruncated, got: 10, wantFrac: "10 of 16 bytes"},
		{name: "length zero", in: hdr(0, MsgExec, 2), want: ErrShortLength, wantFrac: "length 0 is below"},
		{name: "length below the header", in: hdr(8, MsgExec, 3), want: ErrShortLength, wantFrac: "seq 3: length 8 is below the 16-byte"},
		{name: "length beyond the limit", in: hdr(limit+4, MsgDump, 4), want: ErrTooLarge, got: limit + 4, wantFrac: "length 68 exceeds the 64-byte limit"},
		{name: "length 2^32-1", in: hdr(0xffffffff, MsgDump, 5), want: ErrTooLarge, got: 0xffffffff, wantFrac: "length 4294967295 exceeds"},
		{name: "truncated payload", in: append(hdr(32, MsgExec, 6), 1, 2, 3, 4), want: ErrTruncated, got: 20, wantFrac: "after 20 of 32 bytes"},
		// The padding belongs to the message: a stream that ends before
		// it is cut.
		{name: "truncated padding", in: append(hdr(21, MsgExec, 7), 1, 2, 3, 4, 5), want: ErrTruncated, got: 21, wantFrac: "after 21 of 24 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := NewReader(bytes.NewReader(tt.in), limit)
			_, err := rd.Next()
			var fe *FrameError
			if !errors.As(err, &fe) || !errors.Is(err, tt.want) {
				t.Fatalf("Next = %v, want a FrameError wrapping %v", err, tt.want)
			}
			if tt.got != 0 && fe.Got != tt.got {
				t.Errorf("Got = %d, want %d", fe.Got, tt.got)
			}
			if !strings.Contains(err.Error(), tt.wantFrac) {
				t.Errorf("error %q does not say %q", err, tt.wantFrac)
			}
			// Whatever the length field said, the buffer stays within
			// the limit.
			if cap(rd.buf) > limit {
				t.Errorf("buffer grew to %d bytes, over the %d-byte limit", cap(rd.buf), limit)
			}
		})
	}
	if _, err := NewReader(bytes.NewReader(nil), limit).Next(); err != io.EOF {
		t.Errorf("empty stream: %v, want io.EOF", err)
	}
}

// TestReaderAllocs: reading a stream of messages allocates nothing once
// the buffer has grown.
func TestReaderAllocs(t *testing.T) {
	var stream []byte
	for i := range 100 {
		m := netlink.Message{Header: netlink.Header{Type: MsgObjects, Sequence: uint32(i)}, Data: make([]byte, 4*(i%50))}
		stream = appendMessage(stream, m)
	}
	r := bytes.NewReader(stream)
	rd := NewReader(r, 1<<10)
	allocs := testing.AllocsPerRun(10, func() {
		r.Reset(stream)
		for {
			if _, err := rd.Next(); err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				return
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations per stream, want 0", allocs)
	}
}

func appendMessage(b []byte, m netlink.Message) []byte {
	m.Header.Length = uint32(hdrLen + len(m.Data))
	b = appendHeader(b, m.Header)
	b = append(b, m.Data...)
	return append(b, zeros[:align4(len(b))-len(b)]...)
}

// TestAppendersMatchAttributeEncoder: the hot-path encoders produce what
// mdlayher/netlink's AttributeEncoder produces, padding included.
func TestAppendersMatchAttributeEncoder(t *testing.T) {
	for n := range 9 {
		data := bytes.Repeat([]byte{0xa5}, n)
		s := strings.Repeat("x", n)

		ae := netlink.NewAttributeEncoder()
		ae.Bytes(AttrStdout, data)
		ae.String(AttrErrMsg, s)
		ae.Uint32(AttrCount, uint32(n)+0x01020304)
		ae.Uint64(AttrTotal, uint64(n)<<40|0x0506)
		key := bytes.Repeat([]byte{0x11}, n+1)
		ae.Nested(AttrObject, func(nae *netlink.AttributeEncoder) error {
			nae.Bytes(ObjKey, key)
			nae.Uint64(ObjGen, 99)
			nae.Bytes(ObjData|netlink.Nested, data)
			return nil
		})
		want, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}

		var got []byte
		got = appendAttr(got, AttrStdout, data)
		got = appendStringAttr(got, AttrErrMsg, s)
		got = appendU32Attr(got, AttrCount, uint32(n)+0x01020304)
		got = appendU64Attr(got, AttrTotal, uint64(n)<<40|0x0506)
		got = appendObject(got, Object{Key: key, Gen: 99, Data: data})
		if !bytes.Equal(got, want) {
			t.Errorf("n=%d:\n got %x\nwant %x", n, got, want)
		}
		if size, enc := objectSize(len(key), len(data)), appendObject(nil, Object{Key: key, Data: data}); size != len(enc) {
			t.Errorf("n=%d: objectSize %d, encoded %d bytes", n, size, len(enc))
		}
	}
}

func TestAttrs(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		types []uint16
		err   string
	}{
		{name: "empty", in: nil},
		{name: "two", in: appendU32Attr(appendAttr(nil, 5, []byte("ab")), 6, 1), types: []uint16{5, 6}},
		// nla_next allows the last attribute without its padding.
		{name: "last unpadded", in: appendAttr(nil, 5, []byte("ab"))[:6], types: []uint16{5}},
		{name: "flags masked", in: appendAttr(nil, 7|netlink.Nested|netlink.NetByteOrder, nil), types: []uint16{7}},
		{name: "short header", in: []byte{8, 0}, err: "2 bytes left"},
		{name: "zero length", in: []byte{0, 0, 1, 0}, err: "nla_len 0"},
		{name: "length past the end", in: []byte{9, 0, 1, 0, 1, 2, 3, 4}, err: "nla_len 9 outside 4..8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := attrs{b: tt.in}
			var types []uint16
			for a.next() {
				types = append(types, a.typ)
			}
			if !slices.Equal(types, tt.types) {
				t.Errorf("types %v, want %v", types, tt.types)
			}
			if tt.err == "" && a.err != nil || tt.err != "" && (a.err == nil || !strings.Contains(a.err.Error(), tt.err)) {
				t.Errorf("err = %v, want %q", a.err, tt.err)
			}
		})
	}
}

// testDumper is a table of n objects with 8-byte keys 0..n-1, data of
// dataLen bytes, all of generation 1.
func testDumper(n uint64, dataLen int) Dumper {
	data := bytes.Repeat([]byte{0x5a}, dataLen)
	return DumperFunc(func(q DumpQuery, yield func(Object) bool) (Gens, error) {
		i := firstAfter(q.After)
		var key [8]byte
		for ; i < n; i++ {
			binary.BigEndian.PutUint64(key[:], i)
			if !yield(Object{Key: key[:], Gen: 1, Data: data}) {
				break
			}
		}
		return Gens{Struct: 3, Change: 9}, nil
	})
}

// firstAfter is the first 8-byte big-endian key that sorts after k
// bytewise, for any k a client may send.
func firstAfter(k []byte) uint64 {
	if k == nil {
		return 0
	}
	var p [8]byte
	copy(p[:], k)
	i := binary.BigEndian.Uint64(p[:])
	if len(k) >= 8 { // key(i) <= k: step past it
		if i == ^uint64(0) {
			return i // nothing sorts after: the caller's loop ends at n
		}
		i++
	}
	return i
}

// TestGoldenDump pins a whole dump exchange byte for byte: the request a
// Client sends and the replies a Server sends.
func TestGoldenDump(t *testing.T) {
	skipBigEndian(t)
	wantReq := []byte{
		0x50, 0x00, 0x00, 0x00, // nlmsg_len 80
		0x12, 0x00, // MsgDump
		0x01, 0x03, // NLM_F_REQUEST|NLM_F_DUMP
		0x01, 0x00, 0x00, 0x00, // seq 1
		0x00, 0x00, 0x00, 0x00, // pid 0
		0x10, 0x00, 0x07, 0x00, 'a', 'c', 't', 'i', 'o', 'n', '/', 'g', 'a', 'c', 't', 0, // AttrKind
		0x08, 0x00, 0x09, 0x00, 0x00, 0x80, 0x00, 0x00, // AttrMaxMsg 32768
		0x08, 0x00, 0x0a, 0x00, 0x02, 0x00, 0x00, 0x00, // AttrDumpFlags terse
		0x08, 0x00, 0x0b, 0x00, 0xdc, 0x05, 0x00, 0x00, // AttrTimeDelta 1500 ms
		0x0c, 0x00, 0x0c, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0, // AttrSince 7
		0x0c, 0x00, 0x0d, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x05, // AttrAfter: key 5
	}
	wantReplies := []byte{
		// MsgObjects: one object.
		0x48, 0x00, 0x00, 0x00, // nlmsg_len 72
		0x13, 0x00, // MsgObjects
		0x02, 0x00, // NLM_F_MULTI
		0x01, 0x00, 0x00, 0x00, // seq 1
		0x00, 0x00, 0x00, 0x00, // pid 0
		0x08, 0x00, 0x0e, 0x00, 0x01, 0x00, 0x00, 0x00, // AttrCount 1
		0x0c, 0x00, 0x10, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, // AttrStructGen 3
		0x24, 0x00, 0x12, 0x80, // AttrObject|NLA_F_NESTED, 36 bytes
		0x0c, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0x06, // ObjKey
		0x0c, 0x00, 0x02, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, // ObjGen 1
		0x08, 0x00, 0x03, 0x80, 0x5a, 0x5a, 0x5a, 0x5a, // ObjData|NLA_F_NESTED
		// NLMSG_DONE
		0x38, 0x00, 0x00, 0x00, // nlmsg_len 56
		0x03, 0x00, // NLMSG_DONE
		0x02, 0x00, // NLM_F_MULTI
		0x01, 0x00, 0x00, 0x00, // seq 1
		0x00, 0x00, 0x00, 0x00, // pid 0
		0x00, 0x00, 0x00, 0x00, // error 0
		0x0c, 0x00, 0x0f, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, // AttrTotal 1
		0x0c, 0x00, 0x10, 0x00, 0x03, 0, 0, 0, 0, 0, 0, 0, // AttrStructGen 3
		0x0c, 0x00, 0x11, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, // AttrNextGen 9
	}

	var gotReq []byte
	var q DumpQuery
	inner := testDumper(7, 4)
	srv := NewServer(WithDumper("action/gact", DumperFunc(func(dq DumpQuery, yield func(Object) bool) (Gens, error) {
		q = dq
		return inner.Dump(dq, yield)
	})))
	c, err := Dial("", WithTestDial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		for _, m := range reqs {
			gotReq = appendMessage(gotReq, m)
		}
		var out bytes.Buffer
		if err := srv.serveStream(t.Context(), bytes.NewReader(gotReq), &out); err != nil {
			return nil, err
		}
		if !bytes.Equal(out.Bytes(), wantReplies) {
			t.Errorf("replies:\n got %x\nwant %x", out.Bytes(), wantReplies)
		}
		return ReadAll(out.Bytes())
	}))
	if err != nil {
		t.Fatal(err)
	}
	var objs []Object
	res, err := c.Dump(t.Context(), DumpRequest{Kind: "action/gact", Terse: true, UsedWithin: 1500e6, Since: 7, After: []byte{0, 0, 0, 0, 0, 0, 0, 5}},
		func(o Object) error {
			objs = append(objs, Object{Key: bytes.Clone(o.Key), Gen: o.Gen, Data: bytes.Clone(o.Data)})
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gotReq, wantReq) {
		t.Errorf("request:\n got %x\nwant %x", gotReq, wantReq)
	}
	// The server decoded what the client meant, and resumed after key 5
	// of the 7: one object, key 6.
	if !q.Terse || q.UsedWithin != 1500e6 || q.Since != 7 || !bytes.Equal(q.After, []byte{0, 0, 0, 0, 0, 0, 0, 5}) {
		t.Errorf("server's query = %+v", q)
	}
	want := DumpResult{Objects: 1, Messages: 1, StructGen: 3, NextSince: 9}
	if res != want || len(objs) != 1 || objs[0].Gen != 1 {
		t.Errorf("result %+v, objects %v; want %+v and one object", res, objs, want)
	}
}
