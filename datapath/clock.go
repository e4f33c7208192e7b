package datapath

import (
	"sync/atomic"
	"time"
)

// Clock gives the datapath its time in nanoseconds. Everything that
// depends on time (police, qdiscs, statistics timestamps) reads it through
// this, so that replay and lab run in virtual time and tests advance a
// ManualClock instead of sleeping.
type Clock interface {
	Now() int64
}

// ManualClock is a clock that moves only when told to: virtual time.
type ManualClock struct {
	t atomic.Int64
}

// Now implements Clock.
func (c *ManualClock) Now() int64 { return c.t.Load() }

// Set moves the clock to t. Virtual time never goes back: a t before the
// current time is ignored, so a capture with out-of-order timestamps
// replays with its late packets at the current time.
func (c *ManualClock) Set(t int64) {
	for {
		cur := c.t.Load()
		if t <= cur || c.t.CompareAndSwap(cur, t) {
			return
		}
	}
}

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) { c.t.Add(int64(d)) }

// MonotonicClock is real time: nanoseconds since the clock was made, from
// the runtime's monotonic clock, plus 1 so that 0 can mean "never".
type MonotonicClock struct {
	start time.Time
}

// NewMonotonicClock returns a clock starting now.
func NewMonotonicClock() *MonotonicClock { return &MonotonicClock{start: time.Now()} }

// Now implements Clock.
func (c *MonotonicClock) Now() int64 { return int64(time.Since(c.start)) + 1 }
