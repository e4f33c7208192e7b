package netdev

import (
	"net/netip"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

func flowPacket(t *testing.T, pool *pkt.Pool, sport uint16, prio uint32) *pkt.Buffer {
	t.Helper()
	s := wire.FrameSpec{SrcIP: netip.MustParseAddr("10.0.0.1"), DstIP: netip.MustParseAddr("10.0.0.2"),
		Proto: wire.ProtoUDP, SrcPort: sport, DstPort: 80, Payload: []byte("x")}
	f, err := wire.AppendFrame(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pool.Get()
	_ = b.SetData(f)
	_ = b.Parse()
	b.Priority = prio
	return b
}

// TestPickTx covers the stack's queue selection policy, in its order:
// queue_mapping, traffic class by priority, XPS within the class, hash.
func TestPickTx(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	d, _ := New(1, Config{Name: "mq0", TxQueues: 8})
	// Three classes: priority 6,7 -> tc 0 (queue 0), 4,5 -> tc 1
	// (queues 1-2), everything else -> tc 2 (queues 3-7).
	tcm := &TCMap{NumTC: 3, Offset: [16]uint16{0, 1, 3}, Count: [16]uint16{1, 2, 5}}
	for p := range tcm.PrioTC {
		tcm.PrioTC[p] = 2
	}
	tcm.PrioTC[6], tcm.PrioTC[7], tcm.PrioTC[4], tcm.PrioTC[5] = 0, 0, 1, 1
	d.SetTC(tcm)

	t.Run("queue_mapping wins", func(t *testing.T) {
		p := flowPacket(t, pool, 1000, 6)
		defer p.Release()
		p.QueueMapping, p.HasQueueMapping = 5, true
		if q := d.PickTx(p, 1, 0); q != 5 {
			t.Fatalf("queue %d, want 5", q)
		}
		p.QueueMapping = 99 // beyond the device: capped to 0
		if q := d.PickTx(p, 1, 0); q != 0 {
			t.Fatalf("queue %d, want 0", q)
		}
	})
	t.Run("priority picks the class's range", func(t *testing.T) {
		for sport := uint16(1); sport < 200; sport++ {
			for _, c := range []struct {
				prio   uint32
				lo, hi int
			}{{6, 0, 0}, {7, 0, 0}, {4, 1, 2}, {0, 3, 7}, {2, 3, 7}, {6 + 16, 0, 0}} {
				p := flowPacket(t, pool, sport, c.prio)
				q := d.PickTx(p, 1, -1)
				p.Release()
				if q < c.lo || q > c.hi {
					t.Fatalf("priority %d sport %d: queue %d, want %d..%d", c.prio, sport, q, c.lo, c.hi)
				}
			}
		}
	})
	t.Run("hash spreads flows and keeps one flow on one queue", func(t *testing.T) {
		seen := map[int]int{}
		for sport := uint16(1); sport <= 500; sport++ {
			p := flowPacket(t, pool, sport, 0)
			q1 := d.PickTx(p, 7, -1)
			p.HashValid = false
			q2 := d.PickTx(p, 7, -1)
			p.Release()
			if q1 != q2 {
				t.Fatalf("sport %d: queue %d then %d for the same flow", sport, q1, q2)
			}
			seen[q1]++
		}
		for q := 3; q <= 7; q++ {
			if seen[q] < 50 {
				t.Errorf("queue %d got %d of 500 flows; the hash does not spread", q, seen[q])
			}
		}
	})
	t.Run("xps within the class", func(t *testing.T) {
		if err := d.SetXPS(1, []uint16{4}); err != nil {
			t.Fatal(err)
		}
		p := flowPacket(t, pool, 1234, 0)
		defer p.Release()
		if q := d.PickTx(p, 1, 1); q != 4 {
			t.Fatalf("cpu 1 with xps {4}: queue %d, want 4", q)
		}
		// Queue 4 is outside the voice class: XPS does not take a
		// packet out of its class.
		v := flowPacket(t, pool, 1234, 6)
		defer v.Release()
		if q := d.PickTx(v, 1, 1); q != 0 {
			t.Fatalf("voice on cpu 1: queue %d, want 0", q)
		}
		if err := d.SetXPS(1, []uint16{8}); err == nil {
			t.Fatal("xps queue beyond the device: no error")
		}
	})
}

func TestPickTxNoAllocs(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	d, _ := New(1, Config{Name: "mq0", TxQueues: 4})
	p := flowPacket(t, pool, 1, 0)
	defer p.Release()
	if n := testing.AllocsPerRun(1000, func() {
		p.HashValid = false
		d.PickTx(p, 1, 0)
	}); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}
