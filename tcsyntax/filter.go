package tcsyntax

import (
	"slices"
	"strconv"
	"strings"

	"netyard/cls"
	"netyard/qdisc"
	"netyard/wire"
)

// The "tc filter" grammar (tc/tc_filter.c) and the registry of
// classifiers.

// classifier is what tcsyntax knows of one classifier kind.
type classifier struct {
	name string
	// parse reads the words after the kind's name (parse_fopt): its
	// keys, flags, classid and actions. f holds what the filter words
	// before the kind set; it is scratch space, so parse returns the
	// filter to keep, a copy of f with the classifier's part, in as few
	// allocations as the kind can (a million filters are one batch).
	// handle is the filter's "handle" word, which each classifier reads
	// its own way.
	parse func(a *Args, f *cls.Filter, handle string) (*cls.Filter, error)
	// format writes f's classifier options back as tc words, kind first.
	format func(f *cls.Filter) []string
	// print writes the options after "filter ... KIND chain N " and
	// the actions (print_fopt).
	print func(w *Writer, v *FilterView, o *Options)
}

var classifiers = map[string]*classifier{}

func registerClassifier(c *classifier) { classifiers[c.name] = c }

func classifierNames() []string {
	names := make([]string, 0, len(classifiers))
	for n := range classifiers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// filterVerbs is do_filter()'s order.
var filterVerbs = []verbRule{
	{"add", VerbAdd}, {"change", VerbChange}, {"replace", VerbReplace},
	{"delete", VerbDelete}, {"get", VerbGet},
	{"list", VerbShow}, {"show", VerbShow}, {"lst", VerbShow},
}

func parseFilterCmd(a *Args) (*Command, error) {
	if !a.More() {
		return nil, syntaxErr("filter", "", "missing command; expected add, change, replace, del, get or show")
	}
	verb, err := parseVerb(a, filterVerbs)
	if err != nil {
		return nil, err
	}
	if verb == VerbShow {
		return parseFilterShow(a)
	}
	return parseFilterModify(a, verb)
}

// normalizeFilterParent maps the ingress qdisc's handle ("parent ffff:",
// and ffff:fff1 itself) to the ingress hook: on Linux those parents reach
// the same block as "ingress" on clsact, and netyard gives every device
// that one hook.
func normalizeFilterParent(p uint32) uint32 {
	if p == HandleClsact || p == qdisc.HandleIngress {
		return cls.ParentIngress
	}
	return p
}

// filterWords is what parseFilterWords reads.
type filterWords struct {
	f                                      cls.Filter
	handle                                 string
	parentSet, prioSet, protoSet, chainSet bool
	// rawParent is "parent X" as given, before normalizeFilterParent.
	rawParent uint32
}

// parseFilterWords reads the words tc_filter_modify, tc_filter_get and
// tc_filter_list share, up to the classifier's name, which it returns (""
// at the end of the words). With show, a word it does not know is an
// error instead of a classifier name.
func parseFilterWords(a *Args, fw *filterWords, show bool) (kind string, err error) {
	f := &fw.f
	setParent := func(w string, p uint32) error {
		if fw.parentSet {
			return syntaxErr(a.Context, w, "is a duplicate parent ID")
		}
		fw.parentSet, f.Parent = true, p
		return nil
	}
	for a.More() {
		w := a.Next()
		switch {
		case w == "dev":
			err = parseDev(a, &f.Dev)
		case matches(w, "block"):
			err = syntaxErr(a.Context, w, "not supported by netyard (no shared blocks)")
		case w == "root":
			err = setParent(w, qdisc.HandleRoot)
		case w == "ingress":
			err = setParent(w, cls.ParentIngress)
		case w == "egress":
			err = setParent(w, cls.ParentEgress)
		case w == "parent":
			var v string
			if v, err = a.Value(w, "a class id"); err == nil {
				var p uint32
				if p, err = ParseClassID(v); err != nil {
					err = badValue(a.Context, w, v, "invalid parent ID: expected MAJOR:MINOR (hex)")
				} else {
					fw.rawParent = p
					err = setParent(w, normalizeFilterParent(p))
				}
			}
		case w == "handle":
			var v string
			if v, err = a.Value(w, "a handle"); err == nil {
				if fw.handle != "" {
					return "", duplicate(a.Context, w, v)
				}
				fw.handle = v
			}
		case matches(w, "preference") || matches(w, "priority"):
			var v string
			if v, err = a.Value(w, "a priority"); err == nil {
				if fw.prioSet {
					return "", duplicate(a.Context, "priority", v)
				}
				p, ok := getU32(v, 0)
				if !ok || p > 0xffff {
					return "", badValue(a.Context, w, v, "invalid priority value: expected 0..65535")
				}
				f.Prio, fw.prioSet = uint16(p), true
			}
		case matches(w, "protocol"):
			var v string
			if v, err = a.Value(w, "a protocol"); err == nil {
				if fw.protoSet {
					return "", duplicate(a.Context, "protocol", v)
				}
				p, perr := ParseProtocol(v)
				if perr != nil {
					return "", badValue(a.Context, "protocol", v, "invalid protocol: expected ip, ipv6, all, arp, 802.1Q, 802.1ad or a number")
				}
				f.Protocol, fw.protoSet = p, true
			}
		case matches(w, "chain"):
			var v string
			if v, err = a.Value(w, "a chain index"); err == nil {
				if fw.chainSet {
					return "", duplicate(a.Context, "chain", v)
				}
				c, ok := getU32(v, 0)
				if !ok {
					return "", badValue(a.Context, "chain", v, "invalid chain index value")
				}
				f.Chain, fw.chainSet = c, true
			}
		case matches(w, "estimator"):
			err = syntaxErr(a.Context, w, "not supported by netyard")
		case matches(w, "help"):
			err = syntaxErr(a.Context, w, "usage: tc filter { add | change | replace | del | get | show } dev DEV { ingress | egress | root | parent X:Y } [ chain N ] [ pref N ] [ protocol P ] [ handle H ] { %s } ...; see docs/TC.md", strings.Join(classifierNames(), " | "))
		case show:
			err = unknownWord(a.Context, w, "word", []string{"dev", "root", "ingress", "egress", "parent", "handle", "pref", "protocol", "chain"})
		default:
			return w, nil
		}
		if err != nil {
			return "", err
		}
	}
	return "", nil
}

// parseFilterModify is tc_filter_modify (add, change, replace, del) and
// tc_filter_get.
func parseFilterModify(a *Args, verb Verb) (*Command, error) {
	fw := &a.fw // scratch: the filter kept is the classifier's copy
	*fw = filterWords{}
	// tc_filter_modify: a filter created without a protocol matches
	// every one (ETH_P_ALL); change and del leave it unspecified.
	if verb == VerbAdd || verb == VerbReplace {
		fw.f.Protocol = wire.EtherTypeAll
	}
	kind, err := parseFilterWords(a, fw, false)
	if err != nil {
		return nil, err
	}
	f := &fw.f
	if f.Dev == "" {
		return nil, syntaxErr(a.Context, "dev", "is required")
	}
	var c *classifier
	if kind != "" {
		if c = classifiers[kind]; c == nil {
			return nil, unknownWord(a.Context, kind, "classifier", classifierNames())
		}
		a.Context = kind
		if f, err = c.parse(a, f, fw.handle); err != nil {
			// tc_filter_modify: "if (q->parse_fopt(...)) return 1".
			return nil, optionErr(err)
		}
		if a.More() {
			return nil, syntaxErr(kind, a.Peek(), "unexpected word")
		}
	} else if fw.handle != "" {
		return nil, syntaxErr("filter", "handle", "must specify the filter type when using \"handle\"")
	} else if verb != VerbDelete {
		return nil, syntaxErr("filter", "", "missing classifier; expected one of %s", strings.Join(classifierNames(), ", "))
	} else {
		f = cloneFilter(f)
	}
	cmd := a.command()
	cmd.Object, cmd.Verb, cmd.Mode, cmd.Filter = ObjFilter, verb, modeOf(verb), f
	if verb != VerbGet {
		return cmd, nil
	}
	// tc_filter_get needs everything that names one filter.
	switch {
	case !fw.protoSet:
		return nil, syntaxErr("filter", "protocol", "must specify filter protocol")
	case f.Prio == 0:
		return nil, syntaxErr("filter", "pref", "must specify filter priority")
	case !fw.parentSet:
		return nil, syntaxErr("filter", "parent", "must specify filter parent")
	case fw.handle == "":
		return nil, syntaxErr("filter", "handle", "must specify filter \"handle\"")
	case len(f.Actions) > 0:
		return nil, syntaxErr("filter", "action", "get takes no actions")
	}
	cmd.Filter = nil
	cmd.Select = Selector{
		Dev: f.Dev, Parent: f.Parent, HasParent: true, Chain: f.Chain, HasChain: fw.chainSet,
		Prio: f.Prio, Protocol: f.Protocol, Handle: f.Handle, HasHandle: true, Kind: kind,
	}
	if fw.rawParent != 0 && fw.rawParent != f.Parent {
		cmd.Select.ShowParent = fw.rawParent
	}
	return cmd, nil
}

// cloneFilter copies the scratch filter parseFilterWords read into.
func cloneFilter(f *cls.Filter) *cls.Filter {
	c := *f
	return &c
}

// parseFilterShow is tc_filter_list.
func parseFilterShow(a *Args) (*Command, error) {
	// netyard's "since gen G" ends a listing (as for actions).
	var sinceGen uint64
	hasSinceGen := false
	if w := a.words[a.pos:]; len(w) >= 3 && w[len(w)-3] == "since" && (w[len(w)-2] == "gen" || w[len(w)-2] == "generation") {
		g, err := strconv.ParseUint(w[len(w)-1], 10, 64)
		if err != nil {
			return nil, badValue(a.Context, "since gen", w[len(w)-1], "expected a generation (a decimal number, from the \"generation\" line of an earlier listing; 0 for all)")
		}
		sinceGen, hasSinceGen = g, true
		a.words = a.words[:len(a.words)-3]
	}
	fw := &filterWords{}
	if _, err := parseFilterWords(a, fw, true); err != nil {
		return nil, err
	}
	f := &fw.f
	if f.Dev == "" {
		return nil, syntaxErr(a.Context, "dev", "is required")
	}
	sel := Selector{
		Dev: f.Dev, Parent: f.Parent, HasParent: fw.parentSet, Chain: f.Chain, HasChain: fw.chainSet,
		Prio: f.Prio, Protocol: f.Protocol,
	}
	if fw.handle != "" {
		// tc sends the handle with the dump request and the kernel
		// ignores it; so does netyard, but the value must be a number.
		h, ok := getU32(fw.handle, 0)
		if !ok {
			return nil, badValue(a.Context, "handle", fw.handle, "illegal handle")
		}
		sel.Handle = h
	}
	sel.SinceGen, sel.HasSinceGen = sinceGen, hasSinceGen
	return &Command{Object: ObjFilter, Verb: VerbShow, Select: sel}, nil
}

// formatFilter writes a filter as the words after "tc filter VERB".
func formatFilter(f *cls.Filter, verb Verb) []string {
	words := []string{"dev", f.Dev}
	if key, kw := filterParentName(f.Parent); kw {
		words = append(words, key)
	} else if f.Parent != 0 {
		words = append(words, "parent", FormatClassID(f.Parent))
	}
	if f.Chain != 0 {
		words = append(words, "chain", itoa(uint64(f.Chain)))
	}
	if f.Prio != 0 {
		words = append(words, "pref", itoa(uint64(f.Prio)))
	}
	// add and replace default to "all"; a protocol 0 must be spelled.
	if f.Protocol != 0 || verb == VerbAdd || verb == VerbReplace {
		words = append(words, "protocol", protoWord(f.Protocol))
	}
	if f.Handle != 0 {
		words = append(words, "handle", "0x"+hex32(f.Handle))
	}
	if f.Classifier != nil {
		if c := classifiers[f.Classifier.Kind()]; c != nil {
			words = append(words, c.format(f)...)
		} else {
			words = append(words, f.Classifier.Kind())
		}
	}
	return append(words, formatActions(f.Actions)...)
}

// The matchall classifier (tc/f_matchall.c): "matchall [skip_hw]
// [classid X:Y] [action ...]".

func init() {
	registerClassifier(&classifier{name: "matchall", parse: parseMatchall, format: formatMatchall, print: printMatchall})
}

func parseMatchall(a *Args, f *cls.Filter, handle string) (*cls.Filter, error) {
	f = cloneFilter(f)
	return f, parseMatchallOpts(a, f, handle)
}

func parseMatchallOpts(a *Args, f *cls.Filter, handle string) error {
	if handle != "" {
		h, ok := getU32(handle, 0)
		if !ok {
			return badValue("matchall", "handle", handle, "illegal handle, must be numeric")
		}
		f.Handle = h
	}
	f.Classifier = &cls.Matchall{}
	for a.More() {
		w := a.Next()
		switch {
		case matches(w, "classid") || w == "flowid":
			v, err := a.Value(w, "a class id")
			if err != nil {
				return err
			}
			h, err := ParseClassID(v)
			if err != nil {
				return badValue("matchall", w, v, "illegal classid: expected MAJOR:MINOR (hex)")
			}
			f.ClassID = h
		case matches(w, "action"):
			specs, err := parseActionList(a, isActionStop)
			if err != nil {
				return err
			}
			f.Actions = append(f.Actions, specs...)
		case w == "skip_hw":
			f.SkipHW = true
		case w == "skip_sw":
			// Refused when the filter is added (cls.Chains.Add), as
			// a refusal, not a syntax error.
			f.SkipSW = true
		case w == "help":
			return syntaxErr("matchall", w, "usage: matchall [ skip_hw ] [ classid CLASSID ] [ action ACTION-SPEC ]")
		default:
			return unknownWord("matchall", w, "word", []string{"classid", "flowid", "action", "skip_hw"})
		}
	}
	return nil
}

func formatMatchall(f *cls.Filter) []string {
	words := []string{"matchall"}
	if f.ClassID != 0 {
		words = append(words, "classid", FormatClassID(f.ClassID))
	}
	if f.SkipHW {
		words = append(words, "skip_hw")
	}
	if f.SkipSW {
		words = append(words, "skip_sw")
	}
	return words
}

// printMatchall is matchall_print_opt; with -s the filter's packet count
// is its "rule hit" count.
func printMatchall(w *Writer, v *FilterView, o *Options) {
	f := &v.Spec
	if f.Handle != 0 {
		w.Uint(PrintAny, "handle", "handle %#x ", uint64(f.Handle))
	}
	if f.ClassID != 0 {
		w.String(PrintAny, "flowid", "flowid %s ", FormatClassID(f.ClassID))
	}
	if f.SkipHW {
		w.Bool(PrintAny, "skip_hw", "\n  skip_hw", true)
	}
	if f.SkipSW {
		w.Bool(PrintAny, "skip_sw", "\n  skip_sw", true)
	}
	w.Bool(PrintAny, "not_in_hw", "\n  not_in_hw", true)
	if o.Stats > 0 {
		w.Uint(PrintAny, "rule_hit", " (rule hit %d)", v.Stats.Packets)
	}
	printFilterActions(w, v.Actions, o)
}
