// Package replay runs a tc batch file over real captures: packets enter
// devices' receive paths at their capture timestamps (virtual time), go
// through the configured ingress and egress processing, and every frame a
// device transmits is written to that device's output capture with its
// departure time. It is what `netyard replay` runs.
package replay

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"netyard/bpf/bpftool"
	"netyard/bpf/ebpf"
	"netyard/datapath"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/tcsyntax"
	"netyard/wifi/radiotap"

	"github.com/gopacket/gopacket/layers"
)

// Port binds a device to a capture file.
type Port struct {
	Dev  string
	Path string
}

// ParsePort reads "DEV=FILE".
func ParsePort(s string) (Port, error) {
	dev, path, ok := strings.Cut(s, "=")
	if !ok || dev == "" || path == "" {
		return Port{}, fmt.Errorf("%q: expected DEV=FILE", s)
	}
	return Port{Dev: dev, Path: path}, nil
}

// Config is one replay run.
type Config struct {
	// Rules is the path of a tc batch file ("" for none: nothing is
	// forwarded, as on a device with no rules).
	Rules string
	In    []Port
	Out   []Port
	// Capture writes the frames an 802.11 device's ingress hook keeps,
	// each with a radiotap header built for it, to a radiotap capture
	// (link type 127); Monitor writes every frame the device receives,
	// as a monitor interface sees them (docs/WIFI.md).
	Capture []Port
	Monitor []Port
	// Devices are more devices to create, beyond those In and Out name.
	Devices []string
	// Stats is the path of a JSON statistics file to write ("" for none).
	Stats string
	// Show receives what show commands in the rules file print
	// (qdisc show, loops show, actions ls...), where they stand in the
	// file, before the first packet; nil discards it. ShowPath, when
	// set, is a file created for it instead (and removed if the run
	// fails).
	Show     io.Writer
	ShowPath string
	// AcceptTruncated lets a capture that ends inside a record (a killed
	// tcpdump) replay up to its last whole record without failing the
	// run; it is still reported in Summary.Cut and logged.
	AcceptTruncated bool
	Logger          *slog.Logger
	// Pool is the buffer pool (nil: a default one). Tests pass a
	// leak-checking pool.
	Pool *pkt.Pool
}

// Summary is what a run did.
type Summary struct {
	Injected  map[string]int // packets injected per --in device
	Written   map[string]int // packets written per --out device
	Captured  map[string]int // frames written per --capture device (kept at the hook)
	Monitored map[string]int // frames written per --monitor device
	// RadiotapErrors counts records dropped because their radiotap
	// header could not be read (also in their device's RxErrors).
	RadiotapErrors int
	Truncated      int // injected packets that the capture had cut short (snaplen)
	Denied         int // packets that could not be injected (memory limit, too large)
	// Late counts, per --in device, packets timestamped before the
	// packet replayed before them: they enter at that earlier packet's
	// time (virtual time does not go back).
	Late map[string]int
	// Cut lists the captures that end inside a record.
	Cut []Cut
	// Devices are every device's counters and queues at the end.
	Devices map[string]DeviceSummary
}

// Cut is a capture that ends inside a record: its Records whole records
// were replayed, and the incomplete one starts at byte Offset of a file of
// Size bytes.
type Cut struct {
	Dev, Path    string
	Records      int
	Offset, Size int64
	Compressed   bool // Offset counts the gzip file's bytes, roughly
}

func (c Cut) String() string {
	gz := ""
	if c.Compressed {
		gz = " (compressed; offsets are approximate)"
	}
	return fmt.Sprintf("%s (--in %s) is cut short: %d whole records replayed; record %d starts at byte %d and the file ends at byte %d%s",
		c.Path, c.Dev, c.Records, c.Records+1, c.Offset, c.Size, gz)
}

// ErrTruncated is returned (wrapped, with the Summary) when a capture is
// cut short and Config.AcceptTruncated is not set: what could be read was
// replayed and the outputs were written.
var ErrTruncated = errors.New("a capture is cut short")

// DeviceSummary is a device at the end of the run: its counters, and
// each of its qdiscs with tc's statistics (backlog and qlen are what was
// still queued at the end).
type DeviceSummary struct {
	datapath.Counters
	Qdiscs []QdiscSummary
}

// QdiscSummary is one qdisc of a device.
type QdiscSummary struct {
	Kind   string
	Handle uint32
	Parent uint32
	qdisc.Stats
}

// checkFiles refuses, before anything runs, outputs that would collide:
// one device twice, two outputs (captures, statistics, shows) in one
// file, an output that is an input.
func checkFiles(cfg Config) error {
	type out struct{ what, path string }
	var outs []out
	for _, p := range cfg.Out {
		outs = append(outs, out{"--out " + p.Dev + "=" + p.Path, p.Path})
	}
	for _, p := range cfg.Capture {
		outs = append(outs, out{"--capture " + p.Dev + "=" + p.Path, p.Path})
	}
	for _, p := range cfg.Monitor {
		outs = append(outs, out{"--monitor " + p.Dev + "=" + p.Path, p.Path})
	}
	if cfg.Stats != "" {
		outs = append(outs, out{"--stats " + cfg.Stats, cfg.Stats})
	}
	if cfg.ShowPath != "" {
		outs = append(outs, out{"--show " + cfg.ShowPath, cfg.ShowPath})
	}
	for i, p := range cfg.Out {
		for _, q := range cfg.Out[:i] {
			if q.Dev == p.Dev {
				return fmt.Errorf("replay: --out %s given twice", p.Dev)
			}
		}
	}
	for i, o := range outs {
		for _, in := range cfg.In {
			if samePath(in.Path, o.path) {
				return fmt.Errorf("replay: %s is also an input: it would be overwritten while read", o.what)
			}
		}
		if cfg.Rules != "" && samePath(cfg.Rules, o.path) {
			return fmt.Errorf("replay: %s is the rules file: it would be overwritten", o.what)
		}
		for _, q := range outs[:i] {
			if samePath(q.path, o.path) {
				return fmt.Errorf("replay: %s and %s name one file: each output needs its own", q.what, o.what)
			}
		}
	}
	return nil
}

// Run replays. It stops at the first error in the rules, opening the files,
// or writing the outputs; a packet that cannot be injected (too large for a
// buffer) is counted in Summary.Denied and the replay goes on.
//
// Files are created only once the arguments, inputs and rules have been
// checked, and removed again when the run fails, so that an error leaves
// no empty or partial outputs; a cut capture (ErrTruncated) keeps them.
func Run(cfg Config) (sum *Summary, err error) {
	if len(cfg.In) == 0 {
		return nil, errors.New("replay: no --in capture")
	}
	if err := checkFiles(cfg); err != nil {
		return nil, err
	}
	var created []string
	defer func() {
		if err != nil && !errors.Is(err, ErrTruncated) {
			for _, p := range created {
				_ = os.Remove(p)
			}
		}
	}()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clk := &datapath.ManualClock{}
	e := datapath.New(datapath.Config{Workers: 1, Pool: cfg.Pool, Clock: clk, Logger: log, HashSeed: 0x6e657479})
	ns := e.Default()
	// eBPF object files (bpf object-file ...): the engine's loader
	bpfl := ebpf.NewLoader(e.Workers())
	e.LoadObject = bpfl.LoadObject

	// Devices named on the command line exist without being declared.
	names := map[string]bool{}
	var order []string
	add := func(n string) {
		if !names[n] {
			names[n] = true
			order = append(order, n)
		}
	}
	for _, p := range cfg.In {
		add(p.Dev)
	}
	for _, p := range cfg.Out {
		add(p.Dev)
	}
	for _, n := range cfg.Devices {
		add(n)
	}
	for _, p := range append(cfg.Capture[:len(cfg.Capture):len(cfg.Capture)], cfg.Monitor...) {
		add(p.Dev)
	}
	// Open the inputs first: their first timestamps set the clock before
	// any rule is installed, so "installed" times are capture times.
	var srcs []*source
	defer func() {
		for _, s := range srcs {
			s.close()
		}
	}()
	nanos := false
	for _, p := range cfg.In {
		s, err := openSource(p.Dev, p.Path)
		if err != nil {
			return nil, fmt.Errorf("replay: --in %s: %w", p.Dev, err)
		}
		srcs = append(srcs, s)
		nanos = nanos || s.nanos
	}
	// A device's link layer is its captures': 802.11 (radiotap or bare)
	// captures make an 802.11 device, Ethernet ones an Ethernet device.
	links := map[string]netdev.Link{}
	for _, src := range srcs {
		l, _ := datapath.DeviceLink(src.lt) // checked when opened
		if prev, ok := links[src.dev]; ok && prev != l {
			return nil, fmt.Errorf("replay: --in %s: %s is an %s capture, another --in of the device is %s", src.dev, src.path, l, prev)
		}
		links[src.dev] = l
	}
	devs := map[string]*datapath.Device{}
	for _, n := range order {
		d, err := e.AddDevice(ns, netdev.Config{Name: n, Link: links[n]})
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		devs[n] = d
	}
	// Virtual time starts at the earliest packet of all inputs (the clock
	// never goes back, so it is set once, to the minimum).
	first := int64(-1)
	for _, s := range srcs {
		if !s.done && (first < 0 || s.ts < first) {
			first = s.ts
		}
	}
	if first > 0 {
		clk.Set(first)
	}

	if cfg.Rules != "" {
		show := cfg.Show
		if show == nil {
			show = io.Discard
		}
		if cfg.ShowPath != "" {
			f, err := os.Create(cfg.ShowPath)
			if err != nil {
				return nil, fmt.Errorf("replay: --show: %w", err)
			}
			created = append(created, cfg.ShowPath)
			defer f.Close()
			show = f
		}
		var stderr strings.Builder
		if err := tcsyntax.Run(ns, []string{"-b", cfg.Rules}, show, &stderr); err != nil {
			return nil, fmt.Errorf("replay: %s: %w", cfg.Rules, err)
		}
		// What succeeded with a warning (a filter closing a redirect
		// cycle) is said, not dropped.
		for line := range strings.Lines(stderr.String()) {
			log.Warn("replay: " + cfg.Rules + ": " + strings.TrimSpace(strings.TrimPrefix(line, "Warning: ")))
		}
	}

	sinks := map[string]*sink{}
	for _, p := range cfg.Out {
		if links[p.Dev] != netdev.LinkEthernet {
			return nil, fmt.Errorf("replay: --out %s: an 802.11 device transmits nothing netyard writes (use --capture or --monitor)", p.Dev)
		}
		s, err := createSink(p.Dev, p.Path, nanos, layers.LinkTypeEthernet)
		if err != nil {
			return nil, fmt.Errorf("replay: --out %s: %w", p.Dev, err)
		}
		created = append(created, p.Path)
		sinks[p.Dev] = s
		devs[p.Dev].Netdev().SetTxSink(netdev.EndpointFunc(func(b *pkt.Buffer, now int64) {
			s.write(b.Data(), now)
			b.Release()
		}))
	}
	// The 802.11 listeners: kept frames (the hook path) and monitor
	// copies, each with a radiotap header, to their radiotap captures.
	var listened []*sink
	listen := func(ports []Port, mode datapath.ListenMode, flag string) error {
		for _, p := range ports {
			s, err := createSink(p.Dev, p.Path, nanos, layers.LinkTypeIEEE80211Radio)
			if err != nil {
				return fmt.Errorf("replay: %s %s: %w", flag, p.Dev, err)
			}
			created = append(created, p.Path)
			listened = append(listened, s)
			if _, err := devs[p.Dev].Listen(mode, 0, datapath.FrameListenerFunc(func(b *pkt.Buffer, origLen int, now int64) {
				s.writeLen(b.Data(), origLen, now)
				b.Release()
			})); err != nil {
				return fmt.Errorf("replay: %s %s: %w", flag, p.Dev, err)
			}
		}
		return nil
	}
	defer func() {
		// On an error path the outputs are closed too; the error
		// returned is the one that stopped the replay.
		for _, s := range sinks {
			_ = s.close()
		}
		for _, s := range listened {
			_ = s.close()
		}
	}()
	if err := listen(cfg.Capture, datapath.ListenKept, "--capture"); err != nil {
		return nil, err
	}
	capN := len(listened)
	if err := listen(cfg.Monitor, datapath.ListenMonitor, "--monitor"); err != nil {
		return nil, err
	}

	sum = &Summary{Injected: map[string]int{}, Written: map[string]int{}, Captured: map[string]int{}, Monitored: map[string]int{},
		Late: map[string]int{}, Devices: map[string]DeviceSummary{}}
	for _, p := range cfg.In {
		sum.Injected[p.Dev] += 0 // listed even when nothing could be read
	}
	// Merge the inputs by timestamp; ties go to the input named first.
	for {
		var s *source
		for _, c := range srcs {
			if !c.done && (s == nil || c.ts < s.ts) {
				s = c
			}
		}
		if s == nil {
			break
		}
		// Let paced links and shapers send what they can before the
		// packet's arrival time.
		for w := e.NextWake(); w > 0 && w <= s.ts; w = e.NextWake() {
			clk.Set(w)
			e.Run()
		}
		if now := clk.Now(); s.ts < now {
			// Virtual time does not go back: the packet enters now,
			// at the time of the packet replayed before it.
			if sum.Late[s.dev] == 0 {
				log.Warn("replay: timestamps go backwards; such packets enter at the previous packet's time (warned once per capture, counted in the summary)",
					"dev", s.dev, "file", s.path, "packet", s.n, "behind_ns", now-s.ts)
			}
			sum.Late[s.dev]++
		}
		clk.Set(s.ts)
		if s.origLen > len(s.next) {
			sum.Truncated++
		}
		if err := devs[s.dev].InjectCapture(s.lt, s.next, clk.Now()); errors.Is(err, radiotap.ErrMalformed) {
			// Counted (and in the device's RX errors); the first of
			// a run is said.
			if sum.RadiotapErrors == 0 {
				log.Warn("replay: radiotap header unreadable, record dropped (counted in the summary)", "dev", s.dev, "file", s.path, "packet", s.n, "err", err)
			}
			sum.RadiotapErrors++
		} else if err != nil {
			sum.Denied++
			log.Warn("replay: packet not injected", "dev", s.dev, "file", s.path, "packet", s.n, "err", err)
		} else {
			sum.Injected[s.dev]++
		}
		// Everything a packet causes happens at its arrival time: the
		// datapath runs until idle before the next packet enters.
		e.Run()
		if err := s.advance(); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
	}
	e.Run()
	// Drain what paced links still hold, at the times they send it.
	for w := e.NextWake(); w > 0; w = e.NextWake() {
		clk.Set(w)
		e.Run()
	}

	for dev, s := range sinks {
		sum.Written[dev] = s.n
	}
	for i, s := range listened {
		if i < capN {
			sum.Captured[s.dev] = s.n
		} else {
			sum.Monitored[s.dev] = s.n
		}
	}
	for _, d := range ns.Devices() {
		ds := DeviceSummary{Counters: d.Counters()}
		qs, err := ns.Qdiscs(d.Name())
		if err != nil {
			return nil, err
		}
		for _, q := range qs {
			switch q.Spec.Params.(type) {
			case qdisc.Clsact, qdisc.Ingress:
				// Its counters are the device's (Counters).
				continue
			}
			ds.Qdiscs = append(ds.Qdiscs, QdiscSummary{Kind: q.Spec.Params.Kind(), Handle: q.Spec.Handle, Parent: q.Spec.Parent, Stats: q.Stats})
		}
		sum.Devices[d.Name()] = ds
	}
	for _, s := range srcs {
		if s.cut != nil {
			sum.Cut = append(sum.Cut, *s.cut)
			if cfg.AcceptTruncated {
				// Accepted, but said (else the error says it).
				log.Warn("replay: " + s.cut.String())
			}
		}
	}
	if cfg.Stats != "" {
		if err := writeStats(cfg.Stats, ns, clk.Now(), bpfl); err != nil {
			return nil, err
		}
		created = append(created, cfg.Stats)
	}
	for _, s := range sinks {
		if err := s.close(); err != nil {
			return nil, err
		}
	}
	clear(sinks)
	for _, s := range listened {
		if err := s.close(); err != nil {
			return nil, err
		}
	}
	listened = nil
	if len(sum.Cut) > 0 && !cfg.AcceptTruncated {
		return sum, fmt.Errorf("replay: %w (%s); what it holds was replayed and the outputs written; --accept-truncated accepts it", ErrTruncated, sum.Cut[0])
	}
	return sum, nil
}

// samePath reports whether two paths name one file: the same path once
// made absolute and clean, or one existing file (links, bind mounts).
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	ab, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == ab {
		return true
	}
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// writeStats writes the statistics file: per device, the filters of each
// hook with their actions and counters, in tc's JSON shape, and the
// standalone actions; and the eBPF programs and maps, as `netyard bpf
// prog show -j` and `bpf map show -j` print them, each map with its
// elements as `bpf map dump -j` prints them.
func writeStats(path string, ns *datapath.Namespace, now int64, bpfl *ebpf.Loader) error {
	doc, err := StatsJSON(ns, now)
	if err != nil {
		return err
	}
	if progs := bpfl.ProgramsIn(ns.Name()); len(progs) > 0 {
		doc["bpf"] = bpftool.StatsJSON(bpfl, ns.Name())
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// StatsJSON builds the statistics document for a namespace.
func StatsJSON(ns *datapath.Namespace, now int64) (map[string]any, error) {
	devices := map[string]any{}
	for _, d := range ns.Devices() {
		c := d.Counters()
		hooks := map[string]any{}
		counters := map[string]any{}
		for _, h := range []struct {
			name   string
			parent uint32
		}{{"ingress", datapath.ParentIngress}, {"egress", datapath.ParentEgress}} {
			fs, err := ns.Filters(d.Name(), h.parent, nil)
			if err != nil {
				return nil, err
			}
			hooks[h.name] = tcsyntax.FiltersJSON(fs, tcsyntax.Options{Stats: 1, Now: now})
			// tc prints no counters for a flower or matchall filter
			// itself; netyard keeps them, listed beside tc's shape.
			var fc []map[string]any
			for _, f := range fs {
				fc = append(fc, map[string]any{
					"chain": f.Spec.Chain, "pref": f.Spec.Prio, "handle": f.Spec.Handle, "kind": f.Spec.Classifier.Kind(),
					"packets": f.Stats.Packets, "bytes": f.Stats.Bytes, "drops": f.Stats.Drops, "overlimits": f.Stats.Overlimits,
					"installed_ns": f.Stats.Installed, "first_used_ns": f.Stats.FirstUsed, "last_used_ns": f.Stats.LastUsed,
				})
			}
			counters[h.name] = fc
		}
		// Every qdisc of the device, as "tc -s -j qdisc show dev D"
		// prints them: drops, overlimits, requeues, and the backlog
		// still queued at the end.
		qs, err := ns.Qdiscs(d.Name())
		if err != nil {
			return nil, err
		}
		devices[d.Name()] = map[string]any{
			"qdiscs":          tcsyntax.QdiscsJSON(qs, tcsyntax.Options{Stats: 1, Now: now}),
			"filters":         hooks,
			"filter_counters": counters,
			"stats": map[string]uint64{
				"rx_packets": c.RxPackets, "rx_bytes": c.RxBytes, "rx_dropped": c.RxDropped, "rx_errors": c.RxErrors,
				"tx_packets": c.TxPackets, "tx_bytes": c.TxBytes, "tx_dropped": c.TxDropped,
				"delivered": c.Delivered, "ingress_drops": c.IngressDrops, "egress_drops": c.EgressDrops,
				"backlog_drops":   c.BacklogDrops,
				"radiotap_errors": c.RadiotapErrors, "radiotap_unknown": c.RadiotapUnknown,
			},
		}
	}
	kinds := []string{"gact", "mirred", "vlan", "skbedit", "police", "bpf"}
	sort.Strings(kinds)
	actions := map[string]any{}
	for _, k := range kinds {
		as, err := ns.Actions(k)
		if err != nil {
			return nil, err
		}
		if len(as) > 0 {
			actions[k] = tcsyntax.ActionsJSON(as, tcsyntax.Options{Stats: 1, Now: now})
		}
	}
	return map[string]any{"devices": devices, "actions": actions, "loop_drops": ns.LoopDrops()}, nil
}
