package datapath

import (
	"fmt"
	"sort"
	"sync/atomic"

	"netyard/act"
	"netyard/pkt"
	"netyard/stats"
	"netyard/tcsyntax"
)

// Namespace is a set of devices with their own action table: a tenant. tc
// commands address one namespace, as "tc -n NETNS" addresses one network
// namespace. A mirred target is looked up in the filter's namespace.
type Namespace struct {
	e       *Engine
	name    string
	devices map[string]*Device // under Engine.mu
	actions *act.Table
	// actionCells holds the actions' counters.
	actionCells *stats.Set

	loopDrops atomic.Uint64
	// graphBuilds counts builds of the redirect-cycle graph (cycles.go),
	// under Engine.mu: tests check that filters which cannot redirect
	// never cost one.
	graphBuilds uint64

	// Tenant limits: the packets the namespace may take from rings per
	// round of a worker's deficit round robin, and the bytes its
	// devices' backlogs may hold together (0: no limit).
	quantumPkts  atomic.Int64
	backlogLimit atomic.Int64
	backlogBytes atomic.Int64
	// lim are the quotas and packet-memory thresholds (limits.go).
	lim nsLimits
}

// DefaultQuantum is a namespace's packets per DRR round: one batch.
const DefaultQuantum = batchSize

// DefaultBacklogLimit is a namespace's backlog memory limit: 4 MiB, a
// couple of thousand full-size frames, far above what a well-behaved
// tenant keeps queued between two rounds.
const DefaultBacklogLimit = 4 << 20

func newNamespace(e *Engine, name string) *Namespace {
	ns := &Namespace{e: e, name: name, devices: make(map[string]*Device)}
	ns.quantumPkts.Store(DefaultQuantum)
	ns.backlogLimit.Store(DefaultBacklogLimit)
	ns.actionCells = stats.NewSet(e.gens)
	ns.actions = act.NewTable(env{ns})
	return ns
}

// SetLimits sets the namespace's packets per DRR round (quantum, at least
// 1) and its backlog memory limit in bytes (0 for none).
func (ns *Namespace) SetLimits(quantum int, backlogBytes int64) error {
	if quantum < 1 {
		return fmt.Errorf("namespace %s: quantum %d: must be >= 1", ns.name, quantum)
	}
	if backlogBytes < 0 {
		return fmt.Errorf("namespace %s: backlog limit %d: must be >= 0", ns.name, backlogBytes)
	}
	ns.quantumPkts.Store(int64(quantum))
	ns.backlogLimit.Store(backlogBytes)
	return nil
}

func (ns *Namespace) quantum() int {
	q := int(ns.quantumPkts.Load())
	if ns.lim.pressure.Load() {
		// Under memory pressure its DRR share is halved (limits.go).
		q = max(q/2, 1)
	}
	return q
}

// BacklogBytes is what the namespace's backlogs hold now.
func (ns *Namespace) BacklogBytes() int64 { return ns.backlogBytes.Load() }

// Name is the namespace's name.
func (ns *Namespace) Name() string { return ns.name }

// Engine is the engine the namespace belongs to.
func (ns *Namespace) Engine() *Engine { return ns.e }

// LoopDrops counts packets of this namespace dropped because their redirect
// TTL was spent.
func (ns *Namespace) LoopDrops() uint64 { return ns.loopDrops.Load() }

// Device returns the device called name.
func (ns *Namespace) Device(name string) (*Device, error) {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	return ns.deviceLocked(name)
}

func (ns *Namespace) deviceLocked(name string) (*Device, error) {
	d, ok := ns.devices[name]
	if !ok {
		return nil, &tcsyntax.NoDeviceError{Name: name}
	}
	return d, nil
}

// Devices lists the namespace's devices by name.
func (ns *Namespace) Devices() []*Device {
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	out := make([]*Device, 0, len(ns.devices))
	for _, d := range ns.devices {
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].nd.Name() < out[j].nd.Name() })
	return out
}

// Inject delivers frame to d's receive path as if it had arrived from the
// wire at time t: a copy goes onto the device's RX ring. It fails when the
// packet memory limit is reached or the frame is too large.
func (d *Device) Inject(frame []byte, t int64) error {
	p, err := d.copyIn(frame)
	if err != nil {
		return err
	}
	p.Time = t
	p.TTL = d.e.cfg.RedirectTTL
	d.nd.Receive(p, t) // wakes the worker (SetNotify)
	return nil
}

// copyIn copies a frame from the wire into a buffer of d's pool; a frame
// that finds no buffer, or does not fit one, is counted in d's RX drops.
func (d *Device) copyIn(frame []byte) (*pkt.Buffer, error) {
	p, err := d.e.pool.Get()
	if err != nil {
		d.nd.Counters.RxDropped.Add(1)
		return nil, err
	}
	if err := p.SetData(frame); err != nil {
		d.nd.Counters.RxDropped.Add(1)
		p.Release()
		return nil, err
	}
	return p, nil
}

// Receive hands d a frame from its wire (a lab host's cable, a backend) at
// time t: p gets the engine's redirect TTL and goes onto the RX ring. It
// takes ownership of p.
func (d *Device) Receive(p *pkt.Buffer, t int64) {
	p.TTL = d.e.cfg.RedirectTTL
	d.nd.Receive(p, t)
}

// Now is the engine's clock, so that tc's "installed N sec used N sec" is
// measured on the datapath's time (virtual in replay and lab).
func (ns *Namespace) Now() int64 { return ns.e.clock.Now() }

var _ tcsyntax.Clock = (*Namespace)(nil)
