package datapath

import (
	"fmt"
	"sort"
	"sync/atomic"

	"netyard/act"
	"netyard/pkt"
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

	loopDrops atomic.Uint64
}

func newNamespace(e *Engine, name string) *Namespace {
	ns := &Namespace{e: e, name: name, devices: make(map[string]*Device)}
	ns.actions = act.NewTable(env{ns})
	return ns
}

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
		return nil, fmt.Errorf("%w %q", ErrNoDevice, name)
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
	p, err := d.e.pool.Get()
	if err != nil {
		d.nd.Counters.RxDropped.Add(1)
		return err
	}
	if err := p.SetData(frame); err != nil {
		d.nd.Counters.RxDropped.Add(1)
		p.Release()
		return err
	}
	p.Time = t
	d.nd.Receive(p, t)
	d.worker.poke()
	return nil
}

// Send puts p on d's transmit path as a locally generated packet (a socket
// on the host side): egress hook, qdisc, device. It takes ownership of p.
func (d *Device) Send(p *pkt.Buffer) {
	_ = p.Parse()
	if !d.backlogOut.Push(p) {
		d.stats.backlogDrops.Add(1)
		p.Release()
		return
	}
	d.worker.poke()
}

// Now is the engine's clock, so that tc's "installed N sec used N sec" is
// measured on the datapath's time (virtual in replay and lab).
func (ns *Namespace) Now() int64 { return ns.e.clock.Now() }

var _ tcsyntax.Clock = (*Namespace)(nil)
