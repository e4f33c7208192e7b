// Package fifo implements pfifo and bfifo (net/sched/sch_fifo.c): one
// tail-drop queue bounded in packets or in bytes.
package fifo

import (
	"fmt"

	"netyard/pkt"
	"netyard/qdisc"
)

// DefaultLimit is the packet limit when none is given: the kernel takes the
// device's txqueuelen, 1000 by default for Ethernet-like devices.
const DefaultLimit = 1000

// Pfifo is "pfifo limit N" (packets).
type Pfifo struct {
	Limit uint32 // 0 means DefaultLimit
}

// Kind implements qdisc.Params.
func (Pfifo) Kind() string { return "pfifo" }

// Bfifo is "bfifo limit BYTES".
type Bfifo struct {
	Limit uint32 // bytes; 0 means DefaultLimit * the device MTU
}

// Kind implements qdisc.Params.
func (Bfifo) Kind() string { return "bfifo" }

// New returns a running pfifo or bfifo. mtu is the device's MTU, for
// bfifo's default limit.
func New(p qdisc.Params, mtu int) (qdisc.Qdisc, error) {
	switch p := p.(type) {
	case Pfifo:
		l := p.Limit
		if l == 0 {
			l = DefaultLimit
		}
		return &fifo{params: Pfifo{Limit: l}, limit: uint64(l)}, nil
	case Bfifo:
		l := p.Limit
		if l == 0 {
			l = uint32(DefaultLimit * mtu)
		}
		return &fifo{params: Bfifo{Limit: l}, limit: uint64(l), bytes: true}, nil
	}
	return nil, fmt.Errorf("fifo: unknown kind %q", p.Kind())
}

// fifo is a singly linked queue through pkt.Buffer.Next: no allocation per
// packet.
type fifo struct {
	params     qdisc.Params
	limit      uint64
	bytes      bool
	head, tail *pkt.Buffer
	st         qdisc.Stats
}

var _ qdisc.Qdisc = (*fifo)(nil)

func (f *fifo) Enqueue(p *pkt.Buffer, now int64) bool {
	n := uint64(p.Len())
	if f.bytes && f.st.Backlog+n > f.limit || !f.bytes && f.st.Qlen >= f.limit {
		f.st.Drops++
		p.Release()
		return false
	}
	p.EnqueueTime = now
	p.Next = nil
	if f.tail == nil {
		f.head = p
	} else {
		f.tail.Next = p
	}
	f.tail = p
	f.st.Qlen++
	f.st.Backlog += n
	return true
}

func (f *fifo) Dequeue(now int64) *pkt.Buffer {
	p := f.head
	if p == nil {
		return nil
	}
	f.head = p.Next
	if f.head == nil {
		f.tail = nil
	}
	p.Next = nil
	n := uint64(p.Len())
	f.st.Qlen--
	f.st.Backlog -= n
	f.st.Packets++
	f.st.Bytes += n
	return p
}

func (f *fifo) Len() int             { return int(f.st.Qlen) }
func (f *fifo) Stats() qdisc.Stats   { return f.st }
func (f *fifo) Params() qdisc.Params { return f.params }

func (f *fifo) Reset() {
	for p := f.Dequeue(0); p != nil; p = f.Dequeue(0) {
		f.st.Packets--
		f.st.Bytes -= uint64(p.Len())
		f.st.Drops++
		p.Release()
	}
}
