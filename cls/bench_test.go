package cls_test

import (
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"time"

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

// manyFilters adds n flower filters at prio 1, each "dst_ip D/32" with a
// distinct D (10.x.y.z from 10.0.0.0 on) and its own gact pass action, as
// issue 14's million-subscriber case. With masks > 1 the filters are
// spread over that many masks: the same dst_ip key plus one of sixteen
// combinations of src_mac, dst_mac, ip_tos, ip_proto and dst_port that
// the benchmark's packet (udp4) matches. It returns the time the adds
// took.
func manyFilters(tb testing.TB, h *hook, n, masks int) time.Duration {
	tb.Helper()
	start := time.Now()
	for i := range n {
		dst := netip.PrefixFrom(nthAddr(i), 32)
		fl := &cls.Flower{DstIP: &dst}
		switch m := i % masks; {
		case masks == 1:
		default:
			if m&1 != 0 {
				fl.SrcMAC = &cls.MACMask{Addr: macA, Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
			}
			if m&2 != 0 {
				fl.DstMAC = &cls.MACMask{Addr: macB, Mask: [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
			}
			if m&4 != 0 {
				fl.TOS = &cls.Masked[uint8]{Value: 0x12, Mask: 0xff}
			}
			if m&8 != 0 {
				fl.IPProto = ptr(wire.ProtoUDP)
				fl.DstPort = &cls.PortRange{Min: 53, Max: 53}
			}
		}
		if err := h.ch.Add(&cls.Filter{Prio: 1, Protocol: ethIP, Classifier: fl, ClassID: uint32(i + 1),
			Actions: []act.Spec{gact(act.OK)}}, act.ModeAdd); err != nil {
			tb.Fatalf("filter %d: %v", i, err)
		}
	}
	return time.Since(start)
}

// nthAddr is 10.0.0.0 + i.
func nthAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// BenchmarkClassifyMany is the per-packet figure of issue 14: the same
// packet classified with 1 filter, with 1,000,000 filters of one mask, and
// with 1,000,000 filters over 16 masks (each packet probes every mask of
// the prio). Key fill, the probes, one gact, two counter updates; 0
// allocations. "spread" cycles through 64 packets to 64 different
// filters, so that the buckets are not all in the cache.
// NETYARD_BENCH_FILTERS changes the million.
func BenchmarkClassifyMany(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("NETYARD_BENCH_FILTERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for _, c := range []struct {
		name     string
		n, masks int
		spread   bool
	}{
		{"filters=1", 1, 1, false},
		{"filters=" + strconv.Itoa(n) + "/masks=1", n, 1, false},
		{"filters=" + strconv.Itoa(n) + "/masks=16", n, 16, false},
		{"filters=" + strconv.Itoa(n) + "/masks=1/spread", n, 1, true},
		{"filters=" + strconv.Itoa(n) + "/masks=16/spread", n, 16, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			pool := leakPool(b)
			h := newHook(b)
			manyFilters(b, h, c.n, c.masks)
			blk := h.ch.Block()
			var ps []*pkt.Buffer
			for i := range 64 {
				target := c.n - 1 - i*(c.n/64)
				if !c.spread {
					target = c.n - 1
				}
				s := udp4()
				s.DstIP = nthAddr(max(target, 0))
				ps = append(ps, packet(b, pool, s))
			}
			defer func() {
				for _, p := range ps {
					p.Release()
				}
			}()
			ctx := &act.Ctx{}
			i := 0
			// The adds leave a big heap for the collector to mark:
			// not part of a packet's cost.
			runtime.GC()
			b.ReportAllocs()
			for b.Loop() {
				if r := blk.Classify(ctx, ps[i&63]); r.Verdict != act.OK {
					b.Fatalf("verdict %v", r)
				}
				i++
			}
		})
	}
}

// BenchmarkAddMany adds 1,000,000 filters (NETYARD_BENCH_FILTERS) to an
// empty hook through Chains.Add, each with its own gact action, and
// reports filters/s and the Go heap per filter (filter, classifier,
// stored spec, hash node, handle index, the gact action and its table
// entry). The counters are outside the Go heap (stats.Set maps them): 48
// bytes per filter and action, plus 16 per worker.
func BenchmarkAddMany(b *testing.B) {
	n := 1_000_000
	if s := os.Getenv("NETYARD_BENCH_FILTERS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		h := newHook(b)
		d := manyFilters(b, h, n, 1)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(n)/d.Seconds(), "filters/s")
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(n), "heapB/filter")
		runtime.KeepAlive(h)
	}
}
