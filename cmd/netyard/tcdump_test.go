package main

import (
	"bytes"
	"context"
	"io"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"netyard/ctl"
	"netyard/datapath"
	"netyard/netdev"
	"netyard/tcsyntax"
	"netyard/wire"
)

// dumpRig is a datapath in virtual time whose action tables are served on
// a control socket, to compare what `netyard tc` prints from a dump with
// what the one printer prints from the table itself (replay's way).
type dumpRig struct {
	e     *datapath.Engine
	ns    *datapath.Namespace
	clock *datapath.ManualClock
	c     *ctl.Client
}

func newDumpRig(t *testing.T) *dumpRig {
	t.Helper()
	clock := &datapath.ManualClock{}
	clock.Set(int64(time.Second))
	e := datapath.New(datapath.Config{Workers: 2, Clock: clock})
	ns := e.Default()
	for _, name := range []string{"eth0", "eth1"} {
		if _, err := e.AddDevice(ns, netdev.Config{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ctl.Listen(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	var opts []ctl.ServerOption
	for kind, d := range ns.ActionDumpers() {
		opts = append(opts, ctl.WithDumper(kind, d))
	}
	opts = append(opts, ctl.WithDumper("filter", ns.FilterDumper()))
	srv := ctl.NewServer(opts...)
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	c, err := ctl.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &dumpRig{e: e, ns: ns, clock: clock, c: c}
}

func (r *dumpRig) exec(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := (&tcsyntax.CLI{Target: r.ns, Stdout: &out, Stderr: &errb}).Run(args); err != nil {
		t.Fatalf("tc %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

func (r *dumpRig) dump(t *testing.T, args ...string) string {
	t.Helper()
	return r.dumpWith(t, dumpActions, args...)
}

// dumpWith runs a command through a dump function (dumpActions,
// dumpFilters) and returns what it printed.
func (r *dumpRig) dumpWith(t *testing.T, dump func(context.Context, *ctl.Client, tcsyntax.Options, *tcsyntax.Command, *tcFlags, io.Writer, io.Writer) error, args ...string) string {
	t.Helper()
	opts, _, cmd, err := tcsyntax.ParseLine(args)
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if err := dump(context.Background(), r.c, opts, cmd, &tcFlags{}, &out, &errb); err != nil {
		t.Fatalf("dump %s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// send puts n UDP frames through eth0's ingress.
func (r *dumpRig) send(t *testing.T, n int) {
	t.Helper()
	d, err := r.ns.Device("eth0")
	if err != nil {
		t.Fatal(err)
	}
	frame, err := wire.AppendFrame(nil, &wire.FrameSpec{
		SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"),
		Proto: wire.ProtoUDP, SrcPort: 1000, DstPort: 53, Payload: make([]byte, 20),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if err := d.Inject(frame, r.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	r.e.Run()
}

const dumpRules = `qdisc add dev eth0 clsact
actions add action gact drop index 7 cookie 0102abcd
actions add action gact pass index 3
actions add action vlan push id 100 protocol 802.1ad priority 5 index 4
actions add action skbedit priority 3 mark 0x10/0xff queue_mapping 2 index 9
actions add action police rate 1mbit burst 10k mtu 2k conform-exceed drop/pipe index 2
actions add action mirred egress mirror dev eth1 index 5
filter add dev eth0 ingress pref 10 matchall action skbedit index 9 action police index 2 action mirred index 5 action gact index 3
`

// TestActionDumpMatchesExec: every kind, with and without -s, -j, -brief
// and "since MSECS", prints the same from a dump as from the table.
func TestActionDumpMatchesExec(t *testing.T) {
	r := newDumpRig(t)
	var errb bytes.Buffer
	if err := (&tcsyntax.CLI{Target: r.ns, Stdout: io.Discard, Stderr: &errb, Stdin: strings.NewReader(dumpRules)}).Run([]string{"-b", "-"}); err != nil {
		t.Fatalf("rules: %v: %s", err, errb.String())
	}
	r.clock.Advance(2 * time.Second)
	r.send(t, 5)
	r.clock.Advance(3 * time.Second)
	for _, kind := range []string{"gact", "mirred", "vlan", "skbedit", "police"} {
		for _, o := range [][]string{{}, {"-s"}, {"-j"}, {"-s", "-j"}, {"-s", "-j", "-p"}, {"-brief", "-s"}, {"-brief", "-j"}} {
			for _, since := range [][]string{nil, {"since", "4000"}, {"since", "1000"}} {
				args := append(append(append([]string{}, o...), "actions", "ls", "action", kind), since...)
				want := r.exec(t, args...)
				got := r.dump(t, args...)
				if got != want {
					t.Errorf("tc %s:\nfrom the dump:\n%s\nfrom the table:\n%s", strings.Join(args, " "), got, want)
				}
				if kind == "gact" && len(o) == 1 && o[0] == "-s" && since == nil && !strings.Contains(got, "cookie 0102abcd") {
					t.Errorf("gact listing lacks the cookie:\n%s", got)
				}
			}
		}
	}
}

// TestActionDumpSinceGen: "since gen G" lists what changed after G and
// ends with the generation to ask for next.
func TestActionDumpSinceGen(t *testing.T) {
	r := newDumpRig(t)
	var errb bytes.Buffer
	if err := (&tcsyntax.CLI{Target: r.ns, Stdout: io.Discard, Stderr: &errb, Stdin: strings.NewReader(dumpRules)}).Run([]string{"-b", "-"}); err != nil {
		t.Fatalf("rules: %v: %s", err, errb.String())
	}
	gen := func(out string) string { t.Helper(); return lastGeneration(t, out) }
	all := r.dump(t, "actions", "ls", "action", "gact", "since", "gen", "0")
	if !strings.Contains(all, "total acts 2") {
		t.Fatalf("since gen 0 lists everything:\n%s", all)
	}
	g1 := gen(all)
	if out := r.dump(t, "actions", "ls", "action", "gact", "since", "gen", g1); strings.Contains(out, "action order") {
		t.Fatalf("nothing changed after %s, got\n%s", g1, out)
	}
	r.send(t, 3) // the filter's actions count: gact 3, not gact 7
	out := r.dump(t, "-s", "actions", "ls", "action", "gact", "since", "gen", g1)
	if !strings.Contains(out, "total acts 1") || !strings.Contains(out, "index 3 ref 2 bind 1") || strings.Contains(out, "index 7") {
		t.Fatalf("since gen %s after traffic through gact 3:\n%s", g1, out)
	}
	g2 := gen(out)
	r.exec(t, "actions", "replace", "action", "gact", "pipe", "index", "7")
	out = r.dump(t, "-j", "actions", "ls", "action", "gact", "since", "gen", g2)
	if !strings.Contains(out, `"index":7`) || strings.Contains(out, `"index":3`) || !strings.Contains(out, `{"generation":`) {
		t.Fatalf("since gen %s after replacing gact 7:\n%s", g2, out)
	}
	// The exec path (replay's) answers the same form.
	if out := r.exec(t, "actions", "ls", "action", "gact", "since", "gen", "0"); !strings.Contains(out, "total acts 2") || !strings.Contains(out, "generation ") {
		t.Fatalf("exec since gen 0:\n%s", out)
	}
}

// TestFilterShowSinceGen: "tc -s filter show ... since gen G" lists the
// filters whose counters or configuration changed after G.
func TestFilterShowSinceGen(t *testing.T) {
	r := newDumpRig(t)
	var errb bytes.Buffer
	if err := (&tcsyntax.CLI{Target: r.ns, Stdout: io.Discard, Stderr: &errb, Stdin: strings.NewReader(dumpRules + "filter add dev eth0 ingress pref 20 protocol ip flower ip_proto tcp action drop\n")}).Run([]string{"-b", "-"}); err != nil {
		t.Fatalf("rules: %v: %s", err, errb.String())
	}
	out := r.exec(t, "-s", "filter", "show", "dev", "eth0", "ingress", "since", "gen", "0")
	if !strings.Contains(out, "pref 10 matchall") || !strings.Contains(out, "pref 20 flower") {
		t.Fatalf("since gen 0 lists both filters:\n%s", out)
	}
	i := strings.LastIndex(out, "generation ")
	g := strings.TrimSpace(out[i+len("generation "):])
	r.send(t, 2) // UDP: the matchall at pref 10 counts, not the TCP flower
	out = r.exec(t, "-s", "filter", "show", "dev", "eth0", "ingress", "since", "gen", g)
	if !strings.Contains(out, "pref 10 matchall") || strings.Contains(out, "pref 20") || !strings.Contains(out, "generation ") {
		t.Fatalf("since gen %s after UDP traffic:\n%s", g, out)
	}
	js := r.exec(t, "-j", "filter", "show", "dev", "eth0", "ingress", "since", "gen", g)
	if !strings.Contains(js, `{"generation":`) {
		t.Fatalf("JSON without the generation: %s", js)
	}
}

// lockedBuffer is a bytes.Buffer the progress goroutine and the test
// share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProgress: a dump that takes over a second shows a counting line on
// the terminal and erases it at the end; a shorter one shows nothing.
func TestProgress(t *testing.T) {
	var quick lockedBuffer
	p := startProgress(&quick, true, "actions")
	p.add(10)
	p.stop()
	if quick.String() != "" {
		t.Errorf("a dump under a second printed %q", quick.String())
	}
	var slow lockedBuffer
	p = startProgress(&slow, true, "actions")
	p.add(2500)
	time.Sleep(1300 * time.Millisecond)
	p.stop()
	p.stop() // twice is harmless
	out := slow.String()
	if !strings.Contains(out, "\rnetyard tc: 2500 actions, ") || !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("progress of a slow dump: %q", out)
	}
	var off lockedBuffer
	p = startProgress(&off, false, "actions")
	p.add(1)
	p.stop()
	if off.String() != "" {
		t.Errorf("progress off printed %q", off.String())
	}
}

// lastGeneration is the N of a "since gen" listing's closing
// "generation N" line.
func lastGeneration(t *testing.T, out string) string {
	t.Helper()
	i := strings.LastIndex(out, "generation ")
	if i < 0 {
		t.Fatalf("no generation line in\n%s", out)
	}
	return strings.TrimSpace(out[i+len("generation "):])
}
