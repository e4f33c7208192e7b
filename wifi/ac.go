package wifi

import "netyard/pkt"

// AC is an 802.11 access category (802.11-2016 10.2.4.2), numbered as
// mac80211 numbers them (enum ieee80211_ac_numbers): the lower the number,
// the higher the priority. Arrays indexed by AC are in priority order.
type AC uint8

// The four access categories.
const (
	VO AC = iota // voice: UP 6, 7
	VI           // video: UP 4, 5
	BE           // best effort: UP 0, 3
	BK           // background: UP 1, 2

	// NumACs is IEEE80211_NUM_ACS.
	NumACs = 4
)

var acNames = [NumACs]string{"VO", "VI", "BE", "BK"}

// String returns the short name iw and the 802.11 tables use: "VO", "VI",
// "BE", "BK".
func (a AC) String() string {
	if int(a) < len(acNames) {
		return acNames[a]
	}
	return "AC(" + itoa(int(a)) + ")"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// upToAC is ieee802_1d_to_ac (net/mac80211/wme.c), the 802.11-2016 Table
// 10-1 mapping: UP 1 and 2 are background, below best effort's 0 and 3,
// as 802.1D orders them.
var upToAC = [8]AC{BE, BK, BK, BE, VI, VI, VO, VO}

// ACFromUP returns the access category of an 802.1D user priority. Only
// the low three bits count (mac80211 masks the TID the same way,
// IEEE80211_QOS_CTL_TAG1D_MASK), so every value maps to some category.
func ACFromUP(up uint8) AC { return upToAC[up&7] }

// Priorities 256..263 carry a user priority directly: cfg80211_classify8021d
// (net/wireless/util.c) reads skb->priority 256+UP as "UP given", the
// encoding VLAN code and skbedit use to hand a PCP to the wireless stack.
const (
	priorityUPBase = 256
	priorityUPLast = priorityUPBase + 7
)

// dscpToUP is the DSCP-to-UP mapping of RFC 8325 section 4 (Figure 1 in
// 4.3), with the update of RFC 8622 section 8 for the Lower-Effort PHB.
// Every code point the figure does not name maps to UP 0, as its note
// recommends ("All unused codepoints are RECOMMENDED to be mapped to UP
// 0", see also its Security Considerations, section 8).
//
// Where the figure offers a choice, the first one is taken: Network
// Control CS6 and CS7 map to UP 7 (the figure's "7 OR 0"; section 8.2
// recommends 0 at untrusted Wi-Fi edges, which a deployment can do with
// skbedit priority 256).
//
// Differences from the kernel, on purpose: cfg80211_classify8021d applies
// the same table (commit 6fdb8b8781d5, "wifi: cfg80211: Update the default
// DSCP-to-UP mapping", and its AF3x fix), but takes the three high bits of the DSCP (dscp >> 5, the legacy IP
// precedence mapping of RFC 8325 section 2.3) for every code point outside
// it, so for instance DSCP 56 (CS7) is UP 7 and DSCP 63 is UP 7 there;
// netyard follows the RFC and sends unused code points to UP 0. The kernel
// also maps LE (DSCP 1) to UP 0, not UP 1.
var dscpToUP = func() (t [64]uint8) {
	for _, r := range []struct {
		dscp []uint8
		up   uint8
	}{
		{[]uint8{56}, 7},         // Network Control: CS7 (reserved for future use)
		{[]uint8{48}, 7},         // Network Control: CS6 (Internetwork Control)
		{[]uint8{46}, 6},         // Telephony: EF (RFC 3246)
		{[]uint8{44}, 6},         // VOICE-ADMIT: VA (RFC 5865)
		{[]uint8{40}, 5},         // Signaling: CS5
		{[]uint8{34, 36, 38}, 4}, // Multimedia Conferencing: AF41, AF42, AF43
		{[]uint8{32}, 4},         // Real-Time Interactive: CS4
		{[]uint8{26, 28, 30}, 4}, // Multimedia Streaming: AF31, AF32, AF33
		{[]uint8{24}, 4},         // Broadcast Video: CS3
		{[]uint8{18, 20, 22}, 3}, // Low-Latency Data: AF21, AF22, AF23
		{[]uint8{16}, 0},         // OAM: CS2
		{[]uint8{10, 12, 14}, 0}, // High-Throughput Data: AF11, AF12, AF13
		{[]uint8{0}, 0},          // Standard: DF
		{[]uint8{8}, 1},          // Low-Priority Data: CS1 (RFC 3662)
		{[]uint8{1}, 1},          // Low-Priority Data: LE (RFC 8622 section 8)
	} {
		for _, d := range r.dscp {
			t[d] = r.up
		}
	}
	return t
}()

// UPFromDSCP returns the user priority RFC 8325 assigns to a DSCP (the low
// six bits of dscp; see dscpToUP for the table and its sources).
func UPFromDSCP(dscp uint8) uint8 { return dscpToUP[dscp&0x3f] }

// UPFromPacket returns the 802.1D user priority of p, as
// cfg80211_classify8021d (net/wireless/util.c) chooses it:
//
//   - Priority 256..263 is UP 0..7, the kernel's "UP given" encoding.
//   - Priority 1..7 is taken as the UP itself. This is netyard's: the
//     kernel ignores 1..7 here, but in netyard a priority tag's PCP and
//     "skbedit priority N" land in Priority as 0..7, and a user who sets
//     priority 6 on a voice flow means UP 6.
//   - Otherwise (priority 0, which is also "not set", or any other value)
//     the IP DSCP decides, by RFC 8325 (UPFromDSCP); a packet that is not
//     IPv4 or IPv6 (or did not parse) is UP 0, as in the kernel.
//
// Left out: the kernel's MPLS case (the label's TC bits as UP) and the
// QoS Map Set an AP may advertise (cfg80211_qos_map, from 802.11u),
// which replaces the table per association.
func UPFromPacket(p *pkt.Buffer) uint8 {
	switch prio := p.Priority; {
	case prio >= priorityUPBase && prio <= priorityUPLast:
		return uint8(prio - priorityUPBase)
	case prio >= 1 && prio <= 7:
		return uint8(prio)
	}
	switch p.Hdr.IPVersion {
	case 4, 6:
		return UPFromDSCP(p.Hdr.TOS >> 2)
	}
	return 0
}
