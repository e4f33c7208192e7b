package tcsyntax

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// tc's exit status (tc/tc.c main returns do_cmd's value, so -1 is 255).
// Scripts and the kernel's tc selftests (tdc's "expExitCode") test them:
//
//	255  the command line cannot be parsed (usage(), invarg(), duparg()
//	     and every "return -1" of the parsers); also any refused
//	     "tc actions add|change|replace|get|del" (m_action.c turns the
//	     kernel's refusal into -1)
//	2    the kernel refused a qdisc, class or filter command (rtnl_talk
//	     failed: "return 2" in tc_qdisc.c, tc_class.c, tc_filter.c)
//	1    "Cannot find device", a listing that failed, a batch with a
//	     failed command (do_batch's EXIT_FAILURE)
const (
	StatusFailed  = 1
	StatusRefused = 2
	StatusSyntax  = 255
)

// ErrNoDevice is wrapped by a Target when a named device does not exist;
// tc says `Cannot find device "X"` and exits 1.
var ErrNoDevice = errors.New("cannot find device")

// NoDeviceError is ErrNoDevice for one device, worded as tc words it.
type NoDeviceError struct{ Name string }

func (e *NoDeviceError) Error() string { return fmt.Sprintf("Cannot find device %q", e.Name) }

// Is makes errors.Is(err, ErrNoDevice) true.
func (e *NoDeviceError) Is(target error) bool { return target == ErrNoDevice }

// Refusal is a Target's refusal worded as the kernel's extack message
// (NL_SET_ERR_MSG), which tc prints as "Error: MSG." It wraps ErrExists,
// ErrNotFound or nothing (EINVAL, "invalid in this configuration").
type Refusal struct {
	Err error
	Msg string
}

func (r *Refusal) Error() string { return r.Msg }
func (r *Refusal) Unwrap() error { return r.Err }

// Refuse is a Refusal with a formatted kernel message.
func Refuse(kind error, format string, a ...any) error {
	return &Refusal{Err: kind, Msg: fmt.Sprintf(format, a...)}
}

// optionErr marks a parse error of a kind's options (a qdisc's
// parse_qopt, a classifier's parse_fopt), for which tc returns 1, not
// the -1 of its own grammar.
func optionErr(err error) error {
	var sx *SyntaxError
	if errors.As(err, &sx) {
		return withStatus(StatusFailed, err)
	}
	return err
}

// parseStatus is the exit status of a command line Parse refused.
func parseStatus(err error) int {
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	return StatusSyntax
}

// statusError carries a failure's exit status.
type statusError struct {
	status int
	err    error
}

func (e *statusError) Error() string { return e.err.Error() }
func (e *statusError) Unwrap() error { return e.err }

func withStatus(status int, err error) error {
	var se *statusError
	if err == nil || errors.As(err, &se) {
		return err
	}
	return &statusError{status, err}
}

// ExitStatus is the exit status tc gives for err, as returned by Run: 0
// for nil, 255 for a command line it cannot parse, 2 for a refused
// request, 1 for the rest (see the constants).
func ExitStatus(err error) int {
	if err == nil {
		return 0
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.status
	}
	var sx *SyntaxError
	if errors.As(err, &sx) {
		return StatusSyntax
	}
	return StatusFailed
}

// execStatus is the status of cmd's failure err, as tc's source gives it
// for the object and verb.
func execStatus(cmd *Command, err error) int {
	var sx *SyntaxError
	switch {
	case errors.As(err, &sx):
		return StatusSyntax
	case errors.Is(err, ErrNoDevice):
		return StatusFailed
	case cmd.Object == ObjAction && cmd.Verb != VerbShow && cmd.Verb != VerbFlush:
		return StatusSyntax
	case cmd.Verb == VerbShow, cmd.Verb == VerbFlush:
		return StatusFailed
	case cmd.Object == ObjQdisc || cmd.Object == ObjClass || cmd.Object == ObjFilter:
		return StatusRefused
	}
	return StatusFailed
}

// reportExec writes a failed command's message as tc does: the kernel's
// extack as "Error: MSG." (a Refusal), netyard's own wording as "Error:
// ..." otherwise, then for filters and actions "We have an error talking
// to the kernel".
func reportExec(w io.Writer, cmd *Command, err error, prefix string) {
	var r *Refusal
	var nd *NoDeviceError
	switch {
	case errors.As(err, &nd):
		fmt.Fprintln(w, nd.Error())
		return
	case errors.As(err, &r) && r.Msg != "":
		msg := r.Msg
		if !strings.HasSuffix(msg, ".") {
			msg += "."
		}
		fmt.Fprintf(w, "Error: %s\n", msg)
	default:
		fmt.Fprintf(w, "Error: %s%v\n", prefix, err)
	}
	if cmd != nil && (cmd.Object == ObjFilter || cmd.Object == ObjAction) && cmd.Verb != VerbShow {
		fmt.Fprintln(w, "We have an error talking to the kernel")
	}
}
