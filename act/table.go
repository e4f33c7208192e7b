package act

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"netyard/stats"
)

// Mode is how an add-like request treats an existing object: the netlink
// flags tc sends for each verb. tcsyntax.Mode is this type.
type Mode uint8

const (
	// ModeAdd creates; an existing object is an error
	// (NLM_F_CREATE|NLM_F_EXCL: "add").
	ModeAdd Mode = iota + 1
	// ModeChange changes an existing object; a missing one is an error
	// (no flags: "tc filter change"). For actions it is ModeReplace:
	// iproute2 sends "tc actions change" with NLM_F_REPLACE.
	ModeChange
	// ModeReplace changes an existing object or creates a missing one
	// (NLM_F_CREATE|NLM_F_REPLACE: "replace").
	ModeReplace
)

func (m Mode) String() string {
	switch m {
	case ModeAdd:
		return "add"
	case ModeChange:
		return "change"
	case ModeReplace:
		return "replace"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// Errors the Table returns, wrapped with the kind and index; test them with
// errors.Is.
var (
	ErrNotFound = errors.New("no such action")
	ErrExists   = errors.New("action exists")
	// ErrBound is the kernel's -EPERM for deleting an action that a
	// filter still uses.
	ErrBound = errors.New("action is bound to a filter")
)

// Table holds one namespace's actions, numbered per kind, as the kernel's
// per-net tcf_idrinfo of each action kind (net/sched/act_api.c). Filters
// share an action by binding it: "action gact index 5" in two filters is
// one action with one set of counters.
//
// Reference counts follow the kernel's tcfa_refcnt and tcfa_bindcnt:
// "tc actions add" creates an action with ref 1, bind 0; an action a filter
// creates inline starts at ref 1, bind 1; every further filter that binds
// it adds one to both. A filter that goes away drops its binding (Unbind),
// and an action whose references are all gone leaves the table: an inline
// action dies with the last filter using it, a standalone one stays until
// "tc actions del".
//
// The table is control plane: a mutex guards it. The data path holds
// Action values and never reads the table.
type Table struct {
	env Env

	mu    sync.Mutex
	kinds map[string]map[uint32]*entry
}

type entry struct {
	a     Action
	kind  string
	index uint32
	refs  int
	binds int
}

// NewTable returns an empty table whose actions are made with env.
func NewTable(env Env) *Table {
	return &Table{env: env, kinds: make(map[string]map[uint32]*entry)}
}

// View is an action as "tc actions ls" shows it.
type View struct {
	Spec  Spec // a copy, with the index
	Stats stats.Snapshot
	// Refs and Binds are tc's "ref" and "bind".
	Refs, Binds int
	Action      Action
}

// Binding is a filter's hold on an action, what Bind returns and Unbind
// takes back.
type Binding struct {
	Kind   string
	Index  uint32
	Action Action
	// Created reports that Bind made the action (an inline action
	// without an index, or with an index not in use).
	Created bool
}

func (t *Table) idr(kind string) (map[uint32]*entry, error) {
	if !slices.Contains(Kinds, kind) {
		return nil, fmt.Errorf("action kind %q: not supported (have %v)", kind, Kinds)
	}
	m := t.kinds[kind]
	if m == nil {
		m = make(map[uint32]*entry)
		t.kinds[kind] = m
	}
	return m, nil
}

// freeIndex is the lowest unused index >= 1, as idr_alloc_u32 from 1 in
// tcf_idr_check_alloc picks it.
func freeIndex(m map[uint32]*entry) (uint32, error) {
	for i := uint32(1); i != 0; i++ {
		if _, used := m[i]; !used {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no free index")
}

// Add is "tc actions add/replace": it creates spec's action, or with
// ModeReplace/ModeChange updates the existing one at spec's index in place
// (same counters, same filters bound to it). Index 0 asks for the lowest
// free index, which is written back into spec. Add returns the live action.
//
// A standalone action cannot "goto chain": the kernel refuses it
// (tcf_action_check_ctrlact, "Can't goto chain with NULL proto/chain")
// because a chain belongs to a filter block. Replacing an action that
// filters use with one that does goto is refused for the same reason.
func (t *Table) Add(spec Spec, m Mode) (Action, error) {
	if _, ok := spec.(*Ref); ok {
		return nil, fmt.Errorf("%s index %d: give the action's parameters to add it", spec.Kind(), spec.Common().Index)
	}
	if err := noGoto(spec); err != nil {
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := t.idr(spec.Kind())
	if err != nil {
		return nil, err
	}
	c := spec.Common()
	if e := ids[c.Index]; c.Index != 0 && e != nil {
		if m == ModeAdd {
			return nil, fmt.Errorf("%s index %d: %w (use replace to change it)", e.kind, e.index, ErrExists)
		}
		if err := t.replace(e, spec); err != nil {
			return nil, err
		}
		return e.a, nil
	}
	e, err := t.create(ids, spec)
	if err != nil {
		return nil, err
	}
	e.refs = 1
	return e.a, nil
}

func noGoto(s Spec) error {
	vs := []Verdict{s.Common().Control}
	if p, ok := s.(*Police); ok {
		vs = append(vs, p.Exceed)
	}
	for _, v := range vs {
		if _, ok := v.Chain(); ok {
			return fmt.Errorf("%s: %s: only an action inside a filter can goto a chain (add it with the filter)", s.Kind(), v)
		}
	}
	return nil
}

// create makes spec live at its index (or the lowest free one) and enters
// it with no references; the caller sets them.
func (t *Table) create(ids map[uint32]*entry, spec Spec) (*entry, error) {
	c := spec.Common()
	idx := c.Index
	if idx == 0 {
		var err error
		if idx, err = freeIndex(ids); err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Kind(), err)
		}
	}
	s := cloneSpec(spec)
	s.Common().Index = idx
	a, err := New(s, t.env)
	if err != nil {
		return nil, err
	}
	c.Index = idx
	e := &entry{a: a, kind: spec.Kind(), index: idx}
	ids[idx] = e
	return e, nil
}

func (t *Table) replace(e *entry, spec Spec) error {
	s := cloneSpec(spec)
	s.Common().Index = e.index
	a, err := New(s, t.env)
	if err != nil {
		return err
	}
	return e.a.(replacer).replace(a, t.env.Now())
}

// Bind gives a filter an action: a *Ref binds the existing action it names
// (a missing one is ErrNotFound); any other spec creates a new action,
// bound, unless its index names an existing action of its kind, which is
// then bound as it is, its parameters unchanged: the kernel's init returns
// early for "exists && bind" (tcf_idr_check_alloc). A created action's
// index is written back into spec.
func (t *Table) Bind(spec Spec) (Binding, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	kind := spec.Kind()
	ids, err := t.idr(kind)
	if err != nil {
		return Binding{}, err
	}
	idx := spec.Common().Index
	if e := ids[idx]; idx != 0 && e != nil {
		e.refs++
		e.binds++
		return Binding{Kind: kind, Index: idx, Action: e.a}, nil
	}
	if _, ok := spec.(*Ref); ok {
		return Binding{}, fmt.Errorf("%s index %d: %w", kind, idx, ErrNotFound)
	}
	e, err := t.create(ids, spec)
	if err != nil {
		return Binding{}, err
	}
	e.refs, e.binds = 1, 1
	return Binding{Kind: kind, Index: e.index, Action: e.a, Created: true}, nil
}

// Unbind drops a filter's binding (tcf_action_destroy with bind): the
// action leaves the table when nothing refers to it any more. Unbinding
// something not bound is a bug in the caller and panics.
func (t *Table) Unbind(b Binding) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := t.kinds[b.Kind]
	e := ids[b.Index]
	if e == nil || e.a != b.Action || e.binds == 0 {
		panic(fmt.Sprintf("act: unbind of %s index %d, which is not bound (entry %+v)", b.Kind, b.Index, e))
	}
	e.binds--
	e.refs--
	if e.refs == 0 {
		delete(ids, b.Index)
	}
}

// Get returns one action ("tc actions get").
func (t *Table) Get(kind string, index uint32) (View, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := t.idr(kind)
	if err != nil {
		return View{}, err
	}
	e := ids[index]
	if e == nil {
		return View{}, fmt.Errorf("%s index %d: %w", kind, index, ErrNotFound)
	}
	return e.view(), nil
}

func (e *entry) view() View {
	return View{Spec: e.a.Spec(), Stats: e.a.Stats().Read(), Refs: e.refs, Binds: e.binds, Action: e.a}
}

// Delete removes a standalone action ("tc actions del"). An action bound
// to a filter is refused with ErrBound, as tcf_idr_delete_index refuses it
// with -EPERM.
func (t *Table) Delete(kind string, index uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := t.idr(kind)
	if err != nil {
		return err
	}
	e := ids[index]
	if e == nil {
		return fmt.Errorf("%s index %d: %w", kind, index, ErrNotFound)
	}
	if e.binds > 0 {
		return fmt.Errorf("%s index %d: %w (bind %d): delete the filters using it first", kind, index, ErrBound, e.binds)
	}
	if e.refs--; e.refs <= 0 {
		delete(ids, index)
	}
	return nil
}

// Flush deletes every action of kind that no filter binds ("tc actions
// flush action KIND") and returns how many went. Bound ones stay; when
// there were any, the error wraps ErrBound and names them. The kernel's
// tcf_del_walker instead stops at the first bound action with -EPERM,
// leaving the rest, in whatever order its idr walk found them.
func (t *Table) Flush(kind string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := t.idr(kind)
	if err != nil {
		return 0, err
	}
	n := 0
	var kept []uint32
	for idx, e := range ids {
		if e.binds > 0 {
			kept = append(kept, idx)
			continue
		}
		if e.refs--; e.refs <= 0 {
			delete(ids, idx)
			n++
		}
	}
	if kept != nil {
		slices.Sort(kept)
		return n, fmt.Errorf("%s: %d actions kept, index %v: %w", kind, len(kept), kept, ErrBound)
	}
	return n, nil
}

// List returns the actions of kind in index order ("tc actions ls").
func (t *Table) List(kind string) ([]View, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids, err := t.idr(kind)
	if err != nil {
		return nil, err
	}
	idx := make([]uint32, 0, len(ids))
	for i := range ids {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	out := make([]View, 0, len(idx))
	for _, i := range idx {
		out = append(out, ids[i].view())
	}
	return out, nil
}
