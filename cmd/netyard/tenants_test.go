package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTestDaemon runs the daemon with cfg until the test ends; it returns a
// stop function that waits for it (to restart on the same state).
func runTestDaemon(t *testing.T, cfg daemonConfig) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("daemon not ready")
	}
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
	}
	t.Cleanup(stop)
	return stop
}

func tcOn(sock string) func(args ...string) (string, string, int) {
	return func(args ...string) (string, string, int) {
		var out, errb strings.Builder
		code := run(append([]string{"tc", "--socket", sock}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
}

// everyKind is a configuration with every kind of object netyard has:
// namespaces with limits, tenants, memory devices and a pair across
// namespaces, a link rate, each qdisc kind, standalone actions of each
// kind, filters (flower, matchall) binding new and standalone actions.
const everyKind = `netns add a
netns add b
netns set a quantum 32 backlog 1000000
netns set a mem 100k 200k 400k
netns set b actions 100 filters 50 devices 10
tenant add a uid 60001
tenant add b gid 60002
dev add eth0 type memory
dev add eth1 type memory queues 4
-n a dev add x0 type memory mtu 9000
-n a dev add x1 type memory
-n a dev add va type veth peer vb netns b
-n b dev add y0 type memory
dev add eth2 type memory
dev add eth3 type memory
link set dev eth0 rate 10mbit
qdisc add dev eth0 root handle 1: prio bands 3
qdisc add dev eth0 clsact
qdisc add dev eth1 root handle 2: mq
-n a qdisc add dev x0 root fq_codel limit 500 target 3ms
-n a qdisc add dev x1 root tbf rate 1mbit burst 10kb latency 50ms
-n b qdisc add dev y0 root pfifo limit 77
-n b qdisc add dev vb root bfifo limit 30000
qdisc add dev eth2 root handle 1: htb default 20
class add dev eth2 parent 1: classid 1:1 htb rate 10mbit ceil 20mbit
class add dev eth2 parent 1:1 classid 1:20 htb rate 2mbit ceil 10mbit prio 2
class add dev eth2 parent 1:1 classid 1:5 htb rate 3mbit
qdisc add dev eth2 parent 1:20 handle 20: fq_codel
qdisc add dev eth3 root handle 3: netem delay 10ms 2ms loss 1% seed 7
actions add action gact drop index 9
actions add action police rate 1mbit burst 10k conform-exceed drop index 3
-n a actions add action skbedit priority 5 index 4
-n a actions add action vlan push id 10 index 5
-n a actions add action mirred egress redirect dev x1 index 6
filter add dev eth0 ingress protocol ip pref 10 flower ip_proto udp dst_port 53 action mirred egress redirect dev eth1
filter add dev eth0 ingress protocol all pref 20 matchall action gact index 9
filter add dev eth0 egress protocol ip pref 5 flower dst_ip 192.0.2.0/24 action police index 3
-n a filter add dev x0 ingress protocol all pref 1 matchall action mirred index 6
filter add dev eth2 parent 1: protocol ip pref 3 flower ip_proto udp classid 1:5
filter add dev eth0 ingress protocol all pref 30 bpf bytecode '1,6 0 0 0' action gact pass
filter add dev eth0 parent 1: protocol all pref 1 matchall classid 1:2
-n a filter add dev va egress protocol ipv6 pref 7 flower action skbedit index 4 action vlan index 5
`

// TestSaveRoundTrip: the configuration of every kind, saved, read back by
// a fresh daemon (-c), saves the same; and a daemon with --state restarts
// with it.
func TestSaveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	rules := filepath.Join(dir, "every.tc")
	os.WriteFile(rules, []byte(everyKind), 0o644)
	state := filepath.Join(dir, "state.tc")
	stop := runTestDaemon(t, daemonConfig{socket: sock, workers: 2, state: state})
	tc := tcOn(sock)
	if _, e, code := tc("-b", rules); code != 0 {
		t.Fatalf("every kind: exit %d: %s", code, e)
	}
	saved, e, code := tc("save")
	if code != 0 {
		t.Fatalf("save: exit %d: %s", code, e)
	}
	for _, want := range []string{"netns add a", "tenant add b gid 60002", "-n a dev add va type veth peer vb netns b",
		"-n a filter add dev x0 ingress", "actions add action gact drop", "index 9", "-n b qdisc replace dev y0 root",
		"class add dev eth2 parent 1:1 classid 1:20 htb rate", "qdisc replace dev eth2 parent 1:20 handle 20: fq_codel",
		"filter add dev eth2 parent 1: pref 3 protocol ip handle 0x1 flower classid 1:5", "bpf bytecode '1,6 0 0 0'", "netem", "seed 7"} {
		if !strings.Contains(saved, want) {
			t.Errorf("save lacks %q:\n%s", want, saved)
		}
	}
	if strings.Contains(saved, "dev add vb") {
		t.Errorf("a pair saved twice:\n%s", saved)
	}
	if st, _ := os.ReadFile(state); string(st) != saved {
		t.Fatalf("state file differs from save:\n%s\n---\n%s", st, saved)
	}
	// A fresh daemon reads the saved file back (-c) to the same.
	savedFile := filepath.Join(dir, "saved.tc")
	os.WriteFile(savedFile, []byte(saved), 0o644)
	sock2 := filepath.Join(dir, "ctl2.sock")
	runTestDaemon(t, daemonConfig{socket: sock2, workers: 1, rules: savedFile})
	again, e, code := tcOn(sock2)("save")
	if code != 0 || again != saved {
		t.Fatalf("save after -c of the saved file: exit %d %s\n%s\n--- first:\n%s", code, e, again, saved)
	}
	// A restart on --state comes back with it.
	stop()
	runTestDaemon(t, daemonConfig{socket: sock, workers: 2, state: state})
	again, e, code = tc("save")
	if code != 0 || again != saved {
		t.Fatalf("save after a restart on --state: exit %d %s\n%s\n--- first:\n%s", code, e, again, saved)
	}
}

// TestNetnsCommands: namespaces through the daemon: -n addresses one,
// objects of one are not seen from another, netns show -s counts, dev del
// and netns del free them.
func TestNetnsCommands(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	runTestDaemon(t, daemonConfig{socket: sock, workers: 2})
	tc := tcOn(sock)
	must := func(args ...string) string {
		t.Helper()
		out, e, code := tc(args...)
		if code != 0 {
			t.Fatalf("tc %v: exit %d: %s", args, code, e)
		}
		return out
	}
	must("netns", "add", "a")
	must("dev", "add", "d0", "type", "memory", "netns", "a")
	must("-n", "a", "dev", "add", "d1", "type", "veth", "peer", "d2")
	must("-n", "a", "actions", "add", "action", "gact", "drop", "index", "1")
	must("-netns", "a", "filter", "add", "dev", "d0", "ingress", "matchall", "action", "mirred", "egress", "redirect", "dev", "d1")
	if out := must("-n", "a", "actions", "ls", "action", "gact"); !strings.Contains(out, "index 1") {
		t.Fatalf("actions of a: %s", out)
	}
	if out := must("actions", "ls", "action", "gact"); strings.Contains(out, "index 1") {
		t.Fatalf("the default namespace sees a's action: %s", out)
	}
	if _, e, code := tc("filter", "add", "dev", "d0", "ingress", "matchall", "action", "drop"); code == 0 || !strings.Contains(e, "d0") {
		t.Fatalf("d0 from the default namespace: exit %d %s", code, e)
	}
	if out := must("-n", "a", "filter", "show", "dev", "d0", "ingress"); !strings.Contains(out, "redirect to device d1") && !strings.Contains(out, "Redirect to device d1") {
		t.Fatalf("filters of a: %s", out)
	}
	out := must("-s", "netns", "show", "a")
	for _, want := range []string{"netns a quantum 64", "devices: d0 d1 d2", "actions 2"} {
		if !strings.Contains(out, want) {
			t.Fatalf("netns show -s lacks %q: %s", want, out)
		}
	}
	must("netns", "set", "a", "quantum", "8", "backlog", "64k")
	if out := must("netns", "show", "a"); !strings.Contains(out, "quantum 8 backlog 65536") {
		t.Fatalf("after set: %s", out)
	}
	must("netns", "set", "a", "actions", "2")
	if _, e, code := tc("-n", "a", "actions", "add", "action", "gact", "pass"); code == 0 || !strings.Contains(e, "quota") {
		t.Fatalf("an action past the quota: exit %d %s", code, e)
	}
	if out := must("-s", "netns", "show", "a"); !strings.Contains(out, "actions_refused 1") || !strings.Contains(out, " actions 2") {
		t.Fatalf("netns show -s after a refusal: %s", out)
	}
	must("-n", "a", "dev", "del", "d2") // and d1 with it
	if out := must("-s", "netns", "show", "a"); !strings.Contains(out, "devices: d0\n") {
		t.Fatalf("after dev del: %s", out)
	}
	if _, e, code := tc("netns", "del", "a"); code == 0 || !strings.Contains(e, "devices") {
		t.Fatalf("netns del with devices: exit %d %s", code, e)
	}
	must("netns", "del", "a", "all")
	if _, e, code := tc("-n", "a", "qdisc", "show"); code == 0 || !strings.Contains(e, "namespace") {
		t.Fatalf("a after its deletion: exit %d %s", code, e)
	}
	if _, e, code := tc("netns", "del", "default"); code == 0 || !strings.Contains(e, "default") {
		t.Fatalf("deleting the default namespace: exit %d %s", code, e)
	}
}
