package datapath

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/tcsyntax"
	"netyard/wire"
)

// sameHookEdges compares the incremental graph of every hook with a
// rebuild from the hook's full filter list (hookEdgesScan, the way the
// graph was built before it was incremental).
func sameHookEdges(t *testing.T, ns *Namespace, after string) {
	t.Helper()
	ns.e.mu.Lock()
	defer ns.e.mu.Unlock()
	for _, d := range ns.devices {
		for _, ing := range []bool{true, false} {
			n := hookNode{d, ing}
			got, gotPass := ns.hookEdges(n)
			want, wantPass := ns.hookEdgesScan(n)
			if gotPass != wantPass || !slices.Equal(got, want) {
				t.Fatalf("after %q: %s ingress=%v: incremental edges %v passes %v, rebuild %v passes %v",
					after, d.nd.Name(), ing, got, gotPass, want, wantPass)
			}
		}
	}
}

// TestGraphIncrementalMatchesRebuild runs random sequences of tc commands
// (adds, replaces, changes and deletes of relevant and irrelevant filters,
// in chain 0 and another chain, bound shared actions replaced under their
// filters, hooks flushed) and checks after each that every hook's edges
// equal a rebuild's, and that the listing equals one made from the
// rebuilt graph.
func TestGraphIncrementalMatchesRebuild(t *testing.T) {
	devs := []string{"d0", "d1", "d2", "d3"}
	withCycles := 0
	done := map[string]int{}
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := newRig(t, devs...)
			r.pair("va", "vb")
			all := append(slices.Clone(devs), "va", "vb")
			rnd := rand.New(rand.NewPCG(seed, 14))
			pick := func(xs ...string) string { return xs[rnd.IntN(len(xs))] }
			dev := func() string { return all[rnd.IntN(len(all))] }
			action := func() string {
				switch rnd.IntN(7) {
				case 0:
					return "action drop"
				case 1:
					return "action pass"
				case 2:
					return "action pipe"
				case 3:
					// A shared mirred, bound by index.
					return fmt.Sprintf("action mirred %s redirect dev %s index %d", pick("ingress", "egress"), dev(), 1+rnd.IntN(3))
				case 4:
					return "action police rate 1mbit burst 10k conform-exceed drop/pipe"
				}
				return fmt.Sprintf("action mirred %s %s dev %s", pick("ingress", "egress"), pick("redirect", "mirror"), dev())
			}
			for i := range 400 {
				var line string
				hook := pick("ingress", "egress")
				chain := pick("", "", "", "chain 1 ")
				switch k := rnd.IntN(20); {
				case k < 12:
					mode := pick("add", "add", "replace", "change")
					handle := pick("", fmt.Sprintf("handle %d ", 1+rnd.IntN(3)))
					if mode == "change" {
						handle = fmt.Sprintf("handle %d ", 1+rnd.IntN(2))
					}
					var clsf string
					switch rnd.IntN(3) {
					case 0:
						clsf = "protocol " + pick("all", "ip") + " matchall"
					case 1:
						clsf = "protocol " + pick("all", "ip") + " flower"
					default:
						clsf = fmt.Sprintf("protocol ip flower dst_ip 10.0.0.%d", rnd.IntN(4))
					}
					line = fmt.Sprintf("filter %s dev %s %s %spref %d %s%s", mode, dev(), hook, chain, 1+rnd.IntN(5), handle, clsf)
					for range 1 + rnd.IntN(3) {
						line += " " + action()
					}
				case k < 15:
					line = fmt.Sprintf("filter del dev %s %s %spref %d", dev(), hook, chain, 1+rnd.IntN(5))
					if rnd.IntN(2) == 0 {
						line += fmt.Sprintf(" handle %d %s", 1+rnd.IntN(3), pick("matchall", "flower"))
					}
				case k < 16:
					line = fmt.Sprintf("filter del dev %s %s %s", dev(), hook, chain)
				case k < 17:
					line = "qdisc del dev " + dev() + " clsact"
				case k < 18:
					// Change a bound shared mirred under its filters.
					line = fmt.Sprintf("actions replace action mirred %s redirect dev %s index %d", pick("ingress", "egress"), dev(), 1+rnd.IntN(3))
				default:
					line = fmt.Sprintf("filter add dev %s %s pref %d protocol ip flower dst_ip 10.1.%d.%d action drop", dev(), hook, 10+rnd.IntN(3), i/256, i%256)
				}
				err := tcsyntax.Run(r.ns, strings.Fields(line), io.Discard, io.Discard)
				if err == nil || ok(err) {
					done[strings.Fields(line)[0]+" "+strings.Fields(line)[1]]++
				}
				sameHookEdges(t, r.ns, line)
			}
			// The listing from the incremental graph equals one
			// built from rescanned hooks.
			if len(r.ns.RedirectCycles()) > 0 {
				withCycles++
			}
			r.e.mu.Lock()
			got, gotCut := r.ns.cycles(r.ns.hookEdges)
			want, wantCut := r.ns.cycles(r.ns.hookEdgesScan)
			r.e.mu.Unlock()
			if fmt.Sprint(got) != fmt.Sprint(want) || gotCut != wantCut {
				t.Errorf("cycles %v, rebuilt %v", got, want)
			}
		})
	}
	// The random commands must have done something of each kind.
	for _, k := range []string{"filter add", "filter replace", "filter change", "filter del", "qdisc del", "actions replace"} {
		if done[k] == 0 {
			t.Errorf("no %q succeeded (%v)", k, done)
		}
	}
	if withCycles == 0 {
		t.Error("no sequence ended with a redirect cycle: the test covers too little")
	}
}

// TestKeyedFiltersCostNoGraphWork: keyed flower filters (one per
// subscriber, each with its own gact) never make the graph be built or
// searched, however many there are; an unconditional redirect does.
func TestKeyedFiltersCostNoGraphWork(t *testing.T) {
	// The 100k (an add is O(1) in cls.Chains, so this is a
	// couple of seconds). The graph's cost per add does not depend on
	// the count: the counter must stay 0 at any n.
	n := 100_000
	if testing.Short() || testutil.RaceEnabled {
		n = 10_000
	}
	r := newRig(t, "eth0", "eth1")
	start := time.Now()
	for i := range n {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 32)
		f := cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1, Protocol: wire.EtherTypeIPv4,
			Classifier: &cls.Flower{DstIP: &dst}, Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}}
		if err := r.ns.AddFilter(&f, tcsyntax.ModeAdd); err != nil {
			t.Fatalf("filter %d: %v", i, err)
		}
		if i == 0 {
			// And deleted and re-added: a delete costs nothing either.
			if err := r.ns.DelFilter(&cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1, Handle: f.Handle}); err != nil {
				t.Fatal(err)
			}
			if err := r.ns.AddFilter(&f, tcsyntax.ModeAdd); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.e.mu.Lock()
	builds, rel := r.ns.graphBuilds, len(r.ns.devices["eth0"].inGraph.rel)
	r.e.mu.Unlock()
	if builds != 0 || rel != 0 {
		t.Fatalf("%d keyed flower adds: %d graph builds, %d graph-relevant filters; want 0 and 0", n, builds, rel)
	}
	t.Logf("%d keyed flower adds in %v", n, time.Since(start))
	r.always("eth0", ParentIngress, mirredSpec("eth1", true, false))
	r.e.mu.Lock()
	builds = r.ns.graphBuilds
	r.e.mu.Unlock()
	if builds != 1 {
		t.Fatalf("an unconditional redirect made %d graph builds, want 1", builds)
	}
}
