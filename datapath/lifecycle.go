package datapath

import (
	"errors"
	"fmt"
	"sort"

	"netyard/act"
	"netyard/netdev"
	"netyard/tcsyntax"
)

// Deleting devices and namespaces (issue 12, "lifecycle without leaks").
// A device is taken out of every place the data path finds it (the index
// slice mirred and nextWake read, its worker's slot list), marked dead so
// that a worker still holding an old slot list leaves it alone, and then
// the control plane waits for the workers' grace period (stats.Domain's
// Advance: every DRR visit that began before has ended). Only then does it
// free what the device held: its hooks' filters with their counters and
// the actions bound to them, its qdisc's queued buffers, its RX ring and
// backlogs (back to the pool, the namespace's backlog bytes with them).
// Device indexes are never reused, so a mirred action that still names
// the device finds no device and drops, as the kernel's mirred does when
// its device is gone.

// ErrNamespaceBusy is wrapped when a namespace that still has devices is
// deleted without taking them along.
var ErrNamespaceBusy = errors.New("namespace has devices")

// DelDevice deletes the device called name from ns, with its peer when it
// is one end of an in-memory pair (as deleting one end of a veth deletes
// both). detach, when given, runs after the grace period and before the
// rings are drained: the daemon closes a backend's port there, so that
// nothing pushes onto the rings after they are emptied.
func (e *Engine) DelDevice(ns *Namespace, name string, detach func(*Device)) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := ns.deviceLocked(name)
	if err != nil {
		return fmt.Errorf("%w: %w", tcsyntax.ErrNotFound, err)
	}
	gone := []*Device{d}
	if p := d.nd.Peer(); p != nil {
		if pd := e.device(p.Index()); pd != nil && pd.nd == p {
			gone = append(gone, pd)
		}
	}
	e.unpublishLocked(gone)
	e.gens.Grace()
	for _, g := range gone {
		if detach != nil {
			detach(g)
		}
		g.release()
	}
	return nil
}

// unpublishLocked takes devices out of the namespace maps, the index
// slice and their workers' slot lists, and marks them dead.
func (e *Engine) unpublishLocked(gone []*Device) {
	for _, d := range gone {
		d.dead.Store(true)
		delete(d.ns.devices, d.nd.Name())
		e.devices.set(d.nd.Index(), nil)
		d.worker.removeDevice(d)
		for _, w := range d.sharers {
			w.removeDevice(d)
		}
	}
}

// release frees what a dead device holds, after the grace period.
func (d *Device) release() {
	for _, parent := range []uint32{ParentIngress, ParentEgress} {
		c, b, _ := d.hook(parent)
		b.Store(nil)
		c.Close()
		hookNode{d, parent != ParentEgress}.graph().flush()
	}
	// The root qdisc's filters (parent 1: of a classful root) have a
	// counter set of their own.
	d.qdFilters.Store(nil)
	d.qdChains.Close()
	d.txMu.Lock()
	d.qdisc.Reset()
	d.ns.lim.qdiscMem.Add(-d.qdiscMem)
	d.qdiscMem = 0
	d.txMu.Unlock()
	for p := d.nd.RxRing().Pop(); p != nil; p = d.nd.RxRing().Pop() {
		p.Release()
	}
	for _, r := range []ringDrain{{d, true}, {d, false}} {
		for r.pop() {
		}
	}
}

// ringDrain empties one backlog, giving its bytes back to the namespace.
type ringDrain struct {
	d  *Device
	in bool
}

func (r ringDrain) pop() bool {
	ring := r.d.backlogOut
	if r.in {
		ring = r.d.backlogIn
	}
	p := ring.Pop()
	if p == nil {
		return false
	}
	r.d.ns.backlogBytes.Add(-int64(p.Len()))
	p.Release()
	return true
}

// removeDevice is addDevice's (and addQueue's) reverse, under the
// engine's lock: a new slot list without d or its queues (and without its
// namespace's slot when nothing of it is left here).
func (w *worker) removeDevice(d *Device) {
	old := *w.nss.Load()
	slots := make([]*nsSlot, 0, len(old))
	for _, s := range old {
		if s.ns == d.ns {
			c := &nsSlot{ns: s.ns, devs: make([]*Device, 0, len(s.devs))}
			for _, x := range s.devs {
				if x != d {
					c.devs = append(c.devs, x)
				}
			}
			for _, x := range s.rxqs {
				if x.d != d {
					c.rxqs = append(c.rxqs, x)
				}
			}
			if len(c.devs) == 0 && len(c.rxqs) == 0 {
				continue
			}
			s = c
		}
		slots = append(slots, s)
	}
	w.nss.Store(&slots)
	w.slotsGen.Add(1)
}

// DelNamespace deletes the namespace called name. With devices it fails
// (ErrNamespaceBusy) unless all is set; then its devices go first (detach
// runs for each, as for DelDevice). Its actions, their counters and its
// counter sets go with it. The default namespace cannot be deleted.
func (e *Engine) DelNamespace(name string, all bool, detach func(*Device)) error {
	if name == DefaultNamespace {
		return fmt.Errorf("namespace %q: the default namespace cannot be deleted", name)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	ns, ok := e.namespaces[name]
	if !ok {
		return fmt.Errorf("namespace %q: %w", name, tcsyntax.ErrNotFound)
	}
	if len(ns.devices) > 0 && !all {
		return fmt.Errorf("namespace %q: %w (%d): delete them first", name, ErrNamespaceBusy, len(ns.devices))
	}
	var gone []*Device
	for _, d := range ns.devices {
		gone = append(gone, d)
		// A pair's other end in another namespace goes too.
		if p := d.nd.Peer(); p != nil {
			if pd := e.device(p.Index()); pd != nil && pd.nd == p && pd.ns != ns {
				gone = append(gone, pd)
			}
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].nd.Index() < gone[j].nd.Index() })
	e.unpublishLocked(gone)
	delete(e.namespaces, name)
	e.gens.Grace()
	for _, d := range gone {
		if detach != nil {
			detach(d)
		}
		d.release()
	}
	// The hooks are gone and nothing finds the namespace any more: its
	// action table goes to the collector whole, its counter set leaves
	// the domain (the chunks' off-heap maps are freed with it).
	ns.actionCells.Close()
	return nil
}

// Limits are the namespace's DRR quantum (packets per round) and backlog
// memory limit (bytes, 0: none).
func (ns *Namespace) Limits() (quantum int, backlogLimit int64) {
	return ns.quantum(), ns.backlogLimit.Load()
}

// ActionCount is the number of actions in the namespace's table, bound
// and standalone.
func (ns *Namespace) ActionCount() int {
	n := 0
	for _, k := range act.Kinds {
		n += ns.actions.Len(k)
	}
	return n
}

// PacketMemory is the bytes of packets the namespace holds now: in its
// devices' backlogs and in their qdiscs.
func (ns *Namespace) PacketMemory() int64 {
	n := ns.backlogBytes.Load()
	for _, d := range ns.Devices() {
		d.txMu.Lock()
		n += int64(d.qdisc.Stats().Backlog)
		d.txMu.Unlock()
	}
	return n
}

// AddPair creates an in-memory pair (a veth): device a in nsA and b in
// nsB, each transmitting into the other's receive path. Both ends are
// paired before any worker can see them. A frame crossing keeps its
// redirect TTL (netdev's pair transmit; docs/LOOPS.md rule 3), so a loop
// through pairs and namespaces stays bounded.
func (e *Engine) AddPair(nsA *Namespace, a netdev.Config, nsB *Namespace, b netdev.Config) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := nsA.devices[a.Name]; ok {
		return fmt.Errorf("device %q: %w in namespace %q", a.Name, tcsyntax.ErrExists, nsA.name)
	}
	if _, ok := nsB.devices[b.Name]; ok || nsA == nsB && a.Name == b.Name {
		return fmt.Errorf("device %q: %w in namespace %q", b.Name, tcsyntax.ErrExists, nsB.name)
	}
	if nsA == nsB {
		if err := nsA.checkDeviceQuota(2); err != nil {
			return err
		}
	} else if err := errors.Join(nsA.checkDeviceQuota(1), nsB.checkDeviceQuota(1)); err != nil {
		return err
	}
	nda, err := netdev.New(e.nextIndex, a)
	if err != nil {
		return err
	}
	ndb, err := netdev.New(e.nextIndex+1, b)
	if err != nil {
		return err
	}
	if err := netdev.NewPair(nda, ndb); err != nil {
		return err
	}
	if _, err := e.publishLocked(nsA, nda); err != nil {
		return err
	}
	if _, err := e.publishLocked(nsB, ndb); err != nil {
		// Take a back out, as it came in (no packet can have reached
		// it: its peer was never published).
		da := e.device(nda.Index())
		e.unpublishLocked([]*Device{da})
		return err
	}
	return nil
}
