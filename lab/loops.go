package lab

import (
	"fmt"
	"log/slog"
	"time"

	"netyard/pkt"
)

func init() {
	register(Scenario{
		Name:        "loops",
		Description: "tenant A floods five kinds of redirect loop; tenant B's constant-rate flow keeps its rate",
		Run:         runLoops,
	})
}

// Tenant A's loops (docs/LOOPS.md): one device to itself, two devices, three
// devices, ingress -> egress -> ingress, and a mirror + redirect fan-out.
// Every filter is a matchall, so every packet that enters runs the loop
// until its redirect TTL is spent.
const loopsRulesA = `
filter add dev a0 ingress matchall action mirred ingress redirect dev a0
filter add dev a1 ingress matchall action mirred ingress redirect dev a2
filter add dev a2 ingress matchall action mirred ingress redirect dev a1
filter add dev a3 ingress matchall action mirred ingress redirect dev a4
filter add dev a4 ingress matchall action mirred ingress redirect dev a5
filter add dev a5 ingress matchall action mirred ingress redirect dev a3
filter add dev a6 ingress matchall action mirred egress redirect dev a7
filter add dev a7 egress matchall action mirred ingress redirect dev a6
filter add dev a8 ingress matchall action mirred ingress mirror dev a9 action mirred ingress redirect dev a8
filter add dev a9 ingress matchall action mirred egress mirror dev a9 action mirred ingress redirect dev a8
`

// Tenant B forwards its one flow from b0 to b1.
const loopsRulesB = `
filter add dev b0 ingress protocol ip flower ip_proto udp action mirred egress redirect dev b1
`

// loopsFloodPPS is what A sends into each loop's entry.
const loopsFloodPPS = 100_000

// loopsCPU is the datapath's speed in the scenario: one worker taking 1
// million packets a second from its rings. A's flood asks for several times
// that; B's flow needs 2% of it.
const loopsCPU = 1_000_000

type loopsRun struct {
	B          FlowResult `json:"b_flow"`
	BRate      float64    `json:"b_rate_pps"` // packets a second delivered
	ALoopDrops uint64     `json:"a_loop_drops"`
	AInjected  int        `json:"a_injected"`
	ABacklog   uint64     `json:"a_backlog_drops"`
	ARxDropped uint64     `json:"a_rx_ring_drops"` // A's floods refused at the receive rings
}

func runLoops(log *slog.Logger) (*Report, error) {
	without, err := loopsOnce(log, false)
	if err != nil {
		return nil, err
	}
	with, err := loopsOnce(log, true)
	if err != nil {
		return nil, err
	}
	ratio := 0.0
	if without.BRate > 0 {
		ratio = with.BRate / without.BRate
	}
	t := Table{Title: "tenant B's flow (10000 pps of 200 bytes) with and without tenant A's loops",
		Header: []string{"run", "B delivered pps", "B loss", "B delay p50", "B delay p99", "A injected", "A loop drops", "A backlog drops", "A rx ring drops"}}
	for _, r := range []struct {
		name string
		r    loopsRun
	}{{"without A's loops", without}, {"with A's loops", with}} {
		t.Rows = append(t.Rows, []string{r.name, fmt.Sprintf("%.0f", r.r.BRate), fmt.Sprintf("%.2f%%", r.r.B.LossPct),
			fmt.Sprintf("%.0fµs", r.r.B.DelayP50us), fmt.Sprintf("%.0fµs", r.r.B.DelayP99us),
			fmt.Sprint(r.r.AInjected), fmt.Sprint(r.r.ALoopDrops), fmt.Sprint(r.r.ABacklog), fmt.Sprint(r.r.ARxDropped)})
	}
	return &Report{
		Scenario: "loops",
		Summary:  fmt.Sprintf("victim_ratio %.3f: B keeps its rate while A's five loops end by the redirect TTL", ratio),
		Tables:   []Table{t},
		Data: map[string]any{
			"victim_ratio":     ratio,
			"without":          without,
			"with":             with,
			"cpu_pps":          loopsCPU,
			"redirect_ttl":     pkt.DefaultTTL,
			"b_rate_pps":       []float64{without.BRate, with.BRate},
			"a_loop_drops":     with.ALoopDrops,
			"a_flood_pps_each": loopsFloodPPS,
		},
	}, nil
}

func loopsOnce(log *slog.Logger, loops bool) (loopsRun, error) {
	var res loopsRun
	s := NewSim(log)
	defer s.Close()
	s.SetCPU(loopsCPU)
	a, err := s.Engine.Namespace("tenant-a", true)
	if err != nil {
		return res, err
	}
	b, err := s.Engine.Namespace("tenant-b", true)
	if err != nil {
		return res, err
	}
	var floods []*Host
	for i := range 10 {
		h, err := s.AttachHostNS(a, fmt.Sprintf("ha%d", i), fmt.Sprintf("203.0.113.%d", 10+i), fmt.Sprintf("a%d", i), cableDelay)
		if err != nil {
			return res, err
		}
		floods = append(floods, h)
	}
	h1, err := s.AttachHostNS(b, "h1", "198.18.0.1", "b0", cableDelay)
	if err != nil {
		return res, err
	}
	h2, err := s.AttachHostNS(b, "h2", "198.18.0.2", "b1", cableDelay)
	if err != nil {
		return res, err
	}
	if err := s.ApplyNS(b, loopsRulesB); err != nil {
		return res, err
	}
	const dur = 500 * time.Millisecond
	flow := &Flow{Name: "B h1->h2", From: h1, To: h2, SrcPort: 5000, DstPort: 5001, Size: 200}
	if err := s.CBR(flow, 10000, 0, dur); err != nil {
		return res, err
	}
	var aflows []*Flow
	if loops {
		if err := s.ApplyNS(a, loopsRulesA); err != nil {
			return res, err
		}
		// Each loop's entry gets 100000 packets a second.
		for i, entry := range []int{0, 1, 3, 6, 8} {
			f := &Flow{Name: fmt.Sprintf("A flood %d", i), From: floods[entry], To: floods[(entry+1)%10],
				SrcPort: 6000, DstPort: 6001, Size: 64}
			if err := s.CBR(f, loopsFloodPPS, 0, dur); err != nil {
				return res, err
			}
			aflows = append(aflows, f)
		}
	}
	s.RunUntil(s.Now() + int64(dur+100*time.Millisecond))
	if err := s.Err(); err != nil {
		return res, err
	}
	res.B = flow.Result()
	res.BRate = float64(flow.Received) / dur.Seconds()
	res.ALoopDrops = a.LoopDrops()
	for _, f := range aflows {
		res.AInjected += f.Sent
	}
	for _, d := range a.Devices() {
		c := d.Counters()
		res.ABacklog += c.BacklogDrops
		res.ARxDropped += c.RxDropped
	}
	return res, nil
}
