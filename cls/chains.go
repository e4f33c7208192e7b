package cls

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"netyard/act"
	"netyard/internal/prefault"
	"netyard/stats"
)

// Errors Chains returns, wrapped with what was looked for. They are act's,
// so that one errors.Is answers for filters and actions alike.
var (
	ErrNotFound = act.ErrNotFound
	ErrExists   = act.ErrExists
)

// autoPrioFirst is the prio the kernel gives the first filter of a chain
// when none is asked for: TC_H_MAJ(0xC0000000) >> 16 (tcf_auto_prio).
const autoPrioFirst = 0xC000

// autoPrioSearch is where tc_new_tfilter starts looking for a free prio
// (TC_H_MAKE(0x80000000U, 0U)).
const autoPrioSearch = 0x8000

// maxChain is TC_ACT_EXT_VAL_MASK: chain indexes are 28 bits, the operand
// of a goto-chain verdict.
const maxChain = 1<<28 - 1

// Chains is the control plane of one hook's filters: it adds, changes,
// deletes and lists them, binds their actions in the namespace's action
// table, and keeps the Block the data path runs up to date as it goes
// (index.go): one change touches only the parts of the index it changes.
// A mutex serialises changes and listings; the data path never takes it.
type Chains struct {
	table *act.Table
	env   act.Env
	// cells holds the filters' counters: a set per hook, in the
	// namespace's generation domain.
	cells *stats.Set
	seed  uint64
	block Block

	mu     sync.Mutex
	chains map[uint32]*chainIdx // the same chains as block's
	// dead are deleted filters' counters, freed by ReleaseDead once the
	// data path no longer reaches them.
	dead []stats.Cell
	// bySlot finds a filter from its counters' slot, for the filters
	// changed since a generation (the counters' change logs name slots).
	bySlot slotIndex
	// structGen counts adds and deletes (not replaces), for dumps'
	// consistency flag.
	structGen uint64
	n         int
	// dev is the hook's device name as the last add gave it (a copy:
	// the caller's string may be a slice of a whole batch chunk).
	dev string
	// indev keeps the device names of flower's indev keys, which the
	// compiled classifier holds as an index: listings show the name.
	indev map[*filter]string
	// fl and flv are the scratch flower spec appendObject rebuilds each
	// filter's options into (under mu).
	fl  Flower
	flv flowerValues
	// fresh hands out new filters first written by another goroutine:
	// in a bulk load the page faults of a million new filters are paid
	// beside Add, not in it (internal/prefault).
	fresh *prefault.Objects[filter]
	nodes *prefault.Objects[node]
}

// NewChains returns an empty hook whose filters bind actions in table and
// resolve device names with env.
func NewChains(table *act.Table, env act.Env) *Chains {
	c := &Chains{table: table, env: env, cells: stats.NewSet(env.Counters().Domain()),
		chains: make(map[uint32]*chainIdx), seed: rand.Uint64(),
		fresh: prefault.NewObjects[filter](256, 16, 256), nodes: prefault.NewObjects[node](1024, 8, 256)}
	c.block.chains.Store(&[]*chainIdx{})
	return c
}

// FilterView is a filter as "tc filter show" shows it.
type FilterView struct {
	// Spec is the filter's configuration with the chosen prio, handle
	// and protocol, rebuilt from what the filter keeps (its flower keys
	// from the compiled classifier, as the kernel's fl_dump_key does: a
	// key with an all-zero mask is not shown), and Actions the bound
	// actions' current specs.
	Spec    Filter
	Stats   stats.Snapshot
	Actions []act.View
}

// Add installs f, or with ModeChange/ModeReplace changes the filter at f's
// chain, prio and handle, as tc_new_tfilter does (net/sched/cls_api.c):
//
//   - Prio 0 asks for one as tc_new_tfilter does: one below the first
//     filter whose prio is 32768 or more, or 49152 when there is none
//     (tcf_auto_prio); so filters added without a prio go after those
//     given low prios. ModeChange needs a prio.
//   - All filters of one prio are of one kind and one protocol (the
//     kernel's tcf_proto). Protocol 0 means the prio's protocol and is an
//     error when the prio is new.
//   - Handle 0 asks for one: flower takes the lowest free handle of its
//     prio from 1, matchall takes 1. A matchall prio holds one filter.
//     Flower refuses a second filter with the same keys in a prio.
//   - ModeAdd fails with ErrExists when the handle is taken; ModeChange
//     fails with ErrNotFound when it is not; ModeReplace does either.
//     A changed filter keeps its stats cell; its new actions are bound
//     before the old ones are let go, so an action shared by both keeps
//     its counters.
//   - Actions: a *act.Ref binds an existing action; any other spec is
//     created in the table (or, when its index exists, binds that one as
//     it is). Actions created for the filter die with it when nothing
//     else binds them.
//
// The chosen prio, handle and protocol, and the actions' indexes, are
// written back into f.
//
// Cost: a binary search among the chain's prios, a probe of the filter's
// mask for the same keys, an insertion in the mask's hash table and in
// the prio's handle index; the lowest free handle is found from a hint
// (O(1) when handles are added in order). A new prio or mask copies that
// level's list (prios of a chain, masks of a prio), which is short.
func (c *Chains) Add(f *Filter, m act.Mode) error {
	if f == nil {
		return fmt.Errorf("filter: no configuration")
	}
	if f.SkipSW {
		return fmt.Errorf("filter: skip_sw: netyard has no hardware to run it on; drop skip_sw")
	}
	if f.Chain > maxChain {
		return fmt.Errorf("filter: chain %d: must be 0..%d", f.Chain, maxChain)
	}
	if len(f.Actions) > act.MaxActions {
		return fmt.Errorf("filter: %d actions: at most %d", len(f.Actions), act.MaxActions)
	}
	if f.Classifier == nil {
		return fmt.Errorf("filter: no classifier: give flower, matchall or bpf")
	}
	kind := f.Classifier.Kind()
	if kind != "flower" && kind != "matchall" && kind != "bpf" {
		return fmt.Errorf("filter: classifier %q: not supported (flower, matchall, bpf)", kind)
	}
	switch m {
	case act.ModeAdd, act.ModeChange, act.ModeReplace:
	default:
		return fmt.Errorf("filter: mode %v: must be add, change or replace", m)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.chains[f.Chain]
	groups := groupsOf(ch)

	prio := f.Prio
	if prio == 0 {
		if m == act.ModeChange {
			return fmt.Errorf("filter change: give the prio (pref) of the filter to change")
		}
		// tc_new_tfilter looks for prio 0x8000 (tcf_chain_tp_find
		// with prio_allocate) and tcf_auto_prio takes one below the
		// first filter at or above it, or 0xc000 when there is none;
		// a filter at exactly 0x8000 makes it fail with EINVAL.
		prio = autoPrioFirst
		if i, _ := searchPrio(groups, autoPrioSearch); i < len(groups) {
			if groups[i].prio == autoPrioSearch {
				return fmt.Errorf("filter: chain %d has a filter at prio %d, where the kernel looks for a free one: give a prio", f.Chain, autoPrioSearch)
			}
			prio = groups[i].prio - 1
		}
	}
	var g *group
	if i, ok := searchPrio(groups, prio); ok {
		g = groups[i]
	}
	protocol := f.Protocol
	if g != nil {
		if g.kind.String() != kind {
			return fmt.Errorf("filter: chain %d prio %d holds %s filters, not %s", f.Chain, prio, g.kind, kind)
		}
		if protocol != 0 && protocol != g.protocol {
			return fmt.Errorf("filter: chain %d prio %d is for protocol %#04x, not %#04x", f.Chain, prio, g.protocol, protocol)
		}
		protocol = g.protocol
	}

	var old *filter
	if f.Handle != 0 && g != nil {
		old = g.handles.get(f.Handle)
	}
	// where is formatted only for an error: a bulk load adds a million.
	where := func() string { return fmt.Sprintf("chain %d prio %d handle %#x", f.Chain, prio, f.Handle) }
	switch {
	case old != nil && m == act.ModeAdd:
		return fmt.Errorf("filter %s: %w (use replace or change)", where(), ErrExists)
	case old == nil && m == act.ModeChange:
		return fmt.Errorf("filter %s: %w", where(), ErrNotFound)
	case old == nil && protocol == 0:
		return fmt.Errorf("filter: protocol: give one (all, ip, ipv6, 802.1Q, ...) for the new prio %d", prio)
	case old == nil && kind == "matchall" && g != nil && g.handles.n > 0:
		// mall_change: a matchall tcf_proto holds one filter.
		return fmt.Errorf("filter: chain %d prio %d already holds a matchall filter (handle %#x): %w", f.Chain, prio, g.handles.first().handle, ErrExists)
	}

	handle := f.Handle
	if old == nil && handle == 0 {
		handle = 1
		if g != nil {
			if handle = g.handles.free(); handle == 0 {
				return fmt.Errorf("filter: chain %d prio %d: no free handle", f.Chain, prio)
			}
		}
	}
	// The filter, its compiled classifier and its (usually single)
	// action are one allocation: a bulk load of a million filters is
	// bound by the allocator and the pages it touches first.
	nf := c.fresh.Get()
	cl := &nf.cls
	if err := compileInto(cl, f.Classifier, protocol, c.env); err != nil {
		return err
	}
	if kind == "flower" && g != nil {
		if mk := g.byShape[shapeOf(cl)]; mk != nil {
			if d := mk.sameKeys(cl, old); d != nil {
				return fmt.Errorf("flower: chain %d prio %d: handle %#x has the same keys: %w", f.Chain, prio, d.handle, ErrExists)
			}
		}
	}
	var flags uint32
	if f.SkipHW {
		flags |= act.FlagSkipHW
	}
	if f.SkipSW {
		flags |= act.FlagSkipSW
	}
	if err := c.bind(nf, f.Actions, flags); err != nil {
		releaseProg(nf) // a bpf classifier's program leaves the listing
		return err
	}
	nf.protocol, nf.classID, nf.handle, nf.parent = protocol, f.ClassID, handle, f.Parent
	if f.SkipHW {
		nf.flags |= flagSkipHW
	}
	if f.Dev != c.dev {
		c.dev = strings.Clone(f.Dev)
	}
	if fl, ok := f.Classifier.(*Flower); ok && fl.Indev != "" {
		if c.indev == nil {
			c.indev = make(map[*filter]string)
		}
		c.indev[nf] = strings.Clone(fl.Indev)
	}
	if old != nil {
		nf.cell = old.cell
		c.cells.Changed(nf.cell)
	} else {
		nf.cell = c.cells.Alloc(c.env.Now(), 0)
		c.structGen++
		c.n++
	}
	c.setSlot(nf)
	c.install(f.Chain, prio, ch, g, nf, old)
	if old != nil {
		c.unbind(old)
		delete(c.indev, old)
		releaseProg(old)
	}
	f.Prio, f.Handle, f.Protocol = prio, handle, protocol
	return nil
}

// releaseProg tells a bpf filter's program that the filter is gone
// (bpf.Releaser: an eBPF program leaves `netyard bpf prog show`).
func releaseProg(f *filter) {
	if f.cls.bpf != nil {
		act.ReleaseProgram(f.cls.bpf.prog)
	}
}

// install publishes nf in group g of chain ch (either nil: new), in place
// of old when that is not nil. The new filter is in the index before the
// old one leaves it, so that a packet meanwhile finds one or the other.
func (c *Chains) install(index uint32, prio uint16, ch *chainIdx, g *group, nf, old *filter) {
	newChain, newGroup := ch == nil, g == nil
	if newChain {
		ch = &chainIdx{index: index}
		ch.groups.Store(&[]*group{})
	}
	if newGroup {
		g = &group{chain: index, prio: prio, protocol: nf.protocol, kind: nf.cls.kind, byShape: make(map[shape]*mask), isBpf: nf.cls.kind == kindBpf}
		g.masks.Store(&[]*mask{})
		if g.isBpf {
			// A bpf group has no masks; its filters point at this
			// one, never in masks, so that pos finds their group.
			g.anchor = &mask{g: g}
		}
	}
	if g.isBpf {
		// cls_bpf_change: a new filter goes first, a replaced one
		// where the old one was.
		nf.mask = g.anchor
		if old != nil {
			g.bpf.swap(old, nf)
		} else {
			g.bpf.push(nf)
		}
		g.handles.put(nf)
		c.publishGroup(index, ch, g, newChain, newGroup)
		return
	}
	s := shapeOf(&nf.cls)
	mk := g.byShape[s]
	if mk == nil {
		mk = newMask(g, s, c.seed, c.nodes)
		mk.insert(nf)
		g.byShape[s] = mk
		cowSlice(&g.masks, func(ms []*mask) []*mask { return append(ms, mk) })
	} else {
		mk.insert(nf)
	}
	nf.mask = mk
	g.handles.put(nf)
	if old != nil {
		c.unlink(g, old)
	}
	c.publishGroup(index, ch, g, newChain, newGroup)
}

// publishGroup puts a new group in its chain, and a new chain in the
// block.
func (c *Chains) publishGroup(index uint32, ch *chainIdx, g *group, newChain, newGroup bool) {
	if newGroup {
		cowSlice(&ch.groups, func(gs []*group) []*group {
			i, _ := searchPrio(gs, g.prio)
			return slices.Insert(gs, i, g)
		})
	}
	if newChain {
		c.chains[index] = ch
		cowSlice(&c.block.chains, func(cs []*chainIdx) []*chainIdx {
			i, _ := searchChain(cs, index)
			return slices.Insert(cs, i, ch)
		})
	}
}

// unlink takes f out of its mask's hash table, and the mask out of the
// group when it was its last filter.
func (c *Chains) unlink(g *group, f *filter) {
	if g.isBpf {
		g.bpf.swap(f, nil)
		return
	}
	mk := f.mask
	mk.remove(f)
	if mk.n == 0 {
		for s, x := range g.byShape {
			if x == mk {
				delete(g.byShape, s)
				break
			}
		}
		cowSlice(&g.masks, func(ms []*mask) []*mask {
			return slices.DeleteFunc(ms, func(x *mask) bool { return x == mk })
		})
	}
}

func (c *Chains) setSlot(f *filter) { c.bySlot.set(f.cell.Slot(), f) }

// slotIndex maps counter slots to filters, in pages of slotPage: growing
// it never copies what it holds (a slice of a million pointers grown by
// appending copied 30 MB on the way, into memory touched for the first
// time).
type slotIndex struct {
	pages [][]*filter
	fresh *prefault.Objects[[slotPage]*filter] // new pages, first written beside the batch
}

const slotPage = 4096

func (x *slotIndex) get(s uint32) *filter {
	if p := int(s / slotPage); p < len(x.pages) {
		return x.pages[p][s%slotPage]
	}
	return nil
}

func (x *slotIndex) set(s uint32, f *filter) {
	for int(s/slotPage) >= len(x.pages) {
		if x.fresh == nil {
			x.fresh = prefault.NewObjects[[slotPage]*filter](1, 2, 2)
		}
		x.pages = append(x.pages, x.fresh.Get()[:])
	}
	x.pages[s/slotPage][s%slotPage] = f
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// groupsOf returns the chain's groups (nil chain: none).
func groupsOf(ch *chainIdx) []*group {
	if ch == nil {
		return nil
	}
	return *ch.groups.Load()
}

// searchPrio finds prio in groups (sorted): its position, or where it
// would go.
func searchPrio(groups []*group, prio uint16) (int, bool) {
	return slices.BinarySearchFunc(groups, prio, func(g *group, p uint16) int { return int(g.prio) - int(p) })
}

// bind binds specs' actions in order into f (its inline room for one, or
// slices of their own), each with the filter's skip flags (flags); on
// failure it lets go of what it bound.
func (c *Chains) bind(f *filter, specs []act.Spec, flags uint32) error {
	f.nact, f.more = 0, nil
	if len(specs) > len(f.acts) {
		f.more = &filterActions{actions: make([]act.Action, 0, len(specs)), binds: make([]bindRef, 0, len(specs))}
	}
	for i, s := range specs {
		if s == nil {
			c.unbind(f)
			return fmt.Errorf("filter: action %d: no configuration", i+1)
		}
		if r, ok := s.(*act.Ref); ok {
			r.BindFlags = flags
		}
		b, err := c.table.Bind(s)
		if err != nil {
			c.unbind(f)
			return fmt.Errorf("filter: action %d: %w", i+1, err)
		}
		r := bindRef{kind: bindKind(b.Kind), index: b.Index}
		if f.more != nil {
			f.more.actions = append(f.more.actions, b.Action)
			f.more.binds = append(f.more.binds, r)
		} else {
			f.acts[0], f.bd[0], f.nact = b.Action, r, 1
		}
	}
	return nil
}

// unbind lets go of f's actions.
func (c *Chains) unbind(f *filter) {
	for i := range f.binds() {
		c.table.Unbind(f.binding(i))
	}
}

// remove lets go of a deleted filter's actions and, once the data path
// can no longer run it, its counters (ReleaseDead). The caller has taken
// it out of the index.
func (c *Chains) remove(f *filter) {
	c.unbind(f)
	delete(c.indev, f)
	releaseProg(f)
	if s := f.cell.Slot(); c.bySlot.get(s) == f {
		c.bySlot.set(s, nil)
	}
	c.dead = append(c.dead, f.cell)
	c.structGen++
	c.n--
}

// ReleaseDead frees the counters of the filters deleted since the last
// call, and those of the actions that went with them. The datapath calls
// it after the change that deleted them: a worker may still be running
// them, and a freed slot is reused only after a grace period that starts
// at the free (stats.Set.Free), when every worker has left the batch in
// which it could have reached them.
func (c *Chains) ReleaseDead() {
	c.mu.Lock()
	for _, cell := range c.dead {
		c.cells.Free(cell)
	}
	c.dead = c.dead[:0]
	c.mu.Unlock()
	c.table.ReleaseUnbound()
}

// Delete removes filters as tc_del_tfilter does, selected by sel's Chain,
// Prio, Protocol and Handle:
//
//   - Prio 0 deletes every filter of the chain (tcf_chain_flush); an empty
//     or unknown chain is then not an error.
//   - Otherwise the prio must exist (with sel's protocol, when given):
//     Handle 0 deletes all its filters, another handle that one filter.
//
// The chain is sel.Chain exactly, 0 when not given, as the kernel reads a
// missing TCA_CHAIN. A Classifier in sel must be the prio's kind. Deleted
// filters let go of their actions. Deleting one filter costs O(1) (its
// bucket, its handle page); a whole prio or chain goes in one step and
// costs its filters' release.
func (c *Chains) Delete(sel *Filter) error {
	if sel == nil {
		return fmt.Errorf("filter: no selector")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.chains[sel.Chain]
	if sel.Prio == 0 {
		if ch != nil {
			c.dropChain(ch)
		}
		return nil
	}
	groups := groupsOf(ch)
	i, ok := searchPrio(groups, sel.Prio)
	if !ok || sel.Protocol != 0 && groups[i].protocol != sel.Protocol {
		return fmt.Errorf("filter chain %d prio %d protocol %#04x: %w", sel.Chain, sel.Prio, sel.Protocol, ErrNotFound)
	}
	g := groups[i]
	if sel.Classifier != nil && sel.Classifier.Kind() != g.kind.String() {
		return fmt.Errorf("filter chain %d prio %d: holds %s filters, not %s", sel.Chain, sel.Prio, g.kind, sel.Classifier.Kind())
	}
	if sel.Handle != 0 {
		f := g.handles.get(sel.Handle)
		if f == nil {
			return fmt.Errorf("filter chain %d prio %d handle %#x: %w", sel.Chain, sel.Prio, sel.Handle, ErrNotFound)
		}
		c.unlink(g, f)
		g.handles.delete(f.handle)
		c.remove(f)
		if g.handles.n > 0 {
			return nil
		}
	} else {
		g.handles.walk(0, func(f *filter) bool { c.remove(f); return true })
	}
	// The prio is empty: it leaves the chain, and an empty chain the
	// block.
	if len(groups) == 1 {
		c.unpublishChain(ch)
		return nil
	}
	cowSlice(&ch.groups, func(gs []*group) []*group {
		return slices.DeleteFunc(gs, func(x *group) bool { return x == g })
	})
	return nil
}

// dropChain deletes every filter of ch and takes it out of the block.
func (c *Chains) dropChain(ch *chainIdx) {
	c.unpublishChain(ch)
	for _, g := range groupsOf(ch) {
		g.handles.walk(0, func(f *filter) bool { c.remove(f); return true })
	}
}

func (c *Chains) unpublishChain(ch *chainIdx) {
	delete(c.chains, ch.index)
	cowSlice(&c.block.chains, func(cs []*chainIdx) []*chainIdx {
		return slices.DeleteFunc(cs, func(x *chainIdx) bool { return x == ch })
	})
}

// Flush deletes every filter of every chain, as when the hook's qdisc
// (clsact, ingress) goes away.
func (c *Chains) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range *c.block.chains.Load() {
		c.dropChain(ch)
	}
}

// Len is the number of filters of the hook.
func (c *Chains) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Pos is where a filter sits in a hook's order: chain, prio, handle.
type Pos struct {
	Chain  uint32
	Prio   uint16
	Handle uint32
}

// Select narrows a walk to one chain and one prio (nil, 0: all).
type Select struct {
	Chain *uint32
	Prio  uint16
}

// walkLocked calls fn for the filters after pos (from the first when pos
// is nil) that sel selects, in chain, prio, handle order, until fn returns
// false. Resuming costs three binary searches, not a walk from the first
// filter.
func (c *Chains) walkLocked(after *Pos, sel Select, fn func(*filter) bool) {
	cs := *c.block.chains.Load()
	i := 0
	switch {
	case sel.Chain != nil && (after == nil || after.Chain < *sel.Chain):
		after = &Pos{Chain: *sel.Chain}
		i, _ = searchChain(cs, *sel.Chain)
	case after != nil:
		i, _ = searchChain(cs, after.Chain)
	}
	for _, ch := range cs[i:] {
		if sel.Chain != nil && ch.index != *sel.Chain {
			return
		}
		groups := groupsOf(ch)
		j := 0
		resume := after != nil && ch.index == after.Chain
		if resume {
			j, _ = searchPrio(groups, after.Prio)
		}
		if sel.Prio != 0 {
			k, ok := searchPrio(groups, sel.Prio)
			if !ok || k < j {
				continue
			}
			j = k
		}
		for _, g := range groups[j:] {
			if sel.Prio != 0 && g.prio != sel.Prio {
				break
			}
			from := uint32(0)
			if resume && g.prio == after.Prio {
				from = after.Handle
			}
			if !g.handles.walk(from, fn) {
				return
			}
		}
	}
}

func searchChain(cs []*chainIdx, index uint32) (int, bool) {
	return slices.BinarySearchFunc(cs, index, func(c *chainIdx, idx uint32) int { return cmpU32(c.index, idx) })
}

// get returns the filter at p, nil for none.
func (c *Chains) getLocked(p Pos) *filter {
	ch := c.chains[p.Chain]
	groups := groupsOf(ch)
	if i, ok := searchPrio(groups, p.Prio); ok {
		return groups[i].handles.get(p.Handle)
	}
	return nil
}

// List returns the filters of one chain, or of all chains when chain is
// nil, in chain, prio, handle order.
func (c *Chains) List(chain *uint32) []FilterView {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []FilterView
	c.walkLocked(nil, Select{Chain: chain}, func(f *filter) bool {
		out = append(out, c.view(f))
		return true
	})
	return out
}

func (c *Chains) view(f *filter) FilterView {
	p := f.pos()
	v := FilterView{Spec: Filter{Dev: c.dev, Parent: f.parent, Chain: p.Chain, Prio: p.Prio, Protocol: f.protocol,
		Handle: f.handle, Classifier: c.spec(f), ClassID: f.classID, SkipHW: f.flags&flagSkipHW != 0},
		Stats: f.cell.Read()}
	for _, b := range f.binds() {
		av, err := c.table.Get(b.kindName(), b.index)
		if err != nil {
			// Bound actions stay in the table; losing one is a bug.
			panic(fmt.Sprintf("cls: filter chain %d prio %d handle %#x: bound %s index %d: %v", p.Chain, p.Prio, p.Handle, b.kindName(), b.index, err))
		}
		v.Actions = append(v.Actions, av)
		v.Spec.Actions = append(v.Spec.Actions, av.Spec)
	}
	return v
}

// Block returns the hook's Block, which Chains keeps current: the data
// path publishes it once and sees every change from then on.
func (c *Chains) Block() *Block { return &c.block }

// cloneClassifierSpec deep-copies a classifier spec, so that it shares
// nothing with the caller's.
func cloneClassifierSpec(s Spec) Spec {
	if b, ok := s.(*Bpf); ok {
		return cloneBpf(b)
	}
	f, ok := s.(*Flower)
	if !ok {
		if _, ok := s.(*Matchall); ok {
			return &Matchall{}
		}
		return s
	}
	c := *f
	c.Indev = strings.Clone(f.Indev) // not a slice of the caller's batch
	c.DstMAC, c.SrcMAC = clonePtr(f.DstMAC), clonePtr(f.SrcMAC)
	c.VlanID, c.VlanPrio, c.VlanEthType = clonePtr(f.VlanID), clonePtr(f.VlanPrio), clonePtr(f.VlanEthType)
	c.CVlanID, c.CVlanPrio, c.CVlanEthType = clonePtr(f.CVlanID), clonePtr(f.CVlanPrio), clonePtr(f.CVlanEthType)
	c.IPProto = clonePtr(f.IPProto)
	c.SrcIP, c.DstIP = clonePtr(f.SrcIP), clonePtr(f.DstIP)
	c.SrcPort, c.DstPort = clonePtr(f.SrcPort), clonePtr(f.DstPort)
	c.TOS, c.TTL = clonePtr(f.TOS), clonePtr(f.TTL)
	c.TCPFlags, c.IPFlags = clonePtr(f.TCPFlags), clonePtr(f.IPFlags)
	c.ICMPType, c.ICMPCode = clonePtr(f.ICMPType), clonePtr(f.ICMPCode)
	return &c
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
