package act

import (
	"errors"

	"netyard/bpf"
	"netyard/pkt"
	"netyard/stats"
)

// Action is a running action: a Spec made live by New, with its counters.
// Actions are shared by index: several filters may hold the same one.
type Action interface {
	Spec() Spec
	// Exec runs the action on p and returns its verdict. Consumed means
	// the action has taken p (mirred handed it to a device's backlog):
	// the caller must neither use nor release it. For every other verdict
	// the caller still owns p; it releases it for Shot, Stolen, Queued and
	// Trap (consume_skb in sch_handle_ingress) and goes on with it
	// otherwise. Exec never allocates.
	Exec(c *Ctx, p *pkt.Buffer) Verdict
	Stats() stats.Cell
}

// Ctx is what an action needs besides the packet. The datapath gives each
// worker one and reuses it for every packet.
type Ctx struct {
	// Worker is the running worker's index: the stats shard to write.
	Worker int
	// Dev is the index of the device whose hook is running.
	Dev int32
	// Now is the current time in nanoseconds on the datapath's clock.
	Now int64
	// Out takes redirected and mirrored packets.
	Out Redirector
	// Ingress says the hook running is a device's ingress (else its
	// egress).
	Ingress bool
	// BPF is the environment of the bpf classifier's and action's
	// programs: the worker's, reused for every run (a Program's Run may
	// keep the pointer for the run's length only). Rand is the worker's
	// seeded generator.
	BPF bpf.Env
}

// Redirector is the datapath's side of mirred: it puts a packet on a
// device's backlog, never processing it in the caller's stack frame.
type Redirector interface {
	// Mirred hands p to device dev's receive path (ingress) or transmit
	// path through that device's backlog. It checks and decrements p's
	// redirect TTL. It always takes ownership of p, also on error, when p
	// was dropped: ErrLoop when the TTL was spent, another error when the
	// target is gone or its backlog is full.
	Mirred(c *Ctx, p *pkt.Buffer, dev int32, ingress bool) error
}

// ErrLoop is returned by Redirector.Mirred when a packet's redirect TTL is
// spent: it has been redirected or mirrored too often, most likely in a
// loop. mirred counts it as an overlimit.
var ErrLoop = errors.New("redirect TTL exceeded (loop?)")

// Env resolves what a Spec names when it is made live.
type Env interface {
	// DeviceIndex returns the index of the device named name.
	DeviceIndex(name string) (int32, bool)
	// Counters is the set new actions' counters come from.
	Counters() *stats.Set
	// Now is the install time.
	Now() int64
}
