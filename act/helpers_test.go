package act_test

import (
	"bytes"
	"net/netip"
	"testing"

	"netyard/act"
	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/stats"
	"netyard/wire"
)

// env is a fake act.Env: a fixed device list and a manual clock.
type env struct {
	devs    map[string]int32
	workers int
	now     int64
	cells   *stats.Set
}

func newEnv() *env {
	return &env{devs: map[string]int32{"eth0": 1, "eth1": 2, "veth9": 9}, workers: 2}
}

func (e *env) DeviceIndex(name string) (int32, bool) { i, ok := e.devs[name]; return i, ok }
func (e *env) Counters() *stats.Set {
	if e.cells == nil {
		e.cells = stats.NewSet(stats.NewDomain(e.workers))
	}
	return e.cells
}
func (e *env) Now() int64 { return e.now }

// sent is what the fake redirector received.
type sent struct {
	dev     int32
	ingress bool
	ttl     uint8 // after the decrement
	frame   []byte
}

// redirector is a fake act.Redirector that does what the datapath promises:
// it takes the packet in every case, spends one unit of its TTL (ErrLoop
// when none is left) and otherwise records it, or fails with err as a full
// backlog would. It releases every packet it gets.
type redirector struct {
	got []sent
	err error
}

func (r *redirector) Mirred(c *act.Ctx, p *pkt.Buffer, dev int32, ingress bool) error {
	defer p.Release()
	if p.TTL == 0 {
		return act.ErrLoop
	}
	if r.err != nil {
		return r.err
	}
	p.TTL--
	r.got = append(r.got, sent{dev: dev, ingress: ingress, ttl: p.TTL, frame: bytes.Clone(p.Data())})
	return nil
}

var (
	macA = wire.MAC{0x02, 0, 0, 0, 0, 0x0a}
	macB = wire.MAC{0x02, 0, 0, 0, 0, 0x0b}
	ip4A = netip.MustParseAddr("192.0.2.1")
	ip4B = netip.MustParseAddr("198.51.100.7")
)

// udp4 is a small IPv4/UDP frame spec; tags are added by the caller.
func udp4(tags ...wire.Tag) *wire.FrameSpec {
	return &wire.FrameSpec{Dst: macB, Src: macA, Tags: tags, SrcIP: ip4A, DstIP: ip4B,
		Proto: wire.ProtoUDP, SrcPort: 4000, DstPort: 53, Payload: []byte("hello")}
}

func build(t testing.TB, s *wire.FrameSpec) []byte {
	t.Helper()
	f, err := wire.AppendFrame(nil, s)
	if err != nil {
		t.Fatalf("AppendFrame: %v", err)
	}
	return f
}

// packet returns a parsed buffer holding frame, from pool.
func packet(t testing.TB, pool *pkt.Pool, frame []byte) *pkt.Buffer {
	t.Helper()
	p, err := pool.Get()
	if err != nil {
		t.Fatalf("pool.Get: %v", err)
	}
	if err := p.SetData(frame); err != nil {
		t.Fatalf("SetData: %v", err)
	}
	_ = p.Parse()
	return p
}

func leakPool(t testing.TB) *pkt.Pool { return testutil.Pool(t, pkt.PoolConfig{}) }

func mustNew(t testing.TB, s act.Spec, e act.Env) act.Action {
	t.Helper()
	a, err := act.New(s, e)
	if err != nil {
		t.Fatalf("New(%s): %v", s.Kind(), err)
	}
	return a
}

func gact(v act.Verdict) *act.Gact { return &act.Gact{C: act.Common{Control: v}} }
