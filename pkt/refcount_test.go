package pkt

import (
	"math"
	"sync"
	"sync/atomic"
	"testing"
)

func TestRefcount(t *testing.T) {
	tests := []struct {
		name      string
		start     int32
		op        string // "inc" or "dec"
		wantOK    bool
		wantFault Fault
		wantLast  bool
		wantAfter int32
	}{
		// The normal cases: one atomic add and nothing else.
		{"inc from 1", 1, "inc", true, 0, false, 2},
		{"dec from 2", 2, "dec", true, 0, false, 1},
		{"dec last", 1, "dec", true, 0, true, 0},
		// refcount_t's catches: saturate and report, never wrap.
		{"inc from 0 is use-after-free", 0, "inc", false, FaultAddOnZero, false, refSaturated},
		{"inc at max overflows", math.MaxInt32, "inc", false, FaultOverflow, false, refSaturated},
		{"inc when saturated stays saturated", refSaturated, "inc", false, FaultOverflow, false, refSaturated},
		{"dec from 0 underflows", 0, "dec", false, FaultUnderflow, false, refSaturated},
		{"dec when saturated stays saturated", refSaturated, "dec", false, FaultUnderflow, false, refSaturated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r refcount
			r.set(tt.start)
			var ok, last bool
			var f Fault
			if tt.op == "inc" {
				f, ok = r.inc()
			} else {
				last, f, ok = r.dec()
			}
			if ok != tt.wantOK || (!ok && f != tt.wantFault) || last != tt.wantLast {
				t.Errorf("got ok=%v fault=%v last=%v, want ok=%v fault=%v last=%v", ok, f, last, tt.wantOK, tt.wantFault, tt.wantLast)
			}
			if got := r.load(); got != tt.wantAfter {
				t.Errorf("count after = %d, want %d", got, tt.wantAfter)
			}
		})
	}
}

// TestRefcountConcurrent checks that balanced holds and releases from many
// goroutines end where they started: the add-then-fix-up fast path loses no
// update.
func TestRefcountConcurrent(t *testing.T) {
	var r refcount
	r.set(1)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 10000 {
				if _, ok := r.inc(); !ok {
					t.Error("inc fault")
					return
				}
				if _, _, ok := r.dec(); !ok {
					t.Error("dec fault")
					return
				}
			}
		})
	}
	wg.Wait()
	if got := r.load(); got != 1 {
		t.Fatalf("count = %d, want 1", got)
	}
}

// The cost of refcount_t's checks, measured against the two alternatives
// the kernel weighed: a plain atomic add with no check (atomic_t), and a
// compare-and-swap loop that checks before it writes (the pre-2019
// refcount_t). bench/refcount.sh prints the ratios.
func BenchmarkRefcount(b *testing.B) {
	b.Run("atomic-unchecked", func(b *testing.B) {
		var v atomic.Int32
		v.Store(1)
		for b.Loop() {
			v.Add(1)
			v.Add(-1)
		}
	})
	b.Run("add-fixup", func(b *testing.B) {
		var r refcount
		r.set(1)
		for b.Loop() {
			r.inc()
			r.dec()
		}
	})
	b.Run("cas-loop", func(b *testing.B) {
		var v atomic.Int32
		v.Store(1)
		inc := func() {
			for {
				old := v.Load()
				if old <= 0 || old == math.MaxInt32 {
					return
				}
				if v.CompareAndSwap(old, old+1) {
					return
				}
			}
		}
		dec := func() {
			for {
				old := v.Load()
				if old <= 0 {
					return
				}
				if v.CompareAndSwap(old, old-1) {
					return
				}
			}
		}
		for b.Loop() {
			inc()
			dec()
		}
	})
}

// BenchmarkRefcountContended is the same under contention: every
// goroutine holds and releases one shared count, the case where a
// compare-and-swap loop retries and add-then-fix-up does not.
func BenchmarkRefcountContended(b *testing.B) {
	b.Run("add-fixup", func(b *testing.B) {
		var r refcount
		r.set(1)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				r.inc()
				r.dec()
			}
		})
	})
	b.Run("cas-loop", func(b *testing.B) {
		var v atomic.Int32
		v.Store(1)
		step := func(d int32) {
			for {
				old := v.Load()
				if old <= 0 || old == math.MaxInt32 {
					return
				}
				if v.CompareAndSwap(old, old+d) {
					return
				}
			}
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				step(1)
				step(-1)
			}
		})
	})
}
