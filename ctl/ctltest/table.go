// Package ctltest holds an in-memory ctl.Dumper for tests of the protocol,
// the daemon and the CLI, so that they need no datapath.
package ctltest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"sync"
	"time"

	"netyard/ctl"
)

// Table is a sorted in-memory table with the generations a datapath table
// keeps: a structural generation bumped by every add and delete, a change
// generation stamped on every change, and a last-use time on a manual
// clock. It is the contract of ctl.Dumper in its simplest form: the walk,
// the generations and every mutation are under one lock. Its Since filter
// scans the table; the datapath's keeps an index so that the cost follows
// the number of changes.
type Table struct {
	// BeforeBatch, when set, runs at the start of every Dump call before
	// the table's lock is taken, with the number of earlier calls: a test
	// adds or deletes there to act between two batches of a dump.
	BeforeBatch func(call int)

	mu        sync.Mutex
	objs      []entry // sorted by key
	structGen uint64
	changeGen uint64
	now       time.Duration
	calls     int
}

type entry struct {
	key, data, terse []byte
	gen              uint64
	lastUse          time.Duration
}

// Key is the 8-byte big-endian key of index i: keys of this form sort as
// their indices.
func Key(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

// KeyIndex is the inverse of Key.
func KeyIndex(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

func (t *Table) find(key []byte) (int, bool) {
	return slices.BinarySearchFunc(t.objs, key, func(e entry, k []byte) int { return bytes.Compare(e.key, k) })
}

// Put creates the object at key or changes it, with data for full dumps
// and terse for terse ones, marks it used now, and returns its generation.
// The table keeps the slices.
func (t *Table) Put(key, data, terse []byte) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.changeGen++
	i, found := t.find(key)
	if !found {
		t.objs = slices.Insert(t.objs, i, entry{key: bytes.Clone(key)})
		t.structGen++
	}
	e := &t.objs[i]
	e.data, e.terse, e.gen, e.lastUse = data, terse, t.changeGen, t.now
	return e.gen
}

// Delete removes the object at key and reports whether it existed.
func (t *Table) Delete(key []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, found := t.find(key)
	if found {
		t.objs = slices.Delete(t.objs, i, i+1)
		t.structGen++
	}
	return found
}

// Use records traffic on the object at key: its counters moved, so it
// changed, and it was used now.
func (t *Table) Use(key []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	i, found := t.find(key)
	if found {
		t.changeGen++
		t.objs[i].gen, t.objs[i].lastUse = t.changeGen, t.now
	}
	return found
}

// Advance moves the table's clock.
func (t *Table) Advance(d time.Duration) {
	t.mu.Lock()
	t.now += d
	t.mu.Unlock()
}

// Keys returns the keys present, in order.
func (t *Table) Keys() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	keys := make([][]byte, len(t.objs))
	for i, e := range t.objs {
		keys[i] = e.key
	}
	return keys
}

// Gens returns the table's generations.
func (t *Table) Gens() ctl.Gens {
	t.mu.Lock()
	defer t.mu.Unlock()
	return ctl.Gens{Struct: t.structGen, Change: t.changeGen}
}

// ErrSelect is the table's answer to selector words: it has none.
var ErrSelect = errors.New("ctltest: the table takes no selector words")

// Dump implements ctl.Dumper: a binary search to the cursor, then a walk.
func (t *Table) Dump(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
	t.mu.Lock()
	call := t.calls
	t.calls++
	t.mu.Unlock()
	if t.BeforeBatch != nil {
		t.BeforeBatch(call)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	gens := ctl.Gens{Struct: t.structGen, Change: t.changeGen}
	if len(q.Select) > 0 {
		return gens, ErrSelect
	}
	i := 0
	if q.After != nil {
		var found bool
		if i, found = t.find(q.After); found {
			i++
		}
	}
	for _, e := range t.objs[i:] {
		if e.gen <= q.Since {
			continue
		}
		// tcf_dump_walker: skip what was last used before now - delta.
		if q.UsedWithin > 0 && e.lastUse < t.now-q.UsedWithin {
			continue
		}
		data := e.data
		if q.Terse {
			data = e.terse
		}
		if !yield(ctl.Object{Key: e.key, Gen: e.gen, Data: data}) {
			break
		}
	}
	return gens, nil
}
