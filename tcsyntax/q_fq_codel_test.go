package tcsyntax

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netyard/qdisc"
	"netyard/qdisc/fqcodel"
)

// The qdisc kinds' grammar cases join the package's tables (parse_test.go),
// so that TestParseGood, TestParseBad and TestRoundTrip check them and
// FuzzParse starts from them. Each case's name starts with its kind.

// qdiscGoodCase is a line "qdisc add dev eth0 root [handle H] KIND ..."
// and the Params it must parse into.
type qdiscGoodCase struct {
	name, line string
	handle     uint32
	want       qdisc.Params
}

// addQdiscCases appends a kind's cases to goodCommands and badCommands.
func addQdiscCases(good []qdiscGoodCase, bad []struct{ name, line, word, why string }) {
	for _, c := range good {
		goodCommands = append(goodCommands, struct {
			name string
			line string
			want *Command
		}{c.name, c.line, &Command{Object: ObjQdisc, Verb: VerbAdd, Mode: ModeAdd,
			Qdisc: &qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Handle: c.handle, Params: c.want}}})
	}
	for _, c := range bad {
		badCommands = append(badCommands, struct {
			name, line string
			word       string
			why        string
		}{c.name, c.line, c.word, c.why})
	}
}

func fqc(f func(p *fqcodel.Params)) fqcodel.Params {
	p := fqcodel.Defaults()
	f(&p)
	return p
}

func init() {
	const add = "qdisc add dev eth0 root "
	addQdiscCases([]qdiscGoodCase{
		{"fq_codel defaults are the kernel's", add + "handle 8001: fq_codel", 0x80010000, fqcodel.Defaults()},
		{"fq_codel every parameter", add + "fq_codel limit 1000 flows 256 target 2ms interval 50ms quantum 300 noecn ce_threshold 1.5ms memory_limit 4Mb drop_batch 32", 0,
			fqcodel.Params{Limit: 1000, Flows: 256, Quantum: 300, Target: 2 * time.Millisecond, Interval: 50 * time.Millisecond,
				MemoryLimit: 4 << 20, DropBatch: 32, ECN: false, CEThreshold: 1500 * time.Microsecond,
				// Given: what "tc qdisc change" would change.
				Given: fqcodel.GivenLimit | fqcodel.GivenFlows | fqcodel.GivenQuantum | fqcodel.GivenTarget | fqcodel.GivenInterval |
					fqcodel.GivenMemoryLimit | fqcodel.GivenDropBatch | fqcodel.GivenECN | fqcodel.GivenCEThreshold}},
		// get_unsigned(..., 0): C's number bases.
		{"fq_codel counts in hex and octal", add + "fq_codel limit 0x400 flows 010", 0,
			fqc(func(p *fqcodel.Params) {
				p.Limit, p.Flows, p.Given = 1024, 8, fqcodel.GivenLimit|fqcodel.GivenFlows
			})},
		// tc does not send a 0, so the kernel's default stays.
		{"fq_codel zero keeps the default", add + "fq_codel limit 0 flows 0 quantum 0 target 0 interval 0 drop_batch 0", 0, fqcodel.Defaults()},
		{"fq_codel memory_limit ~0U is not sent", add + "fq_codel memory_limit 4294967295", 0, fqcodel.Defaults()},
		{"fq_codel bare time is microseconds", add + "fq_codel target 2500 ecn", 0,
			fqc(func(p *fqcodel.Params) {
				p.Target, p.Given = 2500*time.Microsecond, fqcodel.GivenTarget|fqcodel.GivenECN
			})},
		{"fq_codel odd sizes and times", add + "fq_codel memory_limit 1000001 interval 1.0001s", 0,
			fqc(func(p *fqcodel.Params) {
				p.MemoryLimit, p.Interval = 1000001, 1000100*time.Microsecond
				p.Given = fqcodel.GivenMemoryLimit | fqcodel.GivenInterval
			})},
	}, []struct{ name, line, word, why string }{
		{"fq_codel unknown parameter", add + "fq_codel limt 5", "limt", "unknown parameter; expected one of limit"},
		{"fq_codel keywords are not abbreviated", add + "fq_codel lim 5", "lim", "unknown parameter"},
		{"fq_codel bad limit", add + "fq_codel limit lots", "limit", `"lots": illegal "limit": expected a number of packets`},
		{"fq_codel signed limit", add + "fq_codel limit -1", "limit", `illegal "limit"`},
		{"fq_codel limit past 32 bits", add + "fq_codel limit 4294967296", "limit", `illegal "limit"`},
		{"fq_codel bad target", add + "fq_codel target 5parsecs", "target", `illegal "target": expected a time`},
		{"fq_codel bad memory_limit", add + "fq_codel memory_limit 1.5b", "memory_limit", `illegal "memory_limit": expected a size`},
		{"fq_codel missing value", add + "fq_codel interval", "interval", "needs a time"},
		{"fq_codel parameter twice", add + "fq_codel limit 5 limit 6", "limit", "given twice"},
		{"fq_codel ecn and noecn", add + "fq_codel ecn noecn", "noecn", "given twice"},
		{"fq_codel ce_threshold 0", add + "fq_codel ce_threshold 0", "ce_threshold", "at least 1us"},
		{"fq_codel ce_threshold_selector", add + "fq_codel ce_threshold 1ms ce_threshold_selector 0x1/0x3", "ce_threshold_selector", "not supported"},
		{"fq_codel help", add + "fq_codel help", "help", "usage: fq_codel"},
	})
}

// golden compares got with testdata/golden/file ("go test -update"
// rewrites it) and checks that a .json file is valid JSON.
func golden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", file)
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
		t.Errorf("%s:\n--- got\n%s\n--- want\n%s", file, got, want)
	}
	if strings.HasSuffix(file, ".json") && !json.Valid([]byte(got)) {
		t.Errorf("%s: not valid JSON:\n%s", file, got)
	}
}

func printQdiscs(t *testing.T, o Options, views []QdiscView, sel Selector) string {
	t.Helper()
	var b bytes.Buffer
	if err := (&Printer{o}).Qdiscs(&b, views, sel); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func printClasses(t *testing.T, o Options, views []ClassView, sel Selector) string {
	t.Helper()
	var b bytes.Buffer
	if err := (&Printer{o}).Classes(&b, views, sel); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestFQCodelShow follows "tc qdisc add" to "tc qdisc show": the line of
// a default fq_codel is the kernel's, times as the kernel returns them.
func TestFQCodelShow(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "qdisc add dev eth0 root handle 8001: fq_codel\nqdisc add dev eth1 root fq_codel target 3ms ce_threshold 250us noecn drop_batch 1")
	tests := []struct{ args, want string }{
		{"qdisc show dev eth0", "qdisc fq_codel 8001: root refcnt 2 limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 \n"},
		// 5 ms is 4882 CoDel units, 4999 us when the kernel reports it.
		{"-j qdisc show dev eth0", `[{"kind":"fq_codel","handle":"8001:","root":true,"refcnt":2,"options":{"limit":10240,"flows":1024,"quantum":1514,"target":4999,"interval":99999,"memory_limit":33554432,"ecn":true,"drop_batch":64}}]` + "\n"},
		{"qdisc show dev eth1", "qdisc fq_codel 8001: root refcnt 2 limit 10240p flows 1024 quantum 1514 target 3ms ce_threshold 249us interval 100ms memory_limit 32Mb drop_batch 1 \n"},
	}
	for _, tc := range tests {
		if got := tcOut(t, ft, tc.args); got != tc.want {
			t.Errorf("tc %s:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

func TestCodelUS(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want uint64
	}{
		{5 * time.Millisecond, 4999},
		{100 * time.Millisecond, 99999},
		{time.Microsecond, 0}, // 1000 ns is 0 units of 1024 ns
		{2 * time.Microsecond, 1},
		{1024 * time.Microsecond, 1024},
		{(1<<32 - 1) * time.Microsecond, 4294967295 - 1}, // no overflow at tc's largest time
	}
	for _, tt := range tests {
		if got := codelUS(tt.d); got != tt.want {
			t.Errorf("codelUS(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

// fqCodelViews are two fq_codel qdiscs with statistics: a default one as
// the brief shows it, and one with every optional counter set.
func fqCodelViews() []QdiscView {
	busy := fqcodel.XStats{MaxPacket: 1514, DropOverlimit: 7, ECNMark: 3, NewFlowCount: 42,
		NewFlowsLen: 1, OldFlowsLen: 2, CEMark: 5, MemoryUsage: 9216, DropOvermemory: 4}
	return []QdiscView{
		{Spec: qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Handle: 0x80010000, Params: fqcodel.Defaults()},
			Extra: FQCodelXstats(fqcodel.XStats{})},
		{Spec: qdisc.Spec{Dev: "eth1", Parent: 0x10002, Handle: 0x20000,
			Params: fqc(func(p *fqcodel.Params) { p.ECN, p.CEThreshold, p.MemoryLimit = false, 2*time.Millisecond, 1000000 })},
			Stats: qdisc.Stats{Bytes: 150000, Packets: 100, Drops: 7, Backlog: 4542, Qlen: 3},
			Extra: FQCodelXstats(busy)},
	}
}

// fqCodelClasses are flows as fq_codel_dump_class_stats reports them:
// one idle, one dropping with its next drop ahead, one overdue.
func fqCodelClasses() []ClassView {
	const h = 0x80010000
	return []ClassView{
		FQCodelClassView("eth0", h, fqcodel.ClassStats{Minor: 0x2c, Deficit: 1514, LDelay: 3 * time.Microsecond}),
		FQCodelClassView("eth0", h, fqcodel.ClassStats{Minor: 0x2d, Qlen: 4, Backlog: 6056, Drops: 2, Deficit: -86,
			LDelay: 12500 * time.Microsecond, Count: 3, LastCount: 2, Dropping: true, DropNext: 2 * time.Millisecond}),
		FQCodelClassView("eth0", h, fqcodel.ClassStats{Minor: 0x400, Qlen: 1, Backlog: 1514, Deficit: 0,
			LDelay: 1500 * time.Millisecond, Count: 1, Dropping: true, DropNext: -700 * time.Microsecond}),
	}
}

func TestFQCodelGolden(t *testing.T) {
	sel := Selector{}
	golden(t, "qdisc_fq_codel_s.txt", printQdiscs(t, Options{Stats: 1}, fqCodelViews(), sel))
	golden(t, "qdisc_fq_codel_sj.json", printQdiscs(t, Options{Stats: 1, JSON: true}, fqCodelViews(), sel))
	sel = Selector{Dev: "eth0"}
	golden(t, "class_fq_codel_s.txt", printClasses(t, Options{Stats: 1}, fqCodelClasses(), sel))
	golden(t, "class_fq_codel_spj.json", printClasses(t, Options{Stats: 1, JSON: true, Pretty: true}, fqCodelClasses(), sel))
}

// TestFQCodelXstatsText pins the brief's lines, independent of the golden
// files.
func TestFQCodelXstatsText(t *testing.T) {
	got := printQdiscs(t, Options{Stats: 1}, fqCodelViews()[:1], Selector{Dev: "eth0"})
	want := "qdisc fq_codel 8001: root refcnt 2 limit 10240p flows 1024 quantum 1514 target 5ms interval 100ms memory_limit 32Mb ecn drop_batch 64 \n" +
		" Sent 0 bytes 0 pkt (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n" +
		"  maxpacket 0 drop_overlimit 0 new_flow_count 0 ecn_mark 0\n  new_flows_len 0 old_flows_len 0\n"
	if got != want {
		t.Errorf("qdisc:\n got %q\nwant %q", got, want)
	}
	got = printClasses(t, Options{Stats: 1}, fqCodelClasses()[:1], Selector{Dev: "eth0"})
	want = "class fq_codel 8001:2c parent 8001: \n (dropped 0, overlimits 0 requeues 0) \n backlog 0b 0p requeues 0\n" +
		"  deficit 1514 count 0 lastcount 0 ldelay 3us\n"
	if got != want {
		t.Errorf("class:\n got %q\nwant %q", got, want)
	}
}

// TestFieldsTypes checks that the xstats printer reads whatever integer
// types a Target fills Extra with, and microseconds for times.
func TestFieldsTypes(t *testing.T) {
	extra := []Field{{"deficit", int(-5)}, {"count", uint64(7)}, {"lastcount", uint16(2)},
		{"ldelay", uint32(1500)}, {"dropping", uint8(1)}, {"drop_next", int32(-300)}}
	w := newWriter(false, false)
	printFQCodelXstats(w, extra)
	want := "  deficit -5 count 7 lastcount 2 ldelay 1.5ms dropping drop_next -300us"
	if got := string(w.Bytes()); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Missing fields print as 0.
	w = newWriter(false, false)
	printFQCodelXstats(w, []Field{{"ecn_mark", 9}})
	if got, want := string(w.Bytes()), "  maxpacket 0 drop_overlimit 0 new_flow_count 0 ecn_mark 9\n  new_flows_len 0 old_flows_len 0"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
