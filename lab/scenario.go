package lab

import (
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
)

// Scenario is one built-in experiment.
type Scenario struct {
	Name        string
	Description string
	Run         func(log *slog.Logger) (*Report, error)
}

// Report is what a scenario measured: tables for people, and one JSON
// value for machines.
type Report struct {
	Scenario string         `json:"scenario"`
	Summary  string         `json:"summary"`
	Tables   []Table        `json:"-"`
	Data     map[string]any `json:"data"`
}

// Table is a titled grid of text.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
}

var scenarios = map[string]Scenario{}

func register(s Scenario) { scenarios[s.Name] = s }

// Scenarios lists the built-in scenarios by name.
func Scenarios() []Scenario {
	out := make([]Scenario, 0, len(scenarios))
	for _, s := range scenarios {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the scenario called name.
func Lookup(name string) (Scenario, error) {
	s, ok := scenarios[name]
	if !ok {
		var names []string
		for _, s := range Scenarios() {
			names = append(names, s.Name)
		}
		return Scenario{}, fmt.Errorf("no scenario %q; there are: %s", name, strings.Join(names, ", "))
	}
	return s, nil
}

// Print writes r's tables.
func (r *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "== %s: %s\n", r.Scenario, r.Summary)
	for _, t := range r.Tables {
		fmt.Fprintf(w, "\n%s\n", t.Title)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(t.Header, "\t"))
		for _, row := range t.Rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
}

// flowTable renders flow results.
func flowTable(title string, flows []*Flow) (Table, []FlowResult) {
	t := Table{Title: title, Header: []string{"flow", "sent", "received", "loss", "delay p50", "delay p99", "max"}}
	var rs []FlowResult
	for _, f := range flows {
		r := f.Result()
		rs = append(rs, r)
		got := r.Received
		kind := "one-way"
		if r.RoundTrip {
			got = r.Replies
			kind = "rtt"
		}
		t.Rows = append(t.Rows, []string{r.Name, fmt.Sprint(r.Sent), fmt.Sprint(got),
			fmt.Sprintf("%.2f%%", r.LossPct),
			fmt.Sprintf("%.0fµs %s", r.DelayP50us, kind), fmt.Sprintf("%.0fµs", r.DelayP99us), fmt.Sprintf("%.0fµs", r.DelayMaxus)})
	}
	return t, rs
}
