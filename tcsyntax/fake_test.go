package tcsyntax

import (
	"cmp"
	"fmt"
	"slices"

	"netyard/act"
	"netyard/cls"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
	"netyard/stats"
)

// fakeTarget is a map-backed Target with the kernel's bookkeeping where
// the printed output depends on it: automatic handles and priorities,
// action indices, ref and bind counts. Statistics are whatever a test
// puts in.
type fakeTarget struct {
	now     int64
	qdiscs  []QdiscView
	filters []*fakeFilter
	actions map[string]map[uint32]*fakeAction
	classes []ClassView
	nextQH  uint32
}

type fakeFilter struct {
	spec  cls.Filter
	stats stats.Snapshot
	acts  []*fakeAction
}

type fakeAction struct {
	spec        act.Spec
	stats       stats.Snapshot
	refs, binds int
}

var (
	_ Target      = (*fakeTarget)(nil)
	_ Clock       = (*fakeTarget)(nil)
	_ ClassLister = (*fakeTarget)(nil)
)

func newFake() *fakeTarget {
	return &fakeTarget{now: 1000e9, actions: map[string]map[uint32]*fakeAction{}, nextQH: 0x8001}
}

func (t *fakeTarget) Now() int64 { return t.now }

func (t *fakeTarget) Classes(dev string) ([]ClassView, error) {
	var out []ClassView
	for _, c := range t.classes {
		if dev == "" || c.Dev == dev {
			out = append(out, c)
		}
	}
	return out, nil
}

func (t *fakeTarget) AddQdisc(q *qdisc.Spec, m Mode) error {
	i := slices.IndexFunc(t.qdiscs, func(v QdiscView) bool { return v.Spec.Dev == q.Dev && v.Spec.Parent == q.Parent })
	switch {
	case i >= 0 && m == ModeAdd:
		return fmt.Errorf("qdisc at %s on %s: %w", FormatClassID(q.Parent), q.Dev, ErrExists)
	case i < 0 && m == ModeChange:
		return fmt.Errorf("qdisc at %s on %s: %w", FormatClassID(q.Parent), q.Dev, ErrNotFound)
	}
	spec := *q
	switch p := spec.Params.(type) {
	case fifo.Pfifo:
		if p.Limit == 0 {
			spec.Params = fifo.Pfifo{Limit: fifo.DefaultLimit}
		}
	case fifo.Bfifo:
		if p.Limit == 0 {
			spec.Params = fifo.Bfifo{Limit: fifo.DefaultLimit * 1500}
		}
	}
	if i >= 0 {
		if spec.Handle == 0 {
			spec.Handle = t.qdiscs[i].Spec.Handle
		}
		t.qdiscs[i].Spec = spec
		return nil
	}
	if spec.Handle == 0 {
		spec.Handle = t.nextQH << 16
		t.nextQH++
	}
	q.Handle = spec.Handle
	t.qdiscs = append(t.qdiscs, QdiscView{Spec: spec})
	return nil
}

func (t *fakeTarget) DelQdisc(q *qdisc.Spec) error {
	i := slices.IndexFunc(t.qdiscs, func(v QdiscView) bool {
		return v.Spec.Dev == q.Dev && v.Spec.Parent == q.Parent && (q.Handle == 0 || v.Spec.Handle == q.Handle)
	})
	if i < 0 {
		return fmt.Errorf("qdisc at %s on %s: %w", FormatClassID(q.Parent), q.Dev, ErrNotFound)
	}
	t.qdiscs = slices.Delete(t.qdiscs, i, i+1)
	return nil
}

func (t *fakeTarget) Qdiscs(dev string) ([]QdiscView, error) {
	var out []QdiscView
	for _, q := range t.qdiscs {
		if dev == "" || q.Spec.Dev == dev {
			out = append(out, q)
		}
	}
	return out, nil
}

func sameBlock(a, b *cls.Filter) bool { return a.Dev == b.Dev && a.Parent == b.Parent }

func (t *fakeTarget) AddFilter(f *cls.Filter, m Mode) error {
	if f.Prio == 0 {
		// The kernel's choice: 49152 first, then one below the lowest.
		f.Prio = 0xc000
		for _, o := range t.filters {
			if sameBlock(&o.spec, f) && o.spec.Chain == f.Chain && o.spec.Prio <= f.Prio {
				f.Prio = o.spec.Prio - 1
			}
		}
	}
	if f.Handle == 0 {
		f.Handle = 1
		for _, o := range t.filters {
			if sameBlock(&o.spec, f) && o.spec.Chain == f.Chain && o.spec.Prio == f.Prio && o.spec.Handle >= f.Handle {
				f.Handle = o.spec.Handle + 1
			}
		}
	}
	i := slices.IndexFunc(t.filters, func(o *fakeFilter) bool {
		return sameBlock(&o.spec, f) && o.spec.Chain == f.Chain && o.spec.Prio == f.Prio && o.spec.Handle == f.Handle
	})
	switch {
	case i >= 0 && m == ModeAdd:
		return fmt.Errorf("filter pref %d handle %#x: %w", f.Prio, f.Handle, ErrExists)
	case i < 0 && m == ModeChange:
		return fmt.Errorf("filter pref %d handle %#x: %w", f.Prio, f.Handle, ErrNotFound)
	}
	acts, err := t.bind(f.Actions)
	if err != nil {
		return err
	}
	nf := &fakeFilter{spec: *f, acts: acts, stats: stats.Snapshot{Installed: t.now}}
	if i >= 0 {
		t.unbind(t.filters[i].acts)
		t.filters[i] = nf
	} else {
		t.filters = append(t.filters, nf)
	}
	slices.SortStableFunc(t.filters, func(a, b *fakeFilter) int {
		return cmp.Or(cmp.Compare(a.spec.Dev, b.spec.Dev), cmp.Compare(a.spec.Parent, b.spec.Parent),
			cmp.Compare(a.spec.Chain, b.spec.Chain), cmp.Compare(a.spec.Prio, b.spec.Prio),
			cmp.Compare(a.spec.Handle, b.spec.Handle))
	})
	return nil
}

// bind makes a filter's actions: a Ref or an index already in the table
// binds that action, as in the kernel; anything else is created.
func (t *fakeTarget) bind(specs []act.Spec) ([]*fakeAction, error) {
	var out []*fakeAction
	for _, s := range specs {
		c := s.Common()
		if a := t.actions[s.Kind()][c.Index]; c.Index != 0 && a != nil {
			a.refs++
			a.binds++
			out = append(out, a)
			continue
		}
		if _, isRef := s.(*act.Ref); isRef {
			return nil, fmt.Errorf("action %s index %d: %w", s.Kind(), c.Index, ErrNotFound)
		}
		a := t.create(s)
		a.binds = 1
		out = append(out, a)
	}
	return out, nil
}

func (t *fakeTarget) create(s act.Spec) *fakeAction {
	tab := t.actions[s.Kind()]
	if tab == nil {
		tab = map[uint32]*fakeAction{}
		t.actions[s.Kind()] = tab
	}
	c := s.Common()
	if c.Index == 0 {
		c.Index = 1
		for tab[c.Index] != nil {
			c.Index++
		}
	}
	a := &fakeAction{spec: s, refs: 1, stats: stats.Snapshot{Installed: t.now}}
	tab[c.Index] = a
	return a
}

func (t *fakeTarget) unbind(acts []*fakeAction) {
	for _, a := range acts {
		a.refs--
		a.binds--
		if a.refs == 0 {
			delete(t.actions[a.spec.Kind()], a.spec.Common().Index)
		}
	}
}

func (t *fakeTarget) DelFilter(f *cls.Filter) error {
	n := 0
	t.filters = slices.DeleteFunc(t.filters, func(o *fakeFilter) bool {
		match := sameBlock(&o.spec, f) && (f.Chain == 0 || o.spec.Chain == f.Chain) &&
			(f.Prio == 0 || o.spec.Prio == f.Prio) && (f.Protocol == 0 || o.spec.Protocol == f.Protocol) &&
			(f.Handle == 0 || o.spec.Handle == f.Handle)
		if match {
			t.unbind(o.acts)
			n++
		}
		return match
	})
	if n == 0 && f.Prio != 0 {
		return fmt.Errorf("filter pref %d: %w", f.Prio, ErrNotFound)
	}
	return nil
}

func (t *fakeTarget) view(a *fakeAction) ActionView {
	return ActionView{Spec: a.spec, Stats: a.stats, Refs: a.refs, Binds: a.binds}
}

func (t *fakeTarget) Filters(dev string, parent uint32, chain *uint32) ([]FilterView, error) {
	var out []FilterView
	for _, f := range t.filters {
		if f.spec.Dev != dev || f.spec.Parent != parent || chain != nil && f.spec.Chain != *chain {
			continue
		}
		v := FilterView{Spec: f.spec, Stats: f.stats}
		for _, a := range f.acts {
			v.Actions = append(v.Actions, t.view(a))
		}
		out = append(out, v)
	}
	return out, nil
}

func (t *fakeTarget) AddActions(specs []act.Spec, m Mode) error {
	for _, s := range specs {
		if _, isRef := s.(*act.Ref); isRef {
			return fmt.Errorf("action %s index %d: needs parameters", s.Kind(), s.Common().Index)
		}
		c := s.Common()
		old := t.actions[s.Kind()][c.Index]
		switch {
		case c.Index != 0 && old != nil && m == ModeAdd:
			return fmt.Errorf("action %s index %d: %w", s.Kind(), c.Index, ErrExists)
		case c.Index != 0 && old != nil:
			old.spec = s
		case m == ModeChange:
			return fmt.Errorf("action %s index %d: %w", s.Kind(), c.Index, ErrNotFound)
		default:
			t.create(s)
		}
	}
	return nil
}

func (t *fakeTarget) DelAction(kind string, index uint32) error {
	a := t.actions[kind][index]
	switch {
	case a == nil:
		return fmt.Errorf("action %s index %d: %w", kind, index, ErrNotFound)
	case a.binds > 0:
		return fmt.Errorf("action %s index %d is bound to a filter", kind, index)
	}
	delete(t.actions[kind], index)
	return nil
}

func (t *fakeTarget) FlushActions(kind string) error {
	for i, a := range t.actions[kind] {
		if a.binds == 0 {
			delete(t.actions[kind], i)
		}
	}
	return nil
}

func (t *fakeTarget) Actions(kind string) ([]ActionView, error) {
	var idx []uint32
	for i := range t.actions[kind] {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var out []ActionView
	for _, i := range idx {
		out = append(out, t.view(t.actions[kind][i]))
	}
	return out, nil
}

func (t *fakeTarget) Action(kind string, index uint32) (ActionView, error) {
	a := t.actions[kind][index]
	if a == nil {
		return ActionView{}, fmt.Errorf("action %s index %d: %w", kind, index, ErrNotFound)
	}
	return t.view(a), nil
}
