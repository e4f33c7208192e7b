package datapath

// The packet path, as one worker runs it (no locks on the way but the
// device's TX lock, which only its own worker and the control plane's
// statistics reads take):
//
//	device RX ring ─┐
//	backlog (in)  ──┴─> receive: parse, VLAN 0 rule, ingress hook
//	                       │ pass/no match -> host (counted, consumed)
//	                       │ drop          -> counted, released
//	                       │ mirred        -> target's backlog (in or out), TTL-1
//	backlog (out) ────> transmit: egress hook -> queue selection -> qdisc
//	qdisc ────────────> dequeue -> netdev.Transmit (peer's RX ring, or sink)
//
// A redirect never calls into another device's path: it pushes the packet
// onto that device's backlog and returns, so processing depth is bounded by
// data (the packet's TTL), not by the Go stack. A full backlog drops.

import (
	"log/slog"
	"sync/atomic"

	"netyard/act"
	"netyard/pkt"
)

// batchSize is how many packets a worker takes from one ring before moving
// on to the next: enough to amortise per-batch costs, small enough that one
// busy device cannot hold up the others for long (NAPI's weight is 64).
const batchSize = 64

type worker struct {
	e    *Engine
	id   int
	devs atomic.Pointer[[]*Device]
	ctx  act.Ctx
	wake chan struct{}
	// parked is set while the worker sleeps in Start mode; only then do
	// producers need to wake it (a channel send per packet costs more
	// than the rest of the path).
	parked atomic.Bool

	// Scratch space for a transmit batch.
	txb [batchSize]*pkt.Buffer
	txq [batchSize]int
}

func newWorker(e *Engine, id int) *worker {
	w := &worker{e: e, id: id, wake: make(chan struct{}, 1)}
	w.ctx = act.Ctx{Worker: id, Out: e}
	empty := []*Device{}
	w.devs.Store(&empty)
	return w
}

// addDevice is called with the engine's lock held.
func (w *worker) addDevice(d *Device) {
	old := *w.devs.Load()
	ds := make([]*Device, len(old), len(old)+1)
	copy(ds, old)
	ds = append(ds, d)
	w.devs.Store(&ds)
}

// poke wakes the worker if it is parked (Start mode); it never blocks.
func (w *worker) poke() {
	if !w.parked.Load() {
		return
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// poll serves each of the worker's devices once and reports whether it
// found any work.
func (w *worker) poll(now int64) bool {
	w.ctx.Now = now
	did := false
	for _, d := range *w.devs.Load() {
		if d.service(w, now) {
			did = true
		}
	}
	return did
}

// service runs one round of a device: up to a batch from each of its input
// rings, then its qdisc.
func (d *Device) service(w *worker, now int64) bool {
	did := false
	for range batchSize {
		p := d.backlogIn.Pop()
		if p == nil {
			break
		}
		did = true
		d.receive(w, p)
	}
	rx := d.nd.RxRing()
	var pkts, bytes uint64
	for range batchSize {
		p := rx.Pop()
		if p == nil {
			break
		}
		pkts++
		bytes += uint64(p.Len())
		d.receive(w, p)
	}
	if pkts > 0 {
		// Counted once a batch: each add is a locked instruction.
		did = true
		d.nd.Counters.RxPackets.Add(pkts)
		d.nd.Counters.RxBytes.Add(bytes)
	}
	d.txMu.Lock()
	for range batchSize {
		p := d.backlogOut.Pop()
		if p == nil {
			break
		}
		did = true
		d.transmit(w, p, now)
	}
	for d.qdisc.Len() > 0 {
		did = true
		d.dequeueBatch(w, now)
	}
	d.txMu.Unlock()
	return did
}

// dequeueBatch takes up to a batch from the qdisc and transmits it, a run
// of packets for the same TX queue at a time. The caller holds d.txMu.
func (d *Device) dequeueBatch(w *worker, now int64) {
	n := 0
	for n < batchSize {
		p := d.qdisc.Dequeue(now)
		if p == nil {
			break
		}
		w.txq[n] = d.nd.PickTx(p, d.e.cfg.HashSeed)
		w.txb[n] = p
		n++
	}
	for i := 0; i < n; {
		j := i + 1
		for j < n && w.txq[j] == w.txq[i] {
			j++
		}
		d.nd.TransmitBatch(w.txq[i], w.txb[i:j], now)
		i = j
	}
	clear(w.txb[:n])
}

// receive runs the receive path of d on p: the frame has arrived from the
// wire or from a redirect to d's ingress.
func (d *Device) receive(w *worker, p *pkt.Buffer) {
	p.Ingress = d.nd.Index()
	// The VLAN 0 rule applies at every receive, first or after a
	// redirect: docs/VLAN.md.
	// A frame that does not parse beyond L2 still goes through the hook:
	// matchall and the protocol check need no more.
	_ = p.Parse()
	p.StripPriorityTags()
	blk := d.ingress.Load()
	if blk == nil {
		d.deliver(p)
		return
	}
	r := blk.Classify(&w.ctx, p)
	switch r.Verdict {
	case act.Consumed:
		// mirred took it
	case act.Shot:
		d.stats.ingressDrops.Add(1)
		p.Release()
	case act.Stolen, act.Queued, act.Trap:
		p.Release()
	default:
		d.deliver(p)
	}
}

// deliver hands p to the host side of d: netyard has no IP stack, so the
// packet is counted and consumed, as a host with no listener would. A
// device with no rules therefore forwards nothing, as in the kernel.
func (d *Device) deliver(p *pkt.Buffer) {
	d.stats.delivered.Add(1)
	p.Release()
}

// transmit runs the transmit path of d on p: egress hook, then the qdisc.
// The caller holds d.txMu.
func (d *Device) transmit(w *worker, p *pkt.Buffer, now int64) {
	if blk := d.egress.Load(); blk != nil {
		r := blk.Classify(&w.ctx, p)
		switch r.Verdict {
		case act.Consumed:
			return
		case act.Shot:
			d.stats.egressDrops.Add(1)
			p.Release()
			return
		case act.Stolen, act.Queued, act.Trap:
			p.Release()
			return
		}
	}
	d.qdisc.Enqueue(p, now)
}

// Mirred implements act.Redirector: it puts p on dev's backlog.
func (e *Engine) Mirred(c *act.Ctx, p *pkt.Buffer, dev int32, ingress bool) error {
	t := e.device(dev)
	if p.TTL == 0 {
		src := e.device(p.Ingress)
		if src != nil {
			src.ns.loopDrops.Add(1)
		}
		e.logLoop(src, t, ingress)
		p.Release()
		return act.ErrLoop
	}
	p.TTL--
	if t == nil {
		p.Release()
		return ErrNoDevice
	}
	ring := t.backlogOut
	if ingress {
		ring = t.backlogIn
	}
	p.FromIngress = ingress
	if !ring.Push(p) {
		t.stats.backlogDrops.Add(1)
		p.Release()
		return errBacklogFull
	}
	if t.worker.id != c.Worker {
		t.worker.poke()
	}
	return nil
}

func (e *Engine) logLoop(src, dst *Device, ingress bool) {
	d := dst
	if d == nil {
		return
	}
	d.loopLog.Do(func() {
		from := "?"
		if src != nil {
			from = src.nd.Name()
		}
		dir := "egress"
		if ingress {
			dir = "ingress"
		}
		e.log.Warn("mirred: redirect TTL spent, packet dropped (redirect loop?)",
			slog.String("from", from), slog.String("to", d.nd.Name()), slog.String("dir", dir),
			slog.String("namespace", d.ns.name))
	})
}
