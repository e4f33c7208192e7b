package tcsyntax

import (
	"math"
	"strconv"

	"netyard/qdisc"
	"netyard/qdisc/htb"
)

// htb (tc/q_htb.c): the qdisc "htb [default ID] [r2q N] [direct_qlen N]"
// and its classes "htb rate R [ceil R] [burst B] [cburst B] [prio N]
// [quantum N] [mtu N]".
//
// A class's burst becomes the kernel's buffer as tc computes it: tc_calc_
// xmittime(rate, burst) in psched ticks of 64 ns, through whole
// microseconds (iproute2 6.1's tc_core_time2tick takes an unsigned), and
// the default burst is rate/HZ + mtu with HZ the psched clock's 10^9 on a
// high-resolution kernel: 1600 bytes for any rate under 8 Gbit/s. What is
// printed back ("burst 1375b" for 1gbit) is what tc prints from the
// kernel's ticks, checked against the kernel (q_htb_test.go).

func init() {
	RegisterQdisc(QdiscKind{Name: "htb", Parse: parseHtb, Print: printHtb, PrintOpts: printHtbOpts, Format: formatHtb,
		ParseClass: parseHtbClass, FormatClass: formatHtbClass, PrintClassOpts: printHtbClass, PrintXstats: printHtbXstats})
}

// HtbParams is the htb qdisc as netyard shows it: its parameters and the
// direct_packets_stat tc prints with them.
type HtbParams struct {
	htb.Params
	DirectPackets uint64
}

func parseHtb(a *Args, dev string) (qdisc.Params, error) {
	var p htb.Params
	for a.More() {
		w := a.Next()
		switch {
		case matches(w, "r2q"):
			v, err := a.Value(w, "a number")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 10)
			if !ok || n == 0 {
				return nil, badValue(a.Context, w, v, "illegal \"r2q\"")
			}
			p.R2Q = n
		case matches(w, "default"):
			v, err := a.Value(w, "a class minor (hex)")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 16)
			if !ok {
				return nil, badValue(a.Context, w, v, "illegal \"default\"")
			}
			p.Default = n
		case matches(w, "direct_qlen"):
			v, err := a.Value(w, "a number of packets")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 10)
			if !ok {
				return nil, badValue(a.Context, w, v, "illegal \"direct_qlen\"")
			}
			p.DirectQlen = n
		case matches(w, "debug"):
			if _, err := a.Value(w, "debug levels"); err != nil {
				return nil, err
			}
		case matches(w, "offload"):
			return nil, syntaxErr(a.Context, w, "not supported by netyard")
		default:
			return nil, syntaxErr(a.Context, w, "What is %q? usage: ... qdisc add ... htb [default N] [r2q N] [direct_qlen P]", w)
		}
	}
	return p, nil
}

func htbOf(params qdisc.Params) (HtbParams, bool) {
	switch p := params.(type) {
	case HtbParams:
		return p, true
	case htb.Params:
		return HtbParams{Params: p}, true
	}
	return HtbParams{}, false
}

func printHtb(w *Writer, params qdisc.Params) { printHtbOpts(w, params, &Options{}) }

// printHtbOpts is htb_print_opt for the qdisc: "r2q 10 default 0x20
// direct_packets_stat 0 direct_qlen 1000", with -d " ver 3.17".
func printHtbOpts(w *Writer, params qdisc.Params, o *Options) {
	p, ok := htbOf(params)
	if !ok {
		return
	}
	r2q := p.R2Q
	if r2q == 0 {
		r2q = htb.DefaultR2Q
	}
	w.Uint(PrintAny, "r2q", "r2q %d", uint64(r2q))
	// print_0xhex "%#llx": 0 prints as "0".
	def := "0"
	if p.Default != 0 {
		def = "0x" + strconv.FormatUint(uint64(p.Default), 16)
	}
	w.String(PrintAny, "default", " default %s", def)
	w.Uint(PrintAny, "direct_packets_stat", " direct_packets_stat %d", p.DirectPackets)
	if o.Details {
		w.String(PrintAny, "ver", " ver %s", "3.17")
	}
	qlen := p.DirectQlen
	if qlen == 0 {
		qlen = 1000
	}
	w.Uint(PrintAny, "direct_qlen", " direct_qlen %d", uint64(qlen))
}

func formatHtb(params qdisc.Params) []string {
	p, ok := htbOf(params)
	if !ok {
		return nil
	}
	var out []string
	if p.Default != 0 {
		out = append(out, "default", strconv.FormatUint(uint64(p.Default), 16))
	}
	if p.R2Q != 0 && p.R2Q != htb.DefaultR2Q {
		out = append(out, "r2q", strconv.FormatUint(uint64(p.R2Q), 10))
	}
	if p.DirectQlen != 0 {
		out = append(out, "direct_qlen", strconv.FormatUint(uint64(p.DirectQlen), 10))
	}
	return out
}

// psched as tc 6.1 sees it: HZ 10^9 (/proc/net/psched's fourth field on
// a high-resolution kernel), 15.625 ticks a microsecond.
const pschedHZ = 1_000_000_000

// htbTicks is iproute2 6.1's tc_calc_xmittime: the time size bytes take
// at rate, in whole microseconds, in ticks.
func htbTicks(rate, size uint64) uint32 {
	if rate == 0 {
		return 0
	}
	us := 1e6 * (float64(size) / float64(rate))
	if us >= math.MaxUint32 {
		return math.MaxUint32
	}
	t := float64(uint32(us)) * tickInUsec
	return uint32(min(t, math.MaxUint32))
}

func parseHtbClass(a *Args, dev string) (any, error) {
	var p htb.ClassParams
	var burst, cburst uint64
	mtu := uint64(1600)
	for a.More() {
		w := a.Next()
		switch {
		case w == "rate" || w == "ceil":
			v, err := a.Value(w, "a rate")
			if err != nil {
				return nil, err
			}
			r, err := ParseRate(v)
			if err != nil || r == 0 {
				return nil, badValue(a.Context, w, v, "Illegal \""+w+"\"")
			}
			dst := &p.Rate
			if w == "ceil" {
				dst = &p.Ceil
			}
			if *dst != 0 {
				return nil, syntaxErr(a.Context, w, "Double %q spec", w)
			}
			*dst = r
		case w == "burst" || w == "buffer" || w == "maxburst" || w == "cburst" || w == "cbuffer" || w == "cmaxburst":
			v, err := a.Value(w, "a size")
			if err != nil {
				return nil, err
			}
			n, err := ParseSize64(v)
			if err != nil {
				return nil, badValue(a.Context, w, v, "Illegal \""+w+"\"")
			}
			if w[0] == 'c' {
				cburst = n
			} else {
				burst = n
			}
		case matches(w, "prio"):
			v, err := a.Value(w, "a priority 0..7")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 10)
			if !ok {
				return nil, badValue(a.Context, w, v, "Illegal \"prio\"")
			}
			p.Prio = n
		case matches(w, "quantum"):
			v, err := a.Value(w, "bytes")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 10)
			if !ok {
				return nil, badValue(a.Context, w, v, "Illegal \"quantum\"")
			}
			p.Quantum = n
		case matches(w, "mtu"):
			v, err := a.Value(w, "bytes")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 10)
			if !ok {
				return nil, badValue(a.Context, w, v, "Illegal \"mtu\"")
			}
			mtu = uint64(n)
		case matches(w, "mpu"):
			v, err := a.Value(w, "bytes")
			if err != nil {
				return nil, err
			}
			n, err := ParseSize(v)
			if err != nil || n > 65535 {
				return nil, badValue(a.Context, w, v, "Illegal \"mpu\"")
			}
			p.MPU = n
		case matches(w, "overhead"), matches(w, "linklayer"), w == "estimator":
			return nil, syntaxErr(a.Context, w, "not supported by netyard")
		default:
			return nil, syntaxErr(a.Context, w, "What is %q? usage: ... htb rate R1 [burst B1] [mpu B] [overhead O] [prio P] [slot S] [pslot PS] [ceil R2] [cburst B2] [mtu MTU] [quantum Q]", w)
		}
	}
	if p.Rate == 0 {
		return nil, syntaxErr(a.Context, "rate", "\"rate\" is required.")
	}
	if p.Ceil == 0 {
		p.Ceil = p.Rate
	}
	if burst == 0 {
		burst = p.Rate/pschedHZ + mtu
	}
	if cburst == 0 {
		cburst = p.Ceil/pschedHZ + mtu
	}
	p.Burst, p.CBurst = uint32(min(burst, math.MaxUint32)), uint32(min(cburst, math.MaxUint32))
	p.Buffer = int64(htbTicks(p.Rate, burst)) << 6
	p.CBuffer = int64(htbTicks(p.Ceil, cburst)) << 6
	return p, nil
}

// formatHtbClass writes a class back with its bursts given (so the
// defaults computed from mtu read back the same) and rates in bytes a
// second ("bps" is tc's bytes).
func formatHtbClass(params any) []string {
	p, ok := params.(htb.ClassParams)
	if cs, isView := params.(htb.ClassStats); isView {
		p, ok = cs.Params, true // a listed class (ClassView.Params): as configured
	}
	if !ok {
		return nil
	}
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	out := []string{"rate", u(p.Rate) + "bps", "ceil", u(p.Ceil) + "bps", "burst", u(uint64(p.Burst)), "cburst", u(uint64(p.CBurst))}
	if p.Prio != 0 {
		out = append(out, "prio", u(uint64(p.Prio)))
	}
	if p.Quantum != 0 {
		out = append(out, "quantum", u(uint64(p.Quantum)))
	}
	if p.MPU != 0 {
		out = append(out, "mpu", u(uint64(p.MPU)))
	}
	return out
}

// HtbClassView returns class c of the htb with handle h on dev as "tc
// class show" lists it; leaf is the handle of a qdisc grafted on it.
func HtbClassView(dev string, c htb.ClassStats, leaf uint32) ClassView {
	return ClassView{Dev: dev, Kind: "htb", Handle: c.ID, Parent: c.Parent, Leaf: leaf, Params: c, Stats: c.Stats,
		Extra: []Field{
			{Name: "lended", Value: uint64(c.Lends)}, {Name: "borrowed", Value: uint64(c.Borrows)},
			{Name: "giants", Value: uint64(c.Giants)},
			{Name: "tokens", Value: int64(c.Tokens)}, {Name: "ctokens", Value: int64(c.CTokens)},
		}}
}

// printHtbClass is htb_print_opt for a class.
func printHtbClass(w *Writer, cv *ClassView, o *Options) {
	c, ok := cv.Params.(htb.ClassStats)
	if !ok {
		return
	}
	if c.Level == 0 {
		w.Int(PrintAny, "prio", "prio %d ", int64(c.Params.Prio))
		if o.Details {
			w.Int(PrintAny, "quantum", "quantum %d ", int64(c.Quantum))
		}
	}
	w.Rate(PrintAny, "rate", "rate %s ", c.Params.Rate, o.IEC)
	buffer := tbfShownSize(c.Params.Rate, uint32(c.Params.Buffer>>6))
	w.Rate(PrintAny, "ceil", "ceil %s ", c.Params.Ceil, o.IEC)
	cbuffer := tbfShownSize(c.Params.Ceil, uint32(c.Params.CBuffer>>6))
	if o.Details {
		w.String(PrintAny, "linklayer", "linklayer %s ", "ethernet")
		w.Size(PrintAny, "burst", "burst %s/", buffer)
		w.Uint(PrintAny, "burst_cell", "%d", 1)
		w.Size(PrintAny, "mpu_rate", " mpu %s ", uint64(c.Params.MPU))
		w.Size(PrintAny, "cburst", "cburst %s/", cbuffer)
		w.Uint(PrintAny, "cburst_cell", "%d", 1)
		w.Size(PrintAny, "mpu_ceil", " mpu %s ", uint64(c.Params.MPU))
		w.Int(PrintAny, "level", "level %d ", int64(c.Level))
	} else {
		w.Size(PrintAny, "burst", "burst %s ", buffer)
		w.Size(PrintAny, "cburst", "cburst %s ", cbuffer)
	}
}

// printHtbXstats is htb_print_xstats.
func printHtbXstats(w *Writer, extra []Field) {
	get := func(name string) any {
		for _, f := range extra {
			if f.Name == name {
				return f.Value
			}
		}
		return uint64(0)
	}
	u := func(name string) uint64 { v, _ := get(name).(uint64); return v }
	i := func(name string) int64 { v, _ := get(name).(int64); return v }
	w.Uint(PrintAny, "lended", " lended: %d ", u("lended"))
	w.Uint(PrintAny, "borrowed", "borrowed: %d ", u("borrowed"))
	w.Uint(PrintAny, "giants", "giants: %d", u("giants"))
	w.NL()
	w.Int(PrintAny, "tokens", " tokens: %d ", i("tokens"))
	w.Int(PrintAny, "ctokens", "ctokens: %d", i("ctokens"))
}
