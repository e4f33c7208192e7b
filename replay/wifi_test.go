package replay

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wifi/dot11/dot11test"
)

// scapyPython is a python3 that imports scapy (.ci/setup installs
// python3-scapy for the system's python3, which a pyenv shim may hide).
func scapyPython(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		if exec.Command(py, "-c", "import scapy.all").Run() == nil {
			return py
		}
	}
	testutil.NeedTools(t, "scapy (python3-scapy)")
	return ""
}

type wifiExpect struct {
	Dot11  string `json:"dot11"`
	Signal int    `json:"signal"`
	Freq   int    `json:"freq"`
}

// wifiCapture builds testdata/wifi_capture.py's capture with scapy: its
// path and the probe requests a filter keeping them must deliver.
func wifiCapture(t *testing.T, dir string) (string, []wifiExpect) {
	py := scapyPython(t)
	in, exp := filepath.Join(dir, "air.pcap"), filepath.Join(dir, "air.json")
	if out, err := exec.Command(py, "testdata/wifi_capture.py", in, exp).CombinedOutput(); err != nil {
		t.Fatalf("scapy: %v\n%s", err, out)
	}
	b, err := os.ReadFile(exp)
	if err != nil {
		t.Fatal(err)
	}
	var want []wifiExpect
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	return in, want
}

// tsharkFields runs tshark -T fields on path: one row per record.
func tsharkFields(t *testing.T, path string, fields ...string) [][]string {
	t.Helper()
	args := []string{"-r", path, "-T", "fields", "-E", "separator=/t"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := exec.Command("tshark", args...).Output()
	if err != nil {
		t.Fatalf("tshark %v: %v", args, err)
	}
	var rows [][]string
	for l := range strings.Lines(string(out)) {
		rows = append(rows, strings.Split(strings.TrimRight(l, "\n"), "\t"))
	}
	return rows
}

// TestReplayWifiProbes is the proof: a radiotap capture built by
// scapy (beacons, probes, authentication, association, data, deauth, a
// bad FCS, a vendor namespace, an unknown field, malformed and cut
// radiotap headers, a runt; FCS present and absent) replayed through a
// bpf filter at the 802.11 hook that keeps probe requests: the output
// holds exactly those frames, their 802.11 bytes unchanged, and tshark
// reads the radiotap header netyard built for each with the original
// signal and channel. The same with the eBPF example (direct action) and
// with tcpdump's classic bytecode for link type 105 (filter + matchall
// drop); the monitor output has every readable frame.
func TestReplayWifiProbes(t *testing.T) {
	testutil.NeedTools(t, "tshark", "tcpdump")
	dir := t.TempDir()
	in, want := wifiCapture(t, dir)
	if len(want) < 8 {
		t.Fatalf("the capture has %d probe requests", len(want))
	}
	bc, err := exec.Command("tcpdump", "-ddd", "-y", "IEEE802_11", "type mgt subtype probe-req").Output()
	if err != nil {
		t.Fatalf("tcpdump -ddd: %v", err)
	}
	bcFile := filepath.Join(dir, "probe.txt")
	if err := os.WriteFile(bcFile, bc, 0o644); err != nil {
		t.Fatal(err)
	}
	obj, _ := filepath.Abs("../examples/bpf/wifi_probes.o")
	// tshark's reading of the input's signals (gopacket cannot read
	// the vendor namespace record)
	inRows := tsharkFields(t, in, "radiotap.dbm_antsignal")
	rules := map[string]string{
		"ebpf":    "filter add dev wlan0 ingress bpf da obj " + obj + " sec netyard/wifi\n",
		"classic": "filter add dev wlan0 ingress pref 1 bpf bytecode-file " + bcFile + " action ok\nfilter add dev wlan0 ingress pref 2 matchall action drop\n",
	}
	for name, r := range rules {
		t.Run(name, func(t *testing.T) {
			rf, out, mon := filepath.Join(dir, name+".tc"), filepath.Join(dir, name+".pcap"), filepath.Join(dir, name+"-mon.pcap")
			if err := os.WriteFile(rf, []byte(r), 0o644); err != nil {
				t.Fatal(err)
			}
			pool := testutil.Pool(t, pkt.PoolConfig{})
			sum, err := Run(Config{Rules: rf, In: []Port{{"wlan0", in}}, Capture: []Port{{"wlan0", out}},
				Monitor: []Port{{"wlan0", mon}}, Pool: pool})
			if err != nil {
				t.Fatal(err)
			}
			// 4 unreadable radiotap headers (a length beyond the
			// record, cut inside, a bitmap past the length, version
			// 1) and a runt: dropped and counted; one unknown field:
			// passed.
			d := sum.Devices["wlan0"]
			if sum.RadiotapErrors != 4 || d.RadiotapErrors != 4 || d.RadiotapUnknown != 1 || d.RxErrors != 5 {
				t.Errorf("radiotap errors %d (device %d), unknown %d, rx errors %d; want 4, 4, 1, 5",
					sum.RadiotapErrors, d.RadiotapErrors, d.RadiotapUnknown, d.RxErrors)
			}
			if sum.Captured["wlan0"] != len(want) {
				t.Errorf("captured %d frames, want the %d probe requests", sum.Captured["wlan0"], len(want))
			}
			rts, frames := dot11test.ReadRadiotap(t, out)
			if len(frames) != len(want) {
				t.Fatalf("%d frames in the output, want %d", len(frames), len(want))
			}
			for i, w := range want {
				if got := hex.EncodeToString(frames[i]); got != w.Dot11 {
					t.Errorf("frame %d: 802.11 bytes\n%s\nwant\n%s", i, got, w.Dot11)
				}
				v := rts[i].RadioTapValues[0]
				if int(v.DBMAntennaSignal) != w.Signal || int(v.ChannelFrequency) != w.Freq {
					t.Errorf("frame %d: gopacket reads signal %d freq %d, want %d %d", i, v.DBMAntennaSignal, v.ChannelFrequency, w.Signal, w.Freq)
				}
			}
			rows := tsharkFields(t, out, "radiotap.dbm_antsignal", "radiotap.channel.freq", "wlan.fc.type_subtype", "_ws.malformed")
			if len(rows) != len(want) {
				t.Fatalf("tshark reads %d records, want %d", len(rows), len(want))
			}
			for i, row := range rows {
				sig, _ := strconv.Atoi(row[0])
				freq, _ := strconv.Atoi(row[1])
				if sig != want[i].Signal || freq != want[i].Freq || row[2] != "0x0004" || row[3] != "" {
					t.Errorf("tshark record %d: %q, want signal %d freq %d subtype 0x0004, not malformed", i+1, row, want[i].Signal, want[i].Freq)
				}
			}
			// The monitor saw every frame that was received (all but
			// the runt of those injected: the unreadable headers
			// were never injected), with its radiotap fields and
			// bytes, read with gopacket as the input's (whose
			// unreadable records come last).
			monRT, monFrames := dot11test.ReadRadiotap(t, mon)
			if len(monFrames) != sum.Injected["wlan0"]-1 || sum.Monitored["wlan0"] != len(monFrames) {
				t.Errorf("monitor: %d records (summary %d), want %d", len(monFrames), sum.Monitored["wlan0"], sum.Injected["wlan0"]-1)
			}
			for i := range min(len(monFrames), len(inRows)) {
				if sig := strconv.Itoa(int(monRT[i].RadioTapValues[0].DBMAntennaSignal)); sig != inRows[i][0] {
					t.Errorf("monitor record %d: signal %s, tshark reads the input's as %q", i+1, sig, inRows[i][0])
					break
				}
			}
		})
	}
}
