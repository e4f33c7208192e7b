// Package datapath is netyard's engine: namespaces of devices, workers that
// move packets through each device's ingress hook, its backlogs, its egress
// hook and its qdisc, and the control plane that publishes configuration to
// them.
package datapath

import (
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"

	"netyard/act"
	"netyard/bpf"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/stats"
	"netyard/tcsyntax"
)

// DefaultBacklog is the size of each device's two backlogs (packets
// redirected to its receive path and to its transmit path). The kernel's
// netdev_max_backlog is 1000.
const DefaultBacklog = 1024

// DefaultNamespace is the namespace that exists from the start.
const DefaultNamespace = "default"

// Config configures an Engine.
type Config struct {
	// Workers is the number of workers; 0 means one per core
	// (GOMAXPROCS). Each device is served by exactly one worker. Replay
	// and lab use one, so that runs repeat exactly.
	Workers int
	// Pool provides packet buffers; nil means a default pool.
	Pool *pkt.Pool
	// Clock is the datapath's time; nil means a MonotonicClock.
	Clock Clock
	// Logger receives control-plane messages and rate-limited datapath
	// warnings; nil means slog.Default().
	Logger *slog.Logger
	// Backlog is the size of each device backlog; 0 means DefaultBacklog.
	Backlog int
	// HashSeed seeds the flow hash used for TX queue selection. Replay
	// and lab use a fixed seed so runs repeat exactly.
	HashSeed uint32
	// RedirectTTL is the redirect budget of a packet that enters netyard
	// (docs/LOOPS.md); 0 means pkt.DefaultTTL. At most 7, so that the
	// worst case per packet (2^TTL - 1 transmissions) stays at 127.
	RedirectTTL uint8
}

// MaxRedirectTTL bounds Config.RedirectTTL.
const MaxRedirectTTL = 7

// Engine is a running datapath.
type Engine struct {
	cfg     Config
	pool    *pkt.Pool
	clock   Clock
	log     *slog.Logger
	workers []*worker
	// gens is the counters' generation clock (stats.Domain): every
	// namespace's actions and filters count in sets of it.
	gens *stats.Domain

	// devices maps a device index to its state; the data path reads it
	// without a lock (devindex.go).
	devices devIndex

	mu         sync.Mutex // serialises the control plane
	namespaces map[string]*Namespace
	nextIndex  int32
	// qdiscHandle numbers qdiscs added without a handle.
	qdiscHandle uint32

	// LoadObject loads an eBPF program from an object file for the bpf
	// classifier and action ("object-file FILE [section S]") of
	// namespace ns: package bpf/ebpf's loader, set before the first
	// such filter. nil: object files are refused
	// (bpf.ErrNoObjectLoader); classic bytecode needs no loader.
	LoadObject func(ns, path, section string) (bpf.Program, error)
}

// ErrNoDevice is wrapped when a named device does not exist.
var ErrNoDevice = tcsyntax.ErrNoDevice

// New returns an engine with the default namespace and no devices.
func New(cfg Config) *Engine {
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Pool == nil {
		cfg.Pool = pkt.NewPool(pkt.PoolConfig{})
	}
	if cfg.Clock == nil {
		cfg.Clock = NewMonotonicClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Backlog <= 0 {
		cfg.Backlog = DefaultBacklog
	}
	if cfg.RedirectTTL == 0 {
		cfg.RedirectTTL = pkt.DefaultTTL
	}
	cfg.RedirectTTL = min(cfg.RedirectTTL, MaxRedirectTTL)
	e := &Engine{cfg: cfg, pool: cfg.Pool, clock: cfg.Clock, log: cfg.Logger,
		namespaces: make(map[string]*Namespace), nextIndex: 1, gens: stats.NewDomain(cfg.Workers)}
	for i := range cfg.Workers {
		e.workers = append(e.workers, newWorker(e, i))
	}
	e.namespaces[DefaultNamespace] = newNamespace(e, DefaultNamespace)
	return e
}

// Gens is the counters' generation clock: a dump closes a generation
// with Gens().Advance() before it reads.
func (e *Engine) Gens() *stats.Domain { return e.gens }

// Pool is the engine's buffer pool.
func (e *Engine) Pool() *pkt.Pool { return e.pool }

// Clock is the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// Workers is the number of workers (and of statistics shards).
func (e *Engine) Workers() int { return len(e.workers) }

// Namespace returns the namespace called name, creating it if create is set.
func (e *Engine) Namespace(name string, create bool) (*Namespace, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ns, ok := e.namespaces[name]; ok {
		return ns, nil
	}
	if !create {
		return nil, fmt.Errorf("namespace %q: does not exist", name)
	}
	if name == "" {
		return nil, fmt.Errorf("namespace name is empty")
	}
	ns := newNamespace(e, name)
	e.namespaces[name] = ns
	return ns, nil
}

// Default is the default namespace.
func (e *Engine) Default() *Namespace {
	ns, _ := e.Namespace(DefaultNamespace, false)
	return ns
}

// Namespaces lists the namespaces by name.
func (e *Engine) Namespaces() []*Namespace {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]*Namespace, 0, len(e.namespaces))
	for _, ns := range e.namespaces {
		out = append(out, ns)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// device returns the device with index i, or nil. Lock-free.
func (e *Engine) device(i int32) *Device {
	return e.devices.get(i)
}

// AddDevice creates a datapath device in namespace ns. attach, when
// given, connects the new device to its wire (a backend's TxPort, a sink)
// before any worker can see the device; an error from it leaves no device.
func (e *Engine) AddDevice(ns *Namespace, c netdev.Config, attach ...func(*netdev.Device) error) (*Device, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := ns.devices[c.Name]; ok {
		return nil, fmt.Errorf("device %q: %w in namespace %q", c.Name, tcsyntax.ErrExists, ns.name)
	}
	if err := ns.checkDeviceQuota(1); err != nil {
		return nil, err
	}
	nd, err := netdev.New(e.nextIndex, c)
	if err != nil {
		return nil, err
	}
	for _, f := range attach {
		if err := f(nd); err != nil {
			return nil, err
		}
	}
	return e.publishLocked(ns, nd)
}

// publishLocked makes nd a datapath device of ns, served by a worker.
func (e *Engine) publishLocked(ns *Namespace, nd *netdev.Device) (*Device, error) {
	d, err := newDevice(e, ns, nd)
	if err != nil {
		return nil, err
	}
	e.nextIndex++
	e.devices.set(nd.Index(), d)
	ns.devices[nd.Name()] = d
	// Devices go to workers round-robin by index; a device never moves,
	// so its qdisc and receive path need no lock on the fast path.
	d.worker = e.workers[int(nd.Index())%len(e.workers)]
	d.worker.addDevice(d)
	nd.SetNotify(d.worker.poke)
	if qp, ok := d.poller.(netdev.QueuePoller); ok && len(e.workers) > 1 && qp.RxQueues() > 1 {
		e.spreadQueues(d, qp)
	}
	return d, nil
}

// spreadQueues gives queue q of d's multi-queue poller to worker (owner +
// q) mod workers, so that the receive path of one busy link (its frames
// copied out, parsed, classified, redirected) runs on as many workers as
// it has queues, as RSS spreads a NIC's queues over CPUs. What a queue's
// worker redirects goes through the target's backlog to the target's own
// worker, which transmits (its qdisc has one owner). Called with the
// engine's lock held, before the backend starts.
func (e *Engine) spreadQueues(d *Device, qp netdev.QueuePoller) {
	d.qpoller = qp
	for q := range qp.RxQueues() {
		w := e.workers[(d.worker.id+q)%len(e.workers)]
		if w == d.worker {
			d.ownQueues = append(d.ownQueues, q)
			continue
		}
		qp.SetQueueNotify(q, w.poke)
		w.addQueue(d, q)
		if !slices.Contains(d.sharers, w) {
			d.sharers = append(d.sharers, w)
		}
	}
}

// Run processes every packet that is waiting, at the clock's current time,
// until nothing is left: the synchronous driver that replay and lab use in
// virtual time. It must not be called while Start's workers run.
func (e *Engine) Run() {
	for e.RunBudget(math.MaxInt) > 0 {
	}
}

// NextWake is the earliest time after the clock's current time at which
// some device will have work that no arrival triggers (a paced link or a
// shaper releasing a queued packet), or 0 for none. Virtual-time drivers
// move the clock there when nothing else happens before.
func (e *Engine) NextWake() int64 {
	now := e.clock.Now()
	t := int64(0)
	e.devices.each(func(d *Device) {
		if w := d.nextWake(now); w > 0 && (t == 0 || w < t) {
			t = w
		}
	})
	return t
}

// RunBudget is Run with a limit: it takes at most budget packets from rings
// (per worker, in its namespaces' DRR order) and returns how many it took.
// The lab uses it to give the datapath a finite speed in virtual time.
func (e *Engine) RunBudget(budget int) int {
	total := 0
	for {
		did := 0
		for _, w := range e.workers {
			if total >= budget {
				break
			}
			n := w.poll(e.clock.Now(), budget-total)
			did += n
			total += n
		}
		if did == 0 || total >= budget {
			return total
		}
	}
}

// Env adapts the namespace to act.Env for the configuration it builds.
type env struct {
	ns *Namespace
}

func (v env) DeviceIndex(name string) (int32, bool) {
	d, ok := v.ns.devices[name]
	if !ok {
		return 0, false
	}
	return d.nd.Index(), true
}

func (v env) Counters() *stats.Set { return v.ns.actionCells }
func (v env) Now() int64           { return v.ns.e.clock.Now() }

// LoadObject implements bpf.ObjectLoader with the engine's LoadObject.
func (v env) LoadObject(path, section string) (bpf.Program, error) {
	if v.ns.e.LoadObject == nil {
		return nil, bpf.ErrNoObjectLoader
	}
	return v.ns.e.LoadObject(v.ns.name, path, section)
}

var (
	_ act.Env          = env{}
	_ bpf.ObjectLoader = env{}
)
