package stats

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Domain is the generation clock of one datapath, shared by all its
// counter Sets. A generation is a span of time between two dumps: every
// change to an object (a packet counted, a configuration replaced, the
// object created) is stamped with the generation it happened in, and a
// dump asks Advance to close the current generation before it reads. The
// generation a dump closes is what its client passes as "since" next time:
// every change the dump did not see is stamped with a later one.
//
// Workers stamp changes with the generation they entered their batch with
// (Enter/Exit), not with the clock's latest value, so Advance must wait
// for the batches that entered before it: it is a grace period, as RCU's
// synchronize_rcu, bounded by one batch of packets. Advance is also what
// makes a freed counter slot safe to reuse (Set.Free).
type Domain struct {
	gen atomic.Uint64
	// quiet is a generation g such that every batch entered with a
	// generation below g has ended.
	quiet atomic.Uint64
	// ctl orders control-plane changes against Advance: a change reads
	// the generation and stamps the object under the read lock, so it is
	// either before the bump (and seen by the dump's walk) or after it
	// (and stamped with a later generation).
	ctl     sync.RWMutex
	workers []workerGen
	// sets are the domain's Sets, whose change logs Advance trims.
	setsMu sync.Mutex
	sets   []*Set
}

type workerGen struct {
	// active is the generation worker's batch entered with, 0 between
	// batches. Only the worker writes it: its own cache line.
	active atomic.Uint64
	_      [cacheLine - 8]byte
}

// NewDomain returns a domain for workers workers, at generation 1.
func NewDomain(workers int) *Domain {
	if workers < 1 {
		workers = 1
	}
	d := &Domain{workers: make([]workerGen, workers)}
	d.gen.Store(1)
	d.quiet.Store(1)
	return d
}

// Workers is the number of workers, the shards of every counter.
func (d *Domain) Workers() int { return len(d.workers) }

// Enter marks worker w as running a batch in the current generation and
// returns it. The store is checked against a racing Advance: a worker that
// published an old generation after Advance looked for it would stamp
// changes Advance's caller never sees, so Enter publishes again until the
// generation it published is still current.
func (d *Domain) Enter(w int) uint64 {
	a := &d.workers[d.worker(w)].active
	for {
		g := d.gen.Load()
		a.Store(g)
		if d.gen.Load() == g {
			return g
		}
	}
}

// Exit marks worker w's batch as done.
func (d *Domain) Exit(w int) { d.workers[d.worker(w)].active.Store(0) }

func (d *Domain) worker(w int) int {
	if uint(w) >= uint(len(d.workers)) {
		return 0
	}
	return w
}

// stamp is the generation a change by worker w carries: its batch's, or
// the current one outside a batch (control plane, tests that run actions
// directly).
func (d *Domain) stamp(w int) uint64 {
	if g := d.workers[d.worker(w)].active.Load(); g != 0 {
		return g
	}
	return d.gen.Load()
}

// Advance closes the current generation and returns it: when Advance
// returns, every change stamped with it or an earlier one is visible, and
// every later change is stamped with a later generation. It waits for
// the workers' batches that entered before the bump (microseconds; it
// sleeps while it waits).
func (d *Domain) Advance() uint64 {
	d.ctl.Lock()
	closed := d.gen.Add(1) - 1
	d.ctl.Unlock()
	d.waitQuiet(closed + 1)
	// Logs grow by what changes in each generation: bound them here,
	// whether or not anyone asks what changed.
	// Under setsMu: Set.Close moves entries of the slice.
	d.setsMu.Lock()
	for _, s := range d.sets {
		s.trim()
	}
	d.setsMu.Unlock()
	return closed
}

// waitQuiet waits until no batch entered with a generation below g runs.
func (d *Domain) waitQuiet(g uint64) {
	for i := range d.workers {
		a := &d.workers[i].active
		for spin := 0; ; spin++ {
			if v := a.Load(); v == 0 || v >= g {
				break
			}
			if spin < 64 {
				runtime.Gosched()
			} else {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	for {
		q := d.quiet.Load()
		if q >= g || d.quiet.CompareAndSwap(q, g) {
			return
		}
	}
}

// olderThan reports whether generation stamp a (32 bits of it, as the
// change logs keep it) is before b, in serial-number arithmetic (RFC 1982):
// correct while the two are less than 2^31 generations apart.
func olderThan(a, b uint32) bool { return int32(a-b) < 0 }

// widen turns a log's 32-bit stamp back into a generation, relative to
// the current one.
func (d *Domain) widen(s uint32) uint64 {
	if s == 0 {
		return 0
	}
	cur := d.gen.Load()
	return cur - uint64(uint32(cur)-s)
}
