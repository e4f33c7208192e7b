package act

import (
	"fmt"
	"strings"

	"netyard/bpf/cbpf"

	"netyard/stats"
)

// Kinds lists the action kinds New knows, in the order tc's documentation
// lists them.
var Kinds = kindNames[:]

// New makes spec live: it validates the parameters, resolves what they name
// through env (mirred's device) and gives the action a stats cell from
// env.Counters(), installed at env.Now(). Errors name the parameter to
// fix. New does not look at spec's index: numbering is the Table's job.
//
// spec's Control (and Police's Exceed) is taken as given: the zero Verdict
// is OK ("pass"), so a caller that builds a Spec by hand fills in
// DefaultControl, as tcsyntax does.
func New(spec Spec, env Env) (Action, error) {
	if spec == nil {
		return nil, fmt.Errorf("action: no configuration")
	}
	cell := env.Counters().Alloc(env.Now(), 0)
	a, err := build(spec, env, cell)
	if err != nil {
		env.Counters().Free(cell)
	}
	return a, err
}

// build makes spec live with the given cell; the zero Cell counts nothing
// (an action made only to lend its parameters to a replace).
func build(spec Spec, env Env, cell stats.Cell) (Action, error) {
	switch s := spec.(type) {
	case *Gact:
		return newGact(s, cell)
	case *Mirred:
		return newMirred(s, env, cell)
	case *Vlan:
		return newVlan(s, cell)
	case *Skbedit:
		return newSkbedit(s, cell)
	case *Police:
		return newPolice(s, env, cell)
	case *Bpf:
		return newBpf(s, env, cell)
	case *Ref:
		return nil, fmt.Errorf("%s index %d: a reference names an existing action; it cannot be made on its own", s.ActKind, s.C.Index)
	}
	return nil, fmt.Errorf("action %q: unknown kind (have %v)", spec.Kind(), Kinds)
}

// checkControl validates a control verdict as tcf_action_check_ctrlact and
// tcf_action_valid do (net/sched/act_api.c): the TC_ACT_* values up to
// TC_ACT_TRAP, "goto chain N" and "jump N". Repeat and Redirect are
// refused although the kernel accepts them: an action that returns Repeat
// is run again up to 32 times and then the list stops, which is never what
// a configuration means, and Redirect is bpf_redirect's verdict, which only
// cls_bpf and act_bpf can set up. Consumed is internal.
func checkControl(kind, what string, v Verdict) error {
	switch v {
	case Unspec, OK, Reclassify, Shot, Pipe, Stolen, Queued, Trap:
		return nil
	case Repeat, Redirect, Consumed:
		return fmt.Errorf("%s: %s %q: not a verdict a configuration can choose (use pass, drop, pipe, continue, reclassify, stolen, trap, goto chain N or jump N)", kind, what, v)
	}
	if _, ok := v.Chain(); ok {
		return nil
	}
	if n, ok := v.JumpCount(); ok {
		if n == 0 || n > jumpMask {
			return fmt.Errorf("%s: %s jump %d: must be 1..%d", kind, what, n, jumpMask)
		}
		return nil
	}
	return fmt.Errorf("%s: %s %d: not a tc verdict", kind, what, int32(v))
}

// copyCommon returns c with its own copy of the cookie, so that a Spec kept
// by an action shares nothing with the caller's.
func copyCommon(c Common) (Common, error) {
	if len(c.Cookie) > MaxCookieLen {
		return c, fmt.Errorf("cookie of %d bytes: at most %d (TC_COOKIE_MAX_SIZE)", len(c.Cookie), MaxCookieLen)
	}
	if c.Cookie != nil {
		c.Cookie = append([]byte(nil), c.Cookie...)
	}
	return c, nil
}

// MaxCookieLen is TC_COOKIE_MAX_SIZE: tc's action cookie holds at most 16
// bytes.
const MaxCookieLen = 16

// cloneSpec returns a deep copy of s, for the table and the views it hands
// out: a Spec read by one goroutine is never changed by another.
func cloneSpec(s Spec) Spec {
	switch v := s.(type) {
	case *Gact:
		return cloneOf(v)
	case *Mirred:
		m := cloneOf(v).(*Mirred)
		// Not a slice of the caller's buffer (a whole batch chunk,
		// which a stored action would keep alive).
		m.Dev = strings.Clone(m.Dev)
		return m
	case *Vlan:
		return cloneOf(v)
	case *Skbedit:
		return cloneOf(v)
	case *Police:
		return cloneOf(v)
	case *Ref:
		return cloneOf(v)
	case *Bpf:
		b := cloneOf(v).(*Bpf)
		b.Bytecode = append([]cbpf.Insn(nil), b.Bytecode...)
		b.File, b.Object, b.Section, b.Name = strings.Clone(b.File), strings.Clone(b.Object), strings.Clone(b.Section), strings.Clone(b.Name)
		return b
	}
	return s
}

// cloneOf copies a spec struct and its cookie, the one field that is not a
// value.
func cloneOf[T any, P interface {
	*T
	Spec
}](v P) Spec {
	c := *(*T)(v)
	p := P(&c)
	p.Common().Cookie = cloneBytes(p.Common().Cookie)
	return p
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// replacer is implemented by every action New makes: replace takes the
// parameters of from, a freshly made action of the same kind, keeping the
// receiver's identity and stats cell, as the kernel's init with "ovr" swaps
// an action's params under RCU (rcu_replace_pointer) while filters keep
// pointing at the same tc_action. The data path sees either the old or the
// new parameters, never a mix: each kind keeps them behind one atomic
// pointer.
type replacer interface {
	replace(from Action, now int64) error
}
