package cls_test

import (
	"net/netip"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/stats"
	"netyard/wire"
)

// env is a fake act.Env.
type env struct {
	now   int64
	cells *stats.Set
}

func (*env) DeviceIndex(name string) (int32, bool) {
	i, ok := map[string]int32{"eth0": 1, "eth1": 2, "eth2": 3}[name]
	return i, ok
}
func (e *env) Counters() *stats.Set {
	if e.cells == nil {
		e.cells = stats.NewSet(stats.NewDomain(2))
	}
	return e.cells
}
func (e *env) Now() int64 { return e.now }

// sink is a fake act.Redirector that takes and releases every packet and
// counts them, allocating nothing (for the benchmarks too).
type sink struct{ n int }

func (s *sink) Mirred(_ *act.Ctx, p *pkt.Buffer, _ int32, _ bool) error {
	p.Release()
	s.n++
	return nil
}

var (
	macA = wire.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = wire.MAC{0x02, 0, 0, 0, 0, 0x0b}
	ip4A = netip.MustParseAddr("192.0.2.1")
	ip4B = netip.MustParseAddr("198.51.100.7")
	ip6A = netip.MustParseAddr("2001:db8::1")
	ip6B = netip.MustParseAddr("2001:db8::1:2:3:4")
)

func udp4(tags ...wire.Tag) wire.FrameSpec {
	return wire.FrameSpec{Dst: macB, Src: macA, Tags: tags, SrcIP: ip4A, DstIP: ip4B,
		Proto: wire.ProtoUDP, SrcPort: 4000, DstPort: 53, TOS: 0x12, Payload: []byte("query")}
}

func tcp4(flags uint16) wire.FrameSpec {
	return wire.FrameSpec{Dst: macB, Src: macA, SrcIP: ip4A, DstIP: ip4B,
		Proto: wire.ProtoTCP, SrcPort: 40000, DstPort: 443, TCPFlags: flags}
}

func udp6() wire.FrameSpec {
	return wire.FrameSpec{Dst: macB, Src: macA, SrcIP: ip6A, DstIP: ip6B,
		Proto: wire.ProtoUDP, SrcPort: 4000, DstPort: 53, TOS: 0xb8}
}

func arp() wire.FrameSpec {
	return wire.FrameSpec{Dst: wire.MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, Src: macA,
		EtherType: wire.EtherTypeARP, Payload: make([]byte, 28)}
}

func c8100(vid uint16, pcp uint8) wire.Tag {
	return wire.Tag{TPID: wire.EtherTypeVLAN, TCI: uint16(pcp)<<13 | vid}
}

func s88a8(vid uint16, pcp uint8) wire.Tag {
	return wire.Tag{TPID: wire.EtherTypeQinQ, TCI: uint16(pcp)<<13 | vid}
}

func leakPool(t testing.TB) *pkt.Pool { return testutil.Pool(t, pkt.PoolConfig{}) }

// packet returns a parsed buffer holding the frame s describes.
func packet(t testing.TB, pool *pkt.Pool, s wire.FrameSpec) *pkt.Buffer {
	t.Helper()
	f, err := wire.AppendFrame(nil, &s)
	if err != nil {
		t.Fatalf("AppendFrame: %v", err)
	}
	p, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetData(f); err != nil {
		t.Fatal(err)
	}
	_ = p.Parse()
	return p
}

func ptr[T any](v T) *T { return &v }

func prefix(s string) *netip.Prefix { p := netip.MustParsePrefix(s); return &p }

// hook is a Chains with its table, for tests.
type hook struct {
	t     testing.TB
	env   *env
	table *act.Table
	ch    *cls.Chains
}

func newHook(t testing.TB) *hook {
	e := &env{}
	tab := act.NewTable(e)
	return &hook{t: t, env: e, table: tab, ch: cls.NewChains(tab, e)}
}

// add adds f and fails the test on error.
func (h *hook) add(f *cls.Filter) *cls.Filter {
	h.t.Helper()
	if err := h.ch.Add(f, act.ModeAdd); err != nil {
		h.t.Fatalf("Add: %v", err)
	}
	return f
}

func gact(v act.Verdict) *act.Gact { return &act.Gact{C: act.Common{Control: v}} }

func matchall(chain uint32, prio uint16, proto uint16, actions ...act.Spec) *cls.Filter {
	return &cls.Filter{Chain: chain, Prio: prio, Protocol: proto, Classifier: &cls.Matchall{}, Actions: actions}
}
