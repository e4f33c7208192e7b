package link

// The TAP backend, one queue per file descriptor of /dev/net/tun:
//
//	kernel stack --> tap queue q (fd q) --> RoutineReceive (read) --> d.Receive
//	datapath worker --> Transmit (write to fd q) --> kernel stack (netif_rx)
//
// With more than one queue the device is IFF_MULTI_QUEUE: the kernel
// spreads the flows it sends over the fds (tun_select_queue, by flow
// hash); a frame netyard writes to any fd enters the stack the same way.

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"netyard/netdev"
	"netyard/pkt"
)

// tunPath is the TUN/TAP clone device (Documentation/networking/tuntap.rst).
const tunPath = "/dev/net/tun"

type tap struct {
	dev   *netdev.Device
	pool  *pkt.Pool
	now   func() int64
	log   *slog.Logger
	name  string
	mtu   int
	maxRx int
	qs    []*tapQueue

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

	// Receive side, owned by RoutineReceive. scratch takes a frame
	// when the pool refuses a buffer, so that the queue still drains.
	scratch []byte
	rxc     rxCounters

	_        cacheLinePad
	txMu     sync.Mutex
	txClosed bool
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
	if s.Queues > 1 {
		flags |= unix.IFF_MULTI_QUEUE
	}
	for i := range s.Queues {
		q := &tapQueue{t: t, index: i, fd: -1}
		t.qs = append(t.qs, q)
		if err := q.open(d.Name(), flags); err != nil {
			return nil, err
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
	if q.file, err = pollFile(fd, "tap:"+t.name); err != nil {
		return err
	}
	q.scratch = make([]byte, 1<<16)
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
		n, err := q.file.Read(buf)
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
		if p == nil || n < 14 || n > t.maxRx {
			q.rxc.dropped.add(1)
			continue
		}
		_ = p.Resize(n)
		q.rxc.packets.add(1)
		q.rxc.bytes.add(uint64(n))
		t.dev.Receive(p, t.now())
		p = nil
	}
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
	tq.txMu.Lock()
	if tq.txClosed || !txFits(frame, t.mtu) {
		tq.txc.dropped.add(1)
	} else {
		// The raw syscall returns the errno as a value: a boxed
		// error would allocate per failed write.
		_, _, e := unix.Syscall(unix.SYS_WRITE, uintptr(tq.fd), uintptr(unsafe.Pointer(&frame[0])), uintptr(len(frame)))
		switch e {
		case 0:
			tq.txc.packets.add(1)
			tq.txc.bytes.add(uint64(len(frame)))
		case unix.EAGAIN, unix.ENOBUFS, unix.ENOMEM:
			tq.txc.dropped.add(1)
		default:
			tq.txc.errors.add(1) // EIO: the tap is down
		}
	}
	tq.txMu.Unlock()
	p.Release()
}

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
