package datapath

import (
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
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

// transmissionBound is docs/LOOPS.md's bound: one packet that enters with
// redirect TTL t causes at most 2^t - 1 transmissions, and the whole tree
// of packets it starts (itself and its mirror copies) is at most 2^t
// packets, each taken from a ring at most once per mirred that moved it,
// plus once per pair crossing.
func transmissionBound(ttl uint8) uint64 { return 1<<ttl - 1 }

func mirredSpec(dev string, ingress, mirror bool) act.Spec {
	c := act.Stolen
	if mirror {
		c = act.Pipe
	}
	return &act.Mirred{Dev: dev, Ingress: ingress, Mirror: mirror, C: act.Common{Control: c}}
}

func (r *rig) always(dev string, parent uint32, actions ...act.Spec) {
	r.t.Helper()
	f := cls.Filter{Dev: dev, Parent: parent, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{}, Actions: actions}
	if err := r.ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
		r.t.Fatal(err)
	}
}

func (r *rig) transmissions() uint64 {
	var n uint64
	for _, d := range r.ns.Devices() {
		n += d.Counters().TxPackets
	}
	return n
}

// TestLoopsEnd injects one packet into each kind of loop the issue names:
// processing ends, within the documented number of transmissions, and the
// loop is reported as loop drops.
func TestLoopsEnd(t *testing.T) {
	tests := []struct {
		name  string
		rules func(r *rig)
	}{
		{"same device, ingress to itself", func(r *rig) {
			r.always("eth0", ParentIngress, mirredSpec("eth0", true, false))
		}},
		{"same device, egress to itself", func(r *rig) {
			r.always("eth0", ParentIngress, mirredSpec("eth0", false, false))
			r.always("eth0", ParentEgress, mirredSpec("eth0", false, false))
		}},
		{"two devices eth0 -> eth1 -> eth0", func(r *rig) {
			r.always("eth0", ParentIngress, mirredSpec("eth1", true, false))
			r.always("eth1", ParentIngress, mirredSpec("eth0", true, false))
		}},
		{"three devices", func(r *rig) {
			r.always("eth0", ParentIngress, mirredSpec("eth1", true, false))
			r.always("eth1", ParentIngress, mirredSpec("eth2", true, false))
			r.always("eth2", ParentIngress, mirredSpec("eth0", true, false))
		}},
		{"ingress -> egress -> ingress", func(r *rig) {
			r.always("eth0", ParentIngress, mirredSpec("eth1", false, false))
			r.always("eth1", ParentEgress, mirredSpec("eth0", true, false))
		}},
		{"mirror and redirect fan-out", func(r *rig) {
			r.always("eth0", ParentIngress, mirredSpec("eth1", true, true), mirredSpec("eth2", true, true), mirredSpec("eth0", true, false))
			r.always("eth1", ParentIngress, mirredSpec("eth3", false, true), mirredSpec("eth0", true, false))
			r.always("eth2", ParentIngress, mirredSpec("eth3", false, true), mirredSpec("eth1", true, false))
		}},
		{"through a pair: egress of eth0 arrives at eth1, which sends it back", func(r *rig) {
			a, b := r.pair("veth0", "veth1")
			_, _ = a, b
			r.always("eth0", ParentIngress, mirredSpec("veth0", false, false))
			r.always("veth1", ParentIngress, mirredSpec("veth1", false, true), mirredSpec("eth0", true, false))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "eth0", "eth1", "eth2", "eth3")
			tt.rules(r)
			r.inject("eth0", udpFrame(t)) // runs until idle: the loop ended
			tx := r.transmissions()
			if bound := transmissionBound(pkt.DefaultTTL); tx > bound {
				t.Errorf("%d transmissions, bound %d", tx, bound)
			}
			if r.ns.LoopDrops() == 0 {
				t.Error("no loop drop counted")
			}
			t.Logf("transmissions %d, loop drops %d", tx, r.ns.LoopDrops())
		})
	}
}

// pair makes two datapath devices joined like a veth pair.
func (r *rig) pair(a, b string) (*Device, *Device) {
	da, err := r.e.AddDevice(r.ns, netdev.Config{Name: a})
	if err != nil {
		r.t.Fatal(err)
	}
	db, err := r.e.AddDevice(r.ns, netdev.Config{Name: b})
	if err != nil {
		r.t.Fatal(err)
	}
	if err := netdev.NewPair(da.Netdev(), db.Netdev()); err != nil {
		r.t.Fatal(err)
	}
	return da, db
}

// TestLoopBoundIsTight: the bound is reached, so it is not loose. A pair
// A-B whose ingress hooks each mirror to their own egress once per unit of
// TTL: every mirror is a transmission, and every copy, arriving at the
// other end with one unit less, does the same. T(t) = t + T(t-1) + ... +
// T(0) = 2^t - 1.
func TestLoopBoundIsTight(t *testing.T) {
	r := newRig(t, "eth0")
	r.pair("a", "b")
	var as, bs []act.Spec
	for range pkt.DefaultTTL {
		as = append(as, mirredSpec("a", false, true))
		bs = append(bs, mirredSpec("b", false, true))
	}
	r.always("a", ParentIngress, as...)
	r.always("b", ParentIngress, bs...)
	r.inject("a", udpFrame(t))
	if tx, bound := r.transmissions(), transmissionBound(pkt.DefaultTTL); tx != bound {
		t.Fatalf("%d transmissions, want exactly the bound %d", tx, bound)
	}
}

// TestLoopProperty: random graphs of up to 16 devices (some joined in
// pairs) with random mirred redirect and mirror rules at ingress and egress,
// and random injected packets: processing always ends, and the work is
// within the documented bound.
func TestLoopProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(2017, 11))
	for iter := range 300 {
		ttl := uint8(1 + rng.IntN(MaxRedirectTTL))
		t.Run(fmt.Sprintf("%d/ttl%d", iter, ttl), func(t *testing.T) {
			pool := testutil.Pool(t, pkt.PoolConfig{})
			clk := &ManualClock{}
			e := New(Config{Pool: pool, Clock: clk, RedirectTTL: ttl, Logger: quietLog()})
			ns := e.Default()
			n := 2 + rng.IntN(15)
			var devs []*Device
			for i := range n {
				d, _ := e.AddDevice(ns, netdev.Config{Name: fmt.Sprintf("d%d", i)})
				devs = append(devs, d)
			}
			// Pair some neighbours; give the rest a sink.
			for i := 0; i+1 < n; i += 2 {
				if rng.IntN(3) == 0 {
					_ = netdev.NewPair(devs[i].Netdev(), devs[i+1].Netdev())
				}
			}
			for _, d := range devs {
				if d.Netdev().Peer() == nil {
					d.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, _ int64) { p.Release() }))
				}
			}
			rules := rng.IntN(3 * n)
			for range rules {
				d := devs[rng.IntN(n)]
				parent := ParentIngress
				if rng.IntN(2) == 0 {
					parent = ParentEgress
				}
				var as []act.Spec
				for range 1 + rng.IntN(3) {
					as = append(as, mirredSpec(devs[rng.IntN(n)].Name(), rng.IntN(2) == 0, rng.IntN(2) == 0))
				}
				f := cls.Filter{Dev: d.Name(), Parent: parent, Protocol: wire.EtherTypeAll, Classifier: &cls.Matchall{}, Actions: as}
				if err := ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
					t.Fatal(err)
				}
			}
			injected := 1 + rng.IntN(5)
			frame := udpFrame(t)
			for range injected {
				_ = devs[rng.IntN(n)].Inject(frame, 0)
			}
			// Work: packets taken from rings. Each packet of a tree is
			// taken once when it enters and once per mirred that moved
			// it or pair it crossed; both are bounded by the tree's
			// successful mirreds (2^t - 1) and its size (2^t).
			tb := transmissionBound(ttl)
			workBound := uint64(injected) * (1 + 2*tb + tb)
			work := uint64(e.RunBudget(math.MaxInt))
			if e.RunBudget(math.MaxInt) != 0 {
				t.Fatal("work left after the engine said it was idle")
			}
			if work > workBound {
				t.Errorf("took %d packets from rings, bound %d", work, workBound)
			}
			var tx uint64
			for _, d := range devs {
				tx += d.Counters().TxPackets
			}
			if tx > uint64(injected)*tb {
				t.Errorf("%d transmissions for %d packets, bound %d", tx, injected, uint64(injected)*tb)
			}
		})
	}
}

// TestCycleWarningAndListing: a filter that closes a cycle of unconditional
// redirects is installed with a warning naming the cycle; "tc loops show"
// lists the cycles; conditional filters and pair wires are handled.
func TestCycleWarningAndListing(t *testing.T) {
	r := newRig(t, "eth0", "eth1", "eth2")
	r.pair("va", "vb")
	tc := func(line string) (string, string, error) {
		var out, errb strings.Builder
		err := tcsyntax.Run(r.ns, strings.Fields(line), &out, &errb)
		return out.String(), errb.String(), err
	}
	steps := []struct {
		line, warn string
	}{
		// A conditional filter closes nothing.
		{"filter add dev eth0 ingress protocol ip flower ip_proto udp action mirred ingress redirect dev eth1", ""},
		{"filter add dev eth1 ingress matchall action mirred ingress redirect dev eth0", ""},
		{"filter add dev eth0 ingress pref 100 matchall action mirred ingress redirect dev eth1",
			"eth0 ingress -> eth1 ingress -> eth0 ingress"},
		// Out through va's wire, back in at vb, and on to va's egress.
		{"filter add dev eth2 ingress matchall action mirred egress redirect dev va", ""},
		{"filter add dev vb ingress matchall action mirred egress redirect dev va",
			"vb ingress -> va egress -> vb ingress"},
	}
	for _, s := range steps {
		_, stderr, err := tc(s.line)
		if err != nil {
			t.Fatalf("%s: %v", s.line, err)
		}
		if s.warn == "" && stderr != "" || s.warn != "" && !strings.Contains(stderr, "Warning:") || !strings.Contains(stderr, s.warn) {
			t.Errorf("%s:\n stderr %q\n want a warning with %q", s.line, stderr, s.warn)
		}
	}
	out, _, err := tc("loops show")
	if err != nil {
		t.Fatal(err)
	}
	want := "cycle 1: eth0 ingress -> eth1 ingress -> eth0 ingress\ncycle 2: va egress -> vb ingress -> va egress\n"
	if out != want {
		t.Errorf("loops show:\n%s\nwant\n%s", out, want)
	}
	js, _, _ := tc("-j loops show")
	if !strings.Contains(js, `"dev":"eth0","hook":"ingress"`) {
		t.Errorf("loops show -j: %s", js)
	}
}

// TestLoopDropsInTC: loop drops show in "tc -s qdisc show" on the clsact
// qdisc of the device that tried the redirect, and for the namespace.
func TestLoopDropsInTC(t *testing.T) {
	r := newRig(t, "eth0")
	r.always("eth0", ParentIngress, mirredSpec("eth0", true, false))
	r.inject("eth0", udpFrame(t))
	var out, errb strings.Builder
	if err := tcsyntax.Run(r.ns, []string{"-s", "qdisc", "show", "dev", "eth0"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "loop_drops 1") || !strings.Contains(out.String(), "namespace_loop_drops 1") {
		t.Fatalf("tc -s qdisc show:\n%s", out.String())
	}
}

// TestLoopLogRateLimited: a loop drop is logged once a second per device at
// most, naming the devices the packet went through.
func TestLoopLogRateLimited(t *testing.T) {
	var logBuf strings.Builder
	pool := testutil.Pool(t, pkt.PoolConfig{})
	e := New(Config{Pool: pool, Clock: &ManualClock{}, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	ns := e.Default()
	r := &rig{t: t, e: e, ns: ns, clk: e.clock.(*ManualClock), sent: map[string][]sentFrame{}, pool: pool}
	r.addDev("eth0")
	r.addDev("eth1")
	r.always("eth0", ParentIngress, mirredSpec("eth1", true, false))
	r.always("eth1", ParentIngress, mirredSpec("eth0", true, false))
	logBuf.Reset() // the cycle warning
	for range 3 {
		r.inject("eth0", udpFrame(t))
	}
	if ns.LoopDrops() != 3 {
		t.Fatalf("loop drops %d, want 3", ns.LoopDrops())
	}
	lines := strings.Count(logBuf.String(), "redirect TTL spent")
	if lines != 1 {
		t.Fatalf("%d log lines for 3 drops in one second, want 1:\n%s", lines, logBuf.String())
	}
	if !strings.Contains(logBuf.String(), `path="eth0 -> eth1 -> eth0 -> eth1"`) {
		t.Errorf("log does not name the loop:\n%s", logBuf.String())
	}
}

// TestCycleSearchBounded: a dense graph (every device mirrors to every
// other, plus one device feeding all of them) has factorially many cycles;
// adding its filters stays fast because the search is bounded.
func TestCycleSearchBounded(t *testing.T) {
	const k = 14
	r := newRig(t)
	for i := range k {
		r.addDev(fmt.Sprintf("d%d", i))
	}
	start := time.Now()
	for i := range k {
		var as []act.Spec
		for j := range k {
			if j != i {
				as = append(as, mirredSpec(fmt.Sprintf("d%d", j), true, true))
			}
		}
		r.always(fmt.Sprintf("d%d", i), ParentIngress, as...)
	}
	if n := len(r.ns.RedirectCycles()); n != maxCycles {
		t.Errorf("%d cycles listed, want the cap %d", n, maxCycles)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("adding %d filters took %v", k, d)
	}
}
