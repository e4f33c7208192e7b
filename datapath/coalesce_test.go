package datapath

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
)

// burstWire is a polled backend that hands over one burst of frames and
// counts every poll; coalesce says whether it is a netdev.RxCoalescer.
type burstWire struct {
	pool     *pkt.Pool
	frame    []byte
	left     atomic.Int64
	polls    atomic.Int64
	coalesce bool
}

func (w *burstWire) PollRx(dst []*pkt.Buffer, _ int64) int {
	w.polls.Add(1)
	n := takeFrames(w.pool, w.frame, dst, int(w.left.Load()))
	w.left.Add(-int64(n))
	return n
}

type coalescingWire struct{ *burstWire }

func (w coalescingWire) RxCoalesce() bool { return true }

// TestCoalescedPark: a worker that ran dry after frames from a coalescing
// backend (AF_XDP) polls it again coalesceRounds times, coalesceWait
// apart, with nothing waking it, and then parks without a timer: the
// polls stop. A worker of an ordinary polled backend parks at once (its
// one look after announcing the park is the last).
func TestCoalescedPark(t *testing.T) {
	var base int64 // polls for a burst without coalescing
	for _, coalesce := range []bool{false, true} {
		pool := testutil.Pool(t, pkt.PoolConfig{})
		e := New(Config{Workers: 1, Pool: pool, Logger: quietLog()})
		ns := e.Default()
		w := &burstWire{pool: pool, frame: udpFrame(t), coalesce: coalesce}
		var poller netdev.RxPoller = w
		if coalesce {
			poller = coalescingWire{w}
		}
		a, err := e.AddDevice(ns, netdev.Config{Name: "a"}, func(nd *netdev.Device) error {
			nd.SetRxPoller(poller)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		wait := e.Start(ctx)
		// Parked: nothing to take yet.
		time.Sleep(50 * time.Millisecond)
		w.left.Store(10)
		p0 := w.polls.Load()
		a.Netdev().Notify()
		deadline := time.Now().Add(5 * time.Second)
		for a.Counters().RxPackets < 10 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		// Long enough for the deferred polls (well under 1 ms each,
		// however late the timer), then still.
		time.Sleep(200 * time.Millisecond)
		p1 := w.polls.Load()
		time.Sleep(200 * time.Millisecond)
		p2 := w.polls.Load()
		cancel()
		wait()
		if a.Counters().RxPackets != 10 {
			t.Fatalf("coalesce %v: %d of 10 frames received", coalesce, a.Counters().RxPackets)
		}
		// The burst's polls without coalescing: the one that took the
		// frames, the empty ones that end the worker's round and its
		// busy loop, the one after announcing the park. With
		// coalescing, coalesceRounds more.
		got := p1 - p0
		switch {
		case !coalesce && (got < 2 || got > 4):
			t.Errorf("no coalescing: %d polls for one burst, want 2 to 4", got)
		case !coalesce:
			base = got
		case got != base+coalesceRounds:
			t.Errorf("coalescing: %d polls for one burst, want %d (%d without, and %d deferred)", got, base+coalesceRounds, base, coalesceRounds)
		}
		if p2 != p1 {
			t.Errorf("coalesce %v: %d polls while idle after the burst: the worker did not park", coalesce, p2-p1)
		}
	}
}
