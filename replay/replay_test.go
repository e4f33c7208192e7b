package replay

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

type capFrame struct {
	ts    time.Time
	frame []byte
}

func writePcap(t *testing.T, path string, frames []capFrame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := pcapgo.NewWriterNanos(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, c := range frames {
		ci := gopacket.CaptureInfo{Timestamp: c.ts, CaptureLength: len(c.frame), Length: len(c.frame)}
		if err := w.WritePacket(ci, c.frame); err != nil {
			t.Fatal(err)
		}
	}
}

func readPcap(t *testing.T, path string) []capFrame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []capFrame
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		out = append(out, capFrame{ci.Timestamp, data})
	}
	return out
}

func frame(t *testing.T, s wire.FrameSpec) []byte {
	t.Helper()
	s.Src = wire.MAC{2, 0, 0, 0, 0, 1}
	s.Dst = wire.MAC{2, 0, 0, 0, 0, 2}
	if !s.SrcIP.IsValid() {
		s.SrcIP, s.DstIP = netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.53")
	}
	if s.Payload == nil {
		s.Payload = []byte("a query long enough to need no padding")
	}
	// No MinLen padding: a frame that loses its priority tag is 4 bytes
	// shorter and netyard does not pad what it transmits (a NIC would, on
	// the wire; a capture at the sender shows it unpadded).
	b, err := wire.AppendFrame(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayDNSRedirect is the foundation issue's acceptance test: the
// IPv4 UDP port-53 frames, and only those, leave eth1 byte for byte and in
// order; a VLAN-0 tagged one leaves untagged; fragments do not match (no
// ports, as in the kernel's flower); the action counts them.
func TestReplayDNSRedirect(t *testing.T) {
	dir := t.TempDir()
	v6s, v6d := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::53")
	prioTag := []wire.Tag{{TPID: wire.EtherTypeVLAN, TCI: 5 << 13}}
	vlan10 := []wire.Tag{{TPID: wire.EtherTypeVLAN, TCI: 10}}
	cases := []struct {
		name  string
		spec  wire.FrameSpec
		match bool
	}{
		{"udp 53", wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 1111, DstPort: 53}, true},
		{"udp 80", wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 1111, DstPort: 80}, false},
		{"tcp 53", wire.FrameSpec{Proto: wire.ProtoTCP, SrcPort: 1111, DstPort: 53, TCPFlags: 0x02}, false},
		{"priority-tagged udp 53", wire.FrameSpec{Tags: prioTag, Proto: wire.ProtoUDP, SrcPort: 2222, DstPort: 53}, true},
		{"vlan 10 udp 53", wire.FrameSpec{Tags: vlan10, Proto: wire.ProtoUDP, SrcPort: 1111, DstPort: 53}, false},
		{"ipv6 udp 53", wire.FrameSpec{SrcIP: v6s, DstIP: v6d, Proto: wire.ProtoUDP, SrcPort: 1111, DstPort: 53}, false},
		// Not even a first fragment has ports for flower: fl_classify
		// runs the flow dissector without FLOW_DISSECTOR_F_PARSE_1ST_FRAG.
		{"first fragment udp 53", wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 3333, DstPort: 53, MF: true, ID: 7,
			Payload: bytes.Repeat([]byte{'a'}, 64)}, false},
		{"non-first fragment of udp 53", wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 3333, DstPort: 53, ID: 7, FragOffset: 72,
			Payload: bytes.Repeat([]byte{'b'}, 16)}, false},
		{"udp 53 again", wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 4444, DstPort: 53}, true},
	}
	var in, want []capFrame
	base := time.Unix(1700000000, 0)
	for i, c := range cases {
		f := capFrame{base.Add(time.Duration(i) * time.Millisecond), frame(t, c.spec)}
		in = append(in, f)
		if c.match {
			w := f
			if c.spec.Tags != nil {
				s := c.spec
				s.Tags = nil
				w.frame = frame(t, s)
			}
			want = append(want, w)
		}
	}
	inPath, outPath := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap")
	statsPath, rules := filepath.Join(dir, "stats.json"), filepath.Join(dir, "rules.tc")
	writePcap(t, inPath, in)
	if err := os.WriteFile(rules, []byte("# DNS to eth1\nfilter add dev eth0 ingress protocol ip flower ip_proto udp dst_port 53 action mirred egress redirect dev eth1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pool := testutil.Pool(t, pkt.PoolConfig{})
	sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", inPath}}, Out: []Port{{"eth1", outPath}}, Stats: statsPath, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Injected["eth0"] != len(in) || sum.Written["eth1"] != len(want) {
		t.Fatalf("summary %+v: want %d injected, %d written", sum, len(in), len(want))
	}
	got := readPcap(t, outPath)
	if len(got) != len(want) {
		t.Fatalf("eth1 transmitted %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].frame, want[i].frame) {
			t.Errorf("frame %d differs:\n got % x\nwant % x", i, got[i].frame, want[i].frame)
		}
		if !got[i].ts.Equal(want[i].ts) {
			t.Errorf("frame %d left at %v, want its arrival time %v (no link rate)", i, got[i].ts, want[i].ts)
		}
	}

	// The actions are as "tc -j -s actions ls action mirred" prints them:
	// [{"total acts": N}, {"actions": [...]}].
	var st struct {
		Actions map[string][]struct {
			Actions []struct {
				Index uint32 `json:"index"`
				Stats struct {
					Packets uint64 `json:"packets"`
					Bytes   uint64 `json:"bytes"`
				} `json:"stats"`
			} `json:"actions"`
		} `json:"actions"`
	}
	b, err := os.ReadFile(statsPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("stats.json: %v\n%s", err, b)
	}
	var m []struct {
		Index uint32 `json:"index"`
		Stats struct {
			Packets uint64 `json:"packets"`
			Bytes   uint64 `json:"bytes"`
		} `json:"stats"`
	}
	for _, part := range st.Actions["mirred"] {
		m = append(m, part.Actions...)
	}
	if len(m) != 1 || m[0].Stats.Packets != uint64(len(want)) {
		t.Fatalf("mirred statistics %+v, want %d packets\n%s", m, len(want), b)
	}
	var wantBytes uint64
	for _, c := range cases {
		if c.match {
			// Counted at ingress, after the priority tag came off.
			s := c.spec
			s.Tags = nil
			wantBytes += uint64(len(frame(t, s)))
		}
	}
	if m[0].Stats.Bytes != wantBytes {
		t.Errorf("mirred bytes %d, want %d", m[0].Stats.Bytes, wantBytes)
	}
}

func TestReplayNoRulesForwardsNothing(t *testing.T) {
	dir := t.TempDir()
	inPath, outPath := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap")
	writePcap(t, inPath, []capFrame{{time.Unix(1, 0), frame(t, wire.FrameSpec{Proto: wire.ProtoUDP, DstPort: 53})}})
	pool := testutil.Pool(t, pkt.PoolConfig{})
	sum, err := Run(Config{In: []Port{{"eth0", inPath}}, Out: []Port{{"eth1", outPath}}, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written["eth1"] != 0 || len(readPcap(t, outPath)) != 0 {
		t.Fatal("a device with no rules forwarded a frame")
	}
}

func TestReplayErrors(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "in.pcap")
	writePcap(t, good, nil)
	junk := filepath.Join(dir, "junk.pcap")
	os.WriteFile(junk, []byte("this is not a capture"), 0o644)
	badRules := filepath.Join(dir, "bad.tc")
	os.WriteFile(badRules, []byte("filter add dev eth0 ingress protocol ip flower ip_proto udp dst_prot 53\n"), 0o644)
	for _, c := range []struct {
		name string
		cfg  Config
	}{
		{"no input", Config{}},
		{"missing file", Config{In: []Port{{"eth0", filepath.Join(dir, "nope.pcap")}}}},
		{"not a capture", Config{In: []Port{{"eth0", junk}}}},
		{"bad rules", Config{Rules: badRules, In: []Port{{"eth0", good}}}},
		{"bad device name", Config{In: []Port{{"a-very-long-device-name", good}}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Run(c.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
	if _, err := ParsePort("eth0"); err == nil {
		t.Error("ParsePort without =: no error")
	}
}

// TestReplayLinkRate: a device with a rate transmits no faster than it in
// virtual time, and each frame is written at its departure time (when its
// last byte has left): ten 1250-byte frames arriving together on a 10 Mbit/s
// link leave 1 ms apart.
func TestReplayLinkRate(t *testing.T) {
	dir := t.TempDir()
	inPath, outPath, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "out.pcap"), filepath.Join(dir, "r.tc")
	payload := bytes.Repeat([]byte{'x'}, 1250-14-20-8)
	base := time.Unix(1700000000, 0)
	var in []capFrame
	for range 10 {
		in = append(in, capFrame{base, frame(t, wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 53, Payload: payload})})
	}
	writePcap(t, inPath, in)
	os.WriteFile(rules, []byte("link set dev eth1 rate 10mbit\nfilter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
	pool := testutil.Pool(t, pkt.PoolConfig{})
	if _, err := Run(Config{Rules: rules, In: []Port{{"eth0", inPath}}, Out: []Port{{"eth1", outPath}}, Pool: pool}); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, outPath)
	if len(got) != 10 {
		t.Fatalf("%d frames out, want 10", len(got))
	}
	for i, f := range got {
		if len(f.frame) != 1250 {
			t.Fatalf("frame %d is %d bytes", i, len(f.frame))
		}
		want := base.Add(time.Duration(i+1) * time.Millisecond)
		if !f.ts.Equal(want) {
			t.Errorf("frame %d left at +%v, want +%v", i, f.ts.Sub(base), want.Sub(base))
		}
	}
}

// TestReplayMergesInputsByTime: two captures whose first packets are at
// different times are merged, each packet entering at its own timestamp
// (the clock starts at the earliest of all inputs).
func TestReplayMergesInputsByTime(t *testing.T) {
	dir := t.TempDir()
	a, b, out, rules := filepath.Join(dir, "a.pcap"), filepath.Join(dir, "b.pcap"), filepath.Join(dir, "o.pcap"), filepath.Join(dir, "r.tc")
	t0 := time.Unix(1700000000, 0)
	f := frame(t, wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 2})
	writePcap(t, a, []capFrame{{t0.Add(10 * time.Second), f}})
	writePcap(t, b, []capFrame{{t0, f}, {t0.Add(time.Second), f}})
	os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress redirect dev out\nfilter add dev eth1 ingress matchall action mirred egress redirect dev out\n"), 0o644)
	pool := testutil.Pool(t, pkt.PoolConfig{})
	if _, err := Run(Config{Rules: rules, In: []Port{{"eth0", a}, {"eth1", b}}, Out: []Port{{"out", out}}, Pool: pool}); err != nil {
		t.Fatal(err)
	}
	got := readPcap(t, out)
	want := []time.Time{t0, t0.Add(time.Second), t0.Add(10 * time.Second)}
	if len(got) != len(want) {
		t.Fatalf("%d frames out, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].ts.Equal(want[i]) {
			t.Errorf("frame %d at %v, want %v", i, got[i].ts, want[i])
		}
	}
	if _, err := Run(Config{In: []Port{{"eth0", a}}, Out: []Port{{"eth1", a}}, Pool: pool}); err == nil {
		t.Error("--out naming the --in file: no error")
	}
}
