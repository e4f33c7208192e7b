package ctl

import "time"

// Object is one entry of a dumped table.
type Object struct {
	// Key identifies the object and orders the table: keys compare
	// bytewise (bytes.Compare), so fixed-width big-endian fields sort as
	// numbers, e.g. binary.BigEndian.AppendUint32(nil, index) for an
	// action. A key is 1 to MaxKeyLen bytes.
	Key []byte
	// Gen is the generation of the object's last change: its creation, a
	// new configuration, or counters that moved.
	Gen uint64
	// Data is the object's attributes, encoded by the Dumper (kind,
	// index, statistics, ...): ctl carries them opaquely as ObjData.
	Data []byte
}

// Gens are a table's generations.
type Gens struct {
	// Struct is bumped by every add and every delete: two batches of a
	// dump that see different values saw different sets of objects, and
	// the dump is flagged with NLM_F_DUMP_INTR. It plays the part of the
	// kernel's cb->seq (for link dumps, net->dev_base_seq).
	Struct uint64
	// Change is a generation such that every change made after the walk
	// that returned it began carries a Gen greater than Change. The
	// first batch's Change is what a dump tells the client to ask for
	// next time, so a change racing with the dump is reported again,
	// never lost.
	Change uint64
}

// DumpQuery is what one batch of a dump asks of a Dumper.
type DumpQuery struct {
	// After is the cursor: yield only objects whose key sorts after it;
	// nil means from the first object. It is the last key of the
	// previous batch, so a Dumper with a sorted index seeks to it rather
	// than walking from the start as the kernel's tcf_dump_walker does.
	// Valid only during the call.
	After []byte
	// Since, when not 0, asks only for objects whose Gen is greater.
	Since uint64
	// UsedWithin, when not 0, asks only for objects used within that
	// long before now on the Dumper's clock: tc's "since MSECS"
	// (TCA_ROOT_TIME_DELTA; tcf_dump_walker skips an action whose
	// tcfa_tm.lastuse is before jiffies - msecs).
	UsedWithin time.Duration
	// Terse asks for only what identifies an object and its statistics
	// (TCA_ACT_FLAG_TERSE_DUMP).
	Terse bool
	// Select holds the request's selector words (AttrSelect), such as
	// "dev eth0 ingress" for filters; the Dumper interprets them and
	// fails the dump on words it does not know.
	Select []string
	// Batch counts the walks of one request from 0. The first walk is
	// where a Dumper closes the generation it returns as Gens.Change.
	Batch int
	// Memo is the request's own storage, kept across its walks (nil
	// at Batch 0): a Dumper that works out a set of objects once (what
	// changed since a generation) keeps it here.
	Memo *any
}

// Dumper is a table that can be dumped: the datapath implements one per
// object kind.
type Dumper interface {
	// Dump calls yield for the objects that match q, in increasing key
	// order, until there are no more or yield returns false; it returns
	// the table's generations as seen by that walk.
	//
	// yield copies what it needs: the Object's slices may be reused as
	// soon as it returns. It never blocks and does no I/O, so Dump may
	// hold the table's read lock while it calls it; the server writes to
	// the socket only after Dump returns, so a slow client never holds
	// a table lock.
	//
	// For NLM_F_DUMP_INTR to be reliable, the walk and the Gens it
	// returns must be consistent with adds and deletes: a Dumper reads
	// the generations and walks under the lock that adds and deletes
	// take to link, unlink and bump Struct (or an equivalent snapshot).
	// An error ends the dump; it reaches the client as NLMSG_DONE's
	// errno (see Error).
	Dump(q DumpQuery, yield func(Object) bool) (Gens, error)
}

// DumperFunc adapts a function to the Dumper interface.
type DumperFunc func(q DumpQuery, yield func(Object) bool) (Gens, error)

// Dump calls f.
func (f DumperFunc) Dump(q DumpQuery, yield func(Object) bool) (Gens, error) { return f(q, yield) }
