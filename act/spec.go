package act

// This file holds the configuration objects of tc's actions: what
// tcsyntax parses a command line into and prints back, and what New turns
// into a running Action. They mirror the TCA_*_PARMS of each kind in
// include/uapi/linux/tc_act/.

// Spec is one action's configuration.
type Spec interface {
	// Kind is tc's name of the action: "gact", "mirred", "vlan",
	// "skbedit", "police".
	Kind() string
	// Common is the part every action has.
	Common() *Common
}

// Common is the configuration every action kind shares.
type Common struct {
	// Index is the action's index in its kind's table; 0 asks for the
	// next free one, as tc does.
	Index uint32
	// Control is the verdict the action returns after doing its work
	// (tc's "pipe", "pass", "drop" ... after the parameters). Each kind
	// has its own default (DefaultControl).
	Control Verdict
	// Cookie is tc's opaque "cookie" (at most 16 bytes).
	Cookie []byte
	// Flags are TCA_ACT_FLAGS: FlagNoPercpu, FlagSkipHW, FlagSkipSW.
	// netyard keeps one kind of statistics and has no hardware, so they
	// change nothing but what is printed and which filters may bind the
	// action (a filter's skip_hw/skip_sw must be the action's, as
	// tcf_action_init checks).
	Flags uint32
}

// Action flags (include/uapi/linux/pkt_cls.h TCA_ACT_FLAGS_*).
const (
	FlagNoPercpu uint32 = 1 << 0 // TCA_ACT_FLAGS_NO_PERCPU_STATS
	FlagSkipHW   uint32 = 1 << 1 // TCA_ACT_FLAGS_SKIP_HW
	FlagSkipSW   uint32 = 1 << 2 // TCA_ACT_FLAGS_SKIP_SW
)

// Ref names an existing action by kind and index, as in
// "action gact index 5" with no parameters: the filter shares it.
type Ref struct {
	ActKind string
	C       Common
	// BindFlags are the binding filter's skip_hw/skip_sw as action
	// flags (FlagSkipHW, FlagSkipSW), set by the filter code: they
	// must be the action's.
	BindFlags uint32
}

func (r *Ref) Kind() string    { return r.ActKind }
func (r *Ref) Common() *Common { return &r.C }

// Gact is the generic action: a verdict and nothing else
// ("action drop", "action gact pass").
type Gact struct {
	C Common // C.Control is the verdict
	// Random is tc's "random determ|netrand ACTION VAL" (TCA_GACT_PROB):
	// RandomDeterm returns RandomAction for every VAL-th packet,
	// RandomNetrand with a probability of 1/VAL; the other packets get
	// C.Control. RandomNone (0) for none.
	Random       uint16
	RandomAction Verdict
	RandomVal    uint16
}

// Gact random types (PGACT_NONE, PGACT_NETRAND, PGACT_DETERM).
const (
	RandomNone    uint16 = 0
	RandomNetrand uint16 = 1
	RandomDeterm  uint16 = 2
)

func (*Gact) Kind() string      { return "gact" }
func (g *Gact) Common() *Common { return &g.C }

// Mirred redirects or mirrors a packet to a device's ingress or egress.
type Mirred struct {
	C Common
	// Ingress selects the target device's receive path instead of its
	// transmit path.
	Ingress bool
	// Mirror sends a copy and lets the original go on; otherwise the
	// packet itself is redirected.
	Mirror bool
	// Dev is the target device's name.
	Dev string
}

func (*Mirred) Kind() string      { return "mirred" }
func (m *Mirred) Common() *Common { return &m.C }

// VlanOp is what a vlan action does.
type VlanOp uint8

const (
	VlanPop    VlanOp = 1 // TCA_VLAN_ACT_POP
	VlanPush   VlanOp = 2 // TCA_VLAN_ACT_PUSH
	VlanModify VlanOp = 3 // TCA_VLAN_ACT_MODIFY
)

func (o VlanOp) String() string {
	switch o {
	case VlanPop:
		return "pop"
	case VlanPush:
		return "push"
	case VlanModify:
		return "modify"
	}
	return "unknown"
}

// Vlan pushes, pops or modifies the outermost VLAN tag.
type Vlan struct {
	C  Common
	Op VlanOp
	// ID is the VLAN id for push and modify (0..4095).
	ID uint16
	// Proto is the tag's TPID, 0x8100 (802.1Q) or 0x88a8 (802.1ad);
	// 0 means 802.1Q.
	Proto uint16
	// Priority is the PCP for push and modify; valid when HasPriority.
	Priority    uint8
	HasPriority bool
}

func (*Vlan) Kind() string      { return "vlan" }
func (v *Vlan) Common() *Common { return &v.C }

// Skbedit sets packet metadata. Only the fields whose Has... flag is set
// are changed.
type Skbedit struct {
	C               Common
	Priority        uint32
	HasPriority     bool
	Mark            uint32
	MarkMask        uint32 // 0 means all bits (0xffffffff)
	HasMark         bool
	QueueMapping    uint16
	HasQueueMapping bool
	// PType is skb->pkt_type (PACKET_HOST 0, BROADCAST 1, MULTICAST 2,
	// OTHERHOST 3), valid when HasPType. netyard keeps and prints it;
	// no part of netyard reads a packet type.
	PType    uint16
	HasPType bool
	// InheritDS sets the priority from the IP header's DSCP (the DS
	// field >> 2) before Priority applies (SKBEDIT_F_INHERITDSFIELD).
	InheritDS bool
}

func (*Skbedit) Kind() string      { return "skbedit" }
func (s *Skbedit) Common() *Common { return &s.C }

// Police is a token-bucket policer (act_police.c). C.Control is the
// conform verdict; Exceed is the exceed verdict.
type Police struct {
	C Common
	// Rate is the committed rate in bytes per second; Burst the bucket
	// size in bytes. PeakRate (bytes/s, 0 for none) and MTU bound the
	// peak bucket as tc does.
	Rate     uint64
	Burst    uint32
	PeakRate uint64
	MTU      uint32
	Exceed   Verdict
	// Overhead is added to every packet's length, and with ATM the
	// length is counted in 53-byte cells of 48 bytes of payload, before
	// the rate is charged (psched_l2t_ns with r->overhead and
	// TC_LINKLAYER_ATM).
	Overhead uint16
	ATM      bool
	// PktsRate (packets a second) and PktsBurst (packets) are a packet
	// bucket ("pkts_rate", "pkts_burst"), instead of the byte rate.
	PktsRate, PktsBurst uint64
}

func (*Police) Kind() string      { return "police" }
func (p *Police) Common() *Common { return &p.C }

// DefaultControl is the verdict an action of the kind returns when its
// configuration names none, as iproute2 and the kernel choose it.
func DefaultControl(kind string, s Spec) Verdict {
	switch kind {
	case "gact":
		return OK
	case "mirred":
		if m, ok := s.(*Mirred); ok && m.Mirror {
			return Pipe
		}
		return Stolen
	case "vlan", "skbedit":
		return Pipe
	case "police":
		return OK // the conform verdict; the exceed default is Reclassify
	}
	return Pipe
}
