package act

import (
	"errors"
	"fmt"
	mathbits "math/bits"
	"netyard/internal/prefault"
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
	// ErrFlagsMismatch: a filter binds a standalone action whose skip_hw
	// or skip_sw is not the filter's.
	ErrFlagsMismatch = errors.New("Mismatch between action and filter offload flags")
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
// A table may hold millions of actions. Each kind's actions sit in pages
// of 256 indices (an entry is 24 bytes in its page, no object of its own),
// found by a map from page number and walked in index order through a
// sorted list of page numbers: a dump resumes after an index with a binary
// search, never a walk from the first entry (the kernel's tcf_dump_walker
// walks from the first entry for every batch). Counters live in the
// table's stats.Set, tagged with the kind and index, so that the actions
// changed since a generation are found from its change logs.
//
// The table is control plane: a read-write mutex guards it (dumps and
// lists read, changes write). The data path holds Action values and never
// reads the table.
type Table struct {
	env   Env
	cells *stats.Set

	mu    sync.RWMutex
	kinds [len(kindNames)]*kindTable
	// structGen counts adds and deletes (not replaces): a dump whose
	// batches see different values saw different sets of actions.
	structGen uint64
	// unbound are the counters of actions that left the table with
	// their last filter: the data path may still run them until the
	// hook's new block is published (ReleaseUnbound).
	unbound []stats.Cell
	// gacts and pages hand out new gact actions and table pages first
	// written by another goroutine (internal/prefault): a bulk load of
	// a million filters with a gact each pays their page faults beside
	// its critical path. Under mu.
	gacts *prefault.Objects[gact]
	pages *prefault.Objects[page]
}

// kindNames are the kinds in tag order: a cell's tag is the kind's
// position here (from 1) << 32 | the index.
var kindNames = [...]string{"gact", "mirred", "vlan", "skbedit", "police", "bpf"}

func kindID(kind string) int {
	for i, k := range kindNames {
		if k == kind {
			return i
		}
	}
	return -1
}

type kindTable struct {
	kind  string
	id    int
	pages map[uint32]*page
	keys  []uint32 // page numbers, sorted
	n     int
	// hint is at or below the lowest free index >= 1.
	hint uint32
}

const (
	pageShift = 8
	pageSize  = 1 << pageShift
)

type page struct {
	used [pageSize / 64]uint64
	n    int
	e    [pageSize]entry
}

type entry struct {
	a     Action
	refs  int32
	binds int32
}

func (pg *page) has(off uint32) bool { return pg.used[off/64]&(1<<(off%64)) != 0 }

// NewTable returns an empty table whose actions are made with env and
// count in env.Counters().
func NewTable(env Env) *Table {
	return &Table{env: env, cells: env.Counters(),
		gacts: prefault.NewObjects[gact](1024, 8, 256), pages: prefault.NewObjects[page](2, 4, 2)}
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

func (t *Table) idr(kind string) (*kindTable, error) {
	id := kindID(kind)
	if id < 0 {
		return nil, fmt.Errorf("action kind %q: not supported (have %v)", kind, Kinds)
	}
	k := t.kinds[id]
	if k == nil {
		k = &kindTable{kind: kind, id: id, pages: make(map[uint32]*page), hint: 1}
		t.kinds[id] = k
	}
	return k, nil
}

// get returns the entry at index, or nil.
func (k *kindTable) get(index uint32) *entry {
	pg := k.pages[index>>pageShift]
	if pg == nil || !pg.has(index%pageSize) {
		return nil
	}
	return &pg.e[index%pageSize]
}

// put enters a at index, which is free.
func (k *kindTable) put(index uint32, a Action, pages *prefault.Objects[page]) *entry {
	key := index >> pageShift
	pg := k.pages[key]
	if pg == nil {
		pg = pages.Get()
		k.pages[key] = pg
		if n := len(k.keys); n == 0 || k.keys[n-1] < key {
			k.keys = append(k.keys, key)
		} else {
			i, _ := slices.BinarySearch(k.keys, key)
			k.keys = slices.Insert(k.keys, i, key)
		}
	}
	off := index % pageSize
	pg.used[off/64] |= 1 << (off % 64)
	pg.n++
	k.n++
	pg.e[off] = entry{a: a}
	return &pg.e[off]
}

// remove takes index out; the caller frees its counters.
func (k *kindTable) remove(index uint32) {
	key := index >> pageShift
	pg := k.pages[key]
	off := index % pageSize
	pg.used[off/64] &^= 1 << (off % 64)
	pg.e[off] = entry{}
	pg.n--
	k.n--
	if index < k.hint {
		k.hint = index
	}
	if pg.n == 0 {
		delete(k.pages, key)
		i, _ := slices.BinarySearch(k.keys, key)
		k.keys = slices.Delete(k.keys, i, i+1)
	}
}

// freeIndex is the lowest unused index >= 1, as idr_alloc_u32 from 1 in
// tcf_idr_check_alloc picks it. It starts at the hint, so numbering a
// million actions one after the other is linear, not quadratic.
func (k *kindTable) freeIndex() (uint32, error) {
	for i := max(k.hint, 1); i != 0; {
		pg := k.pages[i>>pageShift]
		if pg == nil {
			k.hint = i
			return i, nil
		}
		if pg.n == pageSize {
			i = (i>>pageShift + 1) << pageShift
			continue
		}
		if !pg.has(i % pageSize) {
			k.hint = i
			return i, nil
		}
		i++
	}
	return 0, fmt.Errorf("no free index")
}

// walk calls fn for the entries with an index above after, in index
// order, until fn returns false.
func (k *kindTable) walk(after uint32, fn func(index uint32, e *entry) bool) {
	start, _ := slices.BinarySearch(k.keys, after>>pageShift)
	for _, key := range k.keys[start:] {
		pg := k.pages[key]
		for w, bits := range pg.used {
			for bits != 0 {
				b := uint32(mathbits.TrailingZeros64(bits))
				bits &= bits - 1
				off := uint32(w)*64 + b
				index := key<<pageShift | off
				if index <= after {
					continue
				}
				if !fn(index, &pg.e[off]) {
					return
				}
			}
		}
	}
}

func tag(id int, index uint32) uint64 { return uint64(id+1)<<32 | uint64(index) }

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
	k, err := t.idr(spec.Kind())
	if err != nil {
		return nil, err
	}
	c := spec.Common()
	if e := k.get(c.Index); c.Index != 0 && e != nil {
		if m == ModeAdd {
			return nil, fmt.Errorf("%s index %d: %w (use replace to change it)", k.kind, c.Index, ErrExists)
		}
		if err := t.replace(e, c.Index, spec); err != nil {
			return nil, err
		}
		return e.a, nil
	}
	e, err := t.create(k, spec)
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
func (t *Table) create(k *kindTable, spec Spec) (*entry, error) {
	c := spec.Common()
	idx := c.Index
	if idx == 0 {
		var err error
		if idx, err = k.freeIndex(); err != nil {
			return nil, fmt.Errorf("%s: %w", spec.Kind(), err)
		}
	}
	cell := t.cells.Alloc(t.env.Now(), tag(k.id, idx))
	var a Action
	var err error
	if g, ok := spec.(*Gact); ok {
		// The common case of a bulk load: newGact keeps nothing of
		// the spec, so its copy with the index stays on the stack.
		gs := *g
		gs.C.Index = idx
		a, err = newGactIn(t.gacts.Get(), &gs, cell)
	} else {
		s := cloneSpec(spec)
		s.Common().Index = idx
		a, err = build(s, t.env, cell)
	}
	if err != nil {
		t.cells.Free(cell)
		return nil, err
	}
	c.Index = idx
	t.structGen++
	return k.put(idx, a, t.pages), nil
}

func (t *Table) replace(e *entry, index uint32, spec Spec) error {
	s := cloneSpec(spec)
	s.Common().Index = index
	a, err := build(s, t.env, stats.Cell{})
	if err != nil {
		return err
	}
	if err := e.a.(replacer).replace(a, t.env.Now()); err != nil {
		return err
	}
	t.cells.Changed(e.a.Stats())
	return nil
}

// drop removes an entry whose references are gone and frees its
// counters. It is for actions no published block holds (standalone ones).
func (t *Table) drop(k *kindTable, index uint32, e *entry) {
	t.cells.Free(e.a.Stats())
	releaseAction(e.a) // before remove, which clears the entry
	k.remove(index)
	t.structGen++
}

// releaseAction tells an action that has left the table that it is gone:
// a bpf action's eBPF program leaves `netyard bpf prog show`'s listing,
// as the kernel drops the program's last reference in tcf_bpf_cleanup.
// A run already under way may still finish; the listing is all it ends.
func releaseAction(a Action) {
	if r, ok := a.(interface{ release() }); ok {
		r.release()
	}
}

// ReleaseUnbound frees the counters of the actions that left the table
// with their last filter. The datapath calls it once the blocks without
// those filters are published: until then a worker may still count into
// them, and a freed slot must not be handed to a new action before (the
// counters' grace period starts at the free).
func (t *Table) ReleaseUnbound() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, c := range t.unbound {
		t.cells.Free(c)
	}
	t.unbound = t.unbound[:0]
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
	k, err := t.idr(kind)
	if err != nil {
		return Binding{}, err
	}
	idx := spec.Common().Index
	if e := k.get(idx); idx != 0 && e != nil {
		// tcf_action_init: a filter binding a standalone action must
		// have the action's skip_hw and skip_sw.
		if r, ok := spec.(*Ref); ok && r.BindFlags&^FlagNoPercpu != e.a.Spec().Common().Flags&(FlagSkipHW|FlagSkipSW) {
			return Binding{}, fmt.Errorf("%s index %d: %w", kind, idx, ErrFlagsMismatch)
		}
		e.refs++
		e.binds++
		return Binding{Kind: kind, Index: idx, Action: e.a}, nil
	}
	if _, ok := spec.(*Ref); ok {
		return Binding{}, fmt.Errorf("%s index %d: %w", kind, idx, ErrNotFound)
	}
	e, err := t.create(k, spec)
	if err != nil {
		return Binding{}, err
	}
	e.refs, e.binds = 1, 1
	return Binding{Kind: kind, Index: spec.Common().Index, Action: e.a, Created: true}, nil
}

// Unbind drops a filter's binding (tcf_action_destroy with bind): the
// action leaves the table when nothing refers to it any more. Unbinding
// something not bound is a bug in the caller and panics.
func (t *Table) Unbind(b Binding) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, _ := t.idr(b.Kind)
	var e *entry
	if k != nil {
		e = k.get(b.Index)
	}
	if e == nil || e.a != b.Action || e.binds == 0 {
		panic(fmt.Sprintf("act: unbind of %s index %d, which is not bound (entry %+v)", b.Kind, b.Index, e))
	}
	e.binds--
	e.refs--
	if e.refs == 0 {
		t.unbound = append(t.unbound, e.a.Stats())
		releaseAction(e.a)
		k.remove(b.Index)
		t.structGen++
	}
}

// Get returns one action ("tc actions get").
func (t *Table) Get(kind string, index uint32) (View, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.idr(kind)
	if err != nil {
		return View{}, err
	}
	e := k.get(index)
	if e == nil {
		return View{}, fmt.Errorf("%s index %d: %w", kind, index, ErrNotFound)
	}
	return e.view(), nil
}

func (e *entry) view() View {
	return View{Spec: e.a.Spec(), Stats: e.a.Stats().Read(), Refs: int(e.refs), Binds: int(e.binds), Action: e.a}
}

// Delete removes a standalone action ("tc actions del"). An action bound
// to a filter is refused with ErrBound, as tcf_idr_delete_index refuses it
// with -EPERM.
func (t *Table) Delete(kind string, index uint32) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.idr(kind)
	if err != nil {
		return err
	}
	e := k.get(index)
	if e == nil {
		return fmt.Errorf("%s index %d: %w", kind, index, ErrNotFound)
	}
	if e.binds > 0 {
		return fmt.Errorf("%s index %d: %w (bind %d): delete the filters using it first", kind, index, ErrBound, e.binds)
	}
	if e.refs--; e.refs <= 0 {
		t.drop(k, index, e)
	}
	return nil
}

// Flush deletes the actions of kind ("tc actions flush action KIND") in
// index order up to the first one a filter binds, as the kernel's
// tcf_del_walker stops there with -EPERM, and returns how many went.
// When it stopped, the error wraps ErrBound; the kernel then fails only
// if nothing was flushed ("Unable to flush all TC actions" otherwise).
func (t *Table) Flush(kind string) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.idr(kind)
	if err != nil {
		return 0, err
	}
	// tcf_del_walker: in index order, up to the first action a filter
	// binds, which ends the walk (tcf_idr_release_unsafe's -EPERM).
	n := 0
	var gone []uint32
	stop := uint32(0)
	bound := false
	k.walk(0, func(idx uint32, e *entry) bool {
		if e.binds > 0 {
			bound, stop = true, idx
			return false
		}
		if e.refs--; e.refs <= 0 {
			gone = append(gone, idx)
		}
		n++
		return true
	})
	for _, idx := range gone {
		t.drop(k, idx, k.get(idx))
	}
	if bound {
		return n, fmt.Errorf("%s: flushed %d, stopped at index %d: %w", kind, n, stop, ErrBound)
	}
	return n, nil
}

// List returns the actions of kind in index order ("tc actions ls").
func (t *Table) List(kind string) ([]View, error) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	id := kindID(kind)
	if id < 0 {
		return nil, fmt.Errorf("action kind %q: not supported (have %v)", kind, Kinds)
	}
	k := t.kinds[id]
	if k == nil {
		return nil, nil
	}
	out := make([]View, 0, k.n)
	k.walk(0, func(_ uint32, e *entry) bool {
		out = append(out, e.view())
		return true
	})
	return out, nil
}

// Len is the number of actions of kind.
func (t *Table) Len(kind string) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if id := kindID(kind); id >= 0 && t.kinds[id] != nil {
		return t.kinds[id].n
	}
	return 0
}

func slicesSortCompact(s *[]uint32) {
	slices.Sort(*s)
	*s = slices.Compact(*s)
}
