package pkt

import (
	"math"
	"sync/atomic"
)

// refcount mirrors the kernel's refcount_t (lib/refcount.c, include/linux/refcount.h).
//
// The fast path is one atomic add, as in the kernel's add-then-fix-up scheme
// (commit "locking/refcount: Consolidate implementations of refcount_t",
// 2019): the add is done first and the result checked afterwards. A result
// that is zero or negative (as int32) means the count was at zero or past
// the saturation point before the add; the counter is then set to
// refSaturated and the fault reported. Because saturated is half-way through
// the negative range, racing increments and decrements after saturation
// cannot bring it back into the valid range within 2^30 operations, which is
// the same argument the kernel makes.
type refcount struct {
	v atomic.Int32
}

// refSaturated is the kernel's REFCOUNT_SATURATED (INT_MIN / 2).
const refSaturated = math.MinInt32 / 2

// Fault is the kind of refcount misuse that was caught.
type Fault int

const (
	// FaultAddOnZero is an increment of a count that was zero: a
	// use-after-free in the making (the kernel's REFCOUNT_ADD_UAF).
	FaultAddOnZero Fault = iota
	// FaultOverflow is an increment past math.MaxInt32 (REFCOUNT_ADD_OVF).
	FaultOverflow
	// FaultUnderflow is a decrement of a count that was zero or saturated
	// (REFCOUNT_SUB_UAF).
	FaultUnderflow
	numFaults
)

func (f Fault) String() string {
	switch f {
	case FaultAddOnZero:
		return "addition on 0; use-after-free"
	case FaultOverflow:
		return "saturated; leaking memory"
	case FaultUnderflow:
		return "underflow; use-after-free"
	}
	return "unknown refcount fault"
}

func (r *refcount) set(n int32) { r.v.Store(n) }

func (r *refcount) load() int32 { return r.v.Load() }

// inc adds one reference. It reports a fault (and saturates) when the count
// was zero or already saturated/overflowing.
func (r *refcount) inc() (Fault, bool) {
	old := r.v.Add(1) - 1
	if old > 0 && old != math.MaxInt32 {
		return 0, true
	}
	r.v.Store(refSaturated)
	switch {
	case old == 0:
		return FaultAddOnZero, false
	default:
		return FaultOverflow, false
	}
}

// dec drops one reference and reports whether it was the last one. A
// decrement of a zero or saturated count saturates and reports a fault;
// the caller must then not free the object.
func (r *refcount) dec() (last bool, f Fault, ok bool) {
	old := r.v.Add(-1) + 1
	if old == 1 {
		return true, 0, true
	}
	if old > 1 {
		return false, 0, true
	}
	r.v.Store(refSaturated)
	return false, FaultUnderflow, false
}
