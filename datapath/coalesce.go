package datapath

import "time"

// Deferred parking (routine): how long a worker that ran dry after taking
// frames from a coalescing backend sleeps before it polls again, and how
// many such polls it makes before it parks. 50 µs is a few dozen frames at
// the rates where wake-ups cost most (100k–1M pps) and below what a
// NIC's interrupt moderation adds (rx-usecs, adaptive, up to ~100 µs);
// three empty rounds end the deferral within ~0.2–0.3 ms of the last
// frame.
const (
	coalesceWait   = 50 * time.Microsecond
	coalesceRounds = 3
)
