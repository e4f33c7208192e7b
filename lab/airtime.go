package lab

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"netyard/bpf"
	"netyard/bpf/ebpf"
	"netyard/datapath"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wifi/air"
	"netyard/wifi/dot11"
	"netyard/wifi/radiotap"
)

func init() {
	register(Scenario{
		Name:        "airtime",
		Description: "802.11 management traffic of an AP with 200 stations and a deauthentication flood, watched by a BPF program at the 802.11 hook",
		Run:         runAirtime,
	})
}

// The airtime scenario: a site of three APs (one SSID, WPA2, channels 6, 1
// and 11 of 2.4 GHz) and 200 stations gathered around the first, whose
// sensor hears every channel. Stations arrive, scan, join, exchange data,
// scan again, roam and leave (package wifi/air). At airtimeFloodAt an
// attacker floods deauthentications in the first AP's name for
// airtimeFloodLen; its stations drop off and scan again while it lasts.
// Every frame enters wlan0, an 802.11 device, with its receive metadata;
// examples/bpf/wifi_monitor.o at wlan0's ingress counts probe requests per
// MAC, tracks every transmitter's signal, and writes an event to a ring
// buffer when a BSSID's deauthentications and disassociations exceed its
// threshold in a one-second window; it keeps only those frames.
const (
	airtimeSeed      = 2026
	airtimeStations  = 200
	airtimeDuration  = 180 * time.Second
	airtimeFloodAt   = 100 * time.Second
	airtimeFloodLen  = 20 * time.Second
	airtimeFloodRate = 200 // frames a second, aireplay-ng's default pace is about 10 per burst of 64
	// airtimeThreshold is wifi_monitor's default: deauthentications
	// and disassociations a second for one BSSID. Stations leaving on
	// their own send a few a minute.
	airtimeThreshold = 30
)

// airtimeAPs: the watched AP at the sensor, two neighbours a cell away.
var airtimeAPs = []air.AP{
	{BSSID: dot11.MAC{0x02, 0x6e, 0x79, 0x00, 0x00, 0x06}, SSID: "netyard", Channel: 6, X: 30, Y: 20},
	{BSSID: dot11.MAC{0x02, 0x6e, 0x79, 0x00, 0x00, 0x01}, SSID: "netyard", Channel: 1, X: 5, Y: 20},
	{BSSID: dot11.MAC{0x02, 0x6e, 0x79, 0x00, 0x00, 0x0b}, SSID: "netyard", Channel: 11, X: 55, Y: 20},
}

func airtimeConfig(seed uint64, attack bool) air.Config {
	c := air.Config{Seed: seed, Band: air.Band2GHz, APs: airtimeAPs, Stations: airtimeStations, Duration: airtimeDuration,
		SensorX: 30, SensorY: 20, StationX: 30, StationY: 20, Spread: 6,
		DataRate: 2, Late: 0.15, Roam: 0.1, Leave: 0.2, ScanEvery: 90 * time.Second}
	if attack {
		c.Attack = &air.Attack{AP: 0, Start: airtimeFloodAt, Length: airtimeFloodLen, Rate: airtimeFloodRate, X: 38, Y: 26}
	}
	return c
}

// airtimeKinds are the management subtypes the plot shows, one line each
// (seven: the palette's colours); association and reassociation requests
// share one, and the responses, which mirror the requests, are left out.
var airtimeKinds = []struct {
	name  string
	kinds []dot11.Kind
}{
	{"beacon", []dot11.Kind{dot11.Beacon}},
	{"probe-req", []dot11.Kind{dot11.ProbeReq}},
	{"probe-resp", []dot11.Kind{dot11.ProbeResp}},
	{"auth", []dot11.Kind{dot11.Auth}},
	{"(re)assoc-req", []dot11.Kind{dot11.AssocReq, dot11.ReassocReq}},
	{"deauth", []dot11.Kind{dot11.Deauth}},
	{"disassoc", []dot11.Kind{dot11.Disassoc}},
}

// airtimeEvent is a flood event as wifi_monitor writes it (struct
// flood_event).
type airtimeEvent struct {
	TimeS     float64 `json:"time_s"`
	WindowS   float64 `json:"window_start_s"`
	BSSID     string  `json:"bssid"`
	Subtype   uint8   `json:"subtype"`
	Count     uint32  `json:"count"`
	Signal    int32   `json:"signal_dbm"`
	Freq      uint32  `json:"freq_mhz"`
	Threshold uint32  `json:"threshold"`
}

// parseAirtimeEvent decodes a ring buffer record of wifi_monitor.
func parseAirtimeEvent(rec []byte) (airtimeEvent, bool) {
	if len(rec) < 40 {
		return airtimeEvent{}, false
	}
	le := binary.LittleEndian
	return airtimeEvent{
		TimeS:     float64(le.Uint64(rec)) / 1e9,
		WindowS:   float64(le.Uint64(rec[8:])) / 1e9,
		BSSID:     dot11.MAC(rec[16:22]).String(),
		Subtype:   rec[22],
		Count:     le.Uint32(rec[24:]),
		Signal:    int32(le.Uint32(rec[28:])),
		Freq:      le.Uint32(rec[32:]),
		Threshold: le.Uint32(rec[36:]),
	}, true
}

type airtimeProber struct {
	MAC    string  `json:"mac"`
	Probes uint64  `json:"probe_requests"`
	Truth  int     `json:"sent"` // what the model sent: the program must count as many
	Signal float64 `json:"mean_signal_dbm"`
}

// airtimeRun is one run's figures.
type airtimeRun struct {
	Seed      uint64         `json:"seed"`
	Attack    bool           `json:"attack"`
	Frames    int            `json:"frames_seen"`
	Delivered int            `json:"frames_delivered"`
	ByKind    map[string]int `json:"frames_by_kind"`
	// FloodStartS is when the attacker's first frame went on the air
	// (the model's ground truth), FlaggedS when the program's first
	// event came; -1 for none.
	FloodStartS float64         `json:"flood_start_s"`
	FlaggedS    float64         `json:"flagged_s"`
	DetectMs    float64         `json:"detection_ms"`
	Events      int             `json:"events"`
	EventsLost  uint64          `json:"events_lost"` // the ring buffer was full (wifi_monitor_stats[6])
	FirstEvents []airtimeEvent  `json:"first_events"`
	TopProbers  []airtimeProber `json:"top_probers"`
	Associated  []int           `json:"associated_at_end"`
	Cost        airtimeCost     `json:"cost"`

	probeCounts map[dot11.MAC]uint64 // the program's wifi_probes

	perSec   map[dot11.Kind][]float64 // management frames a second by subtype
	floodSec []float64                // deauthentications and disassociations a second for the watched BSSID
	probes   map[dot11.MAC]int        // probe requests each MAC sent (ground truth)
}

// airtimeTally counts what the model sent, beside what the program saw.
func (r *airtimeRun) tally(f *air.Frame, src, bssid dot11.MAC) {
	r.Frames++
	r.ByKind[f.Kind.String()]++
	sec := int(f.Time / int64(time.Second))
	if f.Kind.Type() == dot11.TypeMgmt {
		s := r.perSec[f.Kind]
		for len(s) <= sec {
			s = append(s, 0)
		}
		s[sec]++
		r.perSec[f.Kind] = s
	}
	if f.Kind == dot11.ProbeReq {
		r.probes[src]++
	}
	if (f.Kind == dot11.Deauth || f.Kind == dot11.Disassoc) && bssid == airtimeAPs[0].BSSID {
		for len(r.floodSec) <= sec {
			r.floodSec = append(r.floodSec, 0)
		}
		r.floodSec[sec]++
	}
}

func newAirtimeRun(seed uint64, attack bool) *airtimeRun {
	return &airtimeRun{Seed: seed, Attack: attack, ByKind: map[string]int{}, perSec: map[dot11.Kind][]float64{},
		probes: map[dot11.MAC]int{}, FloodStartS: -1, FlaggedS: -1, DetectMs: -1}
}

// airtimePlots: management frames a second by subtype, and the watched
// BSSID's deauthentications a second against the threshold.
func airtimePlots(r *airtimeRun) []Plot {
	secs := int(airtimeDuration / time.Second)
	x := make([]float64, secs)
	for i := range x {
		x[i] = float64(i)
	}
	mgmt := Plot{Title: "Management frames a second by subtype", XLabel: "time (s)", YLabel: "frames a second", YLog: true}
	for _, k := range airtimeKinds {
		y := make([]float64, secs)
		for _, kind := range k.kinds {
			for i, v := range r.perSec[kind][:min(secs, len(r.perSec[kind]))] {
				y[i] += v
			}
		}
		mgmt.Series = append(mgmt.Series, Series{Name: k.name, X: x, Y: y})
	}
	flood := Plot{Title: "Deauthentications and disassociations a second, watched BSSID", XLabel: "time (s)", YLabel: "frames a second", YZero: true}
	y := make([]float64, secs)
	copy(y, r.floodSec)
	flood.Series = append(flood.Series, Series{Name: airtimeAPs[0].BSSID.String(), X: x, Y: y},
		Series{Name: fmt.Sprintf("threshold (%d)", airtimeThreshold), X: []float64{0, float64(secs)}, Y: []float64{airtimeThreshold, airtimeThreshold}, Dashed: true})
	if r.FlaggedS >= 0 {
		flood.Series = append(flood.Series, Series{Name: "flagged", X: []float64{r.FlaggedS, r.FlaggedS}, Y: []float64{0, airtimeFloodRate * 1.25}, Dashed: true})
	}
	return []Plot{mgmt, flood}
}

// topProbers orders the program's per-MAC probe counts, the model's
// beside them.
func (r *airtimeRun) setTopProbers(counts map[dot11.MAC]uint64, signal map[dot11.MAC]float64, n int) {
	var ps []airtimeProber
	for m, c := range counts {
		ps = append(ps, airtimeProber{MAC: m.String(), Probes: c, Truth: r.probes[m], Signal: signal[m]})
	}
	slices.SortFunc(ps, func(a, b airtimeProber) int {
		if a.Probes != b.Probes {
			return int(b.Probes) - int(a.Probes)
		}
		if a.MAC < b.MAC {
			return -1
		}
		return 1
	})
	r.TopProbers = ps[:min(n, len(ps))]
}

//go:embed objects/wifi_monitor.o
var wifiMonitorObj []byte

// wifiMonitorObject is the name the scenario's rules load
// lab/objects/wifi_monitor.o by: a copy of examples/bpf/wifi_monitor.o
// that build.sh makes (TestWifiMonitorCopy checks they are the same).
const wifiMonitorObject = "wifi_monitor.o"

const airtimeRules = "filter add dev wlan0 ingress bpf da obj " + wifiMonitorObject + " sec netyard/wifi\n"

// airtimeBatch is how many frames go into wlan0's RX ring before the
// datapath runs: well under the ring's 1024. Every frame carries its own
// time, so batching changes nothing the program sees.
const airtimeBatch = 256

// airtimeSim is a Sim with wlan0, an 802.11 device, and the embedded
// wifi_monitor.o loadable by name.
func airtimeSim(log *slog.Logger) (*Sim, *datapath.Device, error) {
	s := NewSim(log)
	load := s.Engine.LoadObject
	s.Engine.LoadObject = func(ns, path, section string) (bpf.Program, error) {
		if path != wifiMonitorObject {
			return load(ns, path, section)
		}
		p, err := s.BPF.Load(ns, bytes.NewReader(wifiMonitorObj), section)
		if err != nil {
			return nil, err
		}
		return p, nil
	}
	dev, err := s.Engine.AddDevice(s.NS, netdev.Config{Name: "wlan0", Link: netdev.LinkIEEE80211})
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, dev, nil
}

func runAirtime(log *slog.Logger) (*Report, error) {
	r, err := airtimeOnce(log, airtimeSeed, true, true)
	if err != nil {
		return nil, err
	}
	fig := Table{Title: "deauthentication flood against " + airtimeAPs[0].BSSID.String(), Header: []string{"figure", "value"}}
	fig.Rows = [][]string{
		{"flood began (attacker's first frame)", fmt.Sprintf("%.3f s", r.FloodStartS)},
		{"wifi_monitor flagged it", fmt.Sprintf("%.3f s (%.0f ms later)", r.FlaggedS, r.DetectMs)},
		{"events in wifi_events", fmt.Sprint(r.Events)},
		{"events lost to a full ring buffer", fmt.Sprint(r.EventsLost)},
		{"frames seen by the hook", fmt.Sprint(r.Frames)},
		{"frames delivered (kept: deauthentications and disassociations)", fmt.Sprint(r.Delivered)},
		{"stations associated at the end, by AP", fmt.Sprint(r.Associated)},
	}
	probers := Table{Title: "top probing MACs (wifi_probes)", Header: []string{"MAC", "probe requests", "sent (model)", "mean signal"}}
	for _, p := range r.TopProbers {
		probers.Rows = append(probers.Rows, []string{p.MAC, fmt.Sprint(p.Probes), fmt.Sprint(p.Truth), fmt.Sprintf("%.1f dBm", p.Signal)})
	}
	kinds := Table{Title: "frames by subtype", Header: []string{"subtype", "frames"}}
	names := make([]string, 0, len(r.ByKind))
	for k := range r.ByKind {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		kinds.Rows = append(kinds.Rows, []string{k, fmt.Sprint(r.ByKind[k])})
	}
	cost := Table{Title: fmt.Sprintf("per-frame cost, the same %d frames (wall clock, best of %d)", r.Cost.Frames, airtimeCostRuns),
		Header: []string{"path", "ns/frame", "what it does"},
		Rows: [][]string{
			{"hook", fmt.Sprintf("%.0f", r.Cost.HookNs), "wifi_monitor at wlan0's ingress; radiotap and a copy only for the kept frames"},
			{"monitor", fmt.Sprintf("%.0f", r.Cost.MonitorNs), "a monitor listener: radiotap and a copy of every frame, then the listener parses the radiotap header and runs the same program"},
			{"ratio", fmt.Sprintf("%.2f", r.Cost.Ratio), "monitor / hook"},
		}}
	return &Report{
		Scenario: "airtime",
		Summary: fmt.Sprintf("deauthentication flood began at %.3f s, wifi_monitor flagged it at %.3f s (%.0f ms); %d frames seen, %d delivered; hook %.0f ns/frame, monitor %.0f ns/frame",
			r.FloodStartS, r.FlaggedS, r.DetectMs, r.Frames, r.Delivered, r.Cost.HookNs, r.Cost.MonitorNs),
		Tables: []Table{fig, probers, kinds, cost},
		Data: map[string]any{
			"rules": airtimeRules, "run": r, "threshold": airtimeThreshold,
			"stations": airtimeStations, "duration_s": airtimeDuration.Seconds(),
			PlotsKey: airtimePlots(r),
		},
	}, nil
}

// airtimeCost is the per-frame cost of the two paths over the same
// frames; wall-clock figures, left out of the run's comparisons.
type airtimeCost struct {
	Frames    int     `json:"frames"`
	HookNs    float64 `json:"hook_ns_per_frame"`
	MonitorNs float64 `json:"monitor_ns_per_frame"`
	Ratio     float64 `json:"monitor_over_hook"`
}

// airtimeOnce runs the model through wlan0 with wifi_monitor at its
// ingress and reads what the program found; with costs, it also times
// the hook and monitor paths on a stretch of the same frames.
func airtimeOnce(log *slog.Logger, seed uint64, attack, costs bool) (*airtimeRun, error) {
	res := newAirtimeRun(seed, attack)
	s, dev, err := airtimeSim(log)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	kept, err := dev.Listen(datapath.ListenKept, 0, datapath.FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) { p.Release() }))
	if err != nil {
		return nil, err
	}
	if err := s.Apply(airtimeRules); err != nil {
		return nil, err
	}
	a, err := air.New(airtimeConfig(seed, attack))
	if err != nil {
		return nil, err
	}
	var rec airtimeRecording
	t0 := s.Now()
	var f air.Frame
	var h dot11.Header
	var radio radiotap.Fields
	n := 0
	for a.Next(&f) {
		if _, err := dot11.ParseHeader(f.Data, &h); err != nil {
			return nil, fmt.Errorf("airtime: the model sent a frame it cannot parse: %w", err)
		}
		bssid, _ := h.BSSID()
		res.tally(&f, h.Addr2, bssid)
		f.Radio(&radio)
		s.Clock.Set(t0 + f.Time)
		if costs && f.Time >= int64(airtimeCostFrom) {
			rec.add(f.Data, &radio, t0+f.Time)
		}
		if err := dev.Inject80211(f.Data, &radio, s.Now()); err != nil {
			return nil, err
		}
		if n++; n%airtimeBatch == 0 {
			s.Engine.Run()
		}
	}
	s.Engine.Run()
	if a.AttackStart >= 0 {
		res.FloodStartS = float64(a.AttackStart) / 1e9
	}
	for i := range airtimeAPs {
		res.Associated = append(res.Associated, a.Associated(i))
	}
	frames, _ := kept.Stats()
	res.Delivered = int(frames)
	if err := res.readMaps(s, t0); err != nil {
		return nil, err
	}
	if costs {
		if res.Cost, err = rec.costs(log); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// readMaps reads the program's maps: the ring buffer's events, the probe
// counts and the signals.
func (r *airtimeRun) readMaps(s *Sim, t0 int64) error {
	maps := s.BPF.PinnedMaps(s.NS.Name())
	events, probes, signal := maps["wifi_events"], maps["wifi_probes"], maps["wifi_signal"]
	if events == nil || probes == nil || signal == nil {
		return fmt.Errorf("airtime: wifi_monitor's maps are not pinned: %v", maps)
	}
	var bad error
	events.ReadRecords(func(rec []byte) {
		e, ok := parseAirtimeEvent(rec)
		if !ok {
			bad = fmt.Errorf("airtime: an event of %d bytes", len(rec))
			return
		}
		e.TimeS -= float64(t0) / 1e9
		e.WindowS -= float64(t0) / 1e9
		r.Events++
		if len(r.FirstEvents) < 10 {
			r.FirstEvents = append(r.FirstEvents, e)
		}
		if r.FlaggedS < 0 {
			r.FlaggedS = e.TimeS
		}
	})
	if bad != nil {
		return bad
	}
	if r.FlaggedS >= 0 && r.FloodStartS >= 0 {
		r.DetectMs = math.Round((r.FlaggedS-r.FloodStartS)*1e6) / 1e3
	}
	if st := maps["wifi_monitor_stats"]; st != nil {
		if v, err := st.Lookup([]byte{6, 0, 0, 0}); err == nil && len(v) >= 8 {
			r.EventsLost = binary.LittleEndian.Uint64(v)
		}
	}
	counts := map[dot11.MAC]uint64{}
	probes.Iterate(func(k, v []byte) bool {
		counts[dot11.MAC(k[:6])] = binary.LittleEndian.Uint64(v)
		return true
	})
	means := map[dot11.MAC]float64{}
	signal.Iterate(func(k, v []byte) bool {
		// struct signal_stats: last, min, max, freq, sum (s64), frames
		if n := binary.LittleEndian.Uint64(v[24:]); n > 0 {
			means[dot11.MAC(k[:6])] = float64(int64(binary.LittleEndian.Uint64(v[16:]))) / float64(n)
		}
		return true
	})
	r.probeCounts = counts
	r.setTopProbers(counts, means, 10)
	return nil
}

// airtimeCostFrom and airtimeCostFrames: the stretch of the run the
// costs are measured on (stations settled, the flood not begun).
const (
	airtimeCostFrom   = 30 * time.Second
	airtimeCostFrames = 20000
	airtimeCostRuns   = 5
)

// airtimeRecording keeps a stretch of frames with their metadata, to
// send the same frames down both paths.
type airtimeRecording struct {
	data   []byte
	ends   []int
	radios []radiotap.Fields
	times  []int64
}

func (r *airtimeRecording) add(frame []byte, f *radiotap.Fields, t int64) {
	if len(r.ends) >= airtimeCostFrames {
		return
	}
	r.data = append(r.data, frame...)
	r.ends = append(r.ends, len(r.data))
	r.radios = append(r.radios, *f)
	r.times = append(r.times, t)
}

// costs times the recorded frames through the hook path (wifi_monitor at
// the ingress, a kept listener) and the monitor path (no filter; a
// monitor listener that parses each frame's radiotap header and runs the
// same program on it, as a monitor-mode sniffer does in user space), in
// fresh simulations: the best of airtimeCostRuns runs each, the two paths
// taking turns so that a change in the machine's load hits both.
func (r *airtimeRecording) costs(log *slog.Logger) (airtimeCost, error) {
	c := airtimeCost{Frames: len(r.ends), HookNs: math.Inf(1), MonitorNs: math.Inf(1)}
	if c.Frames == 0 {
		return airtimeCost{}, nil
	}
	for range airtimeCostRuns {
		for _, monitor := range []bool{false, true} {
			ns, err := r.timePath(log, monitor)
			if err != nil {
				return c, err
			}
			if monitor {
				c.MonitorNs = min(c.MonitorNs, ns)
			} else {
				c.HookNs = min(c.HookNs, ns)
			}
		}
	}
	c.HookNs, c.MonitorNs = math.Round(c.HookNs), math.Round(c.MonitorNs)
	c.Ratio = math.Round(100*c.MonitorNs/c.HookNs) / 100
	return c, nil
}

// timePath sends the recording through one path and returns the wall
// time per frame.
func (r *airtimeRecording) timePath(log *slog.Logger, monitor bool) (float64, error) {
	var fault error // the monitor path's first failure: its timing does not count
	s, dev, err := airtimeSim(log)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if !monitor {
		if _, err := dev.Listen(datapath.ListenKept, 0, datapath.FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) { p.Release() })); err != nil {
			return 0, err
		}
		if err := s.Apply(airtimeRules); err != nil {
			return 0, err
		}
	} else {
		prog, err := s.BPF.Load(s.NS.Name(), bytes.NewReader(wifiMonitorObj), "netyard/wifi")
		if err != nil {
			return 0, err
		}
		env := &bpf.Env{Ifindex: dev.Netdev().Index(), Ingress: true, Link: bpf.LinkIEEE80211, Scratch: ebpf.NewScratch()}
		if _, err := dev.Listen(datapath.ListenMonitor, 0, datapath.FrameListenerFunc(func(p *pkt.Buffer, _ int, now int64) {
			n, err := radiotap.Parse(p.Data(), &p.Radio)
			if err == nil {
				err = p.Pull(n)
			}
			if err == nil {
				env.Now = now
				_, err = prog.Run(p, env)
			}
			if err != nil && fault == nil {
				fault = err
			}
			p.Release()
		})); err != nil {
			return 0, err
		}
	}
	start := time.Now()
	prev := 0
	for i, end := range r.ends {
		s.Clock.Set(r.times[i])
		if err := dev.Inject80211(r.data[prev:end], &r.radios[i], r.times[i]); err != nil {
			return 0, err
		}
		prev = end
		if (i+1)%airtimeBatch == 0 {
			s.Engine.Run()
		}
	}
	s.Engine.Run()
	if fault != nil {
		return 0, fmt.Errorf("monitor path: %w", fault)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(len(r.ends)), nil
}
