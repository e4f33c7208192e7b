package tcsyntax

import (
	"fmt"
	"slices"
	"strings"

	"netyard/qdisc"
)

// The "tc qdisc" and "tc class" grammars (tc/tc_qdisc.c, tc/tc_class.c)
// and the registry of qdisc kinds.

// QdiscKind is what tcsyntax knows of one qdisc kind: how to read its
// parameters and how to print them back, as the kind's q_*.c file in
// iproute2 does. Kinds register themselves with RegisterQdisc from an
// init function, one file per kind (q_fifo.go, ...).
type QdiscKind struct {
	// Name is tc's name of the kind ("pfifo").
	Name string
	// Parse reads the kind's parameters: the words after its name, up to
	// the end of the command (iproute2's parse_qopt). It must consume
	// every word it accepts and return an error naming the first it does
	// not. dev is the device the qdisc is for, "" if not given.
	Parse func(a *Args, dev string) (qdisc.Params, error)
	// Print writes the parameters after "qdisc KIND HANDLE: ... " (the
	// JSON "options" object), as print_qopt.
	Print func(w *Writer, p qdisc.Params)
	// PrintOpts, when not nil, is used instead of Print, for kinds whose
	// output depends on tc's options (tbf: -d adds cell sizes and the
	// link layer, -iec changes the rate units).
	PrintOpts func(w *Writer, p qdisc.Params, o *Options)
	// Format writes the parameters back as the words Parse reads, for
	// Command.Args. Nil for kinds without parameters.
	Format func(p qdisc.Params) []string
	// PrintXstats writes the kind's own statistics (QdiscView.Extra) with
	// -s, as print_xstats. Nil prints them as "  name value" pairs on
	// one line, and as top-level JSON fields.
	PrintXstats func(w *Writer, extra []Field)
	// PrintClass writes a class's parameters (print_copt), for classful
	// kinds.
	PrintClass func(w *Writer, c *ClassView)
	// ParseClass reads a class's parameters ("tc class add ... KIND
	// ..."), for kinds whose classes are made by hand (htb).
	ParseClass func(a *Args, dev string) (any, error)
	// FormatClass writes a class's parameters back as the words
	// ParseClass reads.
	FormatClass func(p any) []string
	// PrintClassOpts, when not nil, is used instead of PrintClass, for
	// kinds whose class output depends on tc's options (-d).
	PrintClassOpts func(w *Writer, c *ClassView, o *Options)
	// ClassQueueStatsOnly is set for kinds whose classes have queue
	// counters only (fq_codel_dump_class_stats copies no basic stats),
	// so that -s prints no "Sent ... pkt" for them, as tc does.
	ClassQueueStatsOnly bool
	// Parent, when not 0, is where the kind always sits: "tc qdisc add
	// dev X clsact" means parent ffff:fff1, and any other parent is an
	// error. Handle is then its fixed handle.
	Parent, Handle uint32
}

var qdiscKinds = map[string]*QdiscKind{}

// RegisterQdisc makes a qdisc kind known to the parser and the printer.
// It panics when the kind is malformed or registered twice, as that is a
// programming error found at start-up.
func RegisterQdisc(k QdiscKind) {
	if k.Name == "" || k.Parse == nil || k.Print == nil {
		panic("tcsyntax: RegisterQdisc: kind needs Name, Parse and Print")
	}
	if _, dup := qdiscKinds[k.Name]; dup {
		panic("tcsyntax: qdisc kind " + k.Name + " registered twice")
	}
	qdiscKinds[k.Name] = &k
}

func qdiscKindNames() []string {
	names := make([]string, 0, len(qdiscKinds))
	for n := range qdiscKinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// qdiscVerbs is do_qdisc()'s order: "l" is link, "ls" reaches "lst".
var qdiscVerbs = []verbRule{
	{"add", VerbAdd}, {"change", VerbChange}, {"replace", VerbReplace},
	{"link", 0}, {"delete", VerbDelete},
	{"list", VerbShow}, {"show", VerbShow}, {"lst", VerbShow},
}

func parseQdiscCmd(a *Args) (*Command, error) {
	if !a.More() {
		return &Command{Object: ObjQdisc, Verb: VerbShow}, nil
	}
	verb, err := parseVerb(a, qdiscVerbs)
	if err != nil {
		return nil, err
	}
	if verb == VerbShow {
		return parseQdiscShow(a)
	}
	return parseQdiscModify(a, verb)
}

// parseQdiscModify is tc_qdisc_modify(): dev, handle and the parent in
// any order, then the kind and its parameters.
func parseQdiscModify(a *Args, verb Verb) (*Command, error) {
	q := &qdisc.Spec{}
	var kind *QdiscKind
	parentSet, handleSet := false, false
	setParent := func(w string, p uint32) error {
		if parentSet {
			return syntaxErr(a.Context, w, "is a duplicate parent ID")
		}
		parentSet, q.Parent = true, p
		return nil
	}
loop:
	for a.More() {
		w := a.Next()
		switch {
		case w == "dev":
			if err := parseDev(a, &q.Dev); err != nil {
				return nil, err
			}
		case w == "handle":
			v, err := a.Value(w, "a handle (MAJOR:)")
			if err != nil {
				return nil, err
			}
			if handleSet {
				return nil, duplicate(a.Context, w, v)
			}
			h, err := ParseQdiscHandle(v)
			if err != nil {
				return nil, badValue(a.Context, w, v, "invalid qdisc ID: expected MAJOR: (hex)")
			}
			q.Handle, handleSet = h, true
		case w == "root":
			if err := setParent(w, qdisc.HandleRoot); err != nil {
				return nil, err
			}
		case w == "clsact" || w == "ingress":
			// As in tc, these name the parent and the kind at once;
			// what follows belongs to the kind.
			if err := setParent(w, qdisc.HandleIngress); err != nil {
				return nil, err
			}
			kind = qdiscKinds[w]
			q.Handle = HandleClsact
			break loop
		case w == "parent":
			v, err := a.Value(w, "a class id")
			if err != nil {
				return nil, err
			}
			if parentSet {
				return nil, duplicate(a.Context, w, v)
			}
			p, err := ParseClassID(v)
			if err != nil {
				return nil, badValue(a.Context, w, v, "invalid parent ID: expected MAJOR:MINOR (hex)")
			}
			parentSet, q.Parent = true, p
		case matches(w, "estimator"), matches(w, "stab"),
			matches(w, "ingress_block"), matches(w, "egress_block"):
			return nil, syntaxErr(a.Context, w, "not supported by netyard")
		case matches(w, "help"):
			return nil, syntaxErr(a.Context, w, "usage: tc qdisc { add | change | replace | del } dev DEV { root | ingress | clsact | parent X:Y } [ handle X: ] KIND [ OPTIONS ]; kinds: %s", strings.Join(qdiscKindNames(), ", "))
		default:
			kind = qdiscKinds[w]
			if kind == nil {
				return nil, unknownWord(a.Context, w, "qdisc kind", qdiscKindNames())
			}
			break loop
		}
	}
	if q.Dev == "" {
		return nil, syntaxErr(a.Context, "dev", "is required")
	}
	if kind != nil {
		if kind.Parent != 0 {
			if parentSet && q.Parent != kind.Parent {
				return nil, syntaxErr(a.Context, kind.Name, "can only be the %s qdisc (parent %s), not parent %s",
					kind.Name, FormatClassID(kind.Parent), FormatClassID(q.Parent))
			}
			parentSet, q.Parent, q.Handle = true, kind.Parent, kind.Handle
		}
		a.Context = kind.Name
		p, err := kind.Parse(a, q.Dev)
		if err != nil {
			// tc_qdisc_modify: "if (q->parse_qopt(...)) return 1".
			return nil, optionErr(err)
		}
		if a.More() {
			return nil, syntaxErr(kind.Name, a.Peek(), "unexpected word after the %s parameters", kind.Name)
		}
		q.Params = p
	} else if verb != VerbDelete {
		return nil, syntaxErr("qdisc", "", "missing qdisc kind; expected one of %s", strings.Join(qdiscKindNames(), ", "))
	}
	if !parentSet {
		return nil, syntaxErr("qdisc", "", "missing parent; expected root, ingress, clsact or parent X:Y")
	}
	return &Command{Object: ObjQdisc, Verb: verb, Mode: modeOf(verb), Qdisc: q}, nil
}

// parseQdiscShow is tc_qdisc_list(): "tc qdisc show [dev D] [ingress |
// clsact] [invisible]".
func parseQdiscShow(a *Args) (*Command, error) {
	c := &Command{Object: ObjQdisc, Verb: VerbShow}
	for a.More() {
		w := a.Next()
		switch {
		case w == "dev":
			if err := parseDev(a, &c.Select.Dev); err != nil {
				return nil, err
			}
		case w == "ingress" || w == "clsact":
			if c.Select.HasParent {
				return nil, syntaxErr(a.Context, w, "duplicate parent ID")
			}
			c.Select.Parent, c.Select.HasParent = qdisc.HandleIngress, true
		case w == "invisible":
			// netyard has no invisible (default, unconfigured)
			// qdiscs to reveal.
		default:
			return nil, unknownWord(a.Context, w, "word", []string{"dev", "ingress", "clsact", "invisible"})
		}
	}
	return c, nil
}

// classVerbs is do_class()'s order.
var classVerbs = []verbRule{
	{"add", VerbAdd}, {"change", VerbChange}, {"replace", VerbReplace}, {"delete", VerbDelete},
	{"list", VerbShow}, {"show", VerbShow}, {"lst", VerbShow},
}

// ClassSpec is a class of "tc class add|change|replace|del": its device,
// its id (classid X:Y), its parent (a class, the qdisc's handle, or
// qdisc.HandleRoot for "root") and the kind's parameters (nil for del).
type ClassSpec struct {
	Dev            string
	Handle, Parent uint32
	Kind           string
	Params         any
}

// ClassModifier is implemented by Targets whose classful qdiscs have
// classes made by hand (htb). Warnings come back as *Warning.
type ClassModifier interface {
	AddClass(c *ClassSpec, m Mode) error
	DelClass(c *ClassSpec) error
}

// parseClassCmd reads "tc class show dev D [root | parent X:Y] [classid
// X:Y]" (tc_class_list) and "tc class add|change|replace|del dev D
// [parent X:Y | root] classid X:Y [KIND [OPTIONS]]" (tc_class_modify).
func parseClassCmd(a *Args) (*Command, error) {
	c := &Command{Object: ObjClass, Verb: VerbShow}
	if a.More() {
		v, err := parseVerb(a, classVerbs)
		if err != nil {
			return nil, err
		}
		if v != VerbShow {
			return parseClassModify(a, v)
		}
	}
	for a.More() {
		w := a.Next()
		switch {
		case w == "dev":
			if err := parseDev(a, &c.Select.Dev); err != nil {
				return nil, err
			}
		case w == "root" || w == "parent":
			if c.Select.HasParent {
				return nil, syntaxErr(a.Context, w, "duplicate parent ID")
			}
			c.Select.Parent, c.Select.HasParent = qdisc.HandleRoot, true
			if w == "parent" {
				v, err := a.Value(w, "a class id")
				if err != nil {
					return nil, err
				}
				p, err := ParseClassID(v)
				if err != nil {
					return nil, badValue(a.Context, w, v, "invalid parent ID: expected MAJOR:MINOR (hex)")
				}
				c.Select.Parent = p
			}
		case w == "classid":
			v, err := a.Value(w, "a class id")
			if err != nil {
				return nil, err
			}
			h, err := ParseClassID(v)
			if err != nil {
				return nil, badValue(a.Context, w, v, "invalid class ID: expected MAJOR:MINOR (hex)")
			}
			c.Select.Handle, c.Select.HasHandle = h, true
		default:
			return nil, unknownWord(a.Context, w, "word", []string{"dev", "root", "parent", "classid"})
		}
	}
	if c.Select.Dev == "" {
		return nil, syntaxErr(a.Context, "dev", "is required")
	}
	return c, nil
}

// parseClassModify is tc_class_modify.
func parseClassModify(a *Args, verb Verb) (*Command, error) {
	cs := &ClassSpec{}
	parentSet, idSet := false, false
	var kind *QdiscKind
loop:
	for a.More() {
		w := a.Next()
		switch {
		case w == "dev":
			if err := parseDev(a, &cs.Dev); err != nil {
				return nil, err
			}
		case w == "classid":
			v, err := a.Value(w, "a class id")
			if err != nil {
				return nil, err
			}
			if idSet {
				return nil, duplicate(a.Context, w, v)
			}
			h, err := ParseClassID(v)
			if err != nil {
				return nil, badValue(a.Context, w, v, "invalid class ID")
			}
			cs.Handle, idSet = h, true
		case w == "handle":
			return nil, syntaxErr(a.Context, w, "Error: try \"classid\" instead of \"handle\"")
		case w == "root":
			if parentSet {
				return nil, syntaxErr(a.Context, w, "Error: \"root\" is duplicate parent ID.")
			}
			cs.Parent, parentSet = qdisc.HandleRoot, true
		case w == "parent":
			v, err := a.Value(w, "a class id")
			if err != nil {
				return nil, err
			}
			if parentSet {
				return nil, duplicate(a.Context, w, v)
			}
			h, err := ParseClassID(v)
			if err != nil {
				return nil, badValue(a.Context, w, v, "invalid parent ID")
			}
			cs.Parent, parentSet = h, true
		case matches(w, "estimator"):
			return nil, syntaxErr(a.Context, w, "not supported by netyard")
		case matches(w, "help"):
			return nil, syntaxErr(a.Context, w, "usage: tc class [ add | del | change | replace | show ] dev STRING [ classid CLASSID ] [ root | parent CLASSID ] [ [ QDISC_KIND ] [ help | OPTIONS ] ]")
		default:
			kind = qdiscKinds[w]
			if kind == nil {
				return nil, unknownWord(a.Context, w, "qdisc kind", qdiscKindNames())
			}
			break loop
		}
	}
	if cs.Dev == "" {
		return nil, syntaxErr(a.Context, "dev", "is required")
	}
	if kind != nil {
		cs.Kind = kind.Name
		if kind.ParseClass == nil {
			if verb != VerbDelete || a.More() {
				return nil, syntaxErr(kind.Name, "", "qdisc '%s' does not support option parsing", kind.Name)
			}
		} else if verb != VerbDelete || a.More() {
			a.Context = kind.Name
			p, err := kind.ParseClass(a, cs.Dev)
			if err != nil {
				return nil, err
			}
			cs.Params = p
		}
	} else if verb != VerbDelete {
		return nil, syntaxErr("class", "", "missing qdisc kind")
	}
	return &Command{Object: ObjClass, Verb: verb, Mode: modeOf(verb), Class: cs}, nil
}

// noParams is the Parse of kinds without parameters (clsact, ingress).
// tc's q_ingress.c accepts and ignores "handle X" after the kind.
func noParams(p qdisc.Params) func(a *Args, dev string) (qdisc.Params, error) {
	return func(a *Args, dev string) (qdisc.Params, error) {
		for a.More() {
			w := a.Next()
			if w != "handle" {
				return nil, syntaxErr(a.Context, w, "unknown word; %s takes no parameters", p.Kind())
			}
			v, err := a.Value(w, "a handle")
			if err != nil {
				return nil, err
			}
			if h, err := ParseQdiscHandle(v); err != nil || h != HandleClsact {
				return nil, badValue(a.Context, w, v, fmt.Sprintf("the %s qdisc's handle is ffff:", p.Kind()))
			}
		}
		return p, nil
	}
}

// ClassKindSaved reports whether classes of kind are made by hand ("class
// add", htb's) and so belong in a saved configuration; the classes of
// prio, netem and mq come with their qdisc.
func ClassKindSaved(kind string) bool {
	k := qdiscKinds[kind]
	return k != nil && k.FormatClass != nil
}
