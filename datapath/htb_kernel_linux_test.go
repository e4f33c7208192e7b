package datapath

import (
	"bytes"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/tcsyntax"
)

// TestHtbAgainstKernel sets up the same htb tree on a veth in the kernel
// (sch_htb) and on a netyard device, with the same tc command lines, and
// compares what "tc class show" and "tc qdisc show" print (plain, -d and
// -s: at rest the tokens are the buckets' depths, so even they agree),
// the warnings, and which commands the kernel refuses.
func TestHtbAgainstKernel(t *testing.T) {
	testutil.NeedRoot(t, "a veth and sch_htb in a network namespace")
	testutil.NeedTools(t, "ip", "tc")
	ns := testutil.NewNetns(t, "htb")
	ns.IP("link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ns.IP("link", "set", "v0", "up")

	r := newRig(t)
	if _, err := r.e.AddDevice(r.ns, netdev.Config{Name: "v0"}); err != nil {
		t.Fatal(err)
	}
	kernel := func(args string) (string, string, bool) {
		cmd := exec.Command("ip", append([]string{"netns", "exec", ns.Name, "tc"}, strings.Fields(args)...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err == nil
	}
	ours := func(args string) (string, string, bool) {
		var out, errb bytes.Buffer
		err := tcsyntax.Run(r.ns, strings.Fields(args), &out, &errb)
		return out.String(), errb.String(), err == nil
	}
	for _, c := range []string{
		"qdisc add dev v0 root handle 1: htb default 20 r2q 10",
		"class add dev v0 parent 1: classid 1:1 htb rate 10mbit",
		"class add dev v0 parent 1:1 classid 1:10 htb rate 1mbit ceil 5mbit prio 1",
		"class add dev v0 parent 1:1 classid 1:20 htb rate 100kbit quantum 1500",
		"class add dev v0 parent 1:1 classid 1:30 htb rate 1gbit",                          // big quantum: a warning; burst 1375b
		"class add dev v0 parent 1:1 classid 1:40 htb rate 100kbit ceil 2gbit cburst 3200", // small quantum
		"class add dev v0 parent 1:10 classid 1:100 htb rate 500kbit burst 10k prio 7",
		"class add dev v0 parent 1:10 classid 1:101 htb rate 800mbit ceil 800mbit burst 16000",
		"class change dev v0 parent 1:1 classid 1:20 htb rate 200kbit ceil 1mbit",
		"class replace dev v0 parent 1:1 classid 1:50 htb rate 3mbit",
		"class add dev v0 parent 1:1 classid 1:51 htb rate 20Kbit mpu 64",
		"class add dev v0 parent 1:1 classid 1:20 htb rate 1mbit",    // exists
		"class change dev v0 parent 1:1 classid 1:60 htb rate 1mbit", // not found
		"class del dev v0 classid 1:10",                              // has children
		"class del dev v0 classid 1:101",
		"class del dev v0 classid 1:77", // not found
		"qdisc change dev v0 root handle 1: htb default 30",
		"qdisc add dev v0 parent 1:30 handle 30: pfifo limit 50",
	} {
		_, kerr, kok := kernel(c)
		_, oerr, ook := ours(c)
		if kok != ook {
			t.Errorf("tc %s: kernel ok=%v %q, netyard ok=%v %q", c, kok, kerr, ook, oerr)
			continue
		}
		// The kernel's warnings, word for word.
		if kw, ow := warnings(kerr), warnings(oerr); !slices.Equal(kw, ow) {
			t.Errorf("tc %s: kernel warns %q, netyard %q", c, kw, ow)
		}
	}
	for _, show := range []string{"class show dev v0", "-d class show dev v0", "-s class show dev v0",
		"class show dev v0 classid 1:40", "qdisc show dev v0", "-d qdisc show dev v0"} {
		k, _, kok := kernel(show)
		o, oerr, ook := ours(show)
		if !kok || !ook {
			t.Fatalf("tc %s: kernel ok=%v, netyard ok=%v %s", show, kok, ook, oerr)
		}
		if kb, ob := blocks(k), blocks(o); !slices.Equal(kb, ob) {
			t.Errorf("tc %s:\nkernel:\n%s\nnetyard:\n%s", show, strings.Join(kb, "\n"), strings.Join(ob, "\n"))
		}
	}
}

func warnings(stderr string) []string {
	var w []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "Warning: ") {
			w = append(w, l)
		}
	}
	return w
}

// blocks cuts a listing into its objects (a "class" or "qdisc" line and
// the statistics lines under it), sorted: the kernel lists classes in
// its hash table's order. A qdisc's refcnt is the device's (a veth has
// two TX queues), so it is left out, as the ingress qdisc of the veth
// is.
func blocks(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "class ") || strings.HasPrefix(l, "qdisc ") {
			out = append(out, "")
		}
		if len(out) == 0 || l == "" {
			continue
		}
		if i := strings.Index(l, "refcnt "); i >= 0 {
			j := strings.IndexByte(l[i+7:], ' ')
			l = l[:i] + l[i+7+j+1:]
		}
		out[len(out)-1] += l + "\n"
	}
	out = slices.DeleteFunc(out, func(b string) bool { return strings.HasPrefix(b, "qdisc noqueue") })
	slices.Sort(out)
	return out
}
