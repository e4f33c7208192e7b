package datapath

import (
	"context"
	"math"
	"sync"
	"time"
)

// idlePark is how long a worker with nothing to do sleeps before it polls
// again when nobody wakes it. Pushes onto a backlog and injections wake the
// target's worker at once; the timer only bounds the delay for work that
// arrives without a wake-up (a device backend's ring filled by the kernel).
const idlePark = time.Millisecond

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
// park until woken, the park timer fires, or ctx ends.
func (w *worker) routine(ctx context.Context) {
	t := time.NewTimer(idlePark)
	defer t.Stop()
	for {
		for w.poll(w.e.clock.Now(), math.MaxInt) > 0 {
			if ctx.Err() != nil {
				return
			}
		}
		// Announce the park, then look once more: a producer that
		// pushed before it saw parked=true did not wake us, and this
		// poll finds its packet.
		w.parked.Store(true)
		if w.poll(w.e.clock.Now(), math.MaxInt) > 0 {
			w.parked.Store(false)
			continue
		}
		t.Reset(idlePark)
		select {
		case <-ctx.Done():
			w.parked.Store(false)
			return
		case <-w.wake:
		case <-t.C:
		}
		w.parked.Store(false)
	}
}
