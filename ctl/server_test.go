package ctl_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"github.com/mdlayher/netlink/nltest"

	"netyard/ctl"
	"netyard/ctl/ctltest"
)

func msg(typ netlink.HeaderType, flags netlink.HeaderFlags, seq uint32, data []byte) netlink.Message {
	return netlink.Message{Header: netlink.Header{Type: typ, Flags: flags, Sequence: seq, PID: 77}, Data: data}
}

func attrs(a ...netlink.Attribute) []byte { return nltest.MustMarshalAttributes(a) }

func str(typ uint16, s string) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: append([]byte(s), 0)}
}

func u32(typ uint16, v uint32) netlink.Attribute {
	return netlink.Attribute{Type: typ, Data: binary.NativeEndian.AppendUint32(nil, v)}
}

// serve runs a connection that carries in, and returns the replies and
// what ended the connection.
func serve(t *testing.T, srv *ctl.Server, in []byte) ([]netlink.Message, error) {
	t.Helper()
	var out bytes.Buffer
	serr := ctl.ServeStream(srv, bytes.NewReader(in), &out)
	replies, err := ctl.ReadAll(out.Bytes())
	if err != nil {
		t.Fatalf("the server's replies do not frame: %v", err)
	}
	return replies, serr
}

// checkError checks that m is an NLMSG_ERROR answering seq with errno and
// a message containing frag.
func checkError(t *testing.T, m netlink.Message, seq uint32, errno syscall.Errno, frag string) {
	t.Helper()
	if m.Header.Type != netlink.Error || m.Header.Sequence != seq {
		t.Fatalf("reply %+v, want NLMSG_ERROR for seq %d", m.Header, seq)
	}
	e, err := ctl.ParseError(m)
	if err != nil {
		t.Fatal(err)
	}
	if e.Errno != errno || !strings.Contains(e.Msg, frag) {
		t.Errorf("error %d %q, want %d (%v) containing %q", e.Errno, e.Msg, errno, errno, frag)
	}
}

func testServer(opts ...ctl.ServerOption) *ctl.Server {
	tbl := &ctltest.Table{}
	for i := range 3 {
		tbl.Put(ctltest.Key(uint64(i)), []byte{1, 2, 3, 4}, nil)
	}
	return ctl.NewServer(append([]ctl.ServerOption{
		ctl.WithDumper("action/gact", tbl),
		ctl.WithDumper("filter", tbl),
		ctl.WithHandler(ctl.HandlerFunc(func(ctx context.Context, req *ctl.ExecRequest, stdout, stderr io.Writer) error {
			_, err := fmt.Fprintln(stdout, strings.Join(req.Words, " "))
			return err
		})),
		ctl.WithMaxRequest(4096),
	}, opts...)...)
}

// TestMalformedInput: every bad message gets an NLMSG_ERROR that says what
// is wrong, and never a panic. A message the stream can still frame ends
// only itself (the ping after it is answered); one it cannot ends the
// connection, with an error that echoes only the header (NLM_F_CAPPED).
func TestMalformedInput(t *testing.T) {
	dump := netlink.Request | netlink.Dump
	header := func(length uint32, typ netlink.HeaderType, seq uint32) []byte {
		b := make([]byte, 16)
		binary.NativeEndian.PutUint32(b, length)
		binary.NativeEndian.PutUint16(b[4:], uint16(typ))
		binary.NativeEndian.PutUint16(b[6:], uint16(netlink.Request))
		binary.NativeEndian.PutUint32(b[8:], seq)
		return b
	}
	tests := []struct {
		name  string
		in    []byte
		errno syscall.Errno
		frag  string
		fatal bool // the connection ends
		seq0  bool // the header was cut: the reply cannot name the seq
	}{
		{name: "truncated header", in: header(40, ctl.MsgExec, 1)[:10], errno: syscall.EINVAL, frag: "inside a message header: 10 of 16", fatal: true, seq0: true},
		{name: "length below the header", in: header(8, ctl.MsgExec, 1), errno: syscall.EINVAL, frag: "length 8 is below the 16-byte", fatal: true},
		{name: "length beyond the cap", in: header(1<<30, ctl.MsgExec, 1), errno: syscall.EMSGSIZE, frag: "length 1073741824 exceeds the 4096-byte limit", fatal: true},
		{name: "truncated payload", in: append(header(64, ctl.MsgExec, 1), 8, 0, 3, 0), errno: syscall.EINVAL, frag: "after 20 of 64 bytes", fatal: true},
		{name: "unknown type", in: ctl.AppendMessage(nil, msg(0x42, netlink.Request, 1, []byte{1, 2, 3, 4})), errno: syscall.EOPNOTSUPP, frag: "unknown message type 0x42"},
		{name: "not a request", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, 0, 1, attrs(str(ctl.AttrWord, "qdisc")))), errno: syscall.EINVAL, frag: "NLM_F_REQUEST is not set"},
		{name: "netlink's own type", in: ctl.AppendMessage(nil, msg(netlink.Done, netlink.Request, 1, nil)), errno: syscall.EINVAL, frag: "netlink's own"},
		{name: "attribute past the end", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, netlink.Request, 1, []byte{100, 0, 3, 0, 'q', 0, 0, 0})), errno: syscall.EINVAL, frag: "exec request"},
		{name: "attribute header cut", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, netlink.Request, 1, append(attrs(str(ctl.AttrWord, "qdisc")), 8, 0))), errno: syscall.EINVAL, frag: "exec request"},
		{name: "word without NUL", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, netlink.Request, 1, attrs(netlink.Attribute{Type: ctl.AttrWord, Data: []byte("qdisc")}))), errno: syscall.EINVAL, frag: "word 0 is not a NUL-terminated string"},
		{name: "word with inner NUL", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, netlink.Request, 1, attrs(netlink.Attribute{Type: ctl.AttrWord, Data: []byte("q\x00disc\x00")}))), errno: syscall.EINVAL, frag: "word 0 is not"},
		{name: "exec unknown attribute", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, netlink.Request, 1, attrs(str(ctl.AttrWord, "qdisc"), str(ctl.AttrKind, "x")))), errno: syscall.EINVAL, frag: "attribute 7: unknown in MsgExec"},
		{name: "exec without words", in: ctl.AppendMessage(nil, msg(ctl.MsgExec, netlink.Request, 1, nil)), errno: syscall.EINVAL, frag: "without words"},
		{name: "dump without NLM_F_DUMP", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, netlink.Request, 1, attrs(str(ctl.AttrKind, "filter")))), errno: syscall.EINVAL, frag: "without NLM_F_DUMP"},
		{name: "dump without kind", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, nil)), errno: syscall.EINVAL, frag: "without a kind"},
		{name: "dump unknown kind", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "action/nat")))), errno: syscall.ENOENT, frag: `no table "action/nat"; the daemon dumps: action/gact, filter`},
		{name: "dump kind repeated", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), str(ctl.AttrKind, "filter")))), errno: syscall.EINVAL, frag: "attribute 7: repeated"},
		{name: "dump message size too small", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), u32(ctl.AttrMaxMsg, 4096)))), errno: syscall.EINVAL, frag: "message size 4096 outside 32768..1048576"},
		{name: "dump message size too large", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), u32(ctl.AttrMaxMsg, 1<<21)))), errno: syscall.EINVAL, frag: "outside"},
		{name: "dump u32 of 2 bytes", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), netlink.Attribute{Type: ctl.AttrMaxMsg, Data: []byte{0, 1}}))), errno: syscall.EINVAL, frag: "not a uint32"},
		{name: "dump unknown flags", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), u32(ctl.AttrDumpFlags, 0x13)))), errno: syscall.EINVAL, frag: "unknown dump flags 0x10"},
		{name: "dump key too long", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), netlink.Attribute{Type: ctl.AttrAfter, Data: make([]byte, 300)}))), errno: syscall.EINVAL, frag: "key of 300 bytes outside 1..256"},
		{name: "dump reply attribute", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), u32(ctl.AttrCount, 1)))), errno: syscall.EINVAL, frag: "attribute 14: unknown in MsgDump"},
		{name: "dump selector the table refuses", in: ctl.AppendMessage(nil, msg(ctl.MsgDump, dump, 1, attrs(str(ctl.AttrKind, "filter"), str(ctl.AttrSelect, "dev")))), errno: syscall.EINVAL, frag: "ctl: dump filter: ctltest: the table takes no selector words"},
	}
	ping := ctl.AppendMessage(nil, msg(netlink.Noop, netlink.Request, 99, nil))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			if !tt.fatal {
				in = append(slices.Clip(in), ping...)
			}
			replies, serr := serve(t, testServer(), in)
			if len(replies) == 0 {
				t.Fatal("no reply")
			}
			first := replies[0]
			if first.Header.Type == netlink.Done {
				// A request that ran and failed ends with NLMSG_DONE.
				d, err := ctl.ParseDone(first)
				var e *ctl.Error
				if err != nil || !errors.As(d.Err, &e) || e.Errno != tt.errno || !strings.Contains(e.Msg, tt.frag) {
					t.Fatalf("NLMSG_DONE %v %v, want errno %d with %q", d.Err, err, tt.errno, tt.frag)
				}
			} else {
				seq := uint32(1)
				if tt.seq0 {
					seq = 0
				}
				checkError(t, first, seq, tt.errno, tt.frag)
				capped := first.Header.Flags&netlink.Capped != 0
				if capped != tt.fatal {
					t.Errorf("NLM_F_CAPPED %t, want %t (echo the request unless it could not be read)", capped, tt.fatal)
				}
				if !capped && !bytes.Equal(first.Data[4:4+len(tt.in)], tt.in) {
					t.Errorf("echo %x, want the request %x", first.Data[4:4+len(tt.in)], tt.in)
				}
			}
			if tt.fatal {
				var fe *ctl.FrameError
				if !errors.As(serr, &fe) || len(replies) != 1 {
					t.Errorf("connection ended with %v after %d replies; want a FrameError after 1", serr, len(replies))
				}
				return
			}
			if serr != nil || len(replies) != 2 {
				t.Fatalf("connection ended with %v after %d replies; want nil after 2", serr, len(replies))
			}
			checkError(t, replies[1], 99, 0, "")
		})
	}
}

// TestExec: a command's stdout and stderr arrive in order and intact
// across many MsgOutput messages, and its failure carries its errno and
// text.
func TestExec(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 8<<10) // 128 KiB: five messages or more
	var got *ctl.ExecRequest
	srv := ctl.NewServer(ctl.WithHandler(ctl.HandlerFunc(func(ctx context.Context, req *ctl.ExecRequest, stdout, stderr io.Writer) error {
		got = req
		switch req.Words[0] {
		case "big":
			io.WriteString(stdout, "head\n")
			io.WriteString(stderr, "warning\n")
			io.WriteString(stdout, big)
			stdout.(interface{ Flush() error }).Flush()
			io.WriteString(stderr, "tail\n")
			return nil
		case "missing":
			io.WriteString(stderr, "Error: no such action\n")
			return fmt.Errorf("actions get: %w", fs.ErrNotExist)
		case "errno":
			return &ctl.Error{Errno: syscall.EBUSY, Msg: "action is bound"}
		case "status":
			return fmt.Errorf("qdisc add: %w", &ctl.Error{Errno: syscall.EEXIST, Msg: "Exclusivity flag on, cannot modify", Status: 2})
		}
		return errors.New("unknown command")
	})))
	var messages int
	c, err := ctl.Dial("", ctl.WithTestDial(func(reqs []netlink.Message) ([]netlink.Message, error) {
		replies, err := ctl.ServeFunc(srv)(reqs)
		for _, m := range replies {
			if m.Header.Length > ctl.MinMessageSize {
				t.Errorf("a %d-byte reply, larger than any client reads", m.Header.Length)
			}
		}
		messages = len(replies)
		return replies, err
	}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name           string
		req            ctl.ExecRequest
		stdout, stderr string
		errno          syscall.Errno
		msg            string
		// status is AttrExitStatus: 0 when the handler gave none.
		status int
	}{
		{name: "output", req: ctl.ExecRequest{Words: []string{"big", "", "x y"}, Stdin: bytes.Repeat([]byte{7}, 70000)}, stdout: "head\n" + big, stderr: "warning\ntail\n"},
		{name: "fs error", req: ctl.ExecRequest{Words: []string{"missing"}}, stderr: "Error: no such action\n", errno: syscall.ENOENT, msg: "actions get: file does not exist"},
		{name: "errno error", req: ctl.ExecRequest{Words: []string{"errno"}}, errno: syscall.EBUSY, msg: "action is bound"},
		{name: "plain error", req: ctl.ExecRequest{Words: []string{"other"}}, errno: syscall.EINVAL, msg: "unknown command"},
		{name: "exit status", req: ctl.ExecRequest{Words: []string{"status"}}, errno: syscall.EEXIST, msg: "qdisc add: Exclusivity flag on, cannot modify", status: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := c.Exec(t.Context(), tt.req, &stdout, &stderr)
			if !slices.Equal(got.Words, tt.req.Words) || !bytes.Equal(got.Stdin, tt.req.Stdin) {
				t.Errorf("the handler got %q and %d bytes of stdin", got.Words, len(got.Stdin))
			}
			if stdout.String() != tt.stdout || stderr.String() != tt.stderr {
				t.Errorf("stdout %d bytes, stderr %q; want %d bytes, %q", stdout.Len(), stderr.String(), len(tt.stdout), tt.stderr)
			}
			var e *ctl.Error
			switch {
			case tt.errno == 0 && err != nil:
				t.Errorf("Exec: %v", err)
			case tt.errno != 0 && (!errors.As(err, &e) || e.Errno != tt.errno || e.Msg != tt.msg || !errors.Is(err, tt.errno) || e.Status != tt.status):
				t.Errorf("Exec: %#v, want errno %d %q status %d", err, tt.errno, tt.msg, tt.status)
			}
		})
	}
	// One writer for both streams: the handler's writes arrive in the
	// order it made them, in 128 KiB of output in 32 KiB messages and
	// the NLMSG_DONE.
	var both bytes.Buffer
	if err := c.Exec(t.Context(), tests[0].req, &both, &both); err != nil {
		t.Fatal(err)
	}
	if both.String() != "head\nwarning\n"+big+"tail\n" {
		t.Errorf("interleaved output out of order (%d bytes)", both.Len())
	}
	if messages < 6 {
		t.Errorf("%d reply messages for 128 KiB of output", messages)
	}
}

func TestExecWithoutHandler(t *testing.T) {
	c, err := ctl.Dial("", ctl.WithTestDial(ctl.ServeFunc(ctl.NewServer())))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Exec(t.Context(), ctl.ExecRequest{Words: []string{"qdisc", "show"}}, nil, nil)
	if !errors.Is(err, syscall.EOPNOTSUPP) {
		t.Errorf("Exec = %v, want EOPNOTSUPP", err)
	}
	if err := c.Ping(t.Context()); err != nil {
		t.Errorf("Ping after a refused request: %v", err)
	}
}

// TestNetlinkConnInterop: a stock netlink client (mdlayher/netlink's Conn,
// on nltest's simulated socket) understands the server: replies validate
// against the request (seq and pid), multi-part replies end at NLMSG_DONE,
// and a failure's errno and text come out as an *netlink.OpError, as for
// the kernel's extended acks.
func TestNetlinkConnInterop(t *testing.T) {
	srv := testServer()
	conn := nltest.Dial(ctl.ServeFunc(srv))
	defer conn.Close()

	replies, err := conn.Execute(msg(ctl.MsgExec, netlink.Request, 0, attrs(str(ctl.AttrWord, "qdisc"), str(ctl.AttrWord, "show"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 || replies[0].Header.Type != ctl.MsgOutput || replies[0].Header.Flags != netlink.Multi {
		t.Fatalf("replies %+v, want one MsgOutput with NLM_F_MULTI", replies)
	}
	ad, err := netlink.NewAttributeDecoder(replies[0].Data)
	if err != nil || !ad.Next() || ad.Type() != ctl.AttrStdout || string(ad.Bytes()) != "qdisc show\n" {
		t.Errorf("MsgOutput %x", replies[0].Data)
	}

	replies, err = conn.Execute(msg(ctl.MsgDump, netlink.Request|netlink.Dump, 0, attrs(str(ctl.AttrKind, "action/gact"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 1 || replies[0].Header.Type != ctl.MsgObjects {
		t.Fatalf("dump replies %+v", replies)
	}
	if n, _, objs, ok := ctl.DecodeObjects(replies[0]); !ok || n != 3 || len(objs) != 3 {
		t.Errorf("MsgObjects: count %d, %d objects", n, len(objs))
	}

	_, err = conn.Execute(msg(ctl.MsgDump, netlink.Request|netlink.Dump, 0, attrs(str(ctl.AttrKind, "qdisc"))))
	var oe *netlink.OpError
	if !errors.As(err, &oe) || !errors.Is(oe.Err, syscall.ENOENT) || !strings.Contains(oe.Message, `no table "qdisc"`) {
		t.Errorf("unknown table: %#v, want an OpError with ENOENT and the extack message", err)
	}

	_, err = conn.Execute(msg(ctl.MsgDump, netlink.Request|netlink.Dump, 0, attrs(str(ctl.AttrKind, "filter"), str(ctl.AttrSelect, "dev"))))
	if !errors.As(err, &oe) || !errors.Is(oe.Err, syscall.EINVAL) || !strings.Contains(oe.Message, "no selector words") {
		t.Errorf("a dump that fails in NLMSG_DONE: %#v, want an OpError with EINVAL and the message", err)
	}

	replies, err = conn.Execute(msg(netlink.Noop, netlink.Request|netlink.Acknowledge, 0, nil))
	if err != nil || len(replies) != 1 || replies[0].Header.Type != netlink.Error {
		t.Errorf("ping: %v %+v, want an ack", err, replies)
	}
}
