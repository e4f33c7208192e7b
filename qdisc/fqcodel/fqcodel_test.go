package fqcodel

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

func TestParams(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Params)
		wantErr string // substring; "" for a valid configuration
		check   func(Params) bool
	}{
		{name: "defaults are tc's", change: func(*Params) {}, check: func(p Params) bool { return p == Defaults() }},
		{name: "target 0 is refused", change: func(p *Params) { p.Target = 0 }, wantErr: "fq_codel: target 0s: must be > 0"},
		{name: "negative interval is refused", change: func(p *Params) { p.Interval = -time.Millisecond }, wantErr: "fq_codel: interval -1ms: must be > 0"},
		{name: "sub-microsecond target is refused", change: func(p *Params) { p.Target = 500 }, wantErr: "fq_codel: target 500ns: must be at least 1us"},
		{name: "target beyond netlink's u32 microseconds", change: func(p *Params) { p.Target = 5000 * time.Second }, wantErr: "fq_codel: target 1h23m20s: must be at most"},
		{name: "flows 0 is refused", change: func(p *Params) { p.Flows = 0 }, wantErr: "fq_codel: flows 0: must be 1..65536"},
		{name: "flows above 65536 are refused", change: func(p *Params) { p.Flows = 65537 }, wantErr: "flows 65537"},
		{name: "limit 0 is refused", change: func(p *Params) { p.Limit = 0 }, wantErr: "fq_codel: limit 0"},
		{name: "memory_limit 0 is refused", change: func(p *Params) { p.MemoryLimit = 0 }, wantErr: "fq_codel: memory_limit 0"},
		{name: "quantum above FQ_CODEL_QUANTUM_MAX is refused", change: func(p *Params) { p.Quantum = 1<<20 + 1 }, wantErr: "fq_codel: quantum 1048577"},
		{name: "negative ce_threshold is refused", change: func(p *Params) { p.CEThreshold = -1 }, wantErr: "ce_threshold"},
		// The kernel's clamps.
		{name: "quantum is raised to 256", change: func(p *Params) { p.Quantum = 1 }, check: func(p Params) bool { return p.Quantum == 256 }},
		{name: "drop_batch 0 becomes 1", change: func(p *Params) { p.DropBatch = 0 }, check: func(p Params) bool { return p.DropBatch == 1 }},
		{name: "memory_limit is capped at 2 GiB", change: func(p *Params) { p.MemoryLimit = math.MaxUint32 }, check: func(p Params) bool { return p.MemoryLimit == 1<<31 }},
		{name: "times keep whole microseconds", change: func(p *Params) { p.Target = 5*time.Millisecond + 999 }, check: func(p Params) bool { return p.Target == 5*time.Millisecond }},
		{name: "ce_threshold 0 is off", change: func(p *Params) { p.CEThreshold = 0 }, check: func(p Params) bool { return p.CEThreshold == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Defaults()
			tt.change(&p)
			q, err := New(p, 0)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Params().(Params); !tt.check(got) {
				t.Fatalf("Params() = %+v", got)
			}
			if q.Params().Kind() != "fq_codel" {
				t.Fatalf("Kind %q", q.Params().Kind())
			}
		})
	}
	if _, err := New(Defaults(), 0, WithHandle(0x10005)); err == nil {
		t.Fatal("a handle with a minor was accepted")
	}
}

// newtonTolerance is how far codel_Newton_step's estimate may be from
// 1/sqrt(count) when each count is reached by one step from the last, as
// in the kernel: the first step from 1.0 lands on 0.5 (not 0.707), and
// the error then falls quadratically.
func newtonTolerance(count uint32) float64 {
	switch {
	case count == 2:
		return 0.30
	case count < 5:
		return 0.03
	case count < 10:
		return 0.015
	}
	return 0.005
}

func TestNewtonStep(t *testing.T) {
	v := codelVars{count: 1, recInvSqrt: ^uint16(0)}
	for v.count < 100000 {
		v.count++
		v.newtonStep()
		got := float64(v.recInvSqrt) / (1 << 16)
		want := 1 / math.Sqrt(float64(v.count))
		if e := math.Abs(got-want) / want; e > newtonTolerance(v.count) {
			t.Fatalf("count %d: 1/sqrt = %.5f, want %.5f (error %.2f%%)", v.count, got, want, e*100)
		}
	}
}

func TestControlLaw(t *testing.T) {
	interval := toCodelParam(100 * time.Millisecond)
	tests := []struct {
		name string
		rec  uint16
		want uint32
	}{
		// 0xffff is 1 - 2^-16: the first drop comes one interval,
		// less 2 codel units of rounding, after the start.
		{"count 1", 0xffff, 1000 + interval - 2},
		{"count 4 (1/2)", 0x8000, 1000 + interval/2},
		{"count 16 (1/4)", 0x4000, 1000 + interval/4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := controlLaw(1000, interval, tt.rec); got != tt.want {
				t.Fatalf("controlLaw = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestCoDelDropSchedule runs one flow whose sojourn time stays near 20 ms
// (a standing queue of 200 packets, one leaving and one arriving every
// 100 us) and checks CoDel's schedule: the first drop an interval after
// the sojourn time crossed target, then the gap after the drop that made
// the count c is interval/sqrt(c), within the fixed-point estimate's
// error (newtonTolerance) and one step of the clock.
func TestCoDelDropSchedule(t *testing.T) {
	ps := newPackets(t)
	q := mustNew(t, Defaults())
	const step = 100 * int64(time.Microsecond)
	for range 200 {
		q.Enqueue(ps.get(spec{sport: 1, size: 1000}), 0)
	}
	type drop struct {
		t     int64
		count uint32
	}
	var drops []drop
	var seen uint64
	for now := int64(0); now < 1200*ms; now += step {
		if p := q.Dequeue(now); p != nil {
			p.Release()
		}
		q.Enqueue(ps.get(spec{sport: 1, size: 1000}), now)
		d := q.Stats().Drops
		if d == seen {
			continue
		}
		if d != seen+1 {
			t.Fatalf("at %v: %d drops in one dequeue", time.Duration(now), d-seen)
		}
		seen = d
		cs := q.Classes(now, nil)
		if len(cs) != 1 || !cs[0].Dropping {
			t.Fatalf("at %v: classes %+v, want one flow in the dropping state", time.Duration(now), cs)
		}
		drops = append(drops, drop{now, cs[0].Count})
	}
	if len(drops) < 10 {
		t.Fatalf("%d drops in 1.2 s, want at least 10", len(drops))
	}
	// The sojourn time reaches target 5 ms after the start; CoDel
	// drops once it has stayed above for an interval.
	if want := 5*ms + 100*ms; drops[0].t < want || drops[0].t > want+step || drops[0].count != 1 {
		t.Fatalf("first drop at %v with count %d, want at %v with count 1", time.Duration(drops[0].t), drops[0].count, time.Duration(want))
	}
	interval := float64(100 * ms)
	for i := 1; i < len(drops); i++ {
		c := drops[i-1].count
		if drops[i].count != c+1 {
			t.Fatalf("drop %d: count %d after %d", i, drops[i].count, c)
		}
		gap := float64(drops[i].t - drops[i-1].t)
		want := interval / math.Sqrt(float64(c))
		if math.Abs(gap-want) > newtonTolerance(c)*want+float64(step) {
			t.Errorf("drop %d: gap %v after count %d, want interval/sqrt(%d) = %v", i, time.Duration(gap), c, c, time.Duration(want))
		}
	}
	if x := q.XStats(); x.ECNMark != 0 || x.MaxPacket != 1000 {
		t.Fatalf("xstats %+v: non-ECT packets must be dropped, not marked", x)
	}
}

// TestCoDelCountReuse checks codel_impl.h's memory: when the sojourn time
// goes above target again within 16 intervals of the last drop schedule,
// the new dropping episode starts at count - lastcount of the last one
// instead of 1 (RFC 8289 section 5.4's "recent" re-entry).
func TestCoDelCountReuse(t *testing.T) {
	tests := []struct {
		name  string
		pause int64 // between the episodes
		reuse bool
	}{
		{"back within 16 intervals: the count resumes", 50 * ms, true},
		{"back after 16 intervals: the count restarts at 1", 2000 * ms, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := newPackets(t)
			q := mustNew(t, Defaults())
			const step = 100 * int64(time.Microsecond)
			now := int64(0)
			idx := flowOf(t, q, ps, 1)
			// episode keeps a standing queue of 200 packets for d,
			// or until stop says so.
			episode := func(d int64, stop func() bool) {
				for q.Len() < 200 {
					q.Enqueue(ps.get(spec{sport: 1, size: 1000}), now)
				}
				for end := now + d; now < end && !stop(); now += step {
					if p := q.Dequeue(now); p != nil {
						p.Release()
					}
					q.Enqueue(ps.get(spec{sport: 1, size: 1000}), now)
				}
			}
			episode(800*ms, func() bool { return false })
			drain(q, now)
			v := q.flows[idx].cv
			if v.count-v.lastcount <= 1 {
				t.Fatalf("first episode: count %d, lastcount %d: too few drops to test", v.count, v.lastcount)
			}
			now += tt.pause
			// Up to the second episode's first drop.
			drops := q.Stats().Drops
			episode(time.Second.Nanoseconds(), func() bool { return q.Stats().Drops > drops })
			if q.Stats().Drops != drops+1 {
				t.Fatalf("%d drops in the second episode, want 1", q.Stats().Drops-drops)
			}
			got := q.flows[idx].cv
			want := uint32(1)
			if tt.reuse {
				want = v.count - v.lastcount
			}
			if got.count != want || got.lastcount != want {
				t.Fatalf("second episode: count %d, lastcount %d; want %d (first ended at count %d, lastcount %d)",
					got.count, got.lastcount, want, v.count, v.lastcount)
			}
		})
	}
}

// ceFrames reports how many dequeued packets carry CE, and checks that
// every IPv4 header still verifies and that Hdr matches the bytes.
func checkMarked(t *testing.T, p *pkt.Buffer) bool {
	t.Helper()
	d := p.Data()
	off := int(p.Hdr.L3Off)
	var tos uint8
	if p.Hdr.IPVersion == 4 {
		if c := wire.Checksum(d[off : off+wire.IPv4MinHeaderLen]); c != 0 {
			t.Fatalf("IPv4 header checksum does not verify (sum %#04x)", c)
		}
		tos = d[off+1]
	} else {
		tos = d[off]<<4 | d[off+1]>>4
	}
	if tos != p.Hdr.TOS {
		t.Fatalf("Hdr.TOS %#x, frame says %#x", p.Hdr.TOS, tos)
	}
	var h wire.Headers
	if err := wire.Parse(d, &h); err != nil || h.TOS != tos {
		t.Fatalf("re-parse: %v, TOS %#x", err, h.TOS)
	}
	return tos&3 == ce
}

func TestECN(t *testing.T) {
	tests := []struct {
		name      string
		tos       uint8
		v6        bool
		ecn       bool
		wantMarks bool // CoDel marks instead of dropping
	}{
		{name: "ECT(0) IPv4 is marked", tos: 0xb8 | ect0, ecn: true, wantMarks: true},
		{name: "ECT(1) IPv4 is marked", tos: ect1, ecn: true, wantMarks: true},
		{name: "ECT(0) IPv6 is marked", tos: 0x28 | ect0, v6: true, ecn: true, wantMarks: true},
		{name: "ECT(1) IPv6 is marked", tos: ect1, v6: true, ecn: true, wantMarks: true},
		{name: "CE already counts as marked", tos: ce, ecn: true, wantMarks: true},
		{name: "non-ECT IPv4 is dropped", tos: 0xb8 | notECT, ecn: true},
		{name: "non-ECT IPv6 is dropped", tos: notECT, v6: true, ecn: true},
		{name: "noecn drops ECT(0)", tos: ect0, ecn: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Defaults()
			p.ECN = tt.ecn
			ps := newPackets(t)
			q := mustNew(t, p)
			s := spec{sport: 1, size: 1000, tos: tt.tos, v6: tt.v6}
			for range 200 {
				q.Enqueue(ps.get(s), 0)
			}
			const step = 100 * int64(time.Microsecond)
			newlyMarked := 0
			for now := int64(0); now < 600*ms; now += step {
				if b := q.Dequeue(now); b != nil {
					if checkMarked(t, b) && tt.tos&3 != ce {
						newlyMarked++
					}
					if b.Hdr.TOS&^3 != tt.tos&^3 {
						t.Fatalf("DSCP changed: %#x -> %#x", tt.tos, b.Hdr.TOS)
					}
					b.Release()
				}
				q.Enqueue(ps.get(s), now)
			}
			st, x := q.Stats(), q.XStats()
			if tt.wantMarks {
				if st.Drops != 0 || x.ECNMark < 5 {
					t.Fatalf("drops %d, ecn_mark %d: want marks instead of drops", st.Drops, x.ECNMark)
				}
				if tt.tos&3 != ce && uint32(newlyMarked) != x.ECNMark {
					t.Fatalf("%d packets left marked, ecn_mark says %d", newlyMarked, x.ECNMark)
				}
				return
			}
			if st.Drops < 5 || x.ECNMark != 0 || newlyMarked != 0 {
				t.Fatalf("drops %d, ecn_mark %d, marked %d: want drops only", st.Drops, x.ECNMark, newlyMarked)
			}
		})
	}
}

func TestCEThreshold(t *testing.T) {
	tests := []struct {
		name     string
		tos      uint8
		dequeue  int64 // when the packets leave
		wantMark bool
	}{
		{"ECT(0) above the threshold is marked", ect0, 2 * ms, true},
		{"ECT(1) above the threshold is marked", ect1, 2 * ms, true},
		{"below the threshold is not", ect0, ms / 2, false},
		{"non-ECT is never marked", notECT, 2 * ms, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Defaults()
			p.CEThreshold = time.Millisecond
			ps := newPackets(t)
			q := mustNew(t, p)
			for range 10 {
				q.Enqueue(ps.get(spec{sport: 1, size: 500, tos: tt.tos}), 0)
			}
			marked := 0
			for b := q.Dequeue(tt.dequeue); b != nil; b = q.Dequeue(tt.dequeue) {
				if checkMarked(t, b) {
					marked++
				}
				b.Release()
			}
			want := 0
			if tt.wantMark {
				want = 10
			}
			if x := q.XStats(); marked != want || x.CEMark != uint32(want) || x.ECNMark != 0 {
				t.Fatalf("marked %d, ce_mark %d, ecn_mark %d; want %d CE marks", marked, x.CEMark, x.ECNMark, want)
			}
		})
	}
}

// flowOf returns the flow index a packet from sport lands in.
func flowOf(t *testing.T, q *fqCodel, ps *packets, sport uint16) uint32 {
	t.Helper()
	b := ps.get(spec{sport: sport, size: 100})
	defer b.Release()
	return q.classify(b)
}

func TestOverflow(t *testing.T) {
	type burst struct {
		sport uint16
		n     int
		size  int
	}
	trueSize := int(pkt.Headroom + pkt.DefaultDataSize)
	tests := []struct {
		name   string
		change func(*Params)
		bursts []burst
		// The drops the last enqueue caused, of which over memory, and
		// what stays queued per port.
		wantDrops, wantOvermem int
		wantQlen               map[uint16]uint32
	}{
		{
			name:      "limit: half the fattest flow's bytes go",
			change:    func(p *Params) { p.Limit = 10 },
			bursts:    []burst{{1, 8, 1000}, {2, 3, 1000}},
			wantDrops: 4, wantQlen: map[uint16]uint32{1: 4, 2: 3},
		},
		{
			name:      "drop_batch caps the drops",
			change:    func(p *Params) { p.Limit = 10; p.DropBatch = 2 },
			bursts:    []burst{{1, 8, 1000}, {2, 3, 1000}},
			wantDrops: 2, wantQlen: map[uint16]uint32{1: 6, 2: 3},
		},
		{
			name:      "the fattest flow is the one with the most bytes, not packets",
			change:    func(p *Params) { p.Limit = 9 },
			bursts:    []burst{{1, 3, 1500}, {2, 7, 100}},
			wantDrops: 2, wantQlen: map[uint16]uint32{1: 1, 2: 7},
		},
		{
			name:      "the arriving packet's own flow can be the fattest",
			change:    func(p *Params) { p.Limit = 4 },
			bursts:    []burst{{2, 1, 1000}, {1, 4, 1000}},
			wantDrops: 2, wantQlen: map[uint16]uint32{1: 2, 2: 1},
		},
		{
			name:      "memory_limit counts whole buffers",
			change:    func(p *Params) { p.MemoryLimit = uint32(5 * trueSize) },
			bursts:    []burst{{1, 6, 1000}},
			wantDrops: 3, wantOvermem: 3, wantQlen: map[uint16]uint32{1: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Defaults()
			tt.change(&p)
			ps := newPackets(t)
			q := mustNew(t, p)
			if flowOf(t, q, ps, 1) == flowOf(t, q, ps, 2) {
				t.Fatal("ports 1 and 2 share a flow with this seed: pick other ports")
			}
			var last bool
			for _, b := range tt.bursts {
				for range b.n {
					last = q.Enqueue(ps.get(spec{sport: b.sport, size: b.size}), 0)
				}
			}
			st, x := q.Stats(), q.XStats()
			if last || int(st.Drops) != tt.wantDrops || int(x.DropOverlimit) != tt.wantDrops || int(x.DropOvermemory) != tt.wantOvermem {
				t.Fatalf("enqueue %v, drops %d, drop_overlimit %d, drop_overmemory %d; want false, %d, %d, %d",
					last, st.Drops, x.DropOverlimit, x.DropOvermemory, tt.wantDrops, tt.wantDrops, tt.wantOvermem)
			}
			var qlen, backlog uint64
			for port, want := range tt.wantQlen {
				idx := flowOf(t, q, ps, port)
				f := &q.flows[idx]
				if f.qlen != want {
					t.Errorf("port %d: %d packets queued, want %d", port, f.qlen, want)
				}
				qlen += uint64(f.qlen)
				backlog += uint64(q.backlogs[idx])
			}
			// The victim's CoDel count grew by the drops.
			var counted uint32
			for _, c := range q.Classes(0, nil) {
				counted += c.Count
				if c.Drops != c.Count {
					t.Errorf("flow %d: %d drops, count %d", c.Minor, c.Drops, c.Count)
				}
			}
			if int(counted) != tt.wantDrops || st.Qlen != qlen || st.Backlog != backlog || x.MemoryUsage != uint32(qlen)*uint32(trueSize) {
				t.Fatalf("counts %d, stats %+v, memory %d; flows hold %d packets, %d bytes", counted, st, x.MemoryUsage, qlen, backlog)
			}
		})
	}
}

// TestSparseFlow is RFC 8290 section 4.1: a flow that arrives while a bulk
// flow is backlogged goes on the new-flows list and is served next.
func TestSparseFlow(t *testing.T) {
	ps := newPackets(t)
	q := mustNew(t, Defaults())
	for range 50 {
		q.Enqueue(ps.get(spec{sport: 1, size: 1000}), 0)
	}
	var order []uint16
	for range 5 {
		b := q.Dequeue(ms)
		order = append(order, b.Hdr.SrcPort)
		b.Release()
	}
	q.Enqueue(ps.get(spec{sport: 2, size: 100}), ms)
	b := q.Dequeue(ms)
	order = append(order, b.Hdr.SrcPort)
	b.Release()
	if want := []uint16{1, 1, 1, 1, 1, 2}; !slices.Equal(order, want) {
		t.Fatalf("dequeue order %v, want %v: the sparse flow must overtake", order, want)
	}
	if x := q.XStats(); x.NewFlowCount != 2 || x.NewFlowsLen != 1 || x.OldFlowsLen != 1 {
		t.Fatalf("xstats %+v, want the sparse flow still on the new list", x)
	}
	// The next dequeue finds it empty: it moves to the old list rather
	// than leaving at once (RFC 8290 section 4.2), goes behind the bulk
	// flow, which has spent its deficit and goes round too, and leaves
	// when its turn comes on the old list; the bulk flow then sends.
	b = q.Dequeue(ms)
	if b.Hdr.SrcPort != 1 {
		t.Fatalf("dequeued port %d", b.Hdr.SrcPort)
	}
	b.Release()
	if x, cs := q.XStats(), q.Classes(ms, nil); x.NewFlowsLen != 0 || x.OldFlowsLen != 1 || len(cs) != 1 || cs[0].Qlen != 44 {
		t.Fatalf("xstats %+v, classes %+v: want the bulk flow alone on the old list", x, cs)
	}
}

func TestQuantum(t *testing.T) {
	tests := []struct {
		name    string
		quantum uint32
		size    int
		want    string // flows in dequeue order, a for port 1, b for port 2
	}{
		{"quantum 1000: one 1000-byte packet a turn", 1000, 1000, "abababab"},
		{"quantum 3000: three a turn", 3000, 1000, "aaabbbab"},
		{"quantum 1514 with 1000-byte packets: the deficit carries over", 1514, 1000, "aabbaabb"},
		// DRR: the small flow sends as many bytes per round, so five
		// times as many packets.
		{"quantum 1000, 200-byte packets", 1000, 200, "aaaaabbbbb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Defaults()
			p.Quantum = tt.quantum
			ps := newPackets(t)
			q := mustNew(t, p)
			n := strings.Count(tt.want, "a")
			for range n {
				q.Enqueue(ps.get(spec{sport: 1, size: tt.size}), 0)
			}
			for range strings.Count(tt.want, "b") {
				q.Enqueue(ps.get(spec{sport: 2, size: tt.size}), 0)
			}
			var got strings.Builder
			for _, port := range drain(q, 0) {
				got.WriteByte(byte('a' + port - 1))
			}
			if got.String() != tt.want {
				t.Fatalf("order %s, want %s", got.String(), tt.want)
			}
		})
	}
}

// TestFairness: two backlogged flows of 1500- and 300-byte packets get
// the same bytes, within one quantum and one packet.
func TestFairness(t *testing.T) {
	ps := newPackets(t)
	q := mustNew(t, Defaults())
	for range 100 {
		q.Enqueue(ps.get(spec{sport: 1, size: 1500}), 0)
	}
	for range 500 {
		q.Enqueue(ps.get(spec{sport: 2, size: 300}), 0)
	}
	bytes := map[uint16]int{}
	for bytes[1]+bytes[2] < 100000 {
		b := q.Dequeue(0)
		bytes[b.Hdr.SrcPort] += b.Len()
		b.Release()
	}
	if d := bytes[1] - bytes[2]; d < -(1514+1500) || d > 1514+1500 {
		t.Fatalf("bytes per flow %v: unfair by %d", bytes, d)
	}
}

func TestClassify(t *testing.T) {
	const handle = 0x00010000
	tests := []struct {
		name     string
		priority uint32
		hash     uint32 // preset skb hash, if hashValid
		hashOK   bool
		want     func(h *wire.Headers) uint32 // the minor
	}{
		{"priority 1:7 picks flow 7", handle | 7, 0, false, func(*wire.Headers) uint32 { return 7 }},
		{"priority 1:1024 picks the last flow", handle | 1024, 0, false, func(*wire.Headers) uint32 { return 1024 }},
		{"priority 1:1025 is past the flows: hashed", handle | 1025, 0, false, hashed},
		{"priority 1:0 is hashed", handle, 0, false, hashed},
		{"another major is hashed", 0x20007, 0, false, hashed},
		{"a plain priority is hashed", 6, 0, false, hashed},
		{"a hash the stack computed is used as is", 0, 0x80000000, true, func(*wire.Headers) uint32 { return 513 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps := newPackets(t)
			q := mustNew(t, Defaults(), WithHandle(handle))
			b := ps.get(spec{sport: 7, size: 100})
			b.Priority = tt.priority
			b.Hash, b.HashValid = tt.hash, tt.hashOK
			h := b.Hdr
			q.Enqueue(b, 0)
			cs := q.Classes(0, nil)
			if len(cs) != 1 || cs[0].Minor != tt.want(&h) {
				t.Fatalf("classes %+v, want minor %d", cs, tt.want(&h))
			}
		})
	}
}

// hashed is the minor fq_codel_hash gives with seed 1 and 1024 flows.
func hashed(h *wire.Headers) uint32 {
	return uint32(uint64(netdev.FlowHash(h, 1))*DefaultFlows>>32) + 1
}

func TestHashDeterministic(t *testing.T) {
	ps := newPackets(t)
	minors := func(seed uint32) []uint32 {
		qd, err := New(Defaults(), seed)
		if err != nil {
			t.Fatal(err)
		}
		q := qd.(*fqCodel)
		defer q.Reset()
		var m []uint32
		for port := range uint16(64) {
			q.Enqueue(ps.get(spec{sport: port, size: 100}), 0)
			for _, c := range q.Classes(0, nil) {
				m = append(m, c.Minor)
			}
			drain(q, 0)
		}
		return m
	}
	a, b, c := minors(7), minors(7), minors(8)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed placed flows differently")
	}
	if slices.Equal(a, c) {
		t.Fatal("seeds 7 and 8 placed 64 flows alike: the seed is not used")
	}
}

func TestClassStats(t *testing.T) {
	ps := newPackets(t)
	q := mustNew(t, Defaults())
	for range 4 {
		q.Enqueue(ps.get(spec{sport: 1, size: 700}), 0)
	}
	q.Enqueue(ps.get(spec{sport: 2, size: 300}), 0)
	b := q.Dequeue(3 * ms)
	b.Release()
	cs := q.Classes(3*ms, nil)
	if len(cs) != 2 {
		t.Fatalf("classes %+v", cs)
	}
	byQlen := map[uint32]ClassStats{cs[0].Qlen: cs[0], cs[1].Qlen: cs[1]}
	fat, thin := byQlen[3], byQlen[1]
	// 3 ms is 2929 codel units of 1024 ns: 2999 us as the kernel dumps it.
	if fat.Backlog != 2100 || fat.Deficit != 1514-700 || fat.LDelay != 2999*time.Microsecond || fat.Dropping {
		t.Fatalf("fat flow %+v", fat)
	}
	if thin.Backlog != 300 || thin.Deficit != 1514 || thin.LDelay != 0 {
		t.Fatalf("thin flow %+v", thin)
	}
	x := q.XStats()
	if x.NewFlowsLen != 2 || x.OldFlowsLen != 0 || x.NewFlowCount != 2 || x.MaxPacket != 700 ||
		x.MemoryUsage != 4*uint32(pkt.Headroom+pkt.DefaultDataSize) {
		t.Fatalf("xstats %+v", x)
	}
	if st := q.Stats(); st.Qlen != 4 || st.Backlog != 2400 || st.Packets != 1 || st.Bytes != 700 {
		t.Fatalf("stats %+v", st)
	}
}

func TestReset(t *testing.T) {
	ps := newPackets(t)
	q := mustNew(t, Defaults())
	for i := range 50 {
		q.Enqueue(ps.get(spec{sport: uint16(i % 5), size: 200}), 0)
	}
	q.Reset()
	st, x := q.Stats(), q.XStats()
	if q.Len() != 0 || st.Qlen != 0 || st.Backlog != 0 || st.Drops != 50 || x.MemoryUsage != 0 ||
		x.NewFlowsLen != 0 || len(q.Classes(0, nil)) != 0 || q.Dequeue(0) != nil {
		t.Fatalf("after reset: len %d, stats %+v, xstats %+v", q.Len(), st, x)
	}
	for _, b := range q.backlogs {
		if b != 0 {
			t.Fatal("a flow kept its backlog")
		}
	}
	// It runs again.
	q.Enqueue(ps.get(spec{sport: 1, size: 200}), 0)
	if got := drain(q, 0); !slices.Equal(got, []uint16{1}) {
		t.Fatalf("after reset dequeued %v", got)
	}
}

func TestNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	ps := newPackets(t)
	q := mustNew(t, Defaults())
	for i := range 256 {
		q.Enqueue(ps.get(spec{sport: uint16(i), size: 500, tos: ect0}), 0)
	}
	now := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		now += int64(time.Millisecond)
		p := q.Dequeue(now)
		p.HashValid = false
		q.Enqueue(p, now)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per enqueue and dequeue", allocs)
	}
}

// BenchmarkFQCodel is one enqueue and one dequeue with 1024 flows
// backlogged (two packets each), the flow hash computed each time.
func BenchmarkFQCodel(b *testing.B) {
	ps := newPackets(b)
	q := mustNew(b, Defaults())
	for i := range 2048 {
		q.Enqueue(ps.get(spec{sport: uint16(i % 1024), size: 1000}), 0)
	}
	if x := q.XStats(); x.NewFlowsLen+x.OldFlowsLen < 600 {
		b.Fatalf("only %d flows active", x.NewFlowsLen+x.OldFlowsLen)
	}
	b.ReportAllocs()
	for b.Loop() {
		p := q.Dequeue(0)
		p.HashValid = false
		q.Enqueue(p, 0)
	}
}

// TestMerge: a change keeps what it did not give (fq_codel_change), tdc's
// "Change FQ_CODEL with limit setting" and "Replace FQ_CODEL with noecn".
func TestMerge(t *testing.T) {
	old := Defaults()
	old.Limit, old.Flows, old.DropBatch = 1000, 256, 100
	for _, c := range []struct {
		name string
		p    Params
		want func(p *Params)
	}{
		{"limit", Params{Limit: 2000, Given: GivenLimit}, func(p *Params) { p.Limit = 2000 }},
		{"noecn", Params{ECN: false, Given: GivenECN}, func(p *Params) { p.ECN = false }},
		{"nothing", Params{Limit: 5}, func(*Params) {}},
	} {
		want := old
		c.want(&want)
		want.Given = c.p.Given
		if got := Merge(old, c.p); got != want {
			t.Errorf("%s: %+v, want %+v", c.name, got, want)
		}
	}
}
