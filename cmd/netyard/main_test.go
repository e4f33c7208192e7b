package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLab runs the embedded default as the README's first command does and
// checks it is quick and its JSON is one document.
func TestLab(t *testing.T) {
	var out, errb strings.Builder
	start := time.Now()
	if code := run([]string{"lab", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("netyard lab took %v, want under a minute", d)
	}
	var doc struct {
		Scenarios map[string]json.RawMessage `json:"scenarios"`
	}
	if err := json.Unmarshal([]byte(out.String()), &doc); err != nil {
		t.Fatalf("lab --json: %v", err)
	}
	for _, s := range []string{"redirect", "vlan0"} {
		if _, ok := doc.Scenarios[s]; !ok {
			t.Errorf("scenario %s missing from the JSON", s)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"lab", "nosuchscenario"},
		{"lab", "--nosuchflag"},
		{"replay"},
		{"replay", "--in", "eth0"},
		{"replay", "--in", "eth0=x.pcap", "extra"},
	} {
		var out, errb strings.Builder
		if code := run(args, &out, &errb); code != 2 {
			t.Errorf("netyard %q: exit %d, want 2 (usage)", args, code)
		}
		if errb.Len() == 0 {
			t.Errorf("netyard %q: no message on stderr", args)
		}
	}
}

func TestReplayCommandMissingFile(t *testing.T) {
	var out, errb strings.Builder
	code := run([]string{"replay", "--in", "eth0=" + filepath.Join(t.TempDir(), "none.pcap")}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "none.pcap") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	_ = os.Remove("none.pcap")
}
