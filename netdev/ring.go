package netdev

import (
	"sync/atomic"

	"netyard/pkt"
)

// Ring is a bounded multi-producer multi-consumer queue of packets
// (Dmitry Vyukov's bounded MPMC queue). Device receive rings and the
// datapath's backlogs use it: any worker may push a redirected packet onto
// any device's backlog, and only the owning worker pops. A full ring
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
// a power of two).
func NewRing(size int) *Ring {
	n := 1
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
func (r *Ring) Pop() *pkt.Buffer {
	for {
		pos := r.tail.Load()
		s := &r.slots[pos&r.mask]
		seq := s.seq.Load()
		switch d := int64(seq - (pos + 1)); {
		case d == 0:
			if r.tail.CompareAndSwap(pos, pos+1) {
				p := s.p
				s.p = nil
				s.seq.Store(pos + r.mask + 1)
				return p
			}
		case d < 0:
			return nil
		}
	}
}
