package datapath

import (
	"errors"
	"fmt"
	"sync/atomic"

	"netyard/act"
	"netyard/cls"
)

// Per-tenant limits (issue 12 item 4): quotas on the objects a namespace
// may hold, and its packet memory with three thresholds as the kernel's
// tcp_mem has them.
//
// Packet memory is the bytes of packets the namespace holds in its
// devices' backlogs (counted per packet, as before) and in their qdiscs
// (each device's qdisc backlog, folded into the namespace's sum by its
// worker once per service round: no per-packet cost). The thresholds:
//
//   - below min, nothing; the namespace leaves memory pressure there;
//   - above pressure it enters memory pressure (and stays until below
//     min, tcp_mem's hysteresis): each new packet (one taken from a
//     device's RX ring or polled backend, or sent locally) is dropped
//     with probability (mem - pressure) / (max - pressure), and its DRR
//     quantum is halved, so that the tenant that holds memory gives up
//     its share first;
//   - above max every new packet is dropped.
//
// Packets already in the namespace (in backlogs, qdiscs) go on; redirects
// into it are bounded by its backlog limit. The pool's global limit
// protects the process whatever the namespaces' settings.
//
// The data path reads one pointer a batch (nil without thresholds) and
// decides per packet on a value it holds in a register.

// MemLimits are a namespace's packet-memory thresholds in bytes; all zero
// is none. Min <= Pressure <= Max, Max > 0 when set.
type MemLimits struct {
	Min, Pressure, Max int64
}

// Quotas bound the objects of a namespace; 0 is no bound.
type Quotas struct {
	Actions, Filters, Devices int
}

// ErrQuota is wrapped when a quota refuses an object.
var ErrQuota = errors.New("quota exceeded")

// nsLimits is the part of Namespace that limits.go owns.
type nsLimits struct {
	mem      atomic.Pointer[MemLimits]
	quotas   atomic.Pointer[Quotas]
	qdiscMem atomic.Int64 // bytes in the devices' qdiscs, as last folded in
	// pressure is set while the namespace is under memory pressure.
	pressure atomic.Bool

	// When the limits bit.
	pressureDrops, maxDrops, pressureEntered       atomic.Uint64
	actionsRefused, filtersRefused, devicesRefused atomic.Uint64
}

// LimitStats says how often each limit bit.
type LimitStats struct {
	PressureDrops, MaxDrops, PressureEntered       uint64
	ActionsRefused, FiltersRefused, DevicesRefused uint64
	// Pressure is whether the namespace is under memory pressure now.
	Pressure bool
}

// SetMemLimits sets the packet-memory thresholds (all zero: none).
func (ns *Namespace) SetMemLimits(m MemLimits) error {
	if m == (MemLimits{}) {
		ns.lim.mem.Store(nil)
		ns.lim.pressure.Store(false)
		return nil
	}
	if m.Min < 0 || m.Min > m.Pressure || m.Pressure > m.Max || m.Max <= 0 {
		return fmt.Errorf("namespace %s: mem %d %d %d: want 0 <= min <= pressure <= max, max > 0", ns.name, m.Min, m.Pressure, m.Max)
	}
	ns.lim.mem.Store(&m)
	return nil
}

// MemLimits are the packet-memory thresholds.
func (ns *Namespace) MemLimits() MemLimits {
	if m := ns.lim.mem.Load(); m != nil {
		return *m
	}
	return MemLimits{}
}

// SetQuotas sets the object quotas (0: none). Objects already there stay.
func (ns *Namespace) SetQuotas(q Quotas) error {
	if q.Actions < 0 || q.Filters < 0 || q.Devices < 0 {
		return fmt.Errorf("namespace %s: quotas %+v: must be >= 0", ns.name, q)
	}
	ns.lim.quotas.Store(&q)
	return nil
}

// Quotas are the object quotas.
func (ns *Namespace) Quotas() Quotas {
	if q := ns.lim.quotas.Load(); q != nil {
		return *q
	}
	return Quotas{}
}

// LimitStats reads the limits' counters.
func (ns *Namespace) LimitStats() LimitStats {
	l := &ns.lim
	return LimitStats{PressureDrops: l.pressureDrops.Load(), MaxDrops: l.maxDrops.Load(), PressureEntered: l.pressureEntered.Load(),
		ActionsRefused: l.actionsRefused.Load(), FiltersRefused: l.filtersRefused.Load(), DevicesRefused: l.devicesRefused.Load(),
		Pressure: l.pressure.Load()}
}

// dropAll is memDropLevel's "every packet" (probabilities are in 1/2^16).
const dropAll = 1 << 16

// memDropLevel is the probability, in 1/2^16, that a new packet of the
// namespace is dropped now (0: none; dropAll: all), and it moves the
// pressure state. Once a batch.
func (ns *Namespace) memDropLevel() uint32 {
	m := ns.lim.mem.Load()
	if m == nil {
		return 0
	}
	mem := ns.backlogBytes.Load() + ns.lim.qdiscMem.Load()
	switch {
	case mem >= m.Max:
		ns.enterPressure()
		return dropAll
	case mem > m.Pressure:
		ns.enterPressure()
	case mem < m.Min:
		ns.lim.pressure.Store(false)
		return 0
	}
	if !ns.lim.pressure.Load() || mem <= m.Pressure {
		return 0
	}
	return uint32((mem - m.Pressure) * dropAll / max(m.Max-m.Pressure, 1))
}

func (ns *Namespace) enterPressure() {
	if !ns.lim.pressure.Load() && ns.lim.pressure.CompareAndSwap(false, true) {
		ns.lim.pressureEntered.Add(1)
	}
}

// memDrop decides one new packet at level (memDropLevel) and counts the
// drop; rnd is the worker's random source.
func (ns *Namespace) memDrop(level uint32, rnd *uint32) bool {
	if level >= dropAll {
		ns.lim.maxDrops.Add(1)
		return true
	}
	// xorshift32: cheap, per worker, good enough for early drops.
	x := *rnd
	x ^= x << 13
	x ^= x >> 17
	x ^= x << 5
	*rnd = x
	if x&0xffff < level {
		ns.lim.pressureDrops.Add(1)
		return true
	}
	return false
}

// foldQdiscMem brings the namespace's qdisc bytes up to date with d's
// qdisc. Its worker calls it after a service round, holding d.txMu.
func (d *Device) foldQdiscMem() {
	if b := int64(d.qdisc.Stats().Backlog); b != d.qdiscMem {
		d.ns.lim.qdiscMem.Add(b - d.qdiscMem)
		d.qdiscMem = b
	}
}

// checkActionQuota refuses n new actions beyond the namespace's quota.
// Under the engine's lock.
func (ns *Namespace) checkActionQuota(specs []act.Spec) error {
	q := ns.lim.quotas.Load()
	if q == nil || q.Actions == 0 {
		return nil
	}
	n := 0
	for _, s := range specs {
		if _, ref := s.(*act.Ref); !ref {
			n++
		}
	}
	if have := ns.ActionCount(); have+n > q.Actions {
		ns.lim.actionsRefused.Add(1)
		return fmt.Errorf("namespace %s: %w: %d actions, %d more asked, quota %d", ns.name, ErrQuota, have, n, q.Actions)
	}
	return nil
}

// checkFilterQuota refuses a filter (and its new actions) beyond the
// quotas. Under the engine's lock; O(devices of the namespace), which the
// device quota bounds.
func (ns *Namespace) checkFilterQuota(f *cls.Filter) error {
	q := ns.lim.quotas.Load()
	if q == nil {
		return nil
	}
	if q.Filters > 0 {
		have := 0
		for _, d := range ns.devices {
			// The root qdisc's filters (parent 1: of prio or htb)
			// count too.
			have += d.inChains.Len() + d.egChains.Len() + d.qdChains.Len()
		}
		if have >= q.Filters {
			ns.lim.filtersRefused.Add(1)
			return fmt.Errorf("namespace %s: %w: %d filters, quota %d", ns.name, ErrQuota, have, q.Filters)
		}
	}
	if f != nil {
		return ns.checkActionQuota(f.Actions)
	}
	return nil
}

// checkDeviceQuota refuses n new devices beyond the quota. Under the
// engine's lock.
func (ns *Namespace) checkDeviceQuota(n int) error {
	q := ns.lim.quotas.Load()
	if q == nil || q.Devices == 0 || len(ns.devices)+n <= q.Devices {
		return nil
	}
	ns.lim.devicesRefused.Add(1)
	return fmt.Errorf("namespace %s: %w: %d devices, quota %d", ns.name, ErrQuota, len(ns.devices), q.Devices)
}
