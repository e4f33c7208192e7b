package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mdlayher/netlink"
)

// ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	testDial func(req []netlink.Message) ([]netlink.Message, error)
	retries  int
	msgSize  int
}

// WithTestDial replaces the socket with fn, in the style of
// google/nftables: every request is handed to fn as it would be sent
// (header filled in), and the messages fn returns are encoded and read
// back as the daemon's replies, byte for byte through the same Reader. A
// reply whose Header.Length is 0 gets the length of its data; any other
// length is sent as given, so a test can send a malformed reply.
// fn has the type of nltest.Func. Dial's path is ignored.
func WithTestDial(fn func(req []netlink.Message) ([]netlink.Message, error)) ClientOption {
	return func(c *clientConfig) { c.testDial = fn }
}

// WithDumpRetries makes Dump restart a dump up to n times when it comes
// back flagged NLM_F_DUMP_INTR (ErrDumpInconsistent), calling the
// request's OnRestart before each restart. A retried dump stops reading at
// the first flagged message rather than at the end. The default, 0,
// reports ErrDumpInconsistent after delivering the whole dump.
func WithDumpRetries(n int) ClientOption { return func(c *clientConfig) { c.retries = max(n, 0) } }

// WithMessageSize sets the reply size dumps ask for when a DumpRequest
// does not say (DefaultMessageSize when not set); it is clamped to
// MinMessageSize..MaxMessageSize.
func WithMessageSize(n int) ClientOption {
	return func(c *clientConfig) { c.msgSize = min(max(n, MinMessageSize), MaxMessageSize) }
}

// Client talks to a daemon over one connection, one request at a time
// (concurrent calls wait their turn). A call that ends mid-reply (its
// context ends, a callback or writer fails, a reply breaks the protocol)
// drops the connection; the next call dials again.
type Client struct {
	cfg  clientConfig
	dial func(ctx context.Context) (transport, error)

	mu     sync.Mutex
	t      transport
	seq    uint32
	closed bool
}

// transport is a connection to a daemon: requests are written whole, and
// replies read through a Reader.
type transport interface {
	io.Writer
	reader() *Reader
	// interrupt makes a blocked read or write return; the transport is
	// then dropped.
	interrupt()
	Close() error
}

// Dial connects to the daemon's socket at path (see SocketPath).
func Dial(path string, opts ...ClientOption) (*Client, error) {
	c := &Client{cfg: clientConfig{msgSize: DefaultMessageSize}}
	for _, o := range opts {
		o(&c.cfg)
	}
	if fn := c.cfg.testDial; fn != nil {
		c.dial = func(context.Context) (transport, error) { return newTestTransport(fn), nil }
	} else {
		c.dial = func(ctx context.Context) (transport, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", path)
			if err != nil {
				return nil, fmt.Errorf("ctl: dial %s: %w", path, err)
			}
			return newUnixTransport(conn), nil
		}
	}
	t, err := c.dial(context.Background())
	if err != nil {
		return nil, err
	}
	c.t = t
	return c, nil
}

// Close closes the connection; later calls return ErrClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return c.drop()
}

func (c *Client) drop() error {
	if c.t == nil {
		return nil
	}
	err := c.t.Close()
	c.t = nil
	return err
}

// roundTrip sends req and hands each reply but NLMSG_ERROR to on, until
// on reports the reply complete (done) or fails. An NLMSG_ERROR ends the
// reply: errno 0 (an ack) is success, another is an *Error. Unless the
// reply was read to its end, the connection is dropped: the daemon may
// still be sending.
func (c *Client) roundTrip(ctx context.Context, req netlink.Message, limit int, on func(netlink.Message) (done bool, err error)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if c.t == nil {
		t, err := c.dial(ctx)
		if err != nil {
			return err
		}
		c.t = t
	}
	c.seq++
	if c.seq == 0 {
		c.seq = 1
	}
	req.Header.Sequence = c.seq
	req.Header.Length = uint32(hdrLen + len(req.Data))
	b, err := req.MarshalBinary()
	if err != nil {
		return fmt.Errorf("ctl: encoding request: %w", err)
	}
	t := c.t
	stop := context.AfterFunc(ctx, t.interrupt)
	complete, err := exchange(t, b, c.seq, limit, on)
	if !stop() {
		// The context ended during the exchange and interrupted the
		// transport: whatever the exchange saw, it is unusable.
		c.drop()
		if !complete {
			return ctx.Err()
		}
	}
	if !complete {
		c.drop()
	}
	return err
}

func exchange(t transport, b []byte, seq uint32, limit int, on func(netlink.Message) (bool, error)) (bool, error) {
	rd := t.reader()
	if _, err := t.Write(b); err != nil {
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			// The daemon refused the request before reading it all
			// and closed: its reason is waiting to be read.
			if m, rerr := rd.Next(); rerr == nil && m.Header.Type == netlink.Error && m.Header.Sequence == seq {
				if e, perr := parseError(m); perr == nil && e.Errno != 0 {
					return false, e
				}
			}
		}
		return false, fmt.Errorf("ctl: sending request: %w", err)
	}
	return readReply(rd, seq, limit, on)
}

// readReply reads the replies to request seq up to its end (see
// roundTrip).
func readReply(rd *Reader, seq uint32, limit int, on func(netlink.Message) (bool, error)) (bool, error) {
	rd.SetLimit(limit)
	for {
		m, err := rd.Next()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, fmt.Errorf("ctl: reading reply: %w", err)
		}
		if m.Header.Sequence != seq {
			return false, protoErr("reply with seq %d to request seq %d", m.Header.Sequence, seq)
		}
		if m.Header.Type == netlink.Error {
			e, err := parseError(m)
			if err != nil {
				return false, err
			}
			if e.Errno == 0 {
				return true, nil
			}
			return true, e
		}
		done, err := on(m)
		if done || err != nil {
			return done, err
		}
	}
}

// parseError reads an NLMSG_ERROR laid out as netlink_ack lays it out
// (see errorMessage), with or without the echoed payload. Like
// mdlayher/netlink's checkMessage it needs only the error: extack that is
// missing or malformed leaves the message empty (nltest.Error, for one,
// copies the request's flags, in which NLM_F_DUMP reads as
// NLM_F_ACK_TLVS).
func parseError(m netlink.Message) (*Error, error) {
	if len(m.Data) < 4 {
		return nil, protoErr("NLMSG_ERROR of %d bytes, without its error", len(m.Data))
	}
	code := int32(binary.NativeEndian.Uint32(m.Data))
	if code > 0 {
		return nil, protoErr("NLMSG_ERROR with positive error %d", code)
	}
	e := &Error{Errno: syscall.Errno(-code)}
	if m.Header.Flags&netlink.AcknowledgeTLVs == 0 || len(m.Data) < 4+hdrLen {
		return e, nil
	}
	off := 4 + hdrLen
	if m.Header.Flags&netlink.Capped == 0 {
		inner := decodeHeader(m.Data[4:])
		off = 4 + align4(int(inner.Length))
		if inner.Length < hdrLen || off > len(m.Data) {
			return e, nil
		}
	}
	if msg, err := errMsg(m.Data[off:]); err == nil {
		e.Msg = msg
	}
	return e, nil
}

func errMsg(b []byte) (string, error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return "", err
	}
	var msg string
	for ad.Next() {
		if ad.Type() == AttrErrMsg {
			msg = ad.String()
		}
	}
	return msg, ad.Err()
}

// done is a decoded NLMSG_DONE.
type done struct {
	err                       error // nil or an *Error
	total, structGen, nextGen uint64
	haveSummary               bool
	applied, failed, stop     int // a batch chunk's
}

// parseDone reads an NLMSG_DONE laid out as netlink_dump_done lays it out:
// the int error, then attributes.
func parseDone(m netlink.Message) (done, error) {
	var d done
	if len(m.Data) < 4 {
		return d, protoErr("NLMSG_DONE of %d bytes, without its error", len(m.Data))
	}
	code := int32(binary.NativeEndian.Uint32(m.Data))
	if code > 0 {
		return d, protoErr("NLMSG_DONE with positive error %d", code)
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return d, protoErr("NLMSG_DONE attributes: %v", err)
	}
	var e Error
	var have uint
	for ad.Next() {
		switch ad.Type() {
		case AttrErrMsg:
			e.Msg = ad.String()
		case AttrTotal:
			d.total = ad.Uint64()
			have |= 1
		case AttrStructGen:
			d.structGen = ad.Uint64()
			have |= 2
		case AttrNextGen:
			d.nextGen = ad.Uint64()
			have |= 4
		case AttrBatchApplied:
			d.applied = int(ad.Uint32())
		case AttrBatchFailed:
			d.failed = int(ad.Uint32())
		case AttrBatchStop:
			d.stop = int(ad.Uint32())
		case AttrExitStatus:
			e.Status = int(ad.Uint32())
		}
	}
	if err := ad.Err(); err != nil {
		return d, protoErr("NLMSG_DONE attributes: %v", err)
	}
	d.haveSummary = have == 7
	if code != 0 {
		e.Errno = syscall.Errno(-code)
		d.err = &e
	}
	return d, nil
}

// Ping sends NLMSG_NOOP and waits for the daemon's ack.
func (c *Client) Ping(ctx context.Context) error {
	req := netlink.Message{Header: netlink.Header{Type: netlink.Noop, Flags: netlink.Request | netlink.Acknowledge}}
	return c.roundTrip(ctx, req, DefaultMessageSize, func(m netlink.Message) (bool, error) {
		return false, protoErr("message type %#x in reply to a ping", uint16(m.Header.Type))
	})
}

// Exec runs a command on the daemon: what it writes reaches stdout and
// stderr (nil: discarded) as it arrives; its failure is an *Error whose
// text is the daemon's. A writer's error stops the command's output (the
// connection is dropped) and is returned.
func (c *Client) Exec(ctx context.Context, req ExecRequest, stdout, stderr io.Writer) error {
	msg, err := encodeExec(req)
	if err != nil {
		return err
	}
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	return c.roundTrip(ctx, msg, DefaultMessageSize, func(m netlink.Message) (bool, error) {
		d, done, err := execReply(m, stdout, stderr)
		if done {
			return true, d.err
		}
		return false, err
	})
}

// encodeExec makes the MsgExec of req.
func encodeExec(req ExecRequest) (netlink.Message, error) {
	ae := netlink.NewAttributeEncoder()
	if len(req.Words) == 0 {
		return netlink.Message{}, errors.New("ctl: exec: no words")
	}
	for i, w := range req.Words {
		if strings.IndexByte(w, 0) >= 0 {
			return netlink.Message{}, fmt.Errorf("ctl: exec: word %d (%q) contains a NUL byte", i, w)
		}
		ae.String(AttrWord, w)
	}
	const chunk = maxAttrLen - attrHdrLen - 3 // nla_len's limit, aligned
	for in := req.Stdin; len(in) > 0; {
		n := min(len(in), chunk)
		ae.Bytes(AttrStdin, in[:n])
		in = in[n:]
	}
	if b := req.Batch; b != nil {
		ae.Uint64(AttrBatch, b.ID)
		ae.Uint32(AttrBatchLine, uint32(b.FirstLine))
		var f uint32
		if b.Force {
			f |= BatchFlagForce
		}
		ae.Uint32(AttrBatchFlags, f)
	}
	data, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, fmt.Errorf("ctl: exec: %w", err)
	}
	return netlink.Message{Header: netlink.Header{Type: MsgExec, Flags: netlink.Request}, Data: data}, nil
}

// execReply handles one reply to an exec: output goes to its writer; the
// NLMSG_DONE that ends the reply is returned with done set.
func execReply(m netlink.Message, stdout, stderr io.Writer) (done, bool, error) {
	switch m.Header.Type {
	case MsgOutput:
		a := attrs{b: m.Data}
		for a.next() {
			w := stdout
			switch a.typ {
			case AttrStdout:
			case AttrStderr:
				w = stderr
			default:
				continue
			}
			if _, err := w.Write(a.data); err != nil {
				return done{}, false, err
			}
		}
		if a.err != nil {
			return done{}, false, protoErr("MsgOutput: %v", a.err)
		}
		return done{}, false, nil
	case netlink.Done:
		d, err := parseDone(m)
		if err != nil {
			return done{}, false, err
		}
		return d, true, nil
	}
	return done{}, false, protoErr("message type %#x in reply to an exec", uint16(m.Header.Type))
}

// DumpRequest asks for one table. Its fields are tc's dump options.
type DumpRequest struct {
	Kind   string   // the table, as registered with WithDumper
	Select []string // selector words for the Dumper, e.g. "dev", "eth0"
	// MaxMessage is the largest reply message (MinMessageSize to
	// MaxMessageSize); 0 means the client's WithMessageSize.
	MaxMessage int
	Terse      bool // TCA_ACT_FLAG_TERSE_DUMP ("tc -brief")
	// UsedWithin is tc's "since MSECS": only objects used that recently.
	// It travels in whole milliseconds (rounded up), as
	// TCA_ROOT_TIME_DELTA does.
	UsedWithin time.Duration
	// Since asks only for objects changed after this generation: the
	// NextSince of an earlier dump.
	Since uint64
	// After resumes a dump: only objects whose key sorts after it (the
	// last key a broken dump delivered).
	After []byte
	// OnMessage, when set, is called as each reply message begins, with
	// the number of objects it holds (AttrCount), before fn sees them:
	// a caller that prints per message, as tc prints "total acts N" for
	// each, starts a batch here.
	OnMessage func(count int) error
	// OnRestart is called before a dump is restarted (WithDumpRetries),
	// so that a caller can discard what it collected; an error stops the
	// dump. Without it, a restarted dump delivers its objects again
	// unannounced.
	OnRestart func() error
}

// DumpResult describes a finished (or failed) dump.
type DumpResult struct {
	Objects  uint64 // objects delivered by the last attempt
	Messages int    // MsgObjects messages of the last attempt
	// StructGen is the table's structural generation at the end.
	StructGen uint64
	// NextSince is the generation to ask for next time (DumpRequest.Since)
	// to get every object changed after this dump began.
	NextSince uint64
	// Inconsistent is NLM_F_DUMP_INTR on the last attempt.
	Inconsistent bool
	Restarts     int
}

// Dump streams a table: fn sees every object as its message arrives (the
// Object's slices are valid only during the call), in increasing key
// order. An error from fn stops the dump (the connection is dropped) and
// is returned. A dump flagged NLM_F_DUMP_INTR returns ErrDumpInconsistent
// with its result, after a restart if WithDumpRetries allows one.
func (c *Client) Dump(ctx context.Context, req DumpRequest, fn func(Object) error) (DumpResult, error) {
	msg, limit, err := c.dumpMessage(&req)
	if err != nil {
		return DumpResult{}, err
	}
	if fn == nil {
		fn = func(Object) error { return nil }
	}
	retries := c.cfg.retries
	var res DumpResult
	for {
		res = DumpResult{Restarts: res.Restarts}
		err := c.dumpOnce(ctx, msg, limit, fn, req.OnMessage, retries > 0, &res)
		if !errors.Is(err, ErrDumpInconsistent) || retries == 0 {
			return res, err
		}
		retries--
		if req.OnRestart != nil {
			if err := req.OnRestart(); err != nil {
				return res, err
			}
		}
		res.Restarts++
	}
}

func (c *Client) dumpMessage(req *DumpRequest) (netlink.Message, int, error) {
	if req.Kind == "" {
		return netlink.Message{}, 0, errors.New("ctl: dump: no kind")
	}
	size := req.MaxMessage
	if size == 0 {
		size = c.cfg.msgSize
	}
	if size < MinMessageSize || size > MaxMessageSize {
		return netlink.Message{}, 0, fmt.Errorf("ctl: dump: message size %d outside %d..%d", size, MinMessageSize, MaxMessageSize)
	}
	if len(req.After) > MaxKeyLen {
		return netlink.Message{}, 0, fmt.Errorf("ctl: dump: resume key of %d bytes exceeds %d", len(req.After), MaxKeyLen)
	}
	if req.UsedWithin < 0 {
		return netlink.Message{}, 0, fmt.Errorf("ctl: dump: since %v: must not be negative", req.UsedWithin)
	}
	msecs := (req.UsedWithin + time.Millisecond - 1) / time.Millisecond
	if msecs > math.MaxUint32 {
		return netlink.Message{}, 0, fmt.Errorf("ctl: dump: since %v: more than 2^32 ms", req.UsedWithin)
	}
	ae := netlink.NewAttributeEncoder()
	ae.String(AttrKind, req.Kind)
	for i, w := range req.Select {
		if strings.IndexByte(w, 0) >= 0 {
			return netlink.Message{}, 0, fmt.Errorf("ctl: dump: selector word %d (%q) contains a NUL byte", i, w)
		}
		ae.String(AttrSelect, w)
	}
	ae.Uint32(AttrMaxMsg, uint32(size))
	if req.Terse {
		ae.Uint32(AttrDumpFlags, DumpFlagTerse)
	}
	if msecs > 0 {
		ae.Uint32(AttrTimeDelta, uint32(msecs))
	}
	if req.Since != 0 {
		ae.Uint64(AttrSince, req.Since)
	}
	if len(req.After) > 0 {
		ae.Bytes(AttrAfter, req.After)
	}
	data, err := ae.Encode()
	if err != nil {
		return netlink.Message{}, 0, fmt.Errorf("ctl: dump: %w", err)
	}
	return netlink.Message{Header: netlink.Header{Type: MsgDump, Flags: netlink.Request | netlink.Dump}, Data: data}, size, nil
}

func (c *Client) dumpOnce(ctx context.Context, msg netlink.Message, limit int, fn func(Object) error, onMsg func(int) error, abortOnIntr bool, res *DumpResult) error {
	var last []byte
	haveLast := false
	return c.roundTrip(ctx, msg, limit, func(m netlink.Message) (bool, error) {
		switch m.Header.Type {
		case MsgObjects:
			res.Messages++
			if m.Header.Flags&netlink.DumpInterrupted != 0 {
				res.Inconsistent = true
				if abortOnIntr {
					return false, ErrDumpInconsistent
				}
			}
			if err := ctx.Err(); err != nil {
				return false, err
			}
			var count uint32
			haveCount := false
			n := 0
			a := attrs{b: m.Data}
			for a.next() {
				var ok bool
				switch a.typ {
				case AttrCount:
					count, ok = a.u32()
					haveCount = ok
					// The count sizes the caller's buffers before the
					// objects are counted: it cannot be more than the
					// message can hold.
					if ok && int64(count) > int64(len(m.Data)/objectSize(1, 0)) {
						return false, protoErr("MsgObjects says it holds %d objects in %d bytes", count, len(m.Data))
					}
					if ok && onMsg != nil {
						if err := onMsg(int(count)); err != nil {
							return false, err
						}
					}
				case AttrStructGen:
					res.StructGen, ok = a.u64()
				case AttrObject:
					var o Object
					o, ok = decodeObject(a.data)
					if ok && haveLast && bytes.Compare(o.Key, last) <= 0 {
						return false, protoErr("object key %x after %x: keys must increase", o.Key, last)
					}
					if ok {
						last = append(last[:0], o.Key...)
						haveLast = true
						if err := fn(o); err != nil {
							return false, err
						}
						n++
						res.Objects++
					}
				default:
					ok = true
				}
				if !ok {
					return false, protoErr("MsgObjects: malformed attribute %d", a.typ)
				}
			}
			if a.err != nil {
				return false, protoErr("MsgObjects: %v", a.err)
			}
			if !haveCount || int(count) != n {
				return false, protoErr("MsgObjects says it holds %d objects (count present: %t) and holds %d", count, haveCount, n)
			}
			return false, nil
		case netlink.Done:
			d, err := parseDone(m)
			if err != nil {
				return false, err
			}
			if d.err != nil {
				return true, d.err
			}
			if !d.haveSummary {
				return true, protoErr("NLMSG_DONE of a dump without its total and generations")
			}
			if d.total != res.Objects {
				return true, protoErr("NLMSG_DONE says the dump held %d objects; %d arrived", d.total, res.Objects)
			}
			res.StructGen, res.NextSince = d.structGen, d.nextGen
			if m.Header.Flags&netlink.DumpInterrupted != 0 {
				res.Inconsistent = true
				return true, ErrDumpInconsistent
			}
			return true, nil
		}
		return false, protoErr("message type %#x in reply to a dump", uint16(m.Header.Type))
	})
}

// decodeObject reads an AttrObject nest; unknown attributes are skipped.
func decodeObject(b []byte) (Object, bool) {
	var o Object
	haveGen := false
	a := attrs{b: b}
	for a.next() {
		switch a.typ {
		case ObjKey:
			o.Key = a.data
		case ObjGen:
			o.Gen, haveGen = a.u64()
			if !haveGen {
				return o, false
			}
		case ObjData:
			o.Data = a.data
		}
	}
	return o, a.err == nil && len(o.Key) > 0 && haveGen
}

// unixTransport is a connection to a daemon's socket.
type unixTransport struct {
	net.Conn
	rd *Reader
}

func newUnixTransport(c net.Conn) *unixTransport {
	// 64 KiB: one read takes many small replies; a large message is read
	// straight into the Reader's buffer (bufio does not copy reads larger
	// than its buffer).
	return &unixTransport{Conn: c, rd: NewReader(bufio.NewReaderSize(c, 64<<10), DefaultMessageSize)}
}

func (t *unixTransport) reader() *Reader { return t.rd }

// interrupt sets a deadline in the past, which fails a blocked read or
// write at once.
func (t *unixTransport) interrupt() { t.Conn.SetDeadline(time.Unix(1, 0)) }

// testTransport hands requests to a test function and reads its replies
// from a byte stream, so that replies go through the same Reader as the
// socket's.
type testTransport struct {
	fn      func([]netlink.Message) ([]netlink.Message, error)
	pending bytes.Buffer
	rd      *Reader
}

func newTestTransport(fn func([]netlink.Message) ([]netlink.Message, error)) *testTransport {
	t := &testTransport{fn: fn}
	t.rd = NewReader(&t.pending, DefaultMessageSize)
	return t
}

func (t *testTransport) Write(b []byte) (int, error) {
	var reqs []netlink.Message
	rd := NewReader(bytes.NewReader(b), len(b))
	for {
		m, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		m.Data = bytes.Clone(m.Data)
		reqs = append(reqs, m)
	}
	replies, err := t.fn(reqs)
	if err != nil {
		return 0, err
	}
	for _, r := range replies {
		h := r.Header
		if h.Length == 0 {
			h.Length = uint32(hdrLen + len(r.Data))
		}
		enc := appendHeader(nil, h)
		enc = append(enc, r.Data...)
		enc = append(enc, zeros[:align4(len(enc))-len(enc)]...)
		t.pending.Write(enc)
	}
	return len(b), nil
}

func (t *testTransport) reader() *Reader { return t.rd }
func (t *testTransport) interrupt()      {}
func (t *testTransport) Close() error    { return nil }
