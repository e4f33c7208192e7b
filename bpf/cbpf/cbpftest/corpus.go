// Package cbpftest holds what the classic BPF tests share: a capture of
// assorted frames and the tcpdump expressions run over it, for the
// oracles that compare netyard with tcpdump (package cbpf's tests, and
// `netyard replay` with a bytecode filter).
package cbpftest

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/wire"
)

// Expressions are the tcpdump filters the oracles run: the three
// (port 80, vlan and udp, a 20-term or of hosts) and one for each kind of
// code libpcap generates (protocol chains, VLAN offsets, fragments, TCP
// flags through the IP header length, lengths, MAC addresses).
var Expressions = []string{
	"ip and tcp dst port 80",
	"vlan and udp",
	HostsOr(20),
	"arp",
	"ip6",
	"icmp",
	"tcp[tcpflags] & tcp-syn != 0",
	"udp",
	"tcp",
	"not ip",
	"ip6 and tcp dst port 80",
	"vlan 100",
	"vlan and tcp port 80",
	"port 53",
	"ip[6:2] & 0x1fff != 0",
	"less 64",
	"greater 100",
	"ether broadcast",
	"icmp6",
	"ip host 10.0.0.5 and not tcp",
	"net 10.0.0.0/28 and udp",
	"tcp portrange 1000-2000",
	"ether src 02:00:00:00:00:07",
}

// HostsOr is "host 10.0.0.1 or host 10.0.0.2 or ..." with n terms.
func HostsOr(n int) string {
	terms := make([]string, n)
	for i := range terms {
		terms[i] = fmt.Sprintf("host 10.0.0.%d", i+1)
	}
	return strings.Join(terms, " or ")
}

// Frames returns the corpus: IPv4 and IPv6 with TCP (SYN and not, port 80
// and not), UDP, ICMP; VLAN and QinQ tagged frames; ARP; IPv4 fragments
// and options; an 802.3 frame; a truncated frame.
func Frames() [][]byte {
	var out [][]byte
	add := func(s wire.FrameSpec) {
		s.MinLen = 60
		b, err := wire.AppendFrame(nil, &s)
		if err != nil {
			panic(fmt.Sprintf("cbpftest: frame %+v: %v", s, err))
		}
		out = append(out, b)
	}
	mac := func(i byte) wire.MAC { return wire.MAC{2, 0, 0, 0, 0, i} }
	v4 := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 0, 0, byte(i)}) }
	v6 := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("2001:db8::%d", i)) }
	const syn, ack = 0x02, 0x10
	for i := 1; i <= 30; i += 3 {
		add(wire.FrameSpec{Dst: mac(1), Src: mac(byte(i)), SrcIP: v4(i), DstIP: v4(i + 1), Proto: wire.ProtoTCP, SrcPort: 40000 + uint16(i), DstPort: 80, TCPFlags: syn})
		add(wire.FrameSpec{Dst: mac(1), Src: mac(byte(i)), SrcIP: v4(i + 1), DstIP: v4(i), Proto: wire.ProtoTCP, SrcPort: 80, DstPort: 40000 + uint16(i), TCPFlags: ack, Payload: make([]byte, 100)})
		add(wire.FrameSpec{Dst: mac(1), Src: mac(byte(i)), SrcIP: v4(i + 2), DstIP: v4(40), Proto: wire.ProtoUDP, SrcPort: 5353, DstPort: 53, Payload: []byte("query")})
	}
	add(wire.FrameSpec{Dst: mac(1), Src: mac(7), SrcIP: v4(50), DstIP: v4(51), Proto: wire.ProtoTCP, SrcPort: 1500, DstPort: 443, TCPFlags: syn | ack})
	add(wire.FrameSpec{Dst: mac(1), Src: mac(7), SrcIP: v4(5), DstIP: v4(51), Proto: wire.ProtoUDP, SrcPort: 1000, DstPort: 9999})
	add(wire.FrameSpec{Dst: mac(1), Src: mac(8), SrcIP: v4(5), DstIP: v4(52), Proto: wire.ProtoICMP, ICMPType: 8, ICMPID: 1, ICMPSeq: 1})
	add(wire.FrameSpec{Dst: mac(1), Src: mac(8), SrcIP: v4(60), DstIP: v4(61), Proto: wire.ProtoTCP, SrcPort: 1234, DstPort: 80, TCPFlags: syn, IPOptions: []byte{1, 1, 1, 1}})
	// Fragments: a first one with the TCP header, a later one without.
	add(wire.FrameSpec{Dst: mac(1), Src: mac(9), SrcIP: v4(62), DstIP: v4(63), Proto: wire.ProtoTCP, SrcPort: 999, DstPort: 80, TCPFlags: syn, ID: 7, MF: true})
	add(wire.FrameSpec{Dst: mac(1), Src: mac(9), SrcIP: v4(62), DstIP: v4(63), Proto: wire.ProtoTCP, ID: 7, FragOffset: 64, Payload: []byte{0, 80, 0, 80, 1, 2, 3, 4}})
	// VLAN and QinQ.
	for _, vid := range []uint16{100, 200} {
		tags := []wire.Tag{{TPID: wire.EtherTypeVLAN, TCI: vid}}
		add(wire.FrameSpec{Dst: mac(1), Src: mac(10), Tags: tags, SrcIP: v4(3), DstIP: v4(70), Proto: wire.ProtoUDP, SrcPort: 7, DstPort: 53})
		add(wire.FrameSpec{Dst: mac(1), Src: mac(10), Tags: tags, SrcIP: v4(70), DstIP: v4(71), Proto: wire.ProtoTCP, SrcPort: 3000, DstPort: 80, TCPFlags: syn})
		add(wire.FrameSpec{Dst: mac(1), Src: mac(10), Tags: tags, SrcIP: v6(1), DstIP: v6(2), Proto: wire.ProtoUDP, SrcPort: 7, DstPort: 7})
	}
	add(wire.FrameSpec{Dst: mac(1), Src: mac(11), Tags: []wire.Tag{{TPID: wire.EtherTypeQinQ, TCI: 5}, {TPID: wire.EtherTypeVLAN, TCI: 100}},
		SrcIP: v4(80), DstIP: v4(81), Proto: wire.ProtoUDP, SrcPort: 53, DstPort: 53})
	// IPv6.
	add(wire.FrameSpec{Dst: mac(1), Src: mac(12), SrcIP: v6(1), DstIP: v6(2), Proto: wire.ProtoTCP, SrcPort: 5000, DstPort: 80, TCPFlags: syn})
	add(wire.FrameSpec{Dst: mac(1), Src: mac(12), SrcIP: v6(2), DstIP: v6(1), Proto: wire.ProtoUDP, SrcPort: 53, DstPort: 5000, Payload: make([]byte, 80)})
	add(wire.FrameSpec{Dst: mac(1), Src: mac(12), SrcIP: v6(2), DstIP: v6(1), Proto: wire.ProtoICMPv6, ICMPType: 128, ICMPID: 1, ICMPSeq: 1})
	// ARP request (broadcast) and reply.
	arp := func(op byte, dst wire.MAC) {
		body := []byte{0, 1, 8, 0, 6, 4, 0, op, 2, 0, 0, 0, 0, 13, 10, 0, 0, 13, 0, 0, 0, 0, 0, 0, 10, 0, 0, 1}
		add(wire.FrameSpec{Dst: dst, Src: mac(13), EtherType: wire.EtherTypeARP, Payload: body})
	}
	arp(1, wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	arp(2, mac(1))
	// 802.3 with an LLC header, and LLDP.
	add(wire.FrameSpec{Dst: wire.MAC{0x01, 0x80, 0xc2, 0, 0, 0}, Src: mac(14), EtherType: 38, Payload: []byte{0x42, 0x42, 0x03, 0, 0, 0}})
	add(wire.FrameSpec{Dst: wire.MAC{0x01, 0x80, 0xc2, 0, 0, 0x0e}, Src: mac(14), EtherType: 0x88cc, Payload: make([]byte, 30)})
	// A TCP SYN in a portrange, and a truncated IPv4 frame.
	add(wire.FrameSpec{Dst: mac(1), Src: mac(15), SrcIP: v4(90), DstIP: v4(91), Proto: wire.ProtoTCP, SrcPort: 1500, DstPort: 8080, TCPFlags: syn})
	full := out[0]
	out = append(out, append([]byte(nil), full[:30]...))
	return out
}

// WritePcap writes frames to path as an Ethernet capture whose timestamps
// are the frames' indexes in seconds, so that tcpdump -tt names each
// frame it prints by its index.
func WritePcap(path string, frames [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return err
	}
	for i, b := range frames {
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(b), Length: len(b)}
		if err := w.WritePacket(ci, b); err != nil {
			return err
		}
	}
	return f.Close()
}

// Bytecode is `tcpdump -ddd -y EN10MB EXPR`, in tc's one-line form.
func Bytecode(expr string) (string, error) {
	out, err := exec.Command("tcpdump", "-ddd", "-y", "EN10MB", expr).Output()
	if err != nil {
		return "", fmt.Errorf("tcpdump -ddd %q: %w", expr, err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", ","), nil
}

var stamp = regexp.MustCompile(`^(\d+)\.\d+ `)

// Matches is the set of frame indexes `tcpdump -r CAP -tt EXPR` prints.
func Matches(capture, expr string) (map[int]bool, error) {
	out, err := exec.Command("tcpdump", "-r", capture, "-nn", "-tt", expr).Output()
	if err != nil {
		return nil, fmt.Errorf("tcpdump -r %q: %w", expr, err)
	}
	got := map[int]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if m := stamp.FindStringSubmatch(line); m != nil {
			i, _ := strconv.Atoi(m[1])
			got[i] = true
		}
	}
	return got, nil
}
