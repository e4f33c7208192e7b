package netdev

import (
	"runtime"
	"sync"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
)

func TestRingOrderAndFull(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	r := NewRing(3) // rounds up to 4
	if r.Cap() != 4 {
		t.Fatalf("cap %d, want 4", r.Cap())
	}
	var in []*pkt.Buffer
	for range 4 {
		b, _ := pool.Get()
		in = append(in, b)
		if !r.Push(b) {
			t.Fatal("push refused before full")
		}
	}
	extra, _ := pool.Get()
	if r.Push(extra) {
		t.Fatal("push accepted on a full ring")
	}
	extra.Release()
	for i := range 4 {
		if got := r.Pop(); got != in[i] {
			t.Fatalf("pop %d: wrong buffer (order not kept)", i)
		}
		in[i].Release()
	}
	if r.Pop() != nil {
		t.Fatal("pop from empty ring returned a buffer")
	}
}

// TestRingConcurrent: several producers and one consumer; every packet
// comes out exactly once (run with -race).
func TestRingConcurrent(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	r := NewRing(64)
	const producers, each = 4, 2000
	var wg sync.WaitGroup
	for i := range producers {
		wg.Go(func() {
			for j := range each {
				b, _ := pool.Get()
				b.Mark = uint32(i*each + j)
				for !r.Push(b) {
					runtime.Gosched()
				}
			}
		})
	}
	seen := make([]bool, producers*each)
	for n := 0; n < producers*each; {
		b := r.Pop()
		if b == nil {
			runtime.Gosched()
			continue
		}
		if seen[b.Mark] {
			t.Fatalf("packet %d popped twice", b.Mark)
		}
		seen[b.Mark] = true
		b.Release()
		n++
	}
	wg.Wait()
}

func TestPairDelivers(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	a, _ := New(1, Config{Name: "veth0"})
	var got []string
	b := NewEndpoint("veth1", EndpointFunc(func(p *pkt.Buffer, now int64) {
		got = append(got, string(p.Data()))
		p.Release()
	}))
	if err := NewPair(a, b); err != nil {
		t.Fatal(err)
	}
	if err := NewPair(a, b); err == nil {
		t.Fatal("pairing a paired device: no error")
	}
	p, _ := pool.Get()
	_ = p.SetData([]byte("hi, an Ethernet frame"))
	p.Priority = 3
	a.Transmit(0, p, 10)
	if len(got) != 1 || got[0] != "hi, an Ethernet frame" || a.Counters.TxPackets.Load() != 1 || b.Counters.RxPackets.Load() != 1 {
		t.Fatalf("got %q, tx %d rx %d", got, a.Counters.TxPackets.Load(), b.Counters.RxPackets.Load())
	}
	lone, _ := New(2, Config{Name: "lone"})
	p, _ = pool.Get()
	lone.Transmit(0, p, 0)
	if lone.Counters.TxDropped.Load() != 1 {
		t.Fatal("transmit with no peer and no sink was not counted as a drop")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Name: ""},
		{Name: "a-name-longer-than-15"},
		{Name: "x", MTU: 10},
		{Name: "x", TxQueues: MaxTxQueues + 1},
	} {
		if _, err := New(1, c); err == nil {
			t.Errorf("New(%+v): no error", c)
		}
	}
}

// TestRingMinimum: a ring has at least two slots; with one, a filled slot
// would look free to the next push.
func TestRingMinimum(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	r := NewRing(1)
	var in []*pkt.Buffer
	for range 3 {
		b, _ := pool.Get()
		if r.Push(b) {
			in = append(in, b)
		} else {
			b.Release()
		}
	}
	if len(in) != 2 {
		t.Fatalf("%d pushes accepted, want 2", len(in))
	}
	for range in {
		b := r.Pop()
		if b == nil {
			t.Fatal("lost a packet")
		}
		b.Release()
	}
}
