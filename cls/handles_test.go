package cls

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestHandleIndex: random puts and deletes over handles that cluster in
// a few pages and spread over the whole range, checked against a map:
// get, the count, the lowest free handle, and walks resumed after every
// handle.
func TestHandleIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(14, 14))
	var x handleIndex
	ref := map[uint32]*filter{}
	pick := func() uint32 {
		switch r.IntN(3) {
		case 0:
			return 1 + uint32(r.IntN(600)) // pages 0-2, often full
		case 1:
			return uint32(r.IntN(1<<32-1)) + 1
		}
		return 0xffffff00 + uint32(r.IntN(255)) // the last page
	}
	for step := range 20000 {
		h := pick()
		if r.IntN(3) == 0 {
			x.delete(h)
			delete(ref, h)
		} else if r.IntN(4) == 0 {
			h = x.free()
			if ref[h] != nil || h == 0 {
				t.Fatalf("step %d: free() = %d, taken", step, h)
			}
			for l := uint32(1); l < h; l++ {
				if ref[l] == nil {
					t.Fatalf("step %d: free() = %d, but %d is free", step, h, l)
				}
			}
			f := &filter{handle: h}
			x.put(f)
			ref[h] = f
		} else {
			f := &filter{handle: h}
			x.put(f)
			ref[h] = f
		}
		if x.n != len(ref) {
			t.Fatalf("step %d: n %d, want %d", step, x.n, len(ref))
		}
		if got := x.get(h); got != ref[h] {
			t.Fatalf("step %d: get(%d) = %v, want %v", step, h, got, ref[h])
		}
	}
	keys := make([]uint32, 0, len(ref))
	for h := range ref {
		keys = append(keys, h)
	}
	slices.Sort(keys)
	var all []uint32
	x.walk(0, func(f *filter) bool { all = append(all, f.handle); return true })
	if !slices.Equal(all, keys) {
		t.Fatalf("walk: %d handles, want %d", len(all), len(keys))
	}
	for i, h := range keys {
		var next []uint32
		x.walk(h, func(f *filter) bool { next = append(next, f.handle); return len(next) < 2 })
		want := keys[i+1 : min(i+3, len(keys))]
		if !slices.Equal(next, want) {
			t.Fatalf("walk after %d: %v, want %v", h, next, want)
		}
		if i%97 == 0 { // after a handle that is not there
			next = next[:0]
			x.walk(h+1, func(f *filter) bool { next = append(next, f.handle); return false })
			if i+1 < len(keys) && keys[i+1] != h+1 && (len(next) != 1 || next[0] != keys[i+1]) {
				t.Fatalf("walk after %d: %v, want %d", h+1, next, keys[i+1])
			}
		}
	}
}
