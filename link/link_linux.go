package link

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"netyard/netdev"
	"netyard/wire"
)

// Open attaches d to the interface s names: it opens the sockets or files,
// maps the rings, and makes the backend d's TxPort. Receiving starts with
// Start. The sockets and the TAP device belong to the network namespace of
// the calling thread: a caller that switches namespaces (setns) locks its
// OS thread first.
func Open(d *netdev.Device, s Spec, o Options) (*Port, error) {
	s, err := check(d, s, &o)
	if err != nil {
		return nil, err
	}
	if o.Now == nil {
		o.Now = wallClock
	}
	var b backend
	kind := s.Kind
	switch s.Kind {
	case KindAFPacket:
		b, err = openAFPacket(d, s, o)
	case KindXDP:
		b, err = openXDP(d, s, o)
		if errors.Is(err, errXDPUnavailable) {
			// The user asked for xdp: say which backend they got
			// and why.
			o.Logger.Warn("xdp: AF_XDP is not available here; falling back to afpacket",
				"dev", d.Name(), "link", s.Link, "reason", err)
			kind = KindAFPacket
			xerr := err
			s.XDPMode, s.ZeroCopy = XDPModeAuto, false
			if b, err = openAFPacket(d, s, o); err != nil {
				err = fmt.Errorf("%w (the afpacket fallback, after %v)", err, xerr)
			}
		}
	case KindTAP:
		b, err = openTAP(d, s, o)
	}
	if err != nil {
		return nil, err
	}
	d.SetTxPort(b)
	return &Port{kind: kind, link: s.Link, dev: d, b: b}, nil
}

func wallClock() int64 { return time.Now().UnixNano() }

// maxRxLen is the longest frame a backend hands to d: the device's MTU
// plus an Ethernet header and two VLAN tags (an 802.1ad S-tag over a C-tag
// arrives at MTU+22 on a link whose MTU counts the payload only), and no
// more than a buffer holds.
func maxRxLen(d *netdev.Device, dataSize int) int {
	return min(dataSize, d.MTU()+wire.EthHeaderLen+2*wire.VLANTagLen)
}

// counter is a single-writer counter: only the goroutine that owns it
// adds (a load and a store, no locked instruction), anyone may read.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }
func (c *counter) load() uint64 { return c.v.Load() }

// rxCounters belong to a queue's receive goroutine.
type rxCounters struct {
	packets, bytes, dropped, csum counter
}

// txCounters belong to the datapath worker that transmits on the queue
// (and are written under the queue's lock, for Transmit after Close).
type txCounters struct {
	packets, bytes, dropped, errors counter
}

func (s *Stats) addRx(c *rxCounters) {
	s.RxPackets += c.packets.load()
	s.RxBytes += c.bytes.load()
	s.RxDropped += c.dropped.load()
	s.RxCsumCompleted += c.csum.load()
}

func (s *Stats) addTx(c *txCounters) {
	s.TxPackets += c.packets.load()
	s.TxBytes += c.bytes.load()
	s.TxDropped += c.dropped.load()
	s.TxErrors += c.errors.load()
}

// cacheLinePad keeps a queue's receive counters and its transmit side
// on different cache lines: two cores write them.
type cacheLinePad [64]byte

// linkInfo is what Open needs to know about an interface.
type linkInfo struct {
	index int
	mtu   int
}

// lookupLink finds an interface by name in fd's namespace and checks that
// netyard can use it: it exists, it is up, it is Ethernet.
func lookupLink(fd int, name, devName string) (linkInfo, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return linkInfo{}, fmt.Errorf("%w: %s: interface name %q: %v", ErrBadSpec, devName, name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return linkInfo{}, fmt.Errorf("%w: %s: no interface %q in this network namespace", ErrBadSpec, devName, name)
		}
		return linkInfo{}, fmt.Errorf("link: %s: interface %q: SIOCGIFINDEX: %w", devName, name, err)
	}
	info := linkInfo{index: int(ifr.Uint32())}

	ifr, _ = unix.NewIfreq(name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return linkInfo{}, fmt.Errorf("link: %s: interface %q: SIOCGIFFLAGS: %w", devName, name, err)
	}
	if ifr.Uint16()&unix.IFF_UP == 0 {
		// The kernel would accept the bind and then report ENETDOWN
		// on the socket: better said now.
		return linkInfo{}, fmt.Errorf("%w: %s: interface %q is down (ip link set %s up)", ErrBadSpec, devName, name, name)
	}

	ifr, _ = unix.NewIfreq(name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFHWADDR, ifr); err != nil {
		return linkInfo{}, fmt.Errorf("link: %s: interface %q: SIOCGIFHWADDR: %w", devName, name, err)
	}
	if t := ifr.Uint16(); t != unix.ARPHRD_ETHER {
		// netyard's frames start with an Ethernet header; a loopback,
		// an IP tunnel or a TUN device has none (or a fake one).
		return linkInfo{}, fmt.Errorf("%w: %s: interface %q is not Ethernet (ARPHRD type %d)", ErrBadSpec, devName, name, t)
	}

	ifr, _ = unix.NewIfreq(name)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err != nil {
		return linkInfo{}, fmt.Errorf("link: %s: interface %q: SIOCGIFMTU: %w", devName, name, err)
	}
	info.mtu = int(ifr.Uint32())
	return info, nil
}

// sysErr turns a failed setup call into an error that says what to fix.
func sysErr(devName, what string, err error) error {
	switch {
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Errorf("link: %s: %s: %w (needs CAP_NET_RAW and CAP_NET_ADMIN: run as root)", devName, what, err)
	case errors.Is(err, unix.EAFNOSUPPORT), errors.Is(err, unix.ENOPROTOOPT):
		return fmt.Errorf("%w: %s: %s: %v", ErrNotSupported, devName, what, err)
	}
	return fmt.Errorf("link: %s: %s: %w", devName, what, err)
}

// pollFile hands fd to the runtime's poller, so that a receive goroutine
// waits in epoll without holding an OS thread, and closing the file wakes
// it at once (the "eventfd" of a C program, for free). fd must be
// non-blocking.
func pollFile(fd int, name string) (*os.File, error) {
	f := os.NewFile(uintptr(fd), name)
	if f == nil {
		return nil, fmt.Errorf("link: %s: bad file descriptor %d", name, fd)
	}
	return f, nil
}

// errorBackoff is how long a receive goroutine waits after its socket
// reported an error (the interface went down) before it looks again: long
// enough not to spin, short enough that traffic resumes quickly when the
// interface comes back.
const errorBackoff = 100 * time.Millisecond

// MTU returns the MTU of interface name in the calling thread's network
// namespace, for a device that attaches to it to have the same (a frame
// the link carries must fit the device).
func MTU(name string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, sysErr(name, "socket", err)
	}
	defer unix.Close(fd)
	info, err := lookupLink(fd, name, name)
	if err != nil {
		return 0, err
	}
	return info.mtu, nil
}
