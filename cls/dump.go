package cls

import (
	"cmp"
	"slices"
)

// DumpEntry is one filter as a dump walk shows it, valid during the walk's
// callback only.
type DumpEntry struct {
	c *Chains
	f *filter
}

// Pos is the filter's position, its key in a dump.
func (e DumpEntry) Pos() Pos {
	return e.f.pos()
}

// Gen is the generation of the filter's last change: its creation, a
// replace, or counters that moved (its own; its actions' counters have
// generations of their own).
func (e DumpEntry) Gen() uint64 { return e.f.cell.Gen() }

// Append appends the filter's dump encoding (attr.go) to b, with counters
// read now and times as ages at now.
func (e DumpEntry) Append(b []byte, terse bool, now int64) []byte {
	return e.c.appendObject(b, e.f, terse, now)
}

// Walk calls fn for the filters after `after` (nil: from the first) that
// sel selects, in chain, prio, handle order, under the hook's lock, until
// fn returns false. It returns the hook's structural generation as that
// walk saw it (bumped by every add and delete). fn must not call into the
// hook.
func (c *Chains) Walk(after *Pos, sel Select, fn func(DumpEntry) bool) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.walkLocked(after, sel, func(f *filter) bool { return fn(DumpEntry{c, f}) })
	return c.structGen
}

// ChangedSince returns the positions of the filters changed after
// generation since (created, replaced, counted), sorted, from the
// counters' change logs: the cost is in proportion to what changed. ok is
// false when the logs no longer reach back to since; the caller then walks
// and compares each filter's Gen. Call it after closing a generation
// (stats.Domain.Advance).
func (c *Chains) ChangedSince(since uint64) (ps []Pos, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ok = c.cells.Changes(since, func(slot uint32) {
		if f := c.bySlot.get(slot); f != nil {
			ps = append(ps, f.pos())
		}
	})
	if !ok {
		return nil, false
	}
	slices.SortFunc(ps, ComparePos)
	return slices.Compact(ps), true
}

// ComparePos orders positions as a hook lists its filters.
func ComparePos(a, b Pos) int {
	if c := cmp.Compare(a.Chain, b.Chain); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Prio, b.Prio); c != 0 {
		return c
	}
	return cmp.Compare(a.Handle, b.Handle)
}

// WalkPositions is Walk over the given positions only (sorted, as
// ChangedSince returns them): those after `after` that sel selects and
// that still exist. Resuming is a binary search.
func (c *Chains) WalkPositions(ps []Pos, after *Pos, sel Select, fn func(DumpEntry) bool) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := 0
	if after != nil {
		var found bool
		i, found = slices.BinarySearchFunc(ps, *after, ComparePos)
		if found {
			i++
		}
	}
	for _, p := range ps[i:] {
		if sel.Chain != nil && p.Chain != *sel.Chain || sel.Prio != 0 && p.Prio != sel.Prio {
			continue
		}
		if f := c.getLocked(p); f != nil && !fn(DumpEntry{c, f}) {
			break
		}
	}
	return c.structGen
}
