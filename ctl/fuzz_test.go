package ctl

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/mdlayher/netlink"
)

// seeds are valid and malformed streams: the golden requests, a reply
// stream, and framing errors.
func seeds() [][]byte {
	exec := appendMessage(nil, netlink.Message{Header: netlink.Header{Type: MsgExec, Flags: netlink.Request, Sequence: 1},
		Data: appendStringAttr(appendStringAttr(nil, AttrWord, "qdisc"), AttrWord, "show")})
	var d []byte
	d = appendStringAttr(d, AttrKind, "t")
	d = appendU32Attr(d, AttrMaxMsg, MinMessageSize)
	d = appendU32Attr(d, AttrDumpFlags, DumpFlagTerse)
	d = appendU32Attr(d, AttrTimeDelta, 1500)
	d = appendU64Attr(d, AttrSince, 1)
	d = appendAttr(d, AttrAfter, []byte{0, 0, 0, 0, 0, 0, 0, 2})
	dump := appendMessage(nil, netlink.Message{Header: netlink.Header{Type: MsgDump, Flags: netlink.Request | netlink.Dump, Sequence: 2}, Data: d})
	ping := appendMessage(nil, netlink.Message{Header: netlink.Header{Type: netlink.Noop, Flags: netlink.Request, Sequence: 3}})

	var replies bytes.Buffer
	srv := NewServer(WithDumper("t", testDumper(5, 8)), WithLogger(slog.New(slog.DiscardHandler)))
	srv.serveStream(context.Background(), bytes.NewReader(concat(exec, dump, ping)), &replies)

	return [][]byte{
		exec, dump, ping, concat(exec, dump, ping),
		replies.Bytes(),
		exec[:10],              // truncated header
		hdr(8, MsgExec, 1),     // length below the header
		hdr(1<<30, MsgDump, 1), // length beyond the cap
		hdr(40, MsgExec, 1),    // truncated payload
	}
}

func concat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

// FuzzReader feeds arbitrary streams to the Reader and every decoder on
// both sides: nothing panics, every message stays within the limit, and
// where the zero-copy attribute iterator accepts a payload,
// mdlayher/netlink's AttributeDecoder reads the same attributes.
func FuzzReader(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 4096
		rd := NewReader(bytes.NewReader(in), limit)
		for {
			m, err := rd.Next()
			if err != nil {
				var fe *FrameError
				if err != io.EOF && !errors.As(err, &fe) {
					t.Fatalf("Next: %v, want io.EOF or a FrameError", err)
				}
				return
			}
			if int(m.Header.Length) > limit || len(m.Data) != int(m.Header.Length)-hdrLen {
				t.Fatalf("message %+v with %d bytes of data", m.Header, len(m.Data))
			}
			decodeExec(m.Data)
			decodeDump(m.Data)
			parseDone(m)
			parseError(m)
			checkAttrs(t, m.Data)
			a := attrs{b: m.Data}
			for a.next() {
				if a.typ == AttrObject {
					decodeObject(a.data)
					checkAttrs(t, a.data)
				}
			}
		}
	})
}

func checkAttrs(t *testing.T, b []byte) {
	a := attrs{b: b}
	var mine []netlink.Attribute
	for a.next() {
		mine = append(mine, netlink.Attribute{Type: a.typ, Data: a.data})
	}
	if a.err != nil {
		return
	}
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		t.Fatalf("attrs accepted %x; AttributeDecoder: %v", b, err)
	}
	i := 0
	for ad.Next() {
		if i >= len(mine) || ad.Type() != mine[i].Type || !bytes.Equal(ad.Bytes(), mine[i].Data) {
			t.Fatalf("attribute %d of %x differs from AttributeDecoder's", i, b)
		}
		i++
	}
	if ad.Err() != nil || i != len(mine) {
		t.Fatalf("attrs read %d attributes of %x; AttributeDecoder %d, %v", len(mine), b, i, ad.Err())
	}
}

// FuzzServe feeds arbitrary streams to a server: it never panics, every
// reply frames, and every request it could read got exactly one terminal
// reply (NLMSG_DONE or NLMSG_ERROR) for its seq.
func FuzzServe(f *testing.F) {
	for _, s := range seeds() {
		f.Add(s)
	}
	handler := HandlerFunc(func(ctx context.Context, req *ExecRequest, stdout, stderr io.Writer) error {
		for _, w := range req.Words {
			io.WriteString(stdout, w)
		}
		if len(req.Words) > 2 {
			return errors.New("too many words")
		}
		return nil
	})
	srv := NewServer(WithDumper("t", testDumper(2000, 40)), WithHandler(handler),
		WithMaxRequest(4096), WithLogger(slog.New(slog.DiscardHandler)))
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		serr := srv.serveStream(context.Background(), bytes.NewReader(in), &out)
		replies, err := ReadAll(out.Bytes())
		if err != nil {
			t.Fatalf("replies do not frame: %v", err)
		}
		// Count the requests the server could read.
		var requests int
		rd := NewReader(bytes.NewReader(in), 4096)
		for {
			if _, err := rd.Next(); err != nil {
				break
			}
			requests++
		}
		var terminal int
		for _, m := range replies {
			if m.Header.Length > MaxMessageSize {
				t.Fatalf("a %d-byte reply", m.Header.Length)
			}
			if m.Header.Type == netlink.Done || m.Header.Type == netlink.Error {
				terminal++
			}
		}
		want := requests
		if serr != nil {
			want++ // the framing error's NLMSG_ERROR
		}
		if terminal != want {
			t.Fatalf("%d terminal replies for %d requests (stream error %v)", terminal, requests, serr)
		}
	})
}
