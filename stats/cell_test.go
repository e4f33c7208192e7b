package stats

import (
	"sync"
	"testing"
)

func TestCell(t *testing.T) {
	c := NewCell(3, 100)
	c.Use(0, 10, 200)
	c.Use(1, 20, 150)
	c.Use(2, 30, 300)
	c.Use(7, 40, 300) // an out-of-range worker lands on shard 0
	c.Drop(1)
	c.Overlimit(2)
	s := c.Read()
	want := Snapshot{Bytes: 100, Packets: 4, Drops: 1, Overlimits: 1, Installed: 100, FirstUsed: 150, LastUsed: 300}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
}

// TestCellConcurrent: one writer per shard and a reader never see a count
// go backwards (run with -race).
func TestCellConcurrent(t *testing.T) {
	c := NewCell(2, 1)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 10000 {
				c.Use(w, 1, int64(i+1))
			}
		})
	}
	var last uint64
	for range 1000 {
		s := c.Read()
		if s.Packets < last {
			t.Fatalf("packets went back from %d to %d", last, s.Packets)
		}
		last = s.Packets
	}
	wg.Wait()
	if s := c.Read(); s.Packets != 20000 || s.Bytes != 20000 {
		t.Fatalf("final %+v", s)
	}
}

func BenchmarkCellUse(b *testing.B) {
	c := NewCell(1, 1)
	for b.Loop() {
		c.Use(0, 64, 5)
	}
}
