package replay

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"netyard/bpf/cbpf/cbpftest"
	"netyard/internal/testutil"
	"netyard/pkt"
)

// ebpfFrames are well-formed frames of a few flows with several DSCPs:
// IPv4 and IPv6, TCP, UDP and ICMP, some behind a VLAN tag.
func ebpfFrames(t *testing.T) [][]byte {
	t.Helper()
	mac1, _ := net.ParseMAC("02:00:00:00:00:01")
	mac2, _ := net.ParseMAC("02:00:00:00:00:02")
	var out [][]byte
	add := func(vlan bool, v6 bool, dscp uint8, proto string, sport, dport uint16, payload int) {
		eth := &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: layers.EthernetTypeIPv4}
		ls := []gopacket.SerializableLayer{eth}
		inner := layers.EthernetTypeIPv4
		if v6 {
			inner = layers.EthernetTypeIPv6
		}
		if vlan {
			eth.EthernetType = layers.EthernetTypeDot1Q
			ls = append(ls, &layers.Dot1Q{VLANIdentifier: 7, Type: inner})
		} else {
			eth.EthernetType = inner
		}
		var nl gopacket.NetworkLayer
		ipproto := map[string]layers.IPProtocol{"tcp": layers.IPProtocolTCP, "udp": layers.IPProtocolUDP, "icmp": layers.IPProtocolICMPv4}[proto]
		if v6 {
			if proto == "icmp" {
				ipproto = layers.IPProtocolICMPv6
			}
			ip := &layers.IPv6{Version: 6, TrafficClass: dscp << 2, HopLimit: 64, NextHeader: ipproto,
				SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP(fmt.Sprintf("2001:db8::%x", 2+sport%3))}
			ls, nl = append(ls, ip), ip
		} else {
			ip := &layers.IPv4{Version: 4, IHL: 5, TOS: dscp << 2, TTL: 64, Protocol: ipproto,
				SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 1, byte(2+sport%3))}
			ls, nl = append(ls, ip), ip
		}
		switch proto {
		case "tcp":
			l := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Window: 100, SYN: true}
			_ = l.SetNetworkLayerForChecksum(nl)
			ls = append(ls, l)
		case "udp":
			l := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
			_ = l.SetNetworkLayerForChecksum(nl)
			ls = append(ls, l)
		case "icmp":
			if v6 {
				l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
				_ = l.SetNetworkLayerForChecksum(nl)
				ls = append(ls, l)
			} else {
				ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0)})
			}
		}
		ls = append(ls, gopacket.Payload(make([]byte, payload)))
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]byte(nil), buf.Bytes()...))
	}
	dscps := []uint8{0, 8, 10, 26, 34, 46, 48, 63}
	for i := range 48 {
		proto := []string{"tcp", "udp", "icmp"}[i%3]
		add(i%5 == 0, i%4 == 1, dscps[i%len(dscps)], proto, uint16(1000+i%6), 80, 10+i*7)
	}
	return out
}

// oracleFlow is what gopacket's decoder makes of a frame: flow_counter.c's
// key (its struct flow_key, as its bytes) and the DSCP.
func oracleFlow(t *testing.T, frame []byte) (key string, dscp int) {
	t.Helper()
	p := gopacket.NewPacket(frame, layers.LayerTypeEthernet, gopacket.Default)
	k := make([]byte, 40)
	if ip := p.Layer(layers.LayerTypeIPv4); ip != nil {
		ip := ip.(*layers.IPv4)
		copy(k[0:], ip.SrcIP.To4())
		copy(k[16:], ip.DstIP.To4())
		k[36], k[37] = byte(ip.Protocol), 4
		dscp = int(ip.TOS >> 2)
	} else if ip := p.Layer(layers.LayerTypeIPv6); ip != nil {
		ip := ip.(*layers.IPv6)
		copy(k[0:], ip.SrcIP)
		copy(k[16:], ip.DstIP)
		k[36], k[37] = byte(ip.NextHeader), 6
		dscp = int(ip.TrafficClass >> 2)
	} else {
		t.Fatalf("frame without IP: %x", frame)
	}
	if l := p.Layer(layers.LayerTypeTCP); l != nil {
		binary.BigEndian.PutUint16(k[32:], uint16(l.(*layers.TCP).SrcPort))
		binary.BigEndian.PutUint16(k[34:], uint16(l.(*layers.TCP).DstPort))
	} else if l := p.Layer(layers.LayerTypeUDP); l != nil {
		binary.BigEndian.PutUint16(k[32:], uint16(l.(*layers.UDP).SrcPort))
		binary.BigEndian.PutUint16(k[34:], uint16(l.(*layers.UDP).DstPort))
	}
	return hex.EncodeToString(k), dscp
}

// jsonBytes reads bpftool's ["0x0a", ...] form.
func jsonBytes(t *testing.T, words []string) []byte {
	t.Helper()
	b := make([]byte, len(words))
	for i, w := range words {
		v, err := strconv.ParseUint(w, 0, 8)
		if err != nil {
			t.Fatalf("byte %q: %v", w, err)
		}
		b[i] = byte(v)
	}
	return b
}

type bpfStatsDoc struct {
	BPF struct {
		Progs []struct {
			ID     uint32  `json:"id"`
			Name   string  `json:"name"`
			Tag    string  `json:"tag"`
			RunCnt *uint64 `json:"run_cnt"`
			Faults uint64  `json:"faults"`
		} `json:"progs"`
		Maps []struct {
			ID      uint32 `json:"id"`
			Name    string `json:"name"`
			Type    string `json:"type"`
			Entries []struct {
				Key   []string `json:"key"`
				Value []string `json:"value"`
			} `json:"entries"`
		} `json:"maps"`
	} `json:"bpf"`
	Devices map[string]struct {
		Qdiscs []struct {
			Kind    string `json:"kind"`
			Handle  string `json:"handle"`
			Parent  string `json:"parent"`
			Packets int    `json:"packets"`
		} `json:"qdiscs"`
	} `json:"devices"`
}

// TestReplayEBPFExamples runs the three examples of examples/bpf from their
// committed objects in `netyard replay` over a capture: the flow counter
// (not direct-action: it returns 0, no match, and the next filter
// redirects) and the sampler at eth0's ingress, the DSCP classifier in
// direct-action mode at eth1's egress, in front of a prio qdisc. The
// counts are checked against gopacket's decoding of the capture: the
// flows map holds each 5-tuple's packets and bytes, dscp_hits each
// DSCP's packets, the prio qdisc's bands got the packets whose priority
// (DSCP>>3, what the program writes to skb->priority) the priomap sends
// there, and the sampler counted every packet.
func TestReplayEBPFExamples(t *testing.T) {
	dir := t.TempDir()
	frames := ebpfFrames(t)
	capture := filepath.Join(dir, "in.pcap")
	if err := cbpftest.WritePcap(capture, frames); err != nil {
		t.Fatal(err)
	}
	ex, err := filepath.Abs("../examples/bpf")
	if err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.tc")
	rule := fmt.Sprintf(`qdisc add dev eth0 clsact
qdisc add dev eth1 clsact
qdisc add dev eth1 root handle 1: prio
qdisc add dev eth1 parent 1:1 handle 10: pfifo
qdisc add dev eth1 parent 1:2 handle 20: pfifo
qdisc add dev eth1 parent 1:3 handle 30: pfifo
filter add dev eth0 ingress pref 1 bpf object-file %[1]s/flow_counter.o section tc
filter add dev eth0 ingress pref 2 bpf obj %[1]s/sampler.o sec sampler
filter add dev eth0 ingress pref 3 matchall action mirred egress redirect dev eth1
filter add dev eth1 egress pref 1 bpf da obj %[1]s/dscp_classifier.o sec tc
`, ex)
	if err := os.WriteFile(rules, []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	stats := filepath.Join(dir, "stats.json")
	out := filepath.Join(dir, "out.pcap")
	pool := testutil.Pool(t, pkt.PoolConfig{})
	sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", capture}}, Out: []Port{{"eth1", out}}, Pool: pool, Stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Written["eth1"] != len(frames) {
		t.Errorf("eth1 wrote %d frames, want all %d", sum.Written["eth1"], len(frames))
	}
	raw, err := os.ReadFile(stats)
	if err != nil {
		t.Fatal(err)
	}
	var doc bpfStatsDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}

	// the oracle
	type fs struct{ packets, bytes uint64 }
	wantFlows := map[string]fs{}
	wantDSCP := map[int]uint64{}
	priomap := [16]int{1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1} // tc's default
	wantBand := map[int]int{}
	for _, f := range frames {
		k, d := oracleFlow(t, f)
		s := wantFlows[k]
		s.packets++
		s.bytes += uint64(len(f))
		wantFlows[k] = s
		wantDSCP[d]++
		wantBand[priomap[(d>>3)&15]]++
	}

	if len(doc.BPF.Progs) != 3 {
		t.Fatalf("%d programs in the statistics, want 3: %+v", len(doc.BPF.Progs), doc.BPF.Progs)
	}
	for _, p := range doc.BPF.Progs {
		if p.RunCnt == nil || *p.RunCnt != uint64(len(frames)) || p.Faults != 0 {
			t.Errorf("program %s: run_cnt %v faults %d, want %d runs, no fault", p.Name, p.RunCnt, p.Faults, len(frames))
		}
	}
	maps := map[string]int{}
	for i, m := range doc.BPF.Maps {
		maps[m.Name] = i
	}
	for _, n := range []string{"flows", "dscp_hits", "dscp_table", "sampler_cfg", "samples"} {
		if _, ok := maps[n]; !ok {
			t.Fatalf("no map %s in %+v", n, doc.BPF.Maps)
		}
	}
	gotFlows := map[string]fs{}
	for _, e := range doc.BPF.Maps[maps["flows"]].Entries {
		v := jsonBytes(t, e.Value)
		gotFlows[hex.EncodeToString(jsonBytes(t, e.Key))] = fs{binary.LittleEndian.Uint64(v), binary.LittleEndian.Uint64(v[8:])}
	}
	if len(gotFlows) != len(wantFlows) {
		t.Errorf("flows map has %d flows, gopacket finds %d", len(gotFlows), len(wantFlows))
	}
	for k, w := range wantFlows {
		if g := gotFlows[k]; g != w {
			t.Errorf("flow %s: map says %d packets %d bytes, gopacket %d packets %d bytes", k, g.packets, g.bytes, w.packets, w.bytes)
		}
	}
	for _, e := range doc.BPF.Maps[maps["dscp_hits"]].Entries {
		d := int(binary.LittleEndian.Uint32(jsonBytes(t, e.Key)))
		if g := binary.LittleEndian.Uint64(jsonBytes(t, e.Value)); g != wantDSCP[d] {
			t.Errorf("dscp_hits[%d] = %d, gopacket counts %d", d, g, wantDSCP[d])
		}
	}
	for _, e := range doc.BPF.Maps[maps["sampler_cfg"]].Entries {
		if k := binary.LittleEndian.Uint32(jsonBytes(t, e.Key)); k == 1 {
			if g := binary.LittleEndian.Uint32(jsonBytes(t, e.Value)); g != uint32(len(frames)) {
				t.Errorf("sampler's packet counter %d, want %d", g, len(frames))
			}
		}
	}
	// the prio qdisc's bands: the pfifos under classes 1:1..1:3
	bands := map[int]int{}
	for _, q := range doc.Devices["eth1"].Qdiscs {
		var b int
		if _, err := fmt.Sscanf(q.Parent, "1:%d", &b); err == nil && q.Kind != "prio" {
			bands[b-1] += q.Packets
		}
	}
	for b := range 3 {
		if bands[b] != wantBand[b] {
			t.Errorf("prio band %d sent %d packets, the priomap of the programs' priorities gives %d", b, bands[b], wantBand[b])
		}
	}
}
