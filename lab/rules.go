package lab

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"netyard/act"
	"netyard/datapath"
	"netyard/tcsyntax"
)

// Apply runs tc commands (one a line, as in a batch file) against the
// simulation's namespace.
func (s *Sim) Apply(rules string) error { return s.ApplyNS(s.NS, rules) }

// ApplyNS runs tc commands against namespace ns. Warnings (a filter that
// closes a redirect cycle) are not errors.
func (s *Sim) ApplyNS(ns *datapath.Namespace, rules string) error {
	for i, line := range strings.Split(rules, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var stderr strings.Builder
		if err := tcsyntax.Run(ns, strings.Fields(line), io.Discard, &stderr); err != nil {
			return fmt.Errorf("rules line %d: %q: %w", i+1, line, err)
		}
	}
	return nil
}

// Err reports what went wrong while the simulation ran (a generator that
// could not send, say).
func (s *Sim) Err() error { return errors.Join(s.errs...) }

// actionTable lists every action of the namespace with its counters.
func actionTable(s *Sim) (Table, []map[string]any, error) {
	t := Table{Title: "actions", Header: []string{"action", "index", "packets", "bytes", "drops", "overlimits"}}
	var data []map[string]any
	for _, kind := range []string{"gact", "mirred", "vlan", "skbedit", "police", "bpf"} {
		as, err := s.NS.Actions(kind)
		if err != nil {
			return t, nil, err
		}
		sort.Slice(as, func(i, j int) bool { return as[i].Spec.Common().Index < as[j].Spec.Common().Index })
		for _, a := range as {
			idx := a.Spec.Common().Index
			st := a.Stats
			t.Rows = append(t.Rows, []string{describeAction(a), fmt.Sprint(idx), fmt.Sprint(st.Packets), fmt.Sprint(st.Bytes),
				fmt.Sprint(st.Drops), fmt.Sprint(st.Overlimits)})
			data = append(data, map[string]any{"kind": kind, "index": idx, "packets": st.Packets, "bytes": st.Bytes,
				"drops": st.Drops, "overlimits": st.Overlimits})
		}
	}
	return t, data, nil
}

// describeAction is a one-line name for an action in lab tables.
func describeAction(a tcsyntax.ActionView) string {
	switch sp := a.Spec.(type) {
	case *act.Mirred:
		dir, how := "egress", "redirect"
		if sp.Ingress {
			dir = "ingress"
		}
		if sp.Mirror {
			how = "mirror"
		}
		return fmt.Sprintf("mirred %s %s dev %s", dir, how, sp.Dev)
	case *act.Gact:
		return "gact " + sp.C.Control.String()
	case *act.Vlan:
		return "vlan " + sp.Op.String()
	}
	return a.Spec.Kind()
}
