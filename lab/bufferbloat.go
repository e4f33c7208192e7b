package lab

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"netyard/tcsyntax"
)

func init() {
	register(Scenario{
		Name:        "bufferbloat",
		Description: "4 CUBIC bulk flows and a VoIP flow share a 10 Mbit/s link: pfifo limit 1000 against fq_codel",
		Run:         runBufferbloat,
	})
}

// The bufferbloat scenario (RFC 8290's motivation, and the classic
// "realtime response under load" test): a sender host behind eth0 runs
// four bulk TCP flows (CUBIC, ECN-capable, as a Linux sender with
// net.ipv4.tcp_ecn=1) and one voice flow to a receiver behind eth1. eth1
// transmits at 10 Mbit/s: the bottleneck, whose root qdisc is the variable.
// ACKs come back through eth1's ingress and leave by eth0, which has no
// rate limit. Each cable is 5 ms long, so the base RTT is 20 ms, a
// household's path to a nearby server. The TCP model is tcp.go's: CUBIC
// as Linux's default (with HyStart), SACK, PRR, delayed ACKs from the
// receiver (every second segment).
//
// Both runs are measured the same way: VoIP one-way delay (p50, p99) of
// what arrives and bulk goodput (payload the receivers get for the first
// time) over the steady state, from bbWarmup to the end; drops and ECN
// marks at eth1's root qdisc and the senders' reactions over the whole
// run.
const bufferbloatRules = `
qdisc add dev eth0 clsact
qdisc add dev eth1 clsact
filter add dev eth0 ingress pref 10 matchall action mirred egress redirect dev eth1
filter add dev eth1 ingress pref 10 matchall action mirred egress redirect dev eth0
link set dev eth1 rate 10mbit
`

// bufferbloatQdiscs are the two runs: Linux's old default queue on a NIC
// with txqueuelen 1000, and today's default, fq_codel with its defaults
// (ECN on, target 5 ms, interval 100 ms).
var bufferbloatQdiscs = []struct{ name, rule string }{
	{"pfifo", "qdisc replace dev eth1 root pfifo limit 1000"},
	{"fq_codel", "qdisc replace dev eth1 root fq_codel"},
}

const (
	bbLinkBps = 10_000_000
	bbCable   = 5 * time.Millisecond
	bbBulk    = 4
	// bbDuration is long enough for pfifo's queue to fill and CUBIC's
	// cycles to repeat. HyStart ends slow start at about 36 segments a
	// flow; from there CUBIC's convex growth fills the 1000 packets
	// (1.2 s of queue) in about 10 s, which bbWarmup leaves out of the
	// figures. fq_codel is steady within a second.
	bbDuration = 30 * time.Second
	bbWarmup   = 10 * time.Second
	// VoIP: G.711 at 20 ms, 200 bytes of UDP payload, marked EF as a
	// phone would (fq_codel and pfifo ignore it).
	bbVoIPSize = 200
	bbVoIPPPS  = 50
	bbVoIPTOS  = 0xb8
	// bbSampleEvery is the resolution of the VoIP delay-over-time series,
	// bbGoodputBin the bins of the goodput plots.
	bbSampleEvery = 5 * time.Millisecond
	bbGoodputBin  = 500 * time.Millisecond
)

// Targets of the issue, checked by the test and shown in the summary.
const (
	bbTargetFQP99ms     = 15.0
	bbTargetUtilization = 0.90
	bbTargetRatio       = 10.0
)

// bufferbloatRun is one qdisc's figures: latency and goodput over the
// steady state (from bbWarmup to the end), drops, marks and the senders'
// reactions over the whole run.
type bufferbloatRun struct {
	Qdisc       string  `json:"qdisc"`
	VoIPP50ms   float64 `json:"voip_p50_ms"`
	VoIPP99ms   float64 `json:"voip_p99_ms"`
	VoIPMaxms   float64 `json:"voip_max_ms"`
	VoIPLossPct float64 `json:"voip_loss_pct"`
	// Bulk goodput, all four flows: payload bytes the receiver got for
	// the first time (BulkMbps, BulkUtilization of the 10 Mbit/s link,
	// FlowMbps), and payload acknowledged in order (BulkAckedMbps).
	// Over a window the two differ by what waits for a retransmission
	// at its edges; the first is the steady-state figure.
	BulkMbps        float64   `json:"bulk_goodput_mbps"`
	BulkUtilization float64   `json:"bulk_utilization"`
	BulkAckedMbps   float64   `json:"bulk_acked_mbps"`
	FlowMbps        []float64 `json:"flow_goodput_mbps"`
	JainFairness    float64   `json:"jain_fairness"`
	RTTP50ms        float64   `json:"tcp_rtt_p50_ms"`
	RTTP99ms        float64   `json:"tcp_rtt_p99_ms"`
	// At the bottleneck qdisc.
	Drops    uint64 `json:"drops"`
	ECNMarks uint64 `json:"ecn_marks"`
	// CEReceived counts the marks as the receivers saw them: all of
	// ECNMarks, as fq_codel marks at dequeue and nothing drops after.
	CEReceived uint64 `json:"ce_received"`
	// Senders' reactions.
	Retransmits    int `json:"retransmits"`
	FastRecoveries int `json:"fast_recoveries"`
	Timeouts       int `json:"timeouts"`
	ECNReductions  int `json:"ecn_reductions"`
	// Spurious counts retransmitted segments the receivers already had.
	Spurious int   `json:"spurious_retransmits"`
	PoolLive int64 `json:"pool_live"`

	// For the plots, over the whole run.
	voipAt, voipDelay []float64 // s, ms
	voipSteady        []float64 // ms, steady state
	rtts              []float64 // ms, steady state, all flows
	goodput           [][2][]float64
}

func runBufferbloat(log *slog.Logger) (*Report, error) {
	var runs []*bufferbloatRun
	for _, q := range bufferbloatQdiscs {
		r, err := bufferbloatOnce(log, q.name, q.rule)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", q.name, err)
		}
		runs = append(runs, r)
	}
	pf, fq := runs[0], runs[1]
	ratio := 0.0
	if fq.VoIPP99ms > 0 {
		ratio = pf.VoIPP99ms / fq.VoIPP99ms
	}
	met := fq.VoIPP99ms <= bbTargetFQP99ms && fq.BulkUtilization >= bbTargetUtilization && ratio >= bbTargetRatio

	t := Table{
		Title: fmt.Sprintf("%d CUBIC flows + VoIP over 10 Mbit/s, 20 ms base RTT; steady state %v-%v", bbBulk, bbWarmup, bbDuration),
		Header: []string{"qdisc", "VoIP p50", "VoIP p99", "VoIP max", "bulk goodput", "of link",
			"fairness", "TCP RTT p50", "TCP RTT p99"},
	}
	for _, r := range runs {
		t.Rows = append(t.Rows, []string{r.Qdisc,
			fmt.Sprintf("%.1f ms", r.VoIPP50ms), fmt.Sprintf("%.1f ms", r.VoIPP99ms), fmt.Sprintf("%.1f ms", r.VoIPMaxms),
			fmt.Sprintf("%.2f Mbit/s", r.BulkMbps), fmt.Sprintf("%.1f%%", 100*r.BulkUtilization),
			fmt.Sprintf("%.3f", r.JainFairness),
			fmt.Sprintf("%.1f ms", r.RTTP50ms), fmt.Sprintf("%.1f ms", r.RTTP99ms)})
	}
	ev := Table{Title: fmt.Sprintf("at the bottleneck and the senders, whole run (%v)", bbDuration),
		Header: []string{"qdisc", "drops", "ECN marks", "CE at receivers", "VoIP loss", "fast recoveries",
			"ECN reductions", "retransmits", "spurious", "RTOs"}}
	for _, r := range runs {
		ev.Rows = append(ev.Rows, []string{r.Qdisc, fmt.Sprint(r.Drops), fmt.Sprint(r.ECNMarks), fmt.Sprint(r.CEReceived),
			fmt.Sprintf("%.2f%%", r.VoIPLossPct), fmt.Sprint(r.FastRecoveries), fmt.Sprint(r.ECNReductions), fmt.Sprint(r.Retransmits), fmt.Sprint(r.Spurious),
			fmt.Sprint(r.Timeouts)})
	}
	flows := Table{Title: "bulk goodput per flow (Mbit/s, steady state)", Header: []string{"qdisc"}}
	for i := range bbBulk {
		flows.Header = append(flows.Header, fmt.Sprintf("bulk %d", i+1))
	}
	for _, r := range runs {
		row := []string{r.Qdisc}
		for _, m := range r.FlowMbps {
			row = append(row, fmt.Sprintf("%.2f", m))
		}
		flows.Rows = append(flows.Rows, row)
	}
	verdict := "targets met"
	if !met {
		verdict = "targets NOT met"
	}
	return &Report{
		Scenario: "bufferbloat",
		Summary: fmt.Sprintf("VoIP p99 %.0f ms with pfifo, %.1f ms with fq_codel (%.0fx); bulk keeps %.1f%% of the link with fq_codel: %s (p99 <= %.0f ms, >= %.0f%%, >= %.0fx)",
			pf.VoIPP99ms, fq.VoIPP99ms, ratio, 100*fq.BulkUtilization, verdict, bbTargetFQP99ms, 100*bbTargetUtilization, bbTargetRatio),
		Tables: []Table{t, flows, ev},
		Data: map[string]any{
			"pfifo":              pf,
			"fq_codel":           fq,
			"voip_p99_ms":        map[string]float64{"pfifo": pf.VoIPP99ms, "fq_codel": fq.VoIPP99ms},
			"voip_p50_ms":        map[string]float64{"pfifo": pf.VoIPP50ms, "fq_codel": fq.VoIPP50ms},
			"bulk_utilization":   map[string]float64{"pfifo": pf.BulkUtilization, "fq_codel": fq.BulkUtilization},
			"p99_ratio":          ratio,
			"targets_met":        met,
			"link_mbps":          bbLinkBps / 1e6,
			"base_rtt_ms":        4 * bbCable.Seconds() * 1e3,
			"congestion_control": Cubic.String(),
			PlotsKey:             bufferbloatPlots(runs),
		},
	}, nil
}

func bufferbloatOnce(log *slog.Logger, name, qdiscRule string) (*bufferbloatRun, error) {
	res := &bufferbloatRun{Qdisc: name}
	s := NewSim(log)
	defer s.Close()
	src, err := s.AttachHost("sender", "198.51.100.1", "eth0", bbCable)
	if err != nil {
		return nil, err
	}
	dst, err := s.AttachHost("receiver", "198.51.100.2", "eth1", bbCable)
	if err != nil {
		return nil, err
	}
	if err := s.Apply(bufferbloatRules + qdiscRule); err != nil {
		return nil, err
	}
	voip := &Flow{Name: "voip", From: src, To: dst, SrcPort: 16384, DstPort: 16384, Size: bbVoIPSize, TOS: bbVoIPTOS}
	if err := s.CBR(voip, bbVoIPPPS, 0, bbDuration); err != nil {
		return nil, err
	}
	var bulk []*TCPFlow
	for i := range bbBulk {
		f := &TCPFlow{Name: fmt.Sprintf("bulk %d", i+1), From: src, To: dst,
			SrcPort: uint16(40000 + i), DstPort: 5201, CC: Cubic, ECN: true}
		// A few ms apart, as separate connections would open.
		if err := s.TCPBulk(f, time.Duration(i)*7*time.Millisecond, bbDuration); err != nil {
			return nil, err
		}
		bulk = append(bulk, f)
	}

	// The VoIP delays carry no arrival time: a sampler notes which
	// arrived in each bbSampleEvery.
	seen := 0
	var sampler func()
	sampler = func() {
		now := s.Now()
		for _, d := range voip.Delays[seen:] {
			res.voipAt = append(res.voipAt, float64(now)/1e9)
			res.voipDelay = append(res.voipDelay, float64(d)/1e6)
		}
		seen = len(voip.Delays)
		if now < int64(bbDuration) {
			s.After(bbSampleEvery, sampler)
		}
	}
	s.After(bbSampleEvery, sampler)

	// The steady state runs from bbWarmup to the end of the traffic:
	// read the counters at both ends.
	start := s.Now()
	end := start + int64(bbDuration)
	read := func() bbCounters {
		var c bbCounters
		for _, f := range bulk {
			c.acked = append(c.acked, f.Stats.BytesAcked)
			c.received = append(c.received, f.Stats.BytesReceived)
			c.rtts = append(c.rtts, len(f.RTTs))
			c.ce += uint64(f.Stats.CEReceived)
			c.retrans += f.Stats.Retransmits
			c.fr += f.Stats.FastRecoveries
			c.rto += f.Stats.Timeouts
			c.ecn += f.Stats.ECNReductions
			c.dup += f.Stats.Duplicates
		}
		if qs, err := s.NS.Qdiscs("eth1"); err == nil && len(qs) > 0 {
			c.drops = qs[0].Stats.Drops
			// fq_codel's CoDel marks and CE-threshold marks; pfifo has
			// neither.
			c.marks = extraCount(qs[0].Extra, "ecn_mark") + extraCount(qs[0].Extra, "ce_mark")
		}
		return c
	}
	var c0, c1 bbCounters
	s.At(start+int64(bbWarmup), func() { c0 = read() })
	s.RunUntil(end)
	c1 = read()
	// CBR stops at the end; a little more time delivers what is still
	// queued, so that VoIP loss counts only what was dropped.
	s.RunUntil(end + int64(2*time.Second))
	if err := s.Err(); err != nil {
		return nil, err
	}

	// VoIP: the delays of what arrived in the steady state.
	var steady []int64
	for i, at := range res.voipAt {
		if t := int64(at * 1e9); t > start+int64(bbWarmup) && t <= end {
			steady = append(steady, int64(res.voipDelay[i]*1e6))
		}
	}
	slices.Sort(steady)
	res.VoIPP50ms = percentile(steady, 0.50) / 1e3
	res.VoIPP99ms = percentile(steady, 0.99) / 1e3
	if len(steady) > 0 {
		res.VoIPMaxms = float64(steady[len(steady)-1]) / 1e6
	}
	for _, d := range steady {
		res.voipSteady = append(res.voipSteady, float64(d)/1e6)
	}
	res.VoIPLossPct = voip.Result().LossPct

	window := (bbDuration - bbWarmup).Seconds()
	var sumSq float64
	var rtts []int64
	for i, f := range bulk {
		mbps := float64(c1.received[i]-c0.received[i]) * 8 / window / 1e6
		res.FlowMbps = append(res.FlowMbps, mbps)
		res.BulkMbps += mbps
		sumSq += mbps * mbps
		res.BulkAckedMbps += float64(c1.acked[i]-c0.acked[i]) * 8 / window / 1e6
		for _, r := range f.RTTs[c0.rtts[i]:c1.rtts[i]] {
			rtts = append(rtts, r.RTT)
		}
		t, bps := f.Goodput(bbGoodputBin)
		var xs, ys []float64
		for k := range t {
			xs = append(xs, float64(t[k]-start)/1e9)
			ys = append(ys, bps[k]/1e6)
		}
		res.goodput = append(res.goodput, [2][]float64{xs, ys})
	}
	res.BulkUtilization = res.BulkMbps * 1e6 / bbLinkBps
	if sumSq > 0 {
		res.JainFairness = res.BulkMbps * res.BulkMbps / (float64(len(bulk)) * sumSq)
	}
	// Events are counted over the whole run, as "tc -s qdisc show" would
	// after it: in a window, a drop and its retransmission (a round trip,
	// up to 1.2 s, later) could fall on either side of an edge.
	res.Drops, res.ECNMarks, res.CEReceived = c1.drops, c1.marks, c1.ce
	res.Retransmits, res.FastRecoveries = c1.retrans, c1.fr
	res.Timeouts, res.ECNReductions = c1.rto, c1.ecn
	res.Spurious = c1.dup
	slices.Sort(rtts)
	res.RTTP50ms = percentile(rtts, 0.50) / 1e3
	res.RTTP99ms = percentile(rtts, 0.99) / 1e3
	for _, r := range rtts {
		res.rtts = append(res.rtts, float64(r)/1e6)
	}
	s.Close()
	res.PoolLive = s.Pool.Stats().Live
	return res, nil
}

// bbCounters are what the bufferbloat scenario reads at the start and the
// end of its steady state.
type bbCounters struct {
	acked, received       []int64 // per flow
	rtts                  []int   // RTT samples so far, per flow
	drops, marks          uint64  // at the bottleneck
	ce                    uint64  // CE marks the receivers saw
	retrans, fr, rto, ecn int
	dup                   int
}

// bufferbloatPlots draws the two runs side by side: latency CDFs, VoIP
// delay over time, and each run's goodput per flow.
func bufferbloatPlots(runs []*bufferbloatRun) []Plot {
	cdf := Plot{Title: "Latency CDF (steady state)", XLabel: "ms (log scale)", YLabel: "fraction at or below", XLog: true, YZero: true}
	overTime := Plot{Title: "VoIP one-way delay over time", XLabel: "time (s)", YLabel: "one-way delay (ms, log scale)", YLog: true}
	plots := []Plot{}
	for _, r := range runs {
		cdf.Series = append(cdf.Series, CDF("VoIP one-way, "+r.Qdisc, r.voipSteady, 400))
	}
	for _, r := range runs {
		s := CDF("TCP RTT, "+r.Qdisc, r.rtts, 400)
		s.Dashed = true
		cdf.Series = append(cdf.Series, s)
	}
	for _, r := range runs {
		overTime.Series = append(overTime.Series, Thin(Series{Name: r.Qdisc, X: r.voipAt, Y: r.voipDelay}, 1500))
	}
	plots = append(plots, cdf, overTime)
	for _, r := range runs {
		g := Plot{Title: "Bulk goodput per flow, " + r.Qdisc, XLabel: "time (s)",
			YLabel: fmt.Sprintf("Mbit/s acked in order (%v bins)", bbGoodputBin), YZero: true}
		for i, xy := range r.goodput {
			g.Series = append(g.Series, Series{Name: fmt.Sprintf("bulk %d", i+1), X: xy[0], Y: xy[1]})
		}
		plots = append(plots, g)
	}
	return plots
}

// extraCount reads a counter from a qdisc's own statistics (QdiscView.Extra),
// 0 when the qdisc has no such field.
func extraCount(fields []tcsyntax.Field, name string) uint64 {
	for _, f := range fields {
		if f.Name != name {
			continue
		}
		switch v := f.Value.(type) {
		case uint32:
			return uint64(v)
		case uint64:
			return v
		case int:
			return uint64(max(v, 0))
		}
	}
	return 0
}
