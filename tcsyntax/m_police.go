package tcsyntax

import (
	"math"
	"strconv"
	"strings"

	"netyard/act"
)

// police (tc/m_police.c): "police rate RATE burst SIZE [mtu SIZE]
// [peakrate RATE] [conform-exceed EXCEED[/CONFORM]] [index N]".
//
// As in tc, a bare verdict among the parameters ("police rate 1mbit burst
// 10k drop") is the EXCEED verdict, and conform-exceed names the exceed
// verdict first: "conform-exceed drop/pipe" drops what exceeds the rate
// and pipes what conforms. The defaults are tc's: reclassify what
// exceeds, pass (OK) what conforms.

func init() {
	registerAction(&actionKind{name: "police", parse: parsePolice, format: formatPolice, print: printPolice})
}

// defaultPoliceMTU is the MTU the kernel gives a policer with a rate and
// no mtu: 255 << cell_log, with the cell_log tc computes for its default
// MTU of 2047 (tc_calc_rtable). Larger packets exceed the rate.
const defaultPoliceMTU = 2040

func parsePolice(a *Args) (act.Spec, error) {
	a.Next() // "police"
	p := &act.Police{Exceed: act.Reclassify}
	p.C.Control = act.DefaultControl("police", p)
	var rateSet, burstSet, mtuSet, peakSet, indexSet, verdictSet bool
	if !a.More() {
		return nil, syntaxErr("police", "", "needs parameters: rate RATE burst SIZE ...")
	}
	size := func(key string, set *bool, dst *uint32) error {
		a.Next()
		v, err := a.Value(key, "a size")
		if err != nil {
			return err
		}
		if *set {
			return duplicate("police", key, v)
		}
		if strings.ContainsRune(v, '/') {
			return badValue("police", key, v, "a cell size is not supported by netyard (its rates are exact, not table-based)")
		}
		n, err := ParseSize(v)
		if err != nil {
			return badValue("police", key, v, "expected a size (10k, 1500b, ...)")
		}
		*dst, *set = n, true
		return nil
	}
	rate := func(key string, set *bool, dst *uint64) error {
		a.Next()
		v, err := a.Value(key, "a rate")
		if err != nil {
			return err
		}
		if *set {
			return duplicate("police", key, v)
		}
		r, err := ParseRate(v)
		if err != nil {
			return badValue("police", key, v, "expected a rate (1mbit, 100kbit, ...)")
		}
		*dst, *set = r, true
		return nil
	}
loop:
	for a.More() {
		w := a.Peek()
		var err error
		// act_parse_police's order: "p" is peakrate, "pi" pipe.
		switch {
		case matches(w, "index"):
			err = parseIndex(a, &p.C, &indexSet)
		case matches(w, "burst") || w == "buffer" || w == "maxburst":
			err = size(w, &burstSet, &p.Burst)
		case w == "mtu" || w == "minburst":
			err = size(w, &mtuSet, &p.MTU)
		case w == "mpu" || w == "avrate":
			err = syntaxErr("police", w, "not supported by netyard")
		case w == "rate":
			err = rate(w, &rateSet, &p.Rate)
		case matches(w, "peakrate"):
			err = rate(w, &peakSet, &p.PeakRate)
		case matches(w, "reclassify"), matches(w, "drop"), matches(w, "shot"),
			matches(w, "continue"), matches(w, "pass"), matches(w, "ok"),
			matches(w, "pipe"), matches(w, "goto"):
			var v act.Verdict
			v, _, err = parseControl(a, false)
			p.Exceed, verdictSet = v, true
		case w == "conform-exceed":
			a.Next()
			err = parseConformExceed(a, p)
			verdictSet = true
		case matches(w, "overhead"):
			a.Next()
			var v string
			if v, err = a.Value(w, "bytes"); err == nil {
				n, ok := parseUint(v, 10, 65535)
				if !ok {
					err = badValue("police", "overhead", v, "expected bytes (0..65535)")
				}
				p.Overhead = uint16(n)
			}
		case matches(w, "linklayer"):
			a.Next()
			var v string
			if v, err = a.Value(w, "ethernet, atm or adsl"); err == nil {
				switch v {
				case "ethernet":
					p.ATM = false
				case "atm", "adsl":
					p.ATM = true
				default:
					err = badValue("police", "linklayer", v, "expected ethernet, atm or adsl")
				}
			}
		case matches(w, "pkts_rate"), matches(w, "pkts_burst"):
			a.Next()
			var v string
			if v, err = a.Value(w, "a number of packets"); err == nil {
				n, ok := parseUint(v, 10, math.MaxUint64)
				switch {
				case !ok || n == 0:
					err = badValue("police", w, v, "expected a number of packets")
				case matches(w, "pkts_rate"):
					p.PktsRate = n
				default:
					p.PktsBurst = n
				}
			}
		case w == "help":
			err = syntaxErr("police", w, "usage: police rate RATE burst SIZE [ mtu SIZE ] [ peakrate RATE ] [ conform-exceed EXCEED[/CONFORM] ] [ index N ]")
		default:
			break loop
		}
		if err != nil {
			return nil, err
		}
	}
	// As in act_parse_police, a zero rate, burst or mtu counts as not
	// given.
	switch {
	case indexSet && !rateSet && !burstSet && !mtuSet && !peakSet && !verdictSet && p.PktsRate == 0 && p.PktsBurst == 0:
		return ref("police", p.C.Index), nil
	case rateSet && p.Rate == 0:
		return nil, badValue("police", "rate", "0", "must be > 0")
	case (p.PktsRate == 0) != (p.PktsBurst == 0):
		return nil, syntaxErr("police", "pkts_rate", "'pkts_rate' and 'pkts_burst' go together")
	case p.Rate == 0 && p.MTU == 0 && p.PktsRate == 0:
		return nil, syntaxErr("police", wordOr(a, "police"), "'rate', 'pkts_rate' or 'mtu' must be specified")
	case p.Rate != 0 && p.Burst == 0:
		return nil, syntaxErr("police", "rate", "needs 'burst'")
	case burstSet && p.Rate == 0:
		return nil, syntaxErr("police", "burst", "needs 'rate'")
	case peakSet && p.Rate == 0:
		return nil, syntaxErr("police", "peakrate", "needs 'rate'")
	case peakSet && p.MTU == 0:
		return nil, syntaxErr("police", "peakrate", "needs 'mtu'")
	case peakSet && p.PeakRate == 0:
		return nil, badValue("police", "peakrate", "0", "must be > 0")
	}
	return p, nil
}

// parseConformExceed reads "EXCEED[/CONFORM]" as
// parse_action_control_slash: one word with a slash, or verdicts (which
// may be "goto chain N") around a separate "/". Numbers are verdicts too.
func parseConformExceed(a *Args, p *act.Police) error {
	w := a.Peek()
	if i := strings.IndexByte(w, '/'); i >= 0 {
		a.Next()
		ex, cf := w[:i], w[i+1:]
		for _, s := range []string{ex, cf} {
			if name, _, ok := verdictWord(s, true); ok && (name == "goto" || name == "jump") {
				return badValue("police", "conform-exceed", w, name+" needs its operand: write \"conform-exceed goto chain N / pipe\"")
			}
		}
		_, exV, ok1 := verdictWord(ex, true)
		_, cfV, ok2 := verdictWord(cf, true)
		if !ok1 || !ok2 {
			return badValue("police", "conform-exceed", w, "expected EXCEED/CONFORM verdicts (drop, pass, pipe, continue, reclassify, goto chain N)")
		}
		p.Exceed, p.C.Control = exV, cfV
		return nil
	}
	v, ok, err := parseControl(a, true)
	if err != nil {
		return err
	}
	if !ok {
		return badValue("police", "conform-exceed", w, "expected EXCEED[/CONFORM] verdicts (drop, pass, pipe, continue, reclassify, goto chain N)")
	}
	p.Exceed = v
	if a.Peek() == "/" {
		a.Next()
		v, ok, err := parseControl(a, true)
		if err != nil {
			return err
		}
		if !ok {
			return badValue("police", "conform-exceed", a.Peek(), "expected a CONFORM verdict after \"/\"")
		}
		p.C.Control = v
	}
	return nil
}

func formatPolice(s act.Spec) []string {
	p := s.(*act.Police)
	var words []string
	words = append(words, "police")
	if p.Rate != 0 {
		words = append(words, "rate", exactRate(p.Rate), "burst", exactSize(uint64(p.Burst)))
	}
	if p.MTU != 0 {
		words = append(words, "mtu", exactSize(uint64(p.MTU)))
	}
	if p.PeakRate != 0 {
		words = append(words, "peakrate", exactRate(p.PeakRate))
	}
	if p.Overhead != 0 {
		words = append(words, "overhead", strconv.Itoa(int(p.Overhead)))
	}
	if p.PktsRate != 0 {
		words = append(words, "pkts_rate", strconv.FormatUint(p.PktsRate, 10))
	}
	if p.PktsBurst != 0 {
		words = append(words, "pkts_burst", strconv.FormatUint(p.PktsBurst, 10))
	}
	if p.ATM {
		words = append(words, "linklayer", "atm")
	}
	if p.Exceed != act.Reclassify || p.C.Control != act.OK {
		words = append(words, "conform-exceed")
		ex, cf := formatControl(p.Exceed), formatControl(p.C.Control)
		if len(ex) == 1 && len(cf) == 1 {
			words = append(words, ex[0]+"/"+cf[0])
		} else {
			words = append(append(append(words, ex...), "/"), cf...)
		}
	}
	return formatIndex(words, &p.C)
}

// exactRate writes a rate so that ParseRate reads back the same value:
// tc's rounded form when it is exact, else bytes per second.
func exactRate(r uint64) string {
	if s := FormatRate(r, false); mustParseRate(s) == r {
		return s
	}
	return strconv.FormatUint(r, 10) + "bps"
}

func mustParseRate(s string) uint64 {
	r, _ := ParseRate(s)
	return r
}

// exactSize is exactRate for sizes.
func exactSize(b uint64) string {
	if s := FormatSize(b); mustParseSize(s) == b {
		return s
	}
	return strconv.FormatUint(b, 10) + "b"
}

func mustParseSize(s string) uint64 {
	b, _ := ParseSize64(s)
	return b
}

// printPolice is print_police: " police 0x1 rate 1Mbit burst 10Kb mtu 2Kb
// action reclassify overhead 0b", then "\tref R bind B". tc prints the
// conform verdict after a slash only when it is not pass, and its JSON
// repeats the "control_action" key for it; netyard names that one
// "conform_action".
func printPolice(w *Writer, s act.Spec, v *ActionView, o *Options) {
	p := s.(*act.Police)
	w.String(PrintJSON, "kind", "", "police")
	w.Hex(PrintText, "", " police %#x ", uint64(p.C.Index))
	w.Uint(PrintJSON, "index", "", uint64(p.C.Index))
	w.Rate(PrintAny, "rate", "rate %s ", p.Rate, o.IEC)
	// The burst tc prints is what the kernel's ticks hold
	// (tc_calc_xmitsize of tc_calc_xmittime): a 1m burst at 7mbit
	// prints as 1024Kb, a few bytes short of a MiB.
	burst := uint64(p.Burst)
	if p.Rate != 0 {
		burst = tbfShownSize(p.Rate, tbfTicks(p.Rate, p.Burst))
	}
	w.Size(PrintAny, "burst", "burst %s ", burst)
	mtu := uint64(p.MTU)
	if mtu == 0 {
		mtu = 1<<32 - 1
		if p.Rate != 0 {
			mtu = defaultPoliceMTU
		}
	}
	w.Size(PrintAny, "mtu", "mtu %s ", mtu)
	if p.PeakRate != 0 {
		w.Rate(PrintAny, "peakrate", "peakrate %s ", p.PeakRate, o.IEC)
	}
	if p.PktsRate != 0 {
		w.Uint(PrintAny, "pkts_rate", "pkts_rate %d ", p.PktsRate)
		w.Uint(PrintAny, "pkts_burst", "pkts_burst %d ", p.PktsBurst)
	}
	printControl(w, "control_action", "action ", p.Exceed, "")
	if p.C.Control != act.OK {
		printControl(w, "conform_action", "/", p.C.Control, " ")
	} else {
		w.Text(" ")
	}
	w.Size(PrintAny, "overhead", "overhead %s ", uint64(p.Overhead))
	if p.ATM {
		w.String(PrintAny, "linklayer", "linklayer %s ", "atm")
	} else if o.Details {
		w.String(PrintAny, "linklayer", "linklayer %s ", "ethernet")
	}
	w.NL()
	w.Int(PrintAny, "ref", "\tref %d ", int64(v.Refs))
	w.Int(PrintAny, "bind", "bind %d ", int64(v.Binds))
	if o.Stats > 0 {
		printTM(w, v.Stats, o.Now)
	}
	w.NL()
}
