package main

import (
	"net/netip"
	"netyard/act"
	"netyard/cls"
	"netyard/ctl"
	"netyard/stats"
	"netyard/wire"
	"strconv"

	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"netyard/tcsyntax"
)

// filterDumpRules come after dumpRules (whose matchall is at pref 10).
const filterDumpRules = `filter add dev eth0 ingress pref 20 protocol ip flower ip_proto udp dst_ip 192.0.2.2 src_port 1000-2000 dst_port 53 ip_tos 0x10/0xfc classid 1:5 action gact pass
filter add dev eth0 ingress pref 20 protocol ip flower ip_proto tcp dst_ip 192.0.2.0/24 tcp_flags 0x2/0x12 action drop
filter add dev eth0 ingress pref 30 chain 3 protocol 802.1ad flower vlan_id 10 vlan_prio 2 vlan_ethtype 802.1q cvlan_id 20 cvlan_ethtype ipv6 ip_proto icmpv6 type 128 code 0 action vlan pop
filter add dev eth0 ingress pref 40 protocol ip flower skip_hw src_mac 02:00:00:00:00:01 dst_mac 02:00:00:00:00:00/ff:ff:ff:00:00:00 ip_flags frag/nofirstfrag ip_ttl 64 action gact pipe action gact pass
filter add dev eth0 egress pref 5 protocol all matchall action gact index 7
`

func (r *dumpRig) dumpFilters(t *testing.T, args ...string) string {
	t.Helper()
	_, _, cmd, err := tcsyntax.ParseLine(args)
	if err != nil || !filterDumpable(cmd) {
		t.Fatalf("tc %s: not a filter dump (%v)", strings.Join(args, " "), err)
	}
	return r.dumpWith(t, dumpFilters, args...)
}

func (r *dumpRig) rules(t *testing.T, rules string) {
	t.Helper()
	var errb bytes.Buffer
	if err := (&tcsyntax.CLI{Target: r.ns, Stdout: io.Discard, Stderr: &errb, Stdin: strings.NewReader(rules)}).Run([]string{"-b", "-"}); err != nil {
		t.Fatalf("rules: %v: %s", err, errb.String())
	}
}

// TestFilterDumpMatchesExec: "tc filter show" of a hook prints the same
// from the daemon's filter dump as from the one printer run on the
// filters themselves (the exec path), for every kind of key, with -s, -j,
// -p, and the chain, pref and protocol selectors.
func TestFilterDumpMatchesExec(t *testing.T) {
	r := newDumpRig(t)
	r.rules(t, dumpRules+filterDumpRules)
	r.clock.Advance(2 * time.Second)
	r.send(t, 5)
	r.clock.Advance(3 * time.Second)
	for _, hook := range []string{"ingress", "egress"} {
		for _, o := range [][]string{{}, {"-s"}, {"-j"}, {"-s", "-j"}, {"-s", "-j", "-p"}} {
			for _, sel := range [][]string{nil, {"chain", "3"}, {"chain", "0"}, {"pref", "20"}, {"protocol", "ip"}, {"pref", "99"}} {
				args := append(append(append([]string{}, o...), "filter", "show", "dev", "eth0", hook), sel...)
				want := r.exec(t, args...)
				got := r.dumpFilters(t, args...)
				if got != want {
					t.Errorf("tc %s:\nfrom the dump:\n%s\nfrom the filters:\n%s", strings.Join(args, " "), got, want)
				}
			}
		}
	}
	if out := r.dumpFilters(t, "-s", "filter", "show", "dev", "eth0", "ingress"); !strings.Contains(out, "classid 1:5") || !strings.Contains(out, "rule hit 5") {
		t.Errorf("listing lacks the classid or the counters:\n%s", out)
	}
}

// TestFilterDumpSinceGen: "since gen G" through the dump lists what
// changed after G (traffic, a replace, an add) and ends with the
// generation to ask for next; a deleted filter is simply gone.
func TestFilterDumpSinceGen(t *testing.T) {
	r := newDumpRig(t)
	r.rules(t, dumpRules+filterDumpRules)
	gen := func(out string) string { t.Helper(); return lastGeneration(t, out) }
	all := r.dumpFilters(t, "filter", "show", "dev", "eth0", "ingress", "since", "gen", "0")
	if strings.Count(all, "handle 0x") != 5 {
		t.Fatalf("since gen 0 lists all five ingress filters:\n%s", all)
	}
	g1 := gen(all)
	if out := r.dumpFilters(t, "filter", "show", "dev", "eth0", "ingress", "since", "gen", g1); strings.Contains(out, "handle") {
		t.Fatalf("nothing changed after %s:\n%s", g1, out)
	}
	r.send(t, 3) // UDP to 192.0.2.2: the matchall at pref 10 counts
	out := r.dumpFilters(t, "-s", "filter", "show", "dev", "eth0", "ingress", "since", "gen", g1)
	if !strings.Contains(out, "pref 10 matchall") || strings.Contains(out, "pref 20") {
		t.Fatalf("since gen %s after traffic:\n%s", g1, out)
	}
	g2 := gen(out)
	r.exec(t, "filter", "replace", "dev", "eth0", "ingress", "pref", "20", "handle", "2", "protocol", "ip", "flower", "ip_proto", "tcp", "dst_ip", "192.0.2.0/25", "action", "drop")
	r.exec(t, "filter", "add", "dev", "eth0", "ingress", "pref", "50", "protocol", "ip", "flower", "ip_proto", "udp", "action", "drop")
	r.exec(t, "filter", "del", "dev", "eth0", "ingress", "pref", "40")
	out = r.dumpFilters(t, "-j", "filter", "show", "dev", "eth0", "ingress", "since", "gen", g2)
	if !strings.Contains(out, `"pref":20`) || !strings.Contains(out, `"pref":50`) || strings.Contains(out, `"pref":10`) ||
		strings.Contains(out, `"pref":40`) || !strings.Contains(out, `{"generation":`) {
		t.Fatalf("since gen %s after a replace, an add and a delete:\n%s", g2, out)
	}
}

// benchEnv is an act.Env for a hook built outside a datapath.
type benchEnv struct{ cells *stats.Set }

func (benchEnv) DeviceIndex(string) (int32, bool) { return 0, false }
func (e benchEnv) Counters() *stats.Set           { return e.cells }
func (benchEnv) Now() int64                       { return 1 }

// BenchmarkFilterPrint is the client's side of a filter dump: decoding
// and printing `tc -s filter show` text for flower filters with one gact
// each, per filter (the daemon's side is datapath's BenchmarkFilterDump).
func BenchmarkFilterPrint(b *testing.B) {
	env := benchEnv{cells: stats.NewSet(stats.NewDomain(1))}
	ch := cls.NewChains(act.NewTable(env), env)
	const n = 4096
	for i := range n {
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 32)
		if err := ch.Add(&cls.Filter{Prio: 1, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Flower{DstIP: &dst},
			Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.OK}}}}, act.ModeAdd); err != nil {
			b.Fatal(err)
		}
	}
	var objs [][]byte
	ch.Walk(nil, cls.Select{}, func(e cls.DumpEntry) bool {
		objs = append(objs, e.Append(nil, false, 0))
		return true
	})
	opts, _, cmd, err := tcsyntax.ParseLine([]string{"-s", "filter", "show", "dev", "eth0", "ingress"})
	if err != nil {
		b.Fatal(err)
	}
	opts.Now = act.DecodeNow
	p := &filterPrinter{l: (&tcsyntax.Printer{Options: opts}).ListFilters(io.Discard, cmd.Select), sel: cmd.Select}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := p.add(ctl.Object{Data: objs[i%n]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestFilterDumpParallel: a listing big enough to be printed on every
// core (messages of thousands of filters, prios spanning message
// boundaries) prints the same as the one printer on the filters.
func TestFilterDumpParallel(t *testing.T) {
	r := newDumpRig(t)
	var b strings.Builder
	const n = 12000
	for i := range n {
		prio := 1 + i/3001 // the fourth prio starts inside a message
		b.WriteString("filter add dev eth0 ingress pref " + strconv.Itoa(prio) + " protocol ip flower dst_ip 10.0." +
			strconv.Itoa(i>>8) + "." + strconv.Itoa(i&255) + " action gact pass\n")
	}
	r.rules(t, b.String())
	for _, o := range [][]string{{}, {"-s"}} {
		args := append(append([]string{}, o...), "filter", "show", "dev", "eth0", "ingress")
		want := r.exec(t, args...)
		got := r.dumpFilters(t, args...)
		if got != want {
			t.Errorf("tc %s: the dump's listing (%d bytes) differs from the printer's (%d bytes)", strings.Join(args, " "), len(got), len(want))
		}
		if c := strings.Count(got, "flower chain 0 \n"); c != 4 {
			t.Errorf("%d prio header lines, want 4", c)
		}
	}
}
