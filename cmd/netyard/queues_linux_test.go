package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
)

// TestEndToEndXDPQueues: two-queue veths on both sides of M, the daemon
// with two workers and `queues 2` AF_XDP devices, so that each queue of a
// device is polled by a worker of its own (datapath.spreadQueues): 64
// flows from A, spread by A's veth over its two TX queues and so over M's
// two RX queues, all reach B (iproute2's count at B), and netyard counts
// each once. The flows are paced and bounded, as every test here.
func TestEndToEndXDPQueues(t *testing.T) {
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	testutil.NeedTools(t, "ip")
	a := testutil.NewNetns(t, "nyqA")
	m := testutil.NewNetns(t, "nyqM")
	b := testutil.NewNetns(t, "nyqB")
	q2 := []string{"numtxqueues", "2", "numrxqueues", "2"}
	m.IP(append(append(append([]string{"link", "add", "name", "nyma"}, q2...), "type", "veth", "peer", "name", "nyva", "netns", a.Name), q2...)...)
	m.IP(append(append(append([]string{"link", "add", "name", "nymb"}, q2...), "type", "veth", "peer", "name", "nyvb", "netns", b.Name), q2...)...)
	for _, l := range []struct {
		ns  *testutil.Netns
		dev string
	}{{m, "nyma"}, {m, "nymb"}, {a, "nyva"}, {b, "nyvb"}} {
		l.ns.IP("link", "set", "dev", l.dev, "up")
	}
	sock := startDaemonIn(t, m, 2, `dev add a type xdp link nyma queues 2
dev add b type xdp link nymb queues 2
qdisc add dev a clsact
filter add dev a ingress matchall action mirred egress redirect dev b
`)
	before := rxPackets(t, b, "nyvb")
	const n = 20000
	var out, errb strings.Builder
	if err := a.Do(func() error {
		if code := run([]string{"gen", "-i", "nyva", "--dst-mac", "02:00:00:00:99:02", "--src-ip", "10.97.0.1", "--dst-ip", "10.97.0.2",
			"--flows", "64", "--count", fmt.Sprint(n), "--rate", "20k"}, &out, &errb); code != 0 {
			return fmt.Errorf("gen: exit %d: %s", code, errb.String())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "refused 0") {
		t.Fatalf("gen: %s", out.String())
	}
	var got uint64
	for range 50 {
		if got = rxPackets(t, b, "nyvb") - before; got >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var so, se strings.Builder
	if code := run([]string{"tc", "--socket", sock, "-s", "dev", "show"}, &so, &se); code != 0 {
		t.Fatalf("dev show: %s", se.String())
	}
	show := so.String()
	if got != n {
		t.Errorf("B received %d of %d frames\n%s", got, n, show)
	}
	if !strings.Contains(show, fmt.Sprintf("TX: %d packets", n)) || !strings.Contains(show, fmt.Sprintf("RX: %d packets", n)) {
		t.Errorf("netyard's counters do not say %d frames in and out:\n%s", n, show)
	}
}
