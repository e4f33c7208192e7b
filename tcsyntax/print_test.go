package tcsyntax

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// runLines runs tc batch lines against t and fails the test on an error.
func runLines(t *testing.T, ft *fakeTarget, script string) {
	t.Helper()
	var out, errs bytes.Buffer
	c := &CLI{Target: ft, Stdout: &out, Stderr: &errs, Stdin: strings.NewReader(script)}
	if err := c.Run([]string{"-b", "-"}); err != nil {
		t.Fatalf("setup: %v\n%s", err, errs.String())
	}
}

// tcOut runs one tc invocation and returns what it printed.
func tcOut(t *testing.T, ft *fakeTarget, args string) string {
	t.Helper()
	var out, errs bytes.Buffer
	if err := Run(ft, strings.Fields(args), &out, &errs); err != nil {
		t.Fatalf("tc %s: %v\n%s", args, err, errs.String())
	}
	return out.String()
}

// hwLines are what the kernel prints about hardware offload of actions,
// which netyard does not have and leaves out (see docs/TC.md).
var hwLines = regexp.MustCompile(`\t(not_in_hw|used_hw_stats disabled)\n|,\s*"not_in_hw": ?true|,\s*"used_hw_stats": ?\[ ?"disabled" ?\]`)

// TestKernelConformance compares the printer with what iproute2 6.1's tc
// printed for the same objects in a real kernel (testdata/kernel, made in
// a throwaway netns with veth devices va and vb; the kernel there had no
// flower, gact or police, so those are covered by the golden tests only).
func TestKernelConformance(t *testing.T) {
	ft := newFake()
	runLines(t, ft, `
qdisc add dev va root handle 1: pfifo limit 7
qdisc add dev va clsact
qdisc add dev vb root handle 5: bfifo limit 10k
actions add action mirred egress mirror dev vb index 4 cookie 0a0b
actions add action mirred ingress redirect dev vb index 9
actions add action mirred ingress mirror dev va jump 2 index 12
`)
	for i := range ft.qdiscs {
		if ft.qdiscs[i].Spec.Parent == 0xffffffff {
			ft.qdiscs[i].Refcnt = 3 // what a veth root qdisc has
		}
	}
	for _, a := range ft.actions["mirred"] {
		// 3 ticks after being installed: "installed 0 sec used 0 sec".
		a.stats.Installed = ft.now - 30e6
	}
	tests := []struct{ file, args string }{
		{"qdisc_show.txt", "qdisc show dev va"},
		{"qdisc_show_s.txt", "-s qdisc show dev va"},
		{"qdisc_show_sj.json", "-j -s qdisc show dev va"},
		{"qdisc_show_pj.json", "-p -j qdisc show dev va"},
		{"qdisc_bfifo.txt", "qdisc show dev vb"},
		{"qdisc_show_clsact.txt", "qdisc show dev va clsact"},
		{"actions_ls.txt", "actions ls action mirred"},
		{"actions_ls_s.txt", "-s actions ls action mirred"},
		{"actions_ls_sj.json", "-j -s actions ls action mirred"},
		{"actions_ls_pj.json", "-p -j actions ls action mirred"},
		{"actions_get.txt", "actions get action mirred index 4"},
		{"actions_get_j.json", "-j actions get action mirred index 4"},
		{"actions_ls_empty.txt", "actions ls action gact"},
		{"actions_ls_empty.json", "-j actions ls action gact"},
	}
	compareKernel(t, ft, tests)

	// A second namespace: a pfifo without limit, shown for all devices.
	ft = newFake()
	runLines(t, ft, "qdisc add dev va root handle 1: pfifo\nqdisc add dev va clsact")
	ft.qdiscs[0].Refcnt = 3
	compareKernel(t, ft, []struct{ file, args string }{
		{"qdisc_all.txt", "qdisc show"},
		{"qdisc_all_j.json", "-j qdisc show"},
	})
}

func compareKernel(t *testing.T, ft *fakeTarget, tests []struct{ file, args string }) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "kernel", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			want := hwLines.ReplaceAllString(string(raw), "")
			if got := tcOut(t, ft, tc.args); got != want {
				t.Errorf("tc %s:\n got %q\nwant %q", tc.args, got, want)
			}
		})
	}
}

// goldenSetup configures the fake as the golden outputs show it.
const goldenSetup = `
# qdiscs
qdisc add dev eth0 root handle 1: pfifo limit 100
qdisc add dev eth0 clsact
qdisc add dev eth1 root bfifo limit 64k
qdisc add dev eth1 ingress

# a shared policer, then filters that use it and new actions
actions add action police rate 1mbit burst 10k conform-exceed drop/pipe index 10
filter add dev eth0 ingress protocol ip pref 10 flower \
	dst_ip 10.0.0.0/8 ip_proto tcp dst_port 80 src_port 1024-65535 tcp_flags 0x2/0x12 \
	action police index 10 \
	action mirred egress redirect dev eth1 cookie c0ffee
filter add dev eth0 ingress protocol ip pref 10 flower \
	src_ip 192.168.1.0/24 ip_tos 0x10/0xfc ip_ttl 64 ip_flags frag/nofirstfrag ip_proto icmp type 8 code 0 \
	action drop
filter add dev eth0 ingress protocol 802.1ad pref 20 chain 1 flower skip_hw \
	indev eth0 dst_mac 01:00:5e:00:00:00/25 src_mac 02:00:00:00:00:01 \
	vlan_id 100 vlan_prio 3 vlan_ethtype 802.1Q cvlan_id 200 cvlan_prio 1 cvlan_ethtype ipv6 \
	ip_proto udp dst_port 4789 dst_ip 2001:db8::/64 classid 1:1 \
	action vlan pop action vlan modify id 300 priority 2 action skbedit priority 1:2 mark 0x10/0xf0 queue_mapping 3 \
	action goto chain 2
filter add dev eth0 egress matchall classid 1:3 action mirred ingress mirror dev eth1 continue index 7 action jump 1
filter add dev eth0 egress protocol arp pref 5 matchall action vlan push protocol 802.1ad id 5 priority 7 action reclassify
`

// age gives every object counters and times, so that -s output has
// something to show: filter n's actions count n packets.
func age(ft *fakeTarget) {
	now := ft.now
	for i := range ft.qdiscs {
		q := &ft.qdiscs[i]
		q.Stats.Bytes, q.Stats.Packets, q.Stats.Drops = 120*uint64(i+1), 2*uint64(i+1), uint64(i)
		q.Stats.Overlimits, q.Stats.Backlog, q.Stats.Qlen = uint64(i), 1500*uint64(i), uint64(i)
	}
	for n, f := range ft.filters {
		f.stats.Packets = uint64(10 * (n + 1))
		for _, a := range f.acts {
			a.stats.Bytes += 1000 * uint64(n+1)
			a.stats.Packets += uint64(n + 1)
			a.stats.Installed = now - 5e9
			a.stats.FirstUsed = now - 3e9
			a.stats.LastUsed = now - 2e9
		}
	}
	for _, tab := range ft.actions {
		for _, a := range tab {
			if a.stats.Installed == now {
				a.stats.Installed = now - 7e9 // never used
			}
		}
	}
}

// TestGolden prints a configuration in every form tc has and compares it
// with testdata/golden. The files were checked line by line against the
// iproute2 print functions; "go test -update" rewrites them.
func TestGolden(t *testing.T) {
	ft := newFake()
	runLines(t, ft, goldenSetup)
	age(ft)
	tests := []struct{ file, args string }{
		{"qdisc_show.txt", "qdisc show"},
		{"qdisc_show_s.txt", "-s qdisc show"},
		{"qdisc_show_sj.json", "-s -j qdisc show"},
		{"filter_ingress.txt", "filter show dev eth0 ingress"},
		{"filter_ingress_s.txt", "-s filter show dev eth0 ingress"},
		{"filter_ingress_sj.json", "-s -j filter show dev eth0 ingress"},
		{"filter_ingress_spj.json", "-s -p -j filter show dev eth0 ingress"},
		{"filter_ingress_chain1.txt", "filter show dev eth0 ingress chain 1"},
		{"filter_egress_s.txt", "-s filter show dev eth0 egress"},
		{"filter_egress_j.json", "-j filter show dev eth0 egress"},
		{"filter_get.txt", "-s filter get dev eth0 ingress protocol ip pref 10 handle 2 flower"},
		{"actions_police_s.txt", "-s -d actions ls action police"},
		{"actions_police_sj.json", "-s -j actions ls action police"},
		{"actions_get.txt", "actions get action vlan index 1 action skbedit index 1"},
		{"actions_gact_iec.txt", "-iec -s actions ls action gact"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got := tcOut(t, ft, tc.args)
			path := filepath.Join("testdata", "golden", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("tc %s:\n--- got\n%s\n--- want\n%s", tc.args, got, want)
			}
			if strings.HasSuffix(tc.file, ".json") && !json.Valid([]byte(got)) {
				t.Errorf("tc %s: output is not valid JSON", tc.args)
			}
		})
	}
}

// TestJSONExport checks the functions a statistics file is written with:
// valid JSON carrying each object's device, in tc's keys.
func TestJSONExport(t *testing.T) {
	ft := newFake()
	runLines(t, ft, goldenSetup)
	age(ft)
	fv, _ := ft.Filters("eth0", 0xfffffff2, nil)
	av, _ := ft.Actions("mirred")
	qv, _ := ft.Qdiscs("")
	opts := Options{Stats: 1, Now: ft.now}
	for name, raw := range map[string]json.RawMessage{
		"filters": FiltersJSON(fv, opts), "actions": ActionsJSON(av, opts), "qdiscs": QdiscsJSON(qv, opts),
	} {
		var v []map[string]any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, raw)
		}
		if len(v) == 0 {
			t.Fatalf("%s: empty", name)
		}
		switch name {
		case "filters":
			if v[0]["dev"] != "eth0" || v[0]["ingress"] != true {
				t.Errorf("filters: first entry %v lacks dev eth0 and ingress", v[0])
			}
			acts := v[1]["options"].(map[string]any)["actions"].([]any)
			st := acts[1].(map[string]any)["stats"].(map[string]any)
			if st["packets"] != 1.0 || acts[1].(map[string]any)["first_used"] != 3.0 {
				t.Errorf("filters: mirred action %v lacks its counters", acts[1])
			}
		case "qdiscs":
			if v[0]["dev"] != "eth0" || v[0]["bytes"] != 120.0 {
				t.Errorf("qdiscs: first entry %v", v[0])
			}
		case "actions":
			if v[0]["total acts"] != 2.0 {
				t.Errorf("actions: %v", v[0])
			}
		}
	}
	// The raw message embeds in a larger document.
	doc, err := json.Marshal(map[string]any{"filters": FiltersJSON(fv, opts)})
	if err != nil || !json.Valid(doc) {
		t.Errorf("embedding: %v", err)
	}
}
