package tcsyntax

import (
	"math"
	"strconv"
	"strings"
	"time"

	"netyard/qdisc"
	"netyard/qdisc/netem"
)

// netem (tc/q_netem.c): "netem [limit PACKETS] [delay TIME [JITTER
// [CORRELATION]]] [distribution {uniform|normal|pareto|paretonormal}]
// [corrupt PERCENT [CORRELATION]] [duplicate PERCENT [CORRELATION]]
// [loss random PERCENT [CORRELATION]] [loss state P13 [P31 [P32 [P23
// [P14]]]]] [loss gemodel PERCENT [R [1-H [1-K]]]] [seed SEED] [ecn]
// [reorder PERCENT [CORRELATION] [gap DISTANCE]] [rate RATE
// [PACKETOVERHEAD [CELLSIZE [CELLOVERHEAD]]]] [slot MIN_DELAY [MAX_DELAY]
// [packets N] [bytes N]] [slot distribution NAME DELAY JITTER [packets
// N] [bytes N]]", read as netem_parse_opt reads it: keywords abbreviated
// (matches()) and tried in its order, an optional number taken only when
// the next word starts with a digit, a bare time in nanoseconds
// (get_time64), a percentage with or without "%" (parse_percent), stored
// as a fraction of 2^32-1 rounded to even as tc's set_percent does.
//
// Distributions are netem's built-in tables (qdisc/netem builds them as
// iproute2's generators do); tc reads the same tables from files in
// /usr/lib/tc, and other files there ("experimental", custom tables) are
// not available. "uniform" names the kernel's default (no table), which
// tc itself can only get by leaving the distribution out. A rate given
// as a percentage of the device's speed is refused (netyard devices
// have no link speed to take it from).

func init() {
	RegisterQdisc(QdiscKind{
		Name: "netem", Parse: parseNetem, Format: formatNetem,
		Print:       func(w *Writer, p qdisc.Params) { printNetem(w, p, &Options{}) },
		PrintOpts:   printNetem,
		PrintXstats: printNetemXstats,
	})
}

const netemUsage = "usage: netem [ limit PACKETS ] [ delay TIME [ JITTER [ CORRELATION ] ] ] " +
	"[ distribution {uniform|normal|pareto|paretonormal} ] [ corrupt PERCENT [ CORRELATION ] ] " +
	"[ duplicate PERCENT [ CORRELATION ] ] [ loss random PERCENT [ CORRELATION ] ] " +
	"[ loss state P13 [ P31 [ P32 [ P23 [ P14 ] ] ] ] ] [ loss gemodel PERCENT [ R [ 1-H [ 1-K ] ] ] ] " +
	"[ seed SEED ] [ ecn ] [ reorder PERCENT [ CORRELATION ] [ gap DISTANCE ] ] " +
	"[ rate RATE [ PACKETOVERHEAD ] [ CELLSIZE ] [ CELLOVERHEAD ] ] " +
	"[ slot MIN_DELAY [ MAX_DELAY ] [ packets MAX_PACKETS ] [ bytes MAX_BYTES ] ] " +
	"[ slot distribution {uniform|normal|pareto|paretonormal} DELAY JITTER [ packets MAX_PACKETS ] [ bytes MAX_BYTES ] ]"

// ParsePercent is tc's parse_percent: a number from 0 to 100, with or
// without "%", as a fraction.
func ParsePercent(s string) (float64, bool) {
	num := strings.TrimSuffix(s, "%")
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || math.IsNaN(v) || strings.ContainsAny(num, "xXpP_") {
		return 0, false
	}
	v /= 100
	if v > 1 || v < 0 {
		return 0, false
	}
	return v, true
}

// netemPercent is set_percent: rint(per * UINT32_MAX).
func netemPercent(per float64) uint32 {
	return uint32(math.RoundToEven(per * math.MaxUint32))
}

// ParseTime64 is tc's get_time64: a time with s, ms, us or ns (and their
// "sec", "msecs", ... spellings); a bare number is nanoseconds.
func ParseTime64(s string) (time.Duration, bool) {
	v, suffix, ok := splitNumber(s)
	if !ok {
		return 0, false
	}
	switch strings.ToLower(suffix) {
	case "s", "sec", "secs":
		v *= 1e9
	case "ms", "msec", "msecs":
		v *= 1e6
	case "us", "usec", "usecs":
		v *= 1e3
	case "", "ns", "nsec", "nsecs":
	default:
		return 0, false
	}
	if v >= math.MaxInt64 {
		return 0, false
	}
	return time.Duration(v), true
}

// FormatTime64 is tc's sprint_time64: "100ms", "1.5s", "250us", "10ns".
func FormatTime64(d time.Duration) string {
	ns := float64(d)
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(ns/1e9, 'g', 3, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatFloat(ns/1e6, 'g', 3, 64) + "ms"
	case d >= time.Microsecond:
		return strconv.FormatFloat(ns/1e3, 'g', 3, 64) + "us"
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// netemKeywords is netem_parse_opt's if-chain order, which decides
// abbreviations ("d" is delay, "du" duplicate, "di" distribution).
var netemKeywords = []string{"limit", "latency", "delay", "loss", "drop", "seed", "ecn", "reorder",
	"corrupt", "gap", "duplicate", "distribution", "rate", "slot"}

func parseNetem(a *Args, dev string) (qdisc.Params, error) {
	p := netem.Params{Limit: netem.DefaultLimit}
	illegal := func(what string) error {
		return syntaxErr(a.Context, what, "Illegal %q", what)
	}
	nextIsNumber := func() bool {
		w := a.Peek()
		return w != "" && w[0] >= '0' && w[0] <= '9'
	}
	nextIsSigned := func() bool {
		w := a.Peek()
		return w != "" && (w[0] >= '0' && w[0] <= '9' || w[0] == '-')
	}
	percent := func(key, what string, dst *uint32) error {
		v, err := a.Value(key, "a percentage (0 to 100, \"%\" optional)")
		if err != nil {
			return err
		}
		per, ok := ParsePercent(v)
		if !ok {
			return illegal(what)
		}
		*dst = netemPercent(per)
		return nil
	}
	optPercent := func(key, what string, dst *uint32) error {
		if !nextIsNumber() {
			return nil
		}
		return percent(key, what, dst)
	}
	// withCorr reads "PERCENT [CORRELATION]".
	withCorr := func(key, what string, prob, corr *uint32) error {
		if err := percent(key, what, prob); err != nil {
			return err
		}
		return optPercent(key, what, corr)
	}
	timeArg := func(key, what string) (time.Duration, error) {
		v, err := a.Value(key, "a time (100ms, 1.5s, 250us, 10ns; bare: ns)")
		if err != nil {
			return 0, err
		}
		d, ok := ParseTime64(v)
		if !ok {
			return 0, illegal(what)
		}
		return d, nil
	}
	s32 := func(key, what string) (int32, error) {
		v := a.Next()
		n, err := strconv.ParseInt(v, 0, 32)
		if err != nil {
			return 0, illegal(what)
		}
		return int32(n), nil
	}
	lossGiven := false
	for a.More() {
		w := a.Next()
		key := ""
		for _, k := range netemKeywords {
			if matches(w, k) {
				key = k
				break
			}
		}
		switch key {
		case "limit":
			v, err := a.Value(w, "a number of packets")
			if err != nil {
				return nil, err
			}
			n, err := ParseSize(v)
			if err != nil {
				return nil, illegal("limit")
			}
			p.Limit = n
		case "latency", "delay":
			d, err := timeArg(w, "latency")
			if err != nil {
				return nil, err
			}
			p.Latency = d
			if nextIsNumber() {
				if p.Jitter, err = timeArg(w, "latency"); err != nil {
					return nil, err
				}
				if err := optPercent(w, "latency", &p.DelayCorr); err != nil {
					return nil, err
				}
			}
		case "loss", "drop":
			if lossGiven {
				return nil, syntaxErr(a.Context, w, "Illegal \"duplicate loss argument\"")
			}
			lossGiven = true
			v := a.Peek()
			if v == "" {
				return nil, syntaxErr(a.Context, w, "needs a value: random, state, gemodel or a percentage")
			}
			switch {
			case v[0] >= '0' && v[0] <= '9' || v == "random":
				// The old syntax, "loss 1%", is "loss random 1%".
				if v == "random" {
					a.Next()
				}
				p.LossModel = netem.LossRandom
				if err := percent(w, "loss percent", &p.Loss); err != nil {
					return nil, err
				}
				if err := optPercent(w, "loss correlation", &p.LossCorr); err != nil {
					return nil, err
				}
			case v == "state":
				a.Next()
				var p13 uint32
				if err := percent("state", "loss p13", &p13); err != nil {
					return nil, err
				}
				per, _ := ParsePercent(a.words[a.pos-1])
				// tc's defaults: a Bernoulli loss of P13.
				p.LossModel = netem.LossState
				p.P13, p.P31, p.P32, p.P23, p.P14 = p13, netemPercent(1-per), 0, netemPercent(1), 0
				for i, dst := range []*uint32{&p.P31, &p.P32, &p.P23, &p.P14} {
					if !nextIsNumber() {
						break
					}
					if err := percent("state", "loss "+[]string{"p31", "p32", "p23", "p14"}[i], dst); err != nil {
						return nil, err
					}
				}
			case v == "gemodel":
				a.Next()
				if err := percent("gemodel", "loss gemodel p", &p.P); err != nil {
					return nil, err
				}
				per, _ := ParsePercent(a.words[a.pos-1])
				p.LossModel = netem.LossGE
				p.R, p.H, p.K1 = netemPercent(1-per), 0, 0
				if nextIsNumber() {
					if err := percent("gemodel", "loss gemodel r", &p.R); err != nil {
						return nil, err
					}
					if nextIsNumber() {
						var oneMinusH uint32
						if err := percent("gemodel", "loss gemodel h", &oneMinusH); err != nil {
							return nil, err
						}
						// tc reads 1-h; the kernel keeps h.
						p.H = math.MaxUint32 - oneMinusH
						if err := optPercent("gemodel", "loss gemodel k", &p.K1); err != nil {
							return nil, err
						}
					}
				}
			default:
				return nil, syntaxErr(a.Context, v, "Unknown loss parameter: %s", v)
			}
		case "seed":
			v, err := a.Value(w, "a number")
			if err != nil {
				return nil, err
			}
			s, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, illegal("seed")
			}
			p.Seed, p.HasSeed = s, true
		case "ecn":
			p.ECN = true
		case "reorder":
			if err := withCorr(w, "reorder", &p.Reorder, &p.ReorderCorr); err != nil {
				return nil, err
			}
		case "corrupt":
			if err := withCorr(w, "corrupt", &p.Corrupt, &p.CorruptCorr); err != nil {
				return nil, err
			}
		case "gap":
			v, err := a.Value(w, "a number of packets")
			if err != nil {
				return nil, err
			}
			g, ok := getU32(v, 0)
			if !ok {
				return nil, illegal("gap")
			}
			p.Gap = g
		case "duplicate":
			if err := withCorr(w, "duplicate", &p.Duplicate, &p.DupCorr); err != nil {
				return nil, err
			}
		case "distribution":
			v, err := a.Value(w, "uniform, normal, pareto or paretonormal")
			if err != nil {
				return nil, err
			}
			if _, err := netem.Table(v); err != nil {
				return nil, syntaxErr(a.Context, v, "No distribution data for %s (netyard has uniform, normal, pareto and paretonormal)", v)
			}
			p.Dist = v
		case "rate":
			v, err := a.Value(w, "a rate (1mbit, 125000bps, ...)")
			if err != nil {
				return nil, err
			}
			if strings.ContainsRune(v, '%') {
				return nil, syntaxErr(a.Context, v, "a rate as a percentage of the device's speed is not supported by netyard (devices have no link speed)")
			}
			r, err := ParseRate(v)
			if err != nil {
				return nil, illegal("rate")
			}
			p.Rate = r
			if nextIsSigned() {
				if p.PacketOverhead, err = s32(w, "rate"); err != nil {
					return nil, err
				}
			}
			if nextIsNumber() {
				c, ok := getU32(a.Next(), 0)
				if !ok {
					return nil, illegal("rate")
				}
				p.CellSize = c
			}
			if nextIsSigned() {
				if p.CellOverhead, err = s32(w, "rate"); err != nil {
					return nil, err
				}
			}
		case "slot":
			if err := parseNetemSlot(a, w, &p, nextIsNumber, timeArg, illegal); err != nil {
				return nil, err
			}
		default:
			if w == "help" {
				return nil, syntaxErr(a.Context, w, "%s", netemUsage)
			}
			return nil, syntaxErr(a.Context, w, "What is %q? %s", w, netemUsage)
		}
	}
	// The checks after the loop, in tc's order and words.
	if p.Reorder != 0 {
		if p.Latency == 0 {
			return nil, syntaxErr(a.Context, "reorder", "reordering not possible without specifying some delay")
		}
		if p.Gap == 0 {
			p.Gap = 1
		}
	} else if p.Gap > 0 {
		return nil, syntaxErr(a.Context, "gap", "gap specified without reorder probability")
	}
	if p.ECN && p.Loss == 0 && p.LossModel == netem.LossRandom {
		return nil, syntaxErr(a.Context, "ecn", "ecn requested without loss model")
	}
	if p.Dist != "" && (p.Latency == 0 || p.Jitter == 0) {
		return nil, syntaxErr(a.Context, "distribution", "distribution specified but no latency and jitter values")
	}
	return p, nil
}

// parseNetemSlot reads what follows "slot": "MIN [MAX]" or "distribution
// NAME DELAY JITTER", then "[packets N] [bytes N]".
func parseNetemSlot(a *Args, w string, p *netem.Params, nextIsNumber func() bool,
	timeArg func(key, what string) (time.Duration, error), illegal func(string) error) error {
	var err error
	if nextIsNumber() {
		if p.SlotMin, err = timeArg(w, "slot min_delay"); err != nil {
			return err
		}
		p.SlotMax = p.SlotMin
		if nextIsNumber() {
			if p.SlotMax, err = timeArg(w, "slot max_delay"); err != nil {
				return err
			}
			if p.SlotMax < p.SlotMin {
				return illegal("slot max_delay")
			}
		}
	} else {
		v, err := a.Value(w, "a time or \"distribution\"")
		if err != nil {
			return err
		}
		if v != "distribution" {
			return syntaxErr(a.Context, v, "Unknown slot parameter: %s", v)
		}
		name, err := a.Value(v, "uniform, normal, pareto or paretonormal")
		if err != nil {
			return err
		}
		if _, err := netem.Table(name); err != nil {
			return syntaxErr(a.Context, name, "No distribution data for %s (netyard has uniform, normal, pareto and paretonormal)", name)
		}
		p.SlotDist = name
		if p.SlotDelay, err = timeArg("distribution", "slot delay"); err != nil {
			return err
		}
		if p.SlotJitter, err = timeArg("distribution", "slot jitter"); err != nil {
			return err
		}
		if p.SlotJitter <= 0 {
			return syntaxErr(a.Context, "slot", "Non-positive jitter")
		}
	}
	if matches(a.Peek(), "packets") {
		a.Next()
		n, err := strconv.ParseInt(a.Peek(), 0, 32)
		if !a.More() || err != nil {
			return illegal("slot packets")
		}
		a.Next()
		p.SlotPackets = int32(n)
	}
	if matches(a.Peek(), "bytes") {
		a.Next()
		n, err := ParseSize(a.Peek())
		if !a.More() || err != nil {
			return illegal("slot bytes")
		}
		a.Next()
		p.SlotBytes = int32(n)
	}
	return nil
}

// printNetem is netem_print_opt, as tc prints what the kernel dumps (the
// kernel always dumps the correlations, reorder, corrupt, rate and seed
// attributes).
func printNetem(w *Writer, params qdisc.Params, o *Options) {
	p, ok := params.(netem.Params)
	if !ok {
		return
	}
	pct := func(key, format string, v uint32) {
		w.Float(PrintText, "", format, 100*float64(v)/math.MaxUint32)
		w.Float(PrintJSON, key, "", float64(v)/math.MaxUint32)
	}
	corr := func(present bool, v uint32) {
		if w.IsJSON() {
			pct("correlation", "", v)
		} else if present {
			pct("", " %g%%", v)
		}
	}
	secs := func(d time.Duration) float64 { return float64(d) / 1e9 }
	w.Uint(PrintAny, "limit", "limit %d", uint64(p.Limit))
	if p.Latency != 0 {
		w.Open("delay")
		w.Float(PrintJSON, "delay", "", secs(p.Latency))
		w.Float(PrintJSON, "jitter", "", secs(p.Jitter))
		w.Text(" delay " + FormatTime64(p.Latency))
		if p.Jitter != 0 {
			w.Text("  " + FormatTime64(p.Jitter))
		}
		corr(p.Jitter != 0 && p.DelayCorr != 0, p.DelayCorr)
		w.Close()
	}
	if p.LossModel == netem.LossRandom && p.Loss != 0 {
		w.Open("loss-random")
		pct("loss", " loss %g%%", p.Loss)
		corr(p.LossCorr != 0, p.LossCorr)
		w.Close()
	}
	if p.LossModel == netem.LossState {
		w.Open("loss-state")
		pct("p13", " loss state p13 %g%%", p.P13)
		pct("p31", " p31 %g%%", p.P31)
		pct("p32", " p32 %g%%", p.P32)
		pct("p23", " p23 %g%%", p.P23)
		pct("p14", " p14 %g%%", p.P14)
		w.Close()
	}
	if p.LossModel == netem.LossGE {
		w.Open("loss-gemodel")
		pct("p", " loss gemodel p %g%%", p.P)
		pct("r", " r %g%%", p.R)
		pct("1-h", " 1-h %g%%", math.MaxUint32-p.H)
		pct("1-k", " 1-k %g%%", p.K1)
		w.Close()
	}
	if p.Duplicate != 0 {
		w.Open("duplicate")
		pct("duplicate", " duplicate %g%%", p.Duplicate)
		corr(p.DupCorr != 0, p.DupCorr)
		w.Close()
	}
	if p.Reorder != 0 {
		w.Open("reorder")
		pct("reorder", " reorder %g%%", p.Reorder)
		corr(p.ReorderCorr != 0, p.ReorderCorr)
		w.Close()
	}
	if p.Corrupt != 0 {
		w.Open("corrupt")
		pct("corrupt", " corrupt %g%%", p.Corrupt)
		corr(p.CorruptCorr != 0, p.CorruptCorr)
		w.Close()
	}
	if p.Rate != 0 {
		w.Open("rate")
		w.Rate(PrintAny, "rate", " rate %s", p.Rate, o.IEC)
		intOpt := func(key string, v int64) {
			w.Int(PrintJSON, key, "", v)
			if v != 0 {
				w.Int(PrintText, "", " "+key+" %d", v)
			}
		}
		intOpt("packetoverhead", int64(p.PacketOverhead))
		w.Uint(PrintJSON, "cellsize", "", uint64(p.CellSize))
		if p.CellSize != 0 {
			w.Uint(PrintText, "", " cellsize %d", uint64(p.CellSize))
		}
		intOpt("celloverhead", int64(p.CellOverhead))
		w.Close()
	}
	if p.Slots() {
		w.Open("slot")
		if p.SlotJitter > 0 {
			w.Float(PrintJSON, "distribution", "", secs(p.SlotDelay))
			w.Text(" slot distribution " + FormatTime64(p.SlotDelay))
			w.Float(PrintJSON, "jitter", "", secs(p.SlotJitter))
			w.Text(" " + FormatTime64(p.SlotJitter))
		} else {
			w.Float(PrintJSON, "min-delay", "", secs(p.SlotMin))
			w.Text(" slot " + FormatTime64(p.SlotMin))
			w.Float(PrintJSON, "max-delay", "", secs(p.SlotMax))
			w.Text(" " + FormatTime64(p.SlotMax))
		}
		for _, f := range []struct {
			key string
			v   int32
		}{{"packets", p.SlotPackets}, {"bytes", p.SlotBytes}} {
			w.Int(PrintJSON, f.key, "", int64(f.v))
			if f.v != 0 {
				w.Int(PrintText, "", " "+f.key+" %d", int64(f.v))
			}
		}
		w.Close()
	}
	if p.HasSeed {
		w.Uint(PrintAny, "seed", " seed %d", p.Seed)
	}
	w.Bool(PrintJSON, "ecn", "", p.ECN)
	if p.ECN {
		w.Text(" ecn ")
	}
	w.Uint(PrintJSON, "gap", "", uint64(p.Gap))
	if p.Gap != 0 {
		w.Uint(PrintText, "", " gap %d", uint64(p.Gap))
	}
}

// exactPercent writes v (a fraction of 2^32-1) as a percentage that
// parses back to v.
func exactPercent(v uint32) string {
	return strconv.FormatFloat(100*float64(v)/math.MaxUint32, 'g', -1, 64) + "%"
}

// exactTime64 writes d so that ParseTime64 reads it back exactly.
func exactTime64(d time.Duration) string {
	if s := FormatTime64(d); func() bool { v, ok := ParseTime64(s); return ok && v == d }() {
		return s
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

// formatNetem writes p back as the words parseNetem reads.
func formatNetem(params qdisc.Params) []string {
	p, ok := params.(netem.Params)
	if !ok {
		return nil
	}
	words := []string{"limit", strconv.FormatUint(uint64(p.Limit), 10)}
	if p.Latency != 0 || p.Jitter != 0 || p.DelayCorr != 0 {
		words = append(words, "delay", exactTime64(p.Latency))
		if p.Jitter != 0 || p.DelayCorr != 0 {
			words = append(words, exactTime64(p.Jitter))
			if p.DelayCorr != 0 {
				words = append(words, exactPercent(p.DelayCorr))
			}
		}
	}
	if p.Dist != "" {
		words = append(words, "distribution", p.Dist)
	}
	switch p.LossModel {
	case netem.LossRandom:
		if p.Loss != 0 || p.LossCorr != 0 {
			words = append(words, "loss", "random", exactPercent(p.Loss))
			if p.LossCorr != 0 {
				words = append(words, exactPercent(p.LossCorr))
			}
		}
	case netem.LossState:
		words = append(words, "loss", "state", exactPercent(p.P13), exactPercent(p.P31),
			exactPercent(p.P32), exactPercent(p.P23), exactPercent(p.P14))
	case netem.LossGE:
		words = append(words, "loss", "gemodel", exactPercent(p.P), exactPercent(p.R),
			exactPercent(math.MaxUint32-p.H), exactPercent(p.K1))
	}
	if p.ECN {
		words = append(words, "ecn")
	}
	if p.Corrupt != 0 || p.CorruptCorr != 0 {
		words = append(words, "corrupt", exactPercent(p.Corrupt))
		if p.CorruptCorr != 0 {
			words = append(words, exactPercent(p.CorruptCorr))
		}
	}
	if p.Duplicate != 0 || p.DupCorr != 0 {
		words = append(words, "duplicate", exactPercent(p.Duplicate))
		if p.DupCorr != 0 {
			words = append(words, exactPercent(p.DupCorr))
		}
	}
	if p.Reorder != 0 || p.ReorderCorr != 0 {
		words = append(words, "reorder", exactPercent(p.Reorder))
		if p.ReorderCorr != 0 {
			words = append(words, exactPercent(p.ReorderCorr))
		}
	}
	if p.Gap != 0 {
		words = append(words, "gap", strconv.FormatUint(uint64(p.Gap), 10))
	}
	if p.Rate != 0 || p.PacketOverhead != 0 || p.CellSize != 0 || p.CellOverhead != 0 {
		words = append(words, "rate", strconv.FormatUint(p.Rate, 10)+"bps")
		if p.PacketOverhead != 0 || p.CellSize != 0 || p.CellOverhead != 0 {
			words = append(words, strconv.FormatInt(int64(p.PacketOverhead), 10))
		}
		if p.CellSize != 0 || p.CellOverhead != 0 {
			words = append(words, strconv.FormatUint(uint64(p.CellSize), 10))
		}
		if p.CellOverhead != 0 {
			words = append(words, strconv.FormatInt(int64(p.CellOverhead), 10))
		}
	}
	if p.Slots() || p.SlotDist != "" || p.SlotPackets != 0 || p.SlotBytes != 0 {
		if p.SlotDist != "" {
			words = append(words, "slot", "distribution", p.SlotDist, exactTime64(p.SlotDelay), exactTime64(p.SlotJitter))
		} else {
			words = append(words, "slot", exactTime64(p.SlotMin), exactTime64(p.SlotMax))
		}
		if p.SlotPackets != 0 {
			words = append(words, "packets", strconv.FormatInt(int64(p.SlotPackets), 10))
		}
		if p.SlotBytes != 0 {
			words = append(words, "bytes", strconv.FormatInt(int64(p.SlotBytes), 10))
		}
	}
	if p.HasSeed {
		words = append(words, "seed", strconv.FormatUint(p.Seed, 10))
	}
	return words
}

// NetemXstats returns a netem's own statistics as QdiscView.Extra, in the
// order tc prints them.
func NetemXstats(x netem.XStats) []Field {
	f := []Field{
		{"delayed", x.Delayed}, {"dropped", x.Dropped}, {"corrupted", x.Corrupted},
		{"duplicated", x.Duplicated}, {"reordered", x.Reordered}, {"ecn_marked", x.ECNMarked},
	}
	if x.AllocErrors != 0 {
		f = append(f, Field{"alloc_errors", x.AllocErrors})
	}
	return f
}

// printNetemXstats is netem_print_xstats: "  delayed N dropped N ...".
func printNetemXstats(w *Writer, extra []Field) {
	for i, f := range extra {
		v, _ := f.Value.(uint64)
		pre := " "
		if i == 0 {
			pre = "  "
		}
		w.Uint(PrintAny, f.Name, pre+f.Name+" %d", v)
	}
}
