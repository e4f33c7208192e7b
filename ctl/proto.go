package ctl

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/mdlayher/netlink"
)

// Message types. netyard's start at NLMSG_MIN_TYPE (0x10): the types below
// it are netlink's own (NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN).
const (
	MsgExec    netlink.HeaderType = 0x10
	MsgOutput  netlink.HeaderType = 0x11
	MsgDump    netlink.HeaderType = 0x12
	MsgObjects netlink.HeaderType = 0x13

	// minType is NLMSG_MIN_TYPE.
	minType netlink.HeaderType = 0x10
)

// Attribute numbers; the table in the package comment says where each is
// valid.
const (
	AttrErrMsg    uint16 = 1 // NLMSGERR_ATTR_MSG
	AttrErrOffs   uint16 = 2 // NLMSGERR_ATTR_OFFS; reserved, never sent
	AttrWord      uint16 = 3
	AttrStdin     uint16 = 4
	AttrStdout    uint16 = 5
	AttrStderr    uint16 = 6
	AttrKind      uint16 = 7
	AttrSelect    uint16 = 8
	AttrMaxMsg    uint16 = 9
	AttrDumpFlags uint16 = 10
	AttrTimeDelta uint16 = 11
	AttrSince     uint16 = 12
	AttrAfter     uint16 = 13
	AttrCount     uint16 = 14
	AttrTotal     uint16 = 15
	AttrStructGen uint16 = 16
	AttrNextGen   uint16 = 17
	AttrObject    uint16 = 18
	// Batch chunks (see the package comment, "Batches").
	AttrBatch        uint16 = 19
	AttrBatchLine    uint16 = 20
	AttrBatchFlags   uint16 = 21
	AttrBatchApplied uint16 = 22
	AttrBatchFailed  uint16 = 23
	AttrBatchStop    uint16 = 24
	// AttrExitStatus rides on a failed request's NLMSG_DONE: the exit
	// status the client should give (Error.Status).
	AttrExitStatus uint16 = 25

	// Inside AttrObject.
	ObjKey  uint16 = 1
	ObjGen  uint16 = 2
	ObjData uint16 = 3
)

// Bits of AttrDumpFlags. They are the kernel's TCA_ROOT_FLAGS bits
// (include/uapi/linux/rtnetlink.h), carried as a plain u32 rather than an
// nla_bitfield32: there is no selector because every bit has a default.
const (
	// DumpFlagLargeDump is TCA_ACT_FLAG_LARGE_DUMP_ON. netyard always
	// fills messages to the client's size, so the bit is accepted and
	// changes nothing.
	DumpFlagLargeDump uint32 = 1 << 0
	// DumpFlagTerse is TCA_ACT_FLAG_TERSE_DUMP: the Dumper encodes only
	// what identifies an object and its statistics.
	DumpFlagTerse uint32 = 1 << 1

	dumpFlagsKnown = DumpFlagLargeDump | DumpFlagTerse
)

// BatchFlagForce in AttrBatchFlags is tc's -force: a failing command does
// not stop the batch.
const BatchFlagForce uint32 = 1 << 0

// Sizes.
const (
	// MinMessageSize is the smallest reply size a client may ask for,
	// and DefaultMessageSize the size when it does not ask: 32 KiB, the
	// kernel's dump message size (netlink_recvmsg caps max_recvmsg_len at
	// 32768), so that an object that fits a kernel dump fits here.
	MinMessageSize     = 32 << 10
	DefaultMessageSize = MinMessageSize
	// MaxMessageSize bounds what a client may ask for: larger messages
	// save system calls (BenchmarkServerDump), and 1 MiB keeps a
	// connection's buffer small next to a daemon's tables.
	MaxMessageSize = 1 << 20
	// DefaultMaxRequest is the largest request a Server reads unless
	// told otherwise (WithMaxRequest): a command line, or one chunk of a
	// streamed batch (MaxBatchChunk; a batch of any size is sent as many,
	// see "Batches" in the package comment).
	DefaultMaxRequest = 1 << 20
	// MaxKeyLen bounds an object's key and a resume cursor. Keys are a
	// few fixed-size fields (an action's index; a filter's device,
	// parent, chain, priority and handle): 256 bytes is plenty.
	MaxKeyLen = 256

	// hdrLen is NLMSG_HDRLEN and attrHdrLen NLA_HDRLEN.
	hdrLen     = 16
	attrHdrLen = 4
	// maxAttrLen is what nla_len (16 bits) can say.
	maxAttrLen = 0xffff
	// maxEcho is the largest request payload an NLMSG_ERROR echoes, as
	// netlink_ack does without NETLINK_F_CAP_ACK; longer ones are CAPPED
	// so that an error always fits a client's smallest message.
	maxEcho = 8 << 10
	// maxErrMsg bounds AttrErrMsg for the same reason.
	maxErrMsg = 4 << 10
)

func align4(n int) int { return (n + 3) &^ 3 }

// Error is a request's failure as the daemon reported it: the errno of an
// NLMSG_ERROR or NLMSG_DONE and its AttrErrMsg. errors.Is(err,
// syscall.ENOENT) and errors.Is(err, fs.ErrNotExist) work on it through
// Errno.
type Error struct {
	Errno syscall.Errno
	Msg   string
	// Status is the exit status the command's tool gives for this
	// failure (tc: 255 for a line it cannot parse, 2 for a refused
	// request, 1 otherwise), sent as AttrExitStatus; 0 when the daemon
	// did not say (an older daemon), and the client picks one.
	Status int
}

func (e *Error) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return "ctl: " + e.Errno.Error()
}

func (e *Error) Unwrap() error { return e.Errno }

// errnoOf is the errno a failure is reported with: an *Error's, the first
// syscall.Errno in the chain, the errno that fs and context errors stand
// for, else EINVAL (tc's usual answer to a command it cannot carry out).
// A Handler or Dumper that wants another wraps one, e.g.
// fmt.Errorf("...: %w", &ctl.Error{Errno: syscall.ENOENT, Msg: ...}).
func errnoOf(err error) syscall.Errno {
	var ce *Error
	if errors.As(err, &ce) && ce.Errno != 0 {
		return ce.Errno
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		return errno
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, fs.ErrPermission):
		return syscall.EPERM
	case errors.Is(err, context.Canceled):
		return syscall.ECANCELED
	case errors.Is(err, context.DeadlineExceeded):
		return syscall.ETIMEDOUT
	}
	return syscall.EINVAL
}

// Errors a Client returns besides *Error.
var (
	// ErrDumpInconsistent is NLM_F_DUMP_INTR: objects were added or
	// deleted while the dump ran, so it is not a snapshot. Every object
	// that existed throughout was still delivered exactly once.
	ErrDumpInconsistent = errors.New("ctl: dump inconsistent: objects were added or deleted while it ran")
	// ErrProtocol marks a reply that breaks the protocol; the client
	// drops the connection after one.
	ErrProtocol = errors.New("ctl: protocol error")
	// ErrClosed is returned by a closed Client, and by Serve after Close.
	ErrClosed = errors.New("ctl: closed")
)

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, a...)...)
}
