package datapath

import (
	"context"
	"math"
	"runtime"
	"sync"
	"time"
)

// Start runs one goroutine per worker until ctx ends; the returned function
// waits for them to stop. Use either Start (real time) or Run (virtual
// time), not both.
func (e *Engine) Start(ctx context.Context) (wait func()) {
	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Go(func() { w.routine(ctx) })
	}
	return wg.Wait
}

// routine is a worker's loop: poll its devices until nothing is left, then
// park until woken, or until the earliest time one of its devices has
// work no arrival will announce (a paced link or a shaper releasing a
// packet: nextWake), or ctx ends. Every way work arrives wakes the worker
// (a push onto a backlog, an injection, a pair crossing, a backend's
// frames: Device.Notify), so an idle worker sleeps without a timer: an
// idle daemon makes no wake-ups at all.
//
// A worker that has just taken frames from a coalescing backend
// (netdev.RxCoalescer: AF_XDP) does not park at once when it runs dry:
// it sleeps coalesceWait and polls again, up to coalesceRounds times in a
// row, and parks only when all of them found nothing (deferred re-arming,
// the kernel's napi_defer_hard_irqs with gro_flush_timeout). Under a
// steady flow of frames arriving one by one, as a sender paces them, each
// would otherwise wake the worker on its own, and a wake-up (the kernel
// waking the thread, the runtime's scheduler, the goroutine hand-offs)
// costs several times the frame's forwarding: at 100k pps the daemon
// used a whole CPU. Deferred, a batch of frames shares one wake-up; the
// price is up to coalesceWait (plus the kernel's timer slack) of latency
// while traffic flows, none when it does not: a frame that finds the
// worker parked wakes it at once, and an idle worker sleeps without a
// timer.
func (w *worker) routine(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	deferred := 0 // coalescing polls left before the worker parks
	for {
		for w.poll(w.e.clock.Now(), math.MaxInt) > 0 || w.stalled != nil {
			if ctx.Err() != nil {
				return
			}
			if w.stalled != nil {
				// Another worker must drain a backlog first
				// (throttled); let it run.
				runtime.Gosched()
			}
		}
		if w.coalesced {
			w.coalesced = false
			deferred = coalesceRounds
		}
		if deferred > 0 && ctx.Err() == nil {
			deferred--
			coalesceSleep(coalesceWait)
			continue
		}
		// Announce the park, then look once more: a producer that
		// pushed before it saw parked=true did not wake us, and this
		// poll finds its packet.
		w.parked.Store(true)
		if w.poll(w.e.clock.Now(), math.MaxInt) > 0 {
			w.parked.Store(false)
			continue
		}
		var timer <-chan time.Time
		now := w.e.clock.Now()
		if next := w.nextWake(now); next > 0 {
			t.Reset(time.Duration(next - now))
			timer = t.C
		}
		select {
		case <-ctx.Done():
			w.parked.Store(false)
			return
		case <-w.wake:
		case <-timer:
		}
		t.Stop()
		w.parked.Store(false)
	}
}

// nextWake is the earliest time after now at which one of the worker's
// devices has work no arrival will announce, or 0 for none.
func (w *worker) nextWake(now int64) int64 {
	next := int64(0)
	for _, s := range *w.nss.Load() {
		for _, d := range s.devs {
			if t := d.nextWake(now); t > 0 && (next == 0 || t < next) {
				next = t
			}
		}
	}
	return next
}
