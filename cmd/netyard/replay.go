package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"netyard/replay"
)

// portList is a repeatable DEV=FILE flag.
type portList []replay.Port

func (l *portList) String() string { return fmt.Sprint(*l) }
func (l *portList) Set(s string) error {
	p, err := replay.ParsePort(s)
	if err != nil {
		return err
	}
	*l = append(*l, p)
	return nil
}

// nameList is a repeatable NAME flag.
type nameList []string

func (l *nameList) String() string     { return fmt.Sprint(*l) }
func (l *nameList) Set(s string) error { *l = append(*l, s); return nil }

func cmdReplay(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg replay.Config
	var in, out portList
	var devs nameList
	fs.StringVar(&cfg.Rules, "c", "", "tc batch `FILE` with the rules (one command a line, as tc -b reads)")
	fs.Var(&in, "in", "`DEV=FILE`: replay the capture FILE into device DEV's receive path (repeatable)")
	fs.Var(&out, "out", "`DEV=FILE`: write what device DEV transmits to the capture FILE (repeatable)")
	fs.Var(&devs, "dev", "create one more device `NAME` (repeatable; --in and --out devices exist anyway)")
	fs.StringVar(&cfg.Stats, "stats", "", "write per-filter and per-action statistics as JSON to `FILE`")
	quiet := fs.Bool("q", false, "print nothing but errors")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netyard replay -c rules.tc --in eth0=in.pcap [--in DEV=FILE ...] --out eth1=out.pcap [--out DEV=FILE ...] [--stats stats.json]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if len(in) == 0 {
		return fmt.Errorf("%w: give at least one --in DEV=FILE", errUsage)
	}
	cfg.In, cfg.Out, cfg.Devices = in, out, devs
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sum, err := replay.Run(cfg)
	if err != nil {
		return err
	}
	if !*quiet {
		printSummary(stdout, sum)
	}
	return nil
}

func printSummary(w io.Writer, s *replay.Summary) {
	keys := func(m map[string]int) []string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return k
	}
	for _, d := range keys(s.Injected) {
		fmt.Fprintf(w, "in  %-15s %d packets\n", d, s.Injected[d])
	}
	for _, d := range keys(s.Written) {
		fmt.Fprintf(w, "out %-15s %d packets\n", d, s.Written[d])
	}
	if s.Truncated > 0 {
		fmt.Fprintf(w, "%d packets were cut short in the capture and replayed as captured\n", s.Truncated)
	}
	if s.Denied > 0 {
		fmt.Fprintf(w, "%d packets could not be injected (see the warnings above)\n", s.Denied)
	}
}
