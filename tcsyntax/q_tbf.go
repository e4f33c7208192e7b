package tcsyntax

import (
	"math"
	"strconv"
	"strings"
	"time"

	"netyard/qdisc"
	"netyard/qdisc/tbf"
)

// tbf (tc/q_tbf.c): "tbf rate RATE burst BYTES (limit BYTES | latency
// TIME) [peakrate RATE mtu BYTES]". "buffer" and "maxburst" are burst,
// "minburst" is mtu; limit, latency, burst and peakrate may be
// abbreviated, as tc reads them with matches().
//
// The errors are tc's: every missing parameter is reported at once.
// netyard's rates are exact, not table-based, so cell sizes ("burst
// 10k/8") and mpu are refused; overhead and linklayer (ethernet, atm,
// adsl) adjust the charged length as the kernel's psched_l2t_ns.
//
// A latency is kept as given (tbf.Params.Latency), so that the command
// prints back as it was written; tbf.New turns it into a limit as tc
// does, and printTbf does the same for a latency-only Params.

func init() {
	RegisterQdisc(QdiscKind{
		Name: "tbf", Parse: parseTbf, Format: formatTbf,
		Print:     func(w *Writer, p qdisc.Params) { printTbf(w, p, &Options{}) },
		PrintOpts: printTbf,
	})
}

// tbfKeywords is tbf_parse_opt's order, which decides abbreviations: "l"
// is limit, "la" latency, "p" peakrate.
var tbfKeywords = []struct {
	word   string
	prefix bool // read with matches(), else only in full
	group  string
}{
	{"limit", true, "limit"},
	{"latency", true, "latency"},
	{"burst", true, "buffer/burst/maxburst"},
	{"buffer", false, "buffer/burst/maxburst"},
	{"maxburst", false, "buffer/burst/maxburst"},
	{"mtu", false, "mtu/minburst"},
	{"minburst", false, "mtu/minburst"},
	{"mpu", false, "mpu"},
	{"rate", false, "rate"},
	{"peakrate", true, "peakrate"},
	{"overhead", true, "overhead"},
	{"linklayer", true, "linklayer"},
}

func parseTbf(a *Args, dev string) (qdisc.Params, error) {
	var p tbf.Params
	seen := map[string]bool{}
	for a.More() {
		w := a.Next()
		if w == "help" {
			return nil, syntaxErr(a.Context, w, "usage: tbf limit BYTES burst BYTES rate KBPS [ mtu BYTES ] [ peakrate KBPS ] [ latency TIME ]")
		}
		key, group := "", ""
		for _, k := range tbfKeywords {
			if w == k.word || k.prefix && matches(w, k.word) {
				key, group = k.word, k.group
				break
			}
		}
		if key == "" {
			return nil, unknownWord(a.Context, w, "parameter", []string{
				"rate", "burst", "limit", "latency", "peakrate", "mtu", "buffer", "maxburst", "minburst"})
		}
		v, err := a.Value(w, tbfWants[key])
		if err != nil {
			return nil, err
		}
		switch key {
		case "mpu":
			return nil, syntaxErr(a.Context, w, "not supported by netyard")
		case "overhead":
			if seen["overhead"] {
				return nil, syntaxErr(a.Context, w, "tbf: duplicate \"overhead\" specification")
			}
			seen["overhead"] = true
			n, ok := parseUint(v, 10, 65535)
			if !ok {
				return nil, syntaxErr(a.Context, w, "illegal value for \"overhead\": %q", v)
			}
			p.Overhead = uint16(n)
			continue
		case "linklayer":
			switch v {
			case "ethernet":
				p.ATM = false
			case "atm", "adsl":
				p.ATM = true
			default:
				return nil, syntaxErr(a.Context, w, "illegal value for \"linklayer\": %q: expected ethernet, atm or adsl", v)
			}
			continue
		}
		if seen[group] {
			return nil, syntaxErr(a.Context, w, "duplicate %q specification (second value %q)", group, v)
		}
		seen[group] = true
		if key == "limit" && seen["latency"] || key == "latency" && seen["limit"] {
			return nil, syntaxErr(a.Context, w, `specifying both "limit" and "latency" is not allowed`)
		}
		illegal := func() error {
			return syntaxErr(a.Context, w, "illegal value for %q: %q: expected %s", w, v, tbfWants[key])
		}
		switch key {
		case "rate", "peakrate":
			r, err := ParseRate(v)
			if err != nil {
				return nil, illegal()
			}
			if key == "rate" {
				p.Rate = r
			} else {
				p.PeakRate = r
			}
		case "latency":
			d, err := ParseTime(v)
			if err != nil {
				return nil, illegal()
			}
			p.Latency = d
		default: // limit, burst, buffer, maxburst, mtu, minburst
			if strings.ContainsRune(v, '/') && key != "limit" {
				return nil, syntaxErr(a.Context, w, "%q: a cell size is not supported by netyard (its rates are exact, not table-based)", v)
			}
			n, err := ParseSize(v)
			if err != nil {
				return nil, illegal()
			}
			switch group {
			case "limit":
				p.Limit = n
			case "mtu/minburst":
				p.MTU = n
			default:
				p.Burst = n
			}
		}
	}
	// Be nice to the user, as tc: every problem at once.
	var missing []string
	if p.Rate == 0 {
		missing = append(missing, `the "rate" parameter is mandatory`)
	}
	if p.Burst == 0 {
		missing = append(missing, `the "burst" parameter is mandatory`)
	}
	if p.PeakRate != 0 && p.MTU == 0 {
		missing = append(missing, `when "peakrate" is specified, "mtu" must also be specified`)
	}
	if p.Limit == 0 && p.Latency == 0 {
		missing = append(missing, `either "limit" or "latency" is required`)
	}
	switch {
	case len(missing) == 1 && p.PeakRate != 0 && p.MTU == 0:
		return nil, syntaxErr(a.Context, "peakrate", "%s", missing[0])
	case len(missing) > 0:
		return nil, syntaxErr(a.Context, "tbf", "%s", strings.Join(missing, "; "))
	}
	return p, nil
}

var tbfWants = map[string]string{
	"limit": "a size (bytes)", "latency": "a time (50ms, ...)", "burst": "a size (10k, 1500b, ...)",
	"buffer": "a size (10k, 1500b, ...)", "maxburst": "a size (10k, 1500b, ...)",
	"mtu": "a size (bytes)", "minburst": "a size (bytes)", "mpu": "a size", "rate": "a rate (1mbit, 125000bps, ...)",
	"peakrate": "a rate (1mbit, ...)", "overhead": "a number of bytes", "linklayer": "ethernet, atm or adsl",
}

// tbfLimit is the limit tc sends for p: p.Limit, or from the latency as
// tbf_parse_opt computes it (rate * latency + burst, or the peak bucket's
// equivalent if smaller), truncated to whole bytes.
func tbfLimit(p tbf.Params) uint32 {
	if p.Limit != 0 || p.Latency == 0 {
		return p.Limit
	}
	us := float64(p.Latency / time.Microsecond)
	lim := float64(p.Rate)*us/1e6 + float64(p.Burst)
	if p.PeakRate != 0 {
		lim = min(lim, float64(p.PeakRate)*us/1e6+float64(p.MTU))
	}
	return uint32(min(lim, math.MaxUint32))
}

// The psched clock as tc sees it on a current kernel (/proc/net/psched
// "000003e8 00000040 000f4240 ...", tc/tc_core.c tc_core_init): 15.625
// ticks of 64 ns per microsecond. The kernel keeps a bucket's depth in
// ns, dumps it in ticks, and tc turns those back into microseconds and
// bytes with truncations at each step; the printed burst, minburst and
// latency come out of that arithmetic, reproduced here.
const tickInUsec = 1000.0 / 64

// tbfTicks is PSCHED_NS2TICKS(psched_l2t_ns(rate, bytes)): the depth in
// ticks of a bucket of bytes at rate (bytes/s), as the kernel dumps it.
// netyard's l2t is exact where the kernel's uses a reciprocal, which
// differs by at most a nanosecond.
func tbfTicks(rate uint64, bytes uint32) uint32 {
	if rate == 0 {
		return 0
	}
	ns := uint64(bytes) * uint64(time.Second) / rate
	return uint32(min(ns>>6, math.MaxUint32))
}

// tickToUS is tc_core_tick2time.
func tickToUS(ticks uint32) uint32 { return uint32(float64(ticks) / tickInUsec) }

// tbfShownSize is tc_calc_xmitsize: the bytes a bucket of ticks holds at
// rate, what tc prints as burst and minburst.
func tbfShownSize(rate uint64, ticks uint32) uint64 {
	return uint64(float64(rate) * float64(tickToUS(ticks)) / 1e6)
}

// printTbf is tbf_print_opt: "rate 1Mbit burst 10Kb lat 50ms ", with -d
// "rate 1Mbit burst 10Kb/1 mpu 0b lat 50ms linklayer ethernet ". As in
// tc (since 5.11), peakrate is printed in text only: its JSON is lost to
// a PRINT_FP in q_tbf.c, and netyard's -j matches tc's.
func printTbf(w *Writer, params qdisc.Params, o *Options) {
	p, ok := params.(tbf.Params)
	if !ok {
		return
	}
	limit := tbfLimit(p)
	// The kernel keeps the buckets as l2t of the adjusted burst and
	// mtu (overhead, ATM cells) and dumps those ticks.
	buffer := tbfTicks(p.Rate, uint32(min(p.LinkLen(uint64(p.Burst)), math.MaxUint32)))
	w.Rate(PrintAny, "rate", "rate %s ", p.Rate, o.IEC)
	burst := tbfShownSize(p.Rate, buffer)
	if o.Details {
		// The kernel dumps the rate spec with cell_log 0 and mpu 0
		// (psched_ratecfg_getrate).
		w.String(PrintAny, "burst", "burst %s ", FormatSize(burst)+"/1")
		w.Size(PrintAny, "mpu", "mpu %s ", 0)
	} else {
		w.Size(PrintAny, "burst", "burst %s ", burst)
	}
	var mtu uint32
	if p.PeakRate != 0 {
		w.Rate(PrintText, "peakrate", "peakrate %s ", p.PeakRate, o.IEC)
		mtu = tbfTicks(p.PeakRate, uint32(min(p.LinkLen(uint64(p.MTU)), math.MaxUint32)))
		if mtu != 0 {
			shown := tbfShownSize(p.PeakRate, mtu)
			if o.Details {
				w.String(PrintAny, "mtu", "mtu %s ", FormatSize(shown)+"/1")
				w.Size(PrintAny, "mpu", "mpu %s ", 0)
			} else {
				w.Size(PrintAny, "minburst", "minburst %s ", shown)
			}
		}
	}
	latency := 1e6*(float64(limit)/float64(p.Rate)) - float64(tickToUS(buffer))
	if p.PeakRate != 0 {
		latency = max(latency, 1e6*(float64(limit)/float64(p.PeakRate))-float64(tickToUS(mtu)))
	}
	if latency >= 0 && !math.IsInf(latency, 0) {
		us := uint64(min(latency, math.MaxUint32))
		w.Uint(PrintJSON, "lat", "", us)
		w.Text("lat " + FormatTime(time.Duration(us)*time.Microsecond) + " ")
	} else {
		w.Size(PrintAny, "limit", "limit %s ", uint64(limit))
	}
	if p.Overhead != 0 {
		w.Int(PrintAny, "overhead", "overhead %d ", int64(p.Overhead))
	}
	if p.ATM {
		w.String(PrintAny, "linklayer", "linklayer %s ", "atm")
	} else if o.Details {
		w.String(PrintAny, "linklayer", "linklayer %s ", "ethernet")
	}
}

func formatTbf(params qdisc.Params) []string {
	p, ok := params.(tbf.Params)
	if !ok {
		return nil
	}
	words := []string{"rate", exactRate(p.Rate), "burst", exactSize(uint64(p.Burst))}
	if p.Limit != 0 {
		words = append(words, "limit", exactSize(uint64(p.Limit)))
	}
	if p.Latency != 0 {
		words = append(words, "latency", exactTime(p.Latency))
	}
	if p.PeakRate != 0 {
		words = append(words, "peakrate", exactRate(p.PeakRate))
	}
	if p.MTU != 0 {
		words = append(words, "mtu", exactSize(uint64(p.MTU)))
	}
	if p.Overhead != 0 {
		words = append(words, "overhead", strconv.Itoa(int(p.Overhead)))
	}
	if p.ATM {
		words = append(words, "linklayer", "atm")
	}
	return words
}
