package stats

import (
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCell(t *testing.T) {
	c := NewCell(3, 100)
	c.Use(0, 10, 200)
	c.Use(1, 20, 150)
	c.Use(2, 30, 300)
	c.Use(7, 40, 300) // an out-of-range worker lands on shard 0
	c.Drop(1)
	c.Overlimit(2)
	s := c.Read()
	want := Snapshot{Bytes: 100, Packets: 4, Drops: 1, Overlimits: 1, Installed: 100, FirstUsed: 150, LastUsed: 300, Gen: 1}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	var zero Cell
	zero.Use(0, 1, 1)
	zero.Drop(0)
	if s := zero.Read(); s != (Snapshot{}) || zero.Valid() {
		t.Fatalf("zero cell: %+v", s)
	}
}

// TestFold: counts past the packed fields' range move to the wide
// counters and nothing is lost or counted twice. Each case starts a record
// a few counts below its edge (as if counted one by one) and crosses it.
func TestFold(t *testing.T) {
	tests := []struct {
		name                string
		pb, dx              uint64 // the record before
		n, size             int    // packets of size counted
		drops               int
		wantP, wantB, wantD uint64
	}{
		{name: "packets", pb: (1<<23 - 2) << 40, n: 5, size: 1, wantP: 1<<23 + 3, wantB: 5},
		{name: "bytes", pb: 10<<40 | (1<<39 - 100), n: 3, size: 1500, wantP: 13, wantB: 1<<39 - 100 + 4500},
		{name: "drops", dx: (1<<31 - 1) << 32, drops: 3, wantD: 1<<31 + 2},
		{name: "twice", pb: (1<<23 - 1) << 40, n: 1<<23 + 10, size: 1, wantP: 1<<24 + 9, wantB: 1<<23 + 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewCell(2, 1)
			c.rec(1).pb.Store(tt.pb)
			c.rec(1).dx.Store(tt.dx)
			for range tt.n {
				c.Use(1, tt.size, 2)
			}
			for range tt.drops {
				c.Drop(1)
			}
			s := c.Read()
			if s.Packets != tt.wantP || s.Bytes != tt.wantB || s.Drops != tt.wantD {
				t.Fatalf("got packets %d bytes %d drops %d, want %d %d %d", s.Packets, s.Bytes, s.Drops, tt.wantP, tt.wantB, tt.wantD)
			}
			if c.c.base[c.i].flags.Load()&flagWide == 0 {
				t.Fatalf("no fold happened")
			}
		})
	}
}

// TestCellConcurrent: writers and a reader never see a count go backwards
// or bytes and packets disagree (every packet is 3 bytes), across folds
// (run with -race).
func TestCellConcurrent(t *testing.T) {
	c := NewCell(2, 1)
	// Start both records just below the fold edge.
	for w := range 2 {
		c.rec(w).pb.Store((1<<23 - 5000) << 40)
	}
	base := uint64(2 * (1<<23 - 5000))
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 10000 {
				c.Use(w, 3, int64(i+1))
			}
		})
	}
	var last uint64
	for range 2000 {
		s := c.Read()
		if s.Packets < last {
			t.Fatalf("packets went back from %d to %d", last, s.Packets)
		}
		if s.Bytes != (s.Packets-base)*3 {
			t.Fatalf("bytes %d and packets %d from different instants", s.Bytes, s.Packets-base)
		}
		last = s.Packets
	}
	wg.Wait()
	if s := c.Read(); s.Packets != base+20000 || s.Bytes != 60000 {
		t.Fatalf("final %+v", s)
	}
}

func TestUseNoAllocs(t *testing.T) {
	d := NewDomain(2)
	s := NewSet(d)
	c := s.Alloc(1, 0)
	now := int64(1)
	if n := testing.AllocsPerRun(1000, func() {
		d.Enter(1)
		c.Use(1, 64, now)
		c.Drop(1)
		d.Exit(1)
		now++
	}); n != 0 {
		t.Fatalf("Use allocates %v times", n)
	}
}

func TestLocate(t *testing.T) {
	prevK, prevOff := 0, uint32(0)
	for slot := uint32(0); slot < smallSlots+3*chunkMax; slot++ {
		k, off := locate(slot)
		start, size := chunkShape(k)
		if start+off != slot || off >= size {
			t.Fatalf("slot %d: chunk %d off %d (start %d size %d)", slot, k, off, start, size)
		}
		if slot > 0 && !(k == prevK && off == prevOff+1 || k == prevK+1 && off == 0) {
			t.Fatalf("slot %d: chunk %d off %d after %d %d", slot, k, off, prevK, prevOff)
		}
		prevK, prevOff = k, off
	}
}

// TestChanges: what changed since a generation is exactly what was
// touched or created after it, and a trimmed log says so.
func TestChanges(t *testing.T) {
	d := NewDomain(2)
	s := NewSet(d)
	cells := make([]Cell, 5000)
	for i := range cells {
		cells[i] = s.Alloc(1, uint64(i))
	}
	g1 := d.Advance()
	if got := changed(t, s, g1); len(got) != 0 {
		t.Fatalf("nothing changed after %d, got %d slots", g1, len(got))
	}
	if got := changed(t, s, 0); len(got) != len(cells) {
		t.Fatalf("since 0: %d slots, want %d", len(got), len(cells))
	}
	want := []uint32{}
	for i := 0; i < len(cells); i += 7 {
		cells[i].Use(i%2, 100, 5)
		want = append(want, cells[i].Slot())
	}
	s.Changed(cells[1])
	want = append(want, cells[1].Slot())
	fresh := s.Alloc(6, 99)
	want = append(want, fresh.Slot())
	s.Free(cells[14]) // gone: not reported
	want = slices.DeleteFunc(want, func(x uint32) bool { return x == cells[14].Slot() })
	g2 := d.Advance()
	got := changed(t, s, g1)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("since %d: got %d slots, want %d", g1, len(got), len(want))
	}
	if got := changed(t, s, g2); len(got) != 0 {
		t.Fatalf("since %d: %d slots, want none", g2, len(got))
	}
	// A flood of changes trims the logs; a query from before them fails.
	for round := 0; round < 60; round++ {
		for _, c := range cells {
			c.Use(0, 1, int64(round+10))
		}
		d.Advance()
	}
	if s.Changes(g1, func(uint32) {}) {
		t.Fatalf("since %d answered from logs that were trimmed", g1)
	}
	g := d.Advance()
	cells[3].Use(1, 1, 100)
	d.Advance()
	if got := changed(t, s, g); !slices.Equal(got, []uint32{cells[3].Slot()}) {
		t.Fatalf("after trimming: %v", got)
	}
}

func changed(t *testing.T, s *Set, since uint64) []uint32 {
	t.Helper()
	var out []uint32
	if !s.Changes(since, func(slot uint32) { out = append(out, slot) }) {
		t.Fatalf("since %d: logs do not reach back", since)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestNoChangeMissed is the generations' promise under concurrency:
// workers count into random objects in batches while a reader closes
// generations; every object whose counters moved between two reads is
// reported as changed since the generation the earlier read closed.
func TestNoChangeMissed(t *testing.T) {
	const workers, objects = 2, 4096
	d := NewDomain(workers)
	s := NewSet(d)
	cells := make([]Cell, objects)
	for i := range cells {
		cells[i] = s.Alloc(1, uint64(i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			now := int64(10)
			for !stop.Load() {
				d.Enter(w)
				for range 64 {
					cells[r.IntN(objects)].Use(w, 1, now)
				}
				d.Exit(w)
				now++
			}
		})
	}
	prev := make([]uint64, objects)
	gen := d.Advance()
	for i, c := range cells {
		prev[i] = c.Read().Packets
	}
	// Objects that moved without being reported: they must have moved
	// after the generation closed (the count is added before the stamp,
	// so a read can see the count of a visit still on its way to the
	// stamp), which the next Advance, a grace period, settles.
	later := map[int]uint64{}
	for round := 0; round < 200; round++ {
		next := d.Advance()
		for i, after := range later {
			if g := cells[i].Gen(); g <= after {
				t.Fatalf("round %d: object %d moved unreported and is stamped %d, not after %d", round, i, g, after)
			}
		}
		clear(later)
		seen := make(map[uint32]bool)
		if !s.Changes(gen, func(slot uint32) { seen[slot] = true }) {
			t.Fatalf("round %d: logs trimmed", round)
		}
		for i, c := range cells {
			p := c.Read().Packets
			if p < prev[i] {
				t.Fatalf("object %d went back", i)
			}
			if p != prev[i] && !seen[c.Slot()] {
				later[i] = next // reported next round, stamped after next
				continue
			}
			prev[i] = p
		}
		gen = next
	}
	stop.Store(true)
	wg.Wait()
}

// TestSlotReuseWaits: a freed slot is not reused before a grace period.
func TestSlotReuseWaits(t *testing.T) {
	d := NewDomain(1)
	s := NewSet(d)
	a := s.Alloc(1, 1)
	d.Enter(0) // a batch that may still hold a
	s.Free(a)
	b := s.Alloc(1, 2)
	if b.Slot() == a.Slot() {
		t.Fatalf("slot %d reused while a batch may hold it", a.Slot())
	}
	d.Exit(0)
	d.Advance()
	c := s.Alloc(1, 3)
	if c.Slot() != a.Slot() {
		t.Fatalf("slot %d not reused after a grace period (got %d)", a.Slot(), c.Slot())
	}
	if c.Read().Packets != 0 || c.Tag() != 3 {
		t.Fatalf("reused slot not reset: %+v tag %d", c.Read(), c.Tag())
	}
}

func BenchmarkCellUse(b *testing.B) {
	c := NewCell(1, 1)
	for b.Loop() {
		c.Use(0, 64, 5)
	}
}

// BenchmarkCellUseTwoCounters is the cost of the old layout (a separate
// atomic add for bytes and packets), for comparison with BenchmarkCellUse.
func BenchmarkCellUseTwoCounters(b *testing.B) {
	var bytes, packets atomic.Uint64
	for b.Loop() {
		bytes.Add(64)
		packets.Add(1)
	}
}

func BenchmarkCellRead(b *testing.B) {
	c := NewCell(2, 1)
	c.Use(0, 64, 5)
	for b.Loop() {
		_ = c.Read()
	}
}

// TestChangesWhileAdvancing: another dump closes a generation while
// Changes walks the logs, and a worker counts meanwhile; a later query
// from that generation still sees every change (the mark Changes leaves
// is taken after its walk).
func TestChangesWhileAdvancing(t *testing.T) {
	d := NewDomain(2)
	s := NewSet(d)
	cells := make([]Cell, 3000)
	for i := range cells {
		cells[i] = s.Alloc(1, uint64(i))
	}
	g0 := d.Advance()
	cells[0].Use(0, 1, 2)
	var other uint64
	once := false
	s.Changes(g0, func(uint32) {
		if once {
			return
		}
		once = true
		other = d.Advance() // another client's dump
		d.Enter(1)
		for _, c := range cells[1:1100] {
			c.Use(1, 1, 3)
		}
		d.Exit(1)
	})
	d.Advance()
	got := changed(t, s, other)
	if len(got) != 1099 {
		t.Fatalf("since %d: %d changes reported, want the 1099 made after it", other, len(got))
	}
}

// TestLogsBounded: change logs stay bounded by Advance alone, with no
// query ever reading them (a filter set, a table dumped only in full).
func TestLogsBounded(t *testing.T) {
	d := NewDomain(2)
	s := NewSet(d)
	cells := make([]Cell, 10000)
	for i := range cells {
		cells[i] = s.Alloc(1, 0)
	}
	for g := range 200 {
		for _, c := range cells {
			c.Use(g%2, 1, int64(g+2))
		}
		d.Advance()
	}
	total := 0
	for _, l := range s.logs {
		total += int(l.segs.Load()-l.dropped) * logSegLen
	}
	if limit := max(4*len(cells), 1<<16) + len(s.logs)*logSegLen; total > limit {
		t.Fatalf("logs hold %d entries after 200 generations, limit %d", total, limit)
	}
}
