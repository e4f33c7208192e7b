package tcsyntax

import (
	"math"
	"testing"
	"time"

	"netyard/qdisc/netem"
)

// pc is tc's set_percent of a percentage.
func pc(percent float64) uint32 { return netemPercent(percent / 100) }

func init() {
	const add = "qdisc add dev eth0 root "
	base := func(p netem.Params) netem.Params {
		if p.Limit == 0 {
			p.Limit = 1000
		}
		return p
	}
	ms := time.Millisecond
	addQdiscCases([]qdiscGoodCase{
		{"netem defaults", add + "netem", 0, base(netem.Params{})},
		{"netem delay jitter correlation", add + "handle 1: netem delay 100ms 10ms 25%", 0x10000,
			base(netem.Params{Latency: 100 * ms, Jitter: 10 * ms, DelayCorr: pc(25)})},
		// get_time64: a bare number is nanoseconds; "d" is delay.
		{"netem bare time is ns", add + "netem d 1500 l 20", 0, netem.Params{Latency: 1500, Limit: 20}},
		{"netem distribution", add + "netem delay 10ms 2ms distribution pareto", 0,
			base(netem.Params{Latency: 10 * ms, Jitter: 2 * ms, Dist: netem.Pareto})},
		{"netem old loss syntax", add + "netem loss 0.3% 25", 0, base(netem.Params{Loss: pc(0.3), LossCorr: pc(25)})},
		{"netem drop is loss", add + "netem drop random 1", 0, base(netem.Params{Loss: pc(1)})},
		{"netem loss state defaults", add + "netem loss state 2%", 0,
			base(netem.Params{LossModel: netem.LossState, P13: pc(2), P31: netemPercent(1 - 0.02), P23: math.MaxUint32})},
		{"netem loss state all", add + "netem loss state 1% 30% 5% 10% 0.5%", 0,
			base(netem.Params{LossModel: netem.LossState, P13: pc(1), P31: pc(30), P32: pc(5), P23: pc(10), P14: pc(0.5)})},
		{"netem gemodel defaults", add + "netem loss gemodel 1%", 0,
			base(netem.Params{LossModel: netem.LossGE, P: pc(1), R: netemPercent(1 - 0.01)})},
		{"netem gemodel all", add + "netem loss gemodel 1% 10% 70% 0.1% ecn", 0,
			base(netem.Params{LossModel: netem.LossGE, P: pc(1), R: pc(10), H: math.MaxUint32 - pc(70), K1: pc(0.1), ECN: true})},
		{"netem reorder sets gap 1", add + "netem delay 10ms reorder 25% 50%", 0,
			base(netem.Params{Latency: 10 * ms, Reorder: pc(25), ReorderCorr: pc(50), Gap: 1})},
		{"netem reorder gap", add + "netem delay 10ms reorder 25% gap 5", 0,
			base(netem.Params{Latency: 10 * ms, Reorder: pc(25), Gap: 5})},
		{"netem corrupt duplicate", add + "netem corrupt 0.1% duplicate 1% 10%", 0,
			base(netem.Params{Corrupt: pc(0.1), Duplicate: pc(1), DupCorr: pc(10)})},
		{"netem rate overheads", add + "netem rate 1mbit -4 48 5", 0,
			base(netem.Params{Rate: 125000, PacketOverhead: -4, CellSize: 48, CellOverhead: 5})},
		{"netem slot", add + "netem slot 10ms 20ms packets 5 bytes 1k", 0,
			base(netem.Params{SlotMin: 10 * ms, SlotMax: 20 * ms, SlotPackets: 5, SlotBytes: 1024})},
		{"netem slot one time", add + "netem slot 800us", 0, base(netem.Params{SlotMin: 800 * time.Microsecond, SlotMax: 800 * time.Microsecond})},
		{"netem slot distribution", add + "netem slot distribution normal 2ms 1ms packets 3", 0,
			base(netem.Params{SlotDist: netem.Normal, SlotDelay: 2 * ms, SlotJitter: ms, SlotPackets: 3})},
		{"netem seed", add + "netem loss 1% seed 18446744073709551615", 0,
			base(netem.Params{Loss: pc(1), Seed: math.MaxUint64, HasSeed: true})},
	}, []struct{ name, line, word, why string }{
		{"netem unknown word", add + "netem jitter 5ms", "jitter", `What is "jitter"?`},
		{"netem bad time", add + "netem delay soon", "latency", `Illegal "latency"`},
		{"netem percent above 100", add + "netem loss 101%", "loss percent", `Illegal "loss percent"`},
		{"netem loss twice", add + "netem loss 1% loss 2%", "loss", "duplicate loss argument"},
		{"netem loss kind", add + "netem loss bursty 1%", "bursty", "Unknown loss parameter"},
		{"netem reorder without delay", add + "netem reorder 10%", "reorder", "reordering not possible without specifying some delay"},
		{"netem gap without reorder", add + "netem delay 10ms gap 3", "gap", "gap specified without reorder probability"},
		{"netem ecn without loss", add + "netem ecn", "ecn", "ecn requested without loss model"},
		{"netem distribution without jitter", add + "netem delay 10ms distribution normal", "distribution", "no latency and jitter"},
		{"netem unknown distribution", add + "netem delay 10ms 1ms distribution experimental", "experimental", "No distribution data"},
		{"netem rate percent", add + "netem rate 10%", "10%", "percentage of the device"},
		{"netem slot max below min", add + "netem slot 20ms 10ms", "slot max_delay", `Illegal "slot max_delay"`},
		{"netem slot nonsense", add + "netem slot soon", "soon", "Unknown slot parameter"},
		{"netem slot no jitter", add + "netem slot distribution normal 2ms 0", "slot", "Non-positive jitter"},
		{"netem bad seed", add + "netem seed -1", "seed", `Illegal "seed"`},
		{"netem nan percent", add + "netem duplicate nan", "duplicate", `Illegal "duplicate"`},
	})
}

// TestNetemShow follows "tc qdisc add" to "tc qdisc show" for the usual
// forms, text and JSON, with tc's spacing: netem_print_opt's " delay
// %s", "  %s" (two spaces before the jitter) and " %g%%" correlations,
// the trailing space of " ecn ".
func TestNetemShow(t *testing.T) {
	tests := []struct{ add, text, json string }{
		{"netem delay 100ms 10ms 25% loss 1% seed 7",
			"qdisc netem 1: root refcnt 2 limit 1000 delay 100ms  10ms 25% loss 1% seed 7\n",
			`[{"kind":"netem","handle":"1:","root":true,"refcnt":2,"options":{"limit":1000,"delay":{"delay":0.1,"jitter":0.01,"correlation":0.25},"loss-random":{"loss":0.01,"correlation":0},"seed":7,"ecn":false,"gap":0}}]`},
		{"netem limit 100 delay 1.5ms loss gemodel 1% 10% 70% 0.1% ecn",
			"qdisc netem 1: root refcnt 2 limit 100 delay 1.5ms loss gemodel p 1% r 10% 1-h 70% 1-k 0.1% ecn \n",
			`[{"kind":"netem","handle":"1:","root":true,"refcnt":2,"options":{"limit":100,"delay":{"delay":0.0015,"jitter":0,"correlation":0},"loss-gemodel":{"p":0.01,"r":0.1,"1-h":0.7,"1-k":0.001},"ecn":true,"gap":0}}]`},
		{"netem delay 10ms reorder 25% 50% gap 5 duplicate 1% corrupt 0.5%",
			"qdisc netem 1: root refcnt 2 limit 1000 delay 10ms duplicate 1% reorder 25% 50% corrupt 0.5% gap 5\n",
			`[{"kind":"netem","handle":"1:","root":true,"refcnt":2,"options":{"limit":1000,"delay":{"delay":0.01,"jitter":0,"correlation":0},"duplicate":{"duplicate":0.01,"correlation":0},"reorder":{"reorder":0.25,"correlation":0.5},"corrupt":{"corrupt":0.005,"correlation":0},"ecn":false,"gap":5}}]`},
		{"netem loss state 1% 30% rate 1mbit -4 48 slot 10ms 20ms packets 5",
			"qdisc netem 1: root refcnt 2 limit 1000 loss state p13 1% p31 30% p32 0% p23 100% p14 0% rate 1Mbit packetoverhead -4 cellsize 48 slot 10ms 20ms packets 5\n",
			`[{"kind":"netem","handle":"1:","root":true,"refcnt":2,"options":{"limit":1000,"loss-state":{"p13":0.01,"p31":0.3,"p32":0,"p23":1,"p14":0},"rate":{"rate":125000,"packetoverhead":-4,"cellsize":48,"celloverhead":0},"slot":{"min-delay":0.01,"max-delay":0.02,"packets":5,"bytes":0},"ecn":false,"gap":0}}]`},
		{"netem slot distribution pareto 2ms 500us bytes 3000",
			"qdisc netem 1: root refcnt 2 limit 1000 slot distribution 2ms 500us bytes 3000\n",
			`[{"kind":"netem","handle":"1:","root":true,"refcnt":2,"options":{"limit":1000,"slot":{"distribution":0.002,"jitter":0.0005,"packets":0,"bytes":3000},"ecn":false,"gap":0}}]`},
	}
	for _, tc := range tests {
		ft := newFake()
		runLines(t, ft, "qdisc add dev eth0 root handle 1: "+tc.add)
		if got := tcOut(t, ft, "qdisc show dev eth0"); got != tc.text {
			t.Errorf("%s:\n got %q\nwant %q", tc.add, got, tc.text)
		}
		if got := tcOut(t, ft, "-j qdisc show dev eth0"); got != tc.json+"\n" {
			t.Errorf("%s -j:\n got %s\nwant %s", tc.add, got, tc.json)
		}
	}
}

// TestNetemXstats prints netem's statistics line as netem_print_xstats
// does.
func TestNetemXstats(t *testing.T) {
	x := netem.XStats{Delayed: 14709, Dropped: 774, Corrupted: 154, Duplicated: 309, Reordered: 61}
	w := newWriter(false, false)
	printNetemXstats(w, NetemXstats(x))
	if got, want := string(w.Bytes()), "  delayed 14709 dropped 774 corrupted 154 duplicated 309 reordered 61 ecn_marked 0"; got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	x.AllocErrors = 2
	w = newWriter(true, false)
	w.Open("")
	printNetemXstats(w, NetemXstats(x))
	w.Close()
	if got, want := string(w.Bytes()), `{"delayed":14709,"dropped":774,"corrupted":154,"duplicated":309,"reordered":61,"ecn_marked":0,"alloc_errors":2}`; got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// TestPercentRoundTrip checks that a percentage Format writes reads back
// to the same fraction, for every kind of value.
func TestPercentRoundTrip(t *testing.T) {
	for _, v := range []uint32{0, 1, 2, 42949673, 1 << 31, math.MaxUint32 - 1, math.MaxUint32, 3000000001} {
		per, ok := ParsePercent(exactPercent(v))
		if !ok || netemPercent(per) != v {
			t.Errorf("%d: %q reads back as %d", v, exactPercent(v), netemPercent(per))
		}
	}
}

// FuzzNetemArgs feeds netem's argument words to its parser alone: no
// panic, and what it accepts formats back to words that parse to the same
// parameters.
func FuzzNetemArgs(f *testing.F) {
	for _, s := range []string{"delay 100ms 10ms 25% distribution normal loss 1%", "loss state 1% 2% 3% 4% 5%",
		"loss gemodel 1% 2% 3% 4% ecn", "rate 1mbit -4 48 -2 slot 1ms 2ms packets 3 bytes 4", "slot distribution pareto 1ms 1ms",
		"delay 1ms reorder 5% 5% gap 3 duplicate 1 corrupt 2 seed 9", "limit 0x10 delay 1e3us"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil {
			return
		}
		p, err := parseNetem(NewArgs("netem", words), "eth0")
		if err != nil {
			return
		}
		again, err := parseNetem(NewArgs("netem", formatNetem(p)), "eth0")
		if err != nil || again != p {
			t.Fatalf("%q: Format %q reads back as %+v, %v; want %+v", line, formatNetem(p), again, err, p)
		}
		w := newWriter(false, false)
		printNetem(w, p, &Options{})
	})
}
