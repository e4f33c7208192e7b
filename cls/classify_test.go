package cls_test

import (
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/wire"
)

// TestProtocol: a filter runs only on packets whose outer EtherType is its
// protocol (on a tagged frame: the TPID), or on every packet for "all".
func TestProtocol(t *testing.T) {
	tests := []struct {
		name  string
		proto uint16
		pkt   wire.FrameSpec
		want  bool
	}{
		{"ip on ipv4", ethIP, udp4(), true},
		{"ip on tagged ipv4", ethIP, udp4(c8100(5, 0)), false},
		{"802.1Q on tagged ipv4", ethQ, udp4(c8100(5, 0)), true},
		{"802.1ad on 802.1Q", ethAD, udp4(c8100(5, 0)), false},
		{"802.1ad on QinQ", ethAD, udp4(s88a8(5, 0), c8100(6, 0)), true},
		{"ipv6 on ipv4", ethIPv6, udp4(), false},
		{"ipv6 on ipv6", ethIPv6, udp6(), true},
		{"arp on arp", wire.EtherTypeARP, arp(), true},
		{"all on arp", ethAll, arp(), true},
		{"all on QinQ", ethAll, udp4(s88a8(5, 0), c8100(6, 0)), true},
	}
	pool := leakPool(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHook(t)
			h.add(&cls.Filter{Protocol: tt.proto, Classifier: &cls.Flower{}, ClassID: 7})
			p := packet(t, pool, tt.pkt)
			defer p.Release()
			r := h.ch.Block().Classify(&act.Ctx{}, p)
			if r.Matched != tt.want {
				t.Errorf("Matched = %v, want %v (result %+v)", r.Matched, tt.want, r)
			}
		})
	}
}

// hits returns each filter's packet count, in List order.
func hits(h *hook) []uint64 {
	var out []uint64
	for _, v := range h.ch.List(nil) {
		out = append(out, v.Stats.Packets)
	}
	return out
}

// TestClassify runs one packet through a hook per case and checks the
// result and how often each filter (in chain, prio, handle order) matched,
// against tcf_classify.
func TestClassify(t *testing.T) {
	udp := func(port uint16) *cls.Flower {
		return &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: port, Max: port}}
	}
	tests := []struct {
		name    string
		filters []*cls.Filter
		pkt     wire.FrameSpec
		want    cls.Result
		hits    []uint64
	}{
		{"no filters", nil, udp4(), cls.Result{Verdict: act.Unspec}, nil},
		{"no actions is pass",
			[]*cls.Filter{{Protocol: ethIP, Classifier: &cls.Matchall{}, ClassID: 0x10001}},
			udp4(), cls.Result{Verdict: act.OK, ClassID: 0x10001, Matched: true}, []uint64{1}},
		{"ending in pipe is pipe",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.Pipe), gact(act.Pipe))},
			udp4(), cls.Result{Verdict: act.Pipe, Matched: true}, []uint64{1}},
		{"prio order, not insertion order",
			[]*cls.Filter{matchall(0, 20, ethIP, gact(act.Shot)), matchall(0, 10, ethIP, gact(act.OK))},
			udp4(), cls.Result{Verdict: act.OK, Matched: true}, []uint64{1, 0}},
		{"handle order within a prio",
			[]*cls.Filter{
				{Prio: 5, Handle: 2, Protocol: ethIP, Classifier: udp(53), Actions: []act.Spec{gact(act.Shot)}},
				{Prio: 5, Handle: 1, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP)}, Actions: []act.Spec{gact(act.OK)}},
			},
			udp4(), cls.Result{Verdict: act.OK, Matched: true}, []uint64{1, 0}},
		{"no match",
			[]*cls.Filter{{Protocol: ethIP, Classifier: udp(80), Actions: []act.Spec{gact(act.Shot)}}},
			udp4(), cls.Result{Verdict: act.Unspec}, []uint64{0}},
		{"skipped protocol",
			[]*cls.Filter{matchall(0, 1, ethIPv6, gact(act.Shot)), matchall(0, 2, ethAll, gact(act.Trap))},
			udp4(), cls.Result{Verdict: act.Trap, Matched: true}, []uint64{0, 1}},
		{"continue goes to the next filter",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.Unspec)), matchall(0, 2, ethIP, gact(act.Shot))},
			udp4(), cls.Result{Verdict: act.Shot, Matched: true}, []uint64{1, 1}},
		{"goto chain",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.GotoChain(5))), {Chain: 5, Prio: 1, Protocol: ethIP, Classifier: &cls.Matchall{}, ClassID: 9, Actions: []act.Spec{gact(act.Shot)}}},
			udp4(), cls.Result{Verdict: act.Shot, ClassID: 9, Matched: true}, []uint64{1, 1}},
		{"goto does not come back",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.GotoChain(5))), matchall(0, 2, ethIP, gact(act.OK)), matchall(5, 1, ethIP, gact(act.Unspec))},
			udp4(), cls.Result{Verdict: act.Unspec}, []uint64{1, 0, 1}},
		{"goto an empty chain",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.GotoChain(9))), matchall(0, 2, ethIP, gact(act.Shot))},
			udp4(), cls.Result{Verdict: act.Unspec}, []uint64{1, 0}},
		{"goto loop drops on the 17th restart",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.GotoChain(1))), matchall(1, 1, ethIP, gact(act.GotoChain(1)))},
			udp4(), cls.Result{Verdict: act.Shot, Matched: true}, []uint64{1, 16}},
		{"reclassify loop drops",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.Reclassify))},
			udp4(), cls.Result{Verdict: act.Shot, Matched: true}, []uint64{17}},
		{"reclassify after a vlan pop sees the new frame",
			[]*cls.Filter{
				matchall(0, 1, ethQ, &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPop}, gact(act.Reclassify)),
				{Prio: 2, Protocol: ethIP, Classifier: udp(53), ClassID: 0x10002},
			},
			udp4(c8100(10, 0)), cls.Result{Verdict: act.OK, ClassID: 0x10002, Matched: true}, []uint64{1, 1}},
		{"jump",
			[]*cls.Filter{matchall(0, 1, ethIP, gact(act.Jump(2)), gact(act.Shot), gact(act.Stolen))},
			udp4(), cls.Result{Verdict: act.Stolen, Matched: true}, []uint64{1}},
		{"mirred redirect consumes",
			[]*cls.Filter{matchall(0, 1, ethIP, &act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth2"}), matchall(0, 2, ethIP, gact(act.Shot))},
			udp4(), cls.Result{Verdict: act.Consumed, Matched: true}, []uint64{1, 0}},
		{"chain 0 empty",
			[]*cls.Filter{matchall(1, 1, ethIP, gact(act.Shot))},
			udp4(), cls.Result{Verdict: act.Unspec}, []uint64{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := leakPool(t)
			h := newHook(t)
			for _, f := range tt.filters {
				h.add(f)
			}
			p := packet(t, pool, tt.pkt)
			out := &sink{}
			got := h.ch.Block().Classify(&act.Ctx{Out: out}, p)
			if got.Verdict != act.Consumed {
				p.Release()
			} else if out.n != 1 {
				t.Errorf("consumed, but the redirector got %d packets", out.n)
			}
			if got != tt.want {
				t.Errorf("Classify = %+v, want %+v", got, tt.want)
			}
			if h := hits(h); !equalU64(h, tt.hits) {
				t.Errorf("filter hits = %v, want %v", h, tt.hits)
			}
		})
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBlockLive: the hook's Block is one for its life and sees every
// change as it is made (Chains keeps it current, RCU-style); a nil Block
// classifies nothing.
func TestBlockLive(t *testing.T) {
	pool := leakPool(t)
	h := newHook(t)
	blk := h.ch.Block()
	p := packet(t, pool, udp4())
	defer p.Release()
	if r := blk.Classify(&act.Ctx{}, p); r.Matched {
		t.Errorf("empty block matched: %+v", r)
	}
	h.add(matchall(0, 1, ethIP, gact(act.Shot)))
	if r := blk.Classify(&act.Ctx{}, p); r.Verdict != act.Shot {
		t.Errorf("after add: %v, want drop", r.Verdict)
	}
	if err := h.ch.Delete(&cls.Filter{Prio: 1}); err != nil {
		t.Fatal(err)
	}
	if r := blk.Classify(&act.Ctx{}, p); r.Matched {
		t.Errorf("after delete matched: %+v", r)
	}
	if h.ch.Block() != blk {
		t.Errorf("Block changed identity")
	}
	var nilBlock *cls.Block
	if r := nilBlock.Classify(&act.Ctx{}, p); r != (cls.Result{Verdict: act.Unspec}) {
		t.Errorf("nil block: %+v", r)
	}
}

// TestClassifyAllocs: classification allocates nothing per packet, with
// flower and gact, and with matchall and a mirred redirect.
func TestClassifyAllocs(t *testing.T) {
	pool := leakPool(t)
	h := newHook(t)
	h.add(&cls.Filter{Prio: 1, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoTCP)}, Actions: []act.Spec{gact(act.Shot)}})
	h.add(&cls.Filter{Prio: 2, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}}, Actions: []act.Spec{gact(act.Pipe), gact(act.OK)}})
	b := h.ch.Block()
	p := packet(t, pool, udp4())
	defer p.Release()
	c := &act.Ctx{}
	if n := testing.AllocsPerRun(200, func() { b.Classify(c, p) }); n != 0 {
		t.Errorf("flower: %v allocations per packet, want 0", n)
	}
	if r := b.Classify(c, p); r.Verdict != act.OK {
		t.Fatalf("flower classify: %+v", r)
	}
}
