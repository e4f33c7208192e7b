package tcsyntax

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Units as tc reads and prints them: rates (lib/utils_math.c get_rate64,
// lib/json_print.c print_color_rate), sizes (get_size, sprint_size in
// lib/json_print_math.c) and times (lib/utils.c get_time, sprint_time).
// Qdisc and action grammars use these for every rate, size and time
// parameter, so "10mbit" and "1.5ms" mean what they mean to tc.

// splitNumber splits s into the leading decimal number strtod would read
// and the suffix after it. Unlike strtod it reads no sign, no hex floats
// and no "inf"/"nan": none of them is a meaningful rate, size or time.
func splitNumber(s string) (float64, string, bool) {
	i := 0
	digits := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, "", false
	}
	// An exponent only counts when digits follow it, as in strtod:
	// "1e" is 1 with the suffix "e".
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		j := i + 1
		if j < len(s) && (s[j] == '+' || s[j] == '-') {
			j++
		}
		k := j
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			k++
		}
		if k > j {
			i = k
		}
	}
	v, err := strconv.ParseFloat(s[:i], 64)
	if err != nil || math.IsInf(v, 0) {
		return 0, "", false
	}
	return v, s[i:], true
}

// rateSuffixes is get_rate's table (see physics.nist.gov/cuu/Units/binary):
// a bare number is bits per second; "bps" is BYTES per second, as in tc.
// Suffixes compare case-insensitively, so "kbps" is "KBps": 1000 bytes/s.
var rateSuffixes = []struct {
	name  string
	scale float64 // bits per unit
}{
	{"bit", 1},
	{"Kibit", 1024},
	{"kbit", 1000},
	{"mibit", 1024 * 1024},
	{"mbit", 1000000},
	{"gibit", 1024 * 1024 * 1024},
	{"gbit", 1000000000},
	{"tibit", 1024 * 1024 * 1024 * 1024},
	{"tbit", 1000000000000},
	{"Bps", 8},
	{"KiBps", 8 * 1024},
	{"KBps", 8000},
	{"MiBps", 8 * 1024 * 1024},
	{"MBps", 8000000},
	{"GiBps", 8 * 1024 * 1024 * 1024},
	{"GBps", 8000000000},
	{"TiBps", 8 * 1024 * 1024 * 1024 * 1024},
	{"TBps", 8000000000000},
}

// ParseRate reads a rate as tc's get_rate64 does and returns it in bytes
// per second: "100" and "100bit" are bits/s, "10kbit" 10000 bits/s,
// "1Kibit" 1024 bits/s, "1mbps" one million bytes/s. Fractions of a byte
// are dropped, as in tc.
func ParseRate(s string) (uint64, error) {
	v, suffix, ok := splitNumber(s)
	if ok && suffix != "" {
		ok = false
		for _, r := range rateSuffixes {
			if strings.EqualFold(r.name, suffix) {
				v *= r.scale
				ok = true
				break
			}
		}
	}
	if !ok {
		return 0, fmt.Errorf("%q: not a rate (a number with bit, kbit, mbit, gbit, tbit, Kibit..., bps, kbps, mbps...)", s)
	}
	v /= 8
	if v >= 1<<64 {
		return 0, fmt.Errorf("%q: rate too large", s)
	}
	return uint64(v), nil
}

// FormatRate prints a rate in bytes per second as tc's print_rate does:
// "10Mbit", "1500Kbit", "64bit". With iec, units are powers of 1024
// ("Kibit"), as "tc -iec" prints them.
func FormatRate(bytesPerSec uint64, iec bool) string {
	kilo := uint64(1000)
	infix := ""
	if iec {
		kilo, infix = 1024, "i"
	}
	units := [...]string{"", "K", "M", "G", "T"}
	rate := bytesPerSec << 3
	i := 0
	for ; i < len(units)-1; i++ {
		if rate < kilo {
			break
		}
		if rate%kilo != 0 && rate < 1000*kilo {
			break
		}
		rate /= kilo
	}
	if i == 0 {
		infix = ""
	}
	return strconv.FormatUint(rate, 10) + units[i] + infix + "bit"
}

// ParseSize reads a size in bytes as tc's get_size does: "1500", "1500b",
// "10k"/"10kb" (10240), "1m"/"1mb", "1g"/"1gb", and bit sizes "8kbit"
// (1024 bytes), "1mbit", "1gbit". Units are powers of 1024 and compare
// case-insensitively. Sizes must fit 32 bits, as tc's do.
func ParseSize(s string) (uint32, error) {
	v, err := ParseSize64(s)
	if err != nil {
		return 0, err
	}
	if v > math.MaxUint32 {
		return 0, fmt.Errorf("%q: size too large (at most 4294967295 bytes)", s)
	}
	return uint32(v), nil
}

// ParseSize64 is ParseSize without the 32-bit limit (get_size64).
func ParseSize64(s string) (uint64, error) {
	v, suffix, ok := splitNumber(s)
	if ok && suffix != "" {
		switch strings.ToLower(suffix) {
		case "kb", "k":
			v *= 1024
		case "gb", "g":
			v *= 1024 * 1024 * 1024
		case "gbit":
			v *= 1024 * 1024 * 1024 / 8
		case "mb", "m":
			v *= 1024 * 1024
		case "mbit":
			v *= 1024 * 1024 / 8
		case "kbit":
			v *= 1024 / 8
		case "b":
		default:
			ok = false
		}
	}
	if !ok {
		return 0, fmt.Errorf("%q: not a size (a number with b, k, kb, m, mb, g, gb, kbit, mbit or gbit)", s)
	}
	// get_size64 refuses what does not convert to an integer exactly:
	// "1.5b" is an error, "1.5k" (1536) is not.
	if v >= 1<<64 || v != math.Floor(v) {
		return 0, fmt.Errorf("%q: not a whole number of bytes", s)
	}
	return uint64(v), nil
}

// FormatSize prints a size as tc's sprint_size: "10Kb" when within 16
// bytes of a multiple of 1024, "1Mb"/"1Gb" within 1024 bytes of a
// multiple of those, else "1500b".
func FormatSize(b uint64) string {
	const kilo, mega, giga = 1024, 1024 * 1024, 1024 * 1024 * 1024
	f := float64(b)
	switch {
	case b >= giga && math.Abs(giga*math.RoundToEven(f/giga)-f) < 1024:
		return formatG(math.RoundToEven(f/giga)) + "Gb"
	case b >= mega && math.Abs(mega*math.RoundToEven(f/mega)-f) < 1024:
		return formatG(math.RoundToEven(f/mega)) + "Mb"
	case b >= kilo && math.Abs(kilo*math.RoundToEven(f/kilo)-f) < 16:
		return formatG(math.RoundToEven(f/kilo)) + "Kb"
	}
	return strconv.FormatUint(b, 10) + "b"
}

// formatG is C's "%g": six significant digits, trailing zeros dropped.
func formatG(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }

// maxTimeUS is the largest time tc's get_time can hold: microseconds in
// an unsigned int.
const maxTimeUS = math.MaxUint32

// ParseTime reads a time as tc's get_time does: "5ms", "5msec", "1s",
// "1.5sec", "200us", "200usecs"; a bare number is microseconds. The
// result has microsecond resolution (tc's TIME_UNITS_PER_SEC) and fits
// 32 bits of microseconds (about 71 minutes).
func ParseTime(s string) (time.Duration, error) {
	v, suffix, ok := splitNumber(s)
	if ok && suffix != "" {
		switch strings.ToLower(suffix) {
		case "s", "sec", "secs":
			v *= 1e6
		case "ms", "msec", "msecs":
			v *= 1e3
		case "us", "usec", "usecs":
		default:
			ok = false
		}
	}
	if !ok {
		return 0, fmt.Errorf("%q: not a time (a number with s, ms or us; a bare number is microseconds)", s)
	}
	if v > maxTimeUS {
		return 0, fmt.Errorf("%q: time too large (at most %d us)", s, uint64(maxTimeUS))
	}
	return time.Duration(uint64(v)) * time.Microsecond, nil
}

// FormatTime prints a time as tc's sprint_time: "5ms", "100ms", "1.5s",
// "250us" (three significant digits above a millisecond).
func FormatTime(d time.Duration) string {
	us := d.Microseconds()
	if us < 0 {
		us = 0
	}
	f := float64(us)
	switch {
	case f >= 1e6:
		return strconv.FormatFloat(f/1e6, 'g', 3, 64) + "s"
	case f >= 1e3:
		return strconv.FormatFloat(f/1e3, 'g', 3, 64) + "ms"
	}
	return strconv.FormatInt(us, 10) + "us"
}
