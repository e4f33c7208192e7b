package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"

	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

var (
	macA = wire.MAC{0x02, 0, 0, 0, 0, 0xa}
	macB = wire.MAC{0x02, 0, 0, 0, 0, 0xb}
	ip4A = netip.MustParseAddr("10.99.0.1")
	ip4B = netip.MustParseAddr("10.99.0.2")
	ip6A = netip.MustParseAddr("fd00::a")
	ip6B = netip.MustParseAddr("fd00::b")
)

// l4Frame builds an Ethernet frame carrying a TCP or UDP segment with
// payload bytes of data. With partial, the checksum field holds what a
// stack using checksum offload leaves there (CHECKSUM_PARTIAL): the
// folded pseudo-header sum, not complemented. ext, for IPv6, is a list of
// extension header types put before the transport header.
func l4Frame(t testing.TB, tags []wire.Tag, v6 bool, proto uint8, payload int, partial bool, ext ...uint8) []byte {
	t.Helper()
	var seg []byte
	switch proto {
	case wire.ProtoUDP:
		u := wire.UDPHeader{SrcPort: 4000, DstPort: 5000, Length: uint16(wire.UDPHeaderLen + payload)}
		seg = u.Append(nil)
	case wire.ProtoTCP:
		h := wire.TCPHeader{SrcPort: 4000, DstPort: 5000}
		var err error
		if seg, err = h.Append(nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range payload {
		seg = append(seg, byte(i*7))
	}
	src, dst := ip4A, ip4B
	if v6 {
		src, dst = ip6A, ip6B
	}
	if err := wire.PutTransportChecksum(proto, src, dst, seg); err != nil {
		t.Fatal(err)
	}
	if partial {
		at := map[uint8]int{wire.ProtoTCP: 16, wire.ProtoUDP: 6}[proto]
		pseudo := ^wire.TransportChecksum(proto, src, dst, make([]byte, len(seg)))
		binary.BigEndian.PutUint16(seg[at:], pseudo)
	}
	var f []byte
	if v6 {
		f = wire.AppendEthernet(nil, macB, macA, tags, wire.EtherTypeIPv6)
		next := proto
		if len(ext) > 0 {
			next = ext[0]
		}
		var exts []byte
		for i := range ext {
			nh := proto
			if i+1 < len(ext) {
				nh = ext[i+1]
			}
			var err error
			if exts, err = wire.AppendIPv6Ext(exts, ext[i], nh, []byte{1, 4, 0, 0, 0, 0}); err != nil {
				t.Fatal(err)
			}
		}
		h := wire.IPv6Header{PayloadLen: uint16(len(exts) + len(seg)), NextHeader: next, HopLimit: 64, Src: src, Dst: dst}
		var err error
		if f, err = h.Append(f); err != nil {
			t.Fatal(err)
		}
		f = append(f, exts...)
	} else {
		f = wire.AppendEthernet(nil, macB, macA, tags, wire.EtherTypeIPv4)
		h := wire.IPv4Header{TotalLen: uint16(wire.IPv4MinHeaderLen + len(seg)), TTL: 64, Proto: proto, Src: src, Dst: dst}
		var err error
		if f, err = h.Append(f); err != nil {
			t.Fatal(err)
		}
	}
	return append(f, seg...)
}

func TestCompleteChecksum(t *testing.T) {
	ctag := wire.Tag{TPID: wire.EtherTypeVLAN, TCI: 100}
	stag := wire.Tag{TPID: wire.EtherTypeQinQ, TCI: 7}
	pad := func(f []byte) []byte { return append(f, make([]byte, 64-len(f)%64)...) }
	fragment := func(f []byte) []byte {
		binary.BigEndian.PutUint16(f[14+6:], 0x2000) // MF
		return f
	}
	for _, tc := range []struct {
		name    string
		partial []byte // the frame as the kernel hands it over
		want    []byte // the frame on the wire, nil when it must not change
	}{
		// The property: a partial checksum becomes the checksum the
		// sender's stack would have computed in software.
		{"ipv4 udp", l4Frame(t, nil, false, wire.ProtoUDP, 18, true), l4Frame(t, nil, false, wire.ProtoUDP, 18, false)},
		{"ipv4 tcp", l4Frame(t, nil, false, wire.ProtoTCP, 100, true), l4Frame(t, nil, false, wire.ProtoTCP, 100, false)},
		{"ipv4 udp odd length", l4Frame(t, nil, false, wire.ProtoUDP, 17, true), l4Frame(t, nil, false, wire.ProtoUDP, 17, false)},
		{"ipv6 udp", l4Frame(t, nil, true, wire.ProtoUDP, 30, true), l4Frame(t, nil, true, wire.ProtoUDP, 30, false)},
		{"ipv6 tcp behind hop-by-hop and destination options",
			l4Frame(t, nil, true, wire.ProtoTCP, 9, true, wire.ProtoHopOpts, wire.ProtoDstOpts),
			l4Frame(t, nil, true, wire.ProtoTCP, 9, false, wire.ProtoHopOpts, wire.ProtoDstOpts)},
		{"802.1Q", l4Frame(t, []wire.Tag{ctag}, false, wire.ProtoUDP, 18, true), l4Frame(t, []wire.Tag{ctag}, false, wire.ProtoUDP, 18, false)},
		{"802.1ad over 802.1Q", l4Frame(t, []wire.Tag{stag, ctag}, true, wire.ProtoUDP, 18, true), l4Frame(t, []wire.Tag{stag, ctag}, true, wire.ProtoUDP, 18, false)},
		// Ethernet padding is not part of the segment.
		{"padded", pad(l4Frame(t, nil, false, wire.ProtoUDP, 2, true)), pad(l4Frame(t, nil, false, wire.ProtoUDP, 2, false))},
		// What it cannot place, it leaves alone.
		{"fragment", fragment(l4Frame(t, nil, false, wire.ProtoUDP, 18, true)), nil},
		{"ipv6 fragment header", l4Frame(t, nil, true, wire.ProtoUDP, 18, true, wire.ProtoFragment), nil},
		{"arp", append(wire.AppendEthernet(nil, macB, macA, nil, wire.EtherTypeARP), make([]byte, 28)...), nil},
		{"truncated ipv4", l4Frame(t, nil, false, wire.ProtoUDP, 18, true)[:40], nil},
		{"truncated udp header", l4Frame(t, nil, false, wire.ProtoUDP, 0, true)[:14+20+4], nil},
		{"three tags", l4Frame(t, []wire.Tag{stag, ctag, ctag}, false, wire.ProtoUDP, 18, true), nil},
		{"runt", []byte{1, 2, 3}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bytes.Clone(tc.partial)
			changed := completeChecksum(f)
			want := tc.want
			if want == nil {
				want = tc.partial
			}
			if changed != (tc.want != nil) {
				t.Errorf("completeChecksum = %v, want %v", changed, tc.want != nil)
			}
			if !bytes.Equal(f, want) {
				t.Errorf("frame\n got % x\nwant % x", f, want)
			}
		})
	}
}

func FuzzCompleteChecksum(f *testing.F) {
	f.Add(l4Frame(f, nil, false, wire.ProtoUDP, 18, true))
	f.Add(l4Frame(f, []wire.Tag{{TPID: wire.EtherTypeVLAN, TCI: 1}}, true, wire.ProtoTCP, 5, true, wire.ProtoRouting))
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		if !completeChecksum(frame) && !bytes.Equal(frame, orig) {
			t.Fatal("frame changed without a completed checksum")
		}
		if len(frame) != len(orig) {
			t.Fatal("length changed")
		}
	})
}

// TestCompletePartialChecksum: without the kernel's word that a checksum
// is partial (AF_XDP), a field holding the pseudo-header sum of a segment
// that does not verify is completed; complete checksums, UDP's "no
// checksum" and wrong checksums that are not a pseudo-header sum are left
// alone.
func TestCompletePartialChecksum(t *testing.T) {
	ctag := wire.Tag{TPID: wire.EtherTypeVLAN, TCI: 100}
	zeroUDP := l4Frame(t, nil, false, wire.ProtoUDP, 18, false)
	binary.BigEndian.PutUint16(zeroUDP[14+20+6:], 0)
	wrong := l4Frame(t, nil, false, wire.ProtoUDP, 18, false)
	wrong[len(wrong)-1] ^= 0xff
	for _, tc := range []struct {
		name      string
		got, want []byte // want nil: must not change
	}{
		{"ipv4 udp", l4Frame(t, nil, false, wire.ProtoUDP, 18, true), l4Frame(t, nil, false, wire.ProtoUDP, 18, false)},
		{"ipv4 tcp", l4Frame(t, nil, false, wire.ProtoTCP, 100, true), l4Frame(t, nil, false, wire.ProtoTCP, 100, false)},
		{"ipv6 udp", l4Frame(t, nil, true, wire.ProtoUDP, 31, true), l4Frame(t, nil, true, wire.ProtoUDP, 31, false)},
		{"ipv6 tcp behind options", l4Frame(t, nil, true, wire.ProtoTCP, 9, true, wire.ProtoHopOpts),
			l4Frame(t, nil, true, wire.ProtoTCP, 9, false, wire.ProtoHopOpts)},
		{"802.1Q", l4Frame(t, []wire.Tag{ctag}, false, wire.ProtoUDP, 18, true), l4Frame(t, []wire.Tag{ctag}, false, wire.ProtoUDP, 18, false)},
		{"complete udp", l4Frame(t, nil, false, wire.ProtoUDP, 18, false), nil},
		{"complete tcp v6", l4Frame(t, nil, true, wire.ProtoTCP, 40, false), nil},
		{"udp without checksum", zeroUDP, nil},
		{"wrong checksum", wrong, nil},
		{"arp", append(wire.AppendEthernet(nil, macB, macA, nil, wire.EtherTypeARP), make([]byte, 28)...), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := bytes.Clone(tc.got)
			changed := completePartialChecksum(f)
			want := tc.want
			if want == nil {
				want = tc.got
			}
			if changed != (tc.want != nil) || !bytes.Equal(f, want) {
				t.Errorf("changed %v\n got % x\nwant % x", changed, f, want)
			}
		})
	}
}

func FuzzCompletePartialChecksum(f *testing.F) {
	f.Add(l4Frame(f, nil, false, wire.ProtoUDP, 18, true))
	f.Add(l4Frame(f, nil, true, wire.ProtoTCP, 5, true, wire.ProtoRouting))
	f.Add(l4Frame(f, nil, false, wire.ProtoTCP, 5, false))
	f.Fuzz(func(t *testing.T, frame []byte) {
		orig := bytes.Clone(frame)
		changed := completePartialChecksum(frame)
		if !changed && !bytes.Equal(frame, orig) {
			t.Fatal("frame changed without a completed checksum")
		}
		if !changed {
			return
		}
		// The oracle: a completed segment verifies with wire's
		// independent pseudo-header checksum.
		l, _ := transportOf(frame)
		var src, dst netip.Addr
		if l.v6 {
			src, _ = netip.AddrFromSlice(frame[l.ip+8 : l.ip+24])
			dst, _ = netip.AddrFromSlice(frame[l.ip+24 : l.ip+40])
		} else {
			src, _ = netip.AddrFromSlice(frame[l.ip+12 : l.ip+16])
			dst, _ = netip.AddrFromSlice(frame[l.ip+16 : l.ip+20])
		}
		if c := wire.TransportChecksum(l.proto, src, dst, frame[l.off:l.end]); c != 0 && !(c == 0xffff && binary.BigEndian.Uint16(frame[l.off+l.field:]) == 0xffff) {
			t.Fatalf("completed checksum does not verify: %#04x", c)
		}
	})
}

func TestTxFits(t *testing.T) {
	tagged := func(n int) []byte {
		f := make([]byte, n)
		binary.BigEndian.PutUint16(f[12:], wire.EtherTypeVLAN)
		return f
	}
	qinq := func(n int) []byte {
		f := make([]byte, n)
		binary.BigEndian.PutUint16(f[12:], wire.EtherTypeQinQ)
		return f
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  bool
	}{
		// packet_snd's limits for an MTU of 1500.
		{"runt", make([]byte, 13), false},
		{"header only", make([]byte, 14), true},
		{"mtu", make([]byte, 1514), true},
		{"mtu+1 untagged", make([]byte, 1515), false},
		{"802.1Q mtu+4", tagged(1518), true},
		{"802.1Q mtu+5", tagged(1519), false},
		{"802.1ad gets no allowance", qinq(1518), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := txFits(tc.frame, 1500); got != tc.want {
				t.Errorf("txFits(%d bytes) = %v, want %v", len(tc.frame), got, tc.want)
			}
		})
	}
}

func TestPutTagged(t *testing.T) {
	src := wire.AppendEthernet(nil, macB, macA, nil, wire.EtherTypeIPv4)
	src = append(src, 0x45, 1, 2, 3)
	// The priority tag with PCP 0 and VID 0 is a TCI of 0: it must come
	// out as a tag all the same.
	for _, tag := range []wire.Tag{{TPID: wire.EtherTypeVLAN, TCI: 0}, {TPID: wire.EtherTypeQinQ, TCI: 5<<13 | 100}} {
		dst := make([]byte, len(src)+4)
		putTagged(dst, src, tag.TPID, tag.TCI)
		want := append(wire.AppendEthernet(nil, macB, macA, []wire.Tag{tag}, wire.EtherTypeIPv4), 0x45, 1, 2, 3)
		if !bytes.Equal(dst, want) {
			t.Errorf("tag %+v:\n got % x\nwant % x", tag, dst, want)
		}
	}
}

// TestBadSpec covers the errors that need no kernel: they are the same on
// every system and for every user.
func TestBadSpec(t *testing.T) {
	d, err := netdev.New(1, netdev.Config{Name: "eth0", TxQueues: 2})
	if err != nil {
		t.Fatal(err)
	}
	pool := pkt.NewPool(pkt.PoolConfig{})
	for _, tc := range []struct {
		name string
		dev  *netdev.Device
		spec Spec
		opts Options
	}{
		{"no device", nil, Spec{Kind: KindTAP}, Options{Pool: pool}},
		{"no kind", d, Spec{Link: "veth0"}, Options{Pool: pool}},
		{"unknown kind", d, Spec{Kind: "xdp", Link: "veth0"}, Options{Pool: pool}},
		{"afpacket without link", d, Spec{Kind: KindAFPacket}, Options{Pool: pool}},
		{"negative queues", d, Spec{Kind: KindAFPacket, Link: "veth0", Queues: -1}, Options{Pool: pool}},
		{"too many queues", d, Spec{Kind: KindTAP, Queues: netdev.MaxTxQueues + 1}, Options{Pool: pool}},
		{"name too long", d, Spec{Kind: KindTAP, Link: "a-very-long-name0"}, Options{Pool: pool}},
		{"name with a slash", d, Spec{Kind: KindAFPacket, Link: "a/b"}, Options{Pool: pool}},
		{"name template", d, Spec{Kind: KindTAP, Link: "tap%d"}, Options{Pool: pool}},
		{"no pool", d, Spec{Kind: KindTAP}, Options{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Open(tc.dev, tc.spec, tc.opts)
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("Open = %v, %v; want an ErrBadSpec error", p, err)
			}
			t.Log(err)
		})
	}
}
