package wifi

import (
	"fmt"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

func TestACString(t *testing.T) {
	for _, tc := range []struct {
		ac   AC
		want string
	}{
		{VO, "VO"}, {VI, "VI"}, {BE, "BE"}, {BK, "BK"}, {AC(4), "AC(4)"}, {AC(255), "AC(255)"},
	} {
		if got := tc.ac.String(); got != tc.want {
			t.Errorf("AC(%d).String() = %q, want %q", uint8(tc.ac), got, tc.want)
		}
	}
}

// TestACFromUP checks ieee802_1d_to_ac: 802.1D puts UP 1 and 2 below
// best effort, and only the TID's low three bits count.
func TestACFromUP(t *testing.T) {
	for _, tc := range []struct {
		up   uint8
		want AC
	}{
		{0, BE}, {1, BK}, {2, BK}, {3, BE}, {4, VI}, {5, VI}, {6, VO}, {7, VO},
		{8, BE},   // 8 & 7 = 0
		{14, VO},  // 14 & 7 = 6
		{255, VO}, // 255 & 7 = 7
	} {
		t.Run(fmt.Sprintf("UP%d", tc.up), func(t *testing.T) {
			if got := ACFromUP(tc.up); got != tc.want {
				t.Errorf("ACFromUP(%d) = %v, want %v", tc.up, got, tc.want)
			}
		})
	}
}

// rfc8325 lists the code points RFC 8325 Figure 1 names (and LE from RFC
// 8622), with their UP, written out from the RFC rows, not from the table
// under test. Every other code point must map to UP 0.
var rfc8325 = []struct {
	name string
	dscp uint8
	up   uint8
}{
	{"CS7", 56, 7}, {"CS6", 48, 7},
	{"EF", 46, 6}, {"VA", 44, 6},
	{"CS5", 40, 5},
	{"AF41", 34, 4}, {"AF42", 36, 4}, {"AF43", 38, 4},
	{"CS4", 32, 4},
	{"AF31", 26, 4}, {"AF32", 28, 4}, {"AF33", 30, 4},
	{"CS3", 24, 4},
	{"AF21", 18, 3}, {"AF22", 20, 3}, {"AF23", 22, 3},
	{"CS2", 16, 0},
	{"AF11", 10, 0}, {"AF12", 12, 0}, {"AF13", 14, 0},
	{"DF", 0, 0},
	{"CS1", 8, 1}, {"LE", 1, 1},
}

// TestUPFromDSCP checks every one of the 64 code points.
func TestUPFromDSCP(t *testing.T) {
	named := make(map[uint8]int)
	for i, r := range rfc8325 {
		named[r.dscp] = i
	}
	for dscp := range uint8(64) {
		name, want := fmt.Sprintf("DSCP%d-unused", dscp), uint8(0)
		if i, ok := named[dscp]; ok {
			name, want = rfc8325[i].name, rfc8325[i].up
		}
		t.Run(name, func(t *testing.T) {
			if got := UPFromDSCP(dscp); got != want {
				t.Errorf("UPFromDSCP(%d) = %d, want %d", dscp, got, want)
			}
			// The ECN bits below the DSCP do not count, nor bits
			// above six.
			if got := UPFromDSCP(dscp | 0xc0); got != want {
				t.Errorf("UPFromDSCP(%#x) = %d, want %d", dscp|0xc0, got, want)
			}
		})
	}
}

// TestUPFromPacket checks the order of the sources of a packet's UP:
// the "UP given" priorities, netyard's plain 1..7, then the DSCP.
func TestUPFromPacket(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	arp := func(tb testing.TB) []byte {
		b, err := wire.AppendFrame(nil, &wire.FrameSpec{
			Dst: staA, Src: apMAC, EtherType: wire.EtherTypeARP, Payload: make([]byte, 28),
		})
		if err != nil {
			tb.Fatal(err)
		}
		return b
	}
	udp := func(tosByte uint8, v6 bool) func(testing.TB) []byte {
		return func(tb testing.TB) []byte {
			f := flow{name: "udp", dst: staA, sport: 1, tos: tosByte, size: 200, v6: v6}
			return f.frame(tb)
		}
	}
	for _, tc := range []struct {
		name  string
		frame func(testing.TB) []byte
		prio  uint32
		want  uint8
	}{
		{"prio 256 is UP 0 over EF", udp(tos(dscpEF), false), 256, 0},
		{"prio 262 is UP 6", udp(0, false), 262, 6},
		{"prio 263 is UP 7", udp(0, false), 263, 7},
		{"prio 6 is UP 6 over CS1", udp(tos(dscpCS1), false), 6, 6},
		{"prio 1 is UP 1", udp(tos(dscpEF), false), 1, 1},
		{"prio 0 takes the DSCP: EF", udp(tos(dscpEF), false), 0, 6},
		{"prio 0, EF with CE set", udp(tos(dscpEF)|3, false), 0, 6},
		{"prio 0, IPv6 AF41", udp(tos(dscpAF41), true), 0, 4},
		{"prio 0, unused DSCP 3", udp(tos(3), false), 0, 0},
		{"prio 8 takes the DSCP", udp(tos(dscpEF), false), 8, 6},
		{"prio 255 takes the DSCP", udp(tos(dscpCS1), false), 255, 1},
		{"prio 264 takes the DSCP", udp(tos(dscpAF41), false), 264, 4},
		{"prio 0x10006 (a class id) takes the DSCP", udp(tos(dscpEF), false), 0x10006, 6},
		{"not IP is UP 0", arp, 0, 0},
		{"not IP with prio 5 is UP 5", arp, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPacket(t, pool, tc.frame(t), tc.prio, 0)
			defer p.Release()
			if got := UPFromPacket(p); got != tc.want {
				t.Errorf("UPFromPacket = %d, want %d", got, tc.want)
			}
		})
	}
}
