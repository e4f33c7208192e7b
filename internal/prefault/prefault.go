// Package prefault hands out fresh memory that another goroutine has
// already written once, so that the page faults of a bulk load are paid
// beside it, on another core, instead of on its critical path.
//
// Why: on the VMs netyard is measured on, the first write to a page costs
// 10 to 30 µs (a fault that goes to the host), against a few ns for the
// next. A million filters loaded from one batch touch about 150,000 fresh
// pages — half of the daemon's CPU time for it — and one batch is applied
// by one goroutine, so those faults stood in line with the parsing and the
// indexing. A producer goroutine that allocates the next objects (or
// buffers) and writes them once takes them out of that line; the consumer
// then writes into memory already mapped. On a machine whose cores are all
// busy nothing is gained, and nothing lost but a channel operation per
// batch of objects.
//
// The memory is ordinary Go heap memory, zeroed as new(T) and make return
// it: the collector owns it as usual, and a consumer that drops an object
// simply lets it become garbage. Nothing is ever reused: an object or
// buffer is handed out once.
//
// A producer runs only on demand: a pool starts one after a run of Gets
// found it empty, and the producer stops once the pool is full (a few
// batches). A hook that gets a handful of filters never starts one.
package prefault

import (
	"sync/atomic"
	"unsafe"
)

// Objects hands out new zeroed *T, made and first written by a producer
// goroutine. Get is for one consumer at a time (the caller serialises
// it, as cls.Chains does under its mutex); the producer runs beside it.
type Objects[T any] struct {
	ready   chan []*T
	cur     []*T
	misses  int
	running atomic.Bool
	batch   int
	after   int
}

// NewObjects returns a pool that prepares batches of batch objects, at
// most depth batches ahead. It starts preparing once it has made after
// objects in place: a few filters added by hand never start a producer.
// An idle pool holds at most batch × depth objects.
func NewObjects[T any](batch, depth, after int) *Objects[T] {
	return &Objects[T]{ready: make(chan []*T, depth), batch: batch, after: after}
}

// Get returns a new zeroed *T: a prepared one when there is one, else a
// new(T) made here.
func (o *Objects[T]) Get() *T {
	if len(o.cur) == 0 {
		select {
		case o.cur = <-o.ready:
		default:
			o.misses++
		}
		if len(o.ready) <= cap(o.ready)/2 && o.misses >= o.after && o.running.CompareAndSwap(false, true) {
			go o.produce()
		}
		if len(o.cur) == 0 {
			return new(T)
		}
	}
	p := o.cur[0]
	o.cur[0] = nil
	o.cur = o.cur[1:]
	return p
}

// produce fills the pool and stops. It is the only sender, so a send
// while the channel has room never blocks.
func (o *Objects[T]) produce() {
	size := unsafe.Sizeof(*new(T))
	for len(o.ready) < cap(o.ready) {
		b := make([]*T, o.batch)
		lo, hi := ^uintptr(0), uintptr(0)
		for i := range b {
			b[i] = new(T)
			a := uintptr(unsafe.Pointer(b[i]))
			lo, hi = min(lo, a), max(hi, a+size)
		}
		// The batch's objects usually lie together in fresh spans:
		// fault their pages in with one call (Populate), unless they
		// are scattered among older objects (a range much larger
		// than the batch), whose pages are in already.
		if hi-lo <= 4*uintptr(o.batch)*size {
			populateRange(lo, hi)
		}
		for _, p := range b {
			*p = *new(T) // the first write, where Populate did not fault it in
		}
		o.ready <- b
	}
	o.running.Store(false)
}

// Bytes hands out new zeroed byte slices of up to size bytes, first
// written by a producer goroutine. Get is safe for concurrent use.
type Bytes struct {
	ready   chan []byte
	size    int
	misses  atomic.Int64
	running atomic.Bool
}

// NewBytes returns a pool of buffers of size bytes, at most depth ahead.
func NewBytes(size, depth int) *Bytes {
	return &Bytes{ready: make(chan []byte, depth), size: size}
}

// Get returns a zeroed slice of length 0 and capacity at least n: a
// prepared buffer when n fits one and one is ready, else a new one.
func (p *Bytes) Get(n int) []byte {
	if n <= p.size {
		select {
		case b := <-p.ready:
			p.refill()
			return b[:0:n]
		default:
		}
		p.misses.Add(1)
		p.refill()
	}
	return make([]byte, 0, n)
}

func (p *Bytes) refill() {
	if p.misses.Load() >= 2 && len(p.ready) < cap(p.ready)/2+1 && p.running.CompareAndSwap(false, true) {
		go p.produce()
	}
}

func (p *Bytes) produce() {
	for len(p.ready) < cap(p.ready) {
		b := make([]byte, p.size)
		Populate(b)
		p.ready <- b
	}
	p.running.Store(false)
}

// touch writes a zero to each page of b, which must be zero.
func touch(b []byte) {
	for i := 0; i < len(b); i += 4096 {
		b[i] = 0
	}
	if len(b) > 0 {
		b[len(b)-1] = 0
	}
}
