package ctl

import (
	"bytes"
	"context"
	"io"

	"github.com/mdlayher/netlink"
)

// ServeStream runs s's connection loop over r and w, without a socket.
func ServeStream(s *Server, r io.Reader, w io.Writer) error {
	return s.serveStream(context.Background(), r, w)
}

// ServeFunc adapts a Server to an nltest.Func: each call is a connection
// that carries reqs, in order, and ends. Requests need not have their
// Length set.
func ServeFunc(s *Server) func([]netlink.Message) ([]netlink.Message, error) {
	return func(reqs []netlink.Message) ([]netlink.Message, error) {
		var in []byte
		for _, m := range reqs {
			in = AppendMessage(in, m)
		}
		var out bytes.Buffer
		s.serveStream(context.Background(), bytes.NewReader(in), &out)
		return ReadAll(out.Bytes())
	}
}

// AppendMessage encodes m, with its Length filled in when 0.
func AppendMessage(b []byte, m netlink.Message) []byte {
	h := m.Header
	if h.Length == 0 {
		h.Length = uint32(hdrLen + len(m.Data))
	}
	b = appendHeader(b, h)
	b = append(b, m.Data...)
	return append(b, zeros[:align4(len(b))-len(b)]...)
}

// ReadAll splits a stream into messages (copies), failing on bad framing.
func ReadAll(b []byte) ([]netlink.Message, error) {
	rd := NewReader(bytes.NewReader(b), len(b))
	var msgs []netlink.Message
	for {
		m, err := rd.Next()
		if err == io.EOF {
			return msgs, nil
		}
		if err != nil {
			return msgs, err
		}
		m.Data = bytes.Clone(m.Data)
		msgs = append(msgs, m)
	}
}

// SetConnDone sets the hook called as each of s's connections ends.
func SetConnDone(s *Server, f func(error)) { s.connDone = f }

// ParseError and ParseDone expose the client's decoders to tests.
func ParseError(m netlink.Message) (*Error, error) { return parseError(m) }

// DoneInfo is a decoded NLMSG_DONE.
type DoneInfo struct {
	Err                       error
	Total, StructGen, NextGen uint64
}

func ParseDone(m netlink.Message) (DoneInfo, error) {
	d, err := parseDone(m)
	return DoneInfo{d.err, d.total, d.structGen, d.nextGen}, err
}

// DecodeObjects decodes a MsgObjects message: its count, structural
// generation and objects (copied).
func DecodeObjects(m netlink.Message) (count uint32, structGen uint64, objs []Object, ok bool) {
	a := attrs{b: m.Data}
	for a.next() {
		switch a.typ {
		case AttrCount:
			count, _ = a.u32()
		case AttrStructGen:
			structGen, _ = a.u64()
		case AttrObject:
			o, good := decodeObject(a.data)
			if !good {
				return 0, 0, nil, false
			}
			objs = append(objs, Object{Key: bytes.Clone(o.Key), Gen: o.Gen, Data: bytes.Clone(o.Data)})
		}
	}
	return count, structGen, objs, a.err == nil
}
