// Package prio implements the prio qdisc, mirroring net/sched/sch_prio.c:
// Bands child queues served in strict priority, band 0 first, a packet
// going to the band its priority (skb->priority) picks through the
// priomap. Each band is a class (major:band+1) holding a pfifo until
// another qdisc is grafted on it.
//
// Classification is prio_classify's: a priority whose major is the
// qdisc's handle names the band directly (handle:1 is band 0; a minor
// past the bands goes where priority 0 would); otherwise the filters
// attached to prio (tc filter add dev X parent 1: ..., SetClassifier)
// run, and the minor of the class id a filter chose names the band
// (whatever its major, as in the kernel); without a match any priority
// with a major is read as 0 and the rest index the priomap by their low
// 4 bits (TC_PRIO_MAX).
//
// A band may hold a shaper (tbf). Strict priority then means what it
// means in the kernel: while a higher band's shaper is out of tokens, the
// lower bands send. NextReady says when a shaped band will have a packet.
//
// Left out: the "multiqueue" option (mapping bands to TX queues, long
// deprecated for mqprio) and "tc qdisc change".
package prio

import (
	"errors"
	"fmt"
	"math"

	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

// Bounds and defaults of include/uapi/linux/pkt_sched.h and tc/q_prio.c.
const (
	MinBands     = 2  // TCQ_MIN_PRIO_BANDS
	MaxBands     = 16 // TCQ_PRIO_BANDS
	DefaultBands = 3
	// PrioMax is TC_PRIO_MAX: the priomap has PrioMax+1 entries and a
	// priority indexes it by its low 4 bits.
	PrioMax = 15
)

// DefaultPriomap is tc's (and pfifo_fast's) map from the TC_PRIO_*
// classes to the 3 default bands: interactive (6, 7) to band 0, best
// effort and interactive bulk to band 1, filler and bulk to band 2.
var DefaultPriomap = [PrioMax + 1]uint8{1, 2, 2, 2, 1, 2, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1}

// Never is what NextReady returns when nothing is queued.
const Never int64 = math.MaxInt64

// Params is "prio [bands N] [priomap P0 ... P15]".
type Params struct {
	Bands   int
	Priomap [PrioMax + 1]uint8
}

// Kind implements qdisc.Params.
func (Params) Kind() string { return "prio" }

// Defaults returns tc's defaults: 3 bands, DefaultPriomap.
func Defaults() Params { return Params{Bands: DefaultBands, Priomap: DefaultPriomap} }

// Option adds what New needs to know about where the qdisc sits.
type Option func(*config)

type config struct {
	handle   uint32
	txqueues uint32
}

// WithHandle gives the qdisc's own handle (major:0), so that a priority
// handle:N picks band N-1. Without it no priority is read as a class id.
func WithHandle(h uint32) Option { return func(c *config) { c.handle = h } }

// WithTxQueueLen gives the device's txqueuelen, the limit of the default
// pfifo in each band (fifo.DefaultLimit if not given), as the kernel's
// pfifo takes it from the device.
func WithTxQueueLen(n uint32) Option { return func(c *config) { c.txqueues = n } }

// Qdisc is what New returns beyond qdisc.Qdisc; reach it with a type
// assertion.
type Qdisc interface {
	qdisc.Qdisc
	// NextReady returns now if a packet can leave now, else the earliest
	// time a shaping child (anything with a NextReady method) says it
	// will have one, or Never if nothing is queued.
	NextReady(now int64) int64
	// Child returns the qdisc of class minor (band minor-1), nil if
	// there is no such class.
	Child(minor uint32) qdisc.Qdisc
	// Graft replaces the qdisc of class minor (prio_graft): the old one
	// is reset, its packets dropped, and returned.
	Graft(minor uint32, child qdisc.Qdisc) (qdisc.Qdisc, error)
	// Classes appends the bands, as "tc -s class show" lists them.
	Classes(dst []ClassStats) []ClassStats
	// SetClassifier sets the filters attached to the qdisc; nil for
	// none.
	SetClassifier(c qdisc.Classifier)
}

// ClassStats is one band: prio_dump_class_stats gives the child's
// counters.
type ClassStats struct {
	Minor uint32 // band + 1
	Leaf  qdisc.Qdisc
	Stats qdisc.Stats
}

// New returns a running prio with a pfifo in each band.
func New(p Params, opts ...Option) (qdisc.Qdisc, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if p.Bands < MinBands || p.Bands > MaxBands {
		return nil, fmt.Errorf("prio: bands %d: must be %d..%d", p.Bands, MinBands, MaxBands)
	}
	for i, b := range p.Priomap {
		if int(b) >= p.Bands {
			return nil, fmt.Errorf("prio: priomap[%d] %d: must be below bands (%d)", i, b, p.Bands)
		}
	}
	if cfg.handle&0xffff != 0 {
		return nil, fmt.Errorf("prio: handle %x:%x: must be a major handle (minor 0)", cfg.handle>>16, cfg.handle&0xffff)
	}
	q := &prio{params: p, handle: cfg.handle, bands: make([]qdisc.Qdisc, p.Bands)}
	for i := range q.bands {
		c, err := fifo.New(fifo.Pfifo{Limit: cfg.txqueues}, 0)
		if err != nil {
			return nil, fmt.Errorf("prio: band %d: %w", i, err)
		}
		q.bands[i] = c
	}
	return q, nil
}

// prio is the running discipline (struct prio_sched_data).
type prio struct {
	params Params
	handle uint32
	bands  []qdisc.Qdisc

	bytes, packets uint64
	retiredDrops   uint64 // drops of children grafted away
	filterDrops    uint64 // packets a filter's action dropped
	classifier     qdisc.Classifier
}

var _ Qdisc = (*prio)(nil)

// SetClassifier implements Qdisc.
func (q *prio) SetClassifier(c qdisc.Classifier) { q.classifier = c }

// classify is prio_classify: the band, or -1 when a filter dropped or
// took the packet (r says which).
func (q *prio) classify(p *pkt.Buffer) (int, qdisc.ClassifyResult) {
	priority := p.Priority
	if q.classifier != nil && (q.handle == 0 || priority&0xffff0000 != q.handle) {
		id, r := q.classifier.Classify(p)
		switch r {
		case qdisc.Dropped, qdisc.Taken:
			return -1, r
		case qdisc.Matched:
			if band := id&0xffff - 1; band < uint32(len(q.bands)) {
				return int(band), r
			}
			return int(q.params.Priomap[0]), r
		}
	}
	return q.classifyPriority(priority), qdisc.NoMatch
}

// classifyPriority is prio_classify without a filter's match.
func (q *prio) classifyPriority(priority uint32) int {
	if q.handle == 0 || priority&0xffff0000 != q.handle {
		if priority&0xffff0000 != 0 {
			priority = 0
		}
		return int(q.params.Priomap[priority&PrioMax])
	}
	// handle:0 wraps to a huge band, which is past the bands too.
	if band := priority&0xffff - 1; band < uint32(len(q.bands)) {
		return int(band)
	}
	return int(q.params.Priomap[0])
}

// Enqueue is prio_enqueue.
func (q *prio) Enqueue(p *pkt.Buffer, now int64) bool {
	band, r := q.classify(p)
	switch r {
	case qdisc.Dropped:
		q.filterDrops++
		p.Release()
		return false
	case qdisc.Taken:
		return false
	}
	return q.bands[band].Enqueue(p, now)
}

// Dequeue is prio_dequeue: the first band, in order, that gives a packet.
func (q *prio) Dequeue(now int64) *pkt.Buffer {
	for _, c := range q.bands {
		if p := c.Dequeue(now); p != nil {
			q.packets++
			q.bytes += uint64(p.Len())
			return p
		}
	}
	return nil
}

// readier is a child that can say when it will have a packet (a shaper).
type readier interface{ NextReady(now int64) int64 }

// NextReady implements Qdisc.
func (q *prio) NextReady(now int64) int64 {
	next := Never
	for _, c := range q.bands {
		if c.Len() == 0 {
			continue
		}
		r, ok := c.(readier)
		if !ok {
			return now
		}
		if t := r.NextReady(now); t <= now {
			return now
		} else if t < next {
			next = t
		}
	}
	return next
}

// Len implements qdisc.Qdisc.
func (q *prio) Len() int {
	n := 0
	for _, c := range q.bands {
		n += c.Len()
	}
	return n
}

// Stats implements qdisc.Qdisc: sent counters of its own; the queue and
// drop counters are the bands' together, as the kernel's prio counts a
// child's drop in its own. A band's overlimits (a shaper's) stay the
// band's, as in the kernel.
func (q *prio) Stats() qdisc.Stats {
	st := qdisc.Stats{Bytes: q.bytes, Packets: q.packets, Drops: q.retiredDrops + q.filterDrops}
	for _, c := range q.bands {
		cs := c.Stats()
		st.Drops += cs.Drops
		st.Backlog += cs.Backlog
		st.Qlen += cs.Qlen
	}
	return st
}

// Params implements qdisc.Qdisc.
func (q *prio) Params() qdisc.Params { return q.params }

// Reset is prio_reset: every band is reset.
func (q *prio) Reset() {
	for _, c := range q.bands {
		c.Reset()
	}
}

// Child implements Qdisc.
func (q *prio) Child(minor uint32) qdisc.Qdisc {
	if minor == 0 || minor > uint32(len(q.bands)) {
		return nil
	}
	return q.bands[minor-1]
}

// Graft implements Qdisc.
func (q *prio) Graft(minor uint32, child qdisc.Qdisc) (qdisc.Qdisc, error) {
	if minor == 0 || minor > uint32(len(q.bands)) {
		return nil, fmt.Errorf("prio: class :%x: no such band (bands 1..%d)", minor, len(q.bands))
	}
	if child == nil {
		return nil, errors.New("prio: graft of no qdisc")
	}
	old := q.bands[minor-1]
	old.Reset()
	q.retiredDrops += old.Stats().Drops
	q.bands[minor-1] = child
	return old, nil
}

// Classes implements Qdisc.
func (q *prio) Classes(dst []ClassStats) []ClassStats {
	for i, c := range q.bands {
		dst = append(dst, ClassStats{Minor: uint32(i) + 1, Leaf: c, Stats: c.Stats()})
	}
	return dst
}
