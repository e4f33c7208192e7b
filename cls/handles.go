package cls

import (
	"math/bits"
	"slices"
)

// handleIndex is the control plane's index of one group's filters by
// handle: ordered, for listing and dumps that resume after a handle, and
// for the lowest free handle. Handles sit in pages of 256 (a bitmap and the
// page's filters in handle order), found by a map from page number and
// walked through the sorted page numbers, as act.Table keeps actions: get,
// put and delete cost O(1) plus a move within one page (and, when a page
// appears or goes, within the page list: 4,096 entries for a million
// consecutive handles), a resumed walk a binary search.
type handleIndex struct {
	pages map[uint32]*handlePage
	keys  []uint32 // page numbers, sorted
	n     int
	// hint is at or below the lowest free handle >= 1.
	hint uint32
}

type handlePage struct {
	bits [4]uint64
	fs   []*filter // in handle order; fs[rank(h)] is h's
}

func (p *handlePage) rank(off uint32) int {
	w := off >> 6
	r := bits.OnesCount64(p.bits[w] & (1<<(off&63) - 1))
	for i := range w {
		r += bits.OnesCount64(p.bits[i])
	}
	return r
}

func (p *handlePage) has(off uint32) bool { return p.bits[off>>6]&(1<<(off&63)) != 0 }

func (x *handleIndex) get(h uint32) *filter {
	p := x.pages[h>>8]
	if p == nil || !p.has(h&255) {
		return nil
	}
	return p.fs[p.rank(h&255)]
}

// put stores f at its handle, replacing what was there.
func (x *handleIndex) put(f *filter) {
	h := f.handle
	if x.pages == nil {
		x.pages = make(map[uint32]*handlePage)
	}
	p := x.pages[h>>8]
	if p == nil {
		p = &handlePage{}
		if prev := x.pages[h>>8-1]; prev != nil && len(prev.fs) == 256 {
			// Handles added in order fill page after page: give
			// this one its full size now, not by eight doublings.
			p.fs = make([]*filter, 0, 256)
		}
		x.pages[h>>8] = p
		i, _ := slices.BinarySearch(x.keys, h>>8)
		x.keys = slices.Insert(x.keys, i, h>>8)
	}
	off := h & 255
	r := p.rank(off)
	if p.has(off) {
		p.fs[r] = f
		return
	}
	p.bits[off>>6] |= 1 << (off & 63)
	p.fs = slices.Insert(p.fs, r, f)
	x.n++
}

func (x *handleIndex) delete(h uint32) {
	p := x.pages[h>>8]
	off := h & 255
	if p == nil || !p.has(off) {
		return
	}
	r := p.rank(off)
	p.bits[off>>6] &^= 1 << (off & 63)
	p.fs = slices.Delete(p.fs, r, r+1)
	x.n--
	if len(p.fs) == 0 {
		delete(x.pages, h>>8)
		i, _ := slices.BinarySearch(x.keys, h>>8)
		x.keys = slices.Delete(x.keys, i, i+1)
	}
	if h < x.hint {
		x.hint = h
	}
}

// free returns the lowest handle from 1 that no filter uses (flower's
// idr_alloc_u32 from 1), 0 when all 2^32-1 are taken. Full pages are
// skipped a page at a time, and the hint remembers where the last search
// ended, so adding handles in order costs O(1) each.
func (x *handleIndex) free() uint32 {
	h := max(x.hint, 1)
	for {
		p := x.pages[h>>8]
		if p == nil {
			x.hint = h
			return h
		}
		for off := h & 255; off < 256; off++ {
			if w := ^p.bits[off>>6] >> (off & 63); w != 0 {
				off += uint32(bits.TrailingZeros64(w))
				if off < 256 {
					h = h&^255 | off
					x.hint = h
					return h
				}
			}
			off |= 63
		}
		next := (h>>8 + 1) << 8
		if next == 0 {
			return 0
		}
		h = next
	}
}

// walk calls fn for the filters with a handle above after, in handle
// order, until fn returns false; it reports whether fn never did.
func (x *handleIndex) walk(after uint32, fn func(*filter) bool) bool {
	i, _ := slices.BinarySearch(x.keys, after>>8)
	for _, k := range x.keys[i:] {
		p := x.pages[k]
		start := 0
		if k == after>>8 {
			start = p.rank(after & 255)
			if p.has(after & 255) {
				start++
			}
		}
		for _, f := range p.fs[start:] {
			if !fn(f) {
				return false
			}
		}
	}
	return true
}

// first returns the filter with the lowest handle, nil for none.
func (x *handleIndex) first() *filter {
	if len(x.keys) == 0 {
		return nil
	}
	return x.pages[x.keys[0]].fs[0]
}
