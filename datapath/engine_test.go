package datapath

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
	"netyard/wire"
)

// TestStartWorkers: two workers in real time, a redirect from a device of
// one to a device of the other; every packet arrives and none leaks (run
// with -race).
func TestStartWorkers(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	e := New(Config{Workers: 2, Pool: pool})
	ns := e.Default()
	d0, _ := e.AddDevice(ns, netdev.Config{Name: "eth0"})
	d1, _ := e.AddDevice(ns, netdev.Config{Name: "eth1"})
	if d0.worker == d1.worker {
		t.Fatal("both devices on one worker; the test wants two")
	}
	const n = 2000
	var got atomic.Int64
	done := make(chan struct{})
	d1.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) {
		p.Release()
		if got.Add(1) == n {
			close(done)
		}
	}))
	f := cls.Filter{Dev: "eth0", Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
		Actions: []act.Spec{redirect("eth1")}}
	if err := ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	wait := e.Start(ctx)
	frame := udpFrame(t)
	for sent := 0; sent < n; {
		if d0.Inject(frame, e.clock.Now()) == nil && d0.Counters().RxDropped == 0 {
			sent++
		} else {
			t.Fatalf("inject failed after %d", sent)
		}
		if sent%256 == 0 {
			// Let the workers keep up: the RX ring holds 1024.
			for int(got.Load()) < sent-512 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("only %d of %d packets arrived", got.Load(), n)
	}
	cancel()
	wait()
}

// TestRedirectLoopEnds: a two-device ingress loop ends by the packet's TTL;
// the drop is counted on the action (overlimit) and the namespace.
func TestRedirectLoopEnds(t *testing.T) {
	r := newRig(t, "eth0", "eth1")
	loop := func(from, to string) {
		r.filter(cls.Filter{Dev: from, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
			Actions: []act.Spec{&act.Mirred{Dev: to, Ingress: true, C: act.Common{Control: act.Stolen}}}})
	}
	loop("eth0", "eth1")
	loop("eth1", "eth0")
	r.inject("eth0", udpFrame(t))
	if got := r.ns.LoopDrops(); got != 1 {
		t.Fatalf("loop drops %d, want 1", got)
	}
	as, _ := r.ns.Actions("mirred")
	var pkts, over uint64
	for _, a := range as {
		pkts += a.Stats.Packets
		over += a.Stats.Overlimits
	}
	// The packet is redirected DefaultTTL times, and the next attempt
	// finds its TTL spent.
	if pkts != pkt.DefaultTTL+1 || over != 1 {
		t.Fatalf("mirred saw %d packets with %d overlimits, want %d and 1", pkts, over, pkt.DefaultTTL+1)
	}
}

// TestBacklogFullDrops: a redirect to a full backlog drops and counts; it
// never blocks.
func TestBacklogFullDrops(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	clk := &ManualClock{}
	e := New(Config{Pool: pool, Clock: clk, Backlog: 4})
	ns := e.Default()
	d0, _ := e.AddDevice(ns, netdev.Config{Name: "eth0"})
	d1, _ := e.AddDevice(ns, netdev.Config{Name: "eth1"})
	var sent int
	d1.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) { sent++; p.Release() }))
	f := cls.Filter{Dev: "eth0", Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
		Actions: []act.Spec{redirect("eth1")}}
	if err := ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
		t.Fatal(err)
	}
	frame := udpFrame(t)
	// One service round of eth0 handles a batch of 64 before eth1 runs,
	// so 60 of them find eth1's 4-slot backlog full.
	for range 64 {
		_ = d0.Inject(frame, 1)
	}
	e.Run()
	if c := d1.Counters(); c.BacklogDrops != 60 || sent != 4 {
		t.Fatalf("backlog drops %d, sent %d; want 60 and 4", c.BacklogDrops, sent)
	}
	as, _ := ns.Actions("mirred")
	// a failed redirect is the action's overlimit, as tcf_mirred_act
	// counts it (tcf_action_inc_overlimit_qstats)
	if as[0].Stats.Overlimits != 60 || as[0].Stats.Drops != 0 {
		t.Fatalf("mirred overlimits %d drops %d, want 60 and 0", as[0].Stats.Overlimits, as[0].Stats.Drops)
	}
}

// TestTCCommands drives the namespace with tc's grammar: qdiscs, filters,
// actions and their errors, as replay and the daemon do.
func TestTCCommands(t *testing.T) {
	r := newRig(t, "eth0", "eth1")
	tc := func(line string) (string, error) {
		var out, errb strings.Builder
		err := tcsyntax.Run(r.ns, strings.Fields(line), &out, &errb)
		return out.String(), err
	}
	must := func(line string) string {
		t.Helper()
		out, err := tc(line)
		if err != nil {
			t.Fatalf("tc %s: %v", line, err)
		}
		return out
	}
	if out := must("qdisc show dev eth0"); !strings.Contains(out, "pfifo 0: root") {
		t.Errorf("default qdisc: %q", out)
	}
	if _, err := tc("qdisc del dev eth0 root"); err == nil {
		t.Error("deleting the default qdisc: no error")
	}
	must("qdisc replace dev eth0 root handle 1: bfifo limit 3000")
	if out := must("qdisc show dev eth0"); !strings.Contains(out, "bfifo 1: root") {
		t.Errorf("after replace: %q", out)
	}
	if _, err := tc("qdisc add dev eth0 root pfifo"); err == nil {
		t.Error("add over an added root qdisc: no error")
	}
	must("qdisc del dev eth0 root")
	must("qdisc add dev eth0 clsact")
	must("filter add dev eth0 ingress protocol ip pref 1 flower ip_proto udp dst_port 53 action mirred egress redirect dev eth1")
	if _, err := tc("filter add dev eth0 ingress protocol ip pref 2 flower ip_proto udp action mirred egress redirect dev nosuch"); err == nil {
		t.Error("mirred to a missing device: no error")
	}
	must("actions add action gact drop index 7")
	if _, err := tc("actions add action gact drop index 7"); err == nil {
		t.Error("adding an existing action index: no error")
	}
	r.inject("eth0", udpFrameTo(t, 53))
	out := must("-s filter show dev eth0 ingress")
	if !strings.Contains(out, "Sent") || !strings.Contains(out, " 1 pkt") {
		t.Errorf("filter statistics do not show the packet:\n%s", out)
	}
	if len(r.sent["eth1"]) != 1 {
		t.Fatalf("eth1 sent %d frames, want 1", len(r.sent["eth1"]))
	}
	must("filter del dev eth0 ingress pref 1")
	r.inject("eth0", udpFrameTo(t, 53))
	if len(r.sent["eth1"]) != 1 {
		t.Fatal("a deleted filter still redirects")
	}
}

// TestDRRDevicesTakeTurns: within a namespace, a device with a deep queue
// does not keep another waiting: each visit starts past the device that
// used up the last one.
func TestDRRDevicesTakeTurns(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	clk := &ManualClock{}
	e := New(Config{Workers: 1, Pool: pool, Clock: clk, Logger: quietLog()})
	ns := e.Default()
	a, _ := e.AddDevice(ns, netdev.Config{Name: "a"})
	b, _ := e.AddDevice(ns, netdev.Config{Name: "b"})
	frame := udpFrame(t)
	for range 500 {
		_ = a.Inject(frame, 0)
	}
	_ = b.Inject(frame, 0)
	// Two visits of one quantum each: the second starts with b.
	e.RunBudget(2 * DefaultQuantum)
	if got := b.Counters().RxPackets; got != 1 {
		t.Fatalf("b received %d after two rounds, want 1 (a has %d queued)", got, a.Netdev().RxRing().Len())
	}
	e.Run()
}

// TestRunBudgetAcrossWorkers: the budget is shared by all workers.
func TestRunBudgetAcrossWorkers(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	e := New(Config{Workers: 2, Pool: pool, Clock: &ManualClock{}, Logger: quietLog()})
	ns := e.Default()
	var devs []*Device
	for _, n := range []string{"a", "b"} {
		d, _ := e.AddDevice(ns, netdev.Config{Name: n})
		devs = append(devs, d)
	}
	for _, d := range devs {
		for range 20 {
			_ = d.Inject(udpFrame(t), 0)
		}
	}
	if n := e.RunBudget(10); n != 10 {
		t.Fatalf("RunBudget(10) took %d", n)
	}
	e.Run()
}
