package air

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"netyard/wifi/dot11"
	"netyard/wifi/radiotap"
)

// Band is a frequency band.
type Band uint8

const (
	Band2GHz Band = 1 // the values of the 802.11 hook's band field
	Band5GHz Band = 2
)

var (
	channels2 = []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	channels5 = []uint8{36, 40, 44, 48, 52, 56, 60, 64, 100, 104, 108, 112, 116, 120, 124, 128, 132, 136, 140, 149, 153, 157, 161, 165}
)

// Channels lists the channels of b a station scans (Europe's 2.4 GHz
// channels, the 20 MHz channels of 5 GHz).
func (b Band) Channels() []uint8 {
	if b == Band5GHz {
		return channels5
	}
	return channels2
}

// Freq is the centre frequency of channel ch in MHz.
func (b Band) Freq(ch uint8) uint16 {
	if b == Band5GHz {
		return 5000 + 5*uint16(ch)
	}
	if ch == 14 {
		return 2484
	}
	return 2407 + 5*uint16(ch)
}

// AP is an access point.
type AP struct {
	BSSID   dot11.MAC
	SSID    string
	Channel uint8
	X, Y    float64 // metres
}

// Attack is a deauthentication flood in an AP's name: broadcast
// deauthentications from its BSSID on its channel (what aireplay-ng
// --deauth sends), Rate a second, from Start for Length.
type Attack struct {
	AP            int // index in Config.APs
	Start, Length time.Duration
	Rate          int
	X, Y          float64 // where the attacker stands
}

// Config is a model run.
type Config struct {
	Seed     uint64
	Band     Band
	APs      []AP
	Stations int
	Duration time.Duration
	// SensorX, SensorY is where the capturing radio is; signals are
	// measured there.
	SensorX, SensorY float64
	// StationX, StationY and Spread place stations: normally around
	// this point, Spread metres standard deviation per axis.
	StationX, StationY, Spread float64
	// DataRate is each associated station's mean number of data frames
	// a second each way (Poisson).
	DataRate float64
	// Late is the share of stations that arrive during the run rather
	// than in its first 10 s; Roam the share that move to another AP
	// once; Leave the share that leave before the end.
	Late, Roam, Leave float64
	// ScanEvery is the mean time between an associated station's
	// background scans.
	ScanEvery time.Duration
	Attack    *Attack
}

// Frame is one frame on the air and what the sensor knows of it.
type Frame struct {
	Time    int64 // ns of virtual time since the run's start
	Kind    dot11.Kind
	Channel uint8
	Freq    uint16 // MHz
	Band    Band
	Signal  int8   // dBm
	Noise   int8   // dBm
	Rate    uint16 // 500 kb/s units, as radiotap's rate
	TSFT    uint64 // the sensor's TSF when the frame began, µs
	// Attack is the ground truth: the attacker sent this frame.
	Attack bool
	// Data is the frame, FCS included; it is valid until the next call
	// to Next.
	Data []byte
}

// Radio is what the sensor's driver reports of f, as radiotap fields (the
// receive metadata of netyard's 802.11 devices): TSFT, flags (an FCS at
// the end), rate, channel, signal and noise.
func (f *Frame) Radio(r *radiotap.Fields) {
	*r = radiotap.Fields{TSFT: f.TSFT, Freq: f.Freq, Flags: radiotap.FlagFCS, Rate: uint8(f.Rate), Signal: f.Signal, Noise: f.Noise,
		Present: 1<<radiotap.TSFT | 1<<radiotap.FlagsBit | 1<<radiotap.RateBit | 1<<radiotap.Channel | 1<<radiotap.AntSignal | 1<<radiotap.AntNoise}
	// Channel flags as mac80211 sets them (ieee80211_add_rx_radiotap_header).
	switch {
	case f.Band == Band5GHz:
		r.ChanFlags = radiotap.ChanOFDM | radiotap.Chan5GHz
	case f.Rate >= 12 && f.Rate != 22: // OFDM rates; 22 is 11 Mb/s CCK
		r.ChanFlags = radiotap.ChanOFDM | radiotap.Chan2GHz
	default:
		r.ChanFlags = radiotap.ChanCCK | radiotap.Chan2GHz
	}
}

// Noise floors, dBm: a 20 MHz channel's thermal noise and a typical
// receiver's noise figure, higher in the crowded 2.4 GHz band.
const (
	noise2 = -92
	noise5 = -95
)

// Transmit powers, dBm.
const (
	apPower       = 20
	stationPower  = 15
	attackerPower = 20
)

// Timing of exchanges. probeGap separates the probes of a burst and an
// AP's answers (SIFS, backoff and a busy AP); dwell is an active scan's
// time on a channel (Linux's 30 ms, IEEE80211_PROBE_DELAY aside).
const (
	probesPerChannel = 2
	probeGap         = 2 * time.Millisecond
	dwell            = 30 * time.Millisecond
	replyDelay       = time.Millisecond
	beaconTU         = 100
	dtimPeriod       = 3
	listenInterval   = 10
	maxPlan          = 160
)

// Errors of New.
var ErrConfig = errors.New("air: invalid configuration")

// Air is a model run: call Next until it returns false.
type Air struct {
	cfg      Config
	rng      *rand.Rand
	chans    []uint8
	aps      []apState
	stas     []station
	attacker attacker
	heap     evHeap
	buf      []byte
	end      int64
	noise    int8
	mgmtRate uint16
	gateway  dot11.MAC

	// AttackStart is the virtual time of the attacker's first frame, -1
	// before it (the ground truth a detector is measured against).
	AttackStart int64
	counts      [64]int
}

type apState struct {
	AP
	shadow    float64
	seq       uint16
	aid       uint16
	nextBeac  int64
	beacons   int
	stations  int
	onChannel bool
}

type attacker struct {
	seq    uint16
	next   int64
	end    int64
	shadow float64
}

// New checks cfg and prepares a run.
func New(cfg Config) (*Air, error) {
	if cfg.Band != Band2GHz && cfg.Band != Band5GHz {
		return nil, fmt.Errorf("%w: band %d", ErrConfig, cfg.Band)
	}
	if len(cfg.APs) == 0 || len(cfg.APs) > 100 {
		return nil, fmt.Errorf("%w: %d access points, want 1..100", ErrConfig, len(cfg.APs))
	}
	if cfg.Stations < 0 || cfg.Stations > 1<<16 || cfg.Duration <= 0 {
		return nil, fmt.Errorf("%w: %d stations for %v", ErrConfig, cfg.Stations, cfg.Duration)
	}
	chans := cfg.Band.Channels()
	for i, ap := range cfg.APs {
		if len(ap.SSID) > dot11.MaxSSIDLen {
			return nil, fmt.Errorf("%w: AP %d: SSID longer than 32 bytes", ErrConfig, i)
		}
		ok := false
		for _, c := range chans {
			ok = ok || c == ap.Channel
		}
		if !ok {
			return nil, fmt.Errorf("%w: AP %d: channel %d is not in the band", ErrConfig, i, ap.Channel)
		}
	}
	if at := cfg.Attack; at != nil && (at.AP < 0 || at.AP >= len(cfg.APs) || at.Rate <= 0 || at.Rate > 100000 || at.Start < 0 || at.Length <= 0) {
		return nil, fmt.Errorf("%w: attack %+v", ErrConfig, *at)
	}
	if cfg.DataRate < 0 || cfg.ScanEvery < 0 {
		return nil, fmt.Errorf("%w: negative rate", ErrConfig)
	}
	a := &Air{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, 0x6e657479617264)), chans: chans,
		end: int64(cfg.Duration), buf: make([]byte, 0, 4096), AttackStart: -1,
		gateway: dot11.MAC{0x02, 0x00, 0x5e, 0x00, 0x00, 0xfe}}
	a.noise, a.mgmtRate = noise2, 2 // 1 Mb/s: DSSS, what 2.4 GHz management frames use
	if cfg.Band == Band5GHz {
		a.noise, a.mgmtRate = noise5, 12 // 6 Mb/s
	}
	a.heap = evHeap{at: make([]int64, 0, len(cfg.APs)+cfg.Stations+1), who: make([]int32, 0, len(cfg.APs)+cfg.Stations+1)}
	a.aps = make([]apState, len(cfg.APs))
	for i, ap := range cfg.APs {
		s := &a.aps[i]
		s.AP = ap
		s.shadow = 2 * a.rng.NormFloat64()
		s.seq = uint16(a.rng.IntN(4096))
		// APs start beaconing at random phases.
		s.nextBeac = a.rng.Int64N(int64(beaconTU * dot11.TU))
		a.heap.push(s.nextBeac, int32(i))
	}
	a.stas = make([]station, cfg.Stations)
	for i := range a.stas {
		a.initStation(i)
		a.heap.push(a.stas[i].next, a.staID(i))
	}
	if at := cfg.Attack; at != nil {
		a.attacker = attacker{seq: uint16(a.rng.IntN(4096)), next: int64(at.Start), end: int64(at.Start + at.Length), shadow: 2 * a.rng.NormFloat64()}
		a.heap.push(a.attacker.next, a.attackerID())
	}
	return a, nil
}

// Entities in the heap: APs first, then stations, then the attacker.
func (a *Air) staID(i int) int32      { return int32(len(a.aps) + i) }
func (a *Air) attackerID() int32      { return int32(len(a.aps) + len(a.stas)) }
func (a *Air) Count(k dot11.Kind) int { return a.counts[k&63] }

// Associated is the number of stations associated with AP i now.
func (a *Air) Associated(i int) int { return a.aps[i].stations }

// Next fills f with the next frame and reports whether there was one
// before the end of the run.
func (a *Air) Next(f *Frame) bool {
	for a.heap.len() > 0 {
		t, who := a.heap.top()
		if t > a.end {
			return false
		}
		var next int64
		var ok bool
		switch {
		case int(who) < len(a.aps):
			next, ok = a.beacon(int(who), t, f), true
		case who == a.attackerID():
			next, ok = a.attack(t, f), true
		default:
			next, ok = a.station(int(who)-len(a.aps), t, f)
		}
		if next < 0 {
			a.heap.pop()
		} else {
			a.heap.fix(next)
		}
		if ok {
			f.Time = t
			f.Band = a.cfg.Band
			f.Freq = a.cfg.Band.Freq(f.Channel)
			f.Noise = a.noise
			f.TSFT = uint64(t / 1000)
			f.Data = a.buf
			a.counts[f.Kind&63]++
			return true
		}
	}
	return false
}

// signal is the received signal at the sensor from a transmitter at (x,
// y) with power p: log-distance path loss with exponent 3 (indoors,
// ITU-R P.1238's office), the free-space loss at 1 m of the band, a fixed
// shadowing and per-frame fading of 2 dB (standard deviation).
func (a *Air) signal(p, x, y, shadow float64) int8 {
	s := p - a.pathLoss(math.Hypot(x-a.cfg.SensorX, y-a.cfg.SensorY)) + shadow + 2*a.rng.NormFloat64()
	return int8(math.Round(math.Max(-100, math.Min(-10, s))))
}

// pathSignal is the mean signal between a station and an AP, without
// fading: what a station's scan ranks APs by.
func (a *Air) pathSignal(st *station, ap *apState) float64 {
	return apPower - a.pathLoss(math.Hypot(st.x-ap.X, st.y-ap.Y)) + ap.shadow
}

// pathLoss is the mean loss over d metres in the run's band: log-distance
// with exponent 3 above the free-space loss at 1 m (40 dB at 2.4 GHz, 47
// at 5 GHz).
func (a *Air) pathLoss(d float64) float64 {
	pl1 := 40.0
	if a.cfg.Band == Band5GHz {
		pl1 = 47
	}
	return pl1 + 30*math.Log10(math.Max(1, d))
}

// beacon sends AP i's beacon at t and returns the time of the next one.
func (a *Air) beacon(i int, t int64, f *Frame) int64 {
	ap := &a.aps[i]
	a.buf = a.buf[:0]
	h := dot11.Header{Kind: dot11.Beacon, Addr1: dot11.Broadcast, Addr2: ap.BSSID, Addr3: ap.BSSID, Seq: ap.nextSeq()}
	a.buf = dot11.AppendHeader(a.buf, &h)
	m := dot11.Mgmt{Timestamp: uint64(t / 1000), Interval: beaconTU, Capability: apCapability}
	a.buf = dot11.AppendMgmt(a.buf, dot11.Beacon, &m)
	a.buf = a.appendAPIEs(a.buf, ap, true)
	a.buf = dot11.AppendFCS(a.buf, 0)
	ap.beacons++
	f.Kind, f.Channel, f.Rate, f.Attack = dot11.Beacon, ap.Channel, a.mgmtRate, false
	f.Signal = a.signal(apPower, ap.X, ap.Y, ap.shadow)
	return t + int64(beaconTU*dot11.TU)
}

const apCapability = dot11.CapESS | dot11.CapPrivacy | dot11.CapShortSlot

var (
	rates2 = []uint8{0x82, 0x84, 0x8b, 0x96, 0x0c, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6c}
	rates5 = []uint8{0x8c, 0x12, 0x98, 0x24, 0xb0, 0x48, 0x60, 0x6c}
	rsn    = dot11.RSN{Version: 1, Group: dot11.SuiteCCMP, NPairwise: 1, Pairwise: [4]uint32{dot11.SuiteCCMP}, NAKM: 1, AKM: [4]uint32{dot11.SuitePSK}}
	htCaps = dot11.HTCaps{Info: 0x016e, AMPDU: 0x17, MCS: [16]byte{0xff, 0xff}}
)

func (a *Air) rates() []uint8 {
	if a.cfg.Band == Band5GHz {
		return rates5
	}
	return rates2
}

// appendAPIEs appends a beacon's or probe response's elements: SSID,
// rates, DS parameter set, TIM (beacons), RSN, HT capabilities. The
// configuration was checked by New, so the builders cannot fail.
func (a *Air) appendAPIEs(b []byte, ap *apState, beacon bool) []byte {
	b, _ = dot11.AppendSSID(b, ap.SSID)
	b, _ = dot11.AppendRates(b, a.rates())
	b = dot11.AppendDSParams(b, ap.Channel)
	if beacon {
		b, _ = dot11.AppendTIM(b, &dot11.TIM{DTIMCount: uint8(ap.beacons % dtimPeriod), DTIMPeriod: dtimPeriod})
	}
	b = dot11.AppendRSN(b, &rsn)
	return dot11.AppendHTCaps(b, &htCaps)
}

func (ap *apState) nextSeq() uint16 {
	ap.seq = (ap.seq + 1) & 0xfff
	return ap.seq
}

// attack sends one deauthentication of the flood and returns the time of
// the next, or -1 after the last.
func (a *Air) attack(t int64, f *Frame) int64 {
	at := a.cfg.Attack
	ap := &a.aps[at.AP]
	if a.AttackStart < 0 {
		a.AttackStart = t
	}
	a.attacker.seq = (a.attacker.seq + 1) & 0xfff
	a.buf = a.buf[:0]
	h := dot11.Header{Kind: dot11.Deauth, Addr1: dot11.Broadcast, Addr2: ap.BSSID, Addr3: ap.BSSID, Seq: a.attacker.seq}
	a.buf = dot11.AppendHeader(a.buf, &h)
	a.buf = dot11.AppendMgmt(a.buf, dot11.Deauth, &dot11.Mgmt{Reason: dot11.ReasonClass3NotAssoc})
	a.buf = dot11.AppendFCS(a.buf, 0)
	f.Kind, f.Channel, f.Rate, f.Attack = dot11.Deauth, ap.Channel, a.mgmtRate, true
	f.Signal = a.signal(attackerPower, at.X, at.Y, a.attacker.shadow)
	// Gaps of ±25% around 1/Rate: tools send as fast as their loop.
	gap := float64(time.Second) / float64(at.Rate) * (0.75 + 0.5*a.rng.Float64())
	next := t + int64(gap)
	if next >= a.attacker.end {
		return -1
	}
	return next
}

// attackOn reports whether the flood against AP i is under way at t.
func (a *Air) attackOn(i int, t int64) bool {
	at := a.cfg.Attack
	return at != nil && at.AP == i && a.AttackStart >= 0 && t < a.attacker.end
}

// evHeap is a binary min-heap of (time, entity) without interfaces, so
// that pushing and fixing allocate nothing; ties go to the lower entity.
type evHeap struct {
	at  []int64
	who []int32
}

func (h *evHeap) len() int            { return len(h.at) }
func (h *evHeap) top() (int64, int32) { return h.at[0], h.who[0] }
func (h *evHeap) less(i, j int) bool {
	return h.at[i] < h.at[j] || h.at[i] == h.at[j] && h.who[i] < h.who[j]
}
func (h *evHeap) swap(i, j int) {
	h.at[i], h.at[j] = h.at[j], h.at[i]
	h.who[i], h.who[j] = h.who[j], h.who[i]
}

func (h *evHeap) push(t int64, w int32) {
	h.at, h.who = append(h.at, t), append(h.who, w)
	for i := len(h.at) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.swap(i, p)
		i = p
	}
}

// fix gives the top entity the time t and restores the order.
func (h *evHeap) fix(t int64) {
	h.at[0] = t
	h.down(0)
}

func (h *evHeap) pop() {
	n := len(h.at) - 1
	h.swap(0, n)
	h.at, h.who = h.at[:n], h.who[:n]
	h.down(0)
}

func (h *evHeap) down(i int) {
	n := len(h.at)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			return
		}
		h.swap(i, j)
		i = j
	}
}
