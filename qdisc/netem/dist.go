package netem

import (
	"fmt"
	"math"
	"sync"
)

// Delay distribution tables, built here from their definitions as
// iproute2's generators build them at compile time (netem/normal.c,
// pareto.c, paretonormal.c; tc reads the results from
// /usr/lib/tc/*.dist and hands them to the kernel as
// TCA_NETEM_DELAY_DIST). A table is the inverse of the distribution's
// cumulative distribution function, normalised to mean 0 and standard
// deviation 1, scaled by DistScale and sampled at TableSize evenly spaced
// probabilities: tabledist picks an entry with a uniform random number
// and scales it by the jitter.
//
// The generators are reproduced operation for operation in float64
// (the loop variable accumulated by repeated addition, rint's rounding
// to even, C's truncating integer division), so the tables equal the
// shipped .dist files entry for entry (TestTablesMatchIproute2 compares
// them with the files of the installed iproute2).

const (
	// DistScale is NETEM_DIST_SCALE: a table entry of DistScale is one
	// standard deviation (one jitter).
	DistScale = 8192
	// TableSize is the number of entries iproute2's tables have (its
	// generators sample a 16384-point inverse at every fourth point).
	TableSize = 4096
	// MaxTable is NETEM_DIST_MAX, the most entries the kernel takes.
	MaxTable = 16384
)

// Distribution names, as tc's "distribution NAME" reads them. Uniform is
// the kernel's default (no table): jitter spreads delays evenly over
// [delay-jitter, delay+jitter).
const (
	Uniform      = "uniform"
	Normal       = "normal"
	Pareto       = "pareto"
	ParetoNormal = "paretonormal"
)

// Table returns the table of a named distribution, nil for Uniform (and
// ""), or an error for a name netyard does not know. Tables are built
// once and shared; callers must not change them.
func Table(name string) ([]int16, error) {
	switch name {
	case "", Uniform:
		return nil, nil
	case Normal, Pareto, ParetoNormal:
		tablesOnce.Do(buildTables)
		return tables[name], nil
	}
	return nil, fmt.Errorf("netem: no distribution %q: expected uniform, normal, pareto or paretonormal", name)
}

var (
	tablesOnce sync.Once
	tables     map[string][]int16
)

func buildTables() {
	inv := normalInverse()
	tables = map[string][]int16{
		Normal:       normalTable(inv),
		Pareto:       paretoTable(),
		ParetoNormal: paretoNormalTable(inv),
	}
}

// genSize is TABLESIZE of normal.c, pareto.c and paretonormal.c: the
// points of the inverse CDF they compute before keeping every fourth.
const genSize = 16384

// normalCDF is normal.c's normal(x, 0.0, 1.0): .5 + .5*erf((x-mu)/
// (sqrt(2.0)*sigma)). The explicit conversion keeps the compiler from
// fusing the multiply and the add, which C does not do either.
func normalCDF(x float64) float64 {
	return 0.5 + float64(0.5*math.Erf(x/math.Sqrt2))
}

// normalInverse is normal.c's first loop: for x from -10 by .00005 up to
// 10.05, table[rint(TABLESIZE*normal(x))] = x, the last x that lands on
// an index winning.
func normalInverse() []float64 {
	t := make([]float64, genSize+1)
	for x := -10.0; x < 10.05; x += .00005 {
		i := int(math.RoundToEven(float64(genSize * normalCDF(x))))
		t[i] = x
	}
	return t
}

func clampShort(v int) int16 {
	return int16(min(max(v, math.MinInt16), math.MaxInt16))
}

// normalTable is normal.c's output loop: every fourth point, scaled by
// TABLEFACTOR and rounded, clamped to a short.
func normalTable(inv []float64) []int16 {
	out := make([]int16, 0, TableSize)
	for i := 0; i < genSize; i += 4 {
		out = append(out, clampShort(int(math.RoundToEven(inv[i]*DistScale))))
	}
	return out
}

// paretoShape is pareto.c's a: a Pareto distribution of shape 3 and
// scale 1, mean 1.5.
const paretoShape = 3.0

// paretoValue is paretonormal.c's paretovalue(i) and pareto.c's loop body
// for i = 65536, 65520, ...: the inverse CDF at 1-u, u = i/65536, moved
// to mean 0 and scaled by 4/3 (the Pareto(3) standard deviation is
// sqrt(3)/2; 4/3 is NIST Net's factor, kept), clamped above at 32767.
func paretoValue(i int) int {
	d := float64(i) / float64(65536)
	d = 1.0 / math.Pow(d, 1.0/paretoShape)
	d -= 1.5
	d *= (4.0 / 3.0) * float64(DistScale)
	if d > 32767 {
		d = 32767
	}
	return int(math.RoundToEven(d))
}

// paretoTable is pareto.c.
func paretoTable() []int16 {
	out := make([]int16, 0, TableSize)
	for i := 65536; i > 0; i -= 16 {
		out = append(out, int16(paretoValue(i)))
	}
	return out
}

// paretoNormalTable is paretonormal.c: at each probability, a quarter of
// the normal's inverse and three quarters of the Pareto's, (n + 3p)/4 in
// C's truncating integer division, clamped to a short.
func paretoNormalTable(inv []float64) []int16 {
	out := make([]int16, 0, TableSize)
	for i := 0; i < genSize; i += 4 {
		n := int(math.RoundToEven(inv[i] * DistScale))
		p := paretoValue(65536 - 4*i)
		out = append(out, clampShort((n+3*p)/4))
	}
	return out
}

// tabledist is the kernel's tabledist: a delay of mean mu and spread
// sigma (ns) from the correlated random sequence c. Without a table
// (uniform) it is mu-sigma + rnd mod 2*sigma; with one, mu plus the
// picked entry times sigma/DistScale, computed in two parts so that
// nothing overflows, rounded half away from zero, as the kernel does.
// c may be nil (the slot distribution's draws are uncorrelated).
func tabledist(mu int64, sigma int32, c *crnd, s *rndState, dist []int16) int64 {
	if sigma == 0 {
		return mu
	}
	var rnd uint32
	if c != nil {
		rnd = c.get(s)
	} else {
		rnd = s.u32()
	}
	if dist == nil {
		return (int64(rnd%(2*uint32(sigma))) + mu) - int64(sigma)
	}
	t := int64(dist[rnd%uint32(len(dist))])
	x := int64(sigma%DistScale) * t
	if x >= 0 {
		x += DistScale / 2
	} else {
		x -= DistScale / 2
	}
	return x/DistScale + int64(sigma/DistScale)*t + mu
}
