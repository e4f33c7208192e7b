package act

import (
	"fmt"
	"sync"
	"sync/atomic"

	"netyard/pkt"
	"netyard/stats"
)

// gact is the generic action: it returns its verdict and counts the packet
// (tcf_gact_act, net/sched/act_gact.c). The kernel's random mode
// (TCA_GACT_PROB) is not part of the Spec and is left out.
type gact struct {
	cell  stats.Cell
	p     atomic.Pointer[gactParams]
	index uint32
}

// gactParams hold the verdict and cookie, without the index (the action
// keeps its own): actions without a cookie share one gactParams per
// verdict (gactShared), so a table of millions of gact actions costs 32
// bytes an action, and reading them (a dump, the data path) finds the
// parameters in cache.
type gactParams struct {
	spec Gact
}

var gactShared sync.Map // Verdict -> *gactParams

var _ Action = (*gact)(nil)

func newGact(s *Gact, cell stats.Cell) (*gact, error) {
	prm, err := gactConfig(s)
	if err != nil {
		return nil, err
	}
	g := &gact{cell: cell, index: s.C.Index}
	g.p.Store(prm)
	return g, nil
}

func gactConfig(s *Gact) (*gactParams, error) {
	if err := checkControl("gact", "verdict", s.C.Control); err != nil {
		return nil, err
	}
	c, err := copyCommon(s.C)
	if err != nil {
		return nil, fmt.Errorf("gact: %w", err)
	}
	c.Index = 0
	if len(c.Cookie) > 0 || c.Flags != 0 {
		return &gactParams{spec: Gact{C: c}}, nil
	}
	if p, ok := gactShared.Load(c.Control); ok {
		return p.(*gactParams), nil
	}
	p, _ := gactShared.LoadOrStore(c.Control, &gactParams{spec: Gact{C: c}})
	return p.(*gactParams), nil
}

func (g *gact) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	v := g.p.Load().spec.C.Control
	pk, by := p.WireLen() // a GSO frame counts as its segments
	g.cell.UseN(c.Worker, pk, by, c.Now)
	if v == Shot {
		g.cell.Drop(c.Worker)
	}
	return v
}

func (g *gact) Spec() Spec {
	s := g.p.Load().spec
	s.C.Index = g.index
	return cloneSpec(&s)
}

// live is the running spec itself: shared, never to be changed, and
// without the index (AppendObject takes it from the table).
func (g *gact) live() Spec        { return &g.p.Load().spec }
func (g *gact) Stats() stats.Cell { return g.cell }

func (g *gact) replace(from Action, _ int64) error {
	f, ok := from.(*gact)
	if !ok {
		return errKindChange("gact", from)
	}
	g.p.Store(f.p.Load())
	return nil
}

func errKindChange(kind string, from Action) error {
	return fmt.Errorf("%s: cannot be replaced by an action of another kind (%T)", kind, from)
}
