package pkt

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"testing"
)

func quietPool(cfg PoolConfig) *Pool {
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return NewPool(cfg)
}

func TestPoolGetRelease(t *testing.T) {
	p := quietPool(PoolConfig{LeakCheck: true})
	b, err := p.Get()
	if err != nil {
		t.Fatal(err)
	}
	if b.Refs() != 1 || b.Len() != 0 || b.Headroom() != Headroom || b.TTL != DefaultTTL {
		t.Fatalf("fresh buffer: refs %d len %d headroom %d ttl %d", b.Refs(), b.Len(), b.Headroom(), b.TTL)
	}
	if err := b.SetData([]byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	b.Hold()
	b.Release()
	if n := len(p.Leaks()); n != 1 {
		t.Fatalf("after one of two releases: %d live, want 1", n)
	}
	b.Release()
	if n := len(p.Leaks()); n != 0 {
		t.Fatalf("leaks after last release: %v", p.Leaks())
	}
	if s := p.Stats(); s.Live != 0 || s.BytesInUse != 0 {
		t.Fatalf("stats after release: %+v", s)
	}
}

// TestPoolFaults: misuse is counted and the buffer is never handed out
// again (a saturated buffer leaks on purpose).
func TestPoolFaults(t *testing.T) {
	p := quietPool(PoolConfig{})
	b, _ := p.Get()
	b.Release()
	b.Release() // underflow: a double free
	b.Hold()    // use after free
	s := p.Stats()
	if s.Underflow != 1 || s.Overflow != 1 {
		// The hold after saturation is counted as an overflow
		// (the count is saturated, not zero, by then).
		t.Fatalf("faults: %+v, want 1 underflow and 1 overflow", s)
	}
	c, _ := p.Get()
	c.Release()
	b2, _ := p.Get()
	if b2 == b {
		t.Fatal("a saturated buffer was recycled")
	}
	b2.Release()

	// Add-on-zero proper: a hold of a buffer whose count reached zero
	// without being recycled (debug pool: released buffers are abandoned).
	d := quietPool(PoolConfig{Debug: true})
	x, _ := d.Get()
	x.Release()
	x.Hold()
	if s := d.Stats(); s.AddOnZero != 1 {
		t.Fatalf("debug pool faults: %+v, want 1 add-on-zero", s)
	}
}

// TestPoolDebugPoisons: in debug mode a released buffer is filled with
// POISON_FREE and never reused.
func TestPoolDebugPoisons(t *testing.T) {
	p := quietPool(PoolConfig{Debug: true})
	b, _ := p.Get()
	_ = b.SetData([]byte("hello"))
	raw := b.buf
	b.Release()
	if !bytes.Equal(raw[:16], bytes.Repeat([]byte{poison}, 16)) {
		t.Fatalf("released buffer not poisoned: % x", raw[:16])
	}
	for range 100 {
		c, _ := p.Get()
		if c == b {
			t.Fatal("debug pool recycled a buffer")
		}
		c.Release()
	}
}

func TestPoolLimit(t *testing.T) {
	p := quietPool(PoolConfig{DataSize: 1024 - Headroom, Limit: 3 * 1024})
	var held []*Buffer
	for range 3 {
		b, err := p.Get()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, b)
	}
	if _, err := p.Get(); !errors.Is(err, ErrNoMemory) {
		t.Fatalf("fourth Get: err %v, want ErrNoMemory", err)
	}
	if s := p.Stats(); s.Denied != 1 || s.BytesInUse != 3*1024 {
		t.Fatalf("stats: %+v", s)
	}
	held[0].Release()
	b, err := p.Get()
	if err != nil {
		t.Fatalf("Get after a release: %v", err)
	}
	b.Release()
	for _, b := range held[1:] {
		b.Release()
	}
}

func TestTags(t *testing.T) {
	p := quietPool(PoolConfig{LeakCheck: true})
	b, _ := p.Get()
	defer b.Release()
	frame := []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x08, 0x00, 0xaa, 0xbb}
	_ = b.SetData(frame)
	if err := b.InsertTag(12, 0x8100, 0x2005); err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 0x81, 0x00, 0x20, 0x05, 0x08, 0x00, 0xaa, 0xbb}
	if !bytes.Equal(b.Data(), want) {
		t.Fatalf("after insert: % x", b.Data())
	}
	if err := b.RemoveTag(12); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Data(), frame) {
		t.Fatalf("after remove: % x", b.Data())
	}
	if err := b.RemoveTag(14); err == nil {
		t.Fatal("RemoveTag past the end: no error")
	}
	for b.Headroom() >= 4 {
		_ = b.InsertTag(12, 0x8100, 1)
	}
	if err := b.InsertTag(12, 0x8100, 1); !errors.Is(err, ErrNoRoom) {
		t.Fatalf("insert without headroom: %v", err)
	}
}

func TestClone(t *testing.T) {
	p := quietPool(PoolConfig{LeakCheck: true})
	b, _ := p.Get()
	_ = b.SetData([]byte("frame"))
	b.Mark = 7
	c, err := b.Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.Data()[0] = 'F'
	if string(b.Data()) != "frame" || string(c.Data()) != "Frame" || c.Mark != 7 {
		t.Fatalf("clone shares bytes or lost metadata: %q %q %d", b.Data(), c.Data(), c.Mark)
	}
	b.Release()
	c.Release()
	if l := p.Leaks(); len(l) != 0 {
		t.Fatal(l)
	}
}

// TestPoolNoAllocs: recycling makes Get and Release allocation-free.
func TestPoolNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items on purpose); the plain test run checks them")
	}
	p := quietPool(PoolConfig{})
	b, _ := p.Get()
	b.Release()
	if n := testing.AllocsPerRun(1000, func() {
		b, _ := p.Get()
		b.Release()
	}); n != 0 {
		t.Fatalf("Get+Release: %v allocs, want 0", n)
	}
}

// BenchmarkPool measures what the debug switch costs: recycling against
// poisoning and abandoning every buffer (bench/pool.sh prints the ratio).
func BenchmarkPool(b *testing.B) {
	for _, c := range []struct {
		name string
		cfg  PoolConfig
	}{
		{"recycle", PoolConfig{}},
		{"debug-poison", PoolConfig{Debug: true}},
		{"leakcheck", PoolConfig{LeakCheck: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			p := quietPool(c.cfg)
			b.ReportAllocs()
			for b.Loop() {
				x, _ := p.Get()
				x.Release()
			}
		})
	}
}

// TestPoolBig: big buffers hold a 64 KiB GSO frame, come back to their own
// class (a later Get is a small one), are counted in Live and BytesInUse,
// and are recycled without allocating.
func TestPoolBig(t *testing.T) {
	p := NewPool(PoolConfig{})
	b, err := p.GetBig()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Resize(65535 + 14 + 8); err != nil {
		t.Fatalf("a 64 KiB frame does not fit a big buffer: %v", err)
	}
	s, err2 := p.Get()
	if err2 != nil {
		t.Fatal(err2)
	}
	if st := p.Stats(); st.Live != 2 || st.BytesInUse != int64(Headroom+GSODataSize+Headroom+DefaultDataSize) {
		t.Errorf("stats with one big and one small buffer: %+v", st)
	}
	c, err := b.Clone()
	if err != nil {
		t.Fatal(err)
	}
	if c.Len() != b.Len() || c.Tailroom() < b.Tailroom() {
		t.Errorf("clone of a big buffer: len %d tailroom %d", c.Len(), c.Tailroom())
	}
	c.Release()
	b.Release()
	s.Release()
	if st := p.Stats(); st.Live != 0 || st.BytesInUse != 0 {
		t.Errorf("stats after release: %+v", st)
	}
	if n := testing.AllocsPerRun(100, func() {
		b, _ := p.GetBig()
		b.Release()
	}); n > 0 && !raceEnabled {
		t.Errorf("GetBig+Release: %v allocations", n)
	}
}
