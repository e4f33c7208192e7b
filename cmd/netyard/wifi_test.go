package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/wifi/dot11/dot11test"
	"netyard/wifi/radiotap"
)

// mgmtFrame is a management frame of subtype sub from sa, with a body of
// n bytes.
func mgmtFrame(sub byte, sa [6]byte, n int) []byte {
	f := []byte{sub << 4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	f = append(f, sa[:]...)
	f = append(f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x10, 0)
	return append(f, make([]byte, n)...)
}

// writeAir writes a radiotap capture: per round, one probe request (from
// 00:1b:63:..., signal -42 at 2412 MHz) among nine beacons (-70 at 2437).
func writeAir(t *testing.T, path string, rounds int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeIEEE80211Radio); err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1_700_000_000, 0)
	for r := range rounds {
		for i := range 10 {
			rt := radiotap.Fields{Present: 1<<radiotap.TSFT | 1<<radiotap.Channel | 1<<radiotap.AntSignal | 1<<radiotap.RateBit,
				TSFT: uint64(r*10 + i), Freq: 2437, ChanFlags: radiotap.Chan2GHz | radiotap.ChanOFDM, Signal: -70, Rate: 12}
			fr := mgmtFrame(8, [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, 40)
			if i == 3 {
				rt.Freq, rt.Signal = 2412, -42
				fr = mgmtFrame(4, [6]byte{0, 0x1b, 0x63, 1, 2, byte(r)}, 12)
			}
			b := append(radiotap.Append(nil, &rt), fr...)
			if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(b), Length: len(b)}, b); err != nil {
				t.Fatal(err)
			}
			ts = ts.Add(time.Millisecond)
		}
	}
}

// TestDaemonWifiCapture: a pcap device plays a radiotap capture onto an
// 802.11 device in real time; a bpf program at its hook keeps the probe
// requests, and `netyard capture` streams exactly those (with a radiotap
// header gopacket reads: the original signal and channel), while
// `capture ... monitor` streams every frame; dev show prints the device
// back with its link layer and progress; bad requests get errors in
// words.
func TestDaemonWifiCapture(t *testing.T) {
	sock := startBPFDaemon(t, daemonConfig{})
	dir := t.TempDir()
	air := filepath.Join(dir, "air.pcap")
	writeAir(t, air, 20)
	obj, _ := filepath.Abs("../../examples/bpf/wifi_probes.o")
	tc := mustCLI(t, sock, "tc")
	tc("dev", "add", "air", "type", "pcap", "file", air, "rate", "2000", "loop", "0")
	tc("dev", "add", "w1", "type", "memory", "link", "ieee80211")
	tc("qdisc", "add", "dev", "air", "clsact")
	tc("filter", "add", "dev", "air", "ingress", "bpf", "da", "obj", obj, "sec", "netyard/wifi")

	out := filepath.Join(dir, "kept.pcap")
	if o, e, code := cli(sock, "capture", "dev", "air", "count", "6", "file", out); code != 0 {
		t.Fatalf("capture: exit %d: %s %s", code, o, e)
	}
	checkCapture(t, out, 6, func(i int, rt *layers.RadioTap, fr []byte) {
		v := rt.RadioTapValues[0]
		if fr[0] != 0x40 || v.DBMAntennaSignal != -42 || v.ChannelFrequency != 2412 || !bytes.Equal(fr[10:13], []byte{0, 0x1b, 0x63}) {
			t.Errorf("kept record %d: fc %#x signal %d freq %d sa %x: want probe requests from 00:1b:63 at -42 dBm, 2412 MHz",
				i, fr[0], v.DBMAntennaSignal, v.ChannelFrequency, fr[10:16])
		}
	})
	mon := filepath.Join(dir, "mon.pcap")
	if o, e, code := cli(sock, "capture", "dev", "air", "monitor", "count", "30", "snap", "24", "file", mon); code != 0 {
		t.Fatalf("capture monitor: exit %d: %s %s", code, o, e)
	}
	beacons := 0
	checkCapture(t, mon, 30, func(i int, rt *layers.RadioTap, fr []byte) {
		if len(fr) != 24 {
			t.Errorf("monitor record %d: %d bytes of frame, want the snap length 24", i, len(fr))
		}
		if fr[0] == 0x80 {
			beacons++
		}
	})
	if beacons < 20 {
		t.Errorf("monitor: %d beacons in 30 frames: it should see every frame", beacons)
	}

	show := tc("dev", "show")
	for _, want := range []string{"dev air type pcap file " + air + " rate 2000 loop 0 link ieee80211 queues 1", "dev w1 type memory link ieee80211 queues 1"} {
		if !strings.Contains(show, want) {
			t.Errorf("dev show lacks %q:\n%s", want, show)
		}
	}
	if s := tc("-s", "dev", "show", "dev", "air"); !strings.Contains(s, "played: ") {
		t.Errorf("dev show -s: no progress:\n%s", s)
	}
	var js []struct {
		File      string  `json:"file"`
		Rate      float64 `json:"rate"`
		Loop      int     `json:"loop"`
		LinkLayer string  `json:"link_layer"`
	}
	if err := json.Unmarshal([]byte(tc("-j", "dev", "show", "dev", "air")), &js); err != nil || len(js) != 1 ||
		js[0].File != air || js[0].Rate != 2000 || js[0].Loop != 0 || js[0].LinkLayer != "ieee80211" {
		t.Errorf("dev show -j: %v %+v", err, js)
	}

	// Errors in words.
	eth := filepath.Join(dir, "eth.pcap")
	writeEthernet(t, eth)
	for _, c := range []struct {
		cmd  []string
		says string
	}{
		{[]string{"tc", "dev", "add", "x1", "type", "pcap", "file", filepath.Join(dir, "none.pcap")}, "no such file"},
		{[]string{"tc", "dev", "add", "x2", "type", "pcap", "file", obj}, "not a capture"},
		{[]string{"tc", "dev", "add", "x3", "type", "pcap", "file", eth, "link", "ieee80211"}, "ethernet capture, not ieee80211"},
		{[]string{"capture", "dev", "eth0", "file", filepath.Join(dir, "e.pcap")}, "not an 802.11 device"},
		{[]string{"capture", "dev", "nope", "file", filepath.Join(dir, "n.pcap")}, "nope"},
		{[]string{"capture", "dev", "air", "snap", "x"}, "expected a number"},
	} {
		_, e, code := cli(sock, c.cmd[0], c.cmd[1:]...)
		if code == 0 || !strings.Contains(e, c.says) {
			t.Errorf("%v: exit %d, stderr %q; want an error saying %q", c.cmd, code, e, c.says)
		}
	}
	// An Ethernet capture makes an Ethernet device.
	tc("dev", "add", "e1", "type", "pcap", "file", eth, "topspeed")
	if s := tc("dev", "show", "dev", "e1"); !strings.Contains(s, "topspeed link ethernet") {
		t.Errorf("dev show e1: %s", s)
	}
	// Deleting a playing device stops its player (it plays for ever).
	tc("dev", "del", "air")
	if s := tc("dev", "show"); strings.Contains(s, "dev air ") {
		t.Errorf("dev show after dev del air:\n%s", s)
	}
}

func writeEthernet(t *testing.T, path string) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	fr := make([]byte, 60)
	binary.BigEndian.PutUint16(fr[12:], 0x88b5)
	w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: 60, Length: 60}, fr)
}

// checkCapture reads a radiotap pcap with gopacket: n records, each
// checked by check with its radiotap layer and 802.11 bytes.
func checkCapture(t *testing.T, path string, n int, check func(i int, rt *layers.RadioTap, frame []byte)) {
	t.Helper()
	rts, frames := dot11test.ReadRadiotap(t, path)
	for i := range rts {
		check(i, rts[i], frames[i])
	}
	if len(rts) != n {
		t.Errorf("%s: %d records, want %d", path, len(rts), n)
	}
}
