// Package lab runs netyard scenarios in virtual time: hosts attached to
// datapath devices through in-memory pairs with a wire delay, traffic
// generators, and measurements, all driven by a discrete-event loop around
// one datapath engine. Nothing here needs root or a real network, and a run
// repeats exactly: no wall clock and no randomness without a fixed seed.
package lab

import (
	"container/heap"
	"io"
	"log/slog"
	"math"
	"time"

	"netyard/bpf/ebpf"
	"netyard/datapath"
	"netyard/pkt"
)

// Sim is one scenario's world: a virtual clock, an engine, an event queue.
type Sim struct {
	Clock  *datapath.ManualClock
	Engine *datapath.Engine
	NS     *datapath.Namespace
	Pool   *pkt.Pool
	// BPF is the engine's eBPF loader (its programs and maps).
	BPF *ebpf.Loader

	events eventQueue
	seq    uint64
	hosts  []*Host
	flows  []*Flow
	errs   []error

	// cpu is the datapath's speed in packets a second of virtual time;
	// 0 means infinitely fast (everything an event causes happens at its
	// instant). See SetCPU.
	cpu      int64
	cpuCarry int64
	// wakeAt is the pending datapath wake-up (scheduleWake).
	wakeAt int64
}

// cpuTick is how often a finite-speed datapath runs in virtual time: a
// worker's budget is handed out in slices this long.
const cpuTick = 10 * time.Microsecond

// SetCPU gives the datapath a finite speed: it takes at most pps packets a
// second from its rings, in slices of cpuTick, shared between namespaces by
// the workers' deficit round robin. Scenarios about overload (a tenant's
// redirect loop against another tenant) need it; with the default
// infinite speed a loop costs no virtual time at all.
func (s *Sim) SetCPU(pps int64) {
	s.cpu = pps
	var tick func()
	tick = func() {
		s.cpuCarry += s.cpu * int64(cpuTick)
		budget := s.cpuCarry / int64(time.Second)
		s.cpuCarry -= budget * int64(time.Second)
		if budget > 0 {
			s.Engine.RunBudget(int(budget))
		}
		s.At(s.Now()+int64(cpuTick), tick)
	}
	s.At(s.Now()+int64(cpuTick), tick)
}

// NewSim returns a simulation whose datapath logs to log (nil: discard).
func NewSim(log *slog.Logger) *Sim {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	clk := &datapath.ManualClock{}
	clk.Set(int64(time.Millisecond)) // 0 means "never" in statistics
	pool := pkt.NewPool(pkt.PoolConfig{Logger: log})
	e := datapath.New(datapath.Config{Workers: 1, Pool: pool, Clock: clk, Logger: log, HashSeed: 0x6e657479})
	// eBPF object files (bpf object-file ...): one loader per engine,
	// its maps kept apart per namespace
	l := ebpf.NewLoader(e.Workers())
	e.LoadObject = l.LoadObject
	return &Sim{Clock: clk, Engine: e, NS: e.Default(), Pool: pool, BPF: l}
}

// Now is the current virtual time in nanoseconds.
func (s *Sim) Now() int64 { return s.Clock.Now() }

// At schedules f at virtual time t. Events at the same time run in the
// order they were scheduled.
func (s *Sim) At(t int64, f func()) {
	s.events.push(event{t: t, f: f}, &s.seq)
}

// After schedules f d after now.
func (s *Sim) After(d time.Duration, f func()) { s.At(s.Now()+int64(d), f) }

// RunUntil runs events up to and including time end, letting the datapath
// process everything each event caused before the next one. Events after
// end stay queued.
func (s *Sim) RunUntil(end int64) {
	for s.events.Len() > 0 && s.events[0].t <= end {
		ev := heap.Pop(&s.events).(event)
		s.Clock.Set(ev.t)
		ev.f()
		if s.cpu == 0 {
			s.Engine.Run()
			s.scheduleWake()
		}
	}
	s.Clock.Set(end)
	if s.cpu == 0 {
		s.Engine.Run()
	}
}

// scheduleWake makes sure the loop stops at the next time the datapath has
// work of its own: a paced link or a shaper that holds packets.
func (s *Sim) scheduleWake() {
	w := s.Engine.NextWake()
	if w == 0 || (s.wakeAt > s.Now() && s.wakeAt <= w) {
		return
	}
	s.wakeAt = w
	s.At(w, func() {})
}

// Close drops events that never ran and lets the datapath finish, so that
// every packet returns to the pool.
func (s *Sim) Close() {
	for {
		for s.events.Len() > 0 {
			ev := heap.Pop(&s.events).(event)
			if ev.cancel != nil {
				ev.cancel()
			}
		}
		// What the datapath still holds may reach a host and schedule
		// its arrival: go round until nothing is left.
		if s.Engine.RunBudget(math.MaxInt) == 0 && s.events.Len() == 0 {
			return
		}
	}
}

type event struct {
	t      int64
	seq    uint64
	f      func()
	cancel func() // releases what f would have consumed
}

type eventQueue []event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].t != q[j].t {
		return q[i].t < q[j].t
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(event)) }
func (q *eventQueue) push(ev event, seq *uint64) {
	*seq++
	ev.seq = *seq
	heap.Push(q, ev)
}

func (q *eventQueue) Pop() any {
	old := *q
	ev := old[len(old)-1]
	*q = old[:len(old)-1]
	return ev
}
