package datapath

import (
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
	"netyard/wire"
)

// waitingWire is frames waiting on a wire for a polled device: what a
// backend's kernel ring holds (link's AF_PACKET port in polled mode is
// the real one, tested in link). It counts how often it was polled.
type waitingWire struct {
	pool  *pkt.Pool
	frame []byte
	left  int
	polls int
}

func (w *waitingWire) PollRx(dst []*pkt.Buffer, now int64) int {
	w.polls++
	n := takeFrames(w.pool, w.frame, dst, w.left)
	w.left -= n
	return n
}

// takeFrames fills dst with up to left copies of frame, as a backend's
// poll hands over what waits in its ring, and returns how many.
func takeFrames(pool *pkt.Pool, frame []byte, dst []*pkt.Buffer, left int) int {
	n := 0
	for n < len(dst) && n < left {
		p, err := pool.Get()
		if err != nil {
			break
		}
		_ = p.SetData(frame)
		dst[n] = p
		n++
	}
	return n
}

// TestPolledDeviceBackPressure: a worker takes from a polled device only
// a batch at a time, and when its redirects find another worker's backlog
// over half full it stops taking until that backlog has drained to half:
// the frames wait on the wire (in the kernel's ring) instead of being
// received, classified and dropped at the backlog. Without the stall, one
// worker would pull all 10,000 frames into a backlog of 128; with a stall
// only once the backlog is full, a batch in three was dropped there.
func TestPolledDeviceBackPressure(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	clk := &ManualClock{}
	clk.Set(1000)
	e := New(Config{Workers: 2, Backlog: 128, Pool: pool, Clock: clk, Logger: quietLog()})
	const n = 10000
	src := &waitingWire{pool: pool, frame: udpFrame(t), left: n}
	// a (index 1) is on worker 1, b (index 2) on worker 0: every frame
	// crosses a backlog between workers.
	var sent int
	a, b := polledPair(t, e, src, func() { sent++ })
	if a.worker == b.worker {
		t.Fatal("a and b on one worker: the test needs them apart")
	}

	// Worker 1 alone: it takes frames until b's backlog is over half
	// full, then stops taking; the batch it was in still fits.
	w1 := a.worker
	for w1.poll(clk.Now(), 1<<30) > 0 {
	}
	if w1.stalled == nil {
		t.Fatal("worker 1 did not stall on b's full backlog")
	}
	taken := n - src.left
	drops := b.Counters().BacklogDrops
	if taken > 128 || drops != 0 {
		t.Errorf("worker 1 took %d frames into a backlog of 128 (%d dropped there), want at most 128 and no drop", taken, drops)
	}
	// While the backlog is over half full it leaves the wire alone.
	polls := src.polls
	w1.poll(clk.Now(), 1<<30)
	if src.polls != polls {
		t.Error("a stalled worker polled its backend")
	}

	// Both workers: everything gets through.
	e.Run()
	drops = b.Counters().BacklogDrops
	if src.left != 0 || uint64(sent)+drops != n {
		t.Fatalf("%d left on the wire, %d sent, %d dropped at the backlog; want all %d accounted for", src.left, sent, drops, n)
	}
	if drops != 0 {
		t.Errorf("%d of %d frames dropped at the backlog: the receiving worker did not wait for it", drops, n)
	}
	if rx := a.Counters().RxPackets; rx != n {
		t.Errorf("a counted %d frames received, want %d", rx, n)
	}
	t.Logf("%d sent, %d dropped at b's backlog, %d polls", sent, drops, src.polls)
}

// queueWire is a multi-queue waitingWire (netdev.QueuePoller): frames
// waiting on each queue, and which worker asked to be woken for which
// queue.
type queueWire struct {
	pool   *pkt.Pool
	frame  []byte
	left   []int
	all    int // PollRx calls: none expected once the queues are spread
	notify []func()
}

func (w *queueWire) PollRx(dst []*pkt.Buffer, now int64) int {
	w.all++
	n := 0
	for q := range w.left {
		n += w.PollRxQueue(q, dst[n:], now)
	}
	return n
}

func (w *queueWire) RxQueues() int { return len(w.left) }

func (w *queueWire) PollRxQueue(q int, dst []*pkt.Buffer, _ int64) int {
	n := takeFrames(w.pool, w.frame, dst, w.left[q])
	w.left[q] -= n
	return n
}

func (w *queueWire) SetQueueNotify(q int, f func()) { w.notify[q] = f }

// TestQueuesSpreadOverWorkers: a device whose backend has several receive
// queues has them polled by several workers, queue q by worker (owner +
// q) mod workers, each worker waking for its own queues; the frames all
// reach the redirect's target, and the owner never polls the others'
// queues.
func TestQueuesSpreadOverWorkers(t *testing.T) {
	for _, workers := range []int{1, 2, 3} {
		pool := testutil.Pool(t, pkt.PoolConfig{})
		clk := &ManualClock{}
		// A backlog that holds every frame: the owner is not stalled
		// by b's (TestPolledDeviceBackPressure is about that).
		e := New(Config{Workers: workers, Backlog: 2048, Pool: pool, Clock: clk, Logger: quietLog()})
		ns := e.Default()
		const queues, per = 4, 300
		src := &queueWire{pool: pool, frame: udpFrame(t), left: make([]int, queues), notify: make([]func(), queues)}
		for q := range src.left {
			src.left[q] = per
		}
		var sent int
		a, _ := polledPair(t, e, src, func() { sent++ })
		owner := a.worker
		for owner.poll(clk.Now(), 1<<30) > 0 {
		}
		for q := range queues {
			mine := workers == 1 || (owner.id+q)%workers == owner.id
			switch {
			case mine && src.left[q] != 0:
				t.Errorf("%d workers: the owner (worker %d) left %d frames on its queue %d", workers, owner.id, src.left[q], q)
			case !mine && src.left[q] != per:
				t.Errorf("%d workers: the owner (worker %d) took %d frames from queue %d, another worker's", workers, owner.id, per-src.left[q], q)
			case mine && src.notify[q] != nil:
				t.Errorf("%d workers: queue %d has a waker of its own; it is the owner's", workers, q)
			case !mine && src.notify[q] == nil:
				t.Errorf("%d workers: queue %d, polled by another worker, does not wake it", workers, q)
			}
		}
		e.Run()
		if sent != queues*per || a.Counters().RxPackets != queues*per {
			t.Errorf("%d workers: %d frames sent on b, %d received on a; want %d", workers, sent, a.Counters().RxPackets, queues*per)
		}
		if wantAll := map[bool]int{true: 1, false: 0}[workers == 1]; (src.all > 0) != (wantAll > 0) {
			t.Errorf("%d workers: PollRx called %d times; want it only with one worker", workers, src.all)
		}
		// Deleting a leaves no queue of it on any worker.
		if err := e.DelDevice(ns, "a", nil); err != nil {
			t.Fatal(err)
		}
		for _, w := range e.workers {
			for _, s := range *w.nss.Load() {
				if len(s.rxqs) != 0 {
					t.Errorf("%d workers: worker %d still polls %d queues of a deleted device", workers, w.id, len(s.rxqs))
				}
			}
		}
	}
}

// TestPolledPathNoAllocs: frames taken from a polled backend, by the
// device's worker and by the worker a queue was spread to, received,
// redirected and transmitted allocate nothing.
func TestPolledPathNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("under the race detector sync.Pool drops buffers on purpose")
	}
	// A plain pool: the leak-checking one records a stack per Get.
	pool := pkt.NewPool(pkt.PoolConfig{})
	t.Cleanup(func() {
		if n := pool.Stats().Live; n != 0 {
			t.Errorf("%d buffers leaked", n)
		}
	})
	clk := &ManualClock{}
	e := New(Config{Workers: 2, Pool: pool, Clock: clk, Logger: quietLog()})
	src := &queueWire{pool: pool, frame: udpFrame(t), left: make([]int, 2), notify: make([]func(), 2)}
	polledPair(t, e, src, func() {})
	round := func() {
		src.left[0], src.left[1] = 32, 32
		e.Run()
	}
	for range 10 {
		round() // warm the pool and the rings
	}
	if n := testing.AllocsPerRun(100, round); n != 0 {
		t.Errorf("%.1f allocations per 64 frames over two queues and two workers, want 0", n)
	}
	if src.left[0] != 0 || src.left[1] != 0 {
		t.Fatalf("frames left on the queues: %v", src.left)
	}
}

// polledPair adds device a, whose frames come from src, and device b to
// e's default namespace, with a matchall mirred from a's ingress to b's
// egress; b's far end releases what it gets after calling sent.
func polledPair(t *testing.T, e *Engine, src netdev.RxPoller, sent func()) (a, b *Device) {
	t.Helper()
	ns := e.Default()
	a, err := e.AddDevice(ns, netdev.Config{Name: "a"}, func(nd *netdev.Device) error {
		nd.SetRxPoller(src)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = e.AddDevice(ns, netdev.Config{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	b.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, _ int64) { sent(); p.Release() }))
	f := cls.Filter{Dev: "a", Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
		Actions: []act.Spec{&act.Mirred{Dev: "b", C: act.Common{Control: act.Stolen}}}}
	if err := ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
		t.Fatal(err)
	}
	return a, b
}
