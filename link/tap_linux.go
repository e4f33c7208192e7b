package link

// The TAP backend, one queue per file descriptor of /dev/net/tun:
//
//	kernel stack --> tap queue q (fd q) --> RoutineReceive (read) --> d.Receive
//	datapath worker --> Transmit (write to fd q) --> kernel stack (netif_rx)
//
// With more than one queue the device is IFF_MULTI_QUEUE: the kernel
// spreads the flows it sends over the fds (tun_select_queue, by flow
// hash); a frame netyard writes to any fd enters the stack the same way.
//
// Offloads (issue 16): the device is opened with IFF_VNET_HDR and told
// (TUNSETOFFLOAD) that netyard takes partial checksums and TCP (and, from
// Linux 6.2, UDP) segmentation offload, so the stack hands over its GSO
// super-frames whole, each read starting with a struct virtio_net_hdr,
// as AF_PACKET's PACKET_VNET_HDR does; every write starts with one too,
// so GSO frames and partial checksums go back to the stack whole
// (tun_get_user, virtio_net_hdr_to_skb). A read lands in the buffer's
// DataSize bytes and spills into a 64 KiB scratch: only a frame longer
// than a buffer (a GSO frame) is copied again, into a big buffer.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"netyard/netdev"
	"netyard/pkt"
)

// tunPath is the TUN/TAP clone device (Documentation/networking/tuntap.rst).
const tunPath = "/dev/net/tun"

// TUNSETOFFLOAD flags (include/uapi/linux/if_tun.h): what the reader of a
// tap with IFF_VNET_HDR accepts. USO (UDP segmentation) came with 6.2.
const (
	tunFCsum = 0x01
	tunFTSO4 = 0x02
	tunFTSO6 = 0x04
	tunFUSO4 = 0x20
	tunFUSO6 = 0x40
)

type tap struct {
	dev   *netdev.Device
	pool  *pkt.Pool
	now   func() int64
	log   *slog.Logger
	name  string
	mtu   int
	maxRx int
	qs    []*tapQueue
	// vnet: the queues have IFF_VNET_HDR and the offloads (frames come
	// and go with a virtio_net_hdr). gsoLog is the once-only report of
	// a frame the header did not describe acceptably.
	vnet bool

	mu      sync.Mutex // started, closed
	started bool
	closed  bool
	closing atomic.Bool
	wg      sync.WaitGroup
}

type tapQueue struct {
	t     *tap
	index int
	fd    int
	file  *os.File // fd in the runtime poller
	rc    syscall.RawConn

	// Receive side, owned by RoutineReceive. scratch takes a frame
	// when the pool refuses a buffer, so that the queue still drains,
	// and (vnet) what a read puts past a buffer's DataSize.
	scratch []byte
	rxHdr   [vnetHdrLen]byte
	rxIov   [3]unix.Iovec
	rxIovs  int
	rxN     int
	rxErr   unix.Errno
	readvFn func(uintptr) bool
	rxc     rxCounters

	_        cacheLinePad
	txMu     sync.Mutex
	txClosed bool
	txHdr    [vnetHdrLen]byte
	txIov    [2]unix.Iovec
	txc      txCounters
}

func openTAP(d *netdev.Device, s Spec, o Options) (_ *tap, err error) {
	t := &tap{
		dev:   d,
		pool:  o.Pool,
		now:   o.Now,
		log:   o.Logger,
		name:  s.Link,
		mtu:   d.MTU(),
		maxRx: maxRxLen(d, o.Pool.DataSize()),
	}
	defer func() {
		if err != nil {
			_ = t.release()
		}
	}()
	flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if !o.noVnet {
		flags |= unix.IFF_VNET_HDR
	}
	if s.Queues > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	t.vnet = !o.noVnet
	for i := range s.Queues {
		q := &tapQueue{t: t, index: i, fd: -1}
		t.qs = append(t.qs, q)
		if err := q.open(d.Name(), flags); err != nil {
			return nil, err
		}
	}
	if t.vnet {
		// The offloads are the device's, set through any of its
		// files. Without them (a kernel that refuses) the header
		// still comes, describing plain frames.
		off := tunFCsum | tunFTSO4 | tunFTSO6
		if unix.IoctlSetInt(t.qs[0].fd, unix.TUNSETOFFLOAD, off|tunFUSO4|tunFUSO6) != nil {
			if err := unix.IoctlSetInt(t.qs[0].fd, unix.TUNSETOFFLOAD, off); err != nil {
				t.log.Warn("tap: no offloads (TUNSETOFFLOAD); the stack segments and checksums before netyard",
					"dev", d.Name(), "tap", t.name, "err", err)
			}
		}
	}
	if err := setMTU(d.Name(), t.name, t.mtu); err != nil {
		return nil, err
	}
	return t, nil
}

func (q *tapQueue) open(devName string, flags uint16) error {
	t := q.t
	fd, err := unix.Open(tunPath, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO) {
			return fmt.Errorf("%w: %s: %s: %v (modprobe tun)", ErrNotSupported, devName, tunPath, err)
		}
		return sysErr(devName, "open "+tunPath, err)
	}
	q.fd = fd
	ifr, err := unix.NewIfreq(t.name)
	if err != nil {
		return fmt.Errorf("%w: %s: tap name %q: %v", ErrBadSpec, devName, t.name, err)
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		switch {
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("%w: %s: tap %q is in use by another program", ErrBadSpec, devName, t.name)
		case errors.Is(err, unix.EINVAL):
			return fmt.Errorf("%w: %s: %q exists and is not a tap of the same queue mode (%d queues asked): %v",
				ErrBadSpec, devName, t.name, len(t.qs), err)
		}
		return sysErr(devName, fmt.Sprintf("TUNSETIFF %s", t.name), err)
	}
	if t.vnet {
		// 10 bytes: struct virtio_net_hdr, what parseVnetHdr reads
		// (the kernel's default; set in case another program changed
		// a persistent tap's).
		if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnetHdrLen); err != nil {
			return sysErr(devName, "TUNSETVNETHDRSZ", err)
		}
	}
	if q.file, err = pollFile(fd, "tap:"+t.name); err != nil {
		return err
	}
	if q.rc, err = q.file.SyscallConn(); err != nil {
		return sysErr(devName, "SyscallConn", err)
	}
	q.scratch = make([]byte, 1<<16)
	q.readvFn = q.readv
	return nil
}

// setMTU gives the tap the netyard device's MTU, so that the kernel sends
// netyard no frame the device would refuse.
func setMTU(devName, name string, mtu int) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return sysErr(devName, "socket for SIOCSIFMTU", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return sysErr(devName, "SIOCGIFMTU "+name, err)
	}
	if int(ifr.Uint32()) == mtu {
		return nil
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
		return sysErr(devName, fmt.Sprintf("mtu %d on %s", mtu, name), err)
	}
	return nil
}

func (t *tap) numQueues() int { return len(t.qs) }

func (t *tap) start() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.started || t.closed {
		return
	}
	t.started = true
	for _, q := range t.qs {
		t.wg.Add(1)
		go q.RoutineReceive()
	}
}

// RoutineReceive reads the queue's frames into buffers until Close. A
// read waits in the runtime's poller; closing the file wakes it.
func (q *tapQueue) RoutineReceive() {
	t := q.t
	defer t.wg.Done()
	var p *pkt.Buffer
	defer func() {
		if p != nil {
			p.Release()
		}
	}()
	for {
		if p == nil {
			p, _ = t.pool.Get() // nil at the memory limit: read into scratch
		}
		buf := q.scratch
		if p != nil {
			_ = p.Resize(t.pool.DataSize())
			buf = p.Data()
		}
		var n int
		var err error
		if t.vnet {
			n, err = q.readVnet(buf)
		} else {
			n, err = q.file.Read(buf)
		}
		if err != nil {
			switch {
			case t.closing.Load() || errors.Is(err, os.ErrClosed):
				return
			case errors.Is(err, unix.EFAULT), errors.Is(err, unix.EINVAL), errors.Is(err, unix.EMSGSIZE):
				// A frame longer than the buffer: tun_put_user
				// fails the copy and drops it.
				q.rxc.dropped.add(1)
				continue
			}
			if errors.Is(err, io.EOF) || errors.Is(err, unix.EBADFD) {
				err = fmt.Errorf("tap %s was deleted: %w", t.name, err)
			}
			t.log.Warn("tap: receive stopped", "dev", t.dev.Name(), "queue", q.index, "err", err)
			return
		}
		if p == nil || n < 14 {
			q.rxc.dropped.add(1)
			continue
		}
		if t.vnet {
			if p = q.takeVnet(p, n); p == nil {
				continue
			}
		} else if n > t.maxRx {
			q.rxc.dropped.add(1)
			continue
		} else {
			_ = p.Resize(n)
		}
		segs, bytes := p.WireLen()
		q.rxc.packets.add(uint64(segs))
		q.rxc.bytes.add(uint64(bytes))
		t.dev.Receive(p, t.now())
		p = nil
	}
}

// readVnet reads one frame with its virtio_net_hdr: the header into
// rxHdr, the frame into buf and, past len(buf), into the scratch. It
// returns the frame's length (the header excluded).
func (q *tapQueue) readVnet(buf []byte) (int, error) {
	q.rxIov[0].Base, q.rxIov[1].Base, q.rxIov[2].Base = &q.rxHdr[0], &buf[0], &q.scratch[0]
	q.rxIov[0].SetLen(vnetHdrLen)
	q.rxIov[1].SetLen(len(buf))
	q.rxIov[2].SetLen(len(q.scratch))
	q.rxIovs = 3
	if &buf[0] == &q.scratch[0] {
		q.rxIovs = 2 // no buffer: the scratch takes all, and is dropped
	}
	err := q.rc.Read(q.readvFn)
	n, e := q.rxN, q.rxErr
	switch {
	case err != nil:
		return 0, err
	case e != 0:
		return 0, e
	case n < vnetHdrLen:
		return 0, nil // too short: dropped by the caller
	}
	return n - vnetHdrLen, nil
}

// readv is readVnet's system call, in the runtime poller's callback (a
// method value made once: a closure per read would allocate).
func (q *tapQueue) readv(fd uintptr) bool {
	n, _, e := unix.Syscall(unix.SYS_READV, fd, uintptr(unsafe.Pointer(&q.rxIov[0])), uintptr(q.rxIovs))
	q.rxN, q.rxErr = int(n), e
	return e != unix.EAGAIN
}

// takeVnet makes the n bytes readVnet read into p (and the scratch) a
// frame with the header's offload state: a GSO frame longer than p moves
// to a big buffer; a partial checksum on an ordinary frame is finished
// here, as the afpacket backend does. It returns nil for a frame that is
// dropped (counted), with p released.
func (q *tapQueue) takeVnet(p *pkt.Buffer, n int) *pkt.Buffer {
	t := q.t
	var m pkt.Meta
	if err := parseVnetHdr(q.rxHdr[:], &m, n); err != nil {
		q.rxc.dropped.add(1)
		p.Release()
		return nil
	}
	size := t.pool.DataSize()
	switch {
	case m.GSOType == pkt.GSONone && n > t.maxRx, n > pkt.GSODataSize:
		q.rxc.dropped.add(1)
		p.Release()
		return nil
	case n > size:
		big, err := t.pool.GetBig()
		if err != nil || big.Resize(n) != nil {
			if big != nil {
				big.Release()
			}
			q.rxc.dropped.add(1)
			p.Release()
			return nil
		}
		d := big.Data()
		copy(d, p.Data()[:size])
		copy(d[size:], q.scratch[:n-size])
		p.Release()
		p = big
	default:
		_ = p.Resize(n)
	}
	p.GSOType, p.GSOSize, p.CsumPartial, p.CsumStart, p.CsumOffset = m.GSOType, m.GSOSize, m.CsumPartial, m.CsumStart, m.CsumOffset
	if p.CsumPartial && p.GSOType == pkt.GSONone && completeAt(p.Data(), int(p.CsumStart), int(p.CsumOffset)) {
		p.CsumPartial = false
		q.rxc.csum.add(1)
	}
	return p
}

func (t *tap) txq(q int) *tapQueue {
	if n := len(t.qs); uint(q) >= uint(n) {
		q = max(q, 0) % n
	}
	return t.qs[q]
}

// Transmit writes p to queue q's file: one write per frame, which the
// kernel injects into its stack at once (tun_get_user), so Flush has
// nothing to do. The file is non-blocking: a write that would block is a
// drop, counted, never a wait.
func (t *tap) Transmit(q int, p *pkt.Buffer, _ int64) {
	tq := t.txq(q)
	frame := p.Data()
	gso := t.vnet && p.GSOType != pkt.GSONone
	tq.txMu.Lock()
	if tq.txClosed || len(frame) < 14 || (!gso && !txFits(frame, t.mtu)) {
		tq.txc.dropped.add(1)
	} else {
		// The raw syscall returns the errno as a value: a boxed
		// error would allocate per failed write.
		var e unix.Errno
		if t.vnet {
			// The header says what is left to offload: a GSO
			// frame's segmentation, a partial checksum.
			putVnetHdr(tq.txHdr[:], &p.Meta, frame)
			tq.txIov[0].Base, tq.txIov[1].Base = &tq.txHdr[0], &frame[0]
			tq.txIov[0].SetLen(vnetHdrLen)
			tq.txIov[1].SetLen(len(frame))
			_, _, e = unix.Syscall(unix.SYS_WRITEV, uintptr(tq.fd), uintptr(unsafe.Pointer(&tq.txIov[0])), 2)
		} else {
			_, _, e = unix.Syscall(unix.SYS_WRITE, uintptr(tq.fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
		}
		switch e {
		case 0:
			segs, bytes := p.WireLen()
			tq.txc.packets.add(uint64(segs))
			tq.txc.bytes.add(uint64(bytes))
		case unix.EAGAIN, unix.ENOBUFS, unix.ENOMEM:
			tq.txc.dropped.add(1)
		default:
			tq.txc.errors.add(1) // EIO: the tap is down; EINVAL: a header the kernel refused
		}
	}
	tq.txMu.Unlock()
	p.Release()
}

// TakesGSO implements netdev.GSOPort: with IFF_VNET_HDR the stack takes
// GSO frames whole and segments them where it must.
func (t *tap) TakesGSO() bool { return t.vnet }

// Flush implements netdev.TxPort; TAP writes are not batched.
func (t *tap) Flush(int) {}

func (t *tap) queueStats(i int) Stats {
	q := t.qs[i]
	var s Stats
	s.addRx(&q.rxc)
	s.addTx(&q.txc)
	return s
}

func (t *tap) close() error {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil
	}
	t.closed = true
	t.mu.Unlock()
	t.closing.Store(true)
	err := t.release()
	t.wg.Wait()
	return err
}

// release closes the queues' files: the receive goroutines wake and exit,
// and with the last file a non-persistent tap disappears.
func (t *tap) release() error {
	var errs []error
	for _, q := range t.qs {
		q.txMu.Lock()
		q.txClosed = true
		q.txMu.Unlock()
		switch {
		case q.file != nil:
			errs = append(errs, q.file.Close())
		case q.fd >= 0:
			errs = append(errs, unix.Close(q.fd))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("link: %s: close: %w", t.dev.Name(), err)
	}
	return nil
}
