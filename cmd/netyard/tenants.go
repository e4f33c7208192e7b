package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/user"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/time/rate"

	"netyard/ctl"
	"netyard/datapath"
	"netyard/metrics"
	"netyard/netdev"
	"netyard/tcsyntax"
)

// The daemon's namespaces and who may administer them (issue 12,
// docs/SECURITY.md). Every tc object lives in one namespace; a command
// addresses one with -n NAME, or the default namespace. A connection's
// authority comes from the peer credentials the kernel gives the socket
// (SO_PEERCRED): root, the daemon's own user and members of --group
// administer everything; a user or group named by a "tenant add" line
// administers its namespaces and nothing else; anyone else is refused.

// errDenied is wrapped by every refusal of authority (EPERM).
var errDenied = errors.New("permission denied")

// daemon holds the namespaces' targets and the tenant map.
type daemon struct {
	e   *datapath.Engine
	log *slog.Logger
	// adminGID is --group's id (-1: none).
	adminGID int
	selfUID  uint32

	mu      sync.Mutex
	targets map[string]*daemonTarget
	tenants []tcsyntax.TenantSpec
	// groups caches each uid's supplementary groups (os/user, read
	// from /etc/group) for the --group and "tenant gid" checks.
	groups map[uint32][]uint32

	denied atomic.Uint64
	// deniedNS counts refusals per namespace of the tenant refused.
	deniedNS map[string]uint64
	// changed, when set, is called after every command that changed the
	// configuration (the --state file).
	changed func() error
	// stateMu makes one writer of the --state file at a time: each
	// snapshot is taken after the change it acknowledges, so the file
	// renamed last holds every change acknowledged before it.
	stateMu sync.Mutex

	// tenantRate is --tenant-rate: commands a second per tenant uid
	// (ratelimit.go); limits are the uids' buckets, throttled counts the
	// commands that had to wait.
	tenantRate int
	limits     map[uint32]*rate.Limiter
	throttled  atomic.Uint64
	// denyLog bounds the refusals logged (a tenant's refused commands
	// must not fill the log); the others are counted and the next line
	// logged says how many were left out.
	denyLog        *rate.Limiter
	denySuppressed atomic.Uint64
}

func newDaemon(e *datapath.Engine, log *slog.Logger, adminGID int) *daemon {
	d := &daemon{e: e, log: log, adminGID: adminGID, selfUID: uint32(os.Geteuid()),
		targets: map[string]*daemonTarget{}, groups: map[uint32][]uint32{}, deniedNS: map[string]uint64{},
		tenantRate: defaultTenantRate, limits: map[uint32]*rate.Limiter{}, denyLog: rate.NewLimiter(10, 20)}
	d.targets[datapath.DefaultNamespace] = newDaemonTarget(e.Default(), log)
	return d
}

// BackendDrops implements metrics.Backends: every namespace's devices.
func (d *daemon) BackendDrops() []metrics.BackendDrops {
	d.mu.Lock()
	ts := make(map[string]*daemonTarget, len(d.targets))
	maps.Copy(ts, d.targets)
	d.mu.Unlock()
	var out []metrics.BackendDrops
	for _, name := range slices.Sorted(maps.Keys(ts)) {
		out = ts[name].backendDrops(out, name)
	}
	return out
}

// close stops every namespace's backends (after the workers).
func (d *daemon) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.targets {
		t.close()
	}
}

// who is a request's authority.
type who struct {
	peer  ctl.Peer
	known bool // false: in-process (the daemon's own -c and --state), all powers
	admin bool
	// netns are the namespaces a tenant administers, sorted.
	netns []string
}

func (w *who) String() string {
	if !w.known {
		return "daemon"
	}
	return fmt.Sprintf("uid %d gid %d pid %d", w.peer.UID, w.peer.GID, w.peer.PID)
}

func (w *who) may(netns string) bool {
	if w.admin || !w.known {
		return true
	}
	_, ok := slices.BinarySearch(w.netns, netns)
	return ok
}

// whoIs works out the authority of the connection ctx belongs to.
func (d *daemon) whoIs(ctx context.Context) *who {
	p, ok := ctl.PeerFrom(ctx)
	if !ok {
		return &who{}
	}
	w := &who{peer: p, known: true}
	d.mu.Lock()
	defer d.mu.Unlock()
	groups := d.groupsLocked(p.UID, p.GID)
	if p.UID == 0 || p.UID == d.selfUID || d.adminGID >= 0 && slices.Contains(groups, uint32(d.adminGID)) {
		w.admin = true
		return w
	}
	for _, t := range d.tenants {
		if t.UID >= 0 && uint32(t.UID) == p.UID || t.GID >= 0 && slices.Contains(groups, uint32(t.GID)) {
			w.netns = append(w.netns, t.Netns)
		}
	}
	sort.Strings(w.netns)
	w.netns = slices.Compact(w.netns)
	return w
}

// groupsLocked is gid and the user's supplementary groups.
func (d *daemon) groupsLocked(uid, gid uint32) []uint32 {
	sup, ok := d.groups[uid]
	if !ok {
		if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
			if ids, err := u.GroupIds(); err == nil {
				for _, s := range ids {
					if g, err := strconv.ParseUint(s, 10, 32); err == nil {
						sup = append(sup, uint32(g))
					}
				}
			}
		}
		d.groups[uid] = sup
	}
	return append([]uint32{gid}, sup...)
}

// deny logs and counts a refusal and returns the error the client sees.
func (d *daemon) deny(w *who, what string) error {
	d.denied.Add(1)
	d.mu.Lock()
	for _, n := range w.netns {
		d.deniedNS[n]++
	}
	d.mu.Unlock()
	if d.denyLog.Allow() {
		d.log.Warn("permission denied", "who", w.String(), "uid", w.peer.UID, "pid", w.peer.PID, "what", what, "tenant_of", strings.Join(w.netns, ","),
			"not_logged_before", d.denySuppressed.Swap(0))
	} else {
		d.denySuppressed.Add(1)
	}
	return &ctl.Error{Errno: syscall.EPERM, Msg: fmt.Sprintf("%s: %v: %s administers %s", what, errDenied, w, w.scope())}
}

func (w *who) scope() string {
	if len(w.netns) == 0 {
		return "no namespace"
	}
	return "only namespace " + strings.Join(w.netns, ", ")
}

// resolve is tcsyntax.CLI.Resolve for a request of w: the namespace a
// command addresses, if w may.
func (d *daemon) resolve(w *who, netns string) (tcsyntax.Target, error) {
	if netns == "" {
		netns = datapath.DefaultNamespace
		// A tenant of exactly one namespace addresses it without -n.
		if w.known && !w.admin && len(w.netns) == 1 {
			netns = w.netns[0]
		}
	}
	if !w.may(netns) {
		return nil, d.deny(w, "namespace "+netns)
	}
	d.mu.Lock()
	t := d.targets[netns]
	d.mu.Unlock()
	if t == nil {
		return nil, fmt.Errorf("namespace %q: %w: netns add %s first", netns, tcsyntax.ErrNotFound, netns)
	}
	return &nsSession{daemonTarget: t, d: d, w: w}, nil
}

// dumper is the ctl dump resolver: "netns/NAME/KIND" is KIND of namespace
// NAME; a kind without the prefix is the default namespace's (a tenant of
// one namespace: its own).
func (d *daemon) dumper(ctx context.Context, kind string) (ctl.Dumper, error) {
	w := d.whoIs(ctx)
	netns := ""
	if rest, ok := strings.CutPrefix(kind, "netns/"); ok {
		var found bool
		if netns, kind, found = strings.Cut(rest, "/"); !found {
			return nil, &ctl.Error{Errno: syscall.EINVAL, Msg: fmt.Sprintf("dump kind %q: netns/NAME/KIND", "netns/"+rest)}
		}
	}
	t, err := d.resolve(w, netns)
	if err != nil {
		if !errors.Is(err, errDenied) && errors.Is(err, tcsyntax.ErrNotFound) {
			return nil, &ctl.Error{Errno: syscall.ENOENT, Msg: err.Error()}
		}
		return nil, err
	}
	ns := t.(*nsSession).Namespace
	if kind == "filter" {
		return ns.FilterDumper(), nil
	}
	if dd := ns.ActionDumpers()[kind]; dd != nil {
		return dd, nil
	}
	return nil, nil // the server's "no table" answer
}

// nsSession is one request's view of a namespace: the namespace's tc
// Target with the daemon's own objects (dev, netns, tenant) checked
// against the request's authority.
type nsSession struct {
	*daemonTarget
	d *daemon
	w *who
}

var (
	_ tcsyntax.NetnsTarget  = (*nsSession)(nil)
	_ tcsyntax.TenantTarget = (*nsSession)(nil)
	_ tcsyntax.DevDeleter   = (*nsSession)(nil)
	_ tcsyntax.FilterCopier = (*nsSession)(nil) // a batch parses its filters into one reused block
)

func (s *nsSession) admin(what string) error {
	if s.w.admin || !s.w.known {
		return nil
	}
	return s.d.deny(s.w, what)
}

// AddDev adds a device to the namespace (or to "netns NAME"'s); a veth's
// peer may go to another namespace the caller administers. A tenant adds
// in-memory devices and pairs only: attaching a host interface (afpacket,
// xdp, tap) is the administrator's.
func (s *nsSession) AddDev(spec tcsyntax.DevSpec) error {
	if spec.Type != "memory" && spec.Type != "veth" {
		if err := s.admin("dev add type " + spec.Type); err != nil {
			return err
		}
	}
	t := s.daemonTarget
	if spec.Netns != "" {
		var err error
		if t, err = s.d.targetFor(s.w, spec.Netns); err != nil {
			return err
		}
	}
	if spec.Type != "veth" {
		spec.Netns = ""
		return t.AddDev(spec)
	}
	pt := t
	if spec.PeerNetns != "" {
		var err error
		if pt, err = s.d.targetFor(s.w, spec.PeerNetns); err != nil {
			return err
		}
	}
	cfg := func(name string) netdev.Config {
		return netdev.Config{Name: name, TxQueues: max(spec.Queues, 1), MTU: spec.MTU}
	}
	if err := s.d.e.AddPair(t.Namespace, cfg(spec.Name), pt.Namespace, cfg(spec.Peer)); err != nil {
		return err
	}
	a := spec
	a.Netns, a.PeerNetns = "", pt.Name()
	if pt == t {
		a.PeerNetns = ""
	}
	b := tcsyntax.DevSpec{Name: spec.Peer, Type: "veth", Queues: spec.Queues, MTU: spec.MTU, Peer: spec.Name, PeerNetns: t.Name()}
	if pt == t {
		b.PeerNetns = ""
	}
	t.record(a)
	pt.record(b)
	s.d.log.Info("pair added", "dev", spec.Name, "netns", t.Name(), "peer", spec.Peer, "peer_netns", pt.Name())
	return nil
}

// targetFor is netns's target, if w may use it.
func (d *daemon) targetFor(w *who, netns string) (*daemonTarget, error) {
	if !w.may(netns) {
		return nil, d.deny(w, "namespace "+netns)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.targets[netns]
	if t == nil {
		return nil, fmt.Errorf("namespace %q: %w", netns, tcsyntax.ErrNotFound)
	}
	return t, nil
}

// DelDev deletes a device of the namespace, with its pair's other end.
func (s *nsSession) DelDev(name string) error {
	dev, err := s.Device(name)
	if err != nil {
		return fmt.Errorf("dev %s: %w", name, tcsyntax.ErrNotFound)
	}
	if p := dev.Netdev().Peer(); p != nil {
		// The other end may be in a namespace the caller does not
		// administer: a pair between tenants is the administrator's.
		for _, pt := range s.d.allTargets() {
			if _, err := pt.Device(p.Name()); err == nil && pt != s.daemonTarget && !s.w.may(pt.Name()) {
				return s.d.deny(s.w, "dev del "+name+" (its peer is in namespace "+pt.Name()+")")
			}
		}
	}
	del := s.d.deleter()
	defer del.finish()
	return s.d.e.DelDevice(s.Namespace, name, del.detach)
}

func (d *daemon) allTargets() []*daemonTarget {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*daemonTarget, 0, len(d.targets))
	for _, t := range d.targets {
		out = append(out, t)
	}
	return out
}

// deleter makes the engine's detach callback for a deletion: it closes
// the deleted devices' backends (ports taken from a snapshot, since the
// engine calls it under its lock) and notes the devices, which finish
// then forgets.
type deleter struct {
	d     *daemon
	ports map[*datapath.Device]func() error
	gone  []*datapath.Device
}

func (d *daemon) deleter() *deleter {
	del := &deleter{d: d, ports: map[*datapath.Device]func() error{}}
	for _, t := range d.allTargets() {
		t.mu.Lock()
		for name, p := range t.ports {
			if dev, err := t.Device(name); err == nil {
				del.ports[dev] = p.Close
			}
		}
		for name, pp := range t.players {
			if dev, err := t.Device(name); err == nil {
				del.ports[dev] = func() error { pp.cancel(); <-pp.done; return nil }
			}
		}
		t.mu.Unlock()
	}
	return del
}

func (del *deleter) detach(dev *datapath.Device) {
	if c := del.ports[dev]; c != nil {
		if err := c(); err != nil {
			del.d.log.Warn("closing device", "dev", dev.Name(), "err", err)
		}
	}
	del.gone = append(del.gone, dev)
}

// finish drops the deleted devices from their namespaces' lists.
func (del *deleter) finish() {
	for _, dev := range del.gone {
		del.d.mu.Lock()
		t := del.d.targets[dev.Namespace().Name()]
		del.d.mu.Unlock()
		if t != nil {
			t.forget(dev.Name())
		}
	}
}

func (s *nsSession) AddNetns(name string) error {
	if err := s.admin("netns add " + name); err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.d.targets[name] != nil {
		return fmt.Errorf("namespace %q: %w", name, tcsyntax.ErrExists)
	}
	ns, err := s.d.e.Namespace(name, true)
	if err != nil {
		return err
	}
	s.d.targets[name] = newDaemonTarget(ns, s.d.log)
	s.d.log.Info("namespace added", "netns", name)
	return nil
}

func (s *nsSession) DelNetns(spec tcsyntax.NetnsSpec) error {
	if err := s.admin("netns del " + spec.Name); err != nil {
		return err
	}
	del := s.d.deleter()
	defer del.finish()
	if err := s.d.e.DelNamespace(spec.Name, spec.All, del.detach); err != nil {
		if errors.Is(err, datapath.ErrNamespaceBusy) {
			return fmt.Errorf("%w (or netns del %s all)", err, spec.Name)
		}
		return err
	}
	s.d.mu.Lock()
	delete(s.d.targets, spec.Name)
	kept := s.d.tenants[:0]
	for _, t := range s.d.tenants {
		if t.Netns != spec.Name {
			kept = append(kept, t)
		}
	}
	s.d.tenants = kept
	s.d.mu.Unlock()
	s.d.log.Info("namespace deleted", "netns", spec.Name)
	return nil
}

func (s *nsSession) SetNetns(spec tcsyntax.NetnsSpec) error {
	if err := s.admin("netns set " + spec.Name); err != nil {
		return err
	}
	ns, err := s.d.e.Namespace(spec.Name, false)
	if err != nil {
		return fmt.Errorf("%w: %w", tcsyntax.ErrNotFound, err)
	}
	q, b := ns.Limits()
	if spec.Quantum != 0 {
		q = spec.Quantum
	}
	if spec.HasBacklog {
		b = int64(spec.Backlog)
	}
	if err := ns.SetLimits(q, b); err != nil {
		return err
	}
	qs := ns.Quotas()
	if spec.HasActions {
		qs.Actions = spec.Actions
	}
	if spec.HasFilters {
		qs.Filters = spec.Filters
	}
	if spec.HasDevices {
		qs.Devices = spec.Devices
	}
	if err := ns.SetQuotas(qs); err != nil {
		return err
	}
	if spec.HasMem {
		return ns.SetMemLimits(datapath.MemLimits{Min: int64(spec.Mem[0]), Pressure: int64(spec.Mem[1]), Max: int64(spec.Mem[2])})
	}
	return nil
}

func (s *nsSession) Netns(name string) ([]tcsyntax.NetnsView, error) {
	var out []tcsyntax.NetnsView
	for _, ns := range s.d.e.Namespaces() {
		if name != "" && ns.Name() != name || !s.w.may(ns.Name()) {
			continue
		}
		q, b := ns.Limits()
		v := tcsyntax.NetnsView{Name: ns.Name(), Quantum: q, Backlog: uint64(b),
			Actions: ns.ActionCount(), PacketMem: uint64(ns.PacketMemory()), LoopDrops: ns.LoopDrops()}
		for _, dev := range ns.Devices() {
			v.Devices = append(v.Devices, dev.Name())
		}
		qs, m, ls := ns.Quotas(), ns.MemLimits(), ns.LimitStats()
		v.MaxActions, v.MaxFilters, v.MaxDevices = qs.Actions, qs.Filters, qs.Devices
		v.Mem = [3]uint64{uint64(m.Min), uint64(m.Pressure), uint64(m.Max)}
		v.Pressure, v.PressureDrops, v.MaxDrops = ls.Pressure, ls.PressureDrops, ls.MaxDrops
		v.ActionsRefused, v.FiltersRefused, v.DevicesRefused = ls.ActionsRefused, ls.FiltersRefused, ls.DevicesRefused
		v.Denied = s.d.deniedOf(ns.Name())
		out = append(out, v)
	}
	if name != "" && len(out) == 0 {
		if !s.w.may(name) {
			return nil, s.d.deny(s.w, "netns show "+name)
		}
		return nil, fmt.Errorf("namespace %q: %w", name, tcsyntax.ErrNotFound)
	}
	return out, nil
}

func (s *nsSession) AddTenant(spec tcsyntax.TenantSpec) error {
	if err := s.admin("tenant add"); err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	if s.d.targets[spec.Netns] == nil {
		return fmt.Errorf("namespace %q: %w: netns add %s first", spec.Netns, tcsyntax.ErrNotFound, spec.Netns)
	}
	if slices.Contains(s.d.tenants, spec) {
		return fmt.Errorf("tenant %s: %w", strings.Join(tcsyntax.FormatTenant(spec), " "), tcsyntax.ErrExists)
	}
	s.d.tenants = append(s.d.tenants, spec)
	return nil
}

func (s *nsSession) DelTenant(spec tcsyntax.TenantSpec) error {
	if err := s.admin("tenant del"); err != nil {
		return err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	i := slices.Index(s.d.tenants, spec)
	if i < 0 {
		return fmt.Errorf("tenant %s: %w", strings.Join(tcsyntax.FormatTenant(spec), " "), tcsyntax.ErrNotFound)
	}
	s.d.tenants = slices.Delete(s.d.tenants, i, i+1)
	return nil
}

func (s *nsSession) Tenants() ([]tcsyntax.TenantSpec, error) {
	if err := s.admin("tenant show"); err != nil {
		return nil, err
	}
	s.d.mu.Lock()
	defer s.d.mu.Unlock()
	return slices.Clone(s.d.tenants), nil
}

// record lists a device that the engine made without AddDev (a pair's
// ends) for "dev show" and save.
func (t *daemonTarget) record(s tcsyntax.DevSpec) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.devs = append(t.devs, s)
}

// forget drops a deleted device (its backend already closed) from the
// lists.
func (t *daemonTarget) forget(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.ports, name)
	delete(t.players, name)
	t.devs = slices.DeleteFunc(t.devs, func(s tcsyntax.DevSpec) bool { return s.Name == name })
	t.log.Info("device deleted", "dev", name, "netns", t.Name())
}

// netnsKind is the dump kind of a namespace's table: "netns/NAME/KIND"
// for -n NAME, KIND for none (the daemon's dump resolver reads it).
func netnsKind(netns, kind string) string {
	if netns == "" {
		return kind
	}
	return "netns/" + netns + "/" + kind
}

// Denied is every command refused (metrics.Authority).
func (d *daemon) Denied() uint64 { return d.denied.Load() }

// Throttled is metrics.Authority's: tenants' commands that waited.
func (d *daemon) Throttled() uint64 { return d.throttled.Load() }

// DeniedOf is metrics.Authority's deniedOf.
func (d *daemon) DeniedOf(netns string) uint64 { return d.deniedOf(netns) }

// deniedOf is how many commands of netns's tenants were refused.
func (d *daemon) deniedOf(netns string) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.deniedNS[netns]
}
