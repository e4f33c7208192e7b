// Package stats holds netyard's counters for millions of objects: sharded
// per worker so that no cache line is written by two cores, summed when
// read, each object stamped with the generation of its last change so that
// "what changed since generation G" costs what changed, not the table.
//
// Domain is a datapath's generation clock, Set one table's counters, Cell
// one object's.
package stats

import "runtime"

// cacheLine is the padding unit. 64 bytes on amd64 and arm64's common
// cores.
const cacheLine = 64

// Cell counts one object's traffic: a filter, an action. It is a handle
// (a chunk and an offset), copied by value; the zero Cell counts nothing
// and reads as zero.
//
// Worker w's counts go to w's own record, and only one goroutine may count
// as worker w at a time (the datapath runs one goroutine per worker).
// Workers out of range count as worker 0.
type Cell struct {
	c *chunk
	i uint32
}

// NewCell returns a cell in a set of its own, for objects outside any
// table (tests, tools).
func NewCell(workers int, now int64) Cell {
	return NewSet(NewDomain(workers)).Alloc(now, 0)
}

// Valid reports whether the cell has counters.
func (c Cell) Valid() bool { return c.c != nil }

// Slot is the cell's slot in its Set.
func (c Cell) Slot() uint32 {
	if c.c == nil {
		return 0
	}
	return c.c.start + c.i
}

func (c Cell) rec(w int) *rec {
	ws := c.c.w
	if uint(w) >= uint(len(ws)) {
		w = 0
	}
	return &ws[w][c.i]
}

// Use counts one packet of n bytes seen by worker w at time now: one
// atomic add on w's record, then two loads of the shared record (the last
// use time and the generation), which are written only when they move: the
// time once per batch, the generation once per dump. BenchmarkCellUse
// measures it.
func (c Cell) Use(w int, n int, now int64) { c.UseN(w, 1, n, now) }

// UseN counts pkts packets of n bytes in all, seen by worker w at time
// now: a GSO frame, counted as the segments it is sent as (pkt.Buffer's
// WireLen), with the one atomic add of Use.
func (c Cell) UseN(w int, pkts, n int, now int64) {
	if c.c == nil {
		return
	}
	if v := c.rec(w).pb.Add(pbPacket*uint64(pkts) + uint64(n)&pbByteMask); v&pbFold != 0 {
		c.fold(w)
	}
	b := &c.c.base[c.i]
	if b.last.Load() != now {
		c.used(now)
	}
	c.touch(w)
}

// Drop counts a drop by worker w.
func (c Cell) Drop(w int) {
	if c.c == nil {
		return
	}
	if v := c.rec(w).dx.Add(dxDrop); v&dxFold != 0 {
		c.fold(w)
	}
	c.touch(w)
}

// Overlimit counts an overlimit by worker w.
func (c Cell) Overlimit(w int) {
	if c.c == nil {
		return
	}
	if v := c.rec(w).dx.Add(1); v&dxFold != 0 {
		c.fold(w)
	}
	c.touch(w)
}

// touch stamps the object with w's generation the first time it changes
// in it, and logs it in w's change log.
func (c Cell) touch(w int) {
	s := c.c.set
	g := s.dom.stamp(w)
	if c.c.base[c.i].gen.Load() >= g {
		return
	}
	if c.c.stampIf(c.i, g) {
		if uint(w) >= uint(len(s.logs)-1) {
			w = 0
		}
		s.logs[w].add(c.Slot(), uint32(g))
	}
}

// used records a use at now: the last use moves forward, the first use
// backward (workers' batches may report out of order).
func (c Cell) used(now int64) {
	b := &c.c.base[c.i]
	for {
		l := b.last.Load()
		if now <= l || b.last.CompareAndSwap(l, now) {
			break
		}
	}
	for {
		f := b.first.Load()
		if (f != 0 && f <= now) || b.first.CompareAndSwap(f, now) {
			break
		}
	}
}

// fold moves worker w's counts into the object's wide counters before a
// field of its record overflows, under the sequence lock readers check.
func (c Cell) fold(w int) {
	ch := c.c
	ch.foldMu.Lock()
	defer ch.foldMu.Unlock()
	wd := &ch.wideArray()[c.i]
	b := &ch.base[c.i]
	r := c.rec(w)
	b.ver.Add(1)
	b.flags.Or(flagWide)
	if v := r.pb.Load(); v&pbFold != 0 {
		wd.packets.Add(v >> 40)
		wd.bytes.Add(v & pbByteMask)
		r.pb.Add(-v) // exact: the add that follows a concurrent add stays
	}
	if x := r.dx.Load(); x&dxFold != 0 {
		wd.drops.Add(x >> 32)
		wd.overlimits.Add(x & dxOverMask)
		r.dx.Add(-x)
	}
	b.ver.Add(1)
}

// Snapshot is a cell's counters summed over its shards. Bytes and packets
// come from the same instant for each worker: one word holds both.
type Snapshot struct {
	Bytes      uint64
	Packets    uint64
	Drops      uint64
	Overlimits uint64
	// Installed, FirstUsed and LastUsed are nanosecond times on the
	// datapath's clock; FirstUsed and LastUsed are 0 until the first use.
	Installed int64
	FirstUsed int64
	LastUsed  int64
	// Gen is the generation of the object's last change.
	Gen uint64
}

// Read sums the shards. It retries while a fold moves counts from a
// shard to the wide counters, so a count never appears twice or not at
// all.
func (c Cell) Read() Snapshot {
	if c.c == nil {
		return Snapshot{}
	}
	ch := c.c
	b := &ch.base[c.i]
	for spin := 0; ; spin++ {
		v := b.ver.Load()
		if v&1 != 0 {
			if spin > 16 {
				runtime.Gosched()
			}
			continue
		}
		s := Snapshot{
			Installed: b.inst.Load(),
			FirstUsed: b.first.Load(),
			LastUsed:  b.last.Load(),
			Gen:       b.gen.Load(),
		}
		if b.flags.Load()&flagWide != 0 {
			wd := &(*ch.wide.Load())[c.i]
			s.Packets, s.Bytes = wd.packets.Load(), wd.bytes.Load()
			s.Drops, s.Overlimits = wd.drops.Load(), wd.overlimits.Load()
		}
		for w := range ch.w {
			r := &ch.w[w][c.i]
			pb, dx := r.pb.Load(), r.dx.Load()
			s.Packets += pb >> 40
			s.Bytes += pb & pbByteMask
			s.Drops += dx >> 32
			s.Overlimits += dx & dxOverMask
		}
		if b.ver.Load() == v {
			return s
		}
	}
}

// Gen is the generation of the object's last change (0 for the zero Cell).
func (c Cell) Gen() uint64 {
	if c.c == nil {
		return 0
	}
	return c.c.base[c.i].gen.Load()
}

// LastUsed is the last use time, 0 before the first.
func (c Cell) LastUsed() int64 {
	if c.c == nil {
		return 0
	}
	return c.c.base[c.i].last.Load()
}

// Tag is the owner's tag given to Set.Alloc.
func (c Cell) Tag() uint64 {
	if c.c == nil {
		return 0
	}
	return c.c.base[c.i].tag.Load()
}
