package cls_test

import (
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/pkt"
	"netyard/wire"
)

// BenchmarkClassifyFlower: one flower filter (ip_proto udp dst_port 53)
// with gact pass, and a matching packet: key fill, one compare loop, one
// action, two stats updates.
func BenchmarkClassifyFlower(b *testing.B) {
	pool := leakPool(b)
	h := newHook(b)
	h.add(&cls.Filter{Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}},
		Actions: []act.Spec{gact(act.OK)}})
	blk := h.ch.Block()
	p := packet(b, pool, udp4())
	defer p.Release()
	c := &act.Ctx{}
	b.ReportAllocs()
	for b.Loop() {
		if r := blk.Classify(c, p); r.Verdict != act.OK {
			b.Fatalf("verdict %v", r.Verdict)
		}
	}
}

// BenchmarkClassifyMatchallMirred: matchall with mirred egress redirect;
// the fake redirector releases the packet. Each iteration takes a buffer
// from a recycling pool and copies the 60-byte frame in, since the redirect
// consumes it: the figure includes one pool Get and Release.
func BenchmarkClassifyMatchallMirred(b *testing.B) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	h := newHook(b)
	h.add(matchall(0, 1, ethAll, &act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}))
	blk := h.ch.Block()
	spec := udp4()
	spec.MinLen = wire.MinFrameLen
	frame, err := wire.AppendFrame(nil, &spec)
	if err != nil {
		b.Fatal(err)
	}
	var hdr wire.Headers
	_ = wire.Parse(frame, &hdr)
	out := &sink{}
	c := &act.Ctx{Out: out}
	b.ReportAllocs()
	for b.Loop() {
		p, err := pool.Get()
		if err != nil {
			b.Fatal(err)
		}
		_ = p.SetData(frame)
		p.Hdr = hdr
		if r := blk.Classify(c, p); r.Verdict != act.Consumed {
			b.Fatalf("verdict %v", r.Verdict)
		}
	}
	if live := pool.Stats().Live; live != 0 {
		b.Errorf("%d buffers live after the run", live)
	}
}

// TestClassifyMirredAllocs: a redirect through a Block allocates nothing
// either (the benchmark's loop, counted).
func TestClassifyMirredAllocs(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	h := newHook(t)
	h.add(matchall(0, 1, ethAll, &act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}))
	blk := h.ch.Block()
	spec := udp4()
	frame, err := wire.AppendFrame(nil, &spec)
	if err != nil {
		t.Fatal(err)
	}
	out := &sink{}
	c := &act.Ctx{Out: out}
	n := testing.AllocsPerRun(200, func() {
		p, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		_ = p.SetData(frame)
		_ = p.Parse()
		blk.Classify(c, p)
	})
	if n != 0 {
		t.Errorf("%v allocations per redirected packet, want 0", n)
	}
	if out.n != 201 || pool.Stats().Live != 0 {
		t.Errorf("redirector got %d packets (want 201), %d buffers live (want 0)", out.n, pool.Stats().Live)
	}
}
