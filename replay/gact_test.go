package replay

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
)

// TestReplayGactRandomReproducible: gact's random modes in a replay
// (netrand draws from the worker's seeded generator, determ counts
// packets) repeat exactly: two replays of the same capture and rules
// write the same capture and the same statistics, and netrand dropped
// about a third.
func TestReplayGactRandomReproducible(t *testing.T) {
	dir := t.TempDir()
	inPath, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "r.tc")
	netemInput(t, inPath, 3000)
	os.WriteFile(rules, []byte(
		"filter add dev eth0 ingress pref 1 matchall action gact pipe random netrand drop 3 action gact pipe random determ drop 7 action mirred egress redirect dev eth1\n"), 0o644)
	once := func(name string) (pcap, stats []byte, written int) {
		out, st := filepath.Join(dir, name+".pcap"), filepath.Join(dir, name+".json")
		sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", inPath}}, Out: []Port{{"eth1", out}}, Stats: st, Pool: testutil.Pool(t, pkt.PoolConfig{})})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := os.ReadFile(out)
		s, _ := os.ReadFile(st)
		return p, s, sum.Written["eth1"]
	}
	pa, sa, wa := once("a")
	pb, sb, _ := once("b")
	if !bytes.Equal(pa, pb) {
		t.Fatal("two replays with gact random wrote different captures")
	}
	if !bytes.Equal(sa, sb) {
		t.Fatalf("two replays with gact random have different statistics:\n%s\n%s", sa, sb)
	}
	if !json.Valid(sa) {
		t.Fatalf("statistics are not JSON: %s", sa)
	}
	// netrand 3 keeps about 2/3 (2000 ± 4σ, σ = 25.8), then determ 7
	// drops every 7th of those
	kept := float64(wa) * 7 / 6
	if kept < 2000-104 || kept > 2000+104 {
		t.Errorf("%d of 3000 written: netrand 3 kept about %.0f, want about 2000", wa, kept)
	}
}
