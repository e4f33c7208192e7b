package prio

import (
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/qdisc/fifo"
	"netyard/qdisc/tbf"
)

const handle = 0x00010000 // 1:

// setup returns a leak-checked pool and a prio, reset at cleanup before
// the leak check.
func setup(t testing.TB, p Params, opts ...Option) (*pkt.Pool, *prio) {
	t.Helper()
	pool := testutil.Pool(t, pkt.PoolConfig{})
	q, err := New(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Reset)
	return pool, q.(*prio)
}

// get returns a packet of n bytes with the given priority; its first byte
// tags it for order checks.
func get(t testing.TB, pool *pkt.Pool, n int, priority uint32, tag byte) *pkt.Buffer {
	t.Helper()
	b, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Resize(n); err != nil {
		t.Fatal(err)
	}
	b.Data()[0] = tag
	b.Priority = priority
	return b
}

func TestParams(t *testing.T) {
	tests := []struct {
		name    string
		p       Params
		opts    []Option
		wantErr string
	}{
		{name: "defaults", p: Defaults()},
		{name: "16 bands", p: Params{Bands: 16}},
		{name: "1 band", p: Params{Bands: 1}, wantErr: "prio: bands 1: must be 2..16"},
		{name: "17 bands", p: Params{Bands: 17}, wantErr: "prio: bands 17: must be 2..16"},
		{name: "priomap past the bands", p: Params{Bands: 2, Priomap: DefaultPriomap},
			wantErr: "prio: priomap[1] 2: must be below bands (2)"},
		{name: "handle with a minor", p: Defaults(), opts: []Option{WithHandle(0x10001)}, wantErr: "prio: handle 1:1: must be a major handle"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := New(tt.p, tt.opts...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if q.Params() != tt.p || q.Params().Kind() != "prio" {
				t.Fatalf("Params() = %+v", q.Params())
			}
			if n := len(q.(*prio).Classes(nil)); n != tt.p.Bands {
				t.Fatalf("%d classes, want %d", n, tt.p.Bands)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	custom := Params{Bands: 4, Priomap: [16]uint8{3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0}}
	tests := []struct {
		name     string
		p        Params
		noHandle bool
		priority uint32
		want     int
	}{
		{name: "TC_PRIO_BESTEFFORT (0) to band 1", p: Defaults(), priority: 0, want: 1},
		{name: "TC_PRIO_FILLER (1) to band 2", p: Defaults(), priority: 1, want: 2},
		{name: "TC_PRIO_INTERACTIVE_BULK (4) to band 1", p: Defaults(), priority: 4, want: 1},
		{name: "TC_PRIO_INTERACTIVE (6) to band 0", p: Defaults(), priority: 6, want: 0},
		{name: "TC_PRIO_CONTROL (7) to band 0", p: Defaults(), priority: 7, want: 0},
		{name: "15, the last entry", p: Defaults(), priority: 15, want: 1},
		{name: "16 wraps to entry 0 (TC_PRIO_MAX)", p: Defaults(), priority: 16, want: 1},
		{name: "22 is entry 6", p: Defaults(), priority: 22, want: 0},
		{name: "1:1 is band 0", p: Defaults(), priority: handle | 1, want: 0},
		{name: "1:3 is band 2", p: Defaults(), priority: handle | 3, want: 2},
		{name: "1:4 is past the bands: priomap[0]", p: Defaults(), priority: handle | 4, want: 1},
		{name: "1:0 is no band: priomap[0]", p: Defaults(), priority: handle, want: 1},
		{name: "another major reads as priority 0", p: Defaults(), priority: 0x20001, want: 1},
		{name: "without a handle, 1:1 is another major", p: Defaults(), noHandle: true, priority: handle | 1, want: 1},
		{name: "a custom priomap", p: custom, priority: 13, want: 0},
		{name: "a custom priomap, 1:4 is band 3", p: custom, priority: handle | 4, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if !tt.noHandle {
				opts = append(opts, WithHandle(handle))
			}
			pool, q := setup(t, tt.p, opts...)
			q.Enqueue(get(t, pool, 100, tt.priority, 0), 0)
			for i, c := range q.Classes(nil) {
				want := uint64(0)
				if i == tt.want {
					want = 1
				}
				if c.Minor != uint32(i+1) || c.Stats.Qlen != want {
					t.Fatalf("class %d: %+v; want the packet in band %d", i, c, tt.want)
				}
			}
		})
	}
}

// TestStrictPriority: band 0 empties before band 1 sends, and so on;
// each band is FIFO.
func TestStrictPriority(t *testing.T) {
	pool, q := setup(t, Defaults(), WithHandle(handle))
	arrivals := []struct {
		band uint32
		tag  byte
	}{{2, 'a'}, {1, 'b'}, {0, 'c'}, {2, 'd'}, {0, 'e'}, {1, 'f'}}
	for _, a := range arrivals {
		q.Enqueue(get(t, pool, 100, handle|(a.band+1), a.tag), 0)
	}
	var order []byte
	for p := q.Dequeue(0); p != nil; p = q.Dequeue(0) {
		order = append(order, p.Data()[0])
		p.Release()
	}
	if want := "cebfad"; string(order) != want {
		t.Fatalf("order %s, want %s", order, want)
	}
	st := q.Stats()
	if st.Packets != 6 || st.Bytes != 600 || st.Qlen != 0 {
		t.Fatalf("stats %+v", st)
	}
	for _, c := range q.Classes(nil) {
		if c.Stats.Packets != 2 {
			t.Fatalf("class %d sent %d, want 2", c.Minor, c.Stats.Packets)
		}
	}
}

func TestBandLimitAndStats(t *testing.T) {
	pool, q := setup(t, Defaults(), WithTxQueueLen(2))
	for range 3 {
		q.Enqueue(get(t, pool, 100, 6, 0), 0) // band 0
	}
	q.Enqueue(get(t, pool, 300, 0, 0), 0) // band 1
	st := q.Stats()
	if q.Len() != 3 || st.Qlen != 3 || st.Backlog != 500 || st.Drops != 1 {
		t.Fatalf("len %d, stats %+v", q.Len(), st)
	}
	cs := q.Classes(nil)
	if cs[0].Stats.Drops != 1 || cs[0].Stats.Qlen != 2 || cs[1].Stats.Backlog != 300 || cs[2].Stats.Qlen != 0 {
		t.Fatalf("classes %+v", cs)
	}
	q.Reset()
	if q.Len() != 0 || q.Stats().Backlog != 0 {
		t.Fatalf("after reset: %+v", q.Stats())
	}
}

// TestShapedBand: band 0 is a tbf; while it waits for tokens band 1
// sends, and NextReady says when band 0 can go again.
func TestShapedBand(t *testing.T) {
	pool, q := setup(t, Defaults(), WithHandle(handle))
	shaper, err := tbf.New(tbf.Params{Rate: 1e6, Burst: 1000, Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	old, err := q.Graft(1, shaper)
	if err != nil || old == nil || q.Child(1) != shaper {
		t.Fatalf("graft: %v", err)
	}
	for _, tag := range []byte("ab") {
		q.Enqueue(get(t, pool, 1000, handle|1, tag), 0)
	}
	q.Enqueue(get(t, pool, 1000, handle|2, 'x'), 0)
	var order []byte
	next := func(now int64) {
		if p := q.Dequeue(now); p != nil {
			order = append(order, p.Data()[0])
			p.Release()
		}
	}
	next(0)
	next(0) // band 0 is out of tokens: band 1 sends
	if got := q.NextReady(0); got != int64(time.Millisecond) {
		t.Fatalf("NextReady %v, want 1ms", time.Duration(got))
	}
	next(int64(time.Millisecond) - 1)
	next(int64(time.Millisecond))
	if string(order) != "axb" || q.NextReady(int64(time.Millisecond)) != Never {
		t.Fatalf("order %s, want axb and an empty qdisc", order)
	}
}

func TestGraft(t *testing.T) {
	pool, q := setup(t, Defaults())
	q.Enqueue(get(t, pool, 100, 6, 0), 0)
	child, _ := fifo.New(fifo.Bfifo{Limit: 1000}, 0)
	old, err := q.Graft(1, child)
	if err != nil || old.Len() != 0 {
		t.Fatalf("graft: %v; old child holds %d", err, old.Len())
	}
	if st := q.Stats(); st.Drops != 1 || st.Qlen != 0 {
		t.Fatalf("the grafted-away packet must count as dropped: %+v", st)
	}
	for _, minor := range []uint32{0, 4} {
		if _, err := q.Graft(minor, child); err == nil {
			t.Fatalf("graft on class :%d accepted", minor)
		}
		if q.Child(minor) != nil {
			t.Fatalf("class :%d has a child", minor)
		}
	}
	if _, err := q.Graft(2, nil); err == nil {
		t.Fatal("graft of nil accepted")
	}
}

func TestNextReadyUnshaped(t *testing.T) {
	pool, q := setup(t, Defaults())
	if q.NextReady(5) != Never {
		t.Fatal("empty prio is not Never")
	}
	q.Enqueue(get(t, pool, 100, 0, 0), 0)
	if q.NextReady(5) != 5 {
		t.Fatal("a pfifo band with a packet is not ready now")
	}
}

func TestNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	pool, q := setup(t, Defaults())
	ps := []*pkt.Buffer{get(t, pool, 100, 0, 0), get(t, pool, 100, 6, 0)}
	allocs := testing.AllocsPerRun(1000, func() {
		for _, p := range ps {
			q.Enqueue(p, 0)
		}
		ps = ps[:0]
		for p := q.Dequeue(0); p != nil; p = q.Dequeue(0) {
			ps = append(ps, p)
		}
	})
	for _, p := range ps {
		p.Release()
	}
	if allocs != 0 {
		t.Fatalf("%v allocations per round", allocs)
	}
}
