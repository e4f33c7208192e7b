package datapath

import (
	"context"
	"sync"
	"testing"
	"time"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/netem"
	"netyard/tcsyntax"
	"netyard/wire"
)

// TestNetemRealTime: in real time (the daemon's workers, the monotonic
// clock) a netem's packets leave when their delay is over: the worker
// sleeps until the head packet's time (nextWake, NextReady) and no
// arrival has to wake it.
func TestNetemRealTime(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	e := New(Config{Workers: 1, Pool: pool})
	ns := e.Default()
	d0, _ := e.AddDevice(ns, netdev.Config{Name: "eth0"})
	d1, _ := e.AddDevice(ns, netdev.Config{Name: "eth1"})
	const n, delay = 20, 30 * time.Millisecond
	var mu sync.Mutex
	var left []int64
	done := make(chan struct{})
	d1.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) {
		p.Release()
		mu.Lock()
		defer mu.Unlock()
		left = append(left, e.clock.Now())
		if len(left) == n {
			close(done)
		}
	}))
	if err := ns.AddQdisc(&qdisc.Spec{Dev: "eth1", Parent: qdisc.HandleRoot, Handle: 1 << 16,
		Params: netem.Params{Limit: 1000, Latency: delay, Seed: 1, HasSeed: true}}, tcsyntax.ModeAdd); err != nil {
		t.Fatal(err)
	}
	f := cls.Filter{Dev: "eth0", Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
		Actions: []act.Spec{redirect("eth1")}}
	if err := ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := e.Start(ctx)
	defer func() { cancel(); wait() }()
	frame := udpFrame(t)
	sent := make([]int64, n)
	for i := range n {
		sent[i] = e.clock.Now()
		if err := d0.Inject(frame, sent[i]); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		mu.Lock()
		t.Fatalf("%d of %d packets left in 5 s", len(left), n)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, at := range left {
		// The worker enqueues at the time it read its clock for the
		// batch, which may come a little before the injection; late
		// by at most a loaded machine's scheduling. (Not early at all
		// is checked in virtual time, in qdisc/netem and replay.)
		if d := time.Duration(at - sent[i]); d < delay-5*time.Millisecond || d > delay+500*time.Millisecond {
			t.Errorf("packet %d left %v after it came, want %v (a little more)", i, d, delay)
		}
	}
}
