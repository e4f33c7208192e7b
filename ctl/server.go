package ctl

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"netyard/internal/prefault"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/mdlayher/netlink"

	"netyard/internal/nlattr"
)

// ExecRequest is a command for the daemon: a tc command line split into
// words, as `netyard tc` received them, and what it reads as standard
// input ("-b -").
type ExecRequest struct {
	Words []string
	Stdin []byte
	// Batch, when set, makes the request one chunk of a streamed batch
	// (Stdin holds its whole lines; Words say "-b -"). The Handler runs
	// the chunk with line numbers from Batch.FirstLine and fills in
	// Batch.Result.
	Batch *BatchChunk
}

// BatchChunk is what identifies one chunk of a streamed batch, and how it
// went.
type BatchChunk struct {
	// ID names the batch within the connection: once a chunk of it
	// fails without Force, the server refuses its later chunks unrun.
	ID        uint64
	FirstLine int
	Force     bool
	// Result is the Handler's: the commands applied and failed, and
	// the line that stopped the batch (0: none).
	Applied, Failed, StopLine int
}

// Handler runs exec requests; the daemon plugs tcsyntax in.
type Handler interface {
	// Exec runs one command. What it writes to stdout and stderr reaches
	// the client in order, in messages of up to 32 KiB; both writers
	// also have a Flush() error method that sends what is buffered.
	// Its error reaches the client as NLMSG_DONE's errno (see Error) and
	// text. ctx ends when the server closes; Exec must return then.
	Exec(ctx context.Context, req *ExecRequest, stdout, stderr io.Writer) error
}

// HandlerFunc adapts a function to the Handler interface.
type HandlerFunc func(ctx context.Context, req *ExecRequest, stdout, stderr io.Writer) error

// Exec calls f.
func (f HandlerFunc) Exec(ctx context.Context, req *ExecRequest, stdout, stderr io.Writer) error {
	return f(ctx, req, stdout, stderr)
}

// ServerOption configures a Server.
type ServerOption func(*Server)

// WithHandler sets what runs exec requests; without one they are refused
// with EOPNOTSUPP.
func WithHandler(h Handler) ServerOption { return func(s *Server) { s.handler = h } }

// WithDumper registers the table that dump requests for kind read (kinds
// are names such as "action/gact", "filter", "qdisc", "class").
func WithDumper(kind string, d Dumper) ServerOption {
	if kind == "" || d == nil {
		panic(fmt.Sprintf("ctl: WithDumper(%q, %v): needs a kind and a Dumper", kind, d))
	}
	return func(s *Server) { s.dumpers[kind] = d }
}

// WithLogger sets where connection errors are logged; the default is
// slog.Default().
func WithLogger(l *slog.Logger) ServerOption { return func(s *Server) { s.log = l } }

// WithMaxRequest sets the largest request the server reads
// (DefaultMaxRequest when not set); a longer one is refused with EMSGSIZE
// and ends the connection.
func WithMaxRequest(n int) ServerOption { return func(s *Server) { s.maxRequest = max(n, hdrLen) } }

// Server serves the protocol: one goroutine per connection, its requests
// processed one after the other, in order.
type Server struct {
	handler     Handler
	dumpers     map[string]Dumper
	resolveDump func(ctx context.Context, kind string) (Dumper, error)
	log         *slog.Logger
	maxRequest  int

	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	listeners map[net.Listener]struct{}
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup

	// connDone, when set (by tests), is called as a connection ends.
	connDone func(err error)
}

// NewServer returns a server configured by opts.
func NewServer(opts ...ServerOption) *Server {
	s := &Server{
		dumpers:    map[string]Dumper{},
		log:        slog.Default(),
		maxRequest: DefaultMaxRequest,
		listeners:  map[net.Listener]struct{}{},
		conns:      map[net.Conn]struct{}{},
	}
	for _, o := range opts {
		o(s)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// Serve accepts connections on l until Close, serving each on its own
// goroutine. It returns ErrClosed after Close, or the listener's error.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			if s.isClosed() {
				return ErrClosed
			}
			if errors.Is(err, net.ErrClosed) {
				return err
			}
			// Out of descriptors and the like: wait, as net/http
			// does, rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("ctl: accept", "err", err, "retry", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		if !s.track(c) {
			c.Close()
			return ErrClosed
		}
		go func() {
			defer s.wg.Done()
			s.serveConn(c)
		}()
	}
}

// ServeConn serves one connection until the client closes it, it breaks
// the framing, or the server closes. It returns ErrClosed after Close.
func (s *Server) ServeConn(c net.Conn) error {
	if !s.track(c) {
		c.Close()
		return ErrClosed
	}
	defer s.wg.Done()
	s.serveConn(c)
	return nil
}

func (s *Server) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// track registers a connection so that Close can end it; the caller must
// call s.wg.Done when it ends.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *Server) serveConn(c net.Conn) {
	err := s.serveStream(peerContext(s.ctx, c), bufio.NewReaderSize(c, 4096), c)
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	switch {
	case err == nil, s.isClosed():
	case errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNRESET):
		s.log.Debug("ctl: client went away", "err", err)
	default:
		s.log.Warn("ctl: connection ended", "err", err)
	}
	if s.connDone != nil {
		s.connDone(err)
	}
}

// Close stops the listeners, ends every connection (an in-flight dump
// stops at its next batch, a handler sees its context end) and waits for
// their goroutines.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// serveStream runs the protocol over r and w: the connection loop, without
// a socket (tests and benchmarks use it directly). It returns nil when r
// ends cleanly, else what ended it.
func (s *Server) serveStream(ctx context.Context, r io.Reader, w io.Writer) error {
	ss := &session{srv: s, w: w, rd: NewReader(r, s.maxRequest)}
	ss.yield = ss.yieldObject
	defer ss.release()
	return ss.serve(ctx)
}

// outBuffers keeps dump message buffers (up to MaxMessageSize each) from
// one session to the next: `netyard tc` opens a session per command, and
// a fresh megabyte for each (zeroed, faulted in page by page) cost more
// than a small "since" dump itself.
var outBuffers sync.Pool

func (ss *session) release() {
	if cap(ss.out) >= MinMessageSize {
		b := ss.out[:0]
		ss.out = nil
		outBuffers.Put(&b)
	}
}

// session is one connection's state. Its buffers live as long as the
// connection: a dump reuses them for every message.
type session struct {
	srv   *Server
	w     io.Writer
	rd    *Reader
	out   []byte // the message being built
	dc    dumpCursor
	yield func(Object) bool // ss.yieldObject, bound once
	// failedBatch is the batch whose chunk failed without -force (its
	// later chunks are refused), failedLine the line it stopped at.
	failedBatch uint64
	failedLine  int
}

func (ss *session) serve(ctx context.Context) error {
	for {
		m, err := ss.rd.Next()
		if err != nil {
			if err == io.EOF {
				return nil
			}
			var fe *FrameError
			if errors.As(err, &fe) {
				errno := syscall.EINVAL
				if errors.Is(err, ErrTooLarge) {
					errno = syscall.EMSGSIZE
				}
				// The framing is lost: answer what can be answered
				// (the peer may be gone) and end the connection.
				ss.writeError(fe.Header, errno, fe.Error())
			}
			return err
		}
		if err := ss.handle(ctx, m); err != nil {
			return err
		}
	}
}

// handle answers one request. Only an I/O error (or the server closing)
// ends the session; a bad request is refused with NLMSG_ERROR.
func (ss *session) handle(ctx context.Context, m netlink.Message) error {
	h := m.Header
	if h.Flags&netlink.Request == 0 {
		return ss.refuse(m, syscall.EINVAL, fmt.Sprintf(
			"ctl: message type %#x seq %d is not a request: NLM_F_REQUEST is not set", uint16(h.Type), h.Sequence))
	}
	switch h.Type {
	case netlink.Noop:
		// A ping: the ack of netlink_ack with err 0, always capped.
		return ss.writeError(h, 0, "")
	case MsgExec:
		return ss.exec(ctx, m)
	case MsgDump:
		return ss.dump(ctx, m)
	}
	if h.Type < minType {
		return ss.refuse(m, syscall.EINVAL, fmt.Sprintf("ctl: message type %s (%#x) is netlink's own, not a request", h.Type, uint16(h.Type)))
	}
	return ss.refuse(m, syscall.EOPNOTSUPP, fmt.Sprintf("ctl: unknown message type %#x", uint16(h.Type)))
}

func (ss *session) write() error {
	_, err := ss.w.Write(ss.out)
	return err
}

// refuse answers m with an NLMSG_ERROR that echoes it.
func (ss *session) refuse(m netlink.Message, errno syscall.Errno, msg string) error {
	ss.out = ss.out[:0]
	return ss.errorMessage(m.Header, m.Data, true, errno, msg)
}

// writeError answers a request whose payload is not echoed (NLM_F_CAPPED):
// an ack, or a message the framing could not deliver.
func (ss *session) writeError(h netlink.Header, errno syscall.Errno, msg string) error {
	ss.out = ss.out[:0]
	return ss.errorMessage(h, nil, false, errno, msg)
}

// errorMessage writes an NLMSG_ERROR laid out as netlink_ack lays it out:
// struct nlmsgerr (int error = -errno, the request's nlmsghdr), the request's
// payload unless NLM_F_CAPPED, then AttrErrMsg (NLMSGERR_ATTR_MSG) with
// NLM_F_ACK_TLVS.
func (ss *session) errorMessage(req netlink.Header, data []byte, echo bool, errno syscall.Errno, msg string) error {
	b := appendHeader(ss.out, netlink.Header{Type: netlink.Error, Sequence: req.Sequence, PID: req.PID})
	b = binary.NativeEndian.AppendUint32(b, uint32(-int32(errno)))
	b = appendHeader(b, req)
	var flags netlink.HeaderFlags
	if echo && len(data) <= maxEcho && int(req.Length) == hdrLen+len(data) {
		b = append(b, data...)
		b = append(b, zeros[:align4(len(data))-len(data)]...)
	} else {
		flags |= netlink.Capped
	}
	if msg != "" {
		b = appendStringAttr(b, AttrErrMsg, clipMsg(msg))
		flags |= netlink.AcknowledgeTLVs
	}
	setFlags(b, 0, flags)
	ss.out = finishMessage(b, 0)
	return ss.write()
}

// writeDone ends a reply as netlink_dump_done does: NLMSG_DONE|NLM_F_MULTI
// with the int error, then extack (AttrErrMsg, with NLM_F_ACK_TLVS) on
// failure, or the dump's summary on success.
func (ss *session) writeDone(req netlink.Header, flags netlink.HeaderFlags, err error, sum *dumpSummary) error {
	return ss.writeDoneWith(req, flags, err, sum, nil)
}

// writeDoneWith is writeDone with, for a batch chunk, its counts.
func (ss *session) writeDoneWith(req netlink.Header, flags netlink.HeaderFlags, err error, sum *dumpSummary, bc *BatchChunk) error {
	var errno syscall.Errno
	if err != nil {
		errno = errnoOf(err)
	}
	b := appendHeader(ss.out[:0], netlink.Header{Type: netlink.Done, Flags: netlink.Multi | flags, Sequence: req.Sequence, PID: req.PID})
	b = binary.NativeEndian.AppendUint32(b, uint32(-int32(errno)))
	if err != nil {
		b = appendStringAttr(b, AttrErrMsg, clipMsg(err.Error()))
		setFlags(b, 0, netlink.AcknowledgeTLVs)
		var ce *Error
		if errors.As(err, &ce) && ce.Status > 0 {
			b = appendU32Attr(b, AttrExitStatus, uint32(ce.Status))
		}
	}
	if sum != nil {
		b = appendU64Attr(b, AttrTotal, sum.total)
		b = appendU64Attr(b, AttrStructGen, sum.structGen)
		b = appendU64Attr(b, AttrNextGen, sum.nextGen)
	}
	if bc != nil {
		b = appendU32Attr(b, AttrBatchApplied, uint32(bc.Applied))
		b = appendU32Attr(b, AttrBatchFailed, uint32(bc.Failed))
		b = appendU32Attr(b, AttrBatchStop, uint32(bc.StopLine))
	}
	ss.out = finishMessage(b, 0)
	return ss.write()
}

type dumpSummary struct{ total, structGen, nextGen uint64 }

// clipMsg bounds an error text at a rune boundary.
func clipMsg(s string) string {
	s = strings.ReplaceAll(s, "\x00", " ")
	if len(s) <= maxErrMsg {
		return s
	}
	n := maxErrMsg
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// attrError names a bad attribute in a request.
func attrError(msg string, typ uint16, format string, a ...any) error {
	return fmt.Errorf("ctl: %s: attribute %d: %s", msg, typ, fmt.Sprintf(format, a...))
}

// nulString reads an NLA_NUL_STRING strictly: one terminating NUL and no
// other.
func nulString(b []byte) (string, bool) {
	if len(b) == 0 || b[len(b)-1] != 0 || bytes.IndexByte(b, 0) != len(b)-1 {
		return "", false
	}
	return string(b[:len(b)-1]), true
}

// errExecAttrs is what a malformed exec request's errors wrap.
var errExecAttrs = errors.New("malformed attributes")

// chunkBufs are the buffers batch chunks are copied into, first written
// by a goroutine of their own: a million-line batch copies 100 MB into
// fresh memory, and on a VM each first write to a page is a fault that
// costs 10-30 µs (internal/prefault).
var chunkBufs = prefault.NewBytes(MaxBatchChunk, 4)

func decodeExec(b []byte) (*ExecRequest, error) {
	req := &ExecRequest{}
	// A batch chunk comes in attributes of at most 64 KiB each: the
	// first pass sizes one buffer for all of them, so that the chunk is
	// copied once out of the message (which the reader reuses), not
	// once per attribute and again as the buffer grows.
	n := 0
	it := nlattr.Iter{B: b, Base: errExecAttrs}
	for it.Next() {
		if it.Typ == AttrStdin {
			n += len(it.Val)
		}
	}
	if it.Err != nil {
		return nil, fmt.Errorf("ctl: exec request: %w", it.Err)
	}
	if n > 0 {
		req.Stdin = chunkBufs.Get(n)
	}
	it = nlattr.Iter{B: b, Base: errExecAttrs}
	for it.Next() {
		switch t := it.Typ; t {
		case AttrWord:
			w, ok := nulString(it.Val)
			if !ok {
				return nil, attrError("exec request", t, "word %d is not a NUL-terminated string", len(req.Words))
			}
			req.Words = append(req.Words, w)
		case AttrStdin:
			req.Stdin = append(req.Stdin, it.Val...)
		case AttrBatch, AttrBatchLine, AttrBatchFlags:
			if req.Batch == nil {
				req.Batch = &BatchChunk{}
			}
			switch t {
			case AttrBatch:
				req.Batch.ID = it.U64()
			case AttrBatchLine:
				req.Batch.FirstLine = int(it.U32())
			default:
				f := it.U32()
				if f&^BatchFlagForce != 0 {
					return nil, attrError("exec request", t, "unknown batch flags %#x", f&^BatchFlagForce)
				}
				req.Batch.Force = f&BatchFlagForce != 0
			}
		default:
			return nil, attrError("exec request", t, "unknown in MsgExec")
		}
	}
	if it.Err != nil {
		return nil, fmt.Errorf("ctl: exec request: %w", it.Err)
	}
	if len(req.Words) == 0 {
		return nil, errors.New("ctl: exec request without words (AttrWord)")
	}
	return req, nil
}

// dumpRequest is a decoded MsgDump.
type dumpRequest struct {
	kind   string
	sel    []string
	maxMsg int
	flags  uint32
	delta  uint32 // msecs
	since  uint64
	after  []byte
}

func decodeDump(b []byte) (*dumpRequest, error) {
	const what = "dump request"
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return nil, fmt.Errorf("ctl: %s: %w", what, err)
	}
	req := &dumpRequest{maxMsg: DefaultMessageSize}
	var seen uint64
	for ad.Next() {
		t := ad.Type()
		if t < 64 && t != AttrSelect {
			if seen&(1<<t) != 0 {
				return nil, attrError(what, t, "repeated")
			}
			seen |= 1 << t
		}
		switch t {
		case AttrKind:
			ad.Do(func(d []byte) error {
				k, ok := nulString(d)
				if !ok || k == "" {
					return attrError(what, t, "kind is not a non-empty NUL-terminated string")
				}
				req.kind = k
				return nil
			})
		case AttrSelect:
			ad.Do(func(d []byte) error {
				w, ok := nulString(d)
				if !ok {
					return attrError(what, t, "selector word %d is not a NUL-terminated string", len(req.sel))
				}
				req.sel = append(req.sel, w)
				return nil
			})
		case AttrMaxMsg:
			n := ad.Uint32()
			if ad.Err() == nil && (n < MinMessageSize || n > MaxMessageSize) {
				return nil, attrError(what, t, "message size %d outside %d..%d", n, MinMessageSize, MaxMessageSize)
			}
			req.maxMsg = int(n)
		case AttrDumpFlags:
			req.flags = ad.Uint32()
			if unknown := req.flags &^ dumpFlagsKnown; unknown != 0 {
				return nil, attrError(what, t, "unknown dump flags %#x", unknown)
			}
		case AttrTimeDelta:
			req.delta = ad.Uint32()
		case AttrSince:
			req.since = ad.Uint64()
		case AttrAfter:
			ad.Do(func(d []byte) error {
				if len(d) == 0 || len(d) > MaxKeyLen {
					return attrError(what, t, "key of %d bytes outside 1..%d", len(d), MaxKeyLen)
				}
				req.after = bytes.Clone(d)
				return nil
			})
		default:
			return nil, attrError(what, t, "unknown in MsgDump")
		}
	}
	if err := ad.Err(); err != nil {
		return nil, fmt.Errorf("ctl: %s: %w", what, err)
	}
	if req.kind == "" {
		return nil, errors.New("ctl: dump request without a kind (AttrKind)")
	}
	return req, nil
}

// output turns a handler's writes into MsgOutput messages.
type output struct {
	mu       sync.Mutex
	ss       *session
	seq, pid uint32
	open     bool // ss.out holds a message being filled
	done     bool // the handler returned: later writes fail
	err      error
}

// outputSize is the size of MsgOutput messages: the smallest a client
// reads, so any client takes them.
const outputSize = MinMessageSize

type outputStream struct {
	o   *output
	typ uint16
}

func (s outputStream) Write(p []byte) (int, error) { return s.o.write(s.typ, p) }

// Flush sends what the handler wrote so far.
func (s outputStream) Flush() error {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	return s.o.flushLocked()
}

var errOutputDone = errors.New("ctl: write after the command returned")

func (o *output) write(typ uint16, p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.err != nil:
		return 0, o.err
	case o.done:
		return 0, errOutputDone
	}
	n := len(p)
	for len(p) > 0 {
		if !o.open {
			o.ss.out = appendHeader(o.ss.out[:0], netlink.Header{Type: MsgOutput, Flags: netlink.Multi, Sequence: o.seq, PID: o.pid})
			o.open = true
		}
		room := outputSize - len(o.ss.out) - attrHdrLen - 3
		if room <= 0 {
			if err := o.flushLocked(); err != nil {
				return n - len(p), err
			}
			continue
		}
		c := min(len(p), room)
		o.ss.out = appendAttr(o.ss.out, typ, p[:c])
		p = p[c:]
	}
	return n, nil
}

func (o *output) flushLocked() error {
	if o.err != nil || !o.open {
		return o.err
	}
	o.open = false
	o.ss.out = finishMessage(o.ss.out, 0)
	o.err = o.ss.write()
	return o.err
}

func (ss *session) exec(ctx context.Context, m netlink.Message) error {
	req, err := decodeExec(m.Data)
	if err != nil {
		return ss.refuse(m, syscall.EINVAL, err.Error())
	}
	if ss.srv.handler == nil {
		return ss.refuse(m, syscall.EOPNOTSUPP, "ctl: this daemon runs no commands")
	}
	if b := req.Batch; b != nil && b.ID != 0 && b.ID == ss.failedBatch {
		// An earlier chunk of this batch failed: nothing after the
		// failing line runs, however many chunks were already sent.
		return ss.writeDoneBatch(m.Header, &Error{Errno: syscall.ECANCELED,
			Msg: fmt.Sprintf("batch: not run: the batch stopped at line %d", ss.failedLine)}, b)
	}
	o := &output{ss: ss, seq: m.Header.Sequence, pid: m.Header.PID}
	herr := ss.srv.handler.Exec(ctx, req, outputStream{o, AttrStdout}, outputStream{o, AttrStderr})
	o.mu.Lock()
	defer o.mu.Unlock()
	o.done = true
	if err := o.flushLocked(); err != nil {
		return err
	}
	if b := req.Batch; b != nil {
		if herr != nil && !b.Force {
			ss.failedBatch, ss.failedLine = b.ID, b.StopLine
		}
		return ss.writeDoneBatch(m.Header, herr, b)
	}
	return ss.writeDone(m.Header, 0, herr, nil)
}

// writeDoneBatch ends a batch chunk's reply: NLMSG_DONE with the chunk's
// counts.
func (ss *session) writeDoneBatch(req netlink.Header, err error, b *BatchChunk) error {
	return ss.writeDoneWith(req, 0, err, nil, b)
}

func (ss *session) dump(ctx context.Context, m netlink.Message) error {
	if m.Header.Flags&netlink.Dump != netlink.Dump {
		return ss.refuse(m, syscall.EINVAL, "ctl: MsgDump without NLM_F_DUMP (NLM_F_ROOT|NLM_F_MATCH)")
	}
	req, err := decodeDump(m.Data)
	if err != nil {
		return ss.refuse(m, syscall.EINVAL, err.Error())
	}
	var d Dumper
	if r := ss.srv.resolveDump; r != nil {
		if d, err = r(ctx, req.kind); err != nil {
			return ss.refuse(m, errnoOf(err), err.Error())
		}
	}
	if d == nil {
		d = ss.srv.dumpers[req.kind]
	}
	if d == nil {
		kinds := slices.Sorted(maps.Keys(ss.srv.dumpers))
		return ss.refuse(m, syscall.ENOENT, fmt.Sprintf("ctl: no table %q; the daemon dumps: %s", req.kind, strings.Join(kinds, ", ")))
	}
	return ss.runDump(ctx, m.Header, d, req)
}

// dumpCursor is a dump's state across the Dumper's yields.
type dumpCursor struct {
	max        int    // message size
	n          int    // objects in the message being built
	full       bool   // yield refused an object for lack of room
	stop       bool   // yield returned false: refuse everything after
	cursor     []byte // the last key placed in a message
	haveCursor bool
	after      []byte // the cursor as the batch began (DumpQuery.After)
	err        error  // a Dumper contract violation
}

// Offsets in a MsgObjects message: the header, AttrCount and AttrStructGen
// come first and are filled in when the batch is done (as tc_dump_action
// reserves TCA_ROOT_COUNT and fills it in after the walk).
const (
	countValueOff = hdrLen + attrHdrLen
	genValueOff   = hdrLen + 8 + attrHdrLen
	objectsOff    = hdrLen + 8 + 12
)

// runDump answers a dump request: netlink_dump's loop, one Dumper walk per
// message, resumed by key.
func (ss *session) runDump(ctx context.Context, req netlink.Header, d Dumper, r *dumpRequest) error {
	dc := &ss.dc
	dc.max = r.maxMsg
	dc.cursor = append(dc.cursor[:0], r.after...)
	dc.haveCursor = len(r.after) > 0
	dc.err = nil
	if cap(ss.out) < dc.max {
		if p, _ := outBuffers.Get().(*[]byte); p != nil && cap(*p) >= dc.max {
			ss.out = (*p)[:0]
		} else {
			ss.out = make([]byte, 0, dc.max)
		}
	}
	q := DumpQuery{
		Since:      r.since,
		UsedWithin: time.Duration(r.delta) * time.Millisecond,
		Terse:      r.flags&DumpFlagTerse != 0,
		Select:     r.sel,
	}
	var (
		first, gens Gens
		total       uint64
		intr        bool
		memo        any
	)
	q.Memo = &memo
	for batch := 0; ; batch++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ss.out = appendHeader(ss.out[:0], netlink.Header{Type: MsgObjects, Flags: netlink.Multi, Sequence: req.Sequence, PID: req.PID})
		ss.out = appendU32Attr(ss.out, AttrCount, 0)
		ss.out = appendU64Attr(ss.out, AttrStructGen, 0)
		dc.n, dc.full, dc.stop = 0, false, false
		// The Dumper reads After while yield moves the cursor: give it
		// a copy.
		dc.after = append(dc.after[:0], dc.cursor...)
		q.After = nil
		q.Batch = batch
		if dc.haveCursor {
			q.After = dc.after
		}
		var err error
		gens, err = d.Dump(q, ss.yield)
		if dc.err != nil {
			err = dc.err
		}
		if err != nil {
			// The objects of this batch are dropped with the message;
			// the error ends the reply, as a failing dumpit's errno
			// does in netlink_dump_done.
			return ss.writeDone(req, 0, fmt.Errorf("ctl: dump %s: %w", r.kind, err), nil)
		}
		if batch == 0 {
			first = gens
		}
		if gens.Struct != first.Struct {
			intr = true
		}
		if dc.n > 0 {
			binary.NativeEndian.PutUint32(ss.out[countValueOff:], uint32(dc.n))
			binary.NativeEndian.PutUint64(ss.out[genValueOff:], gens.Struct)
			if intr {
				setFlags(ss.out, 0, netlink.DumpInterrupted)
			}
			ss.out = finishMessage(ss.out, 0)
			if err := ss.write(); err != nil {
				return err
			}
			total += uint64(dc.n)
		}
		if !dc.full {
			break
		}
	}
	var flags netlink.HeaderFlags
	if intr {
		flags = netlink.DumpInterrupted
	}
	return ss.writeDone(req, flags, nil, &dumpSummary{total: total, structGen: gens.Struct, nextGen: first.Change})
}

// yieldObject places one object in the message being built. It checks the
// Dumper's contract (keys within bounds, strictly increasing, after the
// cursor), so that a buggy Dumper cannot make a client see an object twice.
func (ss *session) yieldObject(o Object) bool {
	dc := &ss.dc
	if dc.stop {
		return false
	}
	size := objectSize(len(o.Key), len(o.Data))
	switch {
	case len(o.Key) == 0 || len(o.Key) > MaxKeyLen:
		dc.err = &Error{Errno: syscall.EIO, Msg: fmt.Sprintf("dumper yielded a key of %d bytes, outside 1..%d", len(o.Key), MaxKeyLen)}
	case dc.haveCursor && bytes.Compare(o.Key, dc.cursor) <= 0:
		dc.err = &Error{Errno: syscall.EIO, Msg: fmt.Sprintf("dumper yielded key %x after %x: keys must increase", o.Key, dc.cursor)}
	case size > maxAttrLen:
		dc.err = &Error{Errno: syscall.EMSGSIZE, Msg: fmt.Sprintf("object %x: %d bytes do not fit a netlink attribute", o.Key, size)}
	case len(ss.out)+size > dc.max:
		if dc.n == 0 {
			dc.err = &Error{Errno: syscall.EMSGSIZE, Msg: fmt.Sprintf("object %x: %d bytes do not fit a %d-byte message", o.Key, size, dc.max)}
		} else {
			dc.full = true
		}
	default:
		ss.out = appendObject(ss.out, o)
		dc.cursor = append(dc.cursor[:0], o.Key...)
		dc.haveCursor = true
		dc.n++
		return true
	}
	dc.stop = true
	return false
}
