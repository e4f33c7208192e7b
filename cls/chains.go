package cls

import (
	"fmt"
	"slices"
	"sync"

	"netyard/act"
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
// table, and builds the immutable Block the data path runs. A mutex
// guards it; the data path never touches it.
type Chains struct {
	table *act.Table
	env   act.Env
	// cells holds the filters' counters: a set per hook, in the
	// namespace's generation domain.
	cells *stats.Set

	mu     sync.Mutex
	chains map[uint32][]*filter // each in prio, then handle order
	// dead are deleted filters' counters, freed by ReleaseDead once the
	// block without them is published.
	dead []stats.Cell
}

// NewChains returns an empty hook whose filters bind actions in table and
// resolve device names with env.
func NewChains(table *act.Table, env act.Env) *Chains {
	return &Chains{table: table, env: env, cells: stats.NewSet(env.Counters().Domain()), chains: make(map[uint32][]*filter)}
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
		return fmt.Errorf("filter: no classifier: give flower or matchall")
	}
	kind := f.Classifier.Kind()
	if kind != "flower" && kind != "matchall" {
		return fmt.Errorf("filter: classifier %q: not supported (flower, matchall)", kind)
	}
	switch m {
	case act.ModeAdd, act.ModeChange, act.ModeReplace:
	default:
		return fmt.Errorf("filter: mode %v: must be add, change or replace", m)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.chains[f.Chain]

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
		for _, g := range list {
			if g.spec.Prio >= autoPrioSearch {
				if g.spec.Prio == autoPrioSearch {
					return fmt.Errorf("filter: chain %d has a filter at prio %d, where the kernel looks for a free one: give a prio", f.Chain, autoPrioSearch)
				}
				prio = g.spec.Prio - 1
				break
			}
		}
	}
	group := prioGroup(list, prio)
	protocol := f.Protocol
	if len(group) > 0 {
		g := group[0]
		if g.cls.kind != kind {
			return fmt.Errorf("filter: chain %d prio %d holds %s filters, not %s", f.Chain, prio, g.cls.kind, kind)
		}
		if protocol != 0 && protocol != g.protocol {
			return fmt.Errorf("filter: chain %d prio %d is for protocol %#04x, not %#04x", f.Chain, prio, g.protocol, protocol)
		}
		protocol = g.protocol
	}

	var old *filter
	if f.Handle != 0 {
		for _, g := range group {
			if g.spec.Handle == f.Handle {
				old = g
				break
			}
		}
	}
	where := fmt.Sprintf("chain %d prio %d handle %#x", f.Chain, prio, f.Handle)
	switch {
	case old != nil && m == act.ModeAdd:
		return fmt.Errorf("filter %s: %w (use replace or change)", where, ErrExists)
	case old == nil && m == act.ModeChange:
		return fmt.Errorf("filter %s: %w", where, ErrNotFound)
	case old == nil && protocol == 0:
		return fmt.Errorf("filter: protocol: give one (all, ip, ipv6, 802.1Q, ...) for the new prio %d", prio)
	case old == nil && kind == "matchall" && len(group) > 0:
		// mall_change: a matchall tcf_proto holds one filter.
		return fmt.Errorf("filter: chain %d prio %d already holds a matchall filter (handle %#x): %w", f.Chain, prio, group[0].spec.Handle, ErrExists)
	}

	handle := f.Handle
	if old == nil && handle == 0 {
		handle = freeHandle(group)
	}
	cl, err := NewClassifier(f.Classifier, protocol, c.env)
	if err != nil {
		return err
	}
	if kind == "flower" {
		for _, g := range group {
			if g != old && g.cls.sameKeys(cl) {
				return fmt.Errorf("flower: chain %d prio %d: handle %#x has the same keys: %w", f.Chain, prio, g.spec.Handle, ErrExists)
			}
		}
	}
	bindings, err := c.bind(f.Actions)
	if err != nil {
		return err
	}

	nf := &filter{
		protocol: protocol,
		cls:      cl,
		classID:  f.ClassID,
		bindings: bindings,
		spec:     *f,
	}
	nf.spec.Prio, nf.spec.Handle, nf.spec.Protocol = prio, handle, protocol
	nf.spec.Classifier = cloneClassifierSpec(f.Classifier)
	nf.spec.Actions = nil
	nf.actions = make([]act.Action, len(bindings))
	for i, b := range bindings {
		nf.actions[i] = b.Action
	}
	if old != nil {
		nf.cell = old.cell
		c.cells.Changed(nf.cell)
		i := slices.Index(list, old)
		list[i] = nf
		c.unbind(old)
	} else {
		nf.cell = c.cells.Alloc(c.env.Now(), 0)
		i, _ := slices.BinarySearchFunc(list, nf, cmpFilter)
		c.chains[f.Chain] = slices.Insert(list, i, nf)
	}
	f.Prio, f.Handle, f.Protocol = prio, handle, protocol
	return nil
}

func cmpFilter(a, b *filter) int {
	if a.spec.Prio != b.spec.Prio {
		return int(a.spec.Prio) - int(b.spec.Prio)
	}
	switch {
	case a.spec.Handle < b.spec.Handle:
		return -1
	case a.spec.Handle > b.spec.Handle:
		return 1
	}
	return 0
}

// prioGroup returns the filters of list at prio (a sub-slice).
func prioGroup(list []*filter, prio uint16) []*filter {
	i := 0
	for i < len(list) && list[i].spec.Prio < prio {
		i++
	}
	j := i
	for j < len(list) && list[j].spec.Prio == prio {
		j++
	}
	return list[i:j]
}

// freeHandle is the lowest handle from 1 that no filter of the prio uses:
// flower's idr_alloc_u32 from 1, and matchall's default handle 1.
func freeHandle(group []*filter) uint32 {
	h := uint32(1)
	for _, g := range group { // in handle order
		if g.spec.Handle == h {
			h++
		} else if g.spec.Handle > h {
			break
		}
	}
	return h
}

// bind binds specs in order; on failure it lets go of what it bound.
func (c *Chains) bind(specs []act.Spec) ([]act.Binding, error) {
	out := make([]act.Binding, 0, len(specs))
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
// can no longer run it, its counters (ReleaseDead).
func (c *Chains) remove(f *filter) {
	c.unbind(f)
	c.dead = append(c.dead, f.cell)
}

// ReleaseDead frees the counters of the filters deleted since the last
// call, and those of the actions that went with them. The datapath calls
// it after publishing the hook's new block: a worker may run the old one
// until then, and a freed slot's grace period starts at the free.
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
// filters let go of their actions.
func (c *Chains) Delete(sel *Filter) error {
	if sel == nil {
		return fmt.Errorf("filter: no selector")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	list := c.chains[sel.Chain]
	if sel.Prio == 0 {
		for _, f := range list {
			c.remove(f)
		}
		delete(c.chains, sel.Chain)
		return nil
	}
	group := prioGroup(list, sel.Prio)
	if len(group) == 0 || sel.Protocol != 0 && group[0].protocol != sel.Protocol {
		return fmt.Errorf("filter chain %d prio %d protocol %#04x: %w", sel.Chain, sel.Prio, sel.Protocol, ErrNotFound)
	}
	if sel.Classifier != nil && sel.Classifier.Kind() != group[0].cls.kind {
		return fmt.Errorf("filter chain %d prio %d: holds %s filters, not %s", sel.Chain, sel.Prio, group[0].cls.kind, sel.Classifier.Kind())
	}
	start := slices.Index(list, group[0])
	end := start + len(group)
	if sel.Handle != 0 {
		i := slices.IndexFunc(group, func(f *filter) bool { return f.spec.Handle == sel.Handle })
		if i < 0 {
			return fmt.Errorf("filter chain %d prio %d handle %#x: %w", sel.Chain, sel.Prio, sel.Handle, ErrNotFound)
		}
		start += i
		end = start + 1
	}
	for _, f := range list[start:end] {
		c.remove(f)
	}
	list = slices.Delete(list, start, end)
	if len(list) == 0 {
		delete(c.chains, sel.Chain)
	} else {
		c.chains[sel.Chain] = list
	}
	return nil
}

// Flush deletes every filter of every chain, as when the hook's qdisc
// (clsact, ingress) goes away.
func (c *Chains) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for idx, list := range c.chains {
		for _, f := range list {
			c.remove(f)
		}
		delete(c.chains, idx)
	}
}

// List returns the filters of one chain, or of all chains when chain is
// nil, in chain, prio, handle order.
func (c *Chains) List(chain *uint32) []FilterView {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []FilterView
	for _, idx := range c.indexes() {
		if chain != nil && idx != *chain {
			continue
		}
		for _, f := range c.chains[idx] {
			out = append(out, c.view(f))
		}
	}
	return out
}

func (c *Chains) indexes() []uint32 {
	idx := make([]uint32, 0, len(c.chains))
	for i := range c.chains {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	return idx
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

// Block builds the immutable Block of the hook's current filters, for the
// data path to publish.
func (c *Chains) Block() *Block {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := &Block{chains: make([]blockChain, 0, len(c.chains))}
	for _, idx := range c.indexes() {
		b.chains = append(b.chains, blockChain{index: idx, filters: slices.Clone(c.chains[idx])})
	}
	return b
}

// cloneClassifierSpec deep-copies a classifier spec, so that the stored
// configuration shares nothing with the caller's.
func cloneClassifierSpec(s Spec) Spec {
	f, ok := s.(*Flower)
	if !ok {
		if _, ok := s.(*Matchall); ok {
			return &Matchall{}
		}
		return s
	}
	c := *f
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
