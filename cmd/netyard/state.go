package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"netyard/act"
	"netyard/datapath"
	"netyard/qdisc"
	"netyard/tcsyntax"
)

// The configuration as a batch file (issue 12, "configuration that
// survives a restart"). `netyard tc save` prints it; `netyard tc -b` (or
// the daemon's -c) reads it back to the same configuration; `netyard
// daemon --state FILE` rewrites FILE after every command that may have
// changed something, before the command is acknowledged, and applies it
// on start. Counters are not saved, as the kernel keeps none across a
// reboot: a restored action or filter starts from zero.
//
// The file's order is what a restore needs: namespaces and their limits,
// tenants, then per namespace its devices, link settings, qdiscs (roots
// before what is grafted under them), standalone actions (those a "tc
// actions add" made, with their indexes), and the filters with their
// actions (an action that is also standalone is bound by its index, as
// tc's "action gact index N" binds it). Lines of a namespace other than
// the default start with "-n NAME".

// save writes the configuration of the namespaces w may see.
func (d *daemon) save(w *who, out io.Writer) error {
	var b bytes.Buffer
	line := func(netns string, words ...string) {
		if netns != datapath.DefaultNamespace && netns != "" {
			b.WriteString("-n ")
			b.WriteString(netns)
			b.WriteByte(' ')
		}
		for i, x := range words {
			if i > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(quoteWord(x))
		}
		b.WriteByte('\n')
	}
	var nss []*datapath.Namespace
	for _, ns := range d.e.Namespaces() {
		if w.may(ns.Name()) {
			nss = append(nss, ns)
		}
	}
	// The default namespace first, then the others by name.
	sort.SliceStable(nss, func(i, j int) bool {
		return nss[i].Name() == datapath.DefaultNamespace && nss[j].Name() != datapath.DefaultNamespace
	})
	for _, ns := range nss {
		q, lim := ns.Limits()
		if ns.Name() != datapath.DefaultNamespace && (w.admin || !w.known) {
			line("", "netns", "add", ns.Name())
		}
		if w.known && !w.admin {
			continue // a tenant's limits are the administrator's to set
		}
		if q != datapath.DefaultQuantum || lim != datapath.DefaultBacklogLimit {
			line("", "netns", "set", ns.Name(), "quantum", strconv.Itoa(q), "backlog", strconv.FormatInt(lim, 10))
		}
		if qs := ns.Quotas(); qs != (datapath.Quotas{}) {
			line("", "netns", "set", ns.Name(), "actions", strconv.Itoa(qs.Actions), "filters", strconv.Itoa(qs.Filters), "devices", strconv.Itoa(qs.Devices))
		}
		if m := ns.MemLimits(); m != (datapath.MemLimits{}) {
			line("", "netns", "set", ns.Name(), "mem", strconv.FormatInt(m.Min, 10), strconv.FormatInt(m.Pressure, 10), strconv.FormatInt(m.Max, 10))
		}
	}
	if w.admin || !w.known {
		d.mu.Lock()
		tenants := slices.Clone(d.tenants)
		d.mu.Unlock()
		for _, t := range tenants {
			line("", append([]string{"tenant", "add"}, tcsyntax.FormatTenant(t)...)...)
		}
	}
	for _, ns := range nss {
		d.mu.Lock()
		t := d.targets[ns.Name()]
		d.mu.Unlock()
		if t == nil {
			continue
		}
		if err := t.save(ns.Name(), line); err != nil {
			return err
		}
	}
	_, err := out.Write(b.Bytes())
	return err
}

// quoteWord quotes a word that a batch line would otherwise split (tc's
// makeargs takes '...' and "..." whole).
func quoteWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\r\n#'\"\\") {
		return s
	}
	if !strings.Contains(s, "'") {
		return "'" + s + "'"
	}
	return `"` + s + `"`
}

// save writes one namespace's devices, links, qdiscs, actions and filters.
func (t *daemonTarget) save(netns string, line func(netns string, words ...string)) error {
	t.mu.Lock()
	devs := slices.Clone(t.devs)
	t.mu.Unlock()
	var names []string
	for _, s := range devs {
		dev, err := t.Device(s.Name)
		if err != nil {
			continue
		}
		names = append(names, s.Name)
		if s.Type == "veth" {
			// One line makes both ends: the end made first says it.
			if p := dev.Netdev().Peer(); p != nil && p.Index() < dev.Netdev().Index() {
				continue
			}
		}
		line(netns, append([]string{"dev", "add"}, (&tcsyntax.Command{Object: tcsyntax.ObjDev, Verb: tcsyntax.VerbAdd, Dev: &s}).Args()[2:]...)...)
	}
	links, err := t.Links("")
	if err != nil {
		return err
	}
	for _, l := range links {
		if !slices.Contains(names, l.Dev) {
			continue
		}
		if l.Rate != 0 {
			line(netns, "link", "set", "dev", l.Dev, "rate", strconv.FormatUint(l.Rate*8, 10)+"bit")
		}
	}
	// Qdiscs in an order that reads back: the roots (and ingress/clsact)
	// first, then the classes users add (htb's; prio's, netem's and mq's
	// come with their qdisc), parents before children, then the qdiscs
	// grafted under classes, in the listing's (tree) order.
	roots := make(map[string]uint32) // a classful root's handle: its filters
	for _, dev := range names {
		qs, err := t.Qdiscs(dev)
		if err != nil {
			return err
		}
		var grafted []tcsyntax.Command
		for _, v := range qs {
			if v.Spec.Handle == 0 && v.Spec.Parent != qdisc.HandleIngress {
				continue // the default root qdisc, mq's default children
			}
			spec := v.Spec
			c := tcsyntax.Command{Object: tcsyntax.ObjQdisc, Verb: tcsyntax.VerbReplace, Mode: tcsyntax.ModeReplace, Qdisc: &spec}
			switch spec.Parent {
			case qdisc.HandleIngress:
				c.Verb, c.Mode = tcsyntax.VerbAdd, tcsyntax.ModeAdd
			case qdisc.HandleRoot:
				if d, err := t.Device(dev); err == nil {
					if h, ok := d.RootFilters(); ok {
						roots[dev] = h
					}
				}
			default:
				grafted = append(grafted, c)
				continue
			}
			line(netns, c.Args()...)
		}
		if err := t.saveClasses(dev, func(words ...string) { line(netns, words...) }); err != nil {
			return err
		}
		for _, c := range grafted {
			line(netns, c.Args()...)
		}
	}
	for _, kind := range act.Kinds {
		views, err := t.Actions(kind)
		if err != nil {
			continue
		}
		var specs []act.Spec
		for _, v := range views {
			if v.Refs > v.Binds {
				specs = append(specs, v.Spec)
			}
		}
		for _, s := range specs {
			c := tcsyntax.Command{Object: tcsyntax.ObjAction, Verb: tcsyntax.VerbAdd, Mode: tcsyntax.ModeAdd, Actions: []act.Spec{s}}
			line(netns, c.Args()...)
		}
	}
	for _, dev := range names {
		parents := []uint32{datapath.ParentIngress, datapath.ParentEgress}
		if h, ok := roots[dev]; ok {
			parents = append(parents, h) // filters of a classful root (parent 1:)
		}
		for _, parent := range parents {
			fs, err := t.Filters(dev, parent, nil)
			if err != nil {
				return err
			}
			for _, f := range fs {
				spec := f.Spec
				c := tcsyntax.Command{Object: tcsyntax.ObjFilter, Verb: tcsyntax.VerbAdd, Mode: tcsyntax.ModeAdd, Filter: &spec}
				line(netns, c.Args()...)
			}
		}
	}
	return nil
}

// run runs one request's command line; "save" prints the configuration.
// After a command that may have changed the configuration, the --state
// file is rewritten before the reply goes out, so what was acknowledged
// is on disk.
func (d *daemon) run(cli *tcsyntax.CLI, words []string, w *who) error {
	if len(words) == 1 && words[0] == "save" {
		return d.save(w, cli.Stdout)
	}
	err := cli.Run(words)
	if d.changed != nil && mayChange(words, err) {
		if serr := d.changed(); serr != nil {
			d.log.Error("state not saved", "err", serr)
			if err == nil {
				err = fmt.Errorf("applied, but the state file was not written: %w", serr)
			}
		}
	}
	return err
}

// mayChange tells a listing (show, get, ls, help) or a single command
// that failed (tc's commands change nothing when they fail) from a command
// that may have changed something; a batch may have applied lines before
// an error.
func mayChange(words []string, runErr error) bool {
	_, batch, cmd, err := tcsyntax.ParseLine(words)
	if err != nil || batch != "" || cmd == nil {
		return batch != ""
	}
	return runErr == nil && cmd.Verb != tcsyntax.VerbShow && cmd.Verb != tcsyntax.VerbGet
}

// writeState replaces path with the configuration: a temporary file in the
// same directory, fsync, rename over path, fsync of the directory. A
// crash at any point leaves the old file or the new one, never a torn one.
func (d *daemon) writeState(path string) error {
	d.stateMu.Lock()
	defer d.stateMu.Unlock()
	var b bytes.Buffer
	if err := d.save(&who{}, &b); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	df, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer df.Close()
	return df.Sync()
}

// restoreState applies the --state file, if there is one, and from then
// on keeps it current. It reports whether a file was applied.
func (d *daemon) restoreState(path string, resolve func(string) (tcsyntax.Target, error)) (bool, error) {
	data, err := os.ReadFile(path)
	restored := err == nil
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return false, fmt.Errorf("--state %s: %w", path, err)
	default:
		var errb bytes.Buffer
		cli := tcsyntax.CLI{Resolve: resolve, Stdout: io.Discard, Stderr: &errb, Stdin: bytes.NewReader(data)}
		if err := cli.Run([]string{"-b", "-"}); err != nil {
			return false, fmt.Errorf("--state %s: %s", path, bytes.TrimSpace(errb.Bytes()))
		}
	}
	d.changed = func() error { return d.writeState(path) }
	return restored, d.writeState(path)
}

// saveClasses writes the classes of dev that a user adds (those whose kind
// can print its class parameters: htb's), each after its parent.
func (t *daemonTarget) saveClasses(dev string, line func(words ...string)) error {
	cs, err := t.Classes(dev)
	if err != nil {
		return err
	}
	var user []tcsyntax.ClassView
	for _, c := range cs {
		if c.Params != nil && tcsyntax.ClassKindSaved(c.Kind) {
			user = append(user, c)
		}
	}
	done := make(map[uint32]bool, len(user))
	for len(done) < len(user) {
		progress := false
		for _, c := range user {
			if done[c.Handle] {
				continue
			}
			if c.Parent&0xffff != 0 && !done[c.Parent] && slices.ContainsFunc(user, func(p tcsyntax.ClassView) bool { return p.Handle == c.Parent }) {
				continue // its parent class first
			}
			spec := tcsyntax.ClassSpec{Dev: c.Dev, Parent: c.Parent, Handle: c.Handle, Kind: c.Kind, Params: c.Params}
			cmd := tcsyntax.Command{Object: tcsyntax.ObjClass, Verb: tcsyntax.VerbAdd, Mode: tcsyntax.ModeAdd, Class: &spec}
			line(cmd.Args()...)
			done[c.Handle], progress = true, true
		}
		if !progress {
			return fmt.Errorf("save: dev %s: classes whose parents form a cycle", dev)
		}
	}
	return nil
}
