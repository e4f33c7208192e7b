// Package stats holds netyard's counters: cells sharded per worker so that
// no cache line is written by two cores, summed when read.
package stats

import (
	"sync/atomic"
)

// cacheLine is the padding unit. 64 bytes on amd64 and arm64's common
// cores; a shard never shares a line with another worker's shard.
const cacheLine = 64

// shard is one worker's part of a Cell. Only that worker writes it; readers
// on other cores load it atomically. On amd64 every atomic write is a locked
// instruction (Store is XCHG, Add is LOCK XADD), so Use does as few as it
// can: two adds, and a store of the last-use time only when the time has
// moved (a batch shares one timestamp). BenchmarkCellUse measures it.
type shard struct {
	bytes      atomic.Uint64
	packets    atomic.Uint64
	drops      atomic.Uint64
	overlimits atomic.Uint64
	firstUse   atomic.Int64
	lastUse    atomic.Int64
	_          [cacheLine - 48]byte
}

// Cell counts one object's traffic: a filter, an action, a qdisc, a class.
type Cell struct {
	shards    []shard
	installed int64
}

// NewCell returns a cell with one shard per worker, installed at now
// (nanoseconds on the datapath's clock).
func NewCell(workers int, now int64) *Cell {
	if workers < 1 {
		workers = 1
	}
	return &Cell{shards: make([]shard, workers), installed: now}
}

func (c *Cell) shard(w int) *shard {
	if uint(w) >= uint(len(c.shards)) {
		w = 0
	}
	return &c.shards[w]
}

// Use counts one packet of n bytes seen by worker w at time now.
func (c *Cell) Use(w int, n int, now int64) {
	s := c.shard(w)
	s.bytes.Add(uint64(n))
	s.packets.Add(1)
	if s.lastUse.Load() != now {
		if s.firstUse.Load() == 0 {
			s.firstUse.Store(now)
		}
		s.lastUse.Store(now)
	}
}

// Drop counts a drop by worker w.
func (c *Cell) Drop(w int) {
	c.shard(w).drops.Add(1)
}

// Overlimit counts an overlimit by worker w.
func (c *Cell) Overlimit(w int) {
	c.shard(w).overlimits.Add(1)
}

// Snapshot is a cell's counters summed over its shards.
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
}

// Read sums the shards.
func (c *Cell) Read() Snapshot {
	s := Snapshot{Installed: c.installed}
	for i := range c.shards {
		sh := &c.shards[i]
		s.Bytes += sh.bytes.Load()
		s.Packets += sh.packets.Load()
		s.Drops += sh.drops.Load()
		s.Overlimits += sh.overlimits.Load()
		if f := sh.firstUse.Load(); f != 0 && (s.FirstUsed == 0 || f < s.FirstUsed) {
			s.FirstUsed = f
		}
		if l := sh.lastUse.Load(); l > s.LastUsed {
			s.LastUsed = l
		}
	}
	return s
}
