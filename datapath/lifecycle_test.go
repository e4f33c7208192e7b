package datapath

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/netdev"
	"netyard/tcsyntax"
	"netyard/wire"
)

// fillNamespace gives ns two devices a and b, a filter on a's ingress
// that redirects to b's egress and one on b's egress that mirrors to a's
// ingress (a loop the TTL ends), five standalone gact actions, a slow
// link on b so that its qdisc holds packets, and frames waiting in every
// kind of ring: what a namespace's deletion must give back.
func fillNamespace(t testing.TB, r *rig, ns *Namespace, frame []byte) {
	t.Helper()
	for _, n := range []string{"a", "b"} {
		if _, err := r.e.AddDevice(ns, netdev.Config{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(f cls.Filter) {
		if err := ns.AddFilter(&f, tcsyntax.ModeAdd); err != nil && !errors.As(err, new(*tcsyntax.Warning)) {
			t.Fatal(err)
		}
	}
	add(cls.Filter{Dev: "a", Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
		Actions: []act.Spec{mirredSpec("b", false, false)}})
	add(cls.Filter{Dev: "b", Parent: ParentEgress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
		Actions: []act.Spec{mirredSpec("a", true, true)}})
	for range 5 {
		if err := ns.AddActions([]act.Spec{&act.Gact{C: act.Common{Control: act.OK}}}, tcsyntax.ModeAdd); err != nil {
			t.Fatal(err)
		}
	}
	if err := ns.SetLinkRate("b", 1000); err != nil {
		t.Fatal(err)
	}
	a, _ := ns.Device("a")
	for range 20 {
		if err := a.Inject(frame, r.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r.e.RunBudget(10) // some processed (queued, backlogged), some still on the RX ring
	for range 5 {
		if err := a.Inject(frame, r.clk.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDelNamespaceFreesAll: namespaces with devices, filters, actions and
// packets in rings, backlogs and qdiscs are deleted; every pool buffer
// comes back (the rig's pool checks for leaks at the end), every counter
// set leaves the counters' domain, and the Go heap returns to its
// baseline.
func TestDelNamespaceFreesAll(t *testing.T) {
	r := newRig(t)
	frame := udpFrame(t)
	const n = 100
	sets := r.e.Gens().Sets()
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	round := func() {
		for i := range n {
			ns, err := r.e.Namespace(fmt.Sprintf("t%d", i), true)
			if err != nil {
				t.Fatal(err)
			}
			fillNamespace(t, r, ns, frame)
		}
		if live := r.pool.Stats().Live; live == 0 {
			t.Fatal("no packet held before the deletion: the test proves nothing")
		}
		for i := range n {
			if err := r.e.DelNamespace(fmt.Sprintf("t%d", i), true, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	round() // the first round grows the pool's and the runtime's caches
	base := heap()
	round()
	if live := r.pool.Stats().Live; live != 0 {
		t.Fatalf("%d pool buffers live after deleting every namespace", live)
	}
	if got := r.e.Gens().Sets(); got != sets {
		t.Fatalf("%d counter sets in the domain after the deletions, %d before", got, sets)
	}
	if got := heap(); got > base+base/10 {
		t.Fatalf("heap %d after a second round of %d namespaces, %d after the first", got, n, base)
	}
	if got := len(r.e.Namespaces()); got != 1 {
		t.Fatalf("%d namespaces left, want the default one", got)
	}
}

// TestDelDevice: a deleted device leaves its namespace, its packets go
// back to the pool, a mirred that still names it drops, and the name can
// be used again.
func TestDelDevice(t *testing.T) {
	r := newRig(t)
	frame := udpFrame(t)
	ns, _ := r.e.Namespace("x", true)
	fillNamespace(t, r, ns, frame)
	if err := r.e.DelDevice(ns, "b", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ns.Device("b"); err == nil {
		t.Fatal("b still there")
	}
	if err := r.e.DelDevice(ns, "b", nil); !errors.Is(err, tcsyntax.ErrNotFound) {
		t.Fatalf("deleting b twice: %v, want ErrNotFound", err)
	}
	a, _ := ns.Device("a")
	before := a.Counters()
	if err := a.Inject(frame, r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.e.Run()
	if after := a.Counters(); after.RxPackets <= before.RxPackets {
		t.Fatalf("a received nothing after b went: %+v", after)
	}
	if _, err := r.e.AddDevice(ns, netdev.Config{Name: "b"}); err != nil {
		t.Fatalf("the name b again: %v", err)
	}
	if err := r.e.DelNamespace("x", false, nil); !errors.Is(err, ErrNamespaceBusy) {
		t.Fatalf("deleting a namespace with devices without all: %v", err)
	}
	if err := r.e.DelNamespace("x", true, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.e.DelNamespace(DefaultNamespace, true, nil); err == nil {
		t.Fatal("the default namespace was deleted")
	}
	if live := r.pool.Stats().Live; live != 0 {
		t.Fatalf("%d pool buffers live", live)
	}
}

// TestPairAcrossNamespacesTTL: a pair between two namespaces whose ends
// each send back out what they receive (ingress -> redirect to their own
// egress) is a loop across namespaces; the packet's redirect TTL crosses
// the pair, so one frame causes at most 2^TTL - 1 transmissions in all,
// counted on both sides, and the loop drops are charged to the namespace
// where the TTL ran out.
func TestPairAcrossNamespacesTTL(t *testing.T) {
	r := newRig(t)
	a, _ := r.e.Namespace("a", true)
	b, _ := r.e.Namespace("b", true)
	if err := r.e.AddPair(a, netdev.Config{Name: "pa"}, b, netdev.Config{Name: "pb"}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []struct {
		ns  *Namespace
		dev string
	}{{a, "pa"}, {b, "pb"}} {
		f := cls.Filter{Dev: x.dev, Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
			Actions: []act.Spec{mirredSpec(x.dev, false, false)}}
		if err := x.ns.AddFilter(&f, tcsyntax.ModeAdd); err != nil && !errors.As(err, new(*tcsyntax.Warning)) {
			t.Fatal(err)
		}
	}
	pa, _ := a.Device("pa")
	pb, _ := b.Device("pb")
	if err := pa.Inject(udpFrame(t), r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	r.e.Run()
	tx := pa.Counters().TxPackets + pb.Counters().TxPackets
	if bound := transmissionBound(r.e.cfg.RedirectTTL); tx == 0 || tx > bound {
		t.Fatalf("%d transmissions across the pair, bound %d", tx, bound)
	}
	if a.LoopDrops()+b.LoopDrops() != 1 {
		t.Fatalf("loop drops a %d b %d, want the one packet's end", a.LoopDrops(), b.LoopDrops())
	}
	// Deleting one end deletes the pair, in both namespaces.
	if err := r.e.DelDevice(b, "pb", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Device("pa"); err == nil {
		t.Fatal("pa outlived its peer")
	}
}
