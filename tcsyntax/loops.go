package tcsyntax

import (
	"fmt"
	"io"
	"strings"
)

// "tc loops show" is netyard's own object: it lists the redirect cycles of
// the current configuration, the loops that unconditional mirred actions
// (in matchall filters, or flower filters without keys) close between
// device hooks, joined by in-memory pairs where a device transmits into
// another. The kernel has no such listing; netyard prints the same cycles
// as a warning when a filter closes one (docs/LOOPS.md).

// Hook is one side of a device in a cycle.
type Hook struct {
	Dev string
	// Ingress is the receive hook; otherwise the transmit (egress) hook.
	Ingress bool
}

func (h Hook) String() string {
	if h.Ingress {
		return h.Dev + " ingress"
	}
	return h.Dev + " egress"
}

// CycleLister is a Target that can list its redirect cycles.
type CycleLister interface {
	// RedirectCycles lists each elementary cycle once, starting at its
	// first hook in device order.
	RedirectCycles() [][]Hook
}

// FormatCycle writes a cycle as "eth0 ingress -> eth1 ingress -> eth0
// ingress".
func FormatCycle(c []Hook) string {
	parts := make([]string, 0, len(c)+1)
	for _, h := range c {
		parts = append(parts, h.String())
	}
	if len(c) > 0 {
		parts = append(parts, c[0].String())
	}
	return strings.Join(parts, " -> ")
}

func parseLoopsCmd(a *Args) (*Command, error) {
	verb, err := parseVerb(a, []verbRule{{"show", VerbShow}, {"list", VerbShow}, {"ls", VerbShow}})
	if err != nil {
		return nil, err
	}
	if a.More() {
		return nil, syntaxErr("loops", a.Peek(), "loops show takes no arguments")
	}
	return &Command{Object: ObjLoops, Verb: verb}, nil
}

func execLoops(t Target, opts Options, out io.Writer) error {
	cl, ok := t.(CycleLister)
	if !ok {
		return fmt.Errorf("this target cannot list redirect cycles")
	}
	p := &Printer{opts}
	w := p.writer()
	for i, c := range cl.RedirectCycles() {
		w.Open("")
		w.Uint(PrintText, "", "cycle %d: ", uint64(i+1))
		w.Text(FormatCycle(c))
		w.OpenArray("cycle")
		for _, h := range c {
			w.Open("")
			w.String(PrintJSON, "dev", "", h.Dev)
			hook := "egress"
			if h.Ingress {
				hook = "ingress"
			}
			w.String(PrintJSON, "hook", "", hook)
			w.Close()
		}
		w.CloseArray()
		w.Close()
		w.NL()
	}
	return p.flush(w, out)
}
