package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"

	"netyard/netdev"
	"netyard/qdisc"
	"netyard/replay"
	"netyard/tcsyntax"
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
	var in, out, capt, mon portList
	var devs nameList
	fs.StringVar(&cfg.Rules, "c", "", "tc batch `FILE` with the rules (one command a line, as tc -b reads)")
	fs.Var(&in, "in", "`DEV=FILE`: replay the capture FILE into device DEV's receive path (repeatable)")
	fs.Var(&out, "out", "`DEV=FILE`: write what device DEV transmits to the capture FILE (repeatable)")
	fs.Var(&capt, "capture", "`DEV=FILE`: write the frames 802.11 device DEV's ingress hook keeps, each with a radiotap header built for it, to the radiotap capture FILE (repeatable)")
	fs.Var(&mon, "monitor", "`DEV=FILE`: write every frame 802.11 device DEV receives, with a radiotap header, to FILE, as a monitor interface sees them (repeatable)")
	fs.Var(&devs, "dev", "create one more device `NAME` (repeatable; --in and --out devices exist anyway)")
	fs.StringVar(&cfg.Stats, "stats", "", "write per-device, per-qdisc, per-filter and per-action statistics as JSON to `FILE`")
	fs.StringVar(&cfg.ShowPath, "show", "", "write what show commands in the rules file print (qdisc show, loops show, actions ls) to `FILE` instead of stderr")
	fs.BoolVar(&cfg.AcceptTruncated, "accept-truncated", false, "a capture that ends inside a record replays up to its last whole record without failing (it is still reported)")
	quiet := fs.Bool("q", false, "print nothing but errors, warnings and what show commands print")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: netyard replay -c rules.tc --in eth0=in.pcap [--in DEV=FILE ...] --out eth1=out.pcap [--out DEV=FILE ...] [--capture DEV=FILE ...] [--monitor DEV=FILE ...] [--dev NAME ...] [--stats stats.json] [--show FILE] [--accept-truncated] [-q]")
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
	for _, n := range devs {
		if err := netdev.ValidName(n); err != nil {
			return fmt.Errorf("%w: --dev: %v", errUsage, err)
		}
	}
	for _, p := range append(append(append(in[:len(in):len(in)], out...), capt...), mon...) {
		if err := netdev.ValidName(p.Dev); err != nil {
			return fmt.Errorf("%w: %s=%s: %v", errUsage, p.Dev, p.Path, err)
		}
	}
	cfg.In, cfg.Out, cfg.Devices = in, out, devs
	cfg.Capture, cfg.Monitor = capt, mon
	cfg.Show = stderr
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sum, err := replay.Run(cfg)
	if sum != nil && !*quiet {
		printSummary(stdout, sum)
	}
	return err
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
	for _, d := range keys(s.Captured) {
		fmt.Fprintf(w, "capture %-11s %d frames kept at the hook\n", d, s.Captured[d])
	}
	for _, d := range keys(s.Monitored) {
		fmt.Fprintf(w, "monitor %-11s %d frames\n", d, s.Monitored[d])
	}
	if s.RadiotapErrors > 0 {
		fmt.Fprintf(w, "%d records were dropped: their radiotap header could not be read\n", s.RadiotapErrors)
	}
	if s.Truncated > 0 {
		fmt.Fprintf(w, "%d packets were captured shorter than they were on the wire (the snap length) and replayed as captured\n", s.Truncated)
	}
	if s.Denied > 0 {
		fmt.Fprintf(w, "%d packets could not be injected (see the warnings above)\n", s.Denied)
	}
	for _, d := range keys(s.Late) {
		fmt.Fprintf(w, "%d packets of --in %s were timestamped before the packet replayed before them and entered at its time\n", s.Late[d], d)
	}
	for _, c := range s.Cut {
		fmt.Fprintf(w, "%s\n", c)
	}
	// Every device, and every place on a packet's way where it can be
	// dropped: the receive path, the filters, the backlog, the loops,
	// each qdisc, the wire.
	names := make([]string, 0, len(s.Devices))
	for n := range s.Devices {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		d := s.Devices[n]
		fmt.Fprintf(w, "dev %s: rx %d packets (dropped %d, errors %d), tx %d packets (dropped %d); filters dropped %d at ingress, %d at egress; backlog drops %d, loop drops %d\n",
			n, d.RxPackets, d.RxDropped, d.RxErrors, d.TxPackets, d.TxDropped, d.IngressDrops, d.EgressDrops, d.BacklogDrops, d.LoopDrops)
		if d.RadiotapErrors+d.RadiotapUnknown > 0 {
			fmt.Fprintf(w, "  radiotap: %d headers unreadable (dropped), %d with fields netyard does not know (passed)\n", d.RadiotapErrors, d.RadiotapUnknown)
		}
		for _, q := range d.Qdiscs {
			parent := "root"
			if q.Parent != qdisc.HandleRoot {
				parent = "parent " + tcsyntax.FormatClassID(q.Parent)
			}
			fmt.Fprintf(w, "  qdisc %s %s %s: sent %d packets (dropped %d, overlimits %d, requeues %d), backlog %db %dp at the end\n",
				q.Kind, fmt.Sprintf("%x:", q.Handle>>16), parent, q.Packets, q.Drops, q.Overlimits, q.Requeues, q.Backlog, q.Qlen)
		}
	}
}
