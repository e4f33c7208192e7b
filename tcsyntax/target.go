package tcsyntax

import (
	"errors"

	"netyard/act"
	"netyard/cls"
	"netyard/qdisc"
	"netyard/stats"
)

// Mode is how an add-like command treats an existing object, as the
// netlink flags tc sends for each verb. It is the action table's and the
// filter chains' own type (act.Mode), so the datapath passes it on as it is.
type Mode = act.Mode

const (
	ModeAdd     = act.ModeAdd     // NLM_F_CREATE|NLM_F_EXCL
	ModeChange  = act.ModeChange  // no flags: the object must exist
	ModeReplace = act.ModeReplace // NLM_F_CREATE|NLM_F_REPLACE
)

// Target is what tc commands act on: the datapath, or the daemon behind a
// control socket. Implementations are safe for concurrent use.
//
// Errors name what to fix and wrap ErrNotFound or ErrExists where those
// apply, so that Exec can print them as tc would.
// FilterCopier is a Target whose AddFilter keeps nothing of the filter it
// is given, nor of anything the filter points to, once it returns (the
// datapath keeps its compiled form). A CLI running commands against one
// parses every flower filter into the same memory (Parser.ReuseFilters).
type FilterCopier interface {
	Target
	CopiesFilters()
}

type Target interface {
	AddQdisc(q *qdisc.Spec, m Mode) error
	// DelQdisc deletes the qdisc at q.Parent (and q.Handle when set).
	DelQdisc(q *qdisc.Spec) error
	// Qdiscs lists a device's qdiscs; dev "" lists every device's.
	Qdiscs(dev string) ([]QdiscView, error)

	// AddFilter adds a filter. Prio and Handle 0 ask for one; the
	// chosen ones are written back into f.
	AddFilter(f *cls.Filter, m Mode) error
	// DelFilter deletes the filters selected by f's Dev, Parent, Chain,
	// Prio, Protocol and Handle (0 meaning any, as tc's "del" does:
	// "tc filter del dev X ingress" deletes them all).
	DelFilter(f *cls.Filter) error
	// Filters lists the filters of dev at parent, in chain then prio
	// then handle order; a nil chain lists every chain. Parent 0 is what
	// "tc filter show dev X" without a parent asks for: the root qdisc's
	// filters, as in the kernel's dump (none for a classless root).
	Filters(dev string, parent uint32, chain *uint32) ([]FilterView, error)

	// AddActions adds standalone actions ("tc actions add"). Index 0
	// asks for one; the chosen ones are written back into the specs.
	AddActions(specs []act.Spec, m Mode) error
	// DelAction deletes one action; one bound to a filter cannot be.
	DelAction(kind string, index uint32) error
	// FlushActions deletes every unbound action of a kind.
	FlushActions(kind string) error
	// Actions lists the actions of a kind in index order.
	Actions(kind string) ([]ActionView, error)
	// Action returns one action ("tc actions get").
	Action(kind string, index uint32) (ActionView, error)
}

// ActionView is an action as "tc actions ls" shows it: the action table's
// own view (its Spec, Stats, Refs and Binds; Action is not printed), so
// that a dump decodes straight into what the printer reads.
type ActionView = act.View

// FilterView is a filter as "tc filter show" shows it.
type FilterView struct {
	Spec    cls.Filter
	Stats   stats.Snapshot
	Actions []ActionView
}

// QdiscView is a qdisc as "tc qdisc show" shows it.
type QdiscView struct {
	Spec  qdisc.Spec
	Stats qdisc.Stats
	// Extra holds the kind's own statistics in tc's JSON field names
	// (e.g. fq_codel's "ecn_mark"), in the order they are printed.
	Extra []Field
	// Refcnt is tc's "refcnt". 0 lets the printer use the kernel's
	// usual value: 2 for a root qdisc (the device and its one TX queue
	// hold it), 1 elsewhere, which tc does not print.
	Refcnt int
}

// ClassView is a class as "tc class show" shows it. Classes belong to
// classful qdiscs (prio, mq, mqprio, fq_codel's flows).
type ClassView struct {
	Dev string
	// Kind is the kind of the qdisc the class belongs to.
	Kind string
	// Handle is the class id (major:minor); Parent its parent class or
	// qdisc, or qdisc.HandleRoot.
	Handle, Parent uint32
	// Leaf is the handle of the qdisc attached to the class, 0 if none.
	Leaf uint32
	// Params is the kind's class configuration, printed by the kind's
	// QdiscKind.PrintClass; nil for none.
	Params any
	Stats  qdisc.Stats
	// Extra holds the class's own statistics (print_xstats), as
	// QdiscView.Extra.
	Extra []Field
}

// ClassLister is implemented by Targets that have classful qdiscs. "tc
// class show" on a Target without it shows nothing, as tc does for a
// device whose qdiscs have no classes.
type ClassLister interface {
	// Classes lists a device's classes in handle order.
	Classes(dev string) ([]ClassView, error)
}

// Clock is implemented by Targets whose statistics times (stats.Snapshot's
// Installed, FirstUsed, LastUsed) are on a clock of their own, such as the
// datapath's monotonic clock or a lab's virtual one. Run asks it for "now"
// to print "installed 5 sec"; without it Run uses the wall clock.
type Clock interface {
	// Now returns the current time in nanoseconds on the Target's clock.
	Now() int64
}

// Generations is implemented by Targets whose counters carry generations
// (stats.Snapshot.Gen): "tc actions ls ... since gen G".
type Generations interface {
	// CloseGeneration closes the current generation and returns it:
	// every change after the call is stamped with a later one.
	CloseGeneration() uint64
}

// Field is a named value.
type Field struct {
	Name  string
	Value any
}

// Errors a Target wraps so that callers can tell the kind of failure.
var (
	ErrNotFound = errors.New("no such object")
	ErrExists   = errors.New("object exists")
)

// Warning is what a Target returns when it did what it was asked but has
// something to say, as the kernel's extack warnings: a filter that closes
// a redirect cycle is installed, and the user is told. Run prints it as
// "Warning: ..." and goes on; it is not a failure.
type Warning struct {
	Msg string
}

func (w *Warning) Error() string { return w.Msg }
