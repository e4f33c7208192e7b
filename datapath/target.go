package datapath

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"netyard/act"
	"netyard/cls"
	"netyard/netdev"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
	"netyard/qdisc/fqcodel"
	"netyard/qdisc/htb"
	"netyard/qdisc/mq"
	"netyard/qdisc/netem"
	"netyard/qdisc/prio"
	"netyard/qdisc/tbf"
	"netyard/tcsyntax"
	"netyard/wifi"
)

// Hook parents, as tc names them: "ingress" and "egress" of clsact.
const (
	ParentIngress = cls.ParentIngress
	ParentEgress  = cls.ParentEgress
)

// A Namespace is what tc commands act on.
var _ tcsyntax.Target = (*Namespace)(nil)

// wrapActErr maps the action table's errors onto tcsyntax's kinds so that
// callers see one vocabulary.
func wrapActErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, act.ErrNotFound):
		return fmt.Errorf("%w: %w", tcsyntax.ErrNotFound, err)
	case errors.Is(err, act.ErrExists):
		return fmt.Errorf("%w: %w", tcsyntax.ErrExists, err)
	}
	return err
}

// AddQdisc implements tcsyntax.Target.
func (ns *Namespace) AddQdisc(q *qdisc.Spec, m tcsyntax.Mode) error {
	if q == nil || q.Params == nil {
		return fmt.Errorf("qdisc: no kind given")
	}
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, err := ns.deviceLocked(q.Dev)
	if err != nil {
		return err
	}
	switch q.Params.(type) {
	case qdisc.Clsact, qdisc.Ingress:
		if q.Parent != qdisc.HandleIngress && q.Parent != 0 {
			return fmt.Errorf("%s: %s qdisc must be at parent ffff:fff1", q.Dev, q.Params.Kind())
		}
		if d.clsact && m == tcsyntax.ModeAdd {
			return tcsyntax.Refuse(tcsyntax.ErrExists, "Exclusivity flag on, cannot modify")
		}
		if !d.clsact && m == tcsyntax.ModeChange {
			return fmt.Errorf("%w: %s has no ingress/clsact qdisc", tcsyntax.ErrNotFound, q.Dev)
		}
		d.clsact = true
		d.clsactKind = q.Params.Kind()
		return nil
	}
	if q.Parent != qdisc.HandleRoot {
		return ns.graftLocked(d, q)
	}
	// The default qdisc (handle 0) counts as absent for "add", as the
	// kernel's default qdisc does.
	exists := d.qdiscSpec.Handle != 0
	if exists && m != tcsyntax.ModeAdd {
		// The same kind at the same handle is changed in place
		// (qdisc_change), and sch_htb has no change operation.
		if _, ok := d.qdisc.(htb.Qdisc); ok && (q.Handle == 0 || q.Handle == d.qdiscSpec.Handle) {
			if _, ok := q.Params.(htb.Params); ok {
				return tcsyntax.Refuse(nil, "Change operation not supported by specified qdisc")
			}
		}
	}
	if exists && m != tcsyntax.ModeAdd && (q.Handle == 0 || q.Handle == d.qdiscSpec.Handle) {
		// The same kind at the same handle is changed (qdisc_change):
		// fq_codel_change keeps what the command did not give.
		if old, ok := d.qdiscSpec.Params.(fqcodel.Params); ok {
			if p, ok := q.Params.(fqcodel.Params); ok {
				merged := *q
				merged.Params = fqcodel.Merge(old, p)
				q = &merged
			}
		}
	}
	if exists && m == tcsyntax.ModeAdd {
		// tc_modify_qdisc's extack for NLM_F_EXCL on an existing qdisc.
		return tcsyntax.Refuse(tcsyntax.ErrExists, "Exclusivity flag on, cannot modify")
	}
	if !exists && m == tcsyntax.ModeChange {
		return fmt.Errorf("%w: %s has no root qdisc to change", tcsyntax.ErrNotFound, q.Dev)
	}
	spec := *q
	if spec.Handle == 0 {
		spec.Handle = d.qdiscSpec.Handle
	}
	if spec.Handle == 0 {
		spec.Handle = ns.e.nextQdiscHandle()
	}
	nq, children, tcm, err := ns.e.newRoot(d, q.Params, spec.Handle)
	if err != nil {
		return err
	}
	spec.Params = nq.Params()
	if c, ok := nq.(interface{ SetClassifier(qdisc.Classifier) }); ok {
		c.SetClassifier(qdiscClassifier{d})
	}
	// The old root's filters go with it (tcf_block_put).
	d.flushQdiscFilters()
	d.txMu.Lock()
	old := d.qdisc
	d.qdisc, d.qdiscSpec, d.children, d.grafted = nq, spec, children, nil
	d.txMu.Unlock()
	// The device's traffic classes are mqprio's while it is the root
	// (mqprio_init sets them, mqprio_destroy clears them).
	d.nd.SetTC(tcm)
	d.discard(old)
	return nil
}

// newRoot makes a root qdisc for d: for mq and mqprio, one child per TX
// queue (listed under the root's queue classes) and, for mqprio, the
// device's traffic classes.
func (e *Engine) newRoot(d *Device, p qdisc.Params, handle uint32) (qdisc.Qdisc, []qdisc.Spec, *netdev.TCMap, error) {
	var tcm *netdev.TCMap
	switch p := p.(type) {
	case mq.MQ:
		if err := p.Validate(d.nd.TxQueues()); err != nil {
			return nil, nil, nil, err
		}
	case mq.MQPrio:
		if err := p.Validate(d.nd.TxQueues()); err != nil {
			return nil, nil, nil, err
		}
		tcm = p.TCMap()
	default:
		q, err := e.newQdisc(p, handle, d.nd.MTU())
		return q, nil, nil, err
	}
	root := &mqRoot{params: p}
	var specs []qdisc.Spec
	for i := range d.nd.TxQueues() {
		c, err := e.newQdisc(mq.DefaultChild(), 0, d.nd.MTU())
		if err != nil {
			return nil, nil, nil, err
		}
		root.children = append(root.children, c)
		specs = append(specs, qdisc.Spec{Dev: d.nd.Name(), Parent: mq.QueueClass(handle, i), Params: c.Params()})
	}
	return root, specs, tcm, nil
}

// graftLocked puts a qdisc under a class of d's root (qdisc_graft): a TX
// queue of mq or mqprio, a band of prio, the class of tbf. The old child
// is reset: its packets are dropped, as in the kernel.
func (ns *Namespace) graftLocked(d *Device, q *qdisc.Spec) error {
	major, minor := q.Parent&0xffff0000, q.Parent&0xffff
	if major != d.qdiscSpec.Handle || d.qdiscSpec.Handle == 0 || minor == 0 {
		return fmt.Errorf("%w: %s: parent %x:%x: no such class (the root qdisc is %x:)", tcsyntax.ErrNotFound,
			q.Dev, q.Parent>>16, minor, d.qdiscSpec.Handle>>16)
	}
	spec := *q
	if spec.Handle == 0 {
		spec.Handle = ns.e.nextQdiscHandle()
	}
	switch q.Params.(type) {
	case mq.MQ, mq.MQPrio, htb.Params:
		return fmt.Errorf("%s: %s can only be the root qdisc in netyard", q.Dev, q.Params.Kind())
	}
	child, err := ns.e.newQdisc(q.Params, spec.Handle, d.nd.MTU())
	if err != nil {
		return err
	}
	spec.Params = child.Params()
	d.txMu.Lock()
	defer d.txMu.Unlock()
	var old qdisc.Qdisc
	switch r := d.qdisc.(type) {
	case *mqRoot:
		i := int(minor) - 1
		if i >= len(r.children) {
			return fmt.Errorf("%w: %s: parent %x:%x: the device has %d TX queues", tcsyntax.ErrNotFound, q.Dev, major>>16, minor, len(r.children))
		}
		old, r.children[i] = r.children[i], child
		d.children[i] = spec
		d.discard(old)
		return nil
	case prio.Qdisc:
		old, err = r.Graft(minor, child)
	case netem.Qdisc:
		// netem has one class; like netem_find, any minor names it.
		old, err = r.Graft(child)
	case tbf.Qdisc:
		if minor != 1 {
			return fmt.Errorf("%w: %s: tbf has one class, %x:1", tcsyntax.ErrNotFound, q.Dev, major>>16)
		}
		old, err = r.Graft(child)
	case htb.Qdisc:
		if _, leaf := r.HasClass(q.Parent); !leaf {
			return tcsyntax.Refuse(tcsyntax.ErrNotFound, "Specified class not found")
		}
		old, err = r.Graft(q.Parent, child)
	default:
		return fmt.Errorf("%s: the root qdisc %s has no classes to graft onto", q.Dev, d.qdiscSpec.Params.Kind())
	}
	if err != nil {
		return err
	}
	d.grafted = append(slices.DeleteFunc(d.grafted, func(s qdisc.Spec) bool { return s.Parent == spec.Parent }), spec)
	_ = old
	return nil
}

// newQdisc makes a running qdisc from its configuration. The handle is
// known before: fq_codel and prio classify by a priority whose major is
// their handle.
func (e *Engine) newQdisc(p qdisc.Params, handle uint32, mtu int) (qdisc.Qdisc, error) {
	switch p := p.(type) {
	case fifo.Pfifo, fifo.Bfifo:
		return fifo.New(p, mtu)
	case fqcodel.Params:
		return fqcodel.New(p, e.cfg.HashSeed, fqcodel.WithHandle(handle), fqcodel.WithMTU(mtu))
	case htb.Params:
		return htb.New(p, handle, mtu)
	case tbf.Params:
		return tbf.New(p)
	case prio.Params:
		return prio.New(p, prio.WithHandle(handle))
	case netem.Params:
		// Without "seed N" the seed comes from the engine's hash seed
		// and the handle: fixed in replay and lab, so that an unseeded
		// netem repeats too.
		return netem.New(p, netem.WithDefaultSeed(uint64(e.cfg.HashSeed)<<32|uint64(handle>>16)))
	case wifi.Params:
		return wifi.New(p)
	}
	return nil, fmt.Errorf("qdisc %s: not supported as a root qdisc yet", p.Kind())
}

// nextQdiscHandle picks a handle as the kernel's qdisc_alloc_handle does:
// 8001:, 8002:, ...
func (e *Engine) nextQdiscHandle() uint32 {
	e.qdiscHandle++
	return (0x8000 + e.qdiscHandle) << 16
}

// DelQdisc implements tcsyntax.Target.
func (ns *Namespace) DelQdisc(q *qdisc.Spec) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, err := ns.deviceLocked(q.Dev)
	if err != nil {
		return err
	}
	if q.Parent == qdisc.HandleIngress {
		if !d.clsact {
			return fmt.Errorf("%w: %s has no ingress/clsact qdisc", tcsyntax.ErrNotFound, q.Dev)
		}
		// Deleting clsact removes its filters, as in the kernel.
		d.clsact = false
		d.flushHook(ParentIngress)
		d.flushHook(ParentEgress)
		return nil
	}
	if q.Parent != qdisc.HandleRoot {
		return ns.ungraftLocked(d, q)
	}
	if d.qdiscSpec.Handle == 0 {
		return tcsyntax.Refuse(tcsyntax.ErrNotFound, "Cannot delete qdisc with handle of zero")
	}
	if q.Handle != 0 && q.Handle != d.qdiscSpec.Handle {
		return fmt.Errorf("%w: %s: the root qdisc is %x:, not %x:", tcsyntax.ErrNotFound, q.Dev, d.qdiscSpec.Handle>>16, q.Handle>>16)
	}
	nq, _ := fifo.New(fifo.Pfifo{}, d.nd.MTU())
	d.nd.SetTC(nil)
	d.flushQdiscFilters()
	d.txMu.Lock()
	old := d.qdisc
	d.qdisc, d.children, d.grafted = nq, nil, nil
	d.qdiscSpec = qdisc.Spec{Dev: d.nd.Name(), Parent: qdisc.HandleRoot, Params: nq.Params()}
	d.txMu.Unlock()
	d.discard(old)
	return nil
}

// ungraftLocked deletes the qdisc under a class of d's root: the class
// gets its default child back (pfifo; for tbf the bfifo of its limit), as
// the kernel grafts a default qdisc when a child is deleted.
func (ns *Namespace) ungraftLocked(d *Device, q *qdisc.Spec) error {
	d.txMu.Lock()
	defer d.txMu.Unlock()
	minor := q.Parent & 0xffff
	if r, ok := d.qdisc.(*mqRoot); ok && q.Parent&0xffff0000 == d.qdiscSpec.Handle && minor >= 1 && int(minor) <= len(r.children) {
		i := int(minor) - 1
		if d.children[i].Handle == 0 || q.Handle != 0 && q.Handle != d.children[i].Handle {
			return fmt.Errorf("%w: %s: no qdisc was added at parent %x:%x", tcsyntax.ErrNotFound, q.Dev, q.Parent>>16, minor)
		}
		c, _ := ns.e.newQdisc(mq.DefaultChild(), 0, d.nd.MTU())
		old := r.children[i]
		r.children[i] = c
		d.children[i] = qdisc.Spec{Dev: d.nd.Name(), Parent: q.Parent, Params: c.Params()}
		d.discard(old)
		return nil
	}
	i := slices.IndexFunc(d.grafted, func(g qdisc.Spec) bool {
		return g.Parent == q.Parent && (q.Handle == 0 || q.Handle == g.Handle)
	})
	if i < 0 {
		return fmt.Errorf("%w: %s: no qdisc was added at parent %x:%x", tcsyntax.ErrNotFound, q.Dev, q.Parent>>16, minor)
	}
	var err error
	switch r := d.qdisc.(type) {
	case prio.Qdisc:
		c, _ := fifo.New(fifo.Pfifo{}, d.nd.MTU())
		_, err = r.Graft(minor, c)
	case netem.Qdisc:
		// netem goes back to its own time-sorted queue alone.
		_, err = r.Graft(nil)
	case tbf.Qdisc:
		c, _ := fifo.New(fifo.Bfifo{Limit: d.qdiscSpec.Params.(tbf.Params).Limit}, d.nd.MTU())
		_, err = r.Graft(c)
	case htb.Qdisc:
		_, err = r.Graft(q.Parent, nil)
	}
	if err != nil {
		return err
	}
	d.grafted = slices.Delete(d.grafted, i, i+1)
	return nil
}

// Qdiscs implements tcsyntax.Target.
func (ns *Namespace) Qdiscs(dev string) ([]tcsyntax.QdiscView, error) {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	var devs []*Device
	if dev != "" {
		d, err := ns.deviceLocked(dev)
		if err != nil {
			return nil, err
		}
		devs = []*Device{d}
	} else {
		for _, d := range ns.devices {
			devs = append(devs, d)
		}
		sort.Slice(devs, func(i, j int) bool { return devs[i].nd.Index() < devs[j].nd.Index() })
	}
	var out []tcsyntax.QdiscView
	for _, d := range devs {
		d.txMu.Lock()
		root := tcsyntax.QdiscView{Spec: d.qdiscSpec, Stats: d.qdisc.Stats(), Extra: xstats(d.qdisc)}
		if r, ok := d.qdisc.(htb.Qdisc); ok {
			root.Spec.Params = tcsyntax.HtbParams{Params: r.Params().(htb.Params), DirectPackets: r.DirectPackets()}
		}
		if _, ok := d.qdisc.(*mqRoot); ok {
			root.Refcnt = 1 // tc shows no refcnt on mq roots
		}
		out = append(out, root)
		if r, ok := d.qdisc.(*mqRoot); ok {
			for i, c := range r.children {
				out = append(out, tcsyntax.QdiscView{Spec: d.children[i], Stats: c.Stats(), Extra: xstats(c)})
			}
		}
		for _, g := range d.grafted {
			if c := childOf(d.qdisc, g.Parent); c != nil {
				out = append(out, tcsyntax.QdiscView{Spec: g, Stats: c.Stats(), Extra: xstats(c)})
			}
		}
		d.txMu.Unlock()
		if d.clsact {
			var p qdisc.Params = qdisc.Clsact{}
			if d.clsactKind == "ingress" {
				p = qdisc.Ingress{}
			}
			// The hooks' counters: what entered the receive path,
			// what filters dropped, and netyard's loop and backlog
			// drops ("tc -s qdisc show" is where tc users look).
			c := d.Counters()
			out = append(out, tcsyntax.QdiscView{
				Spec: qdisc.Spec{Dev: d.nd.Name(), Parent: qdisc.HandleIngress, Handle: 0xffff0000, Params: p},
				Stats: qdisc.Stats{Bytes: c.RxBytes, Packets: c.RxPackets,
					Drops: c.IngressDrops + c.EgressDrops + c.LoopDrops + c.BacklogDrops},
				Extra: []tcsyntax.Field{
					{Name: "loop_drops", Value: c.LoopDrops},
					{Name: "backlog_drops", Value: c.BacklogDrops},
					{Name: "namespace_loop_drops", Value: ns.loopDrops.Load()},
				},
			})
		}
	}
	return out, nil
}

// AddActions implements tcsyntax.Target.
func (ns *Namespace) AddActions(specs []act.Spec, m tcsyntax.Mode) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	if err := ns.checkActionQuota(specs); err != nil {
		return err
	}
	for _, s := range specs {
		a, err := ns.actions.Add(s, m)
		if err != nil {
			return wrapActErr(err)
		}
		s.Common().Index = a.Spec().Common().Index
	}
	return nil
}

// DelAction implements tcsyntax.Target.
func (ns *Namespace) DelAction(kind string, index uint32) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	return wrapActErr(ns.actions.Delete(kind, index))
}

// FlushActions implements tcsyntax.Target.
func (ns *Namespace) FlushActions(kind string) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	n, err := ns.actions.Flush(kind)
	if n > 0 && errors.Is(err, act.ErrBound) {
		// tcf_del_walker: an extack message, but a success.
		return &tcsyntax.Warning{Msg: "Unable to flush all TC actions"}
	}
	return wrapActErr(err)
}

// Actions implements tcsyntax.Target.
func (ns *Namespace) Actions(kind string) ([]tcsyntax.ActionView, error) {
	vs, err := ns.actions.List(kind)
	if err != nil {
		return nil, wrapActErr(err)
	}
	out := make([]tcsyntax.ActionView, len(vs))
	for i, v := range vs {
		out[i] = actionView(v)
	}
	return out, nil
}

// Action implements tcsyntax.Target.
func (ns *Namespace) Action(kind string, index uint32) (tcsyntax.ActionView, error) {
	v, err := ns.actions.Get(kind, index)
	if err != nil {
		return tcsyntax.ActionView{}, wrapActErr(err)
	}
	return actionView(v), nil
}

func actionView(v act.View) tcsyntax.ActionView {
	return tcsyntax.ActionView{Spec: v.Spec, Stats: v.Stats, Refs: v.Refs, Binds: v.Binds}
}

func wrapClsErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cls.ErrNotFound):
		return fmt.Errorf("%w: %w", tcsyntax.ErrNotFound, err)
	case errors.Is(err, cls.ErrExists):
		return fmt.Errorf("%w: %w", tcsyntax.ErrExists, err)
	}
	return wrapActErr(err)
}

// RootFilters returns the handle of the device's root qdisc when that
// qdisc takes filters of its own (prio, htb: "filter add dev D parent 1:").
func (d *Device) RootFilters() (uint32, bool) {
	d.ns.e.mu.Lock()
	defer d.ns.e.mu.Unlock()
	_, ok := d.qdisc.(interface{ SetClassifier(qdisc.Classifier) })
	return d.qdiscSpec.Handle, ok && d.qdiscSpec.Handle != 0
}

// hook returns the chains and the published block of the hook that a
// filter's parent names. "parent ffff:" is the ingress hook, as for the
// ingress qdisc.
func (d *Device) hook(parent uint32) (*cls.Chains, *atomicBlock, error) {
	switch parent {
	case ParentIngress, cls.HandleIngress, 0xffff0000:
		return d.inChains, &d.ingress, nil
	case ParentEgress:
		return d.egChains, &d.egress, nil
	}
	// The root qdisc's own filters, when it takes filters (prio, htb);
	// parent 0 is tc's "filter show dev D" without a parent.
	if _, ok := d.qdisc.(interface{ SetClassifier(qdisc.Classifier) }); ok && d.qdiscSpec.Handle != 0 &&
		(parent == d.qdiscSpec.Handle || parent == 0) {
		return d.qdChains, &d.qdFilters, nil
	}
	if parent == 0 {
		return nil, nil, tcsyntax.Refuse(tcsyntax.ErrNotFound, "Parent Qdisc doesn't exists")
	}
	if parent&0xffff0000 == d.qdiscSpec.Handle && d.qdiscSpec.Handle != 0 {
		if _, ok := d.qdisc.(interface{ SetClassifier(qdisc.Classifier) }); ok {
			return nil, nil, tcsyntax.Refuse(nil, "Operation not supported: netyard attaches filters to the qdisc (parent %x:), not to its classes", parent>>16)
		}
		return nil, nil, tcsyntax.Refuse(nil, "Class doesn't support blocks")
	}
	return nil, nil, tcsyntax.Refuse(tcsyntax.ErrNotFound, "Parent Qdisc doesn't exists")
}

// publish makes the hook's filters the ones the data path runs, then frees
// the counters of what a change took out (deleted filters, actions that
// went with them). The Block is the hook's for its life and Chains has
// already changed just the parts of it that the command touched (cls's
// index.go: new nodes, copied buckets, copied short lists, each published
// with an atomic store), so storing it costs nothing and no command copies
// the hook's filters. The counters are freed after the change: a worker
// that still runs a deleted filter is inside a batch, and a freed slot is
// reused only when every worker has left the batch it was in at the free
// (stats.Set's grace period).
func publish(c *cls.Chains, b *atomicBlock) {
	b.Store(c.Block())
	c.ReleaseDead()
}

// flushQdiscFilters deletes the root qdisc's filters.
func (d *Device) flushQdiscFilters() {
	d.qdChains.Flush()
	d.qdFilters.Store(nil)
	d.qdChains.ReleaseDead()
}

func (d *Device) flushHook(parent uint32) {
	c, b, err := d.hook(parent)
	if err != nil {
		return
	}
	c.Flush()
	b.Store(nil)
	c.ReleaseDead()
	hookNode{d, parent != ParentEgress}.graph().flush()
}

// filterHookLocked finds the device and hook a filter command names.
func (ns *Namespace) filterHookLocked(f *cls.Filter) (*Device, *cls.Chains, *atomicBlock, error) {
	if f == nil {
		return nil, nil, nil, fmt.Errorf("filter: no configuration")
	}
	d, err := ns.deviceLocked(f.Dev)
	if err != nil {
		return nil, nil, nil, err
	}
	c, b, err := d.hook(f.Parent)
	return d, c, b, err
}

// CopiesFilters implements tcsyntax.FilterCopier: AddFilter keeps the
// filter's compiled form (cls.Chains.Add), nothing of the spec it is given,
// so a batch parses every filter into the same memory.
func (*Namespace) CopiesFilters() {}

var _ tcsyntax.FilterCopier = (*Namespace)(nil)

// AddFilter implements tcsyntax.Target. Unlike the kernel, netyard does not
// insist on "qdisc add dev X clsact" first: every device has both hooks,
// and a filter on one makes the device show a clsact qdisc.
func (ns *Namespace) AddFilter(f *cls.Filter, m tcsyntax.Mode) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	if err := ns.checkFilterQuota(f); err != nil {
		return err
	}
	d, c, b, err := ns.filterHookLocked(f)
	if err != nil {
		return err
	}
	if err := c.Add(f, m); err != nil {
		return wrapClsErr(err)
	}
	if b == &d.qdFilters {
		// A classful qdisc's filters are out of the redirect-cycle
		// graph, which follows the clsact hooks.
		publish(c, b)
		return nil
	}
	if !d.clsact {
		d.clsact, d.clsactKind = true, "clsact"
	}
	publish(c, b)
	// Only a filter that can redirect or end the hook for every packet
	// (or one that replaced such a filter) can close a cycle.
	if n := (hookNode{d, b == &d.ingress}); n.graph().added(f) {
		return ns.cycleWarning(n)
	}
	return nil
}

// DelFilter implements tcsyntax.Target.
func (ns *Namespace) DelFilter(f *cls.Filter) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, c, b, err := ns.filterHookLocked(f)
	if err != nil {
		return err
	}
	if err := c.Delete(f); err != nil {
		return wrapClsErr(err)
	}
	publish(c, b)
	if b != &d.qdFilters {
		hookNode{d, b == &d.ingress}.graph().deleted(f)
	}
	return nil
}

// Filters implements tcsyntax.Target.
func (ns *Namespace) Filters(dev string, parent uint32, chain *uint32) ([]tcsyntax.FilterView, error) {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, err := ns.deviceLocked(dev)
	if err != nil {
		return nil, err
	}
	c, _, err := d.hook(parent)
	if err != nil {
		return nil, err
	}
	var out []tcsyntax.FilterView
	for _, v := range c.List(chain) {
		fv := tcsyntax.FilterView{Spec: v.Spec, Stats: v.Stats}
		for _, a := range v.Actions {
			fv.Actions = append(fv.Actions, actionView(a))
		}
		out = append(out, fv)
	}
	return out, nil
}

// SetLinkRate implements tcsyntax.LinkTarget.
func (ns *Namespace) SetLinkRate(dev string, bytesPerSec uint64) error {
	d, err := ns.Device(dev)
	if err != nil {
		return err
	}
	d.SetRate(bytesPerSec)
	return nil
}

// SetTxQueues implements tcsyntax.LinkTarget. The number can change only
// while the root qdisc is not mq or mqprio, whose children are per queue.
func (ns *Namespace) SetTxQueues(dev string, n int) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, err := ns.deviceLocked(dev)
	if err != nil {
		return err
	}
	d.txMu.Lock()
	defer d.txMu.Unlock()
	if _, ok := d.qdisc.(*mqRoot); ok {
		return fmt.Errorf("%s: the root qdisc %s has a child per TX queue; delete it before changing txqueues", dev, d.qdiscSpec.Params.Kind())
	}
	return d.nd.SetTxQueues(n)
}

// SetXPS implements tcsyntax.LinkTarget.
func (ns *Namespace) SetXPS(dev string, cpu int, queues []uint16) error {
	d, err := ns.Device(dev)
	if err != nil {
		return err
	}
	return d.nd.SetXPS(cpu, queues)
}

// Links implements tcsyntax.LinkTarget.
func (ns *Namespace) Links(dev string) ([]tcsyntax.LinkView, error) {
	var devs []*Device
	if dev != "" {
		d, err := ns.Device(dev)
		if err != nil {
			return nil, err
		}
		devs = []*Device{d}
	} else {
		devs = ns.Devices()
	}
	out := make([]tcsyntax.LinkView, 0, len(devs))
	for _, d := range devs {
		out = append(out, tcsyntax.LinkView{Dev: d.nd.Name(), Rate: d.Rate(), TxQueues: d.nd.TxQueues(), MTU: d.nd.MTU()})
	}
	return out, nil
}

var _ tcsyntax.LinkTarget = (*Namespace)(nil)

// Classes implements tcsyntax.ClassLister: the classes of the device's
// root qdisc and of the qdiscs under it.
func (ns *Namespace) Classes(dev string) ([]tcsyntax.ClassView, error) {
	d, err := ns.Device(dev)
	if err != nil {
		return nil, err
	}
	d.txMu.Lock()
	defer d.txMu.Unlock()
	out := d.classes(d.qdisc, d.qdiscSpec.Handle, ns.e.clock.Now(), nil)
	for _, g := range d.grafted {
		if c := childOf(d.qdisc, g.Parent); c != nil {
			out = d.classes(c, g.Handle, ns.e.clock.Now(), out)
		}
	}
	return out, nil
}

var _ tcsyntax.ClassLister = (*Namespace)(nil)

var _ tcsyntax.ClassModifier = (*Namespace)(nil)

// rootHtbLocked finds the htb whose class c names (tc_ctl_tclass's steps
// 1 and 2: the qdisc by the majors of classid and parent, which must
// agree, and that it has classes made by hand).
func (ns *Namespace) rootHtbLocked(c *tcsyntax.ClassSpec) (*Device, htb.Qdisc, uint32, error) {
	d, err := ns.deviceLocked(c.Dev)
	if err != nil {
		return nil, nil, 0, err
	}
	qid := c.Handle & 0xffff0000
	if c.Parent != qdisc.HandleRoot {
		if p := c.Parent & 0xffff0000; qid != 0 && p != 0 && p != qid {
			return nil, nil, 0, tcsyntax.Refuse(nil, "Invalid argument: classid and parent belong to different qdiscs")
		} else if p != 0 {
			qid = p
		}
	}
	if qid == 0 {
		qid = d.qdiscSpec.Handle
	}
	if qid == 0 || qid != d.qdiscSpec.Handle {
		return nil, nil, 0, tcsyntax.Refuse(tcsyntax.ErrNotFound, "No such file or directory: no qdisc %x:", qid>>16)
	}
	r, ok := d.qdisc.(htb.Qdisc)
	if !ok {
		if c.Kind != "" && c.Kind != d.qdiscSpec.Params.Kind() {
			return nil, nil, 0, tcsyntax.Refuse(nil, "Invalid argument: the qdisc %x: is %s, not %s", qid>>16, d.qdiscSpec.Params.Kind(), c.Kind)
		}
		return nil, nil, 0, tcsyntax.Refuse(nil, "Operation not supported: the classes of %s come with the qdisc", d.qdiscSpec.Params.Kind())
	}
	return d, r, qid | c.Handle&0xffff, nil
}

// AddClass implements tcsyntax.ClassModifier (tc_ctl_tclass, htb_change_class).
func (ns *Namespace) AddClass(c *tcsyntax.ClassSpec, m tcsyntax.Mode) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, r, id, err := ns.rootHtbLocked(c)
	if err != nil {
		return err
	}
	p, ok := c.Params.(htb.ClassParams)
	if !ok {
		return tcsyntax.Refuse(nil, "Invalid argument: the qdisc is htb, not %s", c.Kind)
	}
	exists, _ := r.HasClass(id)
	d.txMu.Lock()
	defer d.txMu.Unlock()
	var warn string
	switch {
	case exists && m == tcsyntax.ModeAdd:
		return tcsyntax.Refuse(tcsyntax.ErrExists, "Class already exists")
	case !exists && m == tcsyntax.ModeChange:
		return tcsyntax.Refuse(tcsyntax.ErrNotFound, "Specified class not found")
	case exists:
		warn, err = r.ChangeClass(id, p)
	default:
		if id&0xffff == 0 {
			return tcsyntax.Refuse(nil, "Invalid argument: a class id needs a minor")
		}
		parent := c.Parent
		if ok, _ := r.HasClass(parent); !ok {
			// htb_change_class: a parent that is not a class
			// makes a root class.
			parent = qdisc.HandleRoot
		}
		wasLeaf := false
		if _, leaf := r.HasClass(parent); leaf {
			wasLeaf = true
		}
		warn, err = r.AddClass(id, parent, p, ns.e.clock.Now())
		if err == nil && wasLeaf {
			// The parent's qdisc went with its leafhood.
			d.grafted = slices.DeleteFunc(d.grafted, func(s qdisc.Spec) bool { return s.Parent == parent })
		}
	}
	if err != nil {
		return classErr(err)
	}
	if warn != "" {
		return &tcsyntax.Warning{Msg: warn}
	}
	return nil
}

// DelClass implements tcsyntax.ClassModifier (htb_delete).
func (ns *Namespace) DelClass(c *tcsyntax.ClassSpec) error {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	d, r, id, err := ns.rootHtbLocked(c)
	if err != nil {
		return err
	}
	if ok, _ := r.HasClass(id); !ok {
		return tcsyntax.Refuse(tcsyntax.ErrNotFound, "Specified class not found")
	}
	d.txMu.Lock()
	defer d.txMu.Unlock()
	if err := r.DelClass(id, ns.e.clock.Now()); err != nil {
		return classErr(err)
	}
	d.grafted = slices.DeleteFunc(d.grafted, func(s qdisc.Spec) bool { return s.Parent == id })
	return nil
}

func classErr(err error) error {
	switch {
	case errors.Is(err, htb.ErrInUse):
		return tcsyntax.Refuse(nil, "HTB class in use")
	case errors.Is(err, htb.ErrTooDeep):
		return tcsyntax.Refuse(nil, "sch_htb: tree is too deep")
	case errors.Is(err, htb.ErrExists):
		return tcsyntax.Refuse(tcsyntax.ErrExists, "Class already exists")
	case errors.Is(err, htb.ErrNoClass):
		return tcsyntax.Refuse(tcsyntax.ErrNotFound, "Specified class not found")
	}
	return tcsyntax.Refuse(nil, "Invalid argument: %v", err)
}

// discard drops what a qdisc leaving the device (replaced or deleted)
// still holds, as qdisc_reset does, and counts it in the device's TX
// drops: the old qdisc's own counters go with it, and a drop nothing
// counts would be a silent one. (The kernel's qdisc_change keeps a
// changed qdisc's queue; netyard builds a new qdisc for a change too, so
// a change of a qdisc with a backlog is counted here as well.)
func (d *Device) discard(old qdisc.Qdisc) {
	if n := old.Stats().Qlen; n > 0 {
		d.nd.Counters.TxDropped.Add(n)
	}
	old.Reset()
}
