package wifi

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestHistogramBuckets checks that bucket bounds tile the value range:
// each value falls in the bucket whose bounds hold it, exact below 32 us,
// within 1/16 above.
func TestHistogramBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 31, 32, 33, 47, 48, 63, 64, 1000, 12345, 1 << 40, math.MaxUint64} {
		i := histIndex(v)
		if i < 0 || i >= histBuckets {
			t.Fatalf("value %d: bucket %d out of range", v, i)
		}
		upper := histUpper(i)
		var lower uint64
		if i > 0 {
			lower = histUpper(i-1) + 1
		}
		if v < lower || v > upper {
			t.Errorf("value %d in bucket %d [%d, %d]", v, i, lower, upper)
		}
		if v < 2*histSub && lower != upper {
			t.Errorf("value %d: bucket [%d, %d] not exact", v, lower, upper)
		}
		if width := upper - lower + 1; v >= 2*histSub && width > lower/histSub {
			t.Errorf("value %d: bucket [%d, %d] wider than 1/16 of its start", v, lower, upper)
		}
	}
}

// TestHistogramQuantiles compares quantiles with exact ones over random
// delays: never below, at most 1/16 above.
func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h Histogram
	var exact []time.Duration
	for range 10000 {
		// Log-uniform from 1 us to 1 s.
		d := time.Duration(math.Exp(rng.Float64()*math.Log(1e6))) * time.Microsecond
		h.Record(d)
		exact = append(exact, d)
	}
	slices.Sort(exact)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exact[int(math.Ceil(q*float64(len(exact))))-1]
		got := h.Quantile(q)
		if got < want || got > want+want/16 {
			t.Errorf("Quantile(%v) = %v, exact %v", q, got, want)
		}
	}
	if h.Count() != uint64(len(exact)) || h.Max() != exact[len(exact)-1] {
		t.Errorf("Count %d Max %v, want %d and %v", h.Count(), h.Max(), len(exact), exact[len(exact)-1])
	}
	var sum time.Duration
	for _, d := range exact {
		sum += d
	}
	if mean := sum / time.Duration(len(exact)); h.Mean() != mean.Truncate(time.Microsecond) {
		t.Errorf("Mean %v, want %v", h.Mean(), mean)
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 || empty.Max() != 0 {
		t.Error("an empty histogram reports a value")
	}
	empty.Record(-time.Second)
	if empty.Quantile(1) != 0 {
		t.Errorf("a negative duration recorded as %v, want 0", empty.Quantile(1))
	}
}
