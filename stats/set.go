package stats

import (
	"math/bits"
	"netyard/internal/prefault"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Set holds the counters of one table of objects (a namespace's actions
// and filters) for millions of objects: every object has a slot, every
// worker a 16-byte record per slot in arrays of its own (no cache line is
// written by two workers), and every object a 48-byte record of what is
// shared (the generation of its last change, its use times, its owner's
// tag). Slots live in chunks that never move, so a Cell is a chunk and an
// offset, and a worker's Use is one atomic add on its own record plus two
// loads of the shared one.
//
// A Set also keeps a change log per worker (and one for the control
// plane): the first time in a generation that an object changes, its slot
// is appended with the generation. "What changed since generation G" reads
// the logs from G on, so it costs in proportion to the changes, not to the
// table (Changes). The logs are bounded: when they grow past four entries
// per object, the oldest entries go, and a query from before them falls
// back to a walk (Changes returns false).
//
// The big arrays hold no pointers, so the garbage collector never scans
// them; on Linux, chunks of 64 KiB and more are mapped outside the Go heap
// (mem_linux.go), which keeps them out of the heap's growth target too: a
// daemon with 6,000,000 actions keeps 480 MiB of counters that the GC
// neither scans nor doubles.
type Set struct {
	dom *Domain
	// domIdx is the set's place in dom.sets (under dom.setsMu), -1
	// once closed.
	domIdx int
	// chunks is copied on growth and published atomically; chunks
	// themselves never move.
	chunks atomic.Pointer[[]*chunk]

	mu      sync.Mutex
	next    uint32   // slots handed out so far
	free    []uint32 // slots ready for reuse
	pending []freed  // slots freed, waiting for a grace period
	live    int
	// logs[w] is worker w's change log; logs[len-1] the control
	// plane's, written under mu.
	logs []*changeLog
	// trimmed: the logs hold every change stamped after it.
	trimmed uint64
	// spare is the next chunk, made and its shared records first
	// written by a goroutine of its own (prepare) while Alloc fills the
	// chunk before it: a bulk load of a million objects pays the page
	// faults of their 48-byte records (10-30 µs each on a VM) beside
	// its critical path, not on it.
	spare atomic.Pointer[chunk]
}

type freed struct {
	slot uint32
	gen  uint64
}

// rec is one worker's counters for one object. packets and bytes share a
// word so that one atomic add counts a packet and a reader gets both from
// the same instant: packets in the top 24 bits, bytes in the low 40. When
// either field passes half its range, the worker folds the word into the
// object's wide counters (fold), which happens once per 8 million packets
// or 512 GiB at the most. Drops and overlimits share the second word, 32
// bits each, folded the same way.
type rec struct {
	pb atomic.Uint64
	dx atomic.Uint64
}

const (
	pbPacket   = 1 << 40
	pbByteMask = pbPacket - 1
	pbFold     = 1<<63 | 1<<39 // 2^23 packets or 2^39 bytes
	dxDrop     = 1 << 32
	dxOverMask = dxDrop - 1
	dxFold     = 1<<63 | 1<<31
)

// base is the shared part of an object's counters.
type base struct {
	// ver is a sequence lock around folds: odd while one runs.
	ver   atomic.Uint32
	flags atomic.Uint32
	// gen is the generation of the last change, 0 for never.
	gen   atomic.Uint64
	first atomic.Int64
	last  atomic.Int64
	inst  atomic.Int64
	tag   atomic.Uint64
}

const (
	flagLive = 1 << iota
	flagWide // wide counters hold folded counts
)

// wide holds an object's folded counts, in a chunk's lazily made array.
type wide struct {
	packets, bytes, drops, overlimits atomic.Uint64
}

type chunk struct {
	set   *Set
	k     int // its number in the set's chunks
	start uint32
	base  []base
	w     [][]rec
	wide  atomic.Pointer[[]wide]
	// foldMu serializes folds within the chunk (rare: see rec).
	foldMu sync.Mutex
}

// Chunk sizes double from 64 slots to 8192, so that a namespace with a
// handful of objects costs a few KiB and one with millions costs a chunk
// per 8192 objects.
const (
	chunkMin   = 64
	chunkMax   = 8192
	chunkSteps = 7                              // 64 << 7 == chunkMax
	smallSlots = chunkMin * (1<<chunkSteps - 1) // slots in the chunks below chunkMax
)

// locate returns the chunk number of slot and its offset in it.
func locate(slot uint32) (k int, off uint32) {
	if slot < smallSlots {
		k = bits.Len32(slot/chunkMin+1) - 1
		return k, slot - chunkMin*(1<<k-1)
	}
	s := slot - smallSlots
	return chunkSteps + int(s/chunkMax), s % chunkMax
}

func chunkShape(k int) (start, size uint32) {
	if k < chunkSteps {
		return chunkMin * (1<<k - 1), chunkMin << k
	}
	return smallSlots + uint32(k-chunkSteps)*chunkMax, chunkMax
}

// NewSet returns an empty set in domain d. The domain trims its change
// logs at every Advance.
func NewSet(d *Domain) *Set {
	s := &Set{dom: d, logs: make([]*changeLog, d.Workers()+1)}
	for i := range s.logs {
		s.logs[i] = new(changeLog)
	}
	s.logs[len(s.logs)-1].fresh = prefault.NewObjects[changeSeg](1, 2, 2)
	empty := []*chunk{}
	s.chunks.Store(&empty)
	d.setsMu.Lock()
	s.domIdx = len(d.sets)
	d.sets = append(d.sets, s)
	d.setsMu.Unlock()
	return s
}

// trim bounds the change logs (Domain.Advance calls it). A set that is
// busy is left for the next time: Advance may come from the set's own
// Alloc, under its lock.
func (s *Set) trim() {
	if !s.mu.TryLock() {
		return
	}
	defer s.mu.Unlock()
	s.trimLocked()
}

// Domain is the set's generation clock.
func (s *Set) Domain() *Domain { return s.dom }

// Alloc gives a new object its counters, installed at now, with the
// owner's tag (which Changes' callers use to find the object a slot
// belongs to). Its creation is a change in the current generation.
func (s *Set) Alloc(now int64, tag uint64) Cell {
	s.mu.Lock()
	defer s.mu.Unlock()
	slot, fresh := s.takeSlot()
	k, off := locate(slot)
	cs := *s.chunks.Load()
	if len(cs) <= k {
		cs = s.growChunks(k)
	}
	ch := cs[k]
	// A reused slot is quiet: no worker still holds the object it
	// belonged to (takeSlot waited for that), and it is zeroed here. A
	// fresh one is zero already: leaving its per-worker counters
	// untouched keeps their pages unfaulted until a worker counts (a
	// bulk load of a million objects saves the time and the memory).
	for w := range ch.w {
		if fresh {
			break
		}
		ch.w[w][off].pb.Store(0)
		ch.w[w][off].dx.Store(0)
	}
	if wd := ch.wide.Load(); wd != nil && !fresh {
		x := &(*wd)[off]
		x.packets.Store(0)
		x.bytes.Store(0)
		x.drops.Store(0)
		x.overlimits.Store(0)
	}
	b := &ch.base[off]
	b.first.Store(0)
	b.last.Store(0)
	b.inst.Store(now)
	b.tag.Store(tag)
	b.flags.Store(flagLive)
	s.live++
	c := Cell{c: ch, i: off}
	s.changedLocked(c)
	return c
}

// takeSlot returns a slot for a new object. A freed slot is reused only
// after a grace period: until every batch that may still hold the freed
// object has ended, its worker may count into it (a replaced filter's old
// block, say), and those counts must not land on the new object. fresh
// reports a slot never handed out before, whose counters are all zero.
func (s *Set) takeSlot() (slot uint32, fresh bool) {
	if len(s.free) == 0 && len(s.pending) > 0 {
		if len(s.pending) >= 1024 && s.pending[len(s.pending)-1].gen >= s.dom.quiet.Load() {
			s.dom.Advance()
		}
		q := s.dom.quiet.Load()
		n := 0
		for _, f := range s.pending {
			if f.gen < q {
				s.free = append(s.free, f.slot)
			} else {
				s.pending[n] = f
				n++
			}
		}
		s.pending = s.pending[:n]
	}
	if n := len(s.free); n > 0 {
		slot := s.free[n-1]
		s.free = s.free[:n-1]
		return slot, false
	}
	slot = s.next
	s.next++
	return slot, true
}

// Free gives an object's slot back. Its counters stay readable through
// the Cell until the slot is reused, which is after a grace period.
func (s *Set) Free(c Cell) {
	if c.c == nil || c.c.set != s {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &c.c.base[c.i]
	if b.flags.Load()&flagLive == 0 {
		return
	}
	b.flags.And(^uint32(flagLive))
	s.live--
	s.pending = append(s.pending, freed{slot: c.Slot(), gen: s.dom.gen.Load()})
}

// Changed stamps a configuration change of c's object (a replaced
// action) with the current generation.
func (s *Set) Changed(c Cell) {
	if c.c == nil || c.c.set != s {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.changedLocked(c)
}

func (s *Set) changedLocked(c Cell) {
	s.dom.ctl.RLock()
	g := s.dom.gen.Load()
	if c.c.stampIf(c.i, g) {
		s.logs[len(s.logs)-1].add(c.Slot(), uint32(g))
	}
	s.dom.ctl.RUnlock()
}

// stampIf moves the object's generation forward to g; it reports whether
// it did (the first change of the object in generation g, which is the
// one logged).
func (ch *chunk) stampIf(i uint32, g uint64) bool {
	b := &ch.base[i]
	for {
		old := b.gen.Load()
		if old >= g {
			return false
		}
		if b.gen.CompareAndSwap(old, g) {
			return true
		}
	}
}

// Cell returns the cell of slot, if the slot holds a live object.
func (s *Set) Cell(slot uint32) (Cell, bool) {
	k, off := locate(slot)
	cs := *s.chunks.Load()
	if k >= len(cs) {
		return Cell{}, false
	}
	c := Cell{c: cs[k], i: off}
	return c, c.c.base[off].flags.Load()&flagLive != 0
}

// Changes calls fn for the slot of every live object changed after
// generation since, as far as the logs go back: it returns false, calling
// nothing, when they no longer reach back to since (the caller walks its
// table instead). A slot may be passed more than once (an object changed
// in several generations); the caller removes duplicates. Call it after
// Domain.Advance so that the generations it reads are closed.
//
// Each call leaves a mark in every log: the generation then open and the
// segment it reached. A later query from that generation on starts at the
// mark, so it reads the segments written since, not the whole log: its
// cost is in proportion to the changes.
func (s *Set) Changes(since uint64, fn func(slot uint32)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trimLocked()
	// The logs keep 32 bits of each stamp, compared in serial-number
	// arithmetic: from 2^31 generations back they cannot tell, and the
	// caller walks.
	if since < s.trimmed || s.dom.gen.Load()-since >= 1<<31 {
		return false
	}
	g := uint32(since)
	for _, l := range s.logs {
		head := l.head.Load()
		if head == nil {
			continue
		}
		start := head
		for i := len(l.marks) - 1; i >= 0; i-- {
			m := l.marks[i]
			if m.seg.seq >= head.seq && (m.gen == g || olderThan(m.gen, g)) {
				start = m.seg
				break
			}
		}
		last := start
		for seg := start; seg != nil; seg = seg.next.Load() {
			last = seg
			n := seg.n.Load()
			if n == 0 || !olderThan(g, seg.e[n-1].gen) {
				continue // nothing in it after since
			}
			for _, e := range seg.e[:n] {
				if !olderThan(g, e.gen) {
					continue
				}
				if c, ok := s.Cell(e.slot); ok && c.c.base[c.i].gen.Load() > since {
					fn(e.slot)
				}
			}
		}
		// Every entry before last was written before now, so it is
		// stamped at or before the generation open now: read after the
		// walk, since another dump may have closed one meanwhile.
		open := uint32(s.dom.gen.Load())
		if k := len(l.marks); k == 0 || l.marks[k-1].seg != last {
			if k == maxMarks {
				l.marks = append(l.marks[:0], l.marks[1:]...)
			}
			l.marks = append(l.marks, logMark{gen: open, seg: last})
		}
	}
	return true
}

// maxMarks bounds a log's marks: one per dump, the oldest go first.
const maxMarks = 64

// trimLocked drops the oldest log segments while the logs hold more than
// four entries per live object (and at least 64 Ki entries).
func (s *Set) trimLocked() {
	total := 0
	for _, l := range s.logs {
		total += int(l.segs.Load()-l.dropped) * logSegLen
	}
	limit := max(4*s.live, 1<<16)
	for total > limit {
		// Drop the segment whose last entry is oldest.
		var oldest *changeLog
		var og uint32
		for _, l := range s.logs {
			h := l.head.Load()
			if h == nil || h.next.Load() == nil {
				continue // the tail segment is the writer's
			}
			if g := h.e[logSegLen-1].gen; oldest == nil || olderThan(g, og) {
				oldest, og = l, g
			}
		}
		if oldest == nil {
			return
		}
		h := oldest.head.Load()
		oldest.head.Store(h.next.Load())
		oldest.dropped++
		// Marks into the dropped segment would keep it (and all after
		// it) reachable.
		oldest.marks = slices.DeleteFunc(oldest.marks, func(m logMark) bool { return m.seg == h })
		total -= logSegLen
		if w := s.dom.widen(og); w > s.trimmed {
			s.trimmed = w
		}
	}
}

// changeLog is one writer's log of (slot, generation) entries, in
// generation order: a list of segments that the writer appends to at the
// tail and Changes reads (and trims) from the head.
type changeLog struct {
	tail *changeSeg // the writer's
	head atomic.Pointer[changeSeg]
	// segs counts the segments the writer made; dropped and marks are
	// the reader's (under Set.mu).
	segs    atomic.Int64
	dropped int64
	marks   []logMark
	// fresh, for the control plane's log, hands out new segments
	// first written by another goroutine (internal/prefault); nil for a
	// worker's.
	fresh *prefault.Objects[changeSeg]
	_     [cacheLine - 64]byte
}

// logMark says that every entry before seg is stamped at or before gen.
type logMark struct {
	gen uint32
	seg *changeSeg
}

const logSegLen = 1024

type changeSeg struct {
	e    [logSegLen]logEntry
	n    atomic.Uint32
	next atomic.Pointer[changeSeg]
	seq  uint64 // the segment's number in its log, set before it is published
}

type logEntry struct{ slot, gen uint32 }

// add appends an entry. It allocates a segment once per 1024 entries: at
// most once per 1024 objects that change in a generation, never per
// packet.
func (l *changeLog) add(slot, gen uint32) {
	t := l.tail
	if t == nil {
		t = l.newSeg()
		l.tail = t
		l.segs.Add(1)
		l.head.Store(t)
	}
	n := t.n.Load()
	if n == logSegLen {
		nt := l.newSeg()
		nt.seq = t.seq + 1
		l.segs.Add(1)
		t.next.Store(nt)
		l.tail, t, n = nt, nt, 0
	}
	t.e[n] = logEntry{slot: slot, gen: gen}
	t.n.Store(n + 1)
}

func (l *changeLog) newSeg() *changeSeg {
	if l.fresh != nil {
		return l.fresh.Get()
	}
	return new(changeSeg)
}

func newChunk(s *Set, k int) *chunk {
	start, size := chunkShape(k)
	ch := &chunk{set: s, start: start, k: k}
	var maps [][]byte
	ch.base, maps = allocArray[base](int(size), maps)
	ch.w = make([][]rec, s.dom.Workers())
	for w := range ch.w {
		ch.w[w], maps = allocArray[rec](int(size), maps)
	}
	if len(maps) > 0 {
		runtime.AddCleanup(ch, freeMaps, maps)
	}
	return ch
}

// growChunks adds chunks up to chunk k and publishes the new list. (Its
// own function, so that Alloc's copy of the list stays on the stack.)
func (s *Set) growChunks(k int) []*chunk {
	cs := *s.chunks.Load()
	for len(cs) <= k {
		next := s.spare.Swap(nil)
		if next == nil || next.k != len(cs) {
			next = newChunk(s, len(cs))
		}
		cs = append(cs[:len(cs):len(cs)], next)
		if len(cs) > chunkSteps {
			go s.prepare(len(cs))
		}
	}
	s.chunks.Store(&cs)
	return cs
}

// prepare makes chunk k ahead of its first Alloc and faults in the pages
// of its shared records, then offers it as the set's spare.
// The per-worker records stay untouched (newChunk says why).
func (s *Set) prepare(k int) {
	ch := newChunk(s, k)
	prefault.Populate(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(ch.base))), uintptr(len(ch.base))*unsafe.Sizeof(base{})))
	s.spare.Store(ch)
}

// wideArray returns the chunk's wide counters, making them on the first
// fold. The caller holds foldMu.
func (ch *chunk) wideArray() []wide {
	if wd := ch.wide.Load(); wd != nil {
		return *wd
	}
	wd := make([]wide, len(ch.base))
	ch.wide.Store(&wd)
	return wd
}
