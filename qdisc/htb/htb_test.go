package htb

import (
	"math"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/tbf"
)

const handle = 0x00010000 // 1:

func mbit(n float64) uint64 { return uint64(n * 1e6 / 8) }

type classDef struct {
	id, parent uint32
	rate, ceil float64 // Mbit/s
	prio       uint32
	quantum    uint32
}

func build(t testing.TB, p Params, defs []classDef) *htb {
	t.Helper()
	q, err := New(p, handle, 1500)
	if err != nil {
		t.Fatal(err)
	}
	h := q.(*htb)
	for _, d := range defs {
		cp := ClassParams{Rate: mbit(d.rate), Ceil: mbit(d.ceil), Burst: 1600, CBurst: 1600, Prio: d.prio, Quantum: d.quantum}
		if _, err := h.AddClass(d.id, d.parent, cp, 0); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(h.Reset)
	return h
}

// run keeps every leaf of leaves backlogged with size-byte packets (their
// priority names the class, as skb->priority does) and dequeues as fast as
// the shaper lets it, in virtual time, for d after a warm-up of a second.
// It returns each leaf's rate in Mbit/s.
func run(t testing.TB, h *htb, leaves []uint32, size int, d time.Duration) map[uint32]float64 {
	t.Helper()
	return runFrom(t, h, leaves, size, 0, d)
}

// runFrom is run with the clock starting at start (ns), for a second run
// on the same qdisc.
func runFrom(t testing.TB, h *htb, leaves []uint32, size int, start int64, d time.Duration) map[uint32]float64 {
	t.Helper()
	pool := testutil.Pool(t, pkt.PoolConfig{})
	t.Cleanup(h.Reset) // before the pool's leak check
	queued := map[uint32]int{}
	fill := func(now int64) {
		for _, id := range leaves {
			for queued[id] < 4 {
				b, err := pool.Get()
				if err != nil {
					t.Fatal(err)
				}
				b.Resize(size)
				b.Priority = id
				if !h.Enqueue(b, now) {
					t.Fatalf("enqueue to %x refused", id)
				}
				queued[id]++
			}
		}
	}
	warm := start + int64(time.Second)
	end := warm + int64(d)
	sent := map[uint32]uint64{}
	now := start
	for now < end {
		fill(now)
		p := h.Dequeue(now)
		if p == nil {
			next := h.NextReady(now)
			if next <= now || next == Never {
				t.Fatalf("at %d: nothing to send and NextReady %d", now, next)
			}
			now = next
			continue
		}
		queued[p.Priority]--
		if now >= warm {
			sent[p.Priority] += uint64(p.Len())
		}
		p.Release()
	}
	rates := map[uint32]float64{}
	for _, id := range leaves {
		rates[id] = float64(sent[id]) * 8 / d.Seconds() / 1e6
	}
	return rates
}

// TestShaping checks rates, ceilings and borrowing in virtual time against
// what sch_htb's algorithm gives, within 1% over 10 s: a three-level tree
// (root class, two inner classes, four leaves) under full load on every
// leaf, and smaller cases for single properties.
func TestShaping(t *testing.T) {
	tests := []struct {
		name   string
		params Params
		defs   []classDef
		leaves []uint32
		// want in Mbit/s per leaf.
		want map[uint32]float64
	}{
		{
			// Each leaf gets its rate (6 of 10 Mbit/s); 1:201 is at
			// its ceiling. The 4 Mbit/s left are the root's to lend:
			// the root's round gives each child subtree a turn, and
			// within 1:10 each leaf sends a quantum before the turn
			// passes, so 1:10's two borrowing leaves get twice 1:20's
			// one: 1.333 Mbit/s each.
			name: "three levels, borrowing from the root",
			defs: []classDef{
				{0x10001, qdisc.HandleRoot, 10, 10, 0, 0},
				{0x10010, 0x10001, 3, 10, 0, 0},
				{0x10020, 0x10001, 3, 5, 0, 0},
				{0x10100, 0x10010, 1, 10, 0, 1500},
				{0x10101, 0x10010, 2, 10, 0, 1500},
				{0x10200, 0x10020, 1, 5, 0, 1500},
				{0x10201, 0x10020, 2, 2, 0, 1500},
			},
			leaves: []uint32{0x10100, 0x10101, 0x10200, 0x10201},
			want:   map[uint32]float64{0x10100: 1 + 4.0/3, 0x10101: 2 + 4.0/3, 0x10200: 1 + 4.0/3, 0x10201: 2},
		},
		{
			// An inner ceiling bounds what its leaves borrow.
			name: "inner ceiling",
			defs: []classDef{
				{0x10001, qdisc.HandleRoot, 20, 20, 0, 0},
				{0x10010, 0x10001, 2, 4, 0, 0},
				{0x10100, 0x10010, 1, 20, 0, 1500},
				{0x10101, 0x10010, 1, 20, 0, 1500},
			},
			leaves: []uint32{0x10100, 0x10101},
			want:   map[uint32]float64{0x10100: 2, 0x10101: 2},
		},
		{
			// A lower prio number borrows first: all the spare goes
			// to prio 0.
			name: "priorities",
			defs: []classDef{
				{0x10001, qdisc.HandleRoot, 10, 10, 0, 0},
				{0x10010, 0x10001, 1, 10, 0, 1500},
				{0x10011, 0x10001, 1, 10, 1, 1500},
			},
			leaves: []uint32{0x10010, 0x10011},
			want:   map[uint32]float64{0x10010: 9, 0x10011: 1},
		},
		{
			// DRR among equal priorities: the spare splits by quantum.
			name: "quantum",
			defs: []classDef{
				{0x10001, qdisc.HandleRoot, 10, 10, 0, 0},
				{0x10010, 0x10001, 1, 10, 0, 1000},
				{0x10011, 0x10001, 1, 10, 0, 3000},
			},
			leaves: []uint32{0x10010, 0x10011},
			want:   map[uint32]float64{0x10010: 1 + 8.0/4, 0x10011: 1 + 8.0*3/4},
		},
		{
			// Without a parent to borrow from, a root leaf gets its
			// rate, not its ceiling.
			name: "root leaf",
			defs: []classDef{
				{0x10010, qdisc.HandleRoot, 3, 8, 0, 0},
			},
			leaves: []uint32{0x10010},
			want:   map[uint32]float64{0x10010: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := build(t, tt.params, tt.defs)
			got := run(t, h, tt.leaves, 1000, 10*time.Second)
			for id, w := range tt.want {
				if e := math.Abs(got[id]-w) / w; e > 0.01 {
					t.Errorf("class %x: %.4f Mbit/s, want %.4f (%.2f%% off)", id, got[id], w, e*100)
				} else {
					t.Logf("class %x: %.4f Mbit/s, want %.4f (%.3f%% off)", id, got[id], w, e*100)
				}
			}
		})
	}
}

// TestStatistics checks lends and borrows: a leaf within its rate lends
// itself (sends at level 0), one over it borrows.
func TestStatistics(t *testing.T) {
	h := build(t, Params{}, []classDef{
		{0x10001, qdisc.HandleRoot, 10, 10, 0, 0},
		{0x10010, 0x10001, 1, 10, 0, 1500},
	})
	run(t, h, []uint32{0x10010}, 1000, time.Second)
	cs := h.Classes(nil)
	if len(cs) != 2 {
		t.Fatalf("%d classes", len(cs))
	}
	root, leaf := cs[0], cs[1]
	if leaf.Lends == 0 || leaf.Borrows == 0 || root.Lends == 0 || root.Borrows != 0 {
		t.Errorf("root lends %d borrows %d, leaf lends %d borrows %d", root.Lends, root.Borrows, leaf.Lends, leaf.Borrows)
	}
	// The leaf sent at 10 Mbit/s for 2 s (warm-up included), a tenth
	// of it within its own rate.
	if f := float64(leaf.Lends) / float64(leaf.Lends+leaf.Borrows); math.Abs(f-0.1) > 0.01 {
		t.Errorf("leaf lends %d of %d packets, want a tenth", leaf.Lends, leaf.Lends+leaf.Borrows)
	}
	if root.Stats.Packets != leaf.Stats.Packets {
		t.Errorf("root counted %d packets, the leaf %d", root.Stats.Packets, leaf.Stats.Packets)
	}
}

// TestClassify checks htb_classify without filters: a priority naming a
// leaf picks it, the qdisc's own handle and anything unknown go to the
// default class, or to the direct queue without one (which sends first,
// unshaped).
func TestClassify(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	h := build(t, Params{Default: 0x20}, []classDef{
		{0x10001, qdisc.HandleRoot, 10, 10, 0, 0},
		{0x10010, 0x10001, 1, 10, 0, 0},
		{0x10020, 0x10001, 1, 10, 0, 0},
	})
	for _, c := range []struct {
		prio uint32
		want uint32 // class; 0 direct
	}{
		{0x10010, 0x10010}, {0x10020, 0x10020}, {7, 0x10020}, {0x10001, 0x10020}, {handle, 0}, {0x20010, 0x10020},
	} {
		b, _ := pool.Get()
		b.Resize(100)
		b.Priority = c.prio
		cl, direct, _ := h.classify(b)
		b.Release()
		got := uint32(0)
		if !direct {
			got = cl.id
		}
		if got != c.want {
			t.Errorf("priority %x: class %x, want %x", c.prio, got, c.want)
		}
	}
	h.SetParams(Params{Default: 0x99})
	b, _ := pool.Get()
	b.Resize(100)
	b.Priority = 5
	if !h.Enqueue(b, 0) || h.DirectPackets() != 1 || h.Len() != 1 {
		t.Fatalf("unclassified packet without a default class: direct %d, len %d", h.DirectPackets(), h.Len())
	}
	if p := h.Dequeue(0); p == nil {
		t.Fatal("the direct queue sent nothing")
	} else {
		p.Release()
	}
}

// TestClassTree checks adding and deleting classes: a leaf that gets a
// child becomes inner (its queue dropped), a class with children cannot
// be deleted, a parent left without children is a leaf again, and the
// tree is at most 8 levels.
func TestClassTree(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	h := build(t, Params{}, []classDef{{0x10001, qdisc.HandleRoot, 10, 10, 0, 0}})
	b, _ := pool.Get()
	b.Resize(100)
	b.Priority = 0x10001
	h.Enqueue(b, 0)
	cp := ClassParams{Rate: mbit(1), Burst: 1600, CBurst: 1600}
	if _, err := h.AddClass(0x10010, 0x10001, cp, 0); err != nil {
		t.Fatal(err)
	}
	if h.Len() != 0 || h.classes[0x10001].level != MaxDepth-1 {
		t.Errorf("after a child: len %d, parent level %d", h.Len(), h.classes[0x10001].level)
	}
	if err := h.DelClass(0x10001, 0); err != ErrInUse {
		t.Errorf("deleting a parent: %v", err)
	}
	if _, err := h.AddClass(0x10010, 0x10001, cp, 0); err == nil {
		t.Error("a class added twice")
	}
	if _, err := h.AddClass(0x10011, 0x10099, cp, 0); err == nil {
		t.Error("a class under a missing parent")
	}
	if _, err := h.AddClass(0x20011, 0x10001, cp, 0); err == nil {
		t.Error("a class of another qdisc's major")
	}
	if err := h.DelClass(0x10010, 0); err != nil {
		t.Fatal(err)
	}
	if _, leaf := h.HasClass(0x10001); !leaf {
		t.Error("a parent without children is not a leaf again")
	}
	// Depth: 1:1 (level 7) ... a chain of inner classes down to level 1
	// and a leaf; one more is "tree is too deep".
	parent := uint32(0x10001)
	var err error
	for i := uint32(2); i < 20 && err == nil; i++ {
		_, err = h.AddClass(0x10000|i, parent, cp, 0)
		parent = 0x10000 | i
	}
	if err != ErrTooDeep {
		t.Errorf("a deep chain: %v", err)
	}
	if n := len(h.classes); n != 8 {
		t.Errorf("%d classes in the deepest chain, want 8", n)
	}
}

// TestQuantumWarning checks the computed quantum and its clamping.
func TestQuantumWarning(t *testing.T) {
	h := build(t, Params{}, nil)
	for _, c := range []struct {
		rate    float64
		quantum uint32
		warn    string
	}{
		{10, 125000, ""},
		{0.064, 1000, "sch_htb: quantum of class 10001 is small. Consider r2q change."},
		{1000, 200000, "sch_htb: quantum of class 10001 is big. Consider r2q change."},
	} {
		h.DelClass(0x10001, 0)
		w, err := h.AddClass(0x10001, qdisc.HandleRoot, ClassParams{Rate: mbit(c.rate)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if q := uint32(h.classes[0x10001].quantum); q != c.quantum || w != c.warn {
			t.Errorf("rate %v Mbit: quantum %d %q, want %d %q", c.rate, q, w, c.quantum, c.warn)
		}
	}
}

// TestShapingLeaf checks a tbf under a class: the class waits for its
// child, and NextReady says when.
func TestShapingLeaf(t *testing.T) {
	h := build(t, Params{}, []classDef{{0x10001, qdisc.HandleRoot, 100, 100, 0, 0}})
	child, err := tbf.New(tbf.Params{Rate: mbit(1), Burst: 1600, Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Graft(0x10001, child); err != nil {
		t.Fatal(err)
	}
	got := run(t, h, []uint32{0x10001}, 1000, 10*time.Second)
	if e := math.Abs(got[0x10001]-1) / 1; e > 0.01 {
		t.Errorf("tbf under a 100 Mbit class: %.4f Mbit/s, want 1", got[0x10001])
	}
}

// TestZeroAllocs: enqueue and dequeue allocate nothing (each packet is
// taken out and put back in, into the next leaf).
func TestZeroAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	h := build(t, Params{}, tree64())
	pool := testutil.Pool(t, pkt.PoolConfig{})
	t.Cleanup(h.Reset)
	leaves := leafIDs()
	fill64(t, h, pool, leaves)
	now, i := int64(0), 0
	allocs := testing.AllocsPerRun(10000, func() {
		now += 1000
		p := h.Dequeue(now)
		if p == nil {
			t.Fatal("nothing to dequeue")
		}
		p.Priority = leaves[i&63]
		i++
		h.Enqueue(p, now)
	})
	if allocs != 0 {
		t.Errorf("%v allocations a packet", allocs)
	}
}

func fill64(t testing.TB, h *htb, pool *pkt.Pool, leaves []uint32) {
	for i := range 64 {
		p, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		p.Resize(100)
		p.Priority = leaves[i]
		h.Enqueue(p, 0)
	}
}

// tree64 is 64 leaves under 3 levels: a root class, 8 inner classes, 8
// leaves each.
func tree64() []classDef {
	defs := []classDef{{0x10001, qdisc.HandleRoot, 100000, 100000, 0, 0}}
	for i := range uint32(8) {
		inner := 0x10010 + i
		defs = append(defs, classDef{inner, 0x10001, 10000, 100000, 0, 0})
		for j := range uint32(8) {
			defs = append(defs, classDef{0x10100 + i*16 + j, inner, 100, 100000, j % 2, 0})
		}
	}
	return defs
}

func leafIDs() []uint32 {
	var ids []uint32
	for i := range uint32(8) {
		for j := range uint32(8) {
			ids = append(ids, 0x10100+i*16+j)
		}
	}
	return ids
}

// BenchmarkEnqueueDequeue is one packet out of and one into an htb of 64
// leaves under 3 levels (tree64), 64 packets queued, at 100 ns a packet
// of 100 bytes (8 Gbit/s offered to a 100 Gbit/s root whose 64 leaves
// have 100 Mbit/s each, so that a fifth of the packets are borrowed):
// classification, activation, borrowing and charging, the event queue.
func BenchmarkEnqueueDequeue(b *testing.B) {
	h := build(b, Params{}, tree64())
	pool := testutil.Pool(b, pkt.PoolConfig{})
	b.Cleanup(h.Reset)
	leaves := leafIDs()
	fill64(b, h, pool, leaves)
	now, i := int64(0), 0
	b.ReportAllocs()
	for b.Loop() {
		now += 100
		p := h.Dequeue(now)
		if p == nil {
			b.Fatal("nothing to dequeue")
		}
		p.Priority = leaves[i&63]
		i++
		h.Enqueue(p, now)
	}
	b.StopTimer()
	var borrows, lends uint32
	for _, c := range h.Classes(nil) {
		if c.Level == 0 {
			borrows += c.Borrows
			lends += c.Lends
		}
	}
	b.ReportMetric(float64(borrows)/float64(borrows+lends), "borrowed/op")
}

// TestMPU: a packet smaller than the class's mpu pays for mpu bytes
// (psched_l2t_ns): 100-byte packets under "rate 1mbit mpu 1000" leave
// at 125 a second, a tenth of the byte rate.
func TestMPU(t *testing.T) {
	h := build(t, Params{}, nil)
	if _, err := h.AddClass(0x10001, qdisc.HandleRoot, ClassParams{Rate: mbit(1), Burst: 1600, CBurst: 1600, MPU: 1000}, 0); err != nil {
		t.Fatal(err)
	}
	got := run(t, h, []uint32{0x10001}, 100, 10*time.Second)
	if e := math.Abs(got[0x10001]-0.1) / 0.1; e > 0.01 {
		t.Errorf("rate 1mbit mpu 1000 with 100-byte packets: %.4f Mbit/s, want 0.1", got[0x10001])
	}
}

// TestChangeParentWhileChildBorrows: changing an inner class while its
// children are active keeps the children's priorities in its activity (a
// parent's prioActivity is theirs, not 1<<its own prio); a child's next
// mode changes must then find it where they left it (this panicked in
// rrList.remove before the change touched only leaves' activity).
func TestChangeParentWhileChildBorrows(t *testing.T) {
	h := build(t, Params{Default: 0x10}, []classDef{
		{id: 0x10001, parent: qdisc.HandleRoot, rate: 10, ceil: 10, prio: 0},
		{id: 0x10010, parent: 0x10001, rate: 1, ceil: 10, prio: 3},
		{id: 0x10020, parent: 0x10001, rate: 1, ceil: 10, prio: 5},
	})
	leaves := []uint32{0x10010, 0x10020}
	run(t, h, leaves, 1500, 300*time.Millisecond)
	root := h.find(0x10001)
	before := root.prioActivity
	if before == 0 {
		t.Fatal("the root class is not active while its children borrow: the test sets nothing up")
	}
	if _, err := h.ChangeClass(0x10001, ClassParams{Rate: mbit(10), Ceil: mbit(12), Burst: 1600, CBurst: 1600, Prio: 1}); err != nil {
		t.Fatal(err)
	}
	if root.prioActivity != before {
		t.Fatalf("root's activity %#b after the change, want its children's %#b", root.prioActivity, before)
	}
	got := runFrom(t, h, leaves, 1500, int64(1300*time.Millisecond), 500*time.Millisecond)
	// A root class has no parent to borrow from: its rate (10) is what
	// its children share, the prio 3 leaf borrowing first.
	if sum := got[0x10010] + got[0x10020]; sum < 9.9 || sum > 10.1 || got[0x10010] < got[0x10020] {
		t.Errorf("after the change the leaves got %v Mbit/s, want the root's 10 shared, most to prio 3", got)
	}
}
