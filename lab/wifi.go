package lab

import (
	"fmt"
	"log/slog"
	"time"
)

func init() {
	register(Scenario{
		Name:        "wifi",
		Description: "voice, video and saturating best effort on the 802.11 model, with and without AC separation",
		Run:         runWifi,
	})
}

// The wifi scenario: h1 sends through netyard's eth0 to wlan0, whose root
// queue is the 802.11 model (package wifi) at 54 Mbit/s, to one station.
// Voice (EF, 200 bytes every 20 ms) maps to AC_VO and video (AF41, 2 Mbit/s)
// to AC_VI by RFC 8325; four best-effort UDP flows of 15 Mbit/s each
// saturate the medium. With "noac" every packet goes to AC_BE: the voice
// flow then waits behind best effort in the hardware queue.
const wifiRules = `
filter add dev eth0 ingress matchall action mirred egress redirect dev wlan0
qdisc add dev wlan0 root wifi rate 54mbit %s seed 1
`

// DSCP code points as TOS bytes (DSCP << 2).
const (
	tosEF   = 46 << 2
	tosAF41 = 34 << 2
)

type wifiRun struct {
	Mode     string       `json:"mode"`
	Voice    FlowResult   `json:"voice"`
	Video    FlowResult   `json:"video"`
	BestEff  []FlowResult `json:"best_effort"`
	BEMbps   float64      `json:"best_effort_mbps"`
	VoiceP99 float64      `json:"voice_p99_ms"`
	VideoP99 float64      `json:"video_p99_ms"`
	// delays in ms, for the plots
	voiceMs, videoMs []float64
}

func runWifi(log *slog.Logger) (*Report, error) {
	with, err := wifiOnce(log, "ac")
	if err != nil {
		return nil, err
	}
	without, err := wifiOnce(log, "noac")
	if err != nil {
		return nil, err
	}
	t := Table{Title: "one-way delay on a 54 Mbit/s 802.11 link with best effort saturated",
		Header: []string{"queues", "voice p50", "voice p99", "video p50", "video p99", "best effort goodput"}}
	for _, r := range []wifiRun{with, without} {
		name := "AC separation (VO/VI/BE/BK)"
		if r.Mode == "noac" {
			name = "everything in BE"
		}
		t.Rows = append(t.Rows, []string{name,
			fmt.Sprintf("%.2f ms", r.Voice.DelayP50us/1000), fmt.Sprintf("%.2f ms", r.VoiceP99),
			fmt.Sprintf("%.2f ms", r.Video.DelayP50us/1000), fmt.Sprintf("%.2f ms", r.VideoP99),
			fmt.Sprintf("%.1f Mbit/s", r.BEMbps)})
	}
	cdf := Plot{Title: "one-way delay, CDF", XLabel: "delay (ms)", YLabel: "fraction of packets", XLog: true}
	for _, r := range []wifiRun{with, without} {
		cdf.Series = append(cdf.Series,
			CDF("voice, "+r.Mode, r.voiceMs, 400),
			CDF("video, "+r.Mode, r.videoMs, 400))
	}
	return &Report{
		Scenario: "wifi",
		Summary: fmt.Sprintf("voice p99 %.2f ms with AC separation, %.2f ms without, while best effort is saturated",
			with.VoiceP99, without.VoiceP99),
		Tables: []Table{t},
		Data: map[string]any{
			"ac":              with,
			"noac":            without,
			"vo_p99_ms":       with.VoiceP99,
			"vo_p99_ms_noac":  without.VoiceP99,
			"phy_rate_mbit":   54,
			"be_offered_mbit": 60,
			PlotsKey:          []Plot{cdf},
		},
	}, nil
}

func wifiOnce(log *slog.Logger, mode string) (wifiRun, error) {
	res := wifiRun{Mode: mode}
	s := NewSim(log)
	defer s.Close()
	h1, err := s.AttachHost("h1", "192.0.2.1", "eth0", cableDelay)
	if err != nil {
		return res, err
	}
	sta, err := s.AttachHost("sta", "192.0.2.2", "wlan0", cableDelay)
	if err != nil {
		return res, err
	}
	if err := s.Apply(fmt.Sprintf(wifiRules, mode)); err != nil {
		return res, err
	}
	const dur = 4 * time.Second
	voice := &Flow{Name: "voice (EF)", From: h1, To: sta, SrcPort: 4000, DstPort: 4000, Size: 200, TOS: tosEF}
	video := &Flow{Name: "video (AF41)", From: h1, To: sta, SrcPort: 4001, DstPort: 4001, Size: 1200, TOS: tosAF41}
	if err := s.CBR(voice, 50, 0, dur); err != nil {
		return res, err
	}
	// 2 Mbit/s of 1200-byte payloads.
	if err := s.CBR(video, 2_000_000/8/1200, 0, dur); err != nil {
		return res, err
	}
	var be []*Flow
	for i := range 4 {
		f := &Flow{Name: fmt.Sprintf("best effort %d", i+1), From: h1, To: sta, SrcPort: uint16(5000 + i), DstPort: 5000, Size: 1400}
		// 15 Mbit/s of 1400-byte payloads each: 60 Mbit/s offered to a
		// 54 Mbit/s PHY (about 30 Mbit/s of goodput).
		if err := s.CBR(f, 15_000_000/8/1400, 0, dur); err != nil {
			return res, err
		}
		be = append(be, f)
	}
	s.RunUntil(s.Now() + int64(dur+time.Second))
	if err := s.Err(); err != nil {
		return res, err
	}
	res.Voice, res.Video = voice.Result(), video.Result()
	for _, d := range voice.Delays {
		res.voiceMs = append(res.voiceMs, float64(d)/1e6)
	}
	for _, d := range video.Delays {
		res.videoMs = append(res.videoMs, float64(d)/1e6)
	}
	res.VoiceP99, res.VideoP99 = res.Voice.DelayP99us/1000, res.Video.DelayP99us/1000
	var got int
	for _, f := range be {
		res.BestEff = append(res.BestEff, f.Result())
		got += f.Received
	}
	res.BEMbps = float64(got) * 1400 * 8 / dur.Seconds() / 1e6
	return res, nil
}
