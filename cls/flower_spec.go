package cls

import "net/netip"

// Masked is a key compared under a mask: (field & Mask) == Value.
type Masked[T ~uint8 | ~uint16 | ~uint32] struct {
	Value, Mask T
}

// PortRange matches Min <= port <= Max (Min == Max for one port).
type PortRange struct {
	Min, Max uint16
}

// IP flag bits of flower's ip_flags key (TCA_FLOWER_KEY_FLAGS_*).
const (
	FlagIsFragment  uint32 = 1 << 0 // "frag" / "nofrag"
	FlagFragIsFirst uint32 = 1 << 1 // "firstfrag" / "nofirstfrag"
)

// Flower is the flow classifier's configuration (cls_flower.c): a set of
// keys that all have to match. A nil key matches anything. Which keys are
// allowed depends on the filter's protocol and on other keys, as in tc
// (ports need ip_proto tcp, udp or sctp; addresses need protocol ip or ipv6;
// vlan keys need protocol 802.1Q or 802.1ad); tcsyntax enforces that and
// NewFlower checks it again.
type Flower struct {
	// Indev is the name of the receiving device ("indev").
	Indev string

	DstMAC, SrcMAC *MACMask

	// VLAN keys: the outer tag (vlan_*) and, under an 802.1ad tag, the
	// inner one (cvlan_*). EthType keys name the type after the tag.
	VlanID       *uint16
	VlanPrio     *uint8
	VlanEthType  *uint16
	CVlanID      *uint16
	CVlanPrio    *uint8
	CVlanEthType *uint16
	IPProto      *uint8
	SrcIP, DstIP *netip.Prefix
	SrcPort      *PortRange
	DstPort      *PortRange
	TOS          *Masked[uint8] // ip_tos: DSCP << 2 | ECN
	TTL          *Masked[uint8]
	TCPFlags     *Masked[uint16]
	IPFlags      *Masked[uint32]
	ICMPType     *uint8
	ICMPCode     *uint8
}

// MACMask is a MAC address under a mask.
type MACMask struct {
	Addr, Mask [6]byte
}

// Kind implements Spec.
func (*Flower) Kind() string { return "flower" }

// Matchall matches every packet of the filter's protocol.
type Matchall struct{}

// Kind implements Spec.
func (*Matchall) Kind() string { return "matchall" }

// MatchesAll reports whether f has no key at all: with the filter's
// protocol it then matches every packet, like matchall. The control plane
// uses it to find unconditional redirect cycles.
func (f *Flower) MatchesAll() bool {
	return f.Indev == "" && f.DstMAC == nil && f.SrcMAC == nil &&
		f.VlanID == nil && f.VlanPrio == nil && f.VlanEthType == nil &&
		f.CVlanID == nil && f.CVlanPrio == nil && f.CVlanEthType == nil &&
		f.IPProto == nil && f.SrcIP == nil && f.DstIP == nil &&
		f.SrcPort == nil && f.DstPort == nil && f.TOS == nil && f.TTL == nil &&
		f.TCPFlags == nil && f.IPFlags == nil && f.ICMPType == nil && f.ICMPCode == nil
}
