package fifo

import (
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
)

func TestFifoLimits(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	get := func(n int) *pkt.Buffer {
		b, _ := pool.Get()
		_ = b.SetData(make([]byte, n))
		return b
	}
	tests := []struct {
		name     string
		params   any
		sizes    []int
		accepted int
	}{
		{"pfifo limit 3 takes 3 packets", Pfifo{Limit: 3}, []int{100, 100, 100, 100, 100}, 3},
		{"bfifo limit 250 takes what fits in bytes", Bfifo{Limit: 250}, []int{100, 100, 50, 100}, 3},
		{"pfifo default is 1000", Pfifo{}, make([]int, 1001), 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q interface {
				Enqueue(*pkt.Buffer, int64) bool
			}
			qd, err := New(tt.params.(interface{ Kind() string }), 1500)
			if err != nil {
				t.Fatal(err)
			}
			q = qd
			ok := 0
			for _, n := range tt.sizes {
				if q.Enqueue(get(n), 0) {
					ok++
				}
			}
			if ok != tt.accepted {
				t.Fatalf("accepted %d, want %d", ok, tt.accepted)
			}
			st := qd.Stats()
			if int(st.Qlen) != tt.accepted || int(st.Drops) != len(tt.sizes)-tt.accepted {
				t.Fatalf("stats %+v", st)
			}
			// FIFO order, and counters on dequeue.
			for i := 0; ; i++ {
				p := qd.Dequeue(0)
				if p == nil {
					break
				}
				if p.Len() != tt.sizes[i] {
					t.Fatalf("dequeue %d: len %d, want %d", i, p.Len(), tt.sizes[i])
				}
				p.Release()
			}
			if st := qd.Stats(); st.Qlen != 0 || st.Backlog != 0 || int(st.Packets) != tt.accepted {
				t.Fatalf("after draining: %+v", st)
			}
		})
	}
}

func TestFifoReset(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	q, _ := New(Pfifo{Limit: 10}, 1500)
	for range 4 {
		b, _ := pool.Get()
		q.Enqueue(b, 0)
	}
	q.Reset()
	if st := q.Stats(); st.Qlen != 0 || st.Drops != 4 || st.Packets != 0 {
		t.Fatalf("after reset: %+v", st)
	}
}

func TestFifoNoAllocs(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	q, _ := New(Pfifo{}, 1500)
	if n := testing.AllocsPerRun(1000, func() {
		b, _ := pool.Get()
		q.Enqueue(b, 0)
		q.Dequeue(0).Release()
	}); n != 0 && !testutil.RaceEnabled {
		t.Fatalf("%v allocs per enqueue+dequeue", n)
	}
}

// BenchmarkFifo is an enqueue and a dequeue of pfifo, the baseline
// bench/qdisc.sh compares fq_codel with.
func BenchmarkFifo(b *testing.B) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	q, _ := New(Pfifo{Limit: 10240}, 1500)
	var held []*pkt.Buffer
	for range 1024 {
		p, _ := pool.Get()
		_ = p.SetData(make([]byte, 64))
		held = append(held, p)
	}
	for _, p := range held {
		q.Enqueue(p, 0)
	}
	b.ReportAllocs()
	for b.Loop() {
		q.Enqueue(q.Dequeue(0), 0)
	}
}
