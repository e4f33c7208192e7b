package link

// The AF_XDP backend (Documentation/networking/af_xdp.rst), one queue:
//
//	link --> XDP program (bpf_redirect_map by rx queue) --> XSKMAP --> socket q
//	  --> RX ring (descriptors into the UMEM) --> RoutineReceive --> copy --> d.Receive
//	      the frame goes straight back on the fill ring
//	datapath worker --> Transmit (copy into a free UMEM frame, TX descriptor)
//	  ... Flush (publish, sendto only if the kernel asks: need_wakeup)
//	  --> kernel --> completion ring --> the frame is free again
//
// One UMEM (a page-aligned anonymous mapping the kernel pins) is registered
// once, on queue 0's socket; the other queues' sockets share it
// (XDP_SHARED_UMEM) with fill and completion rings of their own, as the
// kernel requires for sockets on different queue ids. The UMEM is cut into
// per-queue regions, so no frame is ever shared between two queues and no
// lock is needed across them: queue q's region holds rxFrames frames that
// circulate between its fill ring, the kernel and its RX ring, and
// xdpTxFrames frames for transmission that circulate between a free stack,
// the TX ring and the completion ring.
//
// The rings are single-producer single-consumer, shared with the kernel
// through mappings of the socket: a producer writes descriptors and then
// publishes its index with a store the kernel reads with acquire semantics
// (Go's atomics are sequentially consistent, which is stronger); a consumer
// reads the producer index with an atomic load before the descriptors.
// Indices are free-running uint32s masked by the ring size.
//
// Reference implementations: the kernel's samples and tools/testing
// (xdpsock, xskxceiver), gVisor's pkg/xdp, OVS's lib/netdev-afxdp.c.

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

// Geometry of a queue. The kernel wants every ring size a power of two.
const (
	// xdpRxFrames is the number of UMEM frames a queue receives into, and
	// the size of its fill and RX rings (they can hold every frame, so
	// the fill ring never refuses one coming back). What arrives while
	// the receive goroutine is not running waits in them: 16384 frames
	// are 80 ms at 200k pps, about what AF_PACKET's 2 MiB ring holds of
	// small frames (~13000). With 4096, BenchmarkForward at 200k pps on
	// the loaded 2-core machine lost 2-15% in the RX ring (rx_ring_full),
	// none in the device's ring behind it. OVS's AF_XDP netdev has as
	// many (4 x 2048 descriptors each way, 4 KiB frames). The price:
	// 32 MiB of pinned memory per queue with 2 KiB frames.
	xdpRxFrames = 16384
	// xdpTxFrames is the number of UMEM frames a queue transmits from, and
	// the size of its TX and completion rings: twice the AF_PACKET TX
	// ring, 16 datapath batches of 64.
	xdpTxFrames = 1024
	// xdpMaxKicks bounds the sendto calls of one Flush (the kernel may
	// stop a kick early: a full device queue, a frame the device dropped,
	// its per-call budget).
	xdpMaxKicks = 8
	// xdpCtxRxQueueIndex is the offset of rx_queue_index in struct xdp_md
	// (data, data_end, data_meta, ingress_ifindex, rx_queue_index).
	xdpCtxRxQueueIndex = 16
	// xdpPass is XDP_PASS: what the program returns for a frame whose
	// queue has no socket (bpf_redirect_map's flags carry the fallback
	// action since Linux 5.3), so that queues netyard does not serve
	// keep reaching the host stack.
	xdpPass = 2
)

// errXDPUnavailable marks an Open failure that the AF_PACKET backend can
// stand in for: the kernel, the privileges or the driver do not allow
// AF_XDP. Open falls back on it, and says why.
var errXDPUnavailable = errors.New("AF_XDP unavailable")

type xdpBackend struct {
	dev     *netdev.Device
	pool    *pkt.Pool
	now     func() int64
	log     *slog.Logger
	logSome rate.Sometimes
	link    string
	info    linkInfo
	maxRx   int

	// frameSize is the UMEM chunk size: 2048, or 4096 for an MTU whose
	// frames do not fit 2048 less the kernel's XDP_PACKET_HEADROOM.
	frameSize int
	umem      []byte
	mode      XDPMode // the hook the program is attached to
	zeroCopy  bool
	// promiscFD is an AF_PACKET socket that receives nothing and holds
	// the interface's promiscuity (PACKET_MR_PROMISC) for the device's
	// life: a forwarder sees every frame on the wire, as a bridge port
	// does, and the kernel undoes it when the socket closes, even if
	// netyard dies.
	promiscFD int
	// closeFD is an eventfd that the receive goroutines of polled mode
	// wait on beside their sockets (waitRx); release makes it readable,
	// and it stays so, to wake them at Close. -1 in push mode.
	closeFD int

	prog  *ebpf.Program
	xsks  *ebpf.Map
	xlink ebpflink.Link
	qs    []*xdpQueue
	// polled: the device's worker reads the RX rings (PollRx, as the
	// AF_PACKET backend's polled mode); rr is the queue its next PollRx
	// starts with.
	polled bool
	rr     int

	mu      sync.Mutex // started, closed
	started bool
	closed  bool
	closing atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup
	retry   chan int

	statsMu   sync.Mutex // the queues' final, fdsClosed
	fdsClosed bool
}

// xdpQueue is one AF_XDP socket with its four rings.
type xdpQueue struct {
	x     *xdpBackend
	index int
	fd    int
	file  *os.File // fd in the runtime poller
	rc    syscall.RawConn
	maps  [][]byte // the rings' mappings, unmapped at close

	// Receive side, owned by RoutineReceive (push mode) or by the
	// device's worker (polled mode: PollRx), under rxMu, which only the
	// unmapping at Close contends for.
	rxMu   sync.Mutex
	rx     descRing
	fill   addrRing
	readFn func(uintptr) bool
	// napi is set while the worker has been woken for this queue and not
	// yet found its RX ring empty: the receive goroutine waits on rearm
	// instead of waking the worker again (NAPI's interrupt mask).
	napi  atomic.Bool
	rearm chan struct{}
	// pfds are the socket and x.closeFD, for waitRx's poll (polled mode).
	pfds [2]unix.PollFd
	// notify wakes the worker that polls this queue when it is not the
	// device's (SetQueueNotify); nil: the device's.
	notify func()
	rxc    rxCounters
	final  unix.XDPStatistics // the kernel's counters at close, under x.statsMu

	_  cacheLinePad
	tx xdpTx
}

// xdpTx is a queue's transmit side, owned by the worker that transmits on
// the queue, under a mutex only Close and the retry goroutine contend for.
type xdpTx struct {
	mu     sync.Mutex
	closed bool
	fd     int
	ring   descRing
	comp   addrRing
	free   []uint64 // UMEM addresses of the frames not in the kernel's hands
	queued bool     // descriptors written and not yet published
	mtu    int
	c      txCounters
}

// ring is the shared part of the four rings: the kernel's producer and
// consumer indices and flags, and our cached copies. For a ring we
// produce into (fill, TX) cached is our producer index and other the
// kernel's consumer index last read; for a ring we consume (RX,
// completion), cached is our consumer index and other the kernel's
// producer index.
type ring struct {
	producer *uint32
	consumer *uint32
	flags    *uint32
	mask     uint32
	size     uint32
	cached   uint32
	other    uint32
}

// addrRing carries UMEM addresses: the fill and completion rings.
type addrRing struct {
	ring
	addrs []uint64
}

// descRing carries descriptors: the RX and TX rings.
type descRing struct {
	ring
	descs []unix.XDPDesc
}

// freeSlots is how many descriptors a producer may write, reading the
// kernel's consumer index only when the cached one says there are fewer
// than want.
func (r *ring) freeSlots(want uint32) uint32 {
	n := r.size - (r.cached - r.other)
	if n < want {
		r.other = atomic.LoadUint32(r.consumer)
		n = r.size - (r.cached - r.other)
	}
	return n
}

// publish hands the written descriptors to the kernel.
func (r *ring) publish() { atomic.StoreUint32(r.producer, r.cached) }

// available is how many descriptors a consumer may read.
func (r *ring) available() uint32 {
	n := r.other - r.cached
	if n == 0 {
		r.other = atomic.LoadUint32(r.producer)
		n = r.other - r.cached
	}
	return n
}

// release gives the read descriptors back to the kernel.
func (r *ring) release() { atomic.StoreUint32(r.consumer, r.cached) }

// needWakeup reports whether the kernel asks for a system call to process
// the ring (XDP_RING_NEED_WAKEUP; always set in copy mode for TX).
func (r *ring) needWakeup() bool { return atomic.LoadUint32(r.flags)&unix.XDP_RING_NEED_WAKEUP != 0 }

// xdpFrameSize picks the UMEM chunk size for frames of up to n bytes, or 0
// when none fits: the kernel puts received data XDP_PACKET_HEADROOM into
// the chunk, and an aligned chunk is 2048 bytes up to a page.
func xdpFrameSize(n int) int {
	for fs := 2048; fs <= os.Getpagesize(); fs <<= 1 {
		if n <= fs-unix.XDP_PACKET_HEADROOM {
			return fs
		}
	}
	return 0
}

func openXDP(d *netdev.Device, s Spec, o Options) (_ *xdpBackend, err error) {
	x := &xdpBackend{
		dev:       d,
		pool:      o.Pool,
		now:       o.Now,
		log:       o.Logger,
		logSome:   rate.Sometimes{Interval: time.Second},
		link:      s.Link,
		maxRx:     maxRxLen(d, o.Pool.DataSize()),
		zeroCopy:  s.ZeroCopy,
		promiscFD: -1,
		closeFD:   -1,
		done:      make(chan struct{}),
		retry:     make(chan int, max(s.Queues, 1)),
		polled:    o.Polled,
	}
	defer func() {
		if err != nil {
			_ = x.release()
			x.unmap()
			x.closeWaker()
		}
	}()
	name := d.Name()
	// Protocol 0: this socket never receives; it looks the link up and
	// holds the promiscuity.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, sysErr(name, "AF_PACKET socket", err)
	}
	x.promiscFD = fd
	if x.info, err = lookupLink(fd, s.Link, name); err != nil {
		return nil, err
	}
	// The longest frame the link carries: its MTU, an Ethernet header
	// and two VLAN tags.
	longest := x.info.mtu + wire.EthHeaderLen + 2*wire.VLANTagLen
	if x.frameSize = xdpFrameSize(longest); x.frameSize == 0 {
		return nil, fmt.Errorf("%w: %s: link %s has MTU %d: its frames (%d bytes) do not fit an AF_XDP frame (%d bytes at most without multi-buffer support)",
			errXDPUnavailable, name, s.Link, x.info.mtu, longest, os.Getpagesize()-unix.XDP_PACKET_HEADROOM)
	}
	mreq := unix.PacketMreq{Ifindex: int32(x.info.index), Type: unix.PACKET_MR_PROMISC}
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return nil, sysErr(name, "PACKET_MR_PROMISC", err)
	}

	if x.polled {
		if x.closeFD, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
			return nil, sysErr(name, "eventfd", err)
		}
	}

	perQueue := (xdpRxFrames + xdpTxFrames) * x.frameSize
	x.umem, err = unix.Mmap(-1, 0, perQueue*s.Queues, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: UMEM of %d MiB: %v", errXDPUnavailable, name, perQueue*s.Queues>>20, err)
	}

	if err := x.loadProgram(name, s.Queues); err != nil {
		return nil, err
	}
	for i := range s.Queues {
		q := &xdpQueue{x: x, index: i, fd: -1}
		q.tx.fd = -1
		q.tx.mtu = x.info.mtu
		q.readFn = q.readRing
		q.rearm = make(chan struct{}, 1)
		x.qs = append(x.qs, q)
		if err := q.open(name, s, uint64(i*perQueue)); err != nil {
			return nil, err
		}
		if err := x.xsks.Put(uint32(i), uint32(q.fd)); err != nil {
			return nil, fmt.Errorf("%w: %s: queue %d: XSKMAP update: %v", errXDPUnavailable, name, i, err)
		}
	}
	// Attached last: from now on every frame of a served queue lands
	// in a socket that has a full fill ring.
	if err := x.attach(name, s.XDPMode); err != nil {
		return nil, err
	}
	if x.polled {
		// The worker reads the RX rings from now on; the receive
		// goroutines (Start) only wake it.
		d.SetRxPoller(x)
	}
	return x, nil
}

// loadProgram makes the XSKMAP and the program that redirects each frame to
// the socket of the queue it arrived on:
//
//	r2 = ctx->rx_queue_index
//	r1 = &xsks
//	r3 = XDP_PASS            // the action when xsks[r2] is empty
//	return bpf_redirect_map(r1, r2, r3)
//
// It is assembled here (cilium/ebpf's asm), so no C compiler or object
// file is needed.
func (x *xdpBackend) loadProgram(name string, queues int) error {
	var err error
	x.xsks, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "netyard_xsks",
		Type:       ebpf.XSKMap,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: uint32(queues),
	})
	if err != nil {
		return fmt.Errorf("%w: %s: XSKMAP: %v%s", errXDPUnavailable, name, err, privHint(err))
	}
	x.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "netyard_xsk",
		Type: ebpf.XDP,
		Instructions: asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, xdpCtxRxQueueIndex, asm.Word),
			asm.LoadMapPtr(asm.R1, x.xsks.FD()),
			asm.Mov.Imm(asm.R3, xdpPass),
			asm.FnRedirectMap.Call(),
			asm.Return(),
		},
		License: "Dual MIT/GPL",
	})
	if err != nil {
		return fmt.Errorf("%w: %s: XDP program: %v%s", errXDPUnavailable, name, err, privHint(err))
	}
	return nil
}

// privHint adds the fix to a permission error.
func privHint(err error) string {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return " (AF_XDP needs CAP_NET_RAW, CAP_NET_ADMIN and CAP_BPF: run as root)"
	}
	return ""
}

// attach attaches the program to the link (a bpf_link: it is detached when
// its file descriptor closes, at Close or when the process dies, so no
// program outlives netyard). mode "" tries the driver's hook first and
// then the generic one; an explicit mode is not traded for another.
func (x *xdpBackend) attach(name string, mode XDPMode) error {
	try := []XDPMode{mode}
	if mode == XDPModeAuto {
		try = []XDPMode{XDPModeNative, XDPModeGeneric}
	}
	var errs []error
	for _, m := range try {
		flags := ebpflink.XDPGenericMode
		if m == XDPModeNative {
			flags = ebpflink.XDPDriverMode
		}
		l, err := ebpflink.AttachXDP(ebpflink.XDPOptions{Program: x.prog, Interface: x.info.index, Flags: flags})
		if err == nil {
			x.xlink, x.mode = l, m
			if len(errs) > 0 {
				// Generic works, at a price the user may not
				// expect (on a veth: the peer's GSO frames do not
				// fit and are dropped): say why native did not.
				x.log.Warn("xdp: the driver refused native XDP; using generic",
					"dev", name, "link", x.link, "reason", errors.Join(errs...))
			}
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w%s%s", m, err, privHint(err), attachHint(err)))
	}
	err := fmt.Errorf("%s: the XDP program could not be attached to %s (another XDP program there, or a driver without XDP): %w", name, x.link, errors.Join(errs...))
	if mode != XDPModeAuto {
		// The user asked for this hook: say so rather than fall back.
		return fmt.Errorf("link: %w (without \"mode %s\" netyard picks what the driver offers)", err, mode)
	}
	return fmt.Errorf("%w: %w", errXDPUnavailable, err)
}

// attachHint explains the errors drivers give for an XDP program they
// will not run (veth's veth_xdp_set, dev_xdp_attach).
func attachHint(err error) string {
	switch {
	case errors.Is(err, unix.ERANGE):
		return " (a veth takes native XDP only while its peer's MTU is below a page less headroom, ~3500)"
	case errors.Is(err, unix.ENOSPC):
		return " (a veth takes native XDP only with as many RX queues as its peer has TX queues)"
	case errors.Is(err, unix.EOPNOTSUPP):
		return " (the driver has no native XDP)"
	case errors.Is(err, unix.EBUSY), errors.Is(err, unix.EEXIST):
		return " (another XDP program is attached)"
	}
	return ""
}

// setsockopt and getsockopt pass structures x/sys/unix has no helper for.
func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if e != 0 {
		return e
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// open sets up queue q: the socket, the UMEM (queue 0) or its share of it,
// the four rings, the fill ring filled, the bind.
func (q *xdpQueue) open(name string, s Spec, base uint64) error {
	x := q.x
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EAFNOSUPPORT) {
			return fmt.Errorf("%w: %s: no AF_XDP sockets in this kernel (CONFIG_XDP_SOCKETS, Linux 4.18): %v", errXDPUnavailable, name, err)
		}
		return fmt.Errorf("%w: %s: AF_XDP socket: %v%s", errXDPUnavailable, name, err, privHint(err))
	}
	q.fd, q.tx.fd = fd, fd
	if q.index == 0 {
		reg := unix.XDPUmemReg{
			Addr: uint64(uintptr(unsafe.Pointer(&x.umem[0]))),
			Len:  uint64(len(x.umem)),
			Size: uint32(x.frameSize),
		}
		// Kernels before 6.8 read the part of the struct they know
		// (tx_metadata_len is 0 anyway).
		if err := setsockopt(fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
			return fmt.Errorf("%w: %s: UMEM registration (%d MiB): %v%s", errXDPUnavailable, name, len(x.umem)>>20, err, privHint(err))
		}
	}
	for _, r := range []struct {
		opt, n int
		what   string
	}{
		{unix.XDP_UMEM_FILL_RING, xdpRxFrames, "fill ring"},
		{unix.XDP_UMEM_COMPLETION_RING, xdpTxFrames, "completion ring"},
		{unix.XDP_RX_RING, xdpRxFrames, "RX ring"},
		{unix.XDP_TX_RING, xdpTxFrames, "TX ring"},
	} {
		n := uint32(r.n)
		if err := setsockopt(fd, r.opt, unsafe.Pointer(&n), 4); err != nil {
			return fmt.Errorf("%w: %s: queue %d: %s of %d: %v", errXDPUnavailable, name, q.index, r.what, r.n, err)
		}
	}
	// Let one kick send a whole TX ring in copy mode (Linux 6.17; the
	// default budget is 32 frames a call). Older kernels refuse it and
	// Flush kicks more often.
	_ = unix.SetsockoptInt(fd, unix.SOL_XDP, unix.XDP_MAX_TX_SKB_BUDGET, xdpTxFrames)

	var off unix.XDPMmapOffsets
	if err := getsockopt(fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fmt.Errorf("%w: %s: XDP_MMAP_OFFSETS: %v", errXDPUnavailable, name, err)
	}
	mapRing := func(pgoff int64, o unix.XDPRingOffset, n, descSize int) (ring, []byte, error) {
		m, err := unix.Mmap(fd, pgoff, int(o.Desc)+n*descSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return ring{}, nil, fmt.Errorf("%w: %s: queue %d: mmap of a ring: %v", errXDPUnavailable, name, q.index, err)
		}
		q.maps = append(q.maps, m)
		return ring{
			producer: (*uint32)(unsafe.Pointer(&m[o.Producer])),
			consumer: (*uint32)(unsafe.Pointer(&m[o.Consumer])),
			flags:    (*uint32)(unsafe.Pointer(&m[o.Flags])),
			mask:     uint32(n - 1),
			size:     uint32(n),
		}, m[o.Desc:], nil
	}
	var d []byte
	if q.fill.ring, d, err = mapRing(unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, xdpRxFrames, 8); err != nil {
		return err
	}
	q.fill.addrs = unsafe.Slice((*uint64)(unsafe.Pointer(&d[0])), xdpRxFrames)
	if q.tx.comp.ring, d, err = mapRing(unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, xdpTxFrames, 8); err != nil {
		return err
	}
	q.tx.comp.addrs = unsafe.Slice((*uint64)(unsafe.Pointer(&d[0])), xdpTxFrames)
	descSize := int(unsafe.Sizeof(unix.XDPDesc{}))
	if q.rx.ring, d, err = mapRing(unix.XDP_PGOFF_RX_RING, off.Rx, xdpRxFrames, descSize); err != nil {
		return err
	}
	q.rx.descs = unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&d[0])), xdpRxFrames)
	if q.tx.ring.ring, d, err = mapRing(unix.XDP_PGOFF_TX_RING, off.Tx, xdpTxFrames, descSize); err != nil {
		return err
	}
	q.tx.ring.descs = unsafe.Slice((*unix.XDPDesc)(unsafe.Pointer(&d[0])), xdpTxFrames)

	// The queue's region: receive frames first, then transmit frames.
	fs := uint64(x.frameSize)
	for i := range uint64(xdpRxFrames) {
		q.fill.addrs[i] = base + i*fs
	}
	q.fill.cached = xdpRxFrames
	q.fill.publish()
	q.tx.free = make([]uint64, 0, xdpTxFrames)
	for i := range uint64(xdpTxFrames) {
		q.tx.free = append(q.tx.free, base+(xdpRxFrames+i)*fs)
	}

	sa := &unix.SockaddrXDP{Ifindex: uint32(x.info.index), QueueID: uint32(q.index)}
	if q.index == 0 {
		sa.Flags = unix.XDP_USE_NEED_WAKEUP | unix.XDP_COPY
		if x.zeroCopy {
			sa.Flags = unix.XDP_USE_NEED_WAKEUP | unix.XDP_ZEROCOPY
		}
	} else {
		// A socket sharing the UMEM takes its mode from the first
		// (the kernel refuses any other flag).
		sa.Flags = unix.XDP_SHARED_UMEM
		sa.SharedUmemFD = uint32(x.qs[0].fd)
	}
	if err := bindXSK(fd, sa); err != nil {
		switch {
		case x.zeroCopy && q.index == 0 && (errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EINVAL)):
			return fmt.Errorf("link: %s: link %s: the driver does not support AF_XDP zero-copy: %w (without \"zerocopy\" the frames are copied)", name, s.Link, err)
		case errors.Is(err, unix.EINVAL) && q.index > 0:
			return fmt.Errorf("%w: %s: queues %d: link %s has no queue %d (a veth gets more with numrxqueues/numtxqueues at creation, a NIC with ethtool -L): %v",
				ErrBadSpec, name, s.Queues, s.Link, q.index, err)
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("%w: %s: link %s queue %d is taken by another AF_XDP socket: %v", errXDPUnavailable, name, s.Link, q.index, err)
		}
		return fmt.Errorf("%w: %s: bind to %s queue %d: %v%s", errXDPUnavailable, name, s.Link, q.index, err, privHint(err))
	}
	if x.polled {
		// Not in the runtime's poller: waitRx polls it only while the
		// worker is away (see there).
		q.pfds = [2]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(x.closeFD), Events: unix.POLLIN}}
		return nil
	}
	if q.file, err = pollFile(fd, "xdp:"+s.Link); err != nil {
		return err
	}
	if q.rc, err = q.file.SyscallConn(); err != nil {
		return sysErr(name, "SyscallConn", err)
	}
	return nil
}

// bindXSK binds an AF_XDP socket, waiting out a queue that a socket closed
// a moment ago still holds: the kernel frees a socket's buffer pool, and
// with it the queue, from a work queue after close (xp_release_deferred),
// so a device closed and opened again at once would find it busy.
func bindXSK(fd int, sa *unix.SockaddrXDP) error {
	var err error
	for wait := time.Millisecond; wait < 512*time.Millisecond; wait *= 2 {
		if err = unix.Bind(fd, sa); !errors.Is(err, unix.EBUSY) {
			return err
		}
		time.Sleep(wait)
	}
	return err
}

func (x *xdpBackend) numQueues() int { return len(x.qs) }

// xdpMode says how the device runs: the hook and copy or zero-copy.
func (x *xdpBackend) xdpMode() string {
	if x.zeroCopy {
		return string(x.mode) + " zerocopy"
	}
	return string(x.mode) + " copy"
}

func (x *xdpBackend) start() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.started || x.closed {
		return
	}
	x.started = true
	for _, q := range x.qs {
		x.wg.Add(1)
		go q.RoutineReceive()
	}
	x.wg.Add(1)
	go routineRetry(&x.wg, x.done, x.retry, x.Flush)
}

// RoutineReceive serves the queue's RX ring until Close. The socket is
// readable when its RX ring is not empty (xsk_poll), and the kernel wakes
// its waiters when it adds to the ring. In push mode it waits in the
// runtime's poller and copies the frames onto the device's RX ring itself
// (readRing); in polled mode it only wakes the worker, which reads the
// ring (PollRx), and then waits until the worker has found the ring empty
// before it looks again (waitRx, rearm), as the AF_PACKET backend does.
func (q *xdpQueue) RoutineReceive() {
	x := q.x
	defer x.wg.Done()
	var backoff *time.Timer
	for !x.closing.Load() {
		var err error
		if x.polled {
			err = q.waitRx()
		} else {
			err = q.rc.Read(q.readFn)
		}
		if x.closing.Load() || errors.Is(err, os.ErrClosed) {
			return
		}
		if err == nil {
			if !x.polled {
				return
			}
			q.napi.Store(true)
			if q.notify != nil {
				q.notify()
			} else {
				x.dev.Notify()
			}
			select {
			case <-x.done:
				return
			case <-q.rearm:
			}
			continue
		}
		x.logSome.Do(func() {
			x.log.Warn("xdp: receive wait failed; retrying", "dev", x.dev.Name(), "link", x.link, "queue", q.index, "err", err)
		})
		if backoff == nil {
			backoff = time.NewTimer(errorBackoff)
		} else {
			backoff.Reset(errorBackoff)
		}
		select {
		case <-x.done:
			return
		case <-backoff.C:
		}
	}
}

// waitRx returns when the RX ring has descriptors the worker has not
// released, or at Close (polled mode). It polls the socket in a blocking
// poll(2) of its own rather than in the runtime's poller, so that the
// socket has a waiter only while this goroutine waits, that is while the
// worker is away from the ring: the runtime's poller would keep an epoll
// entry on the socket's wait queue for good, and the kernel would take
// that queue's lock to wake it every time it adds to the ring, whoever
// reads it (sock_def_readable at each XDP flush, in the sender's NAPI poll
// on a veth: ~5% of the sending CPU's time at 750k pps on this kind of
// VM, where the lock's interrupt restore is costly; without a waiter it
// is a load and a compare). The thread blocked here is the idle path's.
func (q *xdpQueue) waitRx() error {
	for !q.waitReady(0) {
		if _, err := unix.Poll(q.pfds[:], -1); err != nil && err != unix.EINTR {
			return err
		}
	}
	return nil
}

// waitReady is the polled mode's readiness check: true when the RX ring
// has descriptors the worker has not released (or at Close), false to
// wait for the kernel to add some. It reads both indices and writes
// nothing, so it runs beside the worker's poll.
func (q *xdpQueue) waitReady(uintptr) bool {
	if q.x.closing.Load() {
		return true
	}
	return atomic.LoadUint32(q.rx.producer) != atomic.LoadUint32(q.rx.consumer)
}

// PollRx implements netdev.RxPoller (polled mode): it fills dst from the
// queues' RX rings, taking turns at which queue goes first. The RX ring
// is where frames wait while the worker is busy: when it is full the
// kernel drops at the XDP redirect (rx_ring_full: RxKernelDrops), in the
// receiving NAPI poll, before netyard has spent anything on the frame.
func (x *xdpBackend) PollRx(dst []*pkt.Buffer, now int64) int {
	return pollQueues(x.qs, &x.rr, dst, now)
}

// RxQueues, PollRxQueue and SetQueueNotify implement netdev.QueuePoller:
// each queue's RX and fill rings are its own (rxMu), so queue q can be
// polled by one worker while another polls queue r.
func (x *xdpBackend) RxQueues() int { return len(x.qs) }

// PollRxQueue is PollRx for queue q alone (0 for a queue out of range).
func (x *xdpBackend) PollRxQueue(q int, dst []*pkt.Buffer, now int64) int {
	if uint(q) >= uint(len(x.qs)) {
		return 0
	}
	return x.qs[q].poll(dst, now)
}

// SetQueueNotify makes queue q's receive goroutine wake f instead of the
// device's worker. Set before Start.
func (x *xdpBackend) SetQueueNotify(q int, f func()) {
	if uint(q) < uint(len(x.qs)) {
		x.qs[q].notify = f
	}
}

// RxCoalesce implements netdev.RxCoalescer: the RX ring shows each frame
// as soon as the kernel has written it, so frames a sender paces one by
// one would each wake the worker; it defers its park instead.
func (x *xdpBackend) RxCoalesce() bool { return true }

// poll is PollRx for one queue: up to len(dst) frames copied out of the
// UMEM, their chunks straight back on the fill ring. A poll that leaves
// the ring empty rearms the receive goroutine (napi_complete).
func (q *xdpQueue) poll(dst []*pkt.Buffer, now int64) int {
	x := q.x
	n := 0
	q.rxMu.Lock()
	if q.rx.descs != nil {
		chunk := ^uint64(x.frameSize - 1)
		avail := q.rx.available()
		took := uint32(0)
		for took < avail && n < len(dst) {
			d := &q.rx.descs[q.rx.cached&q.rx.mask]
			q.rx.cached++
			took++
			if p := q.receive(d); p != nil {
				p.Time = now
				dst[n] = p
				n++
			}
			q.fill.addrs[q.fill.cached&q.fill.mask] = d.Addr & chunk
			q.fill.cached++
		}
		if took > 0 {
			q.rx.release()
			q.fill.publish()
			if q.fill.needWakeup() {
				kickRx(q.fd)
			}
		}
	}
	q.rxMu.Unlock()
	if n < len(dst) && q.napi.Load() {
		q.napi.Store(false)
		select {
		case q.rearm <- struct{}{}:
		default:
		}
	}
	return n
}

// readRing hands every frame in the RX ring to the device, each frame's
// UMEM chunk going straight back onto the fill ring, until the ring is
// empty (false: wait) or Close (true). No system call unless the kernel
// asks for one to see the refilled fill ring (need_wakeup, zero-copy
// drivers).
func (q *xdpQueue) readRing(uintptr) bool {
	x := q.x
	chunk := ^uint64(x.frameSize - 1)
	for !x.closing.Load() {
		q.rxMu.Lock()
		n := q.rx.available()
		if n == 0 {
			q.rxMu.Unlock()
			return false
		}
		// The fill ring can hold every frame of the queue, so it has
		// room for the n coming back: no need to look.
		now := x.now()
		for range n {
			d := &q.rx.descs[q.rx.cached&q.rx.mask]
			q.rx.cached++
			if p := q.receive(d); p != nil {
				x.dev.Receive(p, now)
			}
			q.fill.addrs[q.fill.cached&q.fill.mask] = d.Addr & chunk
			q.fill.cached++
		}
		q.rx.release()
		q.fill.publish()
		if q.fill.needWakeup() {
			kickRx(q.fd)
		}
		q.rxMu.Unlock()
	}
	return true
}

// kickTx asks the kernel to transmit what the TX ring holds (copy mode
// transmits inside the call: skbs built, the driver's xmit, and the veth
// peer's receive in the softirq at its end). It is a raw system call: it
// never blocks (MSG_DONTWAIT, at most 32 frames a call), and the runtime's
// entersyscall would wake its monitor thread (sysmon) from its deep sleep
// at every kick of a worker that had been idle: a context switch to that
// thread per batch, 18% of the daemon's CPU at 100k pps.
func kickTx(fd int) unix.Errno {
	_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	return e
}

// kickRx tells the kernel the fill ring has frames again (need_wakeup on
// the fill ring: zero-copy drivers); raw, as kickTx.
func kickRx(fd int) {
	_, _, _ = unix.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
}

// receive copies one frame out of the UMEM into a buffer, or returns nil
// for a frame it drops (counted). The kernel's descriptor is checked
// against the UMEM anyway, so a bad one is a counted drop, not a
// bounds-check panic.
func (q *xdpQueue) receive(d *unix.XDPDesc) *pkt.Buffer {
	x := q.x
	n := int(d.Len)
	switch {
	case d.Addr+uint64(d.Len) > uint64(len(x.umem)) || n < wire.EthHeaderLen:
		q.rxc.dropped.add(1)
		return nil
	case n > x.maxRx:
		q.rxc.dropped.add(1)
		return nil
	}
	p, err := x.pool.Get()
	if err != nil {
		q.rxc.dropped.add(1)
		return nil
	}
	_ = p.Resize(n) // n <= maxRx <= the pool's DataSize
	copy(p.Data(), x.umem[d.Addr:d.Addr+uint64(d.Len)])
	// AF_XDP says nothing of CHECKSUM_PARTIAL (a frame from the local
	// stack of a veth peer's namespace): recognise it by its field.
	if completePartialChecksum(p.Data()) {
		q.rxc.csum.add(1)
	}
	q.rxc.packets.add(1)
	q.rxc.bytes.add(uint64(n))
	return p
}

// txq maps a datapath TX queue onto a backend queue, modulo as afpacket.
func (x *xdpBackend) txq(q int) *xdpTx {
	if n := len(x.qs); uint(q) >= uint(n) {
		q = max(q, 0) % n
	}
	return &x.qs[q].tx
}

// Transmit copies p into a free UMEM frame and writes its TX descriptor;
// Flush publishes the batch. It never blocks: with no free frame (the
// kernel still holds them all) or a frame the link would refuse, p is
// dropped and counted.
func (x *xdpBackend) Transmit(q int, p *pkt.Buffer, _ int64) {
	t := x.txq(q)
	frame := p.Data()
	t.mu.Lock()
	switch {
	case t.closed || !txFits(frame, t.mtu) || len(frame) > x.frameSize:
		t.c.dropped.add(1)
	default:
		if len(t.free) == 0 {
			t.reclaim()
		}
		if len(t.free) == 0 || t.ring.freeSlots(1) == 0 {
			t.c.dropped.add(1)
			break
		}
		addr := t.free[len(t.free)-1]
		t.free = t.free[:len(t.free)-1]
		copy(x.umem[addr:addr+uint64(x.frameSize)], frame)
		t.ring.descs[t.ring.cached&t.ring.mask] = unix.XDPDesc{Addr: addr, Len: uint32(len(frame))}
		t.ring.cached++
		t.queued = true
		t.c.packets.add(1)
		t.c.bytes.add(uint64(len(frame)))
	}
	t.mu.Unlock()
	p.Release()
}

// reclaim takes the frames the kernel has finished with off the completion
// ring.
func (t *xdpTx) reclaim() {
	n := t.comp.available()
	for range n {
		t.free = append(t.free, t.comp.addrs[t.comp.cached&t.comp.mask])
		t.comp.cached++
	}
	if n > 0 {
		t.comp.release()
	}
}

// Flush publishes queue q's descriptors and, when the kernel flags the TX
// ring need_wakeup (always in copy mode: it transmits inside the system
// call), kicks it with sendto(MSG_DONTWAIT). A kick that stops early is
// retried a few times here and then by the retry goroutine:
//
//   - EAGAIN: the per-call budget ran out, the completion ring is full,
//     or the device queue was busy (the frame stays in the ring);
//   - EBUSY: the device dropped frames (NET_XMIT_DROP: a veth whose
//     peer's backlog is full or whose carrier is off); the kernel
//     completed them and does not say how many (Linux 6.18 goes on
//     after a drop and reports it at the end; older kernels stopped at
//     it), so the kick counts one TxError and the frames stay counted
//     as handed to the kernel: the interface's own counters (ip -s link,
//     TX dropped) have the number;
//   - ENOBUFS, EINTR: try again;
//   - ENETDOWN, ENXIO: the link is down or gone; the frames wait in the
//     ring (or are dropped at Transmit when it is full) and the error is
//     counted.
func (x *xdpBackend) Flush(q int) {
	t := x.txq(q)
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return
	}
	if t.queued {
		t.ring.publish()
		t.queued = false
	}
	hard := false
	for range xdpMaxKicks {
		if atomic.LoadUint32(t.ring.consumer) == t.ring.cached {
			break // the kernel took everything
		}
		if !t.ring.needWakeup() {
			break // the driver's NAPI takes it (zero-copy)
		}
		e := kickTx(t.fd)
		t.reclaim()
		if e == 0 || e == unix.EAGAIN || e == unix.ENOBUFS || e == unix.EINTR {
			continue
		}
		t.c.errors.add(1)
		if e != unix.EBUSY {
			// ENETDOWN, ENXIO: no retry loop while the link is
			// down; the frames go with the next Flush after it.
			hard = true
			break
		}
	}
	t.reclaim()
	pending := !hard && atomic.LoadUint32(t.ring.consumer) != t.ring.cached && t.ring.needWakeup()
	t.mu.Unlock()
	if pending {
		select {
		case x.retry <- q:
		default:
		}
	}
}

// stats reads the socket's XDP_STATISTICS (cumulative, not reset by a
// read); after Close, the values read at Close. Called under x.statsMu.
func (x *xdpBackend) stats(q *xdpQueue) unix.XDPStatistics {
	if x.fdsClosed || q.fd < 0 {
		return q.final
	}
	var st unix.XDPStatistics
	if getsockopt(q.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)) == nil {
		q.final = st
	}
	return q.final
}

func (x *xdpBackend) queueStats(i int) Stats {
	q := x.qs[i]
	var s Stats
	s.addRx(&q.rxc)
	s.addTx(&q.tx.c)
	x.statsMu.Lock()
	st := x.stats(q)
	x.statsMu.Unlock()
	// Frames the kernel could not put on the RX ring (full: we fell
	// behind) or into a frame (none on the fill ring, or too long).
	s.RxKernelDrops = st.Rx_dropped + st.Rx_ring_full
	// Descriptors the kernel refused: our bug if ever non-zero.
	s.TxErrors += st.Tx_invalid_descs
	s.RxDropped += st.Rx_invalid_descs
	return s
}

func (x *xdpBackend) close() error {
	x.mu.Lock()
	if x.closed {
		x.mu.Unlock()
		return nil
	}
	x.closed = true
	x.mu.Unlock()

	x.closing.Store(true)
	close(x.done)
	err := x.release()
	x.wg.Wait()
	x.unmap()
	x.closeWaker()
	return err
}

// closeWaker closes the eventfd of polled mode, once no receive goroutine
// polls it.
func (x *xdpBackend) closeWaker() {
	if x.closeFD >= 0 {
		_ = unix.Close(x.closeFD)
		x.closeFD = -1
	}
}

// release detaches the program (frames go to the stack again), stops
// transmission and closes the sockets, which wakes the receive goroutines.
// The rings and the UMEM stay mapped until they have exited: close unmaps
// after wg.Wait.
func (x *xdpBackend) release() error {
	var errs []error
	if x.xlink != nil {
		errs = append(errs, x.xlink.Close())
		x.xlink = nil
	}
	for _, q := range x.qs {
		q.tx.mu.Lock()
		q.tx.closed = true
		q.tx.mu.Unlock()
	}
	x.statsMu.Lock()
	for _, q := range x.qs {
		x.stats(q)
	}
	x.fdsClosed = true
	x.statsMu.Unlock()
	if x.closeFD >= 0 {
		// Wakes polled mode's receive goroutines (waitRx) before
		// their sockets go; it stays readable until closeWaker.
		one := uint64(1)
		_, _ = unix.Write(x.closeFD, (*[8]byte)(unsafe.Pointer(&one))[:])
	}
	for _, q := range x.qs {
		switch {
		case q.file != nil:
			errs = append(errs, q.file.Close())
		case q.fd >= 0:
			errs = append(errs, unix.Close(q.fd))
		}
	}
	if x.prog != nil {
		errs = append(errs, x.prog.Close())
		x.prog = nil
	}
	if x.xsks != nil {
		errs = append(errs, x.xsks.Close())
		x.xsks = nil
	}
	if x.promiscFD >= 0 {
		errs = append(errs, unix.Close(x.promiscFD))
		x.promiscFD = -1
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("link: %s: close: %w", x.dev.Name(), err)
	}
	return nil
}

// unmap releases the rings' mappings and the UMEM, once nothing reads
// them.
func (x *xdpBackend) unmap() {
	for _, q := range x.qs {
		// Under rxMu: a polled worker may be reading the rings.
		q.rxMu.Lock()
		for _, m := range q.maps {
			_ = unix.Munmap(m)
		}
		q.maps = nil
		q.rx.descs, q.fill.addrs, q.tx.ring.descs, q.tx.comp.addrs = nil, nil, nil, nil
		q.rxMu.Unlock()
	}
	if x.umem != nil {
		_ = unix.Munmap(x.umem)
		x.umem = nil
	}
}
