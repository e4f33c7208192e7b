package tcsyntax

import (
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"

	"netyard/act"
)

// Actions (tc/m_action.c): the list that follows "action" in a filter or
// in "tc actions add", the registry of action kinds, and the control
// verdicts every kind ends with (tc/tc_util.c parse_action_control).

// actionKind is what tcsyntax knows of one action kind.
type actionKind struct {
	name string
	// parse reads the action starting at its kind word (which it
	// consumes, as iproute2's parse_aopt functions do: gact's kind word
	// may be absent, "action drop" being "action gact drop").
	parse func(a *Args) (act.Spec, error)
	// format writes the action back as tc words, kind word first.
	format func(s act.Spec) []string
	// print writes the kind's part of "action order N: ..." through the
	// index/ref/bind line, as the kind's print_aopt.
	print func(w *Writer, s act.Spec, v *ActionView, o *Options)
}

var actionKinds = map[string]*actionKind{}

func registerAction(k *actionKind) { actionKinds[k.name] = k }

func actionKindNames() []string {
	names := make([]string, 0, len(actionKinds))
	for n := range actionKinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// parseActionList reads actions up to the end of a or to a word stop
// accepts ("classid" and "flowid" end a filter's actions). The word
// "action" before the first one has been consumed by the caller; it
// separates the following ones. As in parse_action, a verdict word starts
// a gact action and a kind name starts an action of that kind even without
// "action" before it.
func parseActionList(a *Args, stop func(string) bool) ([]act.Spec, error) {
	return appendActionList(nil, a, stop)
}

// appendActionList is parseActionList appending to specs: a classifier
// passes room it allocated with the filter.
func appendActionList(specs []act.Spec, a *Args, stop func(string) bool) ([]act.Spec, error) {
	ctx := a.Context
	defer func() { a.Context = ctx }()
	expect := true
	for a.More() {
		w := a.Peek()
		if w == "action" {
			a.Next()
			expect = true
			continue
		}
		if stop != nil && stop(w) {
			break
		}
		var k *actionKind
		if _, _, isVerdict := verdictWord(w, false); isVerdict || matches(w, "index") {
			// tc falls back to gact for a word that is no kind, and
			// gact reads "index N" alone: "action index 5" shares gact
			// action 5.
			k = actionKinds["gact"]
		} else if k = actionKinds[w]; k == nil {
			if w == "help" {
				return nil, syntaxErr("action", w, "usage: action KIND [ PARAMS ] [ CONTROL ] [ index N ] [ cookie HEX ]; kinds: %s", strings.Join(actionKindNames(), ", "))
			}
			return nil, unknownWord("action", w, "action kind", append(actionKindNames(), "or a verdict (drop, pass, pipe, ...)"))
		}
		a.Context = k.name
		s, err := k.parse(a)
		if err != nil {
			return nil, err
		}
		if a.Peek() == "cookie" {
			a.Next()
			v, err := a.Value("cookie", "a hex string")
			if err != nil {
				return nil, err
			}
			b, err := parseCookie(v)
			if err != nil {
				return nil, badValue(k.name, "cookie", v, err.Error())
			}
			s.Common().Cookie = b
		}
		// parse_action's flags after the cookie: accepted and kept
		// (act.Common.Flags), for printing and for the offload-flags
		// check when a filter binds the action.
	flags:
		for {
			switch w := a.Peek(); {
			case w == "no_percpu":
				s.Common().Flags |= act.FlagNoPercpu
			case w == "skip_hw":
				s.Common().Flags |= act.FlagSkipHW
			case w == "skip_sw":
				s.Common().Flags |= act.FlagSkipSW
			case matches(w, "hw_stats") && w != "":
				return nil, syntaxErr(k.name, w, "not supported by netyard: it has no hardware and one kind of statistics")
			default:
				break flags
			}
			a.Next()
		}
		specs = append(specs, s)
		expect = false
	}
	if expect {
		return nil, syntaxErr("action", "action", "needs an action kind (%s) or a verdict", strings.Join(actionKindNames(), ", "))
	}
	return specs, nil
}

// maxCookie is TC_COOKIE_MAX_SIZE: 16 bytes, 32 hex digits.
const maxCookie = 16

func parseCookie(v string) ([]byte, error) {
	if len(v) > 2*maxCookie {
		return nil, errors.New("at most 16 bytes (32 hex digits)")
	}
	if len(v)%2 != 0 {
		return nil, errors.New("must be a hex string of even length")
	}
	b, err := hex.DecodeString(v)
	if err != nil {
		return nil, errors.New("must be a hex string")
	}
	return b, nil
}

// verdictNames is action_a2n()'s table, in its order: abbreviations
// resolve as in tc ("p" is pass, "pi" pipe). "stolen" is not in it: tc
// cannot set that verdict.
var verdictNames = []struct {
	name string
	v    act.Verdict
}{
	{"continue", act.Unspec}, {"drop", act.Shot}, {"shot", act.Shot},
	{"pass", act.OK}, {"ok", act.OK}, {"reclassify", act.Reclassify},
	{"pipe", act.Pipe}, {"goto", 0}, {"jump", 0}, {"trap", act.Trap},
}

// verdictWord looks w up in action_a2n's table; name is the table entry
// matched ("goto" and "jump" need an operand). With allowNum a decimal
// number is a verdict too.
func verdictWord(w string, allowNum bool) (name string, v act.Verdict, ok bool) {
	for _, e := range verdictNames {
		if matches(w, e.name) {
			return e.name, e.v, true
		}
	}
	if allowNum {
		if n, err := strconv.ParseInt(w, 10, 32); err == nil {
			return w, act.Verdict(n), true
		}
	}
	return "", 0, false
}

// extMask is TC_ACT_EXT_VAL_MASK: the largest goto chain or jump operand.
const extMask = 1<<28 - 1

// parseControl reads a control verdict at the cursor, as
// __parse_action_control: "drop", "goto chain N", "jump N", ... It
// returns ok false, consuming nothing, when the next word is no verdict.
func parseControl(a *Args, allowNum bool) (v act.Verdict, ok bool, err error) {
	name, v, ok := verdictWord(a.Peek(), allowNum)
	if !ok {
		return 0, false, nil
	}
	a.Next()
	switch name {
	case "goto":
		if w := a.Next(); !matches(w, "chain") {
			return 0, false, syntaxErr(a.Context, "goto", "expected \"goto chain N\"")
		}
		s, err := a.Value("goto chain", "a chain index")
		if err != nil {
			return 0, false, err
		}
		n, ok := getU32(s, 10)
		if !ok || n > extMask {
			return 0, false, badValue(a.Context, "goto chain", s, "illegal chain index: expected 0..268435455")
		}
		return act.GotoChain(n), true, nil
	case "jump":
		s, err := a.Value("jump", "a count")
		if err != nil {
			return 0, false, err
		}
		n, ok := getU32(s, 10)
		if !ok || n == 0 || n > extMask {
			return 0, false, badValue(a.Context, "jump", s, "invalid jump count: expected 1..268435455")
		}
		return act.Jump(n), true, nil
	}
	return v, true, nil
}

// formatControl writes a verdict as the words parseControl reads.
func formatControl(v act.Verdict) []string {
	if n, ok := v.Chain(); ok {
		return []string{"goto", "chain", strconv.FormatUint(uint64(n), 10)}
	}
	if n, ok := v.JumpCount(); ok {
		return []string{"jump", strconv.FormatUint(uint64(n), 10)}
	}
	for _, e := range verdictNames {
		if e.v == v && e.name != "goto" && e.name != "jump" {
			return []string{e.name}
		}
	}
	return []string{strconv.FormatInt(int64(v), 10)}
}

// controlName is action_n2a: how tc prints a verdict ("goto" and "jump"
// without their operand, which print_action_control adds).
func controlName(v act.Verdict) string {
	if _, ok := v.Chain(); ok {
		return "goto"
	}
	if _, ok := v.JumpCount(); ok {
		return "jump"
	}
	switch v {
	case act.Unspec, act.OK, act.Shot, act.Reclassify, act.Pipe, act.Stolen, act.Trap:
		return v.String()
	}
	return strconv.FormatInt(int64(v), 10)
}

// printControl is print_action_control: prefix, the verdict (with "chain
// N" or the jump count), suffix; in JSON a "control_action" object.
func printControl(w *Writer, key, prefix string, v act.Verdict, suffix string) {
	w.Text(prefix)
	w.Open(key)
	w.String(PrintAny, "type", "%s", controlName(v))
	if n, ok := v.Chain(); ok {
		w.Uint(PrintAny, "chain", " chain %d", uint64(n))
	}
	if n, ok := v.JumpCount(); ok {
		w.Uint(PrintAny, "jump", " %d", uint64(n))
	}
	w.Close()
	w.Text(suffix)
}

// parseIndex reads "index N" at the cursor if it is there (matches, base
// 10, as every m_*.c file).
func parseIndex(a *Args, c *act.Common, seen *bool) error {
	if !matches(a.Peek(), "index") {
		return nil
	}
	a.Next()
	v, err := a.Value("index", "an index")
	if err != nil {
		return err
	}
	if *seen {
		return syntaxErr(a.Context, "index", "given twice")
	}
	n, ok := getU32(v, 10)
	if !ok {
		return badValue(a.Context, "index", v, "illegal index: expected a number")
	}
	c.Index, *seen = n, true
	return nil
}

// ref is the action "KIND index N" with no parameters: the filter shares
// an existing action.
func ref(kind string, index uint32) *act.Ref {
	return &act.Ref{ActKind: kind, C: act.Common{Index: index}}
}

// formatAction writes one action as tc words, starting with its kind
// (without the word "action").
func formatAction(s act.Spec) []string {
	var words []string
	if r, ok := s.(*act.Ref); ok {
		words = []string{r.ActKind, "index", strconv.FormatUint(uint64(r.C.Index), 10)}
	} else if k := actionKinds[s.Kind()]; k != nil {
		words = k.format(s)
	} else {
		words = []string{s.Kind()}
	}
	c := s.Common()
	if len(c.Cookie) > 0 {
		words = append(words, "cookie", hex.EncodeToString(c.Cookie))
	}
	for _, f := range []struct {
		bit  uint32
		word string
	}{{act.FlagNoPercpu, "no_percpu"}, {act.FlagSkipHW, "skip_hw"}, {act.FlagSkipSW, "skip_sw"}} {
		if c.Flags&f.bit != 0 {
			words = append(words, f.word)
		}
	}
	return words
}

// formatIndex appends "index N" when the action has one.
func formatIndex(words []string, c *act.Common) []string {
	if c.Index != 0 {
		words = append(words, "index", strconv.FormatUint(uint64(c.Index), 10))
	}
	return words
}

// formatActions writes a list as "action K ... action K ...".
func formatActions(specs []act.Spec) []string {
	var words []string
	for _, s := range specs {
		words = append(words, "action")
		words = append(words, formatAction(s)...)
	}
	return words
}

// actionsVerbs is do_action()'s order. "change" is a replace, as there
// (tc sends NLM_F_CREATE|NLM_F_REPLACE for both).
var actionsVerbs = []verbRule{
	{"add", VerbAdd}, {"change", VerbReplace}, {"replace", VerbReplace},
	{"delete", VerbDelete}, {"get", VerbGet},
	{"list", VerbShow}, {"show", VerbShow}, {"lst", VerbShow},
	{"flush", VerbFlush},
}

// parseActionsCmd reads "tc actions ...": add, change and replace take
// an action list; get and del "action KIND index N" (repeatable); ls and
// flush "action KIND" (ls also "since MSEC").
func parseActionsCmd(a *Args) (*Command, error) {
	if !a.More() {
		return nil, syntaxErr("actions", "", "missing command; expected add, change, replace, del, get, ls or flush")
	}
	verb, err := parseVerb(a, actionsVerbs)
	if err != nil {
		return nil, err
	}
	c := &Command{Object: ObjAction, Verb: verb, Mode: modeOf(verb)}
	switch verb {
	case VerbAdd, VerbReplace:
		if c.Actions, err = parseActionList(a, nil); err != nil {
			return nil, err
		}
	case VerbDelete, VerbGet:
		// tc_action_gd
		for a.More() {
			w := a.Next()
			if w == "action" {
				continue
			}
			if actionKinds[w] == nil {
				return nil, unknownWord("actions", w, "action kind", actionKindNames())
			}
			if !matches(a.Peek(), "index") {
				return nil, syntaxErr("actions", w, "no index specified: expected \"action %s index N\"", w)
			}
			a.Next()
			v, err := a.Value("index", "an index")
			if err != nil {
				return nil, err
			}
			n, ok := getU32(v, 10)
			if !ok {
				return nil, badValue("actions", "index", v, "illegal index: expected a number")
			}
			c.Select.Actions = append(c.Select.Actions, ActionID{Kind: w, Index: n})
		}
		if len(c.Select.Actions) == 0 {
			return nil, syntaxErr("actions", "", "expected \"action KIND index N\"")
		}
	case VerbShow, VerbFlush:
		// tc_act_list_or_flush skips the word before the kind without
		// looking at it; netyard wants it to be "action".
		if w := a.Next(); !matches(w, "action") && !matches(w, "actions") {
			return nil, syntaxErr("actions", w, "expected \"action KIND\"")
		}
		k := a.Next()
		if k == "" {
			return nil, syntaxErr("actions", "action", "needs an action kind (%s)", strings.Join(actionKindNames(), ", "))
		}
		if actionKinds[k] == nil {
			return nil, unknownWord("actions", k, "action kind", actionKindNames())
		}
		c.Select.Kind = k
		if verb == VerbShow && a.Peek() == "since" {
			a.Next()
			if w := a.Peek(); w == "gen" || w == "generation" {
				// netyard's incremental dump: "since gen G", G
				// from the "generation" line of an earlier one.
				a.Next()
				v, err := a.Value("since gen", "generation")
				if err != nil {
					return nil, err
				}
				g, err := strconv.ParseUint(v, 10, 64)
				if err != nil {
					return nil, badValue("actions", "since gen", v, "expected a generation (a decimal number, from the \"generation\" line of an earlier listing; 0 for all)")
				}
				c.Select.SinceGen, c.Select.HasSinceGen = g, true
				if a.More() {
					return nil, syntaxErr("actions", a.Peek(), "unexpected word (one command a line)")
				}
				return c, nil
			}
			v, err := a.Value("since", "milliseconds")
			if err != nil {
				return nil, err
			}
			ms, ok := getU32(v, 0)
			if !ok {
				return nil, badValue("actions", "since", v, "dump time \"since\" is invalid: expected milliseconds")
			}
			c.Select.Since = ms
		}
	}
	if a.More() {
		return nil, syntaxErr("actions", a.Peek(), "unexpected word (one command a line)")
	}
	return c, nil
}
