package cls

import (
	"sync/atomic"
	"unsafe"

	"netyard/internal/prefault"
)

// The data path's view of a hook: what Block.Classify reads, without locks,
// while Chains changes it. It is cls_flower's layout, generalised to every
// prio of every chain:
//
//	Block ─► chains (sorted by index) ─► groups (one per prio, sorted)
//	        ─► masks (in creation order) ─► hash table per mask ─► filters
//
// A group is the kernel's tcf_proto: the filters of one chain and prio,
// all of one kind and protocol. Its filters are spread over masks: a mask
// is the set of key words (and their bit masks) and port-range fields a
// filter matches on, and all filters with the same mask sit in one hash
// table keyed by the key's words under that mask. Looking a packet up in a
// group costs one hash probe per distinct mask, not one compare per
// filter. A matchall filter is a mask of no words.
//
// Port ranges: filters whose mask has a range keep the exact words in the
// hash as the others do; the range itself is checked on each filter of the
// probed bucket. Filters that differ only in their ranges (say "ip_proto
// tcp dst_port 1000-1999" and "... 2000-2999") therefore share a bucket,
// and a lookup walks them: for range filters the cost is the number of
// filters with the same exact keys, as cls_flower's fl_lookup_range walks
// the mask's filters.
//
// Order within a prio: the filter with the lowest handle among those that
// match, as netyard's list walk has always done (and as the kernel does
// whenever the filters of a prio do not overlap, which flower's "same
// keys" check encourages). The kernel instead tries masks in creation
// order and takes the first mask's match; netyard looks into every mask of
// the prio and keeps the lowest handle, so the result never depends on the
// history of which mask came first. "continue" (a negative verdict) goes
// on with the next filter in (prio, handle) order: the same group is
// looked up again for a handle above the one that said continue.
//
// Publication (RCU-style): every level is reached through an atomic
// pointer, and what a pointer leads to never changes once published. A
// change makes new versions of just the parts it touches: a filter added
// to an existing mask is one new node at the head of its bucket; a
// deletion copies the nodes before it in its bucket (a bucket holds about
// one node); a new mask, prio or chain copies that level's short slice.
// A hash table grows into a new table of twice its size (four times once
// large: growFourFrom), amortised O(1) per add. Readers see the old or the new version of each part, never a torn
// one. Writers are serialised by Chains.mu.

// chainIdx is one chain of a Block.
type chainIdx struct {
	index  uint32
	groups atomic.Pointer[[]*group] // sorted by prio
}

// group is the filters of one chain and prio.
type group struct {
	chain    uint32
	prio     uint16
	protocol uint16
	kind     kind
	masks    atomic.Pointer[[]*mask] // in creation order
	// isBpf marks a group of bpf filters: they are in bpf (bpf.go), in
	// the kernel's list order, and masks is empty.
	isBpf bool
	// anchor is the mask a bpf group's filters point at (filter.mask),
	// so that a filter finds its group; it holds no table.
	anchor *mask
	bpf    bpfList

	// Control plane, under Chains.mu: the filters by handle, in order,
	// and the masks by shape.
	handles handleIndex
	byShape map[shape]*mask
}

// shape identifies a mask: the bit masks of the key words, and which port
// fields have ranges.
type shape struct {
	mask   flowKey
	ranges uint8 // 1: src_port range, 2: dst_port range
}

func shapeOf(c *Classifier) shape {
	var s shape
	for _, w := range c.words {
		s.mask[w.idx] = w.mask
	}
	for _, r := range c.ranges() {
		if r.shift == shSrcPort {
			s.ranges |= 1
		} else {
			s.ranges |= 2
		}
	}
	return s
}

// mask is the filters of a group that share a shape, in a hash table over
// their masked key words.
type mask struct {
	g     *group     // the group it belongs to (control plane)
	words []maskWord // the shape's non-zero words, in word order
	seed  uint64
	tab   atomic.Pointer[hashTable]
	n     int // filters in it (control plane)
	// nodes hands out new hash nodes (the hook's, Chains.nodes).
	nodes *prefault.Objects[node]
}

type maskWord struct {
	idx  uint8
	mask uint64
}

// hashTable is a power-of-two array of bucket heads. Nodes are immutable
// once published: insertion puts a new node at a bucket's head, deletion
// copies the nodes before the deleted one.
type hashTable struct {
	buckets []atomic.Pointer[node]
	bits    uint8
}

type node struct {
	hash uint64
	f    *filter
	next *node
}

func newHashTable(bits uint8) *hashTable {
	t := &hashTable{buckets: make([]atomic.Pointer[node], 1<<bits), bits: bits}
	if len(t.buckets) >= populateFrom {
		// A growth's rehash writes all over the new array: fault its
		// pages in with one call first (internal/prefault).
		prefault.Populate(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.buckets))), uintptr(len(t.buckets))*unsafe.Sizeof(t.buckets[0])))
	}
	return t
}

// populateFrom is the bucket count from which a new table's array is
// faulted in before use (64 KiB and more: fresh pages, not reused heap).
const populateFrom = 1 << 13

func (t *hashTable) bucket(h uint64) *atomic.Pointer[node] {
	return &t.buckets[h>>(64-t.bits)]
}

// mix is splitmix64's finaliser: every input bit moves every output bit,
// so that keys differing in a few low bits of one word (consecutive
// addresses) spread over the buckets.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// hashKey hashes k's words under the mask.
func (m *mask) hashKey(k *flowKey) uint64 {
	h := m.seed
	for i := range m.words {
		w := &m.words[i]
		h = mix(h ^ k[w.idx]&w.mask)
	}
	return h
}

// hashClassifier hashes a classifier of the mask's shape: its values are
// its key under the mask.
func (m *mask) hashClassifier(c *Classifier) uint64 {
	h := m.seed
	for i := range c.words {
		h = mix(h ^ c.words[i].value)
	}
	return h
}

// lookup returns the filter of the mask with the lowest handle above after
// that matches k, nil for none.
func (m *mask) lookup(k *flowKey, after uint32) *filter {
	h := m.hashKey(k)
	var best *filter
	for n := m.tab.Load().bucket(h).Load(); n != nil; n = n.next {
		if n.hash != h {
			continue
		}
		f := n.f
		if f.handle <= after || best != nil && f.handle >= best.handle {
			continue
		}
		if f.cls.match(k) {
			best = f
		}
	}
	return best
}

// lookup returns the group's filter with the lowest handle above after
// that matches k.
func (g *group) lookup(k *flowKey, after uint32) *filter {
	var best *filter
	for _, m := range *g.masks.Load() {
		if f := m.lookup(k, after); f != nil && (best == nil || f.handle < best.handle) {
			best = f
		}
	}
	return best
}

// insert publishes f in the mask (control plane). The table doubles when
// it holds more filters than buckets.
func (m *mask) insert(f *filter) {
	t := m.tab.Load()
	if m.n >= len(t.buckets) {
		t = m.grow(t)
	}
	h := m.hashClassifier(&f.cls)
	b := t.bucket(h)
	n := m.nodes.Get()
	*n = node{hash: h, f: f, next: b.Load()}
	b.Store(n)
	m.n++
}

// growFourFrom is the table size from which a table grows fourfold, not
// twofold: every growth copies all the nodes (readers may be walking the
// old chains), so a bulk load of a million filters copied a million
// nodes on the way; growing by four copies a third as many, for at most
// four buckets a filter right after a growth.
const growFourFrom = 1 << 12

// grow makes and publishes a table of twice the size (four times from
// growFourFrom buckets) with the same nodes (copied: a node's next is
// immutable).
func (m *mask) grow(old *hashTable) *hashTable {
	step := uint8(1)
	if len(old.buckets) >= growFourFrom {
		step = 2
	}
	t := newHashTable(old.bits + step)
	for i := range old.buckets {
		for n := old.buckets[i].Load(); n != nil; n = n.next {
			b := t.bucket(n.hash)
			c := m.nodes.Get()
			*c = node{hash: n.hash, f: n.f, next: b.Load()}
			b.Store(c)
		}
	}
	m.tab.Store(t)
	return t
}

// remove unpublishes f from the mask (control plane): the nodes before it
// in its bucket are copied, the ones after it shared.
func (m *mask) remove(f *filter) bool {
	t := m.tab.Load()
	h := m.hashClassifier(&f.cls)
	b := t.bucket(h)
	head := b.Load()
	var prefix []*node
	n := head
	for ; n != nil && n.f != f; n = n.next {
		prefix = append(prefix, n)
	}
	if n == nil {
		return false
	}
	rest := n.next
	for i := len(prefix) - 1; i >= 0; i-- {
		rest = &node{hash: prefix[i].hash, f: prefix[i].f, next: rest}
	}
	b.Store(rest)
	m.n--
	return true
}

// sameKeys returns a filter of the mask other than except with exactly c's
// keys (flower's duplicate check, fl_ht_insert_unique): one probe.
func (m *mask) sameKeys(c *Classifier, except *filter) *filter {
	h := m.hashClassifier(c)
	for n := m.tab.Load().bucket(h).Load(); n != nil; n = n.next {
		if n.hash == h && n.f != except && n.f.cls.sameKeys(c) {
			return n.f
		}
	}
	return nil
}

func newMask(g *group, s shape, seed uint64, nodes *prefault.Objects[node]) *mask {
	m := &mask{g: g, seed: seed, nodes: nodes}
	for i, w := range s.mask {
		if w != 0 {
			m.words = append(m.words, maskWord{idx: uint8(i), mask: w})
		}
	}
	m.tab.Store(newHashTable(2))
	return m
}

// cow returns a copy of *p's slice with fn applied, for publication.
func cowSlice[T any](p *atomic.Pointer[[]T], fn func([]T) []T) {
	var old []T
	if s := p.Load(); s != nil {
		old = *s
	}
	n := fn(append([]T(nil), old...))
	p.Store(&n)
}
