package link

// The AF_PACKET backend, one queue:
//
//	peer --> kernel --> RX ring (TPACKET_V3 blocks) --> RoutineReceive --> d.Receive
//	                                                    (waits in the poller)
//	datapath worker --> Transmit (fill TX ring) ... Flush (one sendto) --> kernel --> link
//
// A queue is one socket with both rings in one mapping (RX first, as
// packet_mmap wants). The receive goroutine owns the RX ring; the worker
// that owns the device owns the TX ring, under a mutex only Close
// contends for. Queues > 1 join a PACKET_FANOUT group so that the kernel
// spreads received flows over the sockets.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
	"golang.org/x/time/rate"

	"netyard/netdev"
	"netyard/pkt"
)

// Ring geometry. The numbers and their reasons are in doc.go.
const (
	// rxBlockMin is the smallest TPACKET_V3 block: 32 KiB holds ~200
	// frames of 64 bytes or ~20 of 1514. At low rates blocks retire on
	// the timeout part-full, so the ring's depth in time is blocks x
	// timeout whatever their size: 64 small blocks cover 128 ms of a
	// reader that does not run (a worker descheduled on a busy CPU),
	// where 16 blocks of 128 KiB covered 32 ms and lost frames at 100k
	// pps on the shared machine. Blocks grow (rxGeometry) so that one
	// holds the link's longest frame.
	rxBlockMin = 32 << 10
	// rxRingBytes is the ring's size per queue: 2 MiB, ~13000 small
	// frames or ~1300 full-size ones, above netdev_max_backlog (1000),
	// so a burst the kernel would queue fits; rxBlocksMin bounds the
	// block count from below for jumbo links.
	rxRingBytes = 2 << 20
	rxBlocksMin = 16
	// rxRetireTimeout (ms) bounds how long a frame waits in a block that
	// is not full: the latency floor at low rates. The kernel's default
	// (prb_calc_retire_blk_tmo) derives from the link speed and the
	// block size, 8 ms for a link of unknown speed; 2 ms keeps a ping
	// through netyard within a few ms while idle wake-ups stay at 500/s.
	rxRetireTimeout = 2
	// rxBatch is how many frames a receive goroutine (push mode) copies
	// between two looks at Close: a datapath batch.
	rxBatch = 64
	// rxFrameSize is only bookkeeping for TPACKET_V3 (frames are packed
	// in the block), but the request must be self-consistent.
	rxFrameSize = 2048

	// txFrames is the TX ring depth per queue: 8 datapath batches of 64,
	// so that a batch fits while the kernel still holds the previous
	// ones (a slot comes back when its skb is freed, see doc.go).
	txFrames = 512
	// txRingMax bounds the TX ring's memory for jumbo MTUs.
	txRingMax = 4 << 20
	// txBlockSize is the TX ring's allocation unit (frames never span
	// blocks): 64 KiB keeps allocations order-4 at most.
	txBlockSize = 64 << 10

	// sndBuf is the socket send buffer: in-flight TX skbs are charged to
	// it, and a full one makes the kick stop early (sock_alloc_send_skb
	// fails), so it must hold a full TX ring of skbs.
	sndBuf = 4 << 20

	// tpacket3HdrLen and tpacket2HdrLen are TPACKET_ALIGN(sizeof(struct
	// tpacket3_hdr)) and ..._hdr2: where a TX frame's data starts
	// (tpacket_parse_header without PACKET_TX_HAS_OFF), and where the
	// sockaddr_ll of an RX frame sits.
	tpacket3HdrLen = 48
	tpacket2HdrLen = 32
	// sllPkttypeOff is sll_pkttype's offset in struct sockaddr_ll.
	sllPkttypeOff = 10
	// blockHdrOff is where struct tpacket_hdr_v1 starts in a block
	// (after tpacket_block_desc's version and offset_to_priv).
	blockHdrOff = 8

	// maxKicks bounds the sendto calls of one Flush: the kernel stops
	// a kick at the first frame the device refused (ENOBUFS: a veth
	// peer's backlog was full) and leaves it for the next kick; by then
	// the backlog has usually drained. A link that is down costs the
	// worker maxKicks failing calls per batch.
	maxKicks = 4
)

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

type afpacket struct {
	dev     *netdev.Device
	pool    *pkt.Pool
	now     func() int64
	log     *slog.Logger
	logSome rate.Sometimes
	link    string
	info    linkInfo
	maxRx   int
	qs      []*afQueue
	// polled: the device's worker reads the rings (PollRx); rr is the
	// queue its next PollRx starts with.
	polled bool
	rr     int
	// vnet: the sockets have PACKET_VNET_HDR, so frames come with a
	// virtio_net_hdr (GSO super-frames whole, partial checksums with
	// their offsets) and the TX ring's frames take one. gsoLog is the
	// once-only report of a frame that could not keep its offloads.
	vnet   bool
	gsoLog sync.Once
	// shed is the load-shedding XDP program (shed_linux.go), nil when
	// there is none; shedHigh and shedLow are the rings' watermarks in
	// unread blocks; levels are the queues' drop levels (the port's is
	// the highest), levelMu makes a queue's store and the port's
	// maximum one step, so that two queues lowering their levels at
	// once cannot leave a stale maximum published (which no read would
	// correct: a port dropping everything receives nothing).
	shed              *shedder
	shedHigh, shedLow int
	levels            []atomic.Uint32
	levelMu           sync.Mutex

	mu      sync.Mutex // started, closed
	started bool
	closed  bool
	closing atomic.Bool
	done    chan struct{}
	wg      sync.WaitGroup
	// retry takes the queues whose Flush left frames marked: the retry
	// goroutine kicks them again a millisecond later, so the tail of a
	// burst does not wait for the next transmission.
	retry chan int

	statsMu   sync.Mutex // the queues' kernDrop, fdsClosed
	fdsClosed bool
}

// afQueue is one socket with its rings.
type afQueue struct {
	a     *afpacket
	index int
	fd    int
	file  *os.File // fd in the runtime poller
	rc    syscall.RawConn
	mem   []byte // the socket's mapping: RX ring, then TX ring (V3)

	// Receive side. The reader is the device's worker (Options.Polled:
	// PollRx) or the queue's receive goroutine; rxMu serialises it with
	// the unmapping at Close, taken once per batch, never contended on
	// the fast path.
	rxMu    sync.Mutex
	rx      []byte
	blkSize int // the ring's block size and count (rxGeometry)
	blocks  int
	next    int // the block being read, or to read next
	// inBlock says block next is being read: off is its next frame's
	// offset, left the frames left in it, blkNow its arrival time.
	inBlock bool
	off     int
	left    int
	blkNow  int64
	// shedLevel is this queue's drop level (shedLevel: RED's ramp on
	// its ring's unread blocks); owned by the
	// reader.
	shedLevel uint32
	// head is next, published for the receive goroutine's readiness
	// check (ready).
	head   atomic.Int32
	readFn func(uintptr) bool
	waitFn func(uintptr) bool
	// napi is set while the worker has been woken for this queue and
	// not yet found it empty: the receive goroutine waits on rearm
	// instead of waking the worker again for every retired block
	// (NAPI's interrupt mask).
	napi     atomic.Bool
	rearm    chan struct{}
	batch    [rxBatch]*pkt.Buffer // the receive goroutine's batch (push mode)
	rxc      rxCounters
	kernDrop uint64 // tp_drops summed, under a.statsMu

	_  cacheLinePad
	tx txRing
}

// txRing is a memory-mapped TX ring: TPACKET_V3 on the queue's socket, or
// TPACKET_V2 on a socket of its own on kernels before 4.11 (V3 TX rings
// came with "af_packet: TX_RING support for TPACKET_V3" in 4.11).
type txRing struct {
	mu        sync.Mutex
	closed    bool
	fd        int
	ownSocket bool   // fd is a TX-only socket (the V2 fallback)
	mem       []byte // the TX-only socket's mapping; nil when it shares the queue's
	ring      []byte
	frameSize int
	frames    int
	head      int // the next slot to fill
	last      int // the slot filled last, -1 before the first
	// tail is the oldest slot that may still be marked: the kernel's
	// position. stuck counts the Flushes that left it marked.
	tail      int
	stuck     int
	givenUp   bool // the frame at tail is already given up (counted)
	statusOff int  // tp_status in the frame header
	lenOff    int  // tp_len
	dataOff   int
	mtu       int
	kick      bool // frames wait for a sendto
	// vnet: each slot's data starts with a virtio_net_hdr (the
	// socket has PACKET_VNET_HDR). gsoFd is a socket without a ring,
	// with PACKET_VNET_HDR, for frames longer than a slot (GSO
	// super-frames): a socket with a TX ring sends only from it.
	vnet  bool
	gsoFd int
	// frags: the old way, a frame's bytes past the Ethernet header left
	// as fragments of the ring's pages (Options.txFrags, benchmarks).
	frags bool
	c     txCounters
}

func openAFPacket(d *netdev.Device, s Spec, o Options) (_ *afpacket, err error) {
	a := &afpacket{
		dev:     d,
		pool:    o.Pool,
		now:     o.Now,
		log:     o.Logger,
		logSome: rate.Sometimes{Interval: time.Second},
		link:    s.Link,
		maxRx:   maxRxLen(d, o.Pool.DataSize()),
		done:    make(chan struct{}),
		retry:   make(chan int, max(s.Queues, 1)),
		polled:  o.Polled,
	}
	defer func() {
		if err != nil {
			_ = a.release()
		}
	}()
	fanoutID := -1
	for i := range s.Queues {
		q := &afQueue{a: a, index: i, fd: -1}
		q.tx.fd, q.tx.last, q.tx.gsoFd = -1, -1, -1
		q.readFn = q.readRing
		q.waitFn = q.waitReady
		q.rearm = make(chan struct{}, 1)
		a.qs = append(a.qs, q)
		if err := q.open(d.Name(), s, o, &fanoutID); err != nil {
			return nil, err
		}
	}
	if err := a.openShed(s); err != nil {
		return nil, err
	}
	if a.polled {
		// The worker may read the rings from now on; the receive
		// goroutines (Start) only wake it.
		d.SetRxPoller(a)
	}
	return a, nil
}

// openShed attaches the load-shedding program (Spec.Shed): last, once the
// rings exist. Where it cannot be had and the user did not ask for it,
// the port works as before and the log says why.
func (a *afpacket) openShed(s Spec) error {
	if s.Shed == ShedOff {
		return nil
	}
	sh, err := openShedder(s.Link, a.info.index)
	if err != nil {
		if s.Shed == ShedOn {
			return fmt.Errorf("link: %s: shed on: %w", a.dev.Name(), err)
		}
		a.log.Warn("afpacket: no load shedding (an overloaded netyard will lose capacity to the kernel's work for frames it drops); \"shed off\" silences this",
			"dev", a.dev.Name(), "link", s.Link, "reason", err)
		return nil
	}
	a.shed = sh
	a.shedHigh, a.shedLow = shedWatermarks(a.qs[0].blocks)
	a.levels = make([]atomic.Uint32, len(a.qs))
	return nil
}

func (a *afpacket) shedMode() string {
	if a.shed == nil {
		return ""
	}
	return string(a.shed.mode)
}

// admit updates the queue's drop level after a read of its ring (RED's
// ramp on the unread blocks, shed_linux.go), and the port's, the highest
// of its queues'. The kernel retires blocks in ring order, so the unread
// blocks are a run from q.next: one load says whether the run reaches
// shedLow, a binary search how long it is. The caller holds rxMu.
func (q *afQueue) admit() {
	a := q.a
	unread := a.shedLow // at most
	if q.userBlock(a.shedLow) {
		lo, hi := a.shedLow, q.blocks // block next+lo is the user's; next+hi is the kernel's, or past the ring
		for hi-lo > 1 {
			if mid := (lo + hi) / 2; q.userBlock(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		unread = hi
	}
	level := shedLevel(unread, a.shedLow, a.shedHigh)
	if level == q.shedLevel {
		return
	}
	q.shedLevel = level
	a.levelMu.Lock() // only at a change of level
	a.levels[q.index].Store(level)
	var port uint32
	for i := range a.levels {
		port = max(port, a.levels[i].Load())
	}
	a.shed.set(port)
	a.levelMu.Unlock()
	if port != 0 {
		a.shed.want()
	}
}

// userBlock reports whether the ring's block k places after q.next is
// retired to the user.
func (q *afQueue) userBlock(k int) bool {
	blk := (q.next + k) % q.blocks
	h := (*unix.TpacketHdrV1)(unsafe.Pointer(&q.rx[blk*q.blkSize+blockHdrOff]))
	return atomic.LoadUint32(&h.Block_status)&unix.TP_STATUS_USER != 0
}

// open sets up queue q: socket, options, rings, mapping, bind, fanout.
func (q *afQueue) open(devName string, s Spec, o Options, fanoutID *int) error {
	a := q.a
	// Protocol 0: the socket receives nothing until bind, so no frame
	// lands in it before it has a ring.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sysErr(devName, "AF_PACKET socket", err)
	}
	q.fd = fd
	if q.index == 0 {
		if a.info, err = lookupLink(fd, s.Link, devName); err != nil {
			return err
		}
	}
	q.tx.mtu = a.info.mtu
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: %s: TPACKET_V3 (Linux 3.2): %v", ErrNotSupported, devName, err)
		}
		return sysErr(devName, "PACKET_VERSION", err)
	}
	if err := txSocketOptions(fd, devName); err != nil {
		return err
	}
	// Our own transmissions are not receptions. Where the kernel has no
	// PACKET_IGNORE_OUTGOING (before 4.20) the sll_pkttype check in
	// readBlock does the same, a little later.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	// Offloads (issue 16): with a virtio_net_hdr per frame the kernel
	// hands GSO super-frames over whole, with the metadata to send them
	// on as they are, instead of frames too long for the ring. All the
	// queues do the same as the first; before the rings (EBUSY after).
	if q.index == 0 {
		a.vnet = !o.noVnet && unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1) == nil
	} else if a.vnet {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return sysErr(devName, "PACKET_VNET_HDR", err)
		}
	}
	ringMTU := a.info.mtu
	if a.vnet {
		ringMTU = max(ringMTU, pkt.GSODataSize)
	}
	q.blkSize, q.blocks = rxGeometry(ringMTU)
	rxReq := unix.TpacketReq3{
		Block_size:     uint32(q.blkSize),
		Block_nr:       uint32(q.blocks),
		Frame_size:     rxFrameSize,
		Frame_nr:       uint32(q.blkSize / rxFrameSize * q.blocks),
		Retire_blk_tov: rxRetireTimeout,
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &rxReq); err != nil {
		return sysErr(devName, "PACKET_RX_RING", err)
	}
	rxLen := q.blkSize * q.blocks

	txHdr := tpacket3HdrLen
	if a.vnet {
		txHdr += vnetHdrLen
	}
	geo := txGeometry(txHdr, a.info.mtu)
	shared := !o.forceTxV2
	if shared {
		txReq := unix.TpacketReq3{
			Block_size: uint32(geo.blockSize),
			Block_nr:   uint32(geo.blocks),
			Frame_size: uint32(geo.frameSize),
			Frame_nr:   uint32(geo.frames),
		}
		err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &txReq)
		switch {
		case errors.Is(err, unix.EINVAL):
			shared = false // before 4.11: no V3 TX ring
		case err != nil:
			return sysErr(devName, "PACKET_TX_RING", err)
		}
	}
	mapLen := rxLen
	if shared {
		mapLen += geo.frameSize * geo.frames
	}
	q.mem, err = unix.Mmap(fd, 0, mapLen, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return sysErr(devName, "mmap of the packet rings", err)
	}
	q.rx = q.mem[:rxLen]
	if shared {
		q.tx.setRing(fd, q.mem[rxLen:], geo, tpacket3HdrLen)
		if a.vnet {
			q.tx.vnet, q.tx.frags = true, o.txFrags
			if err := q.tx.openGSO(devName, a.info); err != nil {
				return err
			}
		}
	} else if err := q.tx.openV2(devName, a.info); err != nil {
		return err
	}

	// A socket that is to join the fanout group receives on its own
	// from bind until it joins (the kernel needs it bound first): frames
	// the group also gets. A filter that drops everything covers the
	// window.
	joining := s.Queues > 1 && q.index > 0
	if joining {
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &dropAll); err != nil {
			return sysErr(devName, "SO_ATTACH_FILTER", err)
		}
	}
	sll := unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: a.info.index}
	if err := unix.Bind(fd, &sll); err != nil {
		return sysErr(devName, fmt.Sprintf("bind to %s", s.Link), err)
	}
	if q.index == 0 {
		// A forwarder sees every frame on the wire, as a bridge port
		// does (br_add_if sets promiscuity). The membership ends with
		// the socket.
		mreq := unix.PacketMreq{Ifindex: int32(a.info.index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return sysErr(devName, "PACKET_MR_PROMISC", err)
		}
	}
	if s.Queues > 1 {
		if err := q.joinFanout(devName, fanoutID); err != nil {
			return err
		}
	}
	if joining {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0); err != nil {
			return sysErr(devName, "SO_DETACH_FILTER", err)
		}
	}
	if q.file, err = pollFile(fd, "afpacket:"+s.Link); err != nil {
		return err
	}
	if q.rc, err = q.file.SyscallConn(); err != nil {
		return sysErr(devName, "SyscallConn", err)
	}
	return nil
}

// rxGeometry sizes a queue's RX ring for a link MTU: blocks of rxBlockMin,
// doubled until one holds the longest frame the link delivers (MTU, two
// VLAN tags, Ethernet header) with its tpacket3_hdr, sockaddr_ll and the
// block's own header; rxRingBytes in all, at least rxBlocksMin blocks.
func rxGeometry(mtu int) (blockSize, blocks int) {
	need := mtu + 22 + tpacket3HdrLen + 32 + 64
	blockSize = rxBlockMin
	for blockSize < need {
		blockSize <<= 1
	}
	return blockSize, max(rxBlocksMin, rxRingBytes/blockSize)
}

// txSocketOptions sets what a socket that transmits from a ring needs.
// They must come before the rings (PACKET_LOSS answers EBUSY after).
func txSocketOptions(fd int, devName string) error {
	// A malformed frame is skipped rather than stopping the ring in
	// TP_STATUS_WRONG_FORMAT, which would need a user to clear it.
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_LOSS, 1); err != nil {
		return sysErr(devName, "PACKET_LOSS", err)
	}
	// netyard is the qdisc: frames go straight to the driver
	// (packet_direct_xmit), not through the link's own qdisc. Before
	// 3.14 there is no bypass, and the qdisc is merely redundant.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	// SO_SNDBUFFORCE passes net.core.wmem_max; without CAP_NET_ADMIN
	// SO_SNDBUF gets what the limit allows.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
	}
	return nil
}

// ringGeometry is a TX ring's shape.
type ringGeometry struct {
	frameSize, frames, blockSize, blocks int
}

// txGeometry sizes a TX ring for a link MTU: a frame slot holds the
// header and the longest frame packet_snd accepts (MTU + Ethernet header
// + one VLAN tag), rounded up to a power of two so that slots pack blocks
// exactly.
func txGeometry(hdrLen, mtu int) ringGeometry {
	fs := 2048
	for fs < hdrLen+mtu+18 {
		fs <<= 1
	}
	g := ringGeometry{frameSize: fs, blockSize: max(txBlockSize, fs)}
	g.frames = min(txFrames, max(txRingMax/fs, g.blockSize/fs))
	perBlock := g.blockSize / fs
	g.blocks = (g.frames + perBlock - 1) / perBlock
	g.frames = g.blocks * perBlock
	return g
}

func (t *txRing) setRing(fd int, ring []byte, g ringGeometry, hdrLen int) {
	t.fd = fd
	t.ring = ring
	t.frameSize = g.frameSize
	t.frames = g.frames
	t.dataOff = hdrLen
	if hdrLen == tpacket3HdrLen {
		t.statusOff, t.lenOff = 20, 16 // tpacket3_hdr: tp_next_offset, sec, nsec, snaplen, len, status
	} else {
		t.statusOff, t.lenOff = 0, 4 // tpacket2_hdr: tp_status, tp_len
	}
}

// openGSO opens the socket for frames longer than a TX ring slot: GSO
// super-frames of up to 64 KiB, which the kernel segments (or hands to a
// device that takes them whole, as a veth does). No ring: packet_snd
// copies the frame from netyard's buffer. Bound with protocol 0, so it
// receives nothing.
func (t *txRing) openGSO(devName string, info linkInfo) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sysErr(devName, "AF_PACKET socket (GSO)", err)
	}
	t.gsoFd = fd
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return sysErr(devName, "PACKET_VNET_HDR (GSO socket)", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sndBuf) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, sndBuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: info.index}); err != nil {
		return sysErr(devName, "bind of the GSO socket", err)
	}
	return nil
}

// openV2 opens the pre-4.11 TX path: a socket with a TPACKET_V2 TX ring,
// bound with protocol 0 so that it receives nothing.
func (t *txRing) openV2(devName string, info linkInfo) error {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sysErr(devName, "AF_PACKET TX socket", err)
	}
	t.fd, t.ownSocket = fd, true
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return sysErr(devName, "PACKET_VERSION 2", err)
	}
	if err := txSocketOptions(fd, devName); err != nil {
		return err
	}
	g := txGeometry(tpacket2HdrLen, info.mtu)
	req := unix.TpacketReq{
		Block_size: uint32(g.blockSize),
		Block_nr:   uint32(g.blocks),
		Frame_size: uint32(g.frameSize),
		Frame_nr:   uint32(g.frames),
	}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return sysErr(devName, "PACKET_TX_RING (V2)", err)
	}
	if t.mem, err = unix.Mmap(fd, 0, g.frameSize*g.frames, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return sysErr(devName, "mmap of the TX ring", err)
	}
	t.setRing(fd, t.mem, g, tpacket2HdrLen)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: info.index}); err != nil {
		return sysErr(devName, "bind of the TX socket", err)
	}
	return nil
}

// dropAll is the classic BPF program "ret #0": accept nothing.
var dropAll = unix.SockFprog{Len: 1, Filter: &unix.SockFilter{Code: unix.BPF_RET | unix.BPF_K, K: 0}}

// Fanout flags: PACKET_FANOUT_FLAG_UNIQUEID (4.4) lets the kernel pick a
// group id no other program uses; PACKET_FANOUT_FLAG_IGNORE_OUTGOING
// (4.20) is PACKET_IGNORE_OUTGOING for the group's shared hook.
const fanoutFlags = unix.PACKET_FANOUT_HASH | unix.PACKET_FANOUT_FLAG_IGNORE_OUTGOING

// joinFanout puts the queue's socket in the port's fanout group, creating
// it with the first queue. PACKET_FANOUT_HASH sends a flow to one socket,
// so a flow's frames stay in order through netyard.
func (q *afQueue) joinFanout(devName string, id *int) error {
	if *id < 0 {
		err := unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, (fanoutFlags|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16)
		if err == nil {
			v, err := unix.GetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
			if err != nil {
				return sysErr(devName, "PACKET_FANOUT id", err)
			}
			*id = v & 0xffff
			return nil
		}
		if !errors.Is(err, unix.EINVAL) {
			return sysErr(devName, "PACKET_FANOUT", err)
		}
		// Before 4.4: an id of our own, from the process and the
		// interface, retried on collision with another group.
		for try := range 8 {
			cand := (os.Getpid()*31 + q.a.info.index*7 + try*4099) & 0xffff
			err = unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, cand|fanoutFlags<<16)
			if err == nil {
				*id = cand
				return nil
			}
		}
		return sysErr(devName, "PACKET_FANOUT", err)
	}
	if err := unix.SetsockoptInt(q.fd, unix.SOL_PACKET, unix.PACKET_FANOUT, *id|fanoutFlags<<16); err != nil {
		return sysErr(devName, fmt.Sprintf("PACKET_FANOUT join of group %d", *id), err)
	}
	return nil
}

func (a *afpacket) numQueues() int { return len(a.qs) }

func (a *afpacket) start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started || a.closed {
		return
	}
	a.started = true
	for _, q := range a.qs {
		a.wg.Add(1)
		go q.RoutineReceive()
	}
	a.wg.Add(1)
	go routineRetry(&a.wg, a.done, a.retry, a.Flush)
	if a.shed != nil {
		a.wg.Add(1)
		go a.shed.routineShed(&a.wg, a.done, a.log, a.dev.Name(), a.link)
	}
}

// retryDelay is how long frames a Flush left marked wait for another kick
// when nothing else is sent.
const retryDelay = time.Millisecond

// routineRetry kicks the queues a Flush could not empty (a congested or
// refusing device, a full TX ring), a retryDelay later, until done is
// closed. Both link backends run one; wg is theirs.
func routineRetry(wg *sync.WaitGroup, done <-chan struct{}, retry <-chan int, flush func(q int)) {
	defer wg.Done()
	t := time.NewTimer(retryDelay)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case q := <-retry:
			t.Reset(retryDelay)
			select {
			case <-done:
				return
			case <-t.C:
			}
			flush(q)
		}
	}
}

// RoutineReceive serves the queue's RX ring until Close. It waits in the
// runtime's poller (epoll); the kernel wakes it when a block retires (full,
// or after rxRetireTimeout). In push mode it copies the frames onto the
// device's RX ring itself (readRing); in polled mode it only wakes the
// worker, which reads the ring (PollRx), and then waits until the worker
// has found the ring empty before it looks again (waitReady, rearm).
func (q *afQueue) RoutineReceive() {
	a := q.a
	defer a.wg.Done()
	var backoff *time.Timer
	for !a.closing.Load() {
		// The functions return true only at Close, or (waitReady) when
		// the ring has a block for the worker; Read returns an error
		// when the file is closed, or when the socket reported an
		// error (the interface went down: ErrNotPollable).
		fn := q.readFn
		if a.polled {
			fn = q.waitFn
		}
		err := q.rc.Read(fn)
		if a.closing.Load() || errors.Is(err, os.ErrClosed) {
			return
		}
		if err == nil {
			if !a.polled {
				return
			}
			// NAPI: the worker reads until the ring is empty; until
			// then, no more wake-ups from here.
			q.napi.Store(true)
			a.dev.Notify()
			select {
			case <-a.done:
				return
			case <-q.rearm:
			}
			continue
		}
		// Clear the socket error so the next wait is a real one.
		soErr, _ := unix.GetsockoptInt(q.fd, unix.SOL_SOCKET, unix.SO_ERROR)
		a.logSome.Do(func() {
			a.log.Warn("afpacket: receive wait failed; retrying", "dev", a.dev.Name(), "link", a.link,
				"queue", q.index, "err", err, "socket_error", unix.Errno(soErr).Error())
		})
		if backoff == nil {
			backoff = time.NewTimer(errorBackoff)
		} else {
			backoff.Reset(errorBackoff)
		}
		select {
		case <-a.done:
			return
		case <-backoff.C:
		}
	}
}

// waitReady is the polled mode's readiness check: true when the block the
// worker reads next is the user's (or at Close), false to wait for the
// next retired block.
func (q *afQueue) waitReady(uintptr) bool {
	if q.a.closing.Load() {
		return true
	}
	blk := q.rx[int(q.head.Load())*q.blkSize:]
	h := (*unix.TpacketHdrV1)(unsafe.Pointer(&blk[blockHdrOff]))
	return atomic.LoadUint32(&h.Block_status)&unix.TP_STATUS_USER != 0
}

// readRing (push mode) hands every frame of the retired blocks to the
// device, a batch at a time. It returns false (wait for the next retired
// block) until Close.
func (q *afQueue) readRing(uintptr) bool {
	a := q.a
	for !a.closing.Load() {
		q.rxMu.Lock()
		n := q.pull(q.batch[:], a.now())
		q.rxMu.Unlock()
		for i, p := range q.batch[:n] {
			a.dev.Receive(p, p.Time)
			q.batch[i] = nil
		}
		if n < len(q.batch) {
			return false
		}
	}
	return true
}

// PollRx implements netdev.RxPoller (polled mode): it fills dst from the
// queues' rings, taking turns at which queue goes first. The kernel's ring
// is where frames wait while the worker is busy: when it is full the
// kernel drops (tp_drops, RxKernelDrops) before netyard has spent anything
// on the frame.
func (a *afpacket) PollRx(dst []*pkt.Buffer, now int64) int {
	return pollQueues(a.qs, &a.rr, dst, now)
}

// pollQueues fills dst from qs in turn, starting at *rr and moving it on
// one queue a call, so that no queue of a multi-queue port always goes
// first (both backends' PollRx).
func pollQueues[Q interface {
	poll(dst []*pkt.Buffer, now int64) int
}](qs []Q, rr *int, dst []*pkt.Buffer, now int64) int {
	n := 0
	for range len(qs) {
		q := qs[*rr]
		if *rr++; *rr == len(qs) {
			*rr = 0
		}
		n += q.poll(dst[n:], now)
		if n == len(dst) {
			break
		}
	}
	return n
}

// poll is PollRx for one queue. A poll that leaves the ring empty (it
// took less than it could) rearms the receive goroutine, as
// napi_complete re-enables a NIC's interrupt.
func (q *afQueue) poll(dst []*pkt.Buffer, now int64) int {
	q.rxMu.Lock()
	n := 0
	if q.rx != nil {
		n = q.pull(dst, now)
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

// pull copies up to len(dst) frames from the retired blocks into buffers,
// in ring order, and gives each block back to the kernel as soon as its
// last frame is copied. The caller holds rxMu. Offsets come from the
// kernel; each is checked against the block anyway, so a bad one ends the
// block instead of a bounds-check panic.
func (q *afQueue) pull(dst []*pkt.Buffer, now int64) int {
	n := 0
	for n < len(dst) {
		blk := q.rx[q.next*q.blkSize : (q.next+1)*q.blkSize]
		h := (*unix.TpacketHdrV1)(unsafe.Pointer(&blk[blockHdrOff]))
		if !q.inBlock {
			if atomic.LoadUint32(&h.Block_status)&unix.TP_STATUS_USER == 0 {
				break
			}
			q.inBlock, q.off, q.left, q.blkNow = true, int(h.Offset_to_first_pkt), int(h.Num_pkts), now
		}
		if q.left > 0 {
			if p := q.frame(blk); p != nil {
				p.Time = q.blkNow
				dst[n] = p
				n++
			}
		}
		if q.left == 0 {
			atomic.StoreUint32(&h.Block_status, unix.TP_STATUS_KERNEL)
			q.inBlock = false
			if q.next++; q.next == q.blocks {
				q.next = 0
			}
			q.head.Store(int32(q.next))
		}
	}
	if q.a.shed != nil {
		q.admit()
	}
	return n
}

// frame copies the frame at q.off in blk into a buffer and moves q.off to
// the next frame; it returns nil for a frame that is not handed on
// (counted as dropped, or another program's transmission).
func (q *afQueue) frame(blk []byte) *pkt.Buffer {
	a := q.a
	off := q.off
	q.left--
	if off < blockHdrOff || off+tpacket3HdrLen+sllPkttypeOff >= len(blk) {
		q.left = 0
		return nil
	}
	fh := (*unix.Tpacket3Hdr)(unsafe.Pointer(&blk[off]))
	if fh.Next_offset == 0 {
		q.left = 0
	}
	q.off += int(fh.Next_offset)
	mac, snap := off+int(fh.Mac), int(fh.Snaplen)
	switch {
	case blk[off+tpacket3HdrLen+sllPkttypeOff] == unix.PACKET_OUTGOING:
		// Another program's transmission on the link (our own
		// bypass the taps): not a reception.
		return nil
	case mac+snap > len(blk) || snap < int(fh.Len) || snap < 12:
		q.rxc.dropped.add(1) // truncated by the ring, or no MAC header
		return nil
	}
	status := fh.Status
	tagged := status&unix.TP_STATUS_VLAN_VALID != 0
	n := snap
	if tagged {
		n += 4
	}
	var m pkt.Meta
	if a.vnet {
		// The header sits right in front of the frame (tpacket_rcv:
		// netoff = macoff - vnet_hdr_sz).
		if mac-vnetHdrLen < off+tpacket3HdrLen || parseVnetHdr(blk[mac-vnetHdrLen:mac], &m, n) != nil {
			q.rxc.dropped.add(1)
			return nil
		}
	}
	var p *pkt.Buffer
	var err error
	switch {
	case m.GSOType != pkt.GSONone && n <= pkt.GSODataSize && n <= a.pool.DataSize():
		p, err = a.pool.Get()
	case m.GSOType != pkt.GSONone && n <= pkt.GSODataSize:
		p, err = a.pool.GetBig()
	case n > a.maxRx:
		q.rxc.dropped.add(1)
		return nil
	default:
		p, err = a.pool.Get()
	}
	if err != nil {
		q.rxc.dropped.add(1)
		return nil
	}
	if err := p.Resize(n); err != nil { // n fits the buffer asked for
		p.Release()
		q.rxc.dropped.add(1)
		return nil
	}
	p.GSOType, p.GSOSize, p.CsumPartial, p.CsumStart, p.CsumOffset = m.GSOType, m.GSOSize, m.CsumPartial, m.CsumStart, m.CsumOffset
	d, src := p.Data(), blk[mac:mac+snap]
	if tagged {
		tpid := uint16(0x8100)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 && fh.Hv1.Vlan_tpid != 0 {
			tpid = fh.Hv1.Vlan_tpid
		}
		putTagged(d, src, tpid, uint16(fh.Hv1.Vlan_tci))
	} else {
		copy(d, src)
	}
	if !a.vnet && status&unix.TP_STATUS_CSUMNOTREADY != 0 && completeChecksum(d) {
		q.rxc.csum.add(1)
	}
	// A partial checksum on an ordinary frame is finished here, where
	// its offsets are known, so that every way out (TAP, AF_XDP, a
	// pcap) sends it whole; only GSO frames keep theirs, for the
	// transmitter that segments them.
	if p.CsumPartial && p.GSOType == pkt.GSONone && completeAt(d, int(p.CsumStart), int(p.CsumOffset)) {
		p.CsumPartial = false
		q.rxc.csum.add(1)
	}
	// Counted before the device has it: whoever sees the frame sees it
	// counted, a GSO frame as the segments it stands for.
	segs, bytes := p.WireLen()
	q.rxc.packets.add(uint64(segs))
	q.rxc.bytes.add(uint64(bytes))
	return p
}

// txq maps a datapath TX queue onto a backend queue: the same number when
// the port has it, else modulo (a device given more TX queues than the
// port, by SetTxQueues, still sends everything).
func (a *afpacket) txq(q int) *txRing {
	if n := len(a.qs); uint(q) >= uint(n) {
		q = max(q, 0) % n
	}
	return &a.qs[q].tx
}

// Transmit copies p into the next slot of queue q's TX ring and marks it
// for the kernel; Flush sends. It never blocks: a full ring or a frame the
// link would refuse is dropped and counted.
func (a *afpacket) Transmit(q int, p *pkt.Buffer, _ int64) {
	t := a.txq(q)
	frame := p.Data()
	gso := p.GSOType != pkt.GSONone
	if !t.vnet && (gso || p.CsumPartial) {
		a.loseOffloads(t, p)
		frame = p.Data()
		gso = false
	}
	room := t.frameSize - t.dataOff
	if t.vnet {
		room -= vnetHdrLen
	}
	t.mu.Lock()
	if !t.closed && gso && len(frame) > room {
		t.sendGSO(p)
	} else if t.closed || (!gso && !txFits(frame, t.mtu)) || len(frame) > room {
		t.c.dropped.add(1)
	} else {
		slot := t.ring[t.head*t.frameSize : (t.head+1)*t.frameSize]
		status := (*uint32)(unsafe.Pointer(&slot[t.statusOff]))
		if atomic.LoadUint32(status)&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_SENDING) != 0 {
			t.c.dropped.add(1) // the ring is full
		} else {
			n := len(frame)
			if t.vnet {
				putVnetHdr(slot[t.dataOff:], &p.Meta, frame)
				if !gso && !t.frags {
					// hdr_len is what tpacket_snd copies into the
					// skb's linear part; the rest it attaches as
					// fragments of the ring's pages, which a veth
					// (or any device that must keep the skb) then
					// copies into a page of its own per frame
					// (skb_copy_ubufs). The whole frame linear
					// costs a copy of its bytes instead.
					binary.LittleEndian.PutUint16(slot[t.dataOff+2:], uint16(len(frame)))
				}
				copy(slot[t.dataOff+vnetHdrLen:], frame)
				n += vnetHdrLen
			} else {
				copy(slot[t.dataOff:], frame)
			}
			*(*uint32)(unsafe.Pointer(&slot[t.lenOff])) = uint32(n)
			atomic.StoreUint32(status, unix.TP_STATUS_SEND_REQUEST)
			t.last = t.head
			if t.head++; t.head == t.frames {
				t.head = 0
			}
			t.kick = true
			segs, bytes := p.WireLen()
			t.c.packets.add(uint64(segs))
			t.c.bytes.add(uint64(bytes))
		}
	}
	t.mu.Unlock()
	p.Release()
}

// sendGSO sends a frame longer than a ring slot through the GSO socket,
// with its virtio_net_hdr in the buffer's headroom: the kernel segments it
// (or the device takes it whole). The ring's marked frames go first, so
// that the link sees the frames in the order netyard sent them. Called
// under t.mu. A refused frame (a full send buffer) is dropped and counted.
func (t *txRing) sendGSO(p *pkt.Buffer) {
	if t.kick {
		_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if t.sent() {
			t.kick = false
		}
	}
	segs, bytes := p.WireLen()
	h, err := p.Push(vnetHdrLen)
	if err != nil {
		t.c.dropped.add(1)
		return
	}
	putVnetHdr(h, &p.Meta, p.Data()[vnetHdrLen:])
	d := p.Data()
	_, _, e := unix.Syscall6(unix.SYS_SENDTO, uintptr(t.gsoFd), uintptr(unsafe.Pointer(&d[0])), uintptr(len(d)), unix.MSG_DONTWAIT, 0, 0)
	_ = p.Pull(vnetHdrLen)
	if e != 0 {
		t.c.dropped.add(1)
		return
	}
	t.c.packets.add(uint64(segs))
	t.c.bytes.add(uint64(bytes))
}

// loseOffloads makes p sendable where the way out takes no offload
// metadata (the TX socket without PACKET_VNET_HDR): a partial checksum is
// completed; a GSO frame stays whole and is sent only if it fits the
// link. The first GSO frame that cannot is logged, with the fix.
func (a *afpacket) loseOffloads(t *txRing, p *pkt.Buffer) {
	if p.CsumPartial {
		completeAt(p.Data(), int(p.CsumStart), int(p.CsumOffset))
		p.CsumPartial = false
	}
	if p.GSOType != pkt.GSONone && !txFits(p.Data(), t.mtu) {
		a.gsoLog.Do(func() {
			a.log.Warn("afpacket: dropping GSO frames this link cannot take; turn off gso on the sending interface or use afpacket both ways",
				"dev", a.dev.Name(), "link", a.link, "len", p.Len())
		})
	}
	p.GSOType = pkt.GSONone
}

// Flush kicks the kernel to send queue q's marked frames: one sendto for
// the batch. MSG_DONTWAIT: the kernel sends what it can and returns. If a
// kick stops early, the frames stay marked and the kick is retried, a few
// times here and then with the next Flush: the device refused a frame
// (ENOBUFS: a veth peer's backlog was full), the send buffer is full
// (EAGAIN), or the socket had an error to report (sock_alloc_send_skb
// returns a pending sk_err, ENETDOWN after the link flapped, once).
func (a *afpacket) Flush(q int) {
	t := a.txq(q)
	t.mu.Lock()
	var e unix.Errno
	for range maxKicks {
		if !t.kick || t.closed {
			break
		}
		// The raw syscall returns the errno as a value: a boxed
		// error would allocate on every congested kick.
		_, _, e = unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		if t.sent() {
			t.kick = false
		}
	}
	if t.kick && !t.closed && e != 0 && e != unix.EAGAIN && e != unix.ENOBUFS && e != unix.EINTR {
		t.c.errors.add(1) // ENETDOWN, ENXIO: the frames wait for the link
	}
	if t.kick && !t.closed {
		t.unwedge()
	}
	pending := t.kick && !t.closed
	t.mu.Unlock()
	if pending {
		select {
		case a.retry <- q:
		default: // a retry is on its way
		}
	}
}

// stuckFlushes is how many Flushes in a row may leave the same frame at
// the kernel's position before it is given up.
const stuckFlushes = 3

// unwedge gives up a frame the device keeps refusing. The kernel sends a
// TX ring in order and, when the device refuses a frame (a veth peer that
// is down, has a smaller MTU, or a full backlog: ENOBUFS), leaves it marked
// and stops there: one frame that can never go would hold every later one.
// After stuckFlushes Flushes at the same frame, its length is made
// invalid, which PACKET_LOSS (set at Open) has the kernel skip at the
// next kick; it is counted as dropped. The kernel only reads the ring
// inside our sendto, under t.mu, so the frame can be changed here.
func (t *txRing) unwedge() {
	// Move the tail past what the kernel has taken.
	for t.tail != t.head {
		st := (*uint32)(unsafe.Pointer(&t.ring[t.tail*t.frameSize+t.statusOff]))
		if atomic.LoadUint32(st)&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_SENDING) != 0 {
			break
		}
		t.stuck, t.givenUp = 0, false
		if t.tail++; t.tail == t.frames {
			t.tail = 0
		}
	}
	if t.tail == t.head {
		return
	}
	if t.stuck++; t.stuck < stuckFlushes || t.givenUp {
		// A given-up frame the kernel has not skipped yet (the link
		// is down: it sends nothing) is kicked again, not counted
		// again.
		return
	}
	t.stuck, t.givenUp = 0, true
	tpLen := (*uint32)(unsafe.Pointer(&t.ring[t.tail*t.frameSize+t.lenOff]))
	// It was counted as sent at Transmit: now it is a drop.
	t.c.packets.add(^uint64(0))
	t.c.bytes.add(-uint64(*tpLen))
	t.c.dropped.add(1)
	*tpLen = uint32(t.frameSize) // beyond the slot: invalid
	_, _, _ = unix.Syscall6(unix.SYS_SENDTO, uintptr(t.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	if t.sent() {
		t.kick = false
	}
}

// sent reports whether the kernel has taken every marked frame: it takes
// them in ring order, so it has when the last one is no longer marked.
func (t *txRing) sent() bool {
	if t.last < 0 {
		return true
	}
	st := (*uint32)(unsafe.Pointer(&t.ring[t.last*t.frameSize+t.statusOff]))
	return atomic.LoadUint32(st)&unix.TP_STATUS_SEND_REQUEST == 0
}

func (a *afpacket) queueStats(i int) Stats {
	q := a.qs[i]
	var s Stats
	s.addRx(&q.rxc)
	s.addTx(&q.tx.c)
	a.statsMu.Lock()
	a.readKernelDrops(q)
	s.RxKernelDrops = q.kernDrop
	if i == 0 && a.shed != nil {
		s.RxShed = a.shed.dropped()
	}
	a.statsMu.Unlock()
	return s
}

// readKernelDrops adds the socket's tp_drops to the queue's sum. The
// kernel clears its counters when they are read (PACKET_STATISTICS is
// read-and-reset), hence the sum. Called under a.statsMu.
func (a *afpacket) readKernelDrops(q *afQueue) {
	if a.fdsClosed || q.fd < 0 {
		return
	}
	st, err := unix.GetsockoptTpacketStatsV3(q.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err == nil {
		q.kernDrop += uint64(st.Drops)
	}
}

func (a *afpacket) close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()

	a.closing.Store(true)
	close(a.done)
	err := a.release()
	a.wg.Wait()
	for _, q := range a.qs {
		q.unmap()
	}
	if a.shed != nil {
		a.shed.unmap()
	}
	return err
}

// release stops transmission and closes the sockets: the receive
// goroutines wake (the poller evicts them) and exit. The rings stay mapped
// until they have: close unmaps after wg.Wait. On a failed Open there are
// no goroutines and release unmaps at once.
func (a *afpacket) release() error {
	for _, q := range a.qs {
		q.tx.mu.Lock()
		q.tx.closed = true
		q.tx.mu.Unlock()
	}
	a.statsMu.Lock()
	for _, q := range a.qs {
		a.readKernelDrops(q)
	}
	a.fdsClosed = true
	if a.shed != nil {
		// Frames reach the stack again; the count stays.
		a.shed.close()
	}
	a.statsMu.Unlock()

	var errs []error
	for _, q := range a.qs {
		switch {
		case q.file != nil:
			errs = append(errs, q.file.Close())
		case q.fd >= 0:
			errs = append(errs, unix.Close(q.fd))
		}
		if q.tx.ownSocket && q.tx.fd >= 0 {
			errs = append(errs, unix.Close(q.tx.fd))
		}
		if q.tx.gsoFd >= 0 {
			errs = append(errs, unix.Close(q.tx.gsoFd))
		}
	}
	if !a.started {
		for _, q := range a.qs {
			q.unmap()
		}
		if a.shed != nil {
			a.shed.unmap()
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("link: %s: close: %w", a.dev.Name(), err)
	}
	return nil
}

func (q *afQueue) unmap() {
	q.rxMu.Lock()
	defer q.rxMu.Unlock()
	if q.mem != nil {
		_ = unix.Munmap(q.mem)
		q.mem, q.rx = nil, nil
	}
	if q.tx.mem != nil {
		_ = unix.Munmap(q.tx.mem)
		q.tx.mem = nil
	}
	q.tx.ring = nil
}

// TakesGSO implements netdev.GSOPort: GSO frames go to the kernel whole
// when the TX ring's socket has PACKET_VNET_HDR (not on the pre-4.11 V2
// fallback, whose socket is a plain one); the device segments the rest.
func (a *afpacket) TakesGSO() bool { return a.vnet && a.qs[0].tx.vnet }
