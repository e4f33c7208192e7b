package datapath

import (
	"errors"
	"strings"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
	"netyard/wire"
)

// TestQuotas: each quota refuses the object past it, counts it, and
// leaves the namespace as it was; another namespace is not bound by it.
func TestQuotas(t *testing.T) {
	r := newRig(t)
	ns, _ := r.e.Namespace("t", true)
	other, _ := r.e.Namespace("u", true)
	if err := ns.SetQuotas(Quotas{Actions: 3, Filters: 2, Devices: 2}); err != nil {
		t.Fatal(err)
	}
	gact := func() []act.Spec { return []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}} }
	for _, n := range []string{"a", "b"} {
		if _, err := r.e.AddDevice(ns, netdev.Config{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.e.AddDevice(ns, netdev.Config{Name: "c"}); !errors.Is(err, ErrQuota) {
		t.Fatalf("third device: %v, want ErrQuota", err)
	}
	if err := r.e.AddPair(ns, netdev.Config{Name: "p"}, other, netdev.Config{Name: "q"}); !errors.Is(err, ErrQuota) {
		t.Fatalf("a pair end past the quota: %v", err)
	}
	filter := func(dev string, prio uint16) error {
		f := cls.Filter{Dev: dev, Parent: ParentIngress, Prio: prio, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{}, Actions: gact()}
		return ns.AddFilter(&f, tcsyntax.ModeAdd)
	}
	if err := filter("a", 1); err != nil {
		t.Fatal(err)
	}
	if err := ns.AddActions(gact(), tcsyntax.ModeAdd); err != nil {
		t.Fatal(err)
	}
	if err := filter("b", 1); err != nil { // the third action
		t.Fatal(err)
	}
	if err := ns.AddActions(gact(), tcsyntax.ModeAdd); !errors.Is(err, ErrQuota) {
		t.Fatalf("fourth action: %v, want ErrQuota", err)
	}
	if err := filter("a", 2); !errors.Is(err, ErrQuota) {
		t.Fatalf("third filter: %v, want ErrQuota", err)
	}
	if got := ns.ActionCount(); got != 3 {
		t.Fatalf("%d actions after the refusals, want 3", got)
	}
	s := ns.LimitStats()
	if s.ActionsRefused != 1 || s.FiltersRefused != 1 || s.DevicesRefused != 2 {
		t.Fatalf("counters %+v, want 1 action, 1 filter, 2 devices refused", s)
	}
	// The other namespace has no quotas.
	for range 10 {
		if err := other.AddActions(gact(), tcsyntax.ModeAdd); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMemPressure: a namespace whose device queues faster than its link
// sends (a slow link: packets pile up in its qdisc) holds no more than its
// max threshold of packet memory (plus a batch in flight), enters
// pressure, and its new packets are dropped and counted; a namespace next
// to it on the same worker, below its thresholds, loses nothing.
func TestMemPressure(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	r := newRigPool(t, pool)
	frame := udpFrame(t)
	setup := func(name string, rate uint64) (*Namespace, *Device) {
		ns, _ := r.e.Namespace(name, true)
		in, err := r.e.AddDevice(ns, netdev.Config{Name: "in"})
		if err != nil {
			t.Fatal(err)
		}
		out, err := r.e.AddDevice(ns, netdev.Config{Name: "out"})
		if err != nil {
			t.Fatal(err)
		}
		out.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) { p.Release() }))
		f := cls.Filter{Dev: "in", Parent: ParentIngress, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{},
			Actions: []act.Spec{redirect("out")}}
		if err := ns.AddFilter(&f, tcsyntax.ModeAdd); err != nil {
			t.Fatal(err)
		}
		if rate > 0 {
			if err := ns.SetLinkRate("out", rate); err != nil {
				t.Fatal(err)
			}
		}
		return ns, in
	}
	hog, hogIn := setup("hog", 1000) // 1000 bytes a second: nothing leaves meanwhile
	quiet, quietIn := setup("quiet", 0)
	frameMem := int64(len(frame))
	limits := MemLimits{Min: 20 * frameMem, Pressure: 50 * frameMem, Max: 100 * frameMem}
	for _, ns := range []*Namespace{hog, quiet} {
		if err := ns.SetMemLimits(limits); err != nil {
			t.Fatal(err)
		}
	}
	sent := 0
	for range 40 {
		for range 32 {
			_ = hogIn.Inject(frame, r.clk.Now())
		}
		for range 4 {
			_ = quietIn.Inject(frame, r.clk.Now())
			sent++
		}
		r.e.Run()
		if mem := hog.PacketMemory(); mem > limits.Max+batchSize*frameMem {
			t.Fatalf("hog holds %d bytes, max %d (+ a batch)", mem, limits.Max)
		}
	}
	s := hog.LimitStats()
	if !s.Pressure || s.PressureEntered == 0 || s.MaxDrops == 0 {
		t.Fatalf("hog's limits did not bite: %+v, memory %d", s, hog.PacketMemory())
	}
	if hog.quantum() != DefaultQuantum/2 {
		t.Fatalf("hog's quantum under pressure %d, want %d", hog.quantum(), DefaultQuantum/2)
	}
	qs := quiet.LimitStats()
	out, _ := quiet.Device("out")
	if qs.PressureDrops+qs.MaxDrops != 0 || out.Counters().TxPackets != uint64(sent) {
		t.Fatalf("quiet lost packets: %+v, sent %d, transmitted %d", qs, sent, out.Counters().TxPackets)
	}
	// Leaving pressure: below min once the queue drains.
	if err := hog.SetLinkRate("out", 0); err != nil {
		t.Fatal(err)
	}
	r.e.Run()
	_ = hogIn.Inject(frame, r.clk.Now())
	r.e.Run()
	if hog.LimitStats().Pressure {
		t.Fatalf("hog still under pressure with %d bytes", hog.PacketMemory())
	}
	if err := r.e.DelNamespace("hog", true, nil); err != nil {
		t.Fatal(err)
	}
	if err := r.e.DelNamespace("quiet", true, nil); err != nil {
		t.Fatal(err)
	}
}

// TestMemLimitsInvalid: thresholds out of order are refused.
func TestMemLimitsInvalid(t *testing.T) {
	r := newRig(t)
	for _, m := range []MemLimits{{Min: 2, Pressure: 1, Max: 3}, {Min: 1, Pressure: 3, Max: 2}, {Min: -1, Pressure: 1, Max: 2}, {Max: 0, Pressure: 0, Min: 0}} {
		err := r.ns.SetMemLimits(m)
		if (m == MemLimits{}) != (err == nil) {
			t.Errorf("%+v: %v", m, err)
		}
	}
}

// BenchmarkPathMemLimits is BenchmarkPath's flower+mirred with the
// default namespace's quotas and packet-memory thresholds set (and never
// reached): the per-batch check and the per-round fold of the qdisc's
// bytes, what every tenant with limits pays. Compare with BenchmarkPath in
// the same run (docs/PERFORMANCE.md).
func BenchmarkPathMemLimits(b *testing.B) {
	r, d, frame := pathRig(b, redirect("eth1"))
	if err := r.ns.SetMemLimits(MemLimits{Min: 1 << 20, Pressure: 2 << 20, Max: 4 << 20}); err != nil {
		b.Fatal(err)
	}
	if err := r.ns.SetQuotas(Quotas{Actions: 100, Filters: 100, Devices: 10}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		batch(r, d, frame, 64)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
}

// TestQuotaCountsRootQdiscFilters: the filters of a classful root qdisc
// ("parent 1:") count towards the namespace's filter quota, so a tenant
// cannot go past it there.
func TestQuotaCountsRootQdiscFilters(t *testing.T) {
	r := newRig(t)
	ns, _ := r.e.Namespace("t", true)
	if _, err := r.e.AddDevice(ns, netdev.Config{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := ns.SetQuotas(Quotas{Filters: 2}); err != nil {
		t.Fatal(err)
	}
	run := func(line string) error {
		var out, errb strings.Builder
		return tcsyntax.Run(ns, strings.Fields(line), &out, &errb)
	}
	for _, line := range []string{
		"qdisc add dev a root handle 1: prio",
		"filter add dev a parent 1: protocol all pref 1 matchall classid 1:1",
		"filter add dev a parent 1: protocol all pref 2 matchall classid 1:2",
	} {
		if err := run(line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	for _, line := range []string{
		"filter add dev a parent 1: protocol all pref 3 matchall classid 1:3",
		"filter add dev a ingress protocol all pref 1 matchall action drop",
	} {
		if err := run(line); !errors.Is(err, ErrQuota) {
			t.Errorf("%s: %v, want ErrQuota", line, err)
		}
	}
}
