package tcsyntax

import (
	"netyard/act"
	"netyard/stats"
	"strconv"
)

// The generic action (tc/m_gact.c): "gact VERDICT [index N]", or just
// "VERDICT" ("action drop").

func init() {
	registerAction(&actionKind{name: "gact", parse: parseGact, format: formatGact, print: printGact})
}

func parseGact(a *Args) (act.Spec, error) {
	// parse_gact skips the kind word with matches(), so "g" and "ga"
	// work too; "action drop" has no kind word at all.
	if matches(a.Peek(), "gact") {
		a.Next()
	}
	g := a.gact
	if g != nil {
		a.gact = nil // one action's room
		*g = act.Gact{}
	} else {
		g = &act.Gact{}
	}
	seen := false
	if matches(a.Peek(), "index") {
		// "gact index N": bind an existing gact action.
		if err := parseIndex(a, &g.C, &seen); err != nil {
			return nil, err
		}
		return ref("gact", g.C.Index), nil
	}
	v, ok, err := parseControl(a, false)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, syntaxErr("gact", wordOr(a, "gact"), "expected a verdict: reclassify, drop, continue, pass, pipe, trap, goto chain N or jump N")
	}
	g.C.Control = v
	if matches(a.Peek(), "random") {
		a.Next()
		t := a.Next()
		switch {
		case matches(t, "netrand"):
			g.Random = act.RandomNetrand
		case matches(t, "determ"):
			g.Random = act.RandomDeterm
		default:
			return nil, syntaxErr("gact", t, "Illegal \"random type\": expected netrand or determ")
		}
		rv, ok, err := parseControl(a, false)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, syntaxErr("gact", wordOr(a, "random"), "expected the random verdict")
		}
		g.RandomAction = rv
		val := a.Next()
		n, ok := parseUint(val, 10, 65535)
		if !ok || n > 10000 {
			return nil, syntaxErr("gact", val, "Illegal probability val: expected 0..10000")
		}
		g.RandomVal = uint16(n)
	}
	if err := parseIndex(a, &g.C, &seen); err != nil {
		return nil, err
	}
	return g, nil
}

func formatGact(s act.Spec) []string {
	g := s.(*act.Gact)
	words := append([]string{"gact"}, formatControl(g.C.Control)...)
	if g.Random != act.RandomNone {
		words = append(words, "random", []string{"none", "netrand", "determ"}[min(g.Random, 2)])
		words = append(words, formatControl(g.RandomAction)...)
		words = append(words, strconv.Itoa(int(g.RandomVal)))
	}
	return formatIndex(words, &g.C)
}

// printGact is print_gact, with the "random" line iproute2 prints when
// built with CONFIG_GACT_PROB, as distributions build it.
func printGact(w *Writer, s act.Spec, v *ActionView, o *Options) {
	g := s.(*act.Gact)
	_, chain := g.C.Control.Chain()
	_, jump := g.C.Control.JumpCount()
	if w.js == nil && !chain && !jump && g.Random == act.RandomNone {
		// The lines below in one go, for a listing of millions.
		b := append(w.text, "gact action "...)
		b = append(append(b, controlName(g.C.Control)...), "\n\t random type none pass val 0\n"...)
		w.text = b
		printIndexLine(w, "\t index %d", g.C.Index, v, o)
		return
	}
	w.String(PrintAny, "kind", "%s ", "gact")
	printControl(w, "control_action", "action ", g.C.Control, "")
	w.Open("prob")
	w.NL()
	w.String(PrintAny, "random_type", "\t random type %s", []string{"none", "netrand", "determ"}[min(g.Random, 2)])
	printControl(w, "control_action", " ", g.RandomAction, " ")
	w.Int(PrintAny, "val", "val %d", int64(g.RandomVal))
	w.Close()
	w.NL()
	printIndexLine(w, "\t index %d", g.C.Index, v, o)
}

// printIndexLine writes the "index N ref R bind B" line the action kinds
// end with, in the kind's own format, and with -s the times (print_tm).
func printIndexLine(w *Writer, indexFormat string, index uint32, v *ActionView, o *Options) {
	if pre, post, ok := w.split(indexFormat, "%d"); ok && w.js == nil {
		// The text below in one go: every action of a listing of
		// millions prints it.
		b := strconv.AppendUint(append(w.text, pre...), uint64(index), 10)
		b = strconv.AppendInt(append(append(b, post...), " ref "...), int64(v.Refs), 10)
		b = strconv.AppendInt(append(b, " bind "...), int64(v.Binds), 10)
		if o.Stats > 0 {
			install, lastUse, firstUse := tmTicks(v.Stats, o.Now)
			if install != 0 {
				b = append(strconv.AppendUint(append(b, " installed "...), install/userHZ, 10), " sec"...)
			}
			if lastUse != 0 {
				b = append(strconv.AppendUint(append(b, " used "...), lastUse/userHZ, 10), " sec"...)
			}
			if firstUse != 0 {
				b = append(strconv.AppendUint(append(b, " firstused "...), firstUse/userHZ, 10), " sec"...)
			}
		}
		w.text = append(b, '\n')
		return
	}
	w.Uint(PrintAny, "index", indexFormat, uint64(index))
	w.Int(PrintAny, "ref", " ref %d", int64(v.Refs))
	w.Int(PrintAny, "bind", " bind %d", int64(v.Binds))
	if o.Stats > 0 {
		printTM(w, v.Stats, o.Now)
	}
	w.NL()
}

// userHZ is USER_HZ: the kernel reports action times in 1/100 s ticks,
// and tc prints a time only when its tick count is not zero.
const userHZ = 100

func ticks(d int64) uint64 {
	if d <= 0 {
		return 0
	}
	return uint64(d / (1e9 / userHZ))
}

// tmTicks are print_tm's three ages in ticks.
func tmTicks(s stats.Snapshot, now int64) (install, lastUse, firstUse uint64) {
	install = ticks(now - s.Installed)
	last := s.LastUsed
	if last == 0 {
		last = s.Installed
	}
	lastUse = ticks(now - last)
	if s.FirstUsed != 0 {
		firstUse = ticks(now - s.FirstUsed)
	}
	return install, lastUse, firstUse
}

// printTM is tc_util.c's print_tm: seconds since the action was
// installed, last used and first used. As in the kernel an action never
// used counts as last used when it was installed, and has no first use.
func printTM(w *Writer, s stats.Snapshot, now int64) {
	install, lastUse, firstUse := tmTicks(s, now)
	if install != 0 {
		w.Uint(PrintAny, "installed", " installed %d sec", install/userHZ)
	}
	if lastUse != 0 {
		w.Uint(PrintAny, "last_used", " used %d sec", lastUse/userHZ)
	}
	if firstUse != 0 {
		w.Uint(PrintAny, "first_used", " firstused %d sec", firstUse/userHZ)
	}
}
