package wifi

import (
	"math"
	"math/bits"
	"time"
)

// Histogram counts durations in log-linear buckets of microseconds, as
// HdrHistogram does with 4 bits of sub-bucket precision: values below 32
// us are exact, larger ones fall in buckets 1/16 of their power of two
// wide, so a quantile is within 6.25% of the true value. Recording is
// an array increment: no allocation, a fixed 7.6 KiB.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // microseconds
	max    uint64 // microseconds
}

const (
	histSubBits = 4
	histSub     = 1 << histSubBits
	// histBuckets covers every uint64: values of 64 bits have a shift
	// of 64-histSubBits-1, so the top bucket is
	// (64-histSubBits)*histSub + histSub-1.
	histBuckets = (64 - histSubBits + 1) * histSub
)

// histIndex returns the bucket of v microseconds.
func histIndex(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	shift := bits.Len64(v) - (histSubBits + 1) // v>>shift is in [16, 32)
	return (shift+1)*histSub + int(v>>shift) - histSub
}

// histUpper returns the largest value in bucket i, in microseconds.
func histUpper(i int) uint64 {
	if i < 2*histSub {
		return uint64(i)
	}
	shift := i/histSub - 1
	lower := uint64(i%histSub+histSub) << shift
	return lower + (1 << shift) - 1
}

// Record adds one duration; negative ones count as 0.
func (h *Histogram) Record(d time.Duration) {
	var us uint64
	if d > 0 {
		us = uint64(d / time.Microsecond)
	}
	h.counts[histIndex(us)]++
	h.n++
	h.sum += us
	h.max = max(h.max, us)
}

// Count is the number of durations recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest duration recorded, to the microsecond.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) * time.Microsecond }

// Mean is the average duration, to the microsecond; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum/h.n) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q <= 1): the upper bound of the
// bucket holding the ceil(q*n)-th smallest duration, capped at Max, so
// it is never below the true value. It is 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := min(max(uint64(math.Ceil(q*float64(h.n))), 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(histUpper(i), h.max)) * time.Microsecond
		}
	}
	return h.Max()
}
