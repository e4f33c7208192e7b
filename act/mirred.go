package act

import (
	"fmt"
	"sync/atomic"

	"netyard/pkt"
	"netyard/stats"
)

// mirred redirects or mirrors packets to a device (tcf_mirred_act,
// net/sched/act_mirred.c). It never calls into the target's path: the
// Redirector puts the packet on the target's backlog, with its redirect TTL
// checked and decremented, so that a redirect loop ends by the TTL and not
// by the kernel's per-CPU recursion limit (MIRRED_RECURSION_LIMIT), which
// netyard has no use for: nothing recurses.
//
// What travels, as in the kernel:
//   - redirect whose control verdict gives the packet away (drop, stolen,
//     queued, trap: tcf_mirred_can_reinsert): the packet itself goes to the
//     target and Exec returns Consumed, whatever the control says. The
//     kernel does this only at ingress and clones at egress; the outcome is
//     the same (the target gets the packet, the original is gone), so
//     netyard takes the cheaper way at both hooks.
//   - redirect with any other control (pass, pipe, continue, ...): a copy
//     goes to the target and the original goes on with the control
//     verdict. If the copy cannot be made or sent, Exec returns Shot, as
//     the kernel turns a failed redirect into TC_ACT_SHOT.
//   - mirror: a copy goes to the target and the original goes on with the
//     control verdict, also when the copy fails (it is counted).
//
// Counting: every packet is counted (Use). A packet that the target's
// backlog refused is a drop; one whose redirect TTL was spent (ErrLoop) is
// an overlimit, so that "tc -s actions ls action mirred" tells loops from
// congestion. The kernel counts both as overlimits. A copy that the pool
// could not make is a drop.
type mirred struct {
	cell stats.Cell
	p    atomic.Pointer[mirredParams]
}

type mirredParams struct {
	spec     Mirred
	dev      int32
	reinsert bool
}

var _ Action = (*mirred)(nil)

func newMirred(s *Mirred, env Env, cell stats.Cell) (*mirred, error) {
	prm, err := mirredConfig(s, env)
	if err != nil {
		return nil, err
	}
	m := &mirred{cell: cell}
	m.p.Store(prm)
	return m, nil
}

func mirredConfig(s *Mirred, env Env) (*mirredParams, error) {
	if err := checkControl("mirred", "control", s.C.Control); err != nil {
		return nil, err
	}
	if s.Dev == "" {
		return nil, fmt.Errorf("mirred: no target device: give \"dev NAME\"")
	}
	dev, ok := env.DeviceIndex(s.Dev)
	if !ok {
		return nil, fmt.Errorf("mirred: device %q: no such device", s.Dev)
	}
	c, err := copyCommon(s.C)
	if err != nil {
		return nil, fmt.Errorf("mirred: %w", err)
	}
	spec := *s
	spec.C = c
	return &mirredParams{
		spec:     spec,
		dev:      dev,
		reinsert: !s.Mirror && givesAway(s.C.Control),
	}, nil
}

// givesAway reports whether the caller would free the packet after this
// verdict anyway (tcf_mirred_can_reinsert): then a redirect can hand over
// the packet itself instead of a copy.
func givesAway(v Verdict) bool {
	switch v {
	case Shot, Stolen, Queued, Trap:
		return true
	}
	return false
}

func (m *mirred) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	prm := m.p.Load()
	pk, by := p.WireLen() // a GSO frame counts as its segments
	m.cell.UseN(c.Worker, pk, by, c.Now)
	ingress := prm.spec.Ingress
	if prm.reinsert {
		// p is the Redirector's from here on, also when it fails.
		if err := c.Out.Mirred(c, p, prm.dev, ingress); err != nil {
			m.count(c.Worker, err)
		}
		return Consumed
	}
	q, err := p.Clone()
	if err != nil {
		m.cell.Drop(c.Worker)
		if !prm.spec.Mirror {
			return Shot
		}
		return prm.spec.C.Control
	}
	if err := c.Out.Mirred(c, q, prm.dev, ingress); err != nil {
		m.count(c.Worker, err)
		if !prm.spec.Mirror {
			return Shot
		}
	}
	// A copy costs the original one unit of its redirect TTL too, so
	// that every mirred a packet runs, copy or move, takes one unit from
	// it: a packet with TTL t makes at most t copies in its life, and
	// the whole tree it starts is at most 2^t packets whatever the rules
	// (docs/LOOPS.md). The kernel has no such bound on fan-out.
	if p.TTL > 0 {
		p.TTL--
	}
	return prm.spec.C.Control
}

// count counts a redirect or mirror that failed (the target device gone,
// the packet's redirect TTL spent, a full backlog) as an overlimit, as
// tcf_mirred_act does for each (tcf_action_inc_overlimit_qstats; a bpf
// program's failed redirect too, BPFRedirect).
func (m *mirred) count(w int, _ error) { m.cell.Overlimit(w) }

func (m *mirred) Spec() Spec { s := m.p.Load().spec; return cloneSpec(&s) }

// live is the running spec itself: shared, never to be changed.
func (m *mirred) live() Spec        { return &m.p.Load().spec }
func (m *mirred) Stats() stats.Cell { return m.cell }

func (m *mirred) replace(from Action, _ int64) error {
	f, ok := from.(*mirred)
	if !ok {
		return errKindChange("mirred", from)
	}
	m.p.Store(f.p.Load())
	return nil
}
