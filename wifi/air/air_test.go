package air

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"netyard/internal/testutil"
	"netyard/wifi/dot11"
	"netyard/wifi/dot11/dot11test"
	"netyard/wifi/radiotap"
)

// testConfig is a small site: three APs on channels 1, 6 and 11, the
// sensor at the first, stations around it, an attack in the middle.
func testConfig(seed uint64, stations int, dur time.Duration, attack bool) Config {
	c := Config{Seed: seed, Band: Band2GHz, Stations: stations, Duration: dur,
		APs: []AP{
			{BSSID: dot11.MAC{0x02, 0x11, 0x22, 0, 0, 1}, SSID: "netyard", Channel: 6, X: 30, Y: 20},
			{BSSID: dot11.MAC{0x02, 0x11, 0x22, 0, 0, 2}, SSID: "netyard", Channel: 1, X: 5, Y: 20},
			{BSSID: dot11.MAC{0x02, 0x11, 0x22, 0, 0, 3}, SSID: "netyard", Channel: 11, X: 55, Y: 20},
		},
		SensorX: 30, SensorY: 20, StationX: 30, StationY: 20, Spread: 7,
		DataRate: 2, Late: 0.2, Roam: 0.3, Leave: 0.3, ScanEvery: 60 * time.Second}
	if attack {
		c.Attack = &Attack{AP: 0, Start: dur / 2, Length: 10 * time.Second, Rate: 200, X: 40, Y: 25}
	}
	return c
}

type runStats struct {
	kinds  map[dot11.Kind]int
	hash   uint64
	frames int
	attack int
}

func run(t *testing.T, cfg Config, each func(*Frame)) runStats {
	t.Helper()
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rs := runStats{kinds: map[dot11.Kind]int{}}
	h := fnv.New64a()
	var f Frame
	last := int64(-1)
	for a.Next(&f) {
		if f.Time < last {
			t.Fatalf("frame at %d after one at %d", f.Time, last)
		}
		last = f.Time
		rs.kinds[f.Kind]++
		rs.frames++
		if f.Attack {
			rs.attack++
		}
		h.Write(f.Data)
		h.Write([]byte{byte(f.Signal), f.Channel, byte(f.Rate)})
		if each != nil {
			each(&f)
		}
	}
	rs.hash = h.Sum64()
	return rs
}

// TestModel: every frame parses (FCS good) and carries metadata that
// fits its transmitter; the exchanges happen: beacons every 102.4 ms per
// AP, probes answered, associations, roaming by reassociation, goodbyes,
// the flood at its rate; a run repeats exactly with its seed and not with
// another.
func TestModel(t *testing.T) {
	cfg := testConfig(1, 50, 60*time.Second, true)
	var fr dot11.Frame
	rs := run(t, cfg, func(f *Frame) {
		if err := dot11.Parse(f.Data, true, &fr); err != nil || !dot11.CheckFCS(f.Data) {
			t.Fatalf("%v frame at %d: %v", f.Kind, f.Time, err)
		}
		if fr.Kind != f.Kind || f.Freq != 2407+5*uint16(f.Channel) || f.Signal > -10 || f.Signal < -100 || f.Noise != noise2 {
			t.Fatalf("frame %+v parsed as %v", *f, fr.Kind)
		}
		if f.Kind == dot11.Beacon {
			ds, ok := dot11.FindIE(fr.Mgmt.IEs, dot11.IEDSParams)
			if !ok || ds[0] != f.Channel {
				t.Fatalf("beacon on channel %d says %v", f.Channel, ds)
			}
		}
	})
	beacons := float64(rs.kinds[dot11.Beacon]) / 3
	if want := cfg.Duration.Seconds() / 0.1024; math.Abs(beacons-want) > 1 {
		t.Errorf("%.1f beacons per AP, want %.1f", beacons, want)
	}
	for _, k := range []dot11.Kind{dot11.ProbeReq, dot11.ProbeResp, dot11.Auth, dot11.AssocReq, dot11.AssocResp,
		dot11.ReassocReq, dot11.ReassocResp, dot11.Deauth, dot11.Disassoc, dot11.QoSData} {
		if rs.kinds[k] == 0 {
			t.Errorf("no %v frames: %v", k, rs.kinds)
		}
	}
	if rs.kinds[dot11.Auth] != 2*(rs.kinds[dot11.AssocReq]+rs.kinds[dot11.ReassocReq]) {
		t.Errorf("%d authentications for %d associations and %d reassociations", rs.kinds[dot11.Auth], rs.kinds[dot11.AssocReq], rs.kinds[dot11.ReassocReq])
	}
	if math.Abs(float64(rs.attack)-2000) > 100 {
		t.Errorf("%d flood frames, want about 10 s × 200", rs.attack)
	}
	if again := run(t, cfg, nil); again.hash != rs.hash {
		t.Error("a second run with the same seed differs")
	}
	cfg.Seed = 2
	if other := run(t, cfg, nil); other.hash == rs.hash {
		t.Error("another seed gives the same frames")
	}
	t.Logf("%d frames: %v", rs.frames, rs.kinds)
}

// TestOracles: gopacket decodes every frame of a run, and tshark reads up
// to 30 frames of each kind the model emits without a malformed packet or
// an expert warning, with a good FCS.
func TestOracles(t *testing.T) {
	var frames [][]byte
	per := map[dot11.Kind]int{}
	run(t, testConfig(3, 30, 40*time.Second, true), func(f *Frame) {
		dot11test.Gopacket(t, f.Data)
		if per[f.Kind] < 30 {
			per[f.Kind]++
			frames = append(frames, append([]byte(nil), f.Data...))
		}
	})
	got := dot11test.Tshark(t, frames, true)
	for i, d := range got {
		if d.TypeSubtype != int(frames[i][0]>>4|(frames[i][0]>>2&3)<<4) {
			t.Errorf("frame %d: tshark type_subtype %#x", i+1, d.TypeSubtype)
		}
	}
	t.Logf("%d frames of %d kinds to tshark", len(frames), len(per))
}

// TestNoAllocs: the model allocates nothing per frame.
func TestNoAllocs(t *testing.T) {
	a, err := New(testConfig(4, 200, time.Hour, true))
	if err != nil {
		t.Fatal(err)
	}
	var f Frame
	for range 10000 { // past the arrivals' first scans
		a.Next(&f)
	}
	if n := testing.AllocsPerRun(20000, func() { a.Next(&f) }); n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// TestBadConfig: what New refuses.
func TestBadConfig(t *testing.T) {
	good := testConfig(1, 10, time.Second, true)
	cases := []struct {
		name string
		edit func(*Config)
	}{
		{"no band", func(c *Config) { c.Band = 0 }},
		{"no APs", func(c *Config) { c.APs = nil }},
		{"channel outside the band", func(c *Config) { c.APs[1].Channel = 36 }},
		{"long SSID", func(c *Config) { c.APs[0].SSID = "0123456789012345678901234567890123" }},
		{"no duration", func(c *Config) { c.Duration = 0 }},
		{"attack on no AP", func(c *Config) { c.Attack.AP = 3 }},
		{"attack without rate", func(c *Config) { c.Attack.Rate = 0 }},
		{"negative stations", func(c *Config) { c.Stations = -1 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := good
			cfg.APs = append([]AP(nil), good.APs...)
			at := *good.Attack
			cfg.Attack = &at
			c.edit(&cfg)
			if _, err := New(cfg); !errors.Is(err, ErrConfig) {
				t.Errorf("New: %v", err)
			}
		})
	}
}

// TestBand5GHz: on 5 GHz the scan covers its 24 channels, management
// frames go at 6 Mb/s and frequencies are 5000 + 5 × channel.
func TestBand5GHz(t *testing.T) {
	cfg := testConfig(5, 5, 5*time.Second, false)
	cfg.Band = Band5GHz
	for i, ch := range []uint8{36, 100, 149} {
		cfg.APs[i].Channel = ch
	}
	chans := map[uint8]bool{}
	run(t, cfg, func(f *Frame) {
		if f.Freq != 5000+5*uint16(f.Channel) || f.Noise != noise5 {
			t.Fatalf("channel %d at %d MHz, noise %d", f.Channel, f.Freq, f.Noise)
		}
		if f.Kind == dot11.ProbeReq {
			chans[f.Channel] = true
			if f.Rate != 12 {
				t.Fatalf("probe request at rate %d", f.Rate)
			}
		}
	})
	if len(chans) != len(channels5) {
		t.Errorf("probes on %d channels, want %d", len(chans), len(channels5))
	}
}

func BenchmarkNext(b *testing.B) {
	a, err := New(testConfig(6, 200, 1000*time.Hour, false))
	if err != nil {
		b.Fatal(err)
	}
	var f Frame
	b.ReportAllocs()
	for b.Loop() {
		a.Next(&f)
	}
}

// TestRadiotap: the metadata of every frame, written as a radiotap header
// (link type 127), reads back in tshark as the model gave it: signal,
// noise, channel frequency and rate.
func TestRadiotap(t *testing.T) {
	testutil.NeedTools(t, "tshark")
	var recs [][]byte
	var want []Frame
	var r radiotap.Fields
	run(t, testConfig(9, 10, 20*time.Second, true), func(f *Frame) {
		if len(recs)%50 == 0 || f.Kind != dot11.QoSData && len(recs) < 400 {
			f.Radio(&r)
			rec := radiotap.Append(nil, &r)
			recs = append(recs, append(rec, f.Data...))
			want = append(want, *f)
		}
	})
	path := filepath.Join(t.TempDir(), "radiotap.pcap")
	dot11test.WritePcapLink(t, path, layers.LinkTypeIEEE80211Radio, recs)
	out, err := exec.Command("tshark", "-r", path, "-o", "wlan.check_checksum:TRUE", "-T", "fields", "-E", "separator=/t",
		"-e", "radiotap.dbm_antsignal", "-e", "radiotap.dbm_antnoise", "-e", "radiotap.channel.freq", "-e", "radiotap.datarate", "-e", "wlan.fcs.status", "-e", "_ws.malformed").Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("tshark read %d records, wrote %d", len(lines), len(want))
	}
	for i, l := range lines {
		f := want[i]
		rate := strconv.FormatFloat(float64(f.Rate)/2, 'f', -1, 64)
		exp := fmt.Sprintf("%d\t%d\t%d\t%s\t1\t", f.Signal, f.Noise, f.Freq, rate)
		if l != exp {
			t.Errorf("record %d (%v): tshark %q, want %q", i+1, f.Kind, l, exp)
		}
	}
}
