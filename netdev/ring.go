package netdev

import (
	"sync/atomic"

	"netyard/pkt"
)

// Ring is a bounded multi-producer single-consumer queue of packets
// (Dmitry Vyukov's bounded MPMC queue with the consumer side reduced to
// one). Device receive rings and the datapath's backlogs use it: any worker
// may push a redirected packet onto any device's backlog, and only the
// owning worker pops. One consumer lets Pop advance the tail with a plain
// store instead of a compare-and-swap (BenchmarkPath: one locked
// instruction less per ring per packet). A full ring
// refuses the push (back-pressure by dropping, never by blocking), so a
// redirect loop can fill a backlog but never stall a worker.
type Ring struct {
	mask  uint64
	slots []ringSlot
	_     [56]byte
	head  atomic.Uint64 // next slot to push
	_     [56]byte
	tail  atomic.Uint64 // next slot to pop
	_     [56]byte
}

type ringSlot struct {
	seq atomic.Uint64
	p   *pkt.Buffer
}

// NewRing returns a ring with room for at least size packets (rounded up to
// a power of two, and at least 2: with one slot a just-filled slot would
// look free to the next Push).
func NewRing(size int) *Ring {
	n := 2
	for n < size {
		n <<= 1
	}
	r := &Ring{mask: uint64(n - 1), slots: make([]ringSlot, n)}
	for i := range r.slots {
		r.slots[i].seq.Store(uint64(i))
	}
	return r
}

// Cap is the ring's capacity.
func (r *Ring) Cap() int { return len(r.slots) }

// Len is the number of packets in the ring (approximate while others push
// or pop).
func (r *Ring) Len() int {
	n := int64(r.head.Load() - r.tail.Load())
	if n < 0 {
		return 0
	}
	return int(n)
}

// Push adds p and reports whether there was room. On false the caller still
// owns p.
func (r *Ring) Push(p *pkt.Buffer) bool {
	for {
		pos := r.head.Load()
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - pos); {
		case d == 0:
			if r.head.CompareAndSwap(pos, pos+1) {
				s.p = p
				s.seq.Store(pos + 1)
				return true
			}
		case d < 0:
			return false
		}
	}
}

// Pop removes the oldest packet, or returns nil when the ring is empty.
// Only one goroutine may pop a ring at a time (the device's worker).
func (r *Ring) Pop() *pkt.Buffer {
	pos := r.tail.Load()
	s := &r.slots[pos&r.mask]
	if s.seq.Load() != pos+1 {
		return nil // empty, or the producer of this slot is not done yet
	}
	p := s.p
	s.p = nil
	r.tail.Store(pos + 1)
	s.seq.Store(pos + r.mask + 1)
	return p
}
