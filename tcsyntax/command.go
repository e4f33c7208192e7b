package tcsyntax

import (
	"strings"

	"netyard/act"
	"netyard/cls"
	"netyard/qdisc"
)

// Object is what a tc command acts on: its first word.
type Object uint8

const (
	ObjQdisc  Object = iota + 1 // "tc qdisc"
	ObjClass                    // "tc class"
	ObjFilter                   // "tc filter" (and "tc filters")
	ObjAction                   // "tc actions" (and "tc action")
	ObjLoops                    // "tc loops": netyard's redirect cycles (show only)
	ObjLink                     // "link": netyard's device settings (rate)
	ObjDev                      // "dev": netyard's devices and their backends
	ObjNetns                    // "netns": the daemon's namespaces (netns.go)
	ObjTenant                   // "tenant": who administers which namespace (netns.go)
)

func (o Object) String() string {
	switch o {
	case ObjQdisc:
		return "qdisc"
	case ObjClass:
		return "class"
	case ObjFilter:
		return "filter"
	case ObjAction:
		return "actions"
	case ObjLoops:
		return "loops"
	case ObjLink:
		return "link"
	case ObjDev:
		return "dev"
	case ObjNetns:
		return "netns"
	case ObjTenant:
		return "tenant"
	}
	return "unknown"
}

// Verb is what a command does to its object.
type Verb uint8

const (
	VerbAdd Verb = iota + 1
	VerbChange
	VerbReplace
	VerbDelete
	VerbShow // show, list, ls
	VerbFlush
	VerbGet
)

func (v Verb) String() string {
	switch v {
	case VerbAdd:
		return "add"
	case VerbChange:
		return "change"
	case VerbReplace:
		return "replace"
	case VerbDelete:
		return "delete"
	case VerbShow:
		return "show"
	case VerbFlush:
		return "flush"
	case VerbGet:
		return "get"
	}
	return "unknown"
}

// Command is one parsed tc command line.
type Command struct {
	Object Object
	Verb   Verb
	// Mode is how add, change and replace treat an existing object, as
	// the netlink flags tc sends for the verb ("tc actions change" is a
	// replace, as in tc).
	Mode Mode

	// Qdisc is the qdisc of "tc qdisc add|change|replace|del". For del,
	// Params is nil unless a kind was named (then it must match).
	Qdisc *qdisc.Spec
	// Filter is the filter of "tc filter add|change|replace|del". For
	// change and del a zero Protocol, Prio or Handle means "any", and
	// Classifier may be nil for del.
	Filter *cls.Filter
	// Actions are the actions of "tc actions add|change|replace".
	Actions []act.Spec
	// Class is the class of "tc class add|change|replace|del".
	Class *ClassSpec

	// Select holds the selectors of show, get, del and flush.
	Select Selector
	// Link is what "link set" changes.
	Link LinkSet
	// Dev is what "dev add" adds.
	Dev *DevSpec
	// Netns is what "netns add|del|set" says, Tenant what "tenant
	// add|del" says.
	Netns  *NetnsSpec
	Tenant *TenantSpec
}

// Selector is what show, get, del and flush commands pick objects by.
type Selector struct {
	// Dev is the device; "" (qdisc and class show only) means all.
	Dev string
	// Parent is the parent given by root, ingress, egress, clsact or
	// parent X:Y; HasParent says whether one was given.
	Parent    uint32
	HasParent bool
	// ShowParent is the parent "tc filter get" was given when it names
	// the hook by another id ("parent ffff:" for ingress): tc prints the
	// one the kernel echoes, which is that one.
	ShowParent uint32
	// Chain, when HasChain, restricts a filter listing to one chain.
	Chain    uint32
	HasChain bool
	// Prio and Protocol restrict a filter listing (0: any).
	Prio     uint16
	Protocol uint16
	// Handle is a filter's handle ("tc filter get") or a class id
	// ("tc class show classid X:Y").
	Handle    uint32
	HasHandle bool
	// Kind is the classifier of "tc filter get" or the action kind of
	// "tc actions ls|flush".
	Kind string
	// Actions are the actions of "tc actions get|del action KIND index N".
	Actions []ActionID
	// Since, in milliseconds, restricts "tc actions ls" to the actions
	// used in that time, as tc's "since" (TCA_ROOT_TIME_DELTA). 0: all.
	Since uint32
	// SinceGen, when HasSinceGen ("since gen G"), restricts "tc actions
	// ls" and "tc filter show" to the objects changed after generation
	// G, and the listing ends with the generation to ask for next time.
	SinceGen    uint64
	HasSinceGen bool
}

// ActionID names one action: its kind and index.
type ActionID struct {
	Kind  string
	Index uint32
}

// Parse reads one tc command (the words after the global options:
// OBJECT VERB ...).
func Parse(args []string) (*Command, error) { return new(Parser).Parse(args) }

// Parser parses commands one after the other, as a batch does, reusing
// its scratch space. The Command it returns may be its own, valid until
// the next Parse (Exec keeps nothing of it); what the Command points to
// (the filter, qdisc, actions) is new each time and may be kept, unless
// ReuseFilters is set. The zero Parser is ready; it is not safe for
// concurrent use.
type Parser struct {
	a Args
}

// ReuseFilters makes the Parser parse every flower filter into the same
// memory, valid until the next Parse: for a caller whose Target keeps
// nothing of a filter (FilterCopier), a batch of a million filter adds
// then allocates no filter spec per line.
func (p *Parser) ReuseFilters(on bool) { p.a.reuseFilter = on }

// MayOpen sets who decides whether a file that a command names for the
// side that runs it to open (a bpf program's bytecode-file or
// object-file) may be opened there: the daemon lets its administrators
// name files, not its tenants, as a file the daemon opens is opened with
// the daemon's rights. nil allows every file.
func (p *Parser) MayOpen(f func(name string) error) { p.a.mayOpen = f }

// Parse reads one tc command, as the package function Parse.
func (p *Parser) Parse(args []string) (*Command, error) {
	if len(args) == 0 {
		return nil, syntaxErr("tc", "", "missing object; expected one of %s", strings.Join(Objects, ", "))
	}
	p.a.words, p.a.pos, p.a.Context = args[1:], 0, ""
	obj, rest := args[0], &p.a
	// The order is tc.c's do_cmd(), so abbreviations resolve as there
	// ("c" is class, "f" filter, "a" actions).
	switch {
	case matches(obj, "qdisc"):
		rest.Context = "qdisc"
		return parseQdiscCmd(rest)
	case matches(obj, "class"):
		rest.Context = "class"
		return parseClassCmd(rest)
	case matches(obj, "filter") || obj == "filters":
		rest.Context = "filter"
		return parseFilterCmd(rest)
	case matches(obj, "chain"), matches(obj, "monitor"), matches(obj, "exec"):
		return nil, syntaxErr("tc", obj, "not supported by netyard")
	case matches(obj, "actions"):
		rest.Context = "actions"
		return parseActionsCmd(rest)
	case obj == "loops":
		rest.Context = "loops"
		return parseLoopsCmd(rest)
	case obj == "link":
		rest.Context = "link"
		return parseLinkCmd(rest)
	case obj == "dev":
		rest.Context = "dev"
		return parseDevCmd(rest)
	case obj == "netns":
		rest.Context = "netns"
		return parseNetnsCmd(rest)
	case obj == "tenant":
		rest.Context = "tenant"
		return parseTenantCmd(rest)
	}
	return nil, unknownWord("tc", obj, "object", Objects)
}

// Objects are the objects Parse knows: tc's, then netyard's own (written
// out in full), for the usage and "unknown object" errors.
var Objects = []string{"qdisc", "class", "filter", "actions", "dev", "link", "loops", "netns", "tenant"}

// verbRule maps a verb keyword to a Verb; rules are tried in order with
// matches(), so each object's table is in the order of its tc source.
type verbRule struct {
	word string
	verb Verb // 0: known to tc, not supported here
}

func parseVerb(a *Args, rules []verbRule) (Verb, error) {
	w := a.Next()
	for _, r := range rules {
		if matches(w, r.word) {
			if r.verb == 0 {
				return 0, syntaxErr(a.Context, w, "not supported by netyard")
			}
			return r.verb, nil
		}
	}
	var names []string
	for _, r := range rules {
		if r.verb != 0 {
			names = append(names, r.word)
		}
	}
	if matches(w, "help") {
		return 0, syntaxErr(a.Context, w, "usage: tc %s { %s } ...; see docs/TC.md", a.Context, strings.Join(names, " | "))
	}
	return 0, unknownWord(a.Context, w, "command", names)
}

func modeOf(v Verb) Mode {
	switch v {
	case VerbAdd:
		return ModeAdd
	case VerbChange:
		return ModeChange
	case VerbReplace:
		return ModeReplace
	}
	return 0
}

// parseDev reads the value of "dev" into *dev, refusing a second one.
func parseDev(a *Args, dev *string) error {
	v, err := a.Value("dev", "a device name")
	if err != nil {
		return err
	}
	if *dev != "" {
		return duplicate(a.Context, "dev", v)
	}
	if v == "" {
		return syntaxErr(a.Context, "dev", "needs a device name")
	}
	*dev = a.name(v)
	return nil
}
