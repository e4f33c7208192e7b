package prefault

import (
	"sync"
	"testing"
	"time"
)

type obj struct {
	p *int
	v [5]uint64
}

// waitIdle waits until o's producer has stopped (it stops once the pool
// is full).
func waitIdle(t *testing.T, running func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); running(); {
		if time.Now().After(deadline) {
			t.Fatal("producer still running after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestObjectsZeroedDistinct(t *testing.T) {
	for _, tc := range []struct{ batch, depth, after, gets int }{
		{1, 1, 1, 10},
		{4, 2, 3, 100},
		{64, 4, 256, 5000},
	} {
		o := NewObjects[obj](tc.batch, tc.depth, tc.after)
		seen := make(map[*obj]bool)
		for i := range tc.gets {
			p := o.Get()
			if p.p != nil || p.v != [5]uint64{} {
				t.Fatalf("%+v: get %d: not zero: %+v", tc, i, *p)
			}
			if seen[p] {
				t.Fatalf("%+v: get %d: handed out twice", tc, i)
			}
			seen[p] = true
			x := i
			p.p, p.v[0] = &x, uint64(i) // the caller owns it now
		}
		waitIdle(t, o.running.Load)
		// An idle pool holds at most depth batches, and its producer
		// has started once Get made after objects itself.
		if n := len(o.ready); n > tc.depth {
			t.Errorf("%+v: %d batches ready, want at most %d", tc, n, tc.depth)
		}
		if tc.gets > tc.after+tc.batch*tc.depth && len(o.ready) == 0 && len(o.cur) == 0 {
			t.Errorf("%+v: no producer ran", tc)
		}
	}
}

func TestObjectsNoProducerForAFew(t *testing.T) {
	o := NewObjects[obj](256, 8, 256)
	for range 100 {
		o.Get()
	}
	if o.running.Load() || len(o.ready) != 0 {
		t.Fatalf("a producer started after 100 of 256 objects")
	}
}

func TestBytes(t *testing.T) {
	p := NewBytes(64<<10, 2)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				n := (g*7919 + i*104729) % (80 << 10) // some above the size
				b := p.Get(n)
				if len(b) != 0 || cap(b) < n {
					t.Errorf("Get(%d): len %d cap %d", n, len(b), cap(b))
					return
				}
				b = b[:n]
				for j, c := range b {
					if c != 0 {
						t.Errorf("Get(%d): byte %d is %d", n, j, c)
						return
					}
				}
				for j := range b {
					b[j] = 0xff // the caller owns it: never handed out again
				}
			}
		}()
	}
	wg.Wait()
	waitIdle(t, p.running.Load)
	if n := len(p.ready); n > 2 {
		t.Errorf("%d buffers ready, want at most 2", n)
	}
}
