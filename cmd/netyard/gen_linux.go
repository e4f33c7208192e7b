package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsghdr is struct mmsghdr (sendmmsg(2)): x/sys/unix has no type for it.
// The padding makes it 8-aligned on 64-bit systems, as the C struct is.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [unsafe.Sizeof(uintptr(0)) - 4]byte
}

// genSleepMin is the shortest wait gen sleeps through; shorter gaps (a
// high rate between batches) it spins through, because a timer wake-up
// can come 50 µs or more late and the rate would fall short.
const genSleepMin = 200 * time.Microsecond

// sendFrames sends frames in turn on c.dev until c.count frames are sent
// or c.duration has passed. The socket bypasses the interface's qdisc
// (PACKET_QDISC_BYPASS), as netyard's backend does, so that the
// generator's cost is the driver's and nothing queues between it and the
// wire. A refused frame (ENOBUFS, EAGAIN: the driver's queue is full) is
// counted and skipped, not retried: at a given rate a retry would shift
// every later frame.
func sendFrames(c genConfig, frames [][]byte) (genResult, error) {
	var r genResult
	ifi, err := net.InterfaceByName(c.dev)
	if err != nil {
		return r, fmt.Errorf("-i %s: %v", c.dev, err)
	}
	// Protocol 0: the socket receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return r, fmt.Errorf("AF_PACKET socket (needs CAP_NET_RAW): %v", err)
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		return r, fmt.Errorf("bind to %s: %v", c.dev, err)
	}
	for i, f := range frames {
		if len(f) > ifi.MTU+14+4 {
			return r, fmt.Errorf("frame %d: %d bytes: longer than %s's MTU %d allows", i+1, len(f), c.dev, ifi.MTU)
		}
	}

	// A window of batch messages starting at any frame is contiguous:
	// message j sends frames[j % len(frames)].
	nf := len(frames)
	iov := make([]unix.Iovec, nf+c.batch)
	msgs := make([]mmsghdr, nf+c.batch)
	for j := range msgs {
		f := frames[j%nf]
		iov[j].Base = &f[0]
		iov[j].SetLen(len(f))
		msgs[j].hdr.Iov = &iov[j]
		msgs[j].hdr.Iovlen = 1
	}
	size := func(k, n int) (b uint64) {
		for j := range n {
			b += uint64(len(frames[(k+j)%nf]))
		}
		return b
	}
	dropped0, _, _ := txDropped(c.dev)
	runtime.LockOSThread() // one thread sends: no migration mid-run
	defer runtime.UnlockOSThread()
	start := time.Now()
	var deadline time.Time
	if c.duration > 0 {
		deadline = start.Add(c.duration)
	}
	k := 0 // the next frame
	done := func() uint64 { return r.sent + r.refused }
	for c.count == 0 || done() < c.count {
		now := time.Now()
		if !deadline.IsZero() && !now.Before(deadline) {
			break
		}
		want := uint64(c.batch)
		if c.count > 0 {
			want = min(want, c.count-done())
		}
		if c.rate > 0 {
			due := uint64(c.rate * now.Sub(start).Seconds())
			if due <= done() {
				// Ahead of the rate: wait for the next frame's time.
				next := start.Add(time.Duration(float64(done()+1) / c.rate * float64(time.Second)))
				if wait := next.Sub(now); wait >= genSleepMin {
					time.Sleep(wait)
				}
				continue
			}
			want = min(want, due-done())
		}
		n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[k])), uintptr(want), 0, 0, 0)
		switch {
		case e == 0:
			r.sent += uint64(n)
			r.bytes += size(k, int(n))
			k = (k + int(n)) % nf
		case e == unix.ENOBUFS || e == unix.EAGAIN:
			r.refused++
			k = (k + 1) % nf
		case e == unix.EINTR:
		default:
			r.elapsed = time.Since(start)
			return r, fmt.Errorf("send on %s after %d frames: %v", c.dev, r.sent, e)
		}
	}
	r.elapsed = time.Since(start)
	// Frames the driver took but then dropped (veth: the peer's backlog
	// was full) are refused too: the kernel counts them in tx_dropped.
	if dropped1, _, err := txDropped(c.dev); err == nil && dropped1 >= dropped0 {
		d := min(dropped1-dropped0, r.sent)
		r.sent -= d
		r.refused += d
	}
	return r, nil
}

// ifCounters are an interface's kernel counters, from /proc/net/dev.
type ifCounters struct {
	rxBytes, rxPackets, rxDropped, txPackets, txDropped uint64
}

// readIfCounters reads iface's counters from /proc/thread-self/net/dev:
// the calling thread's network namespace, whichever it is (a test's
// goroutine locked into a namespace, or "ip netns exec").
func readIfCounters(iface string) (ifCounters, error) {
	var c ifCounters
	f, err := os.Open("/proc/thread-self/net/dev")
	if err != nil {
		return c, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		name, rest, ok := strings.Cut(s.Text(), ":")
		if !ok || strings.TrimSpace(name) != iface {
			continue
		}
		fl := strings.Fields(rest)
		if len(fl) < 12 {
			return c, fmt.Errorf("/proc/net/dev: %s: %d fields, want 16", iface, len(fl))
		}
		v := make([]uint64, len(fl))
		for i, x := range fl {
			if v[i], err = strconv.ParseUint(x, 10, 64); err != nil {
				return c, fmt.Errorf("/proc/net/dev: %s: field %d: %v", iface, i+1, err)
			}
		}
		// receive: bytes packets errs drop fifo frame compressed
		// multicast; transmit: bytes packets errs drop ...
		return ifCounters{rxBytes: v[0], rxPackets: v[1], rxDropped: v[3], txPackets: v[9], txDropped: v[11]}, nil
	}
	if err := s.Err(); err != nil {
		return c, err
	}
	return c, fmt.Errorf("interface %s: %w", iface, errNoInterface)
}

var errNoInterface = errors.New("no such interface in this network namespace")

func txDropped(iface string) (uint64, uint64, error) {
	c, err := readIfCounters(iface)
	return c.txDropped, c.txPackets, err
}

// countRx counts what c.countRx receives over c.duration, after c.wait,
// from the kernel's counters: the count costs nothing per packet, so it
// does not slow what it measures.
func countRx(c genConfig) (rxResult, error) {
	var r rxResult
	if _, err := readIfCounters(c.countRx); err != nil {
		return r, fmt.Errorf("--count-rx: %v", err)
	}
	time.Sleep(c.wait)
	c0, err := readIfCounters(c.countRx)
	if err != nil {
		return r, fmt.Errorf("--count-rx: %v", err)
	}
	start := time.Now()
	time.Sleep(c.duration)
	c1, err := readIfCounters(c.countRx)
	r.elapsed = time.Since(start)
	if err != nil {
		return r, fmt.Errorf("--count-rx: %v", err)
	}
	r.packets = c1.rxPackets - c0.rxPackets
	r.bytes = c1.rxBytes - c0.rxBytes
	r.dropped = c1.rxDropped - c0.rxDropped
	return r, nil
}
