package cls

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"netyard/act"
	"netyard/bpf"
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
	bySlot []*filter
	// structGen counts adds and deletes (not replaces), for dumps'
	// consistency flag.
	structGen uint64
	n         int
	// dev is the device name the stored specs share: the caller's
	// string may be a slice of a whole batch chunk, which a million
	// stored filters would otherwise keep alive.
	dev string
}

// NewChains returns an empty hook whose filters bind actions in table and
// resolve device names with env.
func NewChains(table *act.Table, env act.Env) *Chains {
	c := &Chains{table: table, env: env, cells: stats.NewSet(env.Counters().Domain()),
		chains: make(map[uint32]*chainIdx), seed: rand.Uint64()}
	c.block.chains.Store(&[]*chainIdx{})
	return c
}

// FilterView is a filter as "tc filter show" shows it.
type FilterView struct {
	// Spec is a copy of the filter's configuration with the chosen prio,
	// handle and protocol, and Actions the bound actions' current specs.
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
		if g.kind != kind {
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
	// bound by the allocator and the collector.
	box := new(filterBox)
	cl := &box.cl
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
	var bindings []act.Binding
	if len(f.Actions) <= len(box.bd) {
		bindings = box.bd[:0]
	}
	bindings, err := c.bind(bindings, f.Actions)
	if err != nil {
		return err
	}

	nf := &box.f
	*nf = filter{
		protocol: protocol,
		cls:      cl,
		classID:  f.ClassID,
		handle:   handle,
		bindings: bindings,
		spec:     *f,
	}
	nf.spec.Prio, nf.spec.Handle, nf.spec.Protocol = prio, handle, protocol
	if nf.spec.Dev != c.dev {
		c.dev = strings.Clone(nf.spec.Dev)
	}
	nf.spec.Dev = c.dev
	if f.Owned {
		nf.spec.Classifier, nf.spec.Owned = ownClassifierSpec(f.Classifier), false
	} else {
		nf.spec.Classifier = cloneClassifierSpec(f.Classifier)
	}
	if b, ok := nf.spec.Classifier.(*Bpf); ok {
		in := cl.bpf.prog.Info()
		b.ProgID, b.ProgName, b.ProgTag = in.ID, in.Name, in.Tag
	}
	nf.spec.Actions = nil
	if len(bindings) <= len(box.acts) {
		nf.actions = box.acts[:len(bindings)]
	} else {
		nf.actions = make([]act.Action, len(bindings))
	}
	for i, b := range bindings {
		nf.actions[i] = b.Action
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
	c.install(f.Chain, ch, g, nf, old)
	if old != nil {
		c.unbind(old)
		releaseProg(old)
	}
	f.Prio, f.Handle, f.Protocol = prio, handle, protocol
	return nil
}

// releaseProg tells a bpf filter's program that the filter is gone
// (bpf.Releaser: an eBPF program leaves `netyard bpf prog show`).
func releaseProg(f *filter) {
	if f.cls.bpf != nil {
		if r, ok := f.cls.bpf.prog.(bpf.Releaser); ok {
			r.Release()
		}
	}
}

// install publishes nf in group g of chain ch (either nil: new), in place
// of old when that is not nil. The new filter is in the index before the
// old one leaves it, so that a packet meanwhile finds one or the other.
func (c *Chains) install(index uint32, ch *chainIdx, g *group, nf, old *filter) {
	newChain, newGroup := ch == nil, g == nil
	if newChain {
		ch = &chainIdx{index: index}
		ch.groups.Store(&[]*group{})
	}
	if newGroup {
		g = &group{prio: nf.spec.Prio, protocol: nf.protocol, kind: nf.cls.kind, byShape: make(map[shape]*mask), isBpf: nf.cls.kind == "bpf"}
		g.masks.Store(&[]*mask{})
	}
	if g.isBpf {
		// cls_bpf_change: a new filter goes first, a replaced one
		// where the old one was.
		if old != nil {
			g.bpf.swap(old, nf)
		} else {
			g.bpf.push(nf)
		}
		g.handles.put(nf)
		c.publishGroup(index, ch, g, newChain, newGroup)
		return
	}
	s := shapeOf(nf.cls)
	mk := g.byShape[s]
	if mk == nil {
		mk = newMask(s, c.seed)
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

func (c *Chains) setSlot(f *filter) {
	s := int(f.cell.Slot())
	if s >= len(c.bySlot) {
		c.bySlot = slices.Grow(c.bySlot, s+1-len(c.bySlot))[:max(s+1, len(c.bySlot))]
	}
	c.bySlot[s] = f
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

// bind binds specs in order; on failure it lets go of what it bound.
// bind binds specs' actions, appending them to out (which the caller may
// give room in).
func (c *Chains) bind(out []act.Binding, specs []act.Spec) ([]act.Binding, error) {
	if out == nil {
		out = make([]act.Binding, 0, len(specs))
	}
	for i, s := range specs {
		if s == nil {
			c.unbindAll(out)
			return nil, fmt.Errorf("filter: action %d: no configuration", i+1)
		}
		b, err := c.table.Bind(s)
		if err != nil {
			c.unbindAll(out)
			return nil, fmt.Errorf("filter: action %d: %w", i+1, err)
		}
		out = append(out, b)
	}
	return out, nil
}

func (c *Chains) unbindAll(bs []act.Binding) {
	for _, b := range bs {
		c.table.Unbind(b)
	}
}

func (c *Chains) unbind(f *filter) { c.unbindAll(f.bindings) }

// remove lets go of a deleted filter's actions and, once the data path
// can no longer run it, its counters (ReleaseDead). The caller has taken
// it out of the index.
func (c *Chains) remove(f *filter) {
	c.unbind(f)
	releaseProg(f)
	if s := int(f.cell.Slot()); s < len(c.bySlot) && c.bySlot[s] == f {
		c.bySlot[s] = nil
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
	if sel.Classifier != nil && sel.Classifier.Kind() != g.kind {
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
	v := FilterView{Spec: f.spec, Stats: f.cell.Read()}
	v.Spec.Classifier = cloneClassifierSpec(f.spec.Classifier)
	for _, b := range f.bindings {
		av, err := c.table.Get(b.Kind, b.Index)
		if err != nil {
			// Bound actions stay in the table; losing one is a bug.
			panic(fmt.Sprintf("cls: filter chain %d prio %d handle %#x: bound %s index %d: %v", f.spec.Chain, f.spec.Prio, f.spec.Handle, b.Kind, b.Index, err))
		}
		v.Actions = append(v.Actions, av)
		v.Spec.Actions = append(v.Spec.Actions, av.Spec)
	}
	return v
}

// Block returns the hook's Block, which Chains keeps current: the data
// path publishes it once and sees every change from then on.
func (c *Chains) Block() *Block { return &c.block }

// cloneClassifierSpec deep-copies a classifier spec, so that the stored
// configuration shares nothing with the caller's.
// ownClassifierSpec is the stored spec when the caller hands s over
// (Filter.Owned): s itself, with its strings copied out of whatever larger
// buffer they may be slices of (a batch chunk).
func ownClassifierSpec(s Spec) Spec {
	if b, ok := s.(*Bpf); ok {
		return cloneBpf(b) // its strings may be slices of a batch
	}
	if f, ok := s.(*Flower); ok && f.Indev != "" {
		f.Indev = strings.Clone(f.Indev)
	}
	return s
}

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
