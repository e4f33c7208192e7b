package link

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"netyard/netdev"
	"netyard/pkt"
)

// Kind names a backend, as the daemon's configuration spells it
// (`dev add eth0 type afpacket link veth-m0`).
type Kind string

const (
	// KindAFPacket attaches to an existing interface with AF_PACKET
	// sockets and TPACKET_V3 memory-mapped rings (afpacket_linux.go).
	KindAFPacket Kind = "afpacket"
	// KindTAP creates a TAP device (tap_linux.go).
	KindTAP Kind = "tap"
	// KindXDP attaches to an existing interface with AF_XDP sockets and
	// an XDP program that redirects to them (xdp_linux.go). Where the
	// kernel, the privileges or the driver do not allow it, Open falls
	// back to KindAFPacket and logs why.
	KindXDP Kind = "xdp"
)

// XDPMode is the XDP hook an AF_XDP device's program is attached to.
type XDPMode string

const (
	// XDPModeAuto tries the driver's hook and then the generic one.
	XDPModeAuto XDPMode = ""
	// XDPModeNative is the driver's hook (XDP_FLAGS_DRV_MODE): frames
	// are redirected before the kernel builds an skb. Needed for
	// zero-copy.
	XDPModeNative XDPMode = "native"
	// XDPModeGeneric is the hook in the stack's receive path
	// (XDP_FLAGS_SKB_MODE), which every driver has: the kernel builds
	// the skb first, then runs the program on it.
	XDPModeGeneric XDPMode = "generic"
)

// Spec says which real interface a netyard device moves frames through.
type Spec struct {
	Kind Kind
	// Link is, for afpacket, the existing interface to attach to; for
	// tap, the name of the TAP device to create (default: the netyard
	// device's name).
	Link string
	// Queues is the number of backend queues: AF_PACKET socket pairs,
	// AF_XDP sockets (one per queue of the interface, from 0) or TAP
	// file descriptors. 0 means the device's TxQueues.
	Queues int
	// XDPMode is the XDP hook (xdp only): "" for the driver's where it
	// has one, else the generic one.
	XDPMode XDPMode
	// ZeroCopy asks for AF_XDP zero-copy (xdp only): the driver moves
	// frames in and out of the UMEM itself. Open fails when the driver
	// cannot.
	ZeroCopy bool
	// Shed is the afpacket backend's load shedding (shed_linux.go): an
	// XDP program on the interface that drops frames before the kernel
	// works on them while netyard's receive ring is nearly full.
	// ShedAuto attaches it where the kernel and the driver allow and
	// logs why not elsewhere; ShedOn makes that an error; ShedOff
	// attaches nothing.
	Shed ShedMode
}

// ShedMode says whether an afpacket port sheds load with XDP.
type ShedMode string

const (
	// ShedAuto sheds where XDP can be attached (the default).
	ShedAuto ShedMode = ""
	// ShedOn sheds, or Open fails.
	ShedOn ShedMode = "on"
	// ShedOff never attaches the program.
	ShedOff ShedMode = "off"
)

// Options are what a backend needs from the daemon.
type Options struct {
	// Pool gives the buffers received frames are copied into. Required.
	Pool *pkt.Pool
	// Now is the datapath clock in nanoseconds; received frames are
	// stamped with it. nil means wall-clock time.
	Now func() int64
	// Logger receives the rare, rate-limited reports of the receive
	// goroutines (a backend that lost its interface). nil means
	// slog.Default().
	Logger *slog.Logger
	// Polled makes the AF_PACKET and AF_XDP backends the device's
	// RxPoller: the device's worker reads the kernel's ring (TPACKET ring,
	// AF_XDP RX ring) itself, a budget at a time (netdev.RxPoller), and
	// the receive goroutines only wake it. Without it the receive
	// goroutines copy every frame onto the device's RX ring, for users of
	// a device without a datapath worker. The daemon sets it; TAP ignores
	// it.
	Polled bool

	// noVnet keeps PACKET_VNET_HDR (AF_PACKET) and IFF_VNET_HDR (TAP)
	// off (tests of the path without offload metadata).
	noVnet bool
	// txFrags makes the AF_PACKET TX ring hand frames to the kernel as
	// before: the bytes past the Ethernet header as fragments of the
	// ring's pages, not copied into the skb (BenchmarkAFPacketForward
	// compares).
	txFrags bool
	// forceTxV2 makes the AF_PACKET backend take its pre-4.11 path (a
	// TPACKET_V2 TX ring on a socket of its own) on any kernel, so that
	// tests cover the fallback.
	forceTxV2 bool
}

// ErrNotSupported is returned by Open on systems without the backend (any
// system but Linux), and on Linux kernels that lack what it needs
// (AF_PACKET, TPACKET_V3, /dev/net/tun). Test it with errors.Is.
var ErrNotSupported = errors.New("link: not supported")

// ErrBadSpec is wrapped by the errors of a Spec or Options that cannot
// work: an unknown kind, a queue count out of range, a missing interface,
// an interface that is down or not Ethernet.
var ErrBadSpec = errors.New("link: bad spec")

// ifNameSize is IFNAMSIZ less the terminating NUL (include/uapi/linux/if.h).
const ifNameSize = 15

// Stats are what a backend saw, summed over its queues or for one queue.
// The device's own counters (netdev.Counters) count what the datapath
// handed over; these say what became of it at the kernel boundary.
type Stats struct {
	// RxPackets and RxBytes count the frames handed to the device
	// (netdev.Device.Receive), bytes as on the wire (VLAN tag included).
	RxPackets, RxBytes uint64
	// RxDropped counts frames the backend dropped before the device: no
	// buffer (the pool's memory limit), longer than the device's MTU
	// allows or than a buffer holds, or cut short by the ring.
	RxDropped uint64
	// RxKernelDrops counts frames the kernel dropped because the receive
	// ring was full: the backend fell behind (AF_PACKET tp_drops, read
	// with PACKET_STATISTICS).
	RxKernelDrops uint64
	// RxShed counts frames the afpacket port's XDP program dropped while
	// the receive ring was nearly full (Spec.Shed): before the kernel
	// spent anything on them. Counted on queue 0, for the port.
	RxShed uint64
	// RxCsumCompleted counts frames whose TCP/UDP checksum the backend
	// filled in because the kernel handed them over with the checksum
	// left to offload (TP_STATUS_CSUMNOTREADY; see completeChecksum).
	RxCsumCompleted uint64
	// TxPackets and TxBytes count the frames handed to the kernel.
	TxPackets, TxBytes uint64
	// TxDropped counts frames not handed to the kernel: TX ring full
	// (AF_PACKET) or a write that would block (TAP), longer than the
	// link's MTU allows, shorter than an Ethernet header, or sent after
	// Close.
	TxDropped uint64
	// TxErrors counts failed kicks and writes for other reasons: the
	// interface went down or away.
	TxErrors uint64
}

func (s *Stats) add(o Stats) {
	s.RxPackets += o.RxPackets
	s.RxBytes += o.RxBytes
	s.RxDropped += o.RxDropped
	s.RxKernelDrops += o.RxKernelDrops
	s.RxShed += o.RxShed
	s.RxCsumCompleted += o.RxCsumCompleted
	s.TxPackets += o.TxPackets
	s.TxBytes += o.TxBytes
	s.TxDropped += o.TxDropped
	s.TxErrors += o.TxErrors
}

// backend is what a kind implements. Its netdev.TxPort side is what the
// device calls per packet; it is set on the device directly (SetTxPort)
// so that a transmit costs one interface call, not two.
type backend interface {
	netdev.TxPort
	start()
	close() error
	queueStats(q int) Stats
	numQueues() int
}

// Port is a netyard device's attachment to a real interface: Open makes
// it, Start starts its receive goroutines, Close ends them and releases
// the kernel resources. The device transmits through it (Open sets the
// backend as the device's TxPort); Port's own Transmit and Flush do the
// same for callers that hold the Port.
type Port struct {
	kind Kind
	link string
	dev  *netdev.Device
	b    backend
}

// Kind is the backend's kind: KindAFPacket for an xdp device that fell
// back to it.
func (p *Port) Kind() Kind { return p.kind }

// XDPMode says how an AF_XDP port runs: its XDP hook and copy or zero-copy
// ("generic copy", "native zerocopy"); "" for other kinds.
func (p *Port) XDPMode() string {
	if x, ok := p.b.(interface{ xdpMode() string }); ok {
		return x.xdpMode()
	}
	return ""
}

// Shed says how an afpacket port sheds load: "native" or "generic" (the
// XDP hook its program is attached to), "" without the program.
func (p *Port) Shed() string {
	if x, ok := p.b.(interface{ shedMode() string }); ok {
		return x.shedMode()
	}
	return ""
}

// Link is the name of the kernel interface the port moves frames through.
func (p *Port) Link() string { return p.link }

// Queues is the number of backend queues.
func (p *Port) Queues() int { return p.b.numQueues() }

// Start starts the receive goroutines, one per queue. Frames the kernel
// delivered before Start wait in the rings (AF_PACKET) or the TAP queues.
// Calls after the first, and after Close, do nothing.
func (p *Port) Start() { p.b.start() }

// Close stops the receive goroutines, waits for them, and closes the
// sockets or files and unmaps the rings. It is idempotent. The datapath
// must have stopped transmitting on the device first; a Transmit that
// comes later anyway is dropped and counted, never a fault.
func (p *Port) Close() error { return p.b.close() }

// Transmit implements netdev.TxPort.
func (p *Port) Transmit(q int, b *pkt.Buffer, now int64) { p.b.Transmit(q, b, now) }

// Flush implements netdev.TxPort.
func (p *Port) Flush(q int) { p.b.Flush(q) }

// Stats sums the queues' counters.
func (p *Port) Stats() Stats {
	var s Stats
	for q := range p.b.numQueues() {
		s.add(p.b.queueStats(q))
	}
	return s
}

// QueueStats returns queue q's counters (the zero Stats for a queue that
// does not exist).
func (p *Port) QueueStats(q int) Stats {
	if q < 0 || q >= p.b.numQueues() {
		return Stats{}
	}
	return p.b.queueStats(q)
}

var _ netdev.TxPort = (*Port)(nil)

// check validates s and o for d and fills in the defaults: the queue count
// and, for a tap, its name. It makes no system call, so a bad spec fails
// the same way on every system.
func check(d *netdev.Device, s Spec, o *Options) (Spec, error) {
	if d == nil {
		return s, fmt.Errorf("%w: no device", ErrBadSpec)
	}
	switch s.Kind {
	case KindAFPacket:
		if s.Link == "" {
			return s, fmt.Errorf("%w: %s: afpacket needs the interface to attach to (link NAME)", ErrBadSpec, d.Name())
		}
	case KindXDP:
		if s.Link == "" {
			return s, fmt.Errorf("%w: %s: xdp needs the interface to attach to (link NAME)", ErrBadSpec, d.Name())
		}
		switch s.XDPMode {
		case XDPModeAuto, XDPModeNative, XDPModeGeneric:
		default:
			return s, fmt.Errorf("%w: %s: xdp mode %q (want %s or %s)", ErrBadSpec, d.Name(), s.XDPMode, XDPModeNative, XDPModeGeneric)
		}
		if s.ZeroCopy && s.XDPMode == XDPModeGeneric {
			return s, fmt.Errorf("%w: %s: zerocopy needs the driver's XDP hook, not mode generic (where the kernel has copied the frame into an skb already)", ErrBadSpec, d.Name())
		}
	case KindTAP:
		if s.Link == "" {
			s.Link = d.Name()
		}
		if strings.Contains(s.Link, "%") {
			// TUNSETIFF would pick a name from a "%d" template; the
			// user would not know which.
			return s, fmt.Errorf("%w: %s: tap name %q: no %% templates", ErrBadSpec, d.Name(), s.Link)
		}
	case "":
		return s, fmt.Errorf("%w: %s: no kind (want %s, %s or %s)", ErrBadSpec, d.Name(), KindAFPacket, KindXDP, KindTAP)
	default:
		return s, fmt.Errorf("%w: %s: unknown kind %q (want %s, %s or %s)", ErrBadSpec, d.Name(), s.Kind, KindAFPacket, KindXDP, KindTAP)
	}
	switch s.Shed {
	case ShedAuto, ShedOff:
	case ShedOn:
		if s.Kind != KindAFPacket {
			return s, fmt.Errorf("%w: %s: shed is for type afpacket, not %s", ErrBadSpec, d.Name(), s.Kind)
		}
	default:
		return s, fmt.Errorf("%w: %s: shed %q (want %s or %s)", ErrBadSpec, d.Name(), s.Shed, ShedOn, ShedOff)
	}
	if s.Kind != KindXDP && (s.XDPMode != XDPModeAuto || s.ZeroCopy) {
		return s, fmt.Errorf("%w: %s: mode and zerocopy are for type xdp, not %s", ErrBadSpec, d.Name(), s.Kind)
	}
	if len(s.Link) > ifNameSize || strings.ContainsAny(s.Link, "/ \t\n:") || s.Link == "." || s.Link == ".." {
		// The kernel's dev_valid_name rules.
		return s, fmt.Errorf("%w: %s: interface name %q: must be 1..%d bytes without '/', ':' or spaces", ErrBadSpec, d.Name(), s.Link, ifNameSize)
	}
	if s.Queues == 0 {
		s.Queues = d.TxQueues()
	}
	if s.Queues < 1 || s.Queues > netdev.MaxTxQueues {
		return s, fmt.Errorf("%w: %s: %d queues: must be 1..%d", ErrBadSpec, d.Name(), s.Queues, netdev.MaxTxQueues)
	}
	if o.Pool == nil {
		return s, fmt.Errorf("%w: %s: no packet pool (Options.Pool)", ErrBadSpec, d.Name())
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return s, nil
}

// TakesGSO implements netdev.GSOPort: an AF_PACKET port with
// PACKET_VNET_HDR hands GSO frames to the kernel whole.
func (p *Port) TakesGSO() bool {
	g, ok := p.b.(netdev.GSOPort)
	return ok && g.TakesGSO()
}
