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
	"math"
	"strings"
	"sync/atomic"
	"time"

	"netyard/act"
	"netyard/bpf/ebpf"
	"netyard/netdev"
	"netyard/pkt"
)

// batchSize is how many packets a worker takes from one ring before moving
// on to the next: enough to amortise per-batch costs, small enough that one
// busy device cannot hold up the others for long (NAPI's weight is 64).
const batchSize = 64

type worker struct {
	e   *Engine
	id  int
	nss atomic.Pointer[[]*nsSlot]
	ctx act.Ctx
	// rand is the worker's state for BPF programs' random numbers
	// (SKF_AD_RANDOM, get_prandom_u32), seeded from the engine's hash
	// seed and the worker's number, so that replays repeat.
	rand uint64
	wake chan struct{}
	// parked is set while the worker sleeps in Start mode; only then do
	// producers need to wake it (a channel send per packet costs more
	// than the rest of the path).
	parked atomic.Bool

	// The deficit round robin's position: the slot being visited, and
	// whether its quantum was already given for this visit.
	cur     int
	inVisit bool
	// seen is the slot list's version (slotsGen) the position is in: a
	// version, not the list's pointer, so that a list of deleted
	// devices is not kept alive by an idle worker.
	seen     uint64
	slotsGen atomic.Uint64

	// Scratch space for a transmit batch, and for the frames a polled
	// backend hands over.
	txb [batchSize]*pkt.Buffer
	txq [batchSize]int
	rxb [batchSize]*pkt.Buffer

	// stalled is another worker's backlog that a redirect from this one
	// found over half full (or full). While it is so the worker takes nothing
	// from its polled backends and yields: frames it could only drop
	// at that backlog, after receiving and classifying them, wait in
	// the kernel's ring instead, and the worker that drains the backlog
	// gets the CPU (with two workers on one core it otherwise only
	// gets it at the runtime's 10 ms preemption).
	stalled *netdev.Ring
	// rnd is the worker's random state for early drops (limits.go).
	rnd uint32
	// coalesced is set when the worker took frames from a coalescing
	// poller (netdev.RxCoalescer) since its routine last looked: the
	// routine then defers its park (start.go).
	coalesced bool
}

// nsSlot is one namespace's share of a worker: its devices on this worker
// and its deficit in the worker's deficit round robin. Only the worker
// touches deficit.
type nsSlot struct {
	ns   *Namespace
	devs []*Device
	// rxqs are queues of other workers' devices that this worker polls
	// (spreadQueues): only their receive path runs here.
	rxqs    []rxShare
	deficit int
	// cursor is the device the next visit starts with: each visit
	// starts one past the device that used up the last one's limit, so
	// that a busy device cannot keep its neighbours waiting.
	cursor int
}

func newWorker(e *Engine, id int) *worker {
	w := &worker{e: e, id: id, wake: make(chan struct{}, 1), rnd: uint32(id)*2654435761 + 1}
	w.ctx = act.Ctx{Worker: id, Out: e}
	w.rand = uint64(e.cfg.HashSeed)*0x9e3779b97f4a7c15 ^ uint64(id+1)
	w.ctx.BPF.Rand = &w.rand
	w.ctx.BPF.Scratch = ebpf.NewScratch()
	w.ctx.BPF.CloneRedirect = w.cloneRedirect
	empty := []*nsSlot{}
	w.nss.Store(&empty)
	return w
}

// cloneRedirect is bpf_clone_redirect (bpf.Env.CloneRedirect): a copy of
// p, as it is now, goes through the redirect path (which spends its
// redirect TTL) to device ifindex's ingress (flags BPF_F_INGRESS) or
// egress; the program goes on with p. It returns 0, -ENOMEM when no
// buffer is free, -EINVAL for an unknown device (as the kernel's
// dev_get_by_index_rcu miss), or -ENOBUFS when the copy was dropped on
// the way (a spent TTL, a full backlog).
func (w *worker) cloneRedirect(p *pkt.Buffer, ifindex int32, flags uint64) int64 {
	if w.e.device(ifindex) == nil {
		return -22 // EINVAL
	}
	q, err := p.Clone()
	if err != nil {
		return -12 // ENOMEM
	}
	if err := w.e.Mirred(&w.ctx, q, ifindex, flags&1 != 0); err != nil {
		return -105 // ENOBUFS
	}
	return 0
}

// rxShare is queue q of device d, polled by a worker that is not d's.
type rxShare struct {
	d *Device
	q int
}

// addQueue is addDevice for one queue of another worker's device
// (spreadQueues), with the engine's lock held.
func (w *worker) addQueue(d *Device, q int) {
	old := *w.nss.Load()
	slots := make([]*nsSlot, 0, len(old)+1)
	found := false
	for _, s := range old {
		if s.ns == d.ns {
			s = &nsSlot{ns: s.ns, devs: s.devs, rxqs: append(append([]rxShare(nil), s.rxqs...), rxShare{d, q})}
			found = true
		}
		slots = append(slots, s)
	}
	if !found {
		slots = append(slots, &nsSlot{ns: d.ns, rxqs: []rxShare{{d, q}}})
	}
	w.nss.Store(&slots)
	w.slotsGen.Add(1)
}

// addDevice is called with the engine's lock held. It publishes a new slot
// list; the worker picks it up at its next poll (deficits start afresh).
func (w *worker) addDevice(d *Device) {
	old := *w.nss.Load()
	slots := make([]*nsSlot, 0, len(old)+1)
	found := false
	for _, s := range old {
		if s.ns == d.ns {
			// Only the changed slot is new: the others keep their
			// place and deficit (the worker owns those fields; the
			// control plane reads only ns and devs, which never
			// change), and 10,000 namespaces do not cost 10,000
			// allocations per device added.
			s = &nsSlot{ns: s.ns, devs: append(append([]*Device(nil), s.devs...), d), rxqs: s.rxqs}
			found = true
		}
		slots = append(slots, s)
	}
	if !found {
		slots = append(slots, &nsSlot{ns: d.ns, devs: []*Device{d}})
	}
	w.nss.Store(&slots)
	w.slotsGen.Add(1)
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

// poll runs deficit round robin over the worker's namespaces (tenants)
// and returns how many packets it took from rings: until the budget is
// spent or every namespace has had a visit with nothing to do. Each visit
// gives a namespace its quantum of deficit and lets it take that many
// packets, device by device; a namespace with
// nothing waiting loses its deficit, as DRR does for an empty queue. When
// the budget runs out in the middle of a visit, the next poll resumes that
// visit, so a small budget (a slow worker) is shared as fairly as a large
// one. A redirect loop in one namespace therefore gets at most that
// namespace's share of the worker, whatever the loop does.
func (w *worker) poll(now int64, budget int) int {
	w.ctx.Now = now
	gen := w.slotsGen.Load()
	slots := *w.nss.Load()
	if len(slots) == 0 {
		return 0
	}
	if gen != w.seen {
		// A device was added: the slots are new (deficits start
		// afresh), and a visit in progress ends.
		w.seen, w.inVisit = gen, false
	}
	if w.cur >= len(slots) {
		w.cur, w.inVisit = 0, false
	}
	total := 0
	idle := 0 // consecutive slots that had nothing
	for total < budget && idle < len(slots) {
		s := slots[w.cur]
		if !w.inVisit {
			s.deficit += s.ns.quantum()
			w.inVisit = true
		}
		limit := min(s.deficit, budget-total)
		n := 0
		// A visit is the unit of the counters' grace period: changes
		// in it carry the generation it entered with, and a dump that
		// closes that generation waits for the visit to end (at most
		// a quantum of packets).
		w.e.gens.Enter(w.id)
		for k := range len(s.devs) {
			if n >= limit {
				break
			}
			i := (s.cursor + k) % len(s.devs)
			n += s.devs[i].service(w, now, limit-n)
			if n >= limit {
				// The quantum ran out at device i. The first device
				// of a visit had all of it, so the next visit starts
				// after it; a later one had only what those before it
				// left, so it goes first next time. (Starting after it
				// too skipped it: with a partial batch on a device
				// before it in every visit, a device that forwards
				// what the first receives fell further behind each
				// visit until its backlog overflowed.)
				if k == 0 {
					s.cursor = (i + 1) % len(s.devs)
				} else {
					s.cursor = i
				}
			}
		}
		for _, r := range s.rxqs {
			if n >= limit {
				break
			}
			n += r.d.serviceRxQueue(w, r.q, now, min(batchSize, limit-n))
		}
		w.e.gens.Exit(w.id)
		total += n
		s.deficit -= n
		switch {
		case n == 0:
			// Nothing waiting: the visit ends and the deficit goes.
			s.deficit = 0
			idle++
		case s.deficit > 0 && total >= budget:
			// Out of budget mid-visit: resume here next time.
			return total
		default:
			idle = 0
			if s.deficit > 0 {
				// It took less than it may: it ran dry.
				s.deficit = 0
			}
		}
		w.inVisit = false
		w.cur = (w.cur + 1) % len(slots)
	}
	return total
}

// service runs one round of a device: up to a batch (and at most limit
// packets in all) from each of its input rings, then its qdisc. It returns
// how many packets it took from the rings.
func (d *Device) service(w *worker, now int64, limit int) int {
	if d.dead.Load() {
		return 0
	}
	w.ctx.Dev = d.nd.Index()
	w.ctx.BPF.Link = uint8(d.nd.Link())
	n := 0
	// The three input rings take turns at going first, so that a
	// flooded one (a loop filling the backlog) cannot keep the others
	// waiting when the limit is small.
	first := d.turn
	d.turn = (d.turn + 1) % 3
	d.txMu.Lock()
	for k := range 3 {
		if n >= limit {
			break
		}
		switch (first + k) % 3 {
		case 0:
			n += d.serviceBacklogIn(w, min(batchSize, limit-n))
		case 1:
			n += d.serviceRx(w, now, min(batchSize, limit-n))
		case 2:
			n += d.serviceBacklogOut(w, now, min(batchSize, limit-n))
		}
	}
	if d.rate == 0 {
		for d.qdisc.Len() > 0 && d.dequeueBatch(w, now) > 0 {
		}
	} else {
		d.dequeuePaced(now)
	}
	if d.ns.lim.mem.Load() != nil {
		// Only memory limits read the fold, and a qdisc's Stats may be
		// O(classes) (htb sums its leaves): without limits it waits
		// until they are set, when the first fold brings it up to date.
		d.foldQdiscMem()
	}
	d.txMu.Unlock()
	return n
}

// serviceBacklogIn runs the receive path on up to max packets redirected
// to d's ingress.
func (d *Device) serviceBacklogIn(w *worker, max int) int {
	n := 0
	for n < max {
		p := d.backlogIn.Pop()
		if p == nil {
			break
		}
		n++
		d.ns.backlogBytes.Add(-int64(p.Len()))
		d.receive(w, p)
	}
	return n
}

// serviceRx runs the receive path on up to max packets from d's RX ring
// and, for a device with a polled backend (netdev.RxPoller: AF_PACKET in
// the daemon), from the backend's own ring. The worker takes from the
// backend only what it is about to process, so under overload the frames
// it has no time for stay in the kernel's ring and are dropped there,
// before netyard has spent anything on them (NAPI's answer to receive
// livelock), instead of being copied by a receive goroutine onto a full
// RX ring and dropped after the work.
// A packet gets at most the engine's redirect TTL here, whatever put it on
// the ring (a backend, a lab host, a pair crossing keeps a smaller one), so
// the loop bound holds for every way in.
func (d *Device) serviceRx(w *worker, now int64, max int) int {
	rx := d.nd.RxRing()
	ttl := d.e.cfg.RedirectTTL
	// n is frames, the budget's unit; pkts and bytes are what the
	// counters say, a GSO frame counting as its segments (WireLen).
	var n, pkts, bytes uint64
	// The namespace's packet memory, once a batch (limits.go).
	drop := d.ns.memDropLevel()
	for int(n) < max {
		p := rx.Pop()
		if p == nil {
			break
		}
		n++
		pk, by := d.receiveFrom(w, p, drop, ttl)
		pkts += pk
		bytes += by
	}
	if d.poller != nil && int(n) < max && !w.throttled() {
		var k int
		if d.qpoller == nil {
			k = d.poller.PollRx(w.rxb[:max-int(n)], now)
		} else {
			// Only the device's own queues: the others are other
			// workers' (spreadQueues).
			// Taking turns at which goes first, as pollQueues.
			own := d.ownQueues
			for i := range own {
				q := own[(d.ownTurn+i)%len(own)]
				k += d.qpoller.PollRxQueue(q, w.rxb[k:max-int(n)], now)
				if k == max-int(n) {
					break
				}
			}
			d.ownTurn++
		}
		pk, by := d.receivePolled(w, k, drop, ttl)
		pkts += pk
		bytes += by
		n += uint64(k)
	}
	if n > 0 {
		// Counted once a batch: each add is a locked instruction.
		d.nd.Counters.RxPackets.Add(pkts)
		d.nd.Counters.RxBytes.Add(bytes)
	}
	return int(n)
}

// receivePolled runs the receive path on the k frames a polled backend
// put in w.rxb, and returns the packets and bytes to count.
func (d *Device) receivePolled(w *worker, k int, drop uint32, ttl uint8) (pkts, bytes uint64) {
	for i, p := range w.rxb[:k] {
		w.rxb[i] = nil
		pk, by := d.receiveFrom(w, p, drop, ttl)
		pkts += pk
		bytes += by
	}
	if k > 0 && d.coalesce {
		w.coalesced = true
	}
	return pkts, bytes
}

// receiveFrom takes one frame from an RX ring or a polled backend: the
// namespace's early drop (drop: its level, limits.go), the TTL cap, the
// receive path. It returns the packets and bytes the frame counts as.
func (d *Device) receiveFrom(w *worker, p *pkt.Buffer, drop uint32, ttl uint8) (pkts, bytes uint64) {
	pk, by := p.WireLen()
	if drop > 0 && d.ns.memDrop(drop, &w.rnd) {
		d.nd.Counters.RxDropped.Add(1)
		p.Release()
		return uint64(pk), uint64(by)
	}
	p.TTL = min(p.TTL, ttl)
	d.receive(w, p)
	return uint64(pk), uint64(by)
}

// serviceRxQueue is serviceRx for queue q of d's poller, run by a worker
// that is not d's (rxShare): the receive path only (parse, classify,
// redirect into the target's backlog), which needs none of the owner's
// state; d's backlogs and qdisc stay with d's worker.
func (d *Device) serviceRxQueue(w *worker, q int, now int64, max int) int {
	if d.dead.Load() || w.throttled() {
		return 0
	}
	w.ctx.Dev = d.nd.Index()
	w.ctx.BPF.Link = uint8(d.nd.Link()) // a shared queue's device, not the last one served
	k := d.qpoller.PollRxQueue(q, w.rxb[:max], now)
	if k == 0 {
		return 0
	}
	pkts, bytes := d.receivePolled(w, k, d.ns.memDropLevel(), d.e.cfg.RedirectTTL)
	d.nd.Counters.RxPackets.Add(pkts)
	d.nd.Counters.RxBytes.Add(bytes)
	return k
}

// throttled says whether the worker must leave its polled backends alone
// for now (stalled), and forgets the stall once the backlog has drained
// to half.
func (w *worker) throttled() bool {
	if w.stalled == nil {
		return false
	}
	if w.stalled.Len() > w.stalled.Cap()/2 {
		return true
	}
	w.stalled = nil
	return false
}

// serviceBacklogOut runs the transmit path on up to max packets redirected
// to d's egress or sent locally. The caller holds d.txMu.
func (d *Device) serviceBacklogOut(w *worker, now int64, max int) int {
	n := 0
	for n < max {
		p := d.backlogOut.Pop()
		if p == nil {
			break
		}
		n++
		d.ns.backlogBytes.Add(-int64(p.Len()))
		d.transmit(w, p, now)
	}
	return n
}

// dequeuePaced sends while the link is free: a packet of L bytes keeps a
// link of rate R busy for L/R, and leaves (its last bit on the wire) at the
// end of that time, which is the time it is handed on with. The caller
// holds d.txMu.
func (d *Device) dequeuePaced(now int64) {
	for d.busyUntil <= now && d.qdisc.Len() > 0 {
		p := d.qdisc.Dequeue(now)
		if p == nil {
			return // a shaper holds it back: see nextWake
		}
		start := max(now, d.busyUntil)
		d.busyUntil = start + txTime(p.Len(), d.rate)
		d.nd.Transmit(int(p.QueueMapping), p, d.busyUntil)
	}
}

// txTime is how long n bytes take on a link of rate bytes a second, in
// nanoseconds, rounded up so that a link never goes faster than its rate.
func txTime(n int, rate uint64) int64 {
	return int64((uint64(n)*uint64(time.Second) + rate - 1) / rate)
}

// nextWake is the earliest time after now at which d has something to do
// that no packet arrival will trigger: a paced link becoming free with
// packets queued, or a shaping qdisc releasing one. 0 means none.
func (d *Device) nextWake(now int64) int64 {
	d.txMu.Lock()
	defer d.txMu.Unlock()
	if d.qdisc.Len() == 0 {
		return 0
	}
	t := int64(0)
	if d.rate > 0 && d.busyUntil > now {
		t = d.busyUntil
	}
	// The shaper is asked at now, not at busyUntil: asking about a
	// future time would make it take its head packet (and CoDel judge
	// it) before that time has come.
	if s, ok := d.qdisc.(interface{ NextReady(now int64) int64 }); ok {
		if r := s.NextReady(now); r > now && r > t && r != math.MaxInt64 {
			t = r
		}
	}
	return t
}

// dequeueBatch takes up to a batch from the qdisc and transmits it, a run
// of packets for the same TX queue at a time. The caller holds d.txMu.
func (d *Device) dequeueBatch(w *worker, now int64) int {
	n := 0
	for n < batchSize {
		p := d.qdisc.Dequeue(now)
		if p == nil {
			break
		}
		w.txq[n] = int(p.QueueMapping)
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
	return n
}

// receive runs the receive path of d on p: the frame has arrived from the
// wire or from a redirect to d's ingress.
func (d *Device) receive(w *worker, p *pkt.Buffer) {
	p.Ingress = d.nd.Index()
	if d.wifi {
		d.receive80211(w, p)
		return
	}
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
	w.ctx.Ingress = true
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
		w.ctx.Ingress = false
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
	// Queue selection is the stack's, before the qdisc: an mq root
	// queues per TX queue, and the queue travels with the packet
	// (skb_set_queue_mapping).
	p.QueueMapping = uint16(d.nd.PickTx(p, d.e.cfg.HashSeed, w.id))
	p.HasQueueMapping = true
	d.txCtx = &w.ctx // for the root qdisc's filters (qdiscClassifier)
	d.qdisc.Enqueue(p, now)
}

// Mirred implements act.Redirector: it puts p on dev's backlog. A packet
// whose redirect TTL is spent is dropped and counted on the device that
// tried to redirect it and on its namespace; the drop is logged at most once
// a second per device, with the devices the packet went through.
func (e *Engine) Mirred(c *act.Ctx, p *pkt.Buffer, dev int32, ingress bool) error {
	if p.TTL == 0 {
		// Only a spent TTL needs the source device (for its counters
		// and the log); the common path does one lookup, the target's.
		if src := e.device(c.Dev); src != nil {
			src.stats.loopDrops.Add(1)
			src.ns.loopDrops.Add(1)
			e.logLoop(src, p, dev, ingress)
		}
		p.Release()
		return act.ErrLoop
	}
	p.TTL--
	p.RecordHop(c.Dev)
	t := e.device(dev)
	if t == nil {
		p.Release()
		return ErrNoDevice
	}
	ring := t.backlogOut
	if ingress {
		ring = t.backlogIn
	}
	// The target namespace's backlog memory limit: a tenant's loop can
	// fill its own backlogs, never the memory every tenant shares.
	ns := t.ns
	n := int64(p.Len())
	if lim := ns.backlogLimit.Load(); lim > 0 && ns.backlogBytes.Add(n) > lim {
		ns.backlogBytes.Add(-n)
		t.stats.backlogDrops.Add(1)
		p.Release()
		return errBacklogFull
	} else if lim <= 0 {
		ns.backlogBytes.Add(n)
	}
	if !ring.Push(p) {
		ns.backlogBytes.Add(-n)
		t.stats.backlogDrops.Add(1)
		p.Release()
		if t.worker.id != c.Worker && c.Worker >= 0 && c.Worker < len(e.workers) {
			e.workers[c.Worker].stalled = ring
		}
		return errBacklogFull
	}
	if t.worker.id != c.Worker {
		if ring.Len() > ring.Cap()/2 && c.Worker >= 0 && c.Worker < len(e.workers) {
			// Back-pressure before the backlog overflows: the
			// rest of this batch still fits, and the worker takes
			// no more from its backends until the backlog's own
			// worker has drained it to half (throttled).
			e.workers[c.Worker].stalled = ring
		}
		t.worker.poke()
	}
	return nil
}

func (e *Engine) logLoop(src *Device, p *pkt.Buffer, dst int32, ingress bool) {
	src.loopLog.Do(func() {
		var path []string
		for _, i := range p.Hops() {
			if d := e.device(i); d != nil {
				path = append(path, d.nd.Name())
			}
		}
		to := "?"
		if d := e.device(dst); d != nil {
			to = d.nd.Name()
		}
		dir := "egress"
		if ingress {
			dir = "ingress"
		}
		e.log.Warn("mirred: redirect TTL spent, packet dropped (redirect loop?)",
			slog.String("dev", src.nd.Name()), slog.String("to", to), slog.String("to_dir", dir),
			slog.String("path", strings.Join(path, " -> ")), slog.String("namespace", src.ns.name))
	})
}
