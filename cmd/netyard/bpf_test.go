package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// startBPFDaemon runs a daemon with in-memory devices eth0 and eth1 and
// a clsact on eth0 until the test ends; it returns the socket.
func startBPFDaemon(t *testing.T, cfg daemonConfig) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	rules := filepath.Join(dir, "rules.tc")
	os.WriteFile(rules, []byte("qdisc add dev eth0 clsact\n"), 0o644)
	cfg.socket, cfg.rules, cfg.devs, cfg.workers = sock, rules, nameList{"eth0", "eth1"}, 1
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("daemon did not stop")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	return sock
}

// cli runs netyard with --socket after the command word.
func cli(sock, cmd string, args ...string) (string, string, int) {
	var out, errb strings.Builder
	code := run(append([]string{cmd, "--socket", sock}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI is cli for commands that must succeed: it returns stdout.
func mustCLI(t *testing.T, sock, cmd string) func(args ...string) string {
	return func(args ...string) string {
		t.Helper()
		out, e, code := cli(sock, cmd, args...)
		if code != 0 {
			t.Fatalf("netyard %s %s: exit %d: %s", cmd, strings.Join(args, " "), code, e)
		}
		return out
	}
}

// TestBPFThroughDaemon: object files loaded with `netyard tc` are listed
// by tc as iproute2 lists them and by `netyard bpf` as bpftool does
// (text and -j); map elements are updated, looked up, dumped and deleted
// from outside; bad input gets bpftool's errors.
func TestBPFThroughDaemon(t *testing.T) {
	sock := startBPFDaemon(t, daemonConfig{})
	ex, _ := filepath.Abs("../../examples/bpf")
	tc, bpf := mustCLI(t, sock, "tc"), mustCLI(t, sock, "bpf")
	tc("filter", "add", "dev", "eth0", "ingress", "pref", "1", "bpf", "object-file", ex+"/flow_counter.o", "section", "tc", "da")
	tc("filter", "add", "dev", "eth0", "ingress", "pref", "2", "bpf", "da", "obj", ex+"/dscp_classifier.o", "sec", "tc")
	show := tc("filter", "show", "dev", "eth0", "ingress")
	// iproute2: "... bpf chain 0 handle 0x1 FILE:[SECTION] direct-action not_in_hw id N name P tag T"
	re := regexp.MustCompile(`bpf chain 0 handle 0x1 (\w+)\.o:\[tc\] direct-action not_in_hw id (\d+) name (\w+) tag ([0-9a-f]{16})`)
	var ids = map[string]string{}
	var tags = map[string]string{}
	for _, m := range re.FindAllStringSubmatch(show, -1) {
		ids[m[3]], tags[m[3]] = m[2], m[4]
	}
	if ids["flow_counter"] == "" || ids["dscp_classifier"] == "" {
		t.Fatalf("tc filter show: no FILE:[SECTION] direct-action ... id ... name ... tag ... lines for both programs:\n%s", show)
	}

	// prog show: text and JSON agree with tc's ids and tags
	progs := bpf("prog", "show")
	for name, id := range ids {
		want := fmt.Sprintf("%s: sched_cls  name %s  tag %s  gpl\n", id, name, tags[name])
		if !strings.Contains(progs, want) {
			t.Errorf("prog show lacks %q:\n%s", want, progs)
		}
	}
	var pj []struct {
		ID     uint32   `json:"id"`
		Name   string   `json:"name"`
		Tag    string   `json:"tag"`
		RunCnt *uint64  `json:"run_cnt"`
		MapIDs []uint32 `json:"map_ids"`
	}
	if err := json.Unmarshal([]byte(bpf("-j", "prog", "show")), &pj); err != nil || len(pj) != 2 {
		t.Fatalf("prog show -j: %v %+v", err, pj)
	}
	for _, p := range pj {
		if fmt.Sprint(p.ID) != ids[p.Name] || p.Tag != tags[p.Name] || p.RunCnt != nil || len(p.MapIDs) == 0 {
			t.Errorf("prog show -j: %+v; tc says id %s tag %s (and no run_cnt while stats are off)", p, ids[p.Name], tags[p.Name])
		}
	}
	bpf("stats", "on")
	if out := bpf("prog", "show", "name", "flow_counter"); !strings.Contains(out, "run_time_ns 0 run_cnt 0") {
		t.Errorf("prog show with stats on: %q", out)
	}
	if out := bpf("stats"); out != "kernel.bpf_stats_enabled = 1\n" {
		t.Errorf("stats: %q", out)
	}

	// map show
	maps := bpf("map", "show")
	mre := regexp.MustCompile(`(?m)^(\d+): hash  name flows  flags 0x0\n\tkey 40B  value 16B  max_entries 4096  memlock \d+B\n\tpinned flows$`)
	if !mre.MatchString(maps) {
		t.Errorf("map show: no bpftool-shaped line for flows:\n%s", maps)
	}
	if !regexp.MustCompile(`(?m)^\d+: array  name dscp_table  flags 0x0\n\tkey 4B  value 8B  max_entries 64  memlock \d+B$`).MatchString(maps) {
		t.Errorf("map show: no line for dscp_table:\n%s", maps)
	}
	var mj []struct {
		ID         uint32 `json:"id"`
		Type, Name string
		KeySize    uint32 `json:"bytes_key"`
		ValueSize  uint32 `json:"bytes_value"`
		MaxEntries uint32 `json:"max_entries"`
	}
	if err := json.Unmarshal([]byte(bpf("-j", "map", "show")), &mj); err != nil {
		t.Fatal(err)
	}
	byName := map[string]uint32{}
	for _, m := range mj {
		byName[m.Name] = m.ID
		if m.Name == "dscp_table" && (m.Type != "array" || m.KeySize != 4 || m.ValueSize != 8 || m.MaxEntries != 64) {
			t.Errorf("map show -j: %+v", m)
		}
	}

	// update, lookup (by name and by id), dump, delete
	bpf("map", "update", "name", "dscp_table", "key", "hex", "2e", "00", "00", "00", "value", "hex", "06", "00", "00", "00", "02", "00", "00", "00")
	if out := bpf("map", "lookup", "id", fmt.Sprint(byName["dscp_table"]), "key", "46", "0", "0", "0"); out != "key: 2e 00 00 00  value: 06 00 00 00 02 00 00 00\n" {
		t.Errorf("lookup: %q", out)
	}
	var e struct{ Key, Value []string }
	if err := json.Unmarshal([]byte(bpf("-j", "map", "lookup", "name", "dscp_table", "key", "0x2e", "0", "0", "0")), &e); err != nil ||
		strings.Join(e.Value, " ") != "0x06 0x00 0x00 0x00 0x02 0x00 0x00 0x00" || strings.Join(e.Key, " ") != "0x2e 0x00 0x00 0x00" {
		t.Errorf("lookup -j: %v %+v", err, e)
	}
	key := strings.Fields(strings.Repeat("1 ", 40))
	bpf(append(append([]string{"map", "update", "name", "flows", "key"}, key...), strings.Fields("value 5 0 0 0 0 0 0 0 100 0 0 0 0 0 0 0 noexist")...)...)
	dump := bpf("map", "dump", "name", "flows")
	wantDump := "key:\n" + strings.Repeat("01 ", 39) + "01\nvalue:\n05 00 00 00 00 00 00 00 64 00 00 00 00 00 00 00\nFound 1 element\n"
	if dump != wantDump {
		t.Errorf("dump:\n%s\nwant\n%s", dump, wantDump)
	}
	var dj []struct{ Key, Value []string }
	if err := json.Unmarshal([]byte(bpf("-j", "map", "dump", "name", "flows")), &dj); err != nil || len(dj) != 1 || len(dj[0].Key) != 40 || dj[0].Value[8] != "0x64" {
		t.Errorf("dump -j: %v %+v", err, dj)
	}
	bpf(append([]string{"map", "delete", "name", "flows", "key"}, key...)...)
	if out := bpf("map", "dump", "name", "flows"); out != "Found 0 elements\n" {
		t.Errorf("dump after delete: %q", out)
	}

	// bad input: bpftool's errors, exit 1, the daemon unharmed
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"map", "dump", "name", "nope"}, "Error: no map with name nope"},
		{[]string{"map", "dump", "id", "99999"}, "Error: get map by id (99999): No such file or directory"},
		{[]string{"map", "lookup", "name", "dscp_table", "key", "1", "2", "3"}, "Error: key expected 4 bytes got 3"},
		{[]string{"map", "lookup", "name", "dscp_table", "key", "1", "2", "3", "4", "5"}, `Error: unexpected argument "5"`},
		{[]string{"map", "lookup", "name", "dscp_table", "key", "hex", "zz", "0", "0", "0"}, "Error: error parsing byte: zz"},
		{[]string{"map", "lookup", "name", "dscp_table", "key", "300", "0", "0", "0"}, "Error: error parsing byte: 300"},
		{[]string{"map", "lookup", "name", "dscp_table", "key", "100", "0", "0", "0"}, "Error: lookup failed: No such file or directory"},
		{[]string{"map", "update", "name", "dscp_table", "key", "1", "0", "0", "0", "value", "1"}, "Error: value expected 8 bytes got 1"},
		{[]string{"map", "update", "name", "dscp_table", "key", "1", "0", "0", "0"}, "Error: did not find value"},
		{append(append([]string{"map", "update", "name", "flows", "key"}, key...), strings.Fields("value 5 0 0 0 0 0 0 0 100 0 0 0 0 0 0 0 exist")...), "Error: update failed: No such file or directory"},
		{append([]string{"map", "delete", "name", "flows", "key"}, key...), "Error: delete failed: No such file or directory"},
		{[]string{"map", "event_pipe", "name", "flows"}, "is a hash, not a ringbuf"},
		{[]string{"prog", "show", "id", "424242"}, "Error: get by id (424242): No such file or directory"},
		{[]string{"frobnicate"}, `Error: unknown command "frobnicate"`},
		{[]string{"-x", "prog"}, "Error: unknown option -x"},
	} {
		out, e, code := cli(sock, "bpf", tt.args...)
		if code != 1 || !strings.Contains(e, tt.want) || out != "" {
			t.Errorf("bpf %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", strings.Join(tt.args, " "), code, out, e, tt.want)
		}
	}
	if out := bpf("prog", "list"); !strings.Contains(out, "name flow_counter") {
		t.Errorf("the daemon after bad input: %q", out)
	}

	// a deleted filter's program leaves the listing; a replaced one's
	// gives way to the new program
	tc("filter", "del", "dev", "eth0", "ingress", "pref", "2")
	tc("filter", "replace", "dev", "eth0", "ingress", "pref", "1", "handle", "1", "bpf", "object-file", ex+"/flow_counter.o", "section", "tc", "da")
	if err := json.Unmarshal([]byte(bpf("-j", "prog", "show")), &pj); err != nil || len(pj) != 1 || pj[0].Name != "flow_counter" || fmt.Sprint(pj[0].ID) == ids["flow_counter"] {
		t.Errorf("prog show after deleting pref 2 and replacing pref 1: %v %+v (the old flow_counter was id %s)", err, pj, ids["flow_counter"])
	}

	// the same for the bpf action: a standalone action's program, one
	// bound to a filter, and a replaced action's old program all leave
	// the listing with what held them (tcf_bpf_cleanup)
	progCount := func() int {
		if err := json.Unmarshal([]byte(bpf("-j", "prog", "show")), &pj); err != nil {
			t.Fatal(err)
		}
		return len(pj)
	}
	sampler := ex + "/sampler.o"
	tc("actions", "add", "action", "bpf", "object-file", sampler, "section", "tc", "index", "7")
	tc("filter", "add", "dev", "eth0", "ingress", "pref", "3", "matchall", "action", "bpf", "object-file", sampler, "section", "tc")
	if n := progCount(); n != 3 {
		t.Errorf("prog show with a standalone and a bound bpf action: %d programs, want 3: %+v", n, pj)
	}
	tc("actions", "replace", "action", "bpf", "object-file", sampler, "section", "tc", "index", "7")
	if n := progCount(); n != 3 {
		t.Errorf("prog show after replacing the standalone action: %d programs, want 3 (the old one gone): %+v", n, pj)
	}
	tc("actions", "del", "action", "bpf", "index", "7")
	tc("filter", "del", "dev", "eth0", "ingress", "pref", "3")
	if n := progCount(); n != 1 {
		t.Errorf("prog show after deleting the bpf actions: %d programs, want 1: %+v", n, pj)
	}
}
