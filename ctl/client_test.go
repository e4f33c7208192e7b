package ctl_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"netyard/ctl"
)

func u64(typ uint16, v uint64) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint64(nil, v)}
}

// object builds an AttrObject with nltest, independently of the server's
// encoder.
func object(key []byte, gen uint64, data []byte) netlink.Attribute {
	return netlink.Attribute{Type: ctl.AttrObject | netlink.Nested, Data: attrs(
		netlink.Attribute{Type: ctl.ObjKey, Data: key},
		u64(ctl.ObjGen, gen),
		netlink.Attribute{Type: ctl.ObjData | netlink.Nested, Data: data},
	)}
}

func objects(count uint32, structGen uint64, objs ...netlink.Attribute) netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: ctl.MsgObjects}, Data: attrs(append([]netlink.Attribute{u32(ctl.AttrCount, count), u64(ctl.AttrStructGen, structGen)}, objs...)...)}
}

func doneMsg(errno int32, a ...netlink.Attribute) netlink.Message {
	data := binary.NativeEndian.AppendUint32(nil, uint32(-errno))
	return netlink.Message{Header: netlink.Header{Type: netlink.Done}, Data: append(data, attrs(a...)...)}
}

// reply gives replies the request's seq and pid, as the daemon does.
func reply(req netlink.Message, msgs ...netlink.Message) []netlink.Message {
	for i := range msgs {
		msgs[i].Header.Sequence, msgs[i].Header.PID = req.Header.Sequence, req.Header.PID
	}
	return msgs
}

// TestClientDumpFromNltest: the client decodes a multi-part dump built
// with nltest (nltest.Multipart sets NLM_F_MULTI and makes the last
// message NLMSG_DONE), and sends exactly one MsgDump with
// NLM_F_REQUEST|NLM_F_DUMP (nltest.CheckRequest).
func TestClientDumpFromNltest(t *testing.T) {
	fn := nltest.CheckRequest([]netlink.HeaderType{ctl.MsgDump}, []netlink.HeaderFlags{netlink.Request | netlink.Dump},
		func(reqs []netlink.Message) ([]netlink.Message, error) {
			return nltest.Multipart(reply(reqs[0],
				objects(2, 5, object([]byte{1}, 10, []byte{8, 0, 1, 0, 0xaa, 0, 0, 0}), object([]byte{2}, 11, nil)),
				objects(1, 6, object([]byte{3, 0}, 12, nil)),
				doneMsg(0, u64(ctl.AttrTotal, 3), u64(ctl.AttrStructGen, 6), u64(ctl.AttrNextGen, 12)),
			))
		})
	c, err := ctl.Dial("", ctl.WithTestDial(fn))
	if err != nil {
		t.Fatal(err)
	}
	var keys [][]byte
	var gens []uint64
	res, err := c.Dump(t.Context(), ctl.DumpRequest{Kind: "action/gact"}, func(o ctl.Object) error {
		keys = append(keys, bytes.Clone(o.Key))
		gens = append(gens, o.Gen)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := ctl.DumpResult{Objects: 3, Messages: 2, StructGen: 6, NextSince: 12}
	if res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	if len(keys) != 3 || !bytes.Equal(keys[2], []byte{3, 0}) || gens[0] != 10 || gens[2] != 12 {
		t.Errorf("keys %x gens %v", keys, gens)
	}
}

// TestClientErrorFromNltest: an NLMSG_ERROR as nltest.Error writes it
// (errno, no extack) is an *Error that answers errors.Is for the errno and
// for fs.ErrNotExist.
func TestClientErrorFromNltest(t *testing.T) {
	c, err := ctl.Dial("", ctl.WithTestDial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		return nltest.Error(int(syscall.ENOENT), reqs)
	}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Dump(t.Context(), ctl.DumpRequest{Kind: "qdisc"}, func(ctl.Object) error { return nil })
	var e *ctl.Error
	if !errors.As(err, &e) || e.Errno != syscall.ENOENT || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Dump = %#v, want *Error ENOENT", err)
	}
	if err := c.Ping(t.Context()); !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Ping = %v, want ENOENT from the same fake", err)
	}
}

// TestClientGoldenExec pins an exec request byte for byte.
func TestClientGoldenExec(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("golden bytes are little-endian")
	}
	want := []byte{
		0x28, 0x00, 0x00, 0x00, // nlmsg_len 40
		0x10, 0x00, // MsgExec
		0x01, 0x00, // NLM_F_REQUEST
		0x01, 0x00, 0x00, 0x00, // seq 1
		0x00, 0x00, 0x00, 0x00, // pid 0
		0x0a, 0x00, 0x03, 0x00, 'q', 'd', 'i', 's', 'c', 0, 0, 0, // AttrWord "qdisc", padded
		0x09, 0x00, 0x03, 0x00, 's', 'h', 'o', 'w', 0, 0, 0, 0, // AttrWord "show", padded
	}
	var got []byte
	c, err := ctl.Dial("", ctl.WithTestDial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		for _, m := range reqs {
			got = ctl.AppendMessage(got, m)
		}
		out := netlink.Message{Header: netlink.Header{Type: ctl.MsgOutput, Flags: netlink.Multi}, Data: attrs(netlink.Attribute{Type: ctl.AttrStdout, Data: []byte("ok\n")})}
		return reply(reqs[0], out, doneMsg(0)), nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	if err := c.Exec(t.Context(), ctl.ExecRequest{Words: []string{"qdisc", "show"}}, &stdout, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("request:\n got %x\nwant %x", got, want)
	}
	if stdout.String() != "ok\n" {
		t.Errorf("stdout %q", stdout.String())
	}
}

// TestClientMalformedReplies: a reply that breaks the protocol is an
// error (ErrProtocol, or the framing's), never a panic, and the client
// recovers on its next call with a new connection.
func TestClientMalformedReplies(t *testing.T) {
	good := func(req netlink.Message) []netlink.Message {
		return reply(req, objects(1, 1, object([]byte{1}, 1, nil)),
			doneMsg(0, u64(ctl.AttrTotal, 1), u64(ctl.AttrStructGen, 1), u64(ctl.AttrNextGen, 1)))
	}
	tests := []struct {
		name    string
		replies func(req netlink.Message) []netlink.Message
		want    error
		frag    string
	}{
		{name: "count too high", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, objects(2, 1, object([]byte{1}, 1, nil)), doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "says it holds 2 objects"},
		{name: "count beyond what the message holds", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, objects(0xffffffff, 1), doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "says it holds 4294967295 objects in"},
		{name: "count missing", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, netlink.Message{Header: netlink.Header{Type: ctl.MsgObjects}, Data: attrs(object([]byte{1}, 1, nil))}, doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "count present: false"},
		{name: "total differs", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, objects(1, 1, object([]byte{1}, 1, nil)),
				doneMsg(0, u64(ctl.AttrTotal, 5), u64(ctl.AttrStructGen, 1), u64(ctl.AttrNextGen, 1)))
		}, want: ctl.ErrProtocol, frag: "held 5 objects; 1 arrived"},
		{name: "done without summary", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "without its total"},
		{name: "keys not increasing", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, objects(2, 1, object([]byte{2}, 1, nil), object([]byte{1}, 1, nil)), doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "keys must increase"},
		{name: "object without key", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, objects(1, 1, object(nil, 1, nil)), doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "malformed attribute 18"},
		{name: "object gen of 4 bytes", replies: func(req netlink.Message) []netlink.Message {
			bad := netlink.Attribute{Type: ctl.AttrObject, Data: attrs(netlink.Attribute{Type: ctl.ObjKey, Data: []byte{1}}, u32(ctl.ObjGen, 1))}
			return reply(req, objects(1, 1, bad), doneMsg(0))
		}, want: ctl.ErrProtocol, frag: "malformed attribute 18"},
		{name: "broken attribute", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, netlink.Message{Header: netlink.Header{Type: ctl.MsgObjects}, Data: []byte{200, 0, 14, 0}})
		}, want: ctl.ErrProtocol, frag: "nla_len 200"},
		{name: "wrong seq", replies: func(req netlink.Message) []netlink.Message {
			r := good(req)
			r[0].Header.Sequence++
			return r
		}, want: ctl.ErrProtocol, frag: "reply with seq"},
		{name: "unexpected type", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, netlink.Message{Header: netlink.Header{Type: ctl.MsgOutput}})
		}, want: ctl.ErrProtocol, frag: "message type 0x11 in reply to a dump"},
		{name: "positive errno", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, doneMsg(-5))
		}, want: ctl.ErrProtocol, frag: "positive error 5"},
		{name: "length below header", replies: func(req netlink.Message) []netlink.Message {
			r := good(req)
			r[0].Header.Length = 8
			return r
		}, want: ctl.ErrShortLength},
		{name: "length beyond the limit", replies: func(req netlink.Message) []netlink.Message {
			r := good(req)
			r[0].Header.Length = ctl.MaxMessageSize + 4
			return r
		}, want: ctl.ErrTooLarge},
		{name: "daemon hangs up", replies: func(req netlink.Message) []netlink.Message {
			return reply(req, objects(1, 1, object([]byte{1}, 1, nil)))
		}, frag: "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			c, err := ctl.Dial("", ctl.WithTestDial(func(reqs []netlink.Message) ([]netlink.Message, error) {
				calls++
				if calls == 1 {
					return tt.replies(reqs[0]), nil
				}
				return good(reqs[0]), nil
			}))
			if err != nil {
				t.Fatal(err)
			}
			noop := func(ctl.Object) error { return nil }
			_, err = c.Dump(t.Context(), ctl.DumpRequest{Kind: "x"}, noop)
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.frag) {
				t.Fatalf("Dump = %v, want %v containing %q", err, tt.want, tt.frag)
			}
			if res, err := c.Dump(t.Context(), ctl.DumpRequest{Kind: "x"}, noop); err != nil || res.Objects != 1 {
				t.Errorf("the next Dump: %+v %v", res, err)
			}
		})
	}
}

func TestClientRefusesBadRequests(t *testing.T) {
	c, err := ctl.Dial("", ctl.WithTestDial(func([]netlink.Message) ([]netlink.Message, error) {
		t.Fatal("a bad request was sent")
		return nil, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	noop := func(ctl.Object) error { return nil }
	tests := []struct {
		name string
		req  ctl.DumpRequest
		frag string
	}{
		{name: "no kind", req: ctl.DumpRequest{}, frag: "no kind"},
		{name: "small message", req: ctl.DumpRequest{Kind: "x", MaxMessage: 4096}, frag: "message size 4096"},
		{name: "long key", req: ctl.DumpRequest{Kind: "x", After: make([]byte, 257)}, frag: "257 bytes"},
		{name: "negative since", req: ctl.DumpRequest{Kind: "x", UsedWithin: -1}, frag: "negative"},
		{name: "NUL in selector", req: ctl.DumpRequest{Kind: "x", Select: []string{"a\x00"}}, frag: "NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Dump(t.Context(), tt.req, noop); err == nil || !strings.Contains(err.Error(), tt.frag) {
				t.Errorf("Dump = %v, want %q", err, tt.frag)
			}
		})
	}
	if err := c.Exec(t.Context(), ctl.ExecRequest{Words: []string{"a\x00b"}}, nil, nil); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("Exec with a NUL = %v", err)
	}
	if err := c.Exec(t.Context(), ctl.ExecRequest{}, nil, nil); err == nil {
		t.Error("Exec without words: no error")
	}
}
