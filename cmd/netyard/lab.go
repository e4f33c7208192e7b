package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"netyard/lab"
)

func cmdLab(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lab", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print one JSON document instead of tables")
	list := fs.Bool("list", false, "list the scenarios and exit")
	verbose := fs.Bool("v", false, "log datapath warnings to stderr")
	reportDir := fs.String("report", "", "also write an HTML report to `DIR` (DIR/index.html and a page per scenario, with plots; opens offline)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netyard lab [--json] [--list] [-v] [--report DIR] [SCENARIO...]\n\nRuns the built-in scenarios (all of them by default) in virtual time.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *list {
		for _, s := range lab.Scenarios() {
			fmt.Fprintf(stdout, "%-12s %s\n", s.Name, s.Description)
		}
		return nil
	}
	var run []lab.Scenario
	if fs.NArg() == 0 {
		run = lab.Scenarios()
	}
	for _, name := range fs.Args() {
		s, err := lab.Lookup(name)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		run = append(run, s)
	}
	var log *slog.Logger
	if *verbose {
		log = slog.New(slog.NewTextHandler(stderr, nil))
	}
	var reports []*lab.Report
	for _, s := range run {
		r, err := s.Run(log)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", s.Name, err)
		}
		if !*asJSON {
			r.Print(stdout)
		}
		reports = append(reports, r)
	}
	if *reportDir != "" {
		if err := lab.WriteHTML(*reportDir, reports); err != nil {
			return err
		}
		fmt.Fprintf(stderr, "report: %s\n", filepath.Join(*reportDir, "index.html"))
	}
	if *asJSON {
		doc := map[string]any{}
		for _, r := range reports {
			doc[r.Scenario] = r
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(map[string]any{"scenarios": doc})
	}
	return nil
}
