package lab

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"netyard/qdisc/htb"
	"netyard/tcsyntax"
)

func init() {
	register(Scenario{
		Name:        "shaping",
		Description: "htb sharing among three classes (voice, interactive, bulk) on a 10 Mbit/s bottleneck, demands changing over time",
		Run:         runShaping,
	})
}

// The shaping scenario: a sender behind eth0, a receiver behind eth1,
// everything from eth0 redirected out of eth1 (a 12 Mbit/s link) through
// an htb tree with a 10 Mbit/s root class and three leaves, each with an
// fq_codel:
//
//	1:10 voice        rate 500kbit ceil 1mbit  prio 0  (flower on parent 1:, UDP port 5004)
//	1:20 interactive  rate 3mbit   ceil 10mbit prio 1  (skbedit priority 1:20 at eth0's ingress)
//	1:30 bulk         rate 2mbit   ceil 8mbit  prio 1  (htb's default class)
//
// Three phases of 10 s of virtual time: bulk (12 Mbit/s offered) with
// voice alone, so it borrows up to its ceil; then interactive offers
// 9 Mbit/s and the spare beyond the assured rates is shared by quantum
// (rate/r2q: 3 to 2); then interactive drops to 4 Mbit/s and bulk takes
// what it leaves. Voice, 80 kbit/s under its rate and prio 0, keeps its
// latency throughout. Every flow is constant-rate UDP, so the classes
// are backlogged exactly when their demand says so and the figures can
// be checked against htb's definition (shapingWant).
const shapingRules = `
qdisc add dev eth0 clsact
filter add dev eth0 ingress pref 1 protocol ip flower ip_proto udp dst_port 5201 action skbedit priority 1:20 pipe action mirred egress redirect dev eth1
filter add dev eth0 ingress pref 2 matchall action mirred egress redirect dev eth1
link set dev eth1 rate 12mbit
qdisc add dev eth1 root handle 1: htb default 30
class add dev eth1 parent 1: classid 1:1 htb rate 10mbit ceil 10mbit
class add dev eth1 parent 1:1 classid 1:10 htb rate 500kbit ceil 1mbit prio 0
class add dev eth1 parent 1:1 classid 1:20 htb rate 3mbit ceil 10mbit prio 1
class add dev eth1 parent 1:1 classid 1:30 htb rate 2mbit ceil 8mbit prio 1
qdisc add dev eth1 parent 1:10 handle 10: fq_codel
qdisc add dev eth1 parent 1:20 handle 20: fq_codel
qdisc add dev eth1 parent 1:30 handle 30: fq_codel
filter add dev eth1 parent 1: protocol ip pref 1 flower ip_proto udp dst_port 5004 classid 1:10
`

// The tree as the rules build it, for the definition (bits a second).
const (
	shapingRoot = 10_000_000
	shapingR2Q  = htb.DefaultR2Q
)

type shapingClass struct {
	Name       string
	ID         uint32
	Rate, Ceil float64 // bit/s
	Prio       int
	Frame      int // bytes on the wire (the flow's frames)
}

var shapingClasses = []shapingClass{
	{"voice", 0x10010, 500_000, 1_000_000, 0, 200},
	{"interactive", 0x10020, 3_000_000, 10_000_000, 1, 1000},
	{"bulk", 0x10030, 2_000_000, 8_000_000, 1, 1500},
}

// shapingPhases: what each class offers (bit/s of frames) in each phase.
const shapingPhase = 10 * time.Second

var shapingDemand = [][3]float64{
	{80_000, 0, 12_000_000},
	{80_000, 9_000_000, 12_000_000},
	{80_000, 4_000_000, 12_000_000},
}

// shapingSettle is left out at the start of each phase: the buckets'
// bursts and the fq_codel queues settle in it.
const shapingSettle = 2 * time.Second

// shapingWant is htb's definition of the steady state for the demands d:
// each class gets what it asks up to its rate; the root's rest (the
// spare) goes to the classes that want more, lowest prio number first,
// and within a prio in proportion to their quanta (rate/r2q, the DRR of
// htb_dequeue_tree), none beyond its ceil or its demand.
func shapingWant(d [3]float64) [3]float64 {
	var got [3]float64
	spare := float64(shapingRoot)
	for i, c := range shapingClasses {
		got[i] = min(d[i], c.Rate)
		spare -= got[i]
	}
	for prio := 0; prio < htb.NumPrio && spare > 1e-6; prio++ {
		for spare > 1e-6 {
			var q float64
			for i, c := range shapingClasses {
				if c.Prio == prio && got[i] < min(d[i], c.Ceil) {
					q += c.Rate / 8 / shapingR2Q
				}
			}
			if q == 0 {
				break
			}
			// Water-filling: hand out the spare by quantum until a
			// class reaches its cap, then again among the rest.
			step := spare
			for i, c := range shapingClasses {
				if c.Prio == prio && got[i] < min(d[i], c.Ceil) {
					step = min(step, (min(d[i], c.Ceil)-got[i])*q/(c.Rate/8/shapingR2Q))
				}
			}
			for i, c := range shapingClasses {
				if c.Prio == prio && got[i] < min(d[i], c.Ceil) {
					got[i] += step * (c.Rate / 8 / shapingR2Q) / q
				}
			}
			spare -= step
		}
	}
	return got
}

// shapingFigure is one class in one phase's steady state.
type shapingFigure struct {
	Phase       int     `json:"phase"`
	Class       string  `json:"class"`
	DemandMbps  float64 `json:"demand_mbps"`
	WantMbps    float64 `json:"want_mbps"`     // htb's definition
	HtbMbps     float64 `json:"htb_mbps"`      // bytes the class sent, from its statistics
	RecvMbps    float64 `json:"received_mbps"` // frames the receiver got
	LendedMbps  float64 `json:"lended_mbps"`   // sent on the class's own rate (lended packets)
	BorrowMbps  float64 `json:"borrowed_mbps"` // sent on tokens borrowed from 1:1
	RootLends   uint64  `json:"root_lends"`    // packets 1:1 lent in the phase
	P50ms       float64 `json:"delay_p50_ms"`
	P99ms       float64 `json:"delay_p99_ms"`
	DelaySample int     `json:"delay_samples"`
}

// shapingSample is what the scenario reads of the classes every
// shapingEvery.
type shapingSample struct {
	t        int64
	bytes    [3]uint64
	lends    [3]uint64
	borrows  [3]uint64
	rootLend uint64
	recv     [3]int
}

const shapingEvery = 250 * time.Millisecond

func runShaping(log *slog.Logger) (*Report, error) {
	s := NewSim(log)
	defer s.Close()
	src, err := s.AttachHost("sender", "198.51.100.1", "eth0", cableDelay)
	if err != nil {
		return nil, err
	}
	dst, err := s.AttachHost("receiver", "198.51.100.2", "eth1", cableDelay)
	if err != nil {
		return nil, err
	}
	if err := s.Apply(shapingRules); err != nil {
		return nil, err
	}
	// One flow a class and phase in which it sends (interactive changes
	// its rate between phases 2 and 3: two flows on the same ports).
	flows := [3][]*Flow{}
	ports := [3]uint16{5004, 5201, 5202}
	for p, d := range shapingDemand {
		for i, c := range shapingClasses {
			if d[i] == 0 {
				continue
			}
			// A class that keeps its rate keeps its flow.
			if p > 0 && shapingDemand[p-1][i] == d[i] {
				continue
			}
			until := time.Duration(len(shapingDemand)) * shapingPhase
			for q := p + 1; q < len(shapingDemand); q++ {
				if shapingDemand[q][i] != d[i] {
					until = time.Duration(q) * shapingPhase
					break
				}
			}
			pps := int(d[i] / 8 / float64(c.Frame))
			f := &Flow{Name: fmt.Sprintf("%s %.2g Mbit/s", c.Name, d[i]/1e6), From: src, To: dst,
				SrcPort: 40000 + uint16(10*i+p), DstPort: ports[i], Size: c.Frame - 42}
			start := time.Duration(p) * shapingPhase
			if err := s.CBR(f, pps, start, until); err != nil {
				return nil, err
			}
			flows[i] = append(flows[i], f)
		}
	}

	var samples []shapingSample
	read := func() error {
		cs, err := s.NS.Classes("eth1")
		if err != nil {
			return err
		}
		sm := shapingSample{t: s.Now()}
		for _, cv := range cs {
			st, ok := cv.Params.(htb.ClassStats)
			if !ok {
				continue
			}
			if st.ID == 0x10001 {
				sm.rootLend = uint64(st.Lends)
			}
			for i, c := range shapingClasses {
				if c.ID == st.ID {
					sm.bytes[i], sm.lends[i], sm.borrows[i] = st.Stats.Bytes, uint64(st.Lends), uint64(st.Borrows)
				}
			}
		}
		for i := range flows {
			for _, f := range flows[i] {
				sm.recv[i] += f.Received
			}
		}
		samples = append(samples, sm)
		return nil
	}
	start := s.Now()
	end := start + int64(len(shapingDemand))*int64(shapingPhase)
	var readErr error
	for t := start; t <= end; t += int64(shapingEvery) {
		s.At(t, func() {
			if err := read(); err != nil && readErr == nil {
				readErr = err
			}
		})
	}
	s.RunUntil(end + int64(time.Second))
	if err := s.Err(); err != nil {
		return nil, err
	}
	if readErr != nil {
		return nil, readErr
	}
	at := func(t int64) shapingSample {
		i, _ := slices.BinarySearchFunc(samples, t, func(sm shapingSample, t int64) int { return int(sm.t - t) })
		return samples[min(i, len(samples)-1)]
	}

	var figs []shapingFigure
	t := Table{Title: fmt.Sprintf("per class and phase, steady state (each phase's last %v)", shapingPhase-shapingSettle),
		Header: []string{"phase", "class", "offered", "htb's definition", "sent (htb stats)", "received", "own rate (lended)", "borrowed", "delay p50", "delay p99"}}
	for p, d := range shapingDemand {
		from := start + int64(p)*int64(shapingPhase) + int64(shapingSettle)
		to := start + int64(p+1)*int64(shapingPhase)
		a, b := at(from), at(to)
		secs := float64(to-from) / 1e9
		want := shapingWant(d)
		for i, c := range shapingClasses {
			f := shapingFigure{Phase: p + 1, Class: c.Name, DemandMbps: d[i] / 1e6, WantMbps: want[i] / 1e6,
				HtbMbps:    float64(b.bytes[i]-a.bytes[i]) * 8 / secs / 1e6,
				RecvMbps:   float64(b.recv[i]-a.recv[i]) * float64(c.Frame) * 8 / secs / 1e6,
				LendedMbps: float64(b.lends[i]-a.lends[i]) * float64(c.Frame) * 8 / secs / 1e6,
				BorrowMbps: float64(b.borrows[i]-a.borrows[i]) * float64(c.Frame) * 8 / secs / 1e6,
				RootLends:  b.rootLend - a.rootLend,
			}
			var ds []int64
			for _, fl := range flows[i] {
				ds = append(ds, sentIn(fl, from, to)...)
			}
			slices.Sort(ds)
			f.P50ms, f.P99ms, f.DelaySample = percentile(ds, 0.5)/1e3, percentile(ds, 0.99)/1e3, len(ds)
			figs = append(figs, f)
			if d[i] == 0 {
				continue
			}
			t.Rows = append(t.Rows, []string{fmt.Sprint(p + 1), c.Name, mbps(f.DemandMbps), mbps(f.WantMbps), mbps(f.HtbMbps),
				mbps(f.RecvMbps), mbps(f.LendedMbps), mbps(f.BorrowMbps),
				fmt.Sprintf("%.2f ms", f.P50ms), fmt.Sprintf("%.2f ms", f.P99ms)})
		}
	}
	var all []*Flow
	for i := range flows {
		all = append(all, flows[i]...)
	}
	ft, results := flowTable("flows (whole run)", all)
	cls, err := s.NS.Classes("eth1")
	if err != nil {
		return nil, err
	}
	// The quanta htb computed (rate/r2q), for the test, and the classes
	// as "tc -s class show" prints them at the end.
	quanta := map[string]uint32{}
	for _, cv := range cls {
		if st, ok := cv.Params.(htb.ClassStats); ok {
			quanta[fmt.Sprintf("%x:%x", st.ID>>16, st.ID&0xffff)] = st.Quantum
		}
	}
	var show strings.Builder
	if err := tcsyntax.Run(s.NS, strings.Fields("-s class show dev eth1"), &show, io.Discard); err != nil {
		return nil, err
	}
	return &Report{
		Scenario: "shaping",
		Summary: fmt.Sprintf("bulk alone %.2f Mbit/s (ceil 8); with interactive %.2f and %.2f (definition %.2f and %.2f); voice p99 %.2f ms",
			figs[2].HtbMbps, figs[4].HtbMbps, figs[5].HtbMbps, figs[4].WantMbps, figs[5].WantMbps, max(figs[0].P99ms, figs[3].P99ms, figs[6].P99ms)),
		Tables: []Table{t, ft},
		Data: map[string]any{
			"rules": shapingRules, "figures": figs, "flows": results, "quanta": quanta, "tc_s_class_show": show.String(),
			PlotsKey: shapingPlots(samples, flows),
		},
	}, nil
}

func mbps(v float64) string { return fmt.Sprintf("%.3f Mbit/s", v) }

// sentIn returns the one-way delays of f's packets sent in [from, to):
// a constant-rate flow's sequence number says when it was sent.
func sentIn(f *Flow, from, to int64) []int64 {
	var out []int64
	for i, seq := range f.Seqs {
		if at := f.sentAt(seq); at >= from && at < to {
			out = append(out, f.Delays[i])
		}
	}
	return out
}

// shapingPlots: each class's throughput over time from htb's counters,
// and its one-way delay over time.
func shapingPlots(samples []shapingSample, flows [3][]*Flow) []Plot {
	tp := Plot{Title: "Throughput per htb class", XLabel: "time (s)", YLabel: fmt.Sprintf("Mbit/s (%v bins, htb's bytes)", shapingEvery), YZero: true}
	lat := Plot{Title: "One-way delay per class, by send time", XLabel: "time (s)", YLabel: "ms (log scale)", YLog: true}
	for i, c := range shapingClasses {
		sr := Series{Name: c.Name}
		for k := 1; k < len(samples); k++ {
			a, b := samples[k-1], samples[k]
			sr.X = append(sr.X, float64(b.t-samples[0].t)/1e9)
			sr.Y = append(sr.Y, float64(b.bytes[i]-a.bytes[i])*8/(float64(b.t-a.t)/1e9)/1e6)
		}
		tp.Series = append(tp.Series, sr)
		ls := Series{Name: c.Name}
		for _, f := range flows[i] {
			for k, seq := range f.Seqs {
				ls.X = append(ls.X, float64(f.sentAt(seq)-samples[0].t)/1e9)
				ls.Y = append(ls.Y, float64(f.Delays[k])/1e6)
			}
		}
		lat.Series = append(lat.Series, Thin(ls, 1500))
	}
	return []Plot{tp, lat}
}
