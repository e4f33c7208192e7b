package ctl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mdlayher/netlink"
)

// The framing: netlink messages back to back on a byte stream, and the
// encoders and the attribute iterator of the hot paths.
//
// Netlink on an AF_NETLINK socket gets its framing from the datagram; on a
// stream the only framing is nlmsg_len. The kernel's own stream-ish parser
// (netlink_rcv_skb) checks nlmsg_len >= NLMSG_HDRLEN and that the length
// fits what was received; Reader adds a limit so that a length field can
// never make it allocate more than the caller allowed.

// Framing errors, wrapped in a *FrameError.
var (
	// ErrShortLength: nlmsg_len is below the 16-byte header.
	ErrShortLength = errors.New("length below the 16-byte netlink header")
	// ErrTooLarge: nlmsg_len is above the reader's limit.
	ErrTooLarge = errors.New("message exceeds the size limit")
	// ErrTruncated: the stream ended inside a message.
	ErrTruncated = errors.New("stream ended inside a message")
)

// FrameError is a message the stream cannot carry: after one, the stream
// has lost its framing and the connection must end.
type FrameError struct {
	// Header is the offending message's header as read; zero when the
	// stream ended inside the header.
	Header netlink.Header
	Err    error // ErrShortLength, ErrTooLarge or ErrTruncated
	// Got and Want are the bytes read and expected (ErrTruncated), or
	// the length and the limit (ErrTooLarge).
	Got, Want int
}

func (e *FrameError) Error() string {
	h := e.Header
	switch {
	case errors.Is(e.Err, ErrTooLarge):
		return fmt.Sprintf("ctl: message type %#x seq %d: length %d exceeds the %d-byte limit",
			uint16(h.Type), h.Sequence, h.Length, e.Want)
	case errors.Is(e.Err, ErrShortLength):
		return fmt.Sprintf("ctl: message type %#x seq %d: length %d is below the 16-byte netlink header",
			uint16(h.Type), h.Sequence, h.Length)
	case e.Want == hdrLen:
		return fmt.Sprintf("ctl: stream ended inside a message header: %d of 16 bytes", e.Got)
	}
	return fmt.Sprintf("ctl: message type %#x seq %d: stream ended after %d of %d bytes",
		uint16(h.Type), h.Sequence, e.Got, e.Want)
}

func (e *FrameError) Unwrap() error { return e.Err }

// Reader reads netlink messages from a byte stream one at a time. The
// message it returns aliases its buffer and is valid until the next call
// to Next. Its buffer grows to the largest message read, never beyond the
// limit.
type Reader struct {
	r     io.Reader
	limit int
	buf   []byte
}

// NewReader returns a Reader that refuses messages longer than limit
// bytes (rounded up to 4; at least the 16-byte header). For throughput
// give it a buffered reader: Next makes two reads per message.
func NewReader(r io.Reader, limit int) *Reader {
	rd := &Reader{r: r}
	rd.SetLimit(limit)
	return rd
}

// SetLimit changes the size limit for the messages read from now on.
func (rd *Reader) SetLimit(limit int) {
	rd.limit = max(align4(limit), hdrLen)
}

// Next reads the next message. At a clean end of stream (no byte of a
// next message) it returns io.EOF; a malformed or cut message gives a
// *FrameError, and any other error is the underlying reader's.
func (rd *Reader) Next() (netlink.Message, error) {
	if cap(rd.buf) < hdrLen {
		rd.buf = make([]byte, 0, min(4096, rd.limit))
	}
	hdr := rd.buf[:hdrLen]
	if n, err := io.ReadFull(rd.r, hdr); err != nil {
		if err == io.EOF {
			return netlink.Message{}, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return netlink.Message{}, &FrameError{Err: ErrTruncated, Got: n, Want: hdrLen}
		}
		return netlink.Message{}, err
	}
	h := decodeHeader(hdr)
	switch {
	case h.Length < hdrLen:
		return netlink.Message{}, &FrameError{Header: h, Err: ErrShortLength}
	case uint64(h.Length) > uint64(rd.limit):
		return netlink.Message{}, &FrameError{Header: h, Err: ErrTooLarge, Got: int(h.Length), Want: rd.limit}
	}
	// The next message starts at NLMSG_ALIGN(nlmsg_len); the padding is
	// read with this one. limit is a multiple of 4, so this stays within.
	total := align4(int(h.Length))
	if cap(rd.buf) < total {
		grown := make([]byte, min(max(total, 2*cap(rd.buf)), rd.limit))
		copy(grown, hdr)
		rd.buf = grown[:0]
	}
	b := rd.buf[:total]
	if n, err := io.ReadFull(rd.r, b[hdrLen:]); err != nil {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return netlink.Message{}, &FrameError{Header: h, Err: ErrTruncated, Got: hdrLen + n, Want: total}
		}
		return netlink.Message{}, err
	}
	return netlink.Message{Header: h, Data: b[hdrLen:h.Length]}, nil
}

func decodeHeader(b []byte) netlink.Header {
	return netlink.Header{
		Length:   binary.NativeEndian.Uint32(b[0:]),
		Type:     netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])),
		Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:])),
		Sequence: binary.NativeEndian.Uint32(b[8:]),
		PID:      binary.NativeEndian.Uint32(b[12:]),
	}
}

// The encoders below append to a byte slice that the caller reuses, so that
// a dump allocates nothing per object (BenchmarkServerDump). They produce
// exactly what netlink.AttributeEncoder produces for the same attributes
// (TestAppendersMatchAttributeEncoder); the library's encoder is used where
// a message is built once per request.

// appendHeader appends an nlmsghdr; finishMessage fills in its length.
func appendHeader(b []byte, h netlink.Header) []byte {
	b = binary.NativeEndian.AppendUint32(b, h.Length)
	b = binary.NativeEndian.AppendUint16(b, uint16(h.Type))
	b = binary.NativeEndian.AppendUint16(b, uint16(h.Flags))
	b = binary.NativeEndian.AppendUint32(b, h.Sequence)
	return binary.NativeEndian.AppendUint32(b, h.PID)
}

// finishMessage sets the length of the message that starts at b[start:],
// as nlmsg_end does. Every payload here is a sequence of padded
// attributes or 4-byte fields, so the length is already aligned.
func finishMessage(b []byte, start int) []byte {
	binary.NativeEndian.PutUint32(b[start:], uint32(len(b)-start))
	return b
}

// setFlags ORs flags into the header of the message at b[start:].
func setFlags(b []byte, start int, f netlink.HeaderFlags) {
	old := binary.NativeEndian.Uint16(b[start+6:])
	binary.NativeEndian.PutUint16(b[start+6:], old|uint16(f))
}

var zeros [4]byte

// appendAttr appends one attribute: nla_len counts the header and the
// data but not the padding, as nla_put does.
func appendAttr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(attrHdrLen+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	return append(b, zeros[:align4(len(data))-len(data)]...)
}

func appendU32Attr(b []byte, typ uint16, v uint32) []byte {
	b = binary.NativeEndian.AppendUint16(b, attrHdrLen+4)
	b = binary.NativeEndian.AppendUint16(b, typ)
	return binary.NativeEndian.AppendUint32(b, v)
}

func appendU64Attr(b []byte, typ uint16, v uint64) []byte {
	b = binary.NativeEndian.AppendUint16(b, attrHdrLen+8)
	b = binary.NativeEndian.AppendUint16(b, typ)
	return binary.NativeEndian.AppendUint64(b, v)
}

// appendStringAttr appends a NUL-terminated string (NLA_NUL_STRING), as
// nla_put_string and AttributeEncoder.String do.
func appendStringAttr(b []byte, typ uint16, s string) []byte {
	n := len(s) + 1
	b = binary.NativeEndian.AppendUint16(b, uint16(attrHdrLen+n))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, s...)
	b = append(b, 0)
	return append(b, zeros[:align4(n)-n]...)
}

// objectSize is the encoded size of an AttrObject with a key of klen and
// data of dlen bytes.
func objectSize(klen, dlen int) int {
	return attrHdrLen + // AttrObject
		attrHdrLen + align4(klen) + // ObjKey
		attrHdrLen + 8 + // ObjGen
		attrHdrLen + align4(dlen) // ObjData
}

// appendObject appends o as an AttrObject nest; the caller checked that
// objectSize fits nla_len.
func appendObject(b []byte, o Object) []byte {
	size := objectSize(len(o.Key), len(o.Data))
	b = binary.NativeEndian.AppendUint16(b, uint16(size))
	b = binary.NativeEndian.AppendUint16(b, AttrObject|netlink.Nested)
	b = appendAttr(b, ObjKey, o.Key)
	b = appendU64Attr(b, ObjGen, o.Gen)
	return appendAttr(b, ObjData|netlink.Nested, o.Data)
}

// attrTypeMask strips NLA_F_NESTED and NLA_F_NET_BYTEORDER (NLA_TYPE_MASK).
const attrTypeMask = 0x3fff

// attrs iterates over the attributes in b without copying: the data it
// yields aliases b. It is the client's decoder for object messages, where
// netlink.AttributeDecoder's copy of every attribute would cost allocations
// per object. It is stricter than the library's decoder (a zero nla_len is
// an error, not an empty attribute), and where it succeeds the two yield
// the same attributes (FuzzReader checks it).
type attrs struct {
	b    []byte
	off  int
	typ  uint16 // without NLA_F_NESTED and NLA_F_NET_BYTEORDER
	data []byte
	err  error
}

func (a *attrs) next() bool {
	if a.err != nil || a.off >= len(a.b) {
		return false
	}
	rest := a.b[a.off:]
	if len(rest) < attrHdrLen {
		a.err = fmt.Errorf("attribute at offset %d: %d bytes left, less than its 4-byte header", a.off, len(rest))
		return false
	}
	n := int(binary.NativeEndian.Uint16(rest))
	if n < attrHdrLen || n > len(rest) {
		a.err = fmt.Errorf("attribute at offset %d: nla_len %d outside 4..%d", a.off, n, len(rest))
		return false
	}
	a.typ = binary.NativeEndian.Uint16(rest[2:]) & attrTypeMask
	a.data = rest[attrHdrLen:n]
	// The last attribute may come without its padding, as nla_next
	// allows.
	a.off += min(align4(n), len(rest))
	return true
}

func (a *attrs) u32() (uint32, bool) {
	if len(a.data) != 4 {
		return 0, false
	}
	return binary.NativeEndian.Uint32(a.data), true
}

func (a *attrs) u64() (uint64, bool) {
	if len(a.data) != 8 {
		return 0, false
	}
	return binary.NativeEndian.Uint64(a.data), true
}
