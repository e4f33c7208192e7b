package datapath

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"netyard/act"
	"netyard/cls"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

type atomicBlock = atomic.Pointer[cls.Block]

var errBacklogFull = errors.New("backlog full")

// Device is a netdev.Device as the datapath runs it: its hooks, backlogs,
// qdisc and counters.
type Device struct {
	e      *Engine
	ns     *Namespace
	nd     *netdev.Device
	worker *worker

	// ingress and egress are the published filter blocks; nil means no
	// filters. The control plane swaps them; the data path only loads.
	ingress, egress atomicBlock
	// qdFilters is the filters of the root qdisc when it is classful
	// (prio, htb: "tc filter add dev D parent 1: ..."), run by the
	// qdisc's classify with txCtx, the context of the worker that
	// holds txMu while it enqueues.
	qdFilters atomicBlock
	txCtx     *act.Ctx

	backlogIn, backlogOut *netdev.Ring
	// poller is the device's polled backend (netdev.RxPoller), or nil.
	poller netdev.RxPoller
	// coalesce: the poller asks its worker to defer its wake-ups
	// (netdev.RxCoalescer).
	coalesce bool
	// A multi-queue poller (netdev.QueuePoller) on an engine of several
	// workers has its queues spread over them (spreadQueues): qpoller is
	// it, ownQueues the queues the device's own worker polls (the others
	// are other workers' rxShares), sharers those other workers. qpoller
	// nil: the owner polls every queue (PollRx).
	qpoller   netdev.QueuePoller
	ownQueues []int
	sharers   []*worker
	// ownTurn is the owner's next first queue among ownQueues.
	ownTurn int

	// txMu guards the qdisc: the owning worker holds it while it
	// enqueues and dequeues a batch, the control plane while it reads
	// statistics or replaces the qdisc.
	txMu      sync.Mutex
	qdisc     qdisc.Qdisc
	qdiscSpec qdisc.Spec
	// children are an mq root's per-queue qdiscs' configurations (the
	// running ones are in mqRoot), grafted the qdiscs put under a prio
	// band or a tbf class, for listing.
	children []qdisc.Spec
	grafted  []qdisc.Spec
	// rate is the link's speed in bytes a second (0: as fast as the
	// worker goes) and busyUntil when the packet on the wire has left.
	rate      uint64
	busyUntil int64

	// Control-plane state, under Engine.mu.
	clsact             bool
	clsactKind         string
	inChains, egChains *cls.Chains
	qdChains           *cls.Chains
	// inGraph, egGraph are the hooks' filters that matter to the
	// redirect-cycle graph (cycles.go).
	inGraph, egGraph graphHook

	stats   deviceStats
	loopLog rate.Sometimes
	// dead is set by Engine.DelDevice before its grace period: a worker
	// that still holds the device in an old slot list leaves it alone.
	dead atomic.Bool
	// qdiscMem is the qdisc's backlog as last folded into the
	// namespace's packet memory (foldQdiscMem), under txMu.
	qdiscMem int64
	// turn is which input ring service takes from first (its worker's).
	turn int
	// wifi: an 802.11 device (netdev.LinkIEEE80211; wifi.go): its
	// receive path is receive80211, its listeners get radiotap frames.
	wifi      bool
	listenMu  sync.Mutex
	listeners atomic.Pointer[listeners]
}

type deviceStats struct {
	delivered    atomic.Uint64 // passed ingress to the host side
	ingressDrops atomic.Uint64
	egressDrops  atomic.Uint64
	backlogDrops atomic.Uint64
	loopDrops    atomic.Uint64 // redirects refused here: TTL spent
	// 802.11 devices: capture records whose radiotap header could not
	// be read (dropped), or had a field netyard does not know (passed).
	radiotapErrors, radiotapUnknown atomic.Uint64
	// 802.11 devices: frames lost on their way to a listener (no
	// buffer for a copy, no headroom for the radiotap header, or the
	// listener's own queue full: Device.ListenerDrop). Several workers
	// may count (a listener's consumer too): atomic adds.
	listenerDrops atomic.Uint64
}

func newDevice(e *Engine, ns *Namespace, nd *netdev.Device) (*Device, error) {
	d := &Device{
		e: e, ns: ns, nd: nd,
		backlogIn:  netdev.NewRing(e.cfg.Backlog),
		backlogOut: netdev.NewRing(e.cfg.Backlog),
		loopLog:    rate.Sometimes{Interval: time.Second},
		poller:     nd.RxPoller(),
		wifi:       nd.Link() == netdev.LinkIEEE80211,
	}
	if c, ok := d.poller.(netdev.RxCoalescer); ok {
		d.coalesce = c.RxCoalesce()
	}
	// The default root qdisc: pfifo with the default txqueuelen. The
	// kernel gives a veth noqueue and a NIC pfifo_fast; netyard gives
	// every device a queue so that link rates (and drops) behave the
	// same on every kind of device. Handle 0 marks it as the default.
	q, err := fifo.New(fifo.Pfifo{}, nd.MTU())
	if err != nil {
		return nil, err
	}
	d.qdisc = q
	d.qdiscSpec = qdisc.Spec{Dev: nd.Name(), Parent: qdisc.HandleRoot, Params: q.Params()}
	d.inChains = cls.NewChains(ns.actions, env{ns})
	d.egChains = cls.NewChains(ns.actions, env{ns})
	d.qdChains = cls.NewChains(ns.actions, env{ns})
	return d, nil
}

// qdiscClassifier is a device's root-qdisc filters as a qdisc.Classifier.
type qdiscClassifier struct{ d *Device }

// Classify implements qdisc.Classifier: tcf_classify over the root
// qdisc's filters, on the worker that is enqueueing (txCtx).
func (c qdiscClassifier) Classify(p *pkt.Buffer) (uint32, qdisc.ClassifyResult) {
	blk := c.d.qdFilters.Load()
	if blk == nil || c.d.txCtx == nil {
		return 0, qdisc.NoMatch
	}
	r := blk.Classify(c.d.txCtx, p)
	switch r.Verdict {
	case act.Consumed:
		return 0, qdisc.Taken
	case act.Shot:
		return 0, qdisc.Dropped
	case act.Stolen, act.Queued, act.Trap:
		p.Release()
		return 0, qdisc.Taken
	}
	if !r.Matched {
		return 0, qdisc.NoMatch
	}
	return r.ClassID, qdisc.Matched
}

// SetRate sets the link's transmit rate in bytes a second; 0 removes the
// limit. A device then transmits no faster than that in the datapath's
// time: a packet leaves when its last byte would have.
func (d *Device) SetRate(bytesPerSec uint64) {
	d.txMu.Lock()
	d.rate = bytesPerSec
	// The frame on the wire is taken to have left: a rate raised from a
	// very slow one must not keep the link busy for the old frame's time.
	d.busyUntil = min(d.busyUntil, d.e.clock.Now())
	d.txMu.Unlock()
}

// Rate is the link's transmit rate in bytes a second (0: unlimited).
func (d *Device) Rate() uint64 {
	d.txMu.Lock()
	defer d.txMu.Unlock()
	return d.rate
}

// Name is the device's name.
func (d *Device) Name() string { return d.nd.Name() }

// Netdev is the underlying device.
func (d *Device) Netdev() *netdev.Device { return d.nd }

// Namespace is the device's namespace.
func (d *Device) Namespace() *Namespace { return d.ns }

// Counters is a snapshot of a device's datapath counters.
type Counters struct {
	RxPackets, RxBytes, RxDropped uint64
	RxErrors                      uint64 // shorter than an Ethernet header, dropped on receive
	TxPackets, TxBytes, TxDropped uint64
	Delivered                     uint64 // passed to the host side
	IngressDrops, EgressDrops     uint64 // dropped by a filter verdict
	BacklogDrops                  uint64 // redirected here while the backlog was full
	LoopDrops                     uint64 // redirects from here refused: TTL spent
	// RadiotapErrors counts capture records dropped because their
	// radiotap header could not be read (also in RxErrors);
	// RadiotapUnknown those passed with a field netyard does not know.
	RadiotapErrors, RadiotapUnknown uint64
	// Listeners is the number of frame listeners attached now (netyard
	// capture sessions, replay's --capture/--monitor, the lab's);
	// ListenerDrops the frames they lost (Device.ListenerDrop).
	Listeners, ListenerDrops uint64
}

// Counters returns the device's counters.
func (d *Device) Counters() Counters {
	c := &d.nd.Counters
	return Counters{
		RxPackets: c.RxPackets.Load(), RxBytes: c.RxBytes.Load(), RxDropped: c.RxDropped.Load(), RxErrors: c.RxErrors.Load(),
		TxPackets: c.TxPackets.Load(), TxBytes: c.TxBytes.Load(), TxDropped: c.TxDropped.Load(),
		Delivered:    d.stats.delivered.Load(),
		IngressDrops: d.stats.ingressDrops.Load(),
		EgressDrops:  d.stats.egressDrops.Load(),
		BacklogDrops: d.stats.backlogDrops.Load(),
		LoopDrops:    d.stats.loopDrops.Load(),

		RadiotapErrors:  d.stats.radiotapErrors.Load(),
		RadiotapUnknown: d.stats.radiotapUnknown.Load(),
		Listeners:       uint64(d.listenerCount()),
		ListenerDrops:   d.stats.listenerDrops.Load(),
	}
}
