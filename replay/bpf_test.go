package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"netyard/bpf/cbpf/cbpftest"
	"netyard/internal/testutil"
	"netyard/pkt"
)

// TestReplayBpfTcpdump: `netyard replay` with a bpf filter whose bytecode
// is `tcpdump -ddd EXPR` redirects exactly the frames `tcpdump -r` prints
// for EXPR, counted by the filter's statistics and by the frames written.
func TestReplayBpfTcpdump(t *testing.T) {
	testutil.NeedTools(t, "tcpdump")
	dir := t.TempDir()
	frames := cbpftest.Frames()
	capture := filepath.Join(dir, "in.pcap")
	if err := cbpftest.WritePcap(capture, frames); err != nil {
		t.Fatal(err)
	}
	for i, expr := range cbpftest.Expressions {
		bc, err := cbpftest.Bytecode(expr)
		if err != nil {
			t.Fatal(err)
		}
		want, err := cbpftest.Matches(capture, expr)
		if err != nil {
			t.Fatal(err)
		}
		rules := filepath.Join(dir, fmt.Sprintf("rules%d.tc", i))
		out := filepath.Join(dir, fmt.Sprintf("out%d.pcap", i))
		rule := fmt.Sprintf("filter add dev eth0 ingress protocol all pref 1 bpf bytecode \"%s\" action mirred egress redirect dev eth1\n", bc)
		if err := os.WriteFile(rules, []byte(rule), 0o644); err != nil {
			t.Fatal(err)
		}
		var show bytes.Buffer
		pool := testutil.Pool(t, pkt.PoolConfig{})
		stats := filepath.Join(dir, fmt.Sprintf("stats%d.json", i))
		sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", capture}}, Out: []Port{{"eth1", out}}, Pool: pool, Show: &show, Stats: stats})
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		if got := sum.Written["eth1"]; got != len(want) {
			t.Errorf("%q: netyard redirected %d frames, tcpdump prints %d", expr, got, len(want))
		}
		raw, err := os.ReadFile(stats)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			Devices map[string]struct {
				Counters map[string][]struct {
					Kind    string `json:"kind"`
					Packets int    `json:"packets"`
				} `json:"filter_counters"`
			} `json:"devices"`
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		fc := doc.Devices["eth0"].Counters["ingress"]
		if len(fc) != 1 || fc[0].Kind != "bpf" {
			t.Fatalf("%q: filter counters %+v, want one bpf filter", expr, fc)
		}
		fs := fc[0].Packets
		t.Logf("%q: %d of %d frames", expr, fs, len(frames))
		if fs != len(want) {
			t.Errorf("%q: the bpf filter counted %d packets, tcpdump prints %d", expr, fs, len(want))
		}
	}
}

// TestExampleClassicWeb: examples/bpf's classic filter is what tcpdump
// makes of its expression, and its rules file, replayed over the corpus,
// redirects what tcpdump prints for the expression.
func TestExampleClassicWeb(t *testing.T) {
	testutil.NeedTools(t, "tcpdump")
	dir := t.TempDir()
	capture := filepath.Join(dir, "in.pcap")
	if err := cbpftest.WritePcap(capture, cbpftest.Frames()); err != nil {
		t.Fatal(err)
	}
	t.Chdir("../examples/bpf")
	expr, err := os.ReadFile("classic-web.expr")
	if err != nil {
		t.Fatal(err)
	}
	e := string(bytes.TrimSpace(expr))
	bc, err := cbpftest.Bytecode(e)
	if err != nil {
		t.Fatal(err)
	}
	txt, err := os.ReadFile("classic-web.txt")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(bytes.ReplaceAll(bytes.TrimSpace(txt), []byte("\n"), []byte(","))); got != bc {
		t.Fatalf("classic-web.txt is not tcpdump's bytecode for %q any more:\n%s\n%s", e, got, bc)
	}
	want, err := cbpftest.Matches(capture, e)
	if err != nil {
		t.Fatal(err)
	}
	pool := testutil.Pool(t, pkt.PoolConfig{})
	sum, err := Run(Config{Rules: "classic-web.tc", In: []Port{{"eth0", capture}}, Out: []Port{{"eth1", filepath.Join(dir, "out.pcap")}}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Written["eth1"]; got != len(want) || got == 0 {
		t.Fatalf("redirected %d frames, tcpdump prints %d", got, len(want))
	}
}
