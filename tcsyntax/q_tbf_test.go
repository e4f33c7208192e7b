package tcsyntax

import (
	"testing"
	"time"

	"netyard/qdisc"
	"netyard/qdisc/tbf"
)

func init() {
	const add = "qdisc add dev eth0 root "
	addQdiscCases([]qdiscGoodCase{
		{"tbf with latency", add + "handle 1: tbf rate 1mbit burst 10k latency 50ms", 0x10000,
			tbf.Params{Rate: 125000, Burst: 10240, Latency: 50 * time.Millisecond}},
		// limit, latency, burst and peakrate are read with matches().
		{"tbf abbreviations", add + "tbf rate 8mbit b 1540 l 20k", 0, tbf.Params{Rate: 1000000, Burst: 1540, Limit: 20480}},
		{"tbf la is latency", add + "tbf rate 8mbit bu 1540 la 20ms", 0, tbf.Params{Rate: 1000000, Burst: 1540, Latency: 20 * time.Millisecond}},
		{"tbf buffer is burst", add + "tbf rate 1mbit buffer 10kb limit 30000", 0, tbf.Params{Rate: 125000, Burst: 10240, Limit: 30000}},
		{"tbf maxburst is burst", add + "tbf maxburst 3000 rate 125000bps limit 3000", 0, tbf.Params{Rate: 125000, Burst: 3000, Limit: 3000}},
		{"tbf peakrate and mtu", add + "tbf rate 1mbit burst 10k latency 70ms p 2mbit mtu 1540", 0,
			tbf.Params{Rate: 125000, Burst: 10240, Latency: 70 * time.Millisecond, PeakRate: 250000, MTU: 1540}},
		{"tbf minburst is mtu", add + "tbf rate 1mbit burst 10k limit 15k peakrate 1.5mbit minburst 1514", 0,
			tbf.Params{Rate: 125000, Burst: 10240, Limit: 15360, PeakRate: 187500, MTU: 1514}},
		{"tbf odd rate and latency", add + "tbf rate 1000001bit burst 1501 latency 1234us", 0,
			tbf.Params{Rate: 125000, Burst: 1501, Latency: 1234 * time.Microsecond}},
	}, []struct{ name, line, word, why string }{
		{"tbf nothing given", add + "tbf", "tbf",
			`the "rate" parameter is mandatory; the "burst" parameter is mandatory; either "limit" or "latency" is required`},
		{"tbf rate only", add + "tbf rate 1mbit", "tbf", `the "burst" parameter is mandatory; either "limit" or "latency" is required`},
		{"tbf no limit", add + "tbf rate 1mbit burst 10k", "tbf", `either "limit" or "latency" is required`},
		{"tbf rate 0 is no rate", add + "tbf rate 0 burst 10k limit 10k", "tbf", `the "rate" parameter is mandatory`},
		{"tbf latency 0 is no latency", add + "tbf rate 1mbit burst 10k latency 0", "tbf", `either "limit" or "latency"`},
		{"tbf peakrate without mtu", add + "tbf rate 1mbit burst 10k latency 5ms peakrate 2mbit", "peakrate",
			`when "peakrate" is specified, "mtu" must also be specified`},
		{"tbf everything missing with peakrate", add + "tbf peakrate 2mbit", "tbf", `must also be specified; either`},
		{"tbf limit and latency", add + "tbf rate 1mbit burst 10k limit 10k latency 5ms", "latency", `specifying both "limit" and "latency" is not allowed`},
		{"tbf latency and limit", add + "tbf rate 1mbit burst 10k latency 5ms limit 10k", "limit", `specifying both`},
		{"tbf rate twice", add + "tbf rate 1mbit rate 2mbit", "rate", `duplicate "rate" specification`},
		{"tbf burst as buffer twice", add + "tbf rate 1mbit burst 10k buffer 5k", "buffer", `duplicate "buffer/burst/maxburst" specification`},
		{"tbf mtu as minburst twice", add + "tbf mtu 1500 minburst 1500", "minburst", `duplicate "mtu/minburst" specification`},
		{"tbf bad rate", add + "tbf rate fast burst 10k", "rate", `illegal value for "rate": "fast": expected a rate`},
		{"tbf bad latency", add + "tbf rate 1mbit burst 10k la soon", "la", `illegal value for "la": "soon"`},
		{"tbf bad limit", add + "tbf rate 1mbit burst 10k limit 10k/8", "limit", `illegal value for "limit"`},
		{"tbf cell size", add + "tbf rate 1mbit burst 10k/8 limit 10k", "burst", "cell size is not supported"},
		{"tbf mpu", add + "tbf rate 1mbit burst 10k limit 10k mpu 64", "mpu", "not supported"},
		{"tbf overhead abbreviated, bad value", add + "tbf rate 1mbit burst 10k limit 10k o lots", "o", "illegal value"},
		{"tbf linklayer unknown", add + "tbf rate 1mbit burst 10k limit 10k linklayer tokenring", "linklayer", "expected ethernet, atm or adsl"},
		// rate is read with strcmp: "ra" is no keyword.
		{"tbf rate not abbreviated", add + "tbf ra 1mbit", "ra", "unknown parameter; expected one of rate"},
		{"tbf unknown", add + "tbf rate 1mbit ceil 2mbit", "ceil", "unknown parameter"},
		{"tbf value missing", add + "tbf rate", "rate", "needs a rate"},
	})
}

// TestTbfShow follows "tc qdisc add" to "tc qdisc show" for the usual
// form, and the JSON tc prints for it.
func TestTbfShow(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "qdisc add dev eth0 root handle 1: tbf rate 1mbit burst 10k latency 50ms")
	tests := []struct{ args, want string }{
		{"qdisc show dev eth0", "qdisc tbf 1: root refcnt 2 rate 1Mbit burst 10Kb lat 50ms \n"},
		{"-j qdisc show dev eth0", `[{"kind":"tbf","handle":"1:","root":true,"refcnt":2,"options":{"rate":125000,"burst":10240,"lat":50000}}]` + "\n"},
		{"-d -iec qdisc show dev eth0", "qdisc tbf 1: root refcnt 2 rate 1000000bit burst 10Kb/1 mpu 0b lat 50ms linklayer ethernet \n"},
	}
	for _, tc := range tests {
		if got := tcOut(t, ft, tc.args); got != tc.want {
			t.Errorf("tc %s:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

// TestTbfLimit checks the limit a latency stands for, as tbf_parse_opt
// computes it and as tbf.New does.
func TestTbfLimit(t *testing.T) {
	tests := []struct {
		name string
		p    tbf.Params
		want uint32
	}{
		{"limit given", tbf.Params{Rate: 125000, Burst: 10240, Limit: 30000}, 30000},
		{"rate times latency plus burst", tbf.Params{Rate: 125000, Burst: 10240, Latency: 50 * time.Millisecond}, 16490},
		{"peak bucket smaller", tbf.Params{Rate: 125000, Burst: 10240, Latency: 20 * time.Millisecond, PeakRate: 250000, MTU: 1500}, 6500},
		{"peak bucket larger", tbf.Params{Rate: 125000, Burst: 1000, Latency: 20 * time.Millisecond, PeakRate: 250000, MTU: 1500}, 3500},
		{"fractions truncated", tbf.Params{Rate: 125001, Burst: 1, Latency: 3 * time.Microsecond}, 1},
		{"saturates at 32 bits", tbf.Params{Rate: 1 << 40, Burst: 1, Latency: time.Hour}, 1<<32 - 1},
	}
	for _, tt := range tests {
		if got := tbfLimit(tt.p); got != tt.want {
			t.Errorf("%s: tbfLimit = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestTbfShownSize checks the burst tc prints after the kernel's round
// trip through psched ticks: exact when the burst is a whole number of
// microseconds at the rate, else a byte or so less.
func TestTbfShownSize(t *testing.T) {
	tests := []struct {
		rate  uint64
		bytes uint32
		want  uint64
	}{
		{125000, 10240, 10240},      // 81920 us
		{375000, 10000, 9999},       // 26666.67 us, truncated twice
		{1250000, 1514, 1513},       // 1211.2 us
		{12500000000, 65536, 62500}, // 100 Gbit: 5.24 us, shown as 5 us of bytes
		{0, 1000, 0},
	}
	for _, tt := range tests {
		if got := tbfShownSize(tt.rate, tbfTicks(tt.rate, tt.bytes)); got != tt.want {
			t.Errorf("rate %d burst %d: shown %d, want %d", tt.rate, tt.bytes, got, tt.want)
		}
	}
}

func tbfViews() []QdiscView {
	return []QdiscView{
		{Spec: qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Handle: 0x10000,
			Params: tbf.Params{Rate: 125000, Burst: 10240, Latency: 50 * time.Millisecond}}},
		// As tbf.New keeps it: the limit, the latency gone.
		{Spec: qdisc.Spec{Dev: "eth1", Parent: qdisc.HandleRoot, Handle: 0x10000,
			Params: tbf.Params{Rate: 125000, Burst: 10240, Limit: 16490}}},
		{Spec: qdisc.Spec{Dev: "eth2", Parent: 0x10001, Handle: 0x20000,
			Params: tbf.Params{Rate: 1250000, Burst: 1514, Limit: 100000, PeakRate: 2500000, MTU: 1514}},
			Stats: qdisc.Stats{Bytes: 3028, Packets: 2, Overlimits: 5, Backlog: 1514, Qlen: 1}},
		// A limit below the burst: no latency to print, tc prints the
		// limit instead.
		{Spec: qdisc.Spec{Dev: "eth3", Parent: qdisc.HandleRoot, Handle: 0x30000,
			Params: tbf.Params{Rate: 125000, Burst: 10240, Limit: 5000}}},
	}
}

func TestTbfGolden(t *testing.T) {
	golden(t, "qdisc_tbf_s.txt", printQdiscs(t, Options{Stats: 1}, tbfViews(), Selector{}))
	golden(t, "qdisc_tbf_d.txt", printQdiscs(t, Options{Details: true, IEC: true}, tbfViews(), Selector{}))
	golden(t, "qdisc_tbf_j.json", printQdiscs(t, Options{JSON: true}, tbfViews(), Selector{}))
	golden(t, "qdisc_tbf_dj.json", printQdiscs(t, Options{JSON: true, Details: true}, tbfViews(), Selector{}))
}
