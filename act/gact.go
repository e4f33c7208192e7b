package act

import (
	"fmt"
	"sync"
	"sync/atomic"

	"netyard/bpf"
	"netyard/pkt"
	"netyard/stats"
)

// gact is the generic action: it returns its verdict and counts the packet
// (tcf_gact_act, net/sched/act_gact.c), or with a random mode its
// random verdict for some packets (gact_net_rand, gact_determ).
type gact struct {
	cell    stats.Cell
	p       atomic.Pointer[gactParams]
	index   uint32
	packets atomic.Uint32 // gact_determ's count
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
	return newGactIn(new(gact), s, cell)
}

// newGactIn is newGact into g, new and zero (Table.create's come from a
// prefault pool).
func newGactIn(g *gact, s *Gact, cell stats.Cell) (*gact, error) {
	prm, err := gactConfig(s)
	if err != nil {
		return nil, err
	}
	g.cell, g.index = cell, s.C.Index
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
	if s.Random != RandomNone {
		if s.Random > RandomDeterm {
			return nil, fmt.Errorf("gact: random type %d: must be netrand or determ", s.Random)
		}
		if s.RandomVal == 0 || s.RandomVal > 10000 {
			// tcf_gact_init: a zero pval is -EINVAL; tc refuses
			// more than 10000.
			return nil, fmt.Errorf("gact: random val %d: must be 1..10000", s.RandomVal)
		}
		if err := checkControl("gact", "random verdict", s.RandomAction); err != nil {
			return nil, err
		}
		if _, chain := s.RandomAction.Chain(); chain {
			// tcf_gact_init
			return nil, fmt.Errorf("gact: goto chain not allowed on fallback")
		}
	}
	if len(c.Cookie) > 0 || c.Flags != 0 || s.Random != RandomNone {
		return &gactParams{spec: Gact{C: c, Random: s.Random, RandomAction: s.RandomAction, RandomVal: s.RandomVal}}, nil
	}
	if p, ok := gactShared.Load(c.Control); ok {
		return p.(*gactParams), nil
	}
	p, _ := gactShared.LoadOrStore(c.Control, &gactParams{spec: Gact{C: c}})
	return p.(*gactParams), nil
}

func (g *gact) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	s := &g.p.Load().spec
	v := s.C.Control
	switch s.Random {
	case RandomDeterm:
		if g.packets.Add(1)%uint32(s.RandomVal) == 0 {
			v = s.RandomAction
		}
	case RandomNetrand:
		// gact_net_rand: get_random_u32_below(pval), here from the
		// worker's seeded generator so that replays repeat
		if c.randBelow(uint32(s.RandomVal)) == 0 {
			v = s.RandomAction
		}
	}
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

// randBelow returns a number in [0, n) from the worker's seeded generator
// (bpf.Rand32 on c.BPF.Rand), so that replay and the lab repeat exactly;
// the multiply-shift maps it to [0, n) (Lemire's method, without the
// rejection: for n <= 10000 the bias is below 2^-18).
func (c *Ctx) randBelow(n uint32) uint32 {
	return uint32(uint64(bpf.Rand32(c.BPF.Rand)) * uint64(n) >> 32)
}
