package lab

import (
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"
)

func init() {
	register(Scenario{
		Name:        "mobile",
		Description: "a lossy, jittery mobile-like path: a seeded netem each way with paretonormal jitter and Gilbert bursts of loss; voice both ways",
		Run:         runMobile,
	})
}

// The mobile scenario: h1 behind eth0, h2 behind eth1, every packet
// redirected to the other side through a netem on each way out: 40 ms ±
// 15 ms of paretonormal delay (a long tail, as radio links have) and
// bursts of loss from the simple Gilbert model (p 1% good to bad, r 25%
// back, every packet lost in the bad state: outages of 4 packets on
// average). Seeded: a run repeats exactly.
const (
	mobileDelay  = 40 * time.Millisecond
	mobileJitter = 15 * time.Millisecond
	mobileP      = 0.01
	mobileR      = 0.25
	mobileTime   = 1200 * time.Second
	mobileVoice  = 50 // packets a second, 20 ms apart
)

var mobileRules = fmt.Sprintf(`
qdisc add dev eth1 root handle 1: netem delay %v %v distribution paretonormal loss gemodel %g%% %g%% seed 2026
qdisc add dev eth0 root handle 1: netem delay %v %v distribution paretonormal loss gemodel %g%% %g%% seed 2027
filter add dev eth0 ingress matchall action mirred egress redirect dev eth1
filter add dev eth1 ingress matchall action mirred egress redirect dev eth0
`, mobileDelay, mobileJitter, 100*mobileP, 100*mobileR, mobileDelay, mobileJitter, 100*mobileP, 100*mobileR)

// mobileResult is what the scenario measured of the voice flow, beside
// what the netem's definition says it should be.
type mobileResult struct {
	LossPct, WantLossPct     float64
	MeanBurst, WantMeanBurst float64
	Bursts                   int
	Reordered                int     // packets arriving after a later-sent one
	P50ms, WantP50ms         float64 // one-way delay
	P90ms, WantP90ms         float64
	// The share of delays at or below the definition's p50 and p90.
	Share50, Share90 float64
}

func runMobile(log *slog.Logger) (*Report, error) {
	s := NewSim(log)
	defer s.Close()
	h1, err := s.AttachHost("h1", "192.0.2.1", "eth0", cableDelay)
	if err != nil {
		return nil, err
	}
	h2, err := s.AttachHost("h2", "192.0.2.2", "eth1", cableDelay)
	if err != nil {
		return nil, err
	}
	if err := s.Apply(mobileRules); err != nil {
		return nil, err
	}
	// One flow each way, so that each netem's loss chain sees only
	// its flow's packets and the bursts are the flow's.
	voice := &Flow{Name: "voice h1->h2", From: h1, To: h2, SrcPort: 40000, DstPort: 5004, Size: 160}
	back := &Flow{Name: "voice h2->h1", From: h2, To: h1, SrcPort: 40002, DstPort: 5004, Size: 160}
	if err := s.CBR(voice, mobileVoice, 0, mobileTime); err != nil {
		return nil, err
	}
	if err := s.CBR(back, mobileVoice, 10*time.Millisecond, mobileTime); err != nil {
		return nil, err
	}
	s.RunUntil(s.Now() + int64(mobileTime+2*time.Second))
	if err := s.Err(); err != nil {
		return nil, err
	}
	res := mobileMeasure(voice)
	flows, results := flowTable("flows", []*Flow{voice, back})
	qd, err := s.NS.Qdiscs("eth1")
	if err != nil {
		return nil, err
	}
	fig := Table{Title: "voice h1->h2 against the netem's definition", Header: []string{"figure", "measured", "definition"},
		Rows: [][]string{
			{"loss", fmt.Sprintf("%.2f%%", res.LossPct), fmt.Sprintf("%.2f%% (p/(p+r))", res.WantLossPct)},
			{"mean loss burst", fmt.Sprintf("%.2f packets (%d bursts)", res.MeanBurst, res.Bursts), fmt.Sprintf("%.2f (1/r)", res.WantMeanBurst)},
			{"one-way delay p50", fmt.Sprintf("%.2f ms", res.P50ms), fmt.Sprintf("%.2f ms", res.WantP50ms)},
			{"one-way delay p90", fmt.Sprintf("%.2f ms", res.P90ms), fmt.Sprintf("%.2f ms", res.WantP90ms)},
			{"reordered", fmt.Sprint(res.Reordered), "jitter above the 20 ms spacing reorders, as in the kernel"},
		}}
	delays := make([]float64, len(voice.Delays))
	for i, d := range voice.Delays {
		delays[i] = float64(d) / 1e6
	}
	backDelays := make([]float64, len(back.Delays))
	for i, d := range back.Delays {
		backDelays[i] = float64(d) / 1e6
	}
	def := Series{Name: "definition (paretonormal table)", Dashed: true}
	for i := 1; i < 1000; i++ {
		q := float64(i) / 1000
		def.X = append(def.X, mobileQuantileMs(q))
		def.Y = append(def.Y, q)
	}
	cdf := Plot{Title: "One-way delay CDF", XLabel: "ms", YLabel: "fraction at or below", YZero: true,
		Series: []Series{CDF("voice h1->h2", delays, 400), CDF("voice h2->h1", backDelays, 400), def}}
	lossAt := Plot{Title: "Voice h1->h2 packets lost, first 120 s by send time", XLabel: "time (s)", YLabel: "lost in each second", YZero: true,
		Series: []Series{mobileLossSeries(voice, 120)}}
	return &Report{
		Scenario: "mobile",
		Summary: fmt.Sprintf("voice loss %.2f%% (definition %.2f%%) in bursts of %.2f (definition %.2f); one-way p50 %.1f ms, p90 %.1f ms",
			res.LossPct, res.WantLossPct, res.MeanBurst, res.WantMeanBurst, res.P50ms, res.P90ms),
		Tables: []Table{fig, flows},
		Data: map[string]any{
			"rules": mobileRules, "voice": res, "flows": results, "netem_eth1": qd[0].Extra,
			PlotsKey: []Plot{cdf, lossAt},
		},
	}, nil
}

// mobileQuantileMs is the one-way delay's quantile q by the definition:
// the netem delay plus q's entry of the paretonormal distribution (a
// quarter of the normal's inverse CDF and three quarters of the Pareto's,
// clamped as the table is) times the jitter, plus the two cables.
func mobileQuantileMs(q float64) float64 {
	normal := math.Sqrt2 * math.Erfinv(2*q-1)
	pareto := min((math.Pow(1-q, -1.0/3)-1.5)*4/3, 32767.0/8192)
	x := (normal + 3*pareto) / 4
	d := mobileDelay + time.Duration(x*float64(mobileJitter)) + 2*cableDelay
	return float64(d) / 1e6
}

// mobileMeasure reads the voice flow's losses, bursts, order and delays.
func mobileMeasure(f *Flow) mobileResult {
	got := make([]bool, f.Sent)
	for _, s := range f.Seqs {
		got[s] = true
	}
	var r mobileResult
	run, lost := 0, 0
	for _, ok := range got {
		if !ok {
			lost++
			run++
			continue
		}
		if run > 0 {
			r.Bursts++
		}
		run = 0
	}
	if run > 0 {
		r.Bursts++
	}
	maxSeq := uint64(0)
	for i, s := range f.Seqs {
		if i > 0 && s < maxSeq {
			r.Reordered++
		}
		maxSeq = max(maxSeq, s)
	}
	r.LossPct = 100 * float64(lost) / float64(f.Sent)
	r.WantLossPct = 100 * mobileP / (mobileP + mobileR)
	if r.Bursts > 0 {
		r.MeanBurst = float64(lost) / float64(r.Bursts)
	}
	r.WantMeanBurst = 1 / mobileR
	d := slices.Clone(f.Delays)
	slices.Sort(d)
	r.P50ms, r.P90ms = percentile(d, 0.5)/1e3, percentile(d, 0.9)/1e3
	r.WantP50ms, r.WantP90ms = mobileQuantileMs(0.5), mobileQuantileMs(0.9)
	share := func(ms float64) float64 {
		n, _ := slices.BinarySearch(d, int64(ms*1e6)+1)
		return float64(n) / float64(len(d))
	}
	r.Share50, r.Share90 = share(r.WantP50ms), share(r.WantP90ms)
	return r
}

// mobileLossSeries counts lost voice packets per second of send time,
// over the first secs seconds.
func mobileLossSeries(f *Flow, secs int) Series {
	got := make([]bool, f.Sent)
	for _, s := range f.Seqs {
		got[s] = true
	}
	secs = min(secs, (f.Sent+mobileVoice-1)/mobileVoice)
	s := Series{Name: "voice"}
	for sec := range secs {
		n := 0
		for i := sec * mobileVoice; i < min((sec+1)*mobileVoice, f.Sent); i++ {
			if !got[i] {
				n++
			}
		}
		s.X = append(s.X, float64(sec))
		s.Y = append(s.Y, float64(n))
	}
	return s
}
