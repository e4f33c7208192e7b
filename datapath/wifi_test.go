package datapath

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"netyard/bpf/ebpf"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
	"netyard/wifi/radiotap"
)

// wifiFrame is one frame of a test stream with its receive metadata.
type wifiFrame struct {
	data []byte
	rx   radiotap.Fields
	kind string // "probe" (a probe request from the watched OUI), "probe-other", "beacon", "data", "auth"
}

// watchedOUI is the vendor the example program is told to watch.
var watchedOUI = [3]byte{0x00, 0x1b, 0x63}

func mgmt(sub byte, sa [6]byte, body int) []byte {
	f := []byte{sub << 4, 0, 0x3a, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, sa[:]...)
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10, 0x00)
	for i := range body {
		f = append(f, byte(i))
	}
	return f
}

// wifiStream is a realistic mix of n frames (n a multiple of 100): per
// hundred, one probe request from the watched OUI, 40 beacons (some 250
// bytes, as beacons with a few IEs are), 50 data frames of 1000-1500
// bytes, 5 probe requests from other vendors, 4 authentication frames.
// Signal and channel vary.
func wifiStream(n int) []wifiFrame {
	var out []wifiFrame
	for i := range n {
		rx := radiotap.Fields{Present: 1<<radiotap.TSFT | 1<<radiotap.FlagsBit | 1<<radiotap.RateBit | 1<<radiotap.Channel | 1<<radiotap.AntSignal | 1<<radiotap.AntNoise | 1<<radiotap.AntennaBit,
			TSFT: uint64(1000 + i*97), Rate: 12, Freq: []uint16{2412, 2437, 2462, 5180}[i%4], ChanFlags: radiotap.Chan2GHz | radiotap.ChanOFDM,
			Signal: int8(-30 - i%60), Noise: -95, Antenna: uint8(i % 2)}
		sta := [6]byte{0xf0, 0x99, 0xbf, byte(i >> 8), byte(i), 1}
		var f wifiFrame
		switch k := i % 100; {
		case k == 37:
			sa := [6]byte{watchedOUI[0], watchedOUI[1], watchedOUI[2], byte(i >> 8), byte(i), 2}
			f = wifiFrame{mgmt(4, sa, 60), rx, "probe"}
		case k < 40:
			f = wifiFrame{mgmt(8, [6]byte{0, 0x11, 0x22, 0x33, 0x44, byte(k)}, 226), rx, "beacon"}
		case k < 90:
			d := mgmt(0, sta, 976+(k*11)%500)
			d[0], d[1] = 0x08, 0x01 // data, to DS
			f = wifiFrame{d, rx, "data"}
		case k < 95:
			f = wifiFrame{mgmt(4, sta, 60), rx, "probe-other"}
		default:
			f = wifiFrame{mgmt(11, sta, 6), rx, "auth"}
		}
		out = append(out, f)
	}
	return out
}

// wifiEngine is an engine with an 802.11 device wlan0 and the rules run
// on it (a tc batch), with the eBPF loader.
// A nil pool is a leak-checking one.
func wifiEngine(t testing.TB, rules string, pool *pkt.Pool) (*Engine, *Device, *pkt.Pool) {
	t.Helper()
	if pool == nil {
		pool = testutil.Pool(t, pkt.PoolConfig{})
	}
	e := New(Config{Workers: 1, Pool: pool, Clock: &ManualClock{}})
	l := ebpf.NewLoader(e.Workers())
	e.LoadObject = l.LoadObject
	ns := e.Default()
	d, err := e.AddDevice(ns, netdev.Config{Name: "wlan0", Link: netdev.LinkIEEE80211})
	if err != nil {
		t.Fatal(err)
	}
	if rules != "" {
		// a batch file, as tc -b reads it: quoted words stay whole
		f := filepath.Join(t.TempDir(), "rules.tc")
		if err := os.WriteFile(f, []byte(rules), 0o644); err != nil {
			t.Fatal(err)
		}
		var errb strings.Builder
		if err := tcsyntax.Run(ns, []string{"-b", f}, io.Discard, &errb); err != nil {
			t.Fatalf("%s: %v %s", rules, err, errb.String())
		}
	}
	if ps := l.ProgramsIn(ns.Name()); len(ps) > 0 {
		// wifi_probes watches the OUI in wifi_watch[0]
		for _, m := range ps[0].Maps() {
			if m.Spec().Name == "wifi_watch" {
				if err := m.Update([]byte{0, 0, 0, 0}, []byte{watchedOUI[0], watchedOUI[1], watchedOUI[2], 0}, 0); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return e, d, pool
}

// captured is what a listener got: each record's radiotap fields, 802.11
// bytes and original length.
type captured struct {
	rx      []radiotap.Fields
	frames  [][]byte
	origLen []int
}

func (c *captured) listener(t testing.TB) FrameListener {
	return FrameListenerFunc(func(p *pkt.Buffer, origLen int, now int64) {
		var f radiotap.Fields
		n, err := radiotap.Parse(p.Data(), &f)
		if err != nil {
			t.Errorf("listener: the built radiotap header does not read back: %v", err)
		}
		c.rx = append(c.rx, f)
		c.frames = append(c.frames, bytes.Clone(p.Data()[n:]))
		c.origLen = append(c.origLen, origLen-n)
		p.Release()
	})
}

func examplesObj(name string) string {
	p, _ := filepath.Abs("../examples/bpf/" + name)
	return p
}

// TestWifiHook: what the kept and monitor listeners of an 802.11 device
// get, for each way of deciding at the hook; every record read back
// with radiotap.Parse carries the frame's receive metadata, its 802.11
// bytes untouched.
func TestWifiHook(t *testing.T) {
	stream := wifiStream(300)
	count := func(kinds ...string) (n int) {
		for _, f := range stream {
			for _, k := range kinds {
				if f.kind == k {
					n++
				}
			}
		}
		return n
	}
	probes := count("probe")
	tests := []struct {
		name  string
		rules string
		snap  int
		keep  func(f wifiFrame) bool // which frames the kept listener gets
		cut   int                    // bytes of frame each kept record holds at most (0: all)
	}{
		{"no filter: everything is kept", "", 0, func(wifiFrame) bool { return true }, 0},
		{"eBPF: probe requests of the watched OUI",
			"qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress bpf da obj " + examplesObj("wifi_probes.o") + " sec netyard/wifi\n", 0,
			func(f wifiFrame) bool { return f.kind == "probe" }, 0},
		{"classic, direct action: the benchmark's hand-written program keeps what the example keeps",
			wifiRules["classic"], 0, func(f wifiFrame) bool { return f.kind == "probe" }, 0},
		{"eBPF with a snap length",
			"qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress bpf da obj " + examplesObj("wifi_probes.o") + " sec netyard/wifi\n", 24,
			func(f wifiFrame) bool { return f.kind == "probe" }, 24},
		{"classic: signal above -50 dBm (ancillary load), else matchall drop",
			// ld [SKF_AD_OFF+0x100+24]; jgt #-50 (unsigned, two's complement) ; ret #1 ; ret #0
			"qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress pref 1 bpf bytecode \"4,32 0 0 4294963480,37 0 1 4294967246,6 0 0 1,6 0 0 0\" action ok\n" +
				"filter add dev wlan0 ingress pref 2 matchall action drop\n", 0,
			func(f wifiFrame) bool { return f.rx.Signal > -50 }, 0},
		{"eBPF keep_len (the context test program keeps 30 bytes)",
			"qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress bpf da obj " + filepath.Join("..", "bpf", "ebpf", "testdata", "wifi.o") + " sec netyard/wifi\n", 0,
			func(wifiFrame) bool { return true }, 30},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, d, _ := wifiEngine(t, tc.rules, nil)
			var kept, mon, kept2 captured
			if _, err := d.Listen(ListenKept, tc.snap, kept.listener(t)); err != nil {
				t.Fatal(err)
			}
			l2, err := d.Listen(ListenKept, tc.snap, kept2.listener(t))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Listen(ListenMonitor, 0, mon.listener(t)); err != nil {
				t.Fatal(err)
			}
			var want []wifiFrame
			for i, f := range stream {
				if err := d.Inject80211(f.data, &f.rx, int64(i+1)); err != nil {
					t.Fatal(err)
				}
				if tc.keep(f) {
					want = append(want, f)
				}
				if i == len(stream)/2 {
					e.Run()
					l2.Close() // the second listener leaves half way
				}
			}
			e.Run()
			if len(kept.frames) != len(want) {
				t.Fatalf("kept listener: %d frames, want %d", len(kept.frames), len(want))
			}
			for i, f := range want {
				wf := f.data
				if tc.cut > 0 && len(wf) > tc.cut {
					wf = wf[:tc.cut]
				}
				if !bytes.Equal(kept.frames[i], wf) || kept.rx[i] != f.rx || kept.origLen[i] != len(f.data) {
					t.Fatalf("kept frame %d (%s): %d bytes of %d, rx %+v; want %d bytes of %d, rx %+v",
						i, f.kind, len(kept.frames[i]), kept.origLen[i], kept.rx[i], len(wf), len(f.data), f.rx)
				}
			}
			if len(kept2.frames) == 0 || len(kept2.frames) >= len(kept.frames) && len(want) > 1 {
				t.Errorf("second listener: %d frames, want some, fewer than %d (it left half way)", len(kept2.frames), len(kept.frames))
			}
			if len(mon.frames) != len(stream) {
				t.Errorf("monitor: %d frames, want every one of %d", len(mon.frames), len(stream))
			}
			for i := range min(len(mon.frames), len(stream)) {
				if !bytes.Equal(mon.frames[i], stream[i].data) || mon.rx[i] != stream[i].rx {
					t.Fatalf("monitor frame %d differs", i)
				}
			}
			c := d.Counters()
			if int(c.Delivered) != len(want) || int(c.IngressDrops) != len(stream)-len(want) {
				t.Errorf("delivered %d, ingress drops %d; want %d and %d", c.Delivered, c.IngressDrops, len(want), len(stream)-len(want))
			}
		})
	}
	if probes != 3 {
		t.Fatalf("the stream has %d watched probes", probes)
	}
}

// TestWifiHookAllocs: the hook path allocates nothing per frame: neither
// for a frame the program rejects nor for one it keeps (the radiotap
// header is written into the buffer's headroom).
func TestWifiHookAllocs(t *testing.T) {
	// a pool without leak tracking, which allocates to track
	e, d, _ := wifiEngine(t, "qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress bpf da obj "+examplesObj("wifi_probes.o")+" sec netyard/wifi\n",
		pkt.NewPool(pkt.PoolConfig{}))
	n := 0
	if _, err := d.Listen(ListenKept, 0, FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) { n++; p.Release() })); err != nil {
		t.Fatal(err)
	}
	stream := wifiStream(100)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		f := &stream[i%len(stream)]
		i++
		_ = d.Inject80211(f.data, &f.rx, int64(i))
		e.Run()
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame on the hook path", allocs)
	}
	if n == 0 {
		t.Error("nothing kept: the allocation count covers rejected frames only")
	}
}

// TestInjectCapture: capture records of each link type on each kind of
// device, and radiotap headers that cannot be read.
func TestInjectCapture(t *testing.T) {
	e, d, _ := wifiEngine(t, "", nil)
	var got captured
	d.Listen(ListenKept, 0, got.listener(t))
	rx := radiotap.Fields{Present: 1<<radiotap.AntSignal | 1<<radiotap.Channel, Signal: -44, Freq: 2412}
	frame := mgmt(4, [6]byte{1, 2, 3, 4, 5, 6}, 10)
	rec := append(radiotap.Append(nil, &rx), frame...)
	for _, c := range []struct {
		lt     int
		data   []byte
		errSay string
	}{
		{LinkTypeRadiotap, rec, ""},
		{LinkTypeIEEE80211, frame, ""},
		{LinkTypeEthernet, make([]byte, 60), "link type 1 on ieee80211 device"},
		{LinkTypeRadiotap, rec[:6], "radiotap"},
		{LinkTypeRadiotap, append([]byte{0, 0, 0xff, 0}, rec[4:]...), "beyond"},
	} {
		err := d.InjectCapture(c.lt, c.data, 1)
		if c.errSay == "" && err != nil || c.errSay != "" && (err == nil || !strings.Contains(err.Error(), c.errSay)) {
			t.Errorf("link type %d, %d bytes: %v, want %q", c.lt, len(c.data), err, c.errSay)
		}
	}
	e.Run()
	if len(got.frames) != 2 || got.rx[0] != rx || got.rx[1] != (radiotap.Fields{}) || !bytes.Equal(got.frames[1], frame) {
		t.Errorf("got %d frames: %+v", len(got.frames), got.rx)
	}
	if c := d.Counters(); c.RadiotapErrors != 2 || c.RxErrors != 2 {
		t.Errorf("radiotap errors %d, rx errors %d; want 2 and 2", c.RadiotapErrors, c.RxErrors)
	}
	eth, err := e.AddDevice(e.Default(), netdev.Config{Name: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eth.Listen(ListenMonitor, 0, got.listener(t)); err == nil || !strings.Contains(err.Error(), "not an 802.11 device") {
		t.Errorf("listening on an Ethernet device: %v", err)
	}
	if err := eth.InjectCapture(LinkTypeRadiotap, rec, 1); err == nil {
		t.Error("a radiotap record on an Ethernet device was taken")
	}
	e.Run()
}

// FuzzWifiReceive: any capture record, as radiotap or bare 802.11, goes
// through an 802.11 device with programs reading every context field and
// writing keep_len, a kept and a monitor listener: no panic, every
// buffer back in the pool (the leak-checking pool), every record a
// listener gets a radiotap header that reads back.
func FuzzWifiReceive(f *testing.F) {
	rx := radiotap.Fields{Present: radiotap.Kept, Freq: 2412, Signal: -40, MCSKnown: 7, MCSIndex: 7, VHTKnown: 0x44, VHTBandwidth: 4, VHTMCSNSS: [4]uint8{0x91}}
	f.Add(true, append(radiotap.Append(nil, &rx), mgmt(4, [6]byte{0, 0x1b, 0x63, 1, 2, 3}, 20)...))
	f.Add(false, mgmt(8, [6]byte{1}, 3))
	f.Add(true, []byte{0, 0, 12, 0, 0x20, 0, 0, 0x80, 0, 0, 0, 0, 0x40, 0})
	f.Fuzz(func(t *testing.T, withRadiotap bool, rec []byte) {
		e, d, _ := wifiEngine(t, wifiRules["ebpf"]+"filter add dev wlan0 ingress pref 2 bpf da obj "+
			filepath.Join("..", "bpf", "ebpf", "testdata", "wifi.o")+" sec netyard/wifi\n"+
			"filter add dev wlan0 ingress pref 3 bpf da bytecode \""+classicProbes+"\"\n", nil)
		var kept, mon captured
		d.Listen(ListenKept, 0, kept.listener(t))
		d.Listen(ListenMonitor, 7, mon.listener(t))
		lt := LinkTypeIEEE80211
		if withRadiotap {
			lt = LinkTypeRadiotap
		}
		_ = d.InjectCapture(lt, rec, 1)
		e.Run()
	})
}
