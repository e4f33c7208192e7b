package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

// The tests of this file are issue 15's, "the first hour of a new user":
// no silent wrong results in replay.

func udp(t *testing.T, payload int) []byte {
	return frame(t, wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 53, Payload: bytes.Repeat([]byte{'x'}, payload)})
}

// TestReplayQdiscCounters: what a qdisc drops is in the summary and the
// statistics JSON, per device and per qdisc (item 2: tbf's and
// fq_codel's drops showed as tx_dropped 0, egress_drops 0). The oracle is
// conservation: every frame injected is either written or counted as
// dropped by the qdisc.
func TestReplayQdiscCounters(t *testing.T) {
	for _, q := range []string{
		"tbf rate 1mbit burst 5k limit 10k",
		"fq_codel limit 8",
		"pfifo limit 5",
	} {
		t.Run(strings.Fields(q)[0], func(t *testing.T) {
			dir := t.TempDir()
			in, out, rules, st := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap"), filepath.Join(dir, "r.tc"), filepath.Join(dir, "s.json")
			base := time.Unix(1700000000, 0)
			var frames []capFrame
			for i := range 50 {
				frames = append(frames, capFrame{base.Add(time.Duration(i) * time.Microsecond), udp(t, 958)})
			}
			writePcap(t, in, frames)
			os.WriteFile(rules, []byte("link set dev eth1 rate 1mbit\nqdisc add dev eth1 root handle 1: "+q+
				"\nfilter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
			sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Out: []Port{{"eth1", out}}, Stats: st, Pool: testutil.Pool(t, pkt.PoolConfig{})})
			if err != nil {
				t.Fatal(err)
			}
			d := sum.Devices["eth1"]
			if len(d.Qdiscs) != 1 || d.Qdiscs[0].Kind != strings.Fields(q)[0] || d.Qdiscs[0].Handle != 0x10000 {
				t.Fatalf("eth1's qdiscs %+v", d.Qdiscs)
			}
			qs := d.Qdiscs[0]
			written := len(readPcap(t, out))
			if qs.Drops == 0 || uint64(written)+qs.Drops != 50 {
				t.Errorf("%d written + %d dropped by the qdisc, want 50 and some drops", written, qs.Drops)
			}
			if qs.Packets != uint64(written) || qs.Backlog != 0 || qs.Qlen != 0 {
				t.Errorf("qdisc %+v: want %d sent and nothing queued at the end", qs, written)
			}
			b, _ := os.ReadFile(st)
			var doc struct {
				Devices map[string]struct {
					Qdiscs []struct {
						Kind       string  `json:"kind"`
						Drops      *uint64 `json:"drops"`
						Overlimits *uint64 `json:"overlimits"`
						Requeues   *uint64 `json:"requeues"`
						Backlog    *uint64 `json:"backlog"`
						Qlen       *uint64 `json:"qlen"`
					} `json:"qdiscs"`
				} `json:"devices"`
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			jq := doc.Devices["eth1"].Qdiscs
			if len(jq) != 1 || jq[0].Drops == nil || *jq[0].Drops != qs.Drops || jq[0].Overlimits == nil ||
				jq[0].Requeues == nil || jq[0].Backlog == nil || jq[0].Qlen == nil {
				t.Errorf("stats JSON eth1 qdiscs %s", b)
			}
		})
	}
}

// TestReplayOutputsCollide: two outputs naming one file are an error
// before anything runs, however the path is spelled; and an error leaves
// no output files behind (item 3).
func TestReplayOutputsCollide(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	in, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "r.tc")
	writePcap(t, in, []capFrame{{time.Unix(1, 0), udp(t, 40)}})
	os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress mirror dev eth1 pipe action mirred egress redirect dev eth2\n"), 0o644)
	same := filepath.Join(dir, "same.pcap")
	for _, c := range []struct {
		name string
		cfg  Config
		says string
	}{
		{"two outs", Config{Out: []Port{{"eth1", same}, {"eth2", same}}}, "name one file"},
		{"spelled differently", Config{Out: []Port{{"eth1", "same.pcap"}, {"eth2", "./x/../same.pcap"}}}, "name one file"},
		{"out is stats", Config{Out: []Port{{"eth1", same}}, Stats: "same.pcap"}, "name one file"},
		{"out is show", Config{Out: []Port{{"eth1", same}}, ShowPath: same}, "name one file"},
		{"out is rules", Config{Out: []Port{{"eth1", rules}}}, "rules file"},
		{"out is in", Config{Out: []Port{{"eth1", "in.pcap"}}}, "also an input"},
		{"dev twice", Config{Out: []Port{{"eth1", same}, {"eth1", "other.pcap"}}}, "given twice"},
		{"bad rules", Config{Out: []Port{{"eth1", same}}, Stats: "s.json", ShowPath: "show.txt"}, "dst_prot"},
		{"second out unwritable", Config{Out: []Port{{"eth1", same}, {"eth2", filepath.Join(dir, "nodir", "o.pcap")}}, Stats: "s.json"}, "nodir"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.In, c.cfg.Rules = []Port{{"eth0", in}}, rules
			if c.name == "bad rules" {
				bad := filepath.Join(dir, "bad.tc")
				os.WriteFile(bad, []byte("qdisc show\nfilter add dev eth0 ingress protocol ip flower dst_prot 53\n"), 0o644)
				c.cfg.Rules = bad
			}
			_, err := Run(c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err %v, want one saying %q", err, c.says)
			}
			for _, f := range []string{"same.pcap", "other.pcap", "s.json", "show.txt"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s left behind", f)
				}
			}
		})
	}
	// Both outputs in files of their own: both are written.
	sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Out: []Port{{"eth1", "a.pcap"}, {"eth2", "b.pcap"}}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written["eth1"] != 1 || sum.Written["eth2"] != 1 || len(readPcap(t, "a.pcap")) != 1 || len(readPcap(t, "b.pcap")) != 1 {
		t.Errorf("written %v", sum.Written)
	}
}

// TestReplayCutCapture: a capture that ends inside a record replays its
// whole records, says where it was cut, and fails unless AcceptTruncated
// (item 4), for pcap and pcapng, cut in a record's data, right after a
// header, and inside the first record's header.
func TestReplayCutCapture(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "r.tc")
	os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
	f := udp(t, 58) // 100 bytes
	base := time.Unix(1700000000, 0)
	whole := filepath.Join(dir, "whole.pcap")
	writePcap(t, whole, []capFrame{{base, f}, {base.Add(time.Millisecond), f}, {base.Add(2 * time.Millisecond), f}})
	pcap, _ := os.ReadFile(whole)
	// 24-byte file header, then 16-byte record headers and 100-byte frames.
	if len(pcap) != 24+3*116 {
		t.Fatalf("pcap of %d bytes", len(pcap))
	}
	var ng bytes.Buffer
	nw, err := pcapgo.NewNgWriter(&ng, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		nw.WritePacket(gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Millisecond), CaptureLength: len(f), Length: len(f)}, f)
	}
	nw.Flush()
	pcapng := ng.Bytes()
	for _, c := range []struct {
		name    string
		data    []byte
		records int   // whole records
		offset  int64 // where the cut record starts; -1: not checked
	}{
		{"pcap in the data", pcap[:len(pcap)-10], 2, 24 + 2*116},
		{"pcap after a header", pcap[:24+2*116+16], 2, 24 + 2*116},
		{"pcap in the first header", pcap[:24+7], 0, 24},
		{"pcap in the first data", pcap[:24+16+50], 0, 24},
		{"pcapng in the last block", pcapng[:len(pcapng)-9], 2, -1},
	} {
		t.Run(c.name, func(t *testing.T) {
			in, out := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap")
			os.WriteFile(in, c.data, 0o644)
			var logb bytes.Buffer
			cfg := Config{Rules: rules, In: []Port{{"eth0", in}}, Out: []Port{{"eth1", out}}, Pool: testutil.Pool(t, pkt.PoolConfig{}),
				Logger: slog.New(slog.NewTextHandler(&logb, nil))}
			sum, err := Run(cfg)
			if !errors.Is(err, ErrTruncated) {
				t.Fatalf("err %v, want ErrTruncated", err)
			}
			if sum == nil || len(sum.Cut) != 1 {
				t.Fatalf("summary %+v", sum)
			}
			cut := sum.Cut[0]
			if cut.Records != c.records || c.offset >= 0 && cut.Offset != c.offset || cut.Size != int64(len(c.data)) {
				t.Errorf("cut %+v, want %d records, offset %d, size %d", cut, c.records, c.offset, len(c.data))
			}
			if !strings.Contains(err.Error(), cut.String()) {
				t.Errorf("err %q / log %q do not say where", err, logb.String())
			}
			if n := len(readPcap(t, out)); n != c.records || sum.Written["eth1"] != c.records {
				t.Errorf("%d frames written (summary %d), want the %d whole records", n, sum.Written["eth1"], c.records)
			}
			cfg.AcceptTruncated = true
			sum, err = Run(cfg)
			if err != nil || len(sum.Cut) != 1 {
				t.Errorf("AcceptTruncated: err %v, cut %+v", err, sum.Cut)
			}
			if !strings.Contains(logb.String(), "cut short") {
				t.Errorf("an accepted cut was not logged: %q", logb.String())
			}
		})
	}
	// Cut inside the file header: nothing can be replayed, not even
	// with AcceptTruncated, and the error says so.
	for _, data := range [][]byte{pcap[:10], pcapng[:20]} {
		in := filepath.Join(dir, "short.pcap")
		os.WriteFile(in, data, 0o644)
		_, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Devices: []string{"eth1"}, AcceptTruncated: true})
		if err == nil || !strings.Contains(err.Error(), "cut short") || !strings.Contains(err.Error(), fmt.Sprintf("%d bytes", len(data))) {
			t.Errorf("a %d-byte capture: %v", len(data), err)
		}
	}
	// A whole capture is not cut.
	sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", whole}}, Devices: []string{"eth1"}})
	if err != nil || len(sum.Cut) != 0 || sum.Injected["eth0"] != 3 {
		t.Errorf("whole capture: %v %+v", err, sum)
	}
}

// TestReplayShowCommands: show commands in a rules file print where the
// user sees them (item 5): Config.Show, or the file ShowPath.
func TestReplayShowCommands(t *testing.T) {
	dir := t.TempDir()
	in, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "r.tc")
	writePcap(t, in, []capFrame{{time.Unix(1, 0), udp(t, 40)}})
	os.WriteFile(rules, []byte(`qdisc replace dev eth1 root handle 1: fq_codel
filter add dev eth0 ingress matchall action mirred egress redirect dev eth1
filter add dev eth2 ingress matchall action mirred ingress redirect dev eth3
filter add dev eth3 ingress matchall action mirred ingress redirect dev eth2
qdisc show dev eth1
loops show
actions ls action mirred
`), 0o644)
	var show, logb bytes.Buffer
	_, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Devices: []string{"eth1", "eth2", "eth3"}, Show: &show, Logger: slog.New(slog.NewTextHandler(&logb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"qdisc fq_codel 1: root", "cycle 1: ", "total acts 3", "Egress Redirect to device eth1"} {
		if !strings.Contains(show.String(), want) {
			t.Errorf("show output lacks %q:\n%s", want, show.String())
		}
	}
	// The filter that closed a cycle was installed with a warning, which
	// is logged rather than lost.
	if !strings.Contains(logb.String(), "redirect cycle") {
		t.Errorf("the loop warning was not logged: %q", logb.String())
	}
	path := filepath.Join(dir, "show.txt")
	if _, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Devices: []string{"eth1", "eth2", "eth3"}, ShowPath: path}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != show.String() {
		t.Errorf("--show file:\n%s\nwant:\n%s", b, show.String())
	}
}

// TestReplayShortFrames: frames of 0, 3 and 13 bytes are counted as RX
// errors and dropped on receive, not forwarded (item 6).
func TestReplayShortFrames(t *testing.T) {
	dir := t.TempDir()
	in, out, rules, st := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap"), filepath.Join(dir, "r.tc"), filepath.Join(dir, "s.json")
	t0 := time.Unix(1, 0)
	good := udp(t, 40)
	writePcap(t, in, []capFrame{{t0, []byte{}}, {t0, good[:3]}, {t0, good[:13]}, {t0, good[:14]}, {t0, good}})
	os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
	sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Out: []Port{{"eth1", out}}, Stats: st, Pool: testutil.Pool(t, pkt.PoolConfig{})})
	if err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, out)
	if len(got) != 2 || len(got[0].frame) != 14 || !bytes.Equal(got[1].frame, good) {
		t.Errorf("%d frames forwarded, want the 14-byte one and the whole one", len(got))
	}
	if e := sum.Devices["eth0"].RxErrors; e != 3 {
		t.Errorf("eth0 rx errors %d, want 3", e)
	}
	b, _ := os.ReadFile(st)
	var doc struct {
		Devices map[string]struct {
			Stats map[string]uint64 `json:"stats"`
		} `json:"devices"`
	}
	json.Unmarshal(b, &doc)
	if e := doc.Devices["eth0"].Stats["rx_errors"]; e != 3 {
		t.Errorf("stats JSON rx_errors %d, want 3", e)
	}
}

// TestReplayBackwardTimestamps: packets timestamped before the packet
// replayed before them enter at that packet's time; this is warned once
// per capture, with the frame number, and counted (item 7).
func TestReplayBackwardTimestamps(t *testing.T) {
	dir := t.TempDir()
	in, out, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap"), filepath.Join(dir, "r.tc")
	t0 := time.Unix(1700000000, 0)
	f := udp(t, 40)
	writePcap(t, in, []capFrame{{t0, f}, {t0.Add(2 * time.Second), f}, {t0.Add(time.Second), f}, {t0.Add(3 * time.Second), f}, {t0, f}})
	os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
	var logb bytes.Buffer
	sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", in}}, Out: []Port{{"eth1", out}}, Logger: slog.New(slog.NewTextHandler(&logb, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Late["eth0"] != 2 {
		t.Errorf("late %v, want 2 on eth0", sum.Late)
	}
	if n := strings.Count(logb.String(), "timestamps go backwards"); n != 1 || !strings.Contains(logb.String(), "packet=3") {
		t.Errorf("%d warnings, want one naming packet 3:\n%s", n, logb.String())
	}
	got := readPcap(t, out)
	want := []time.Duration{0, 2 * time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second}
	for i, g := range got {
		if d := g.ts.Sub(t0); i < len(want) && d != want[i] {
			t.Errorf("frame %d left at +%v, want +%v", i+1, d, want[i])
		}
	}
}
