package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

func needRoot(tb testing.TB) { testutil.NeedRoot(tb, "network namespaces and veth pairs") }

// testNS is a private network namespace (testutil.Netns), deleted when the
// test ends, failed or not. Everything the tests send stays on its links.
type testNS struct {
	*testutil.Netns
	name string
}

func newNS(tb testing.TB) *testNS {
	tb.Helper()
	needRoot(tb)
	n := testutil.NewNetns(tb, "ny-link")
	return &testNS{Netns: n, name: n.Name}
}

func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	testutil.Cmd(tb, name, args...)
}

func (ns *testNS) ip(tb testing.TB, args ...string) {
	tb.Helper()
	ns.IP(args...)
}

// veth creates the pair a <-> b, both up.
func (ns *testNS) veth(tb testing.TB, a, b string) {
	tb.Helper()
	ns.ip(tb, "link", "add", "name", a, "type", "veth", "peer", "name", b)
	ns.ip(tb, "link", "set", "dev", a, "up")
	ns.ip(tb, "link", "set", "dev", b, "up")
}

// wokenFor checks that a frame arriving on a ring that was polled empty
// wakes the worker: it clears a stale wake-up token, runs send, and waits
// for a wake-up that Notify (counted in notifies) gave. A worker polls
// when woken, so nothing may poll before: polling earlier could take the
// frame before the receive goroutine has seen it, and then it has no
// reason to wake anyone.
func (td *testDev) wokenFor(tb testing.TB, notifies *atomic.Int32, send func()) {
	tb.Helper()
	select {
	case <-td.wake: // a stale token, if any
	default:
	}
	woken := notifies.Load()
	send()
	select {
	case <-td.wake:
	case <-time.After(wait):
		tb.Fatal("no wake-up for a frame after the ring was polled empty")
	}
	if notifies.Load() == woken {
		tb.Fatal("woken, but not by Notify")
	}
}

// waitOperUp waits until ifname is operationally up (IFF_RUNNING). After
// its carrier comes back the kernel reactivates a device's qdisc from the
// linkwatch work, up to a second later; until then what is sent on it is
// dropped by noop_qdisc. The same work sets the operational state, just
// before it reactivates the qdisc.
func (ns *testNS) waitOperUp(tb testing.TB, ifname string) {
	tb.Helper()
	deadline := time.Now().Add(wait)
	for {
		var flags uint16
		err := ns.do(func() error {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			ifr, err := unix.NewIfreq(ifname)
			if err != nil {
				return err
			}
			if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
				return err
			}
			flags = ifr.Uint16()
			return nil
		})
		if err == nil && flags&unix.IFF_RUNNING != 0 {
			time.Sleep(10 * time.Millisecond) // the qdisc comes right after
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not running after %v (flags %#x, err %v)", ifname, wait, flags, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// do runs fn on a thread in the namespace (testutil.Netns.Do).
func (ns *testNS) do(fn func() error) error { return ns.Do(fn) }

// receivers counts the backends' receive goroutines, by their stacks.
func receivers() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return bytes.Count(buf, []byte("RoutineReceive("))
}

// open opens a port in the namespace and closes it when the test ends.
func (ns *testNS) open(tb testing.TB, d *netdev.Device, s Spec, o Options) *Port {
	tb.Helper()
	var p *Port
	err := ns.do(func() (err error) {
		p, err = Open(d, s, o)
		return err
	})
	if err != nil {
		tb.Fatalf("Open(%s, %+v): %v", d.Name(), s, err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return p
}

// testDev is a datapath device whose received frames the test takes from
// its RX ring.
type testDev struct {
	*netdev.Device
	wake  chan struct{}
	timer *time.Timer
	one   [1]*pkt.Buffer // next's poll of a polled backend
}

func newTestDev(tb testing.TB, name string, txQueues int) *testDev {
	tb.Helper()
	d, err := netdev.New(1, netdev.Config{Name: name, TxQueues: txQueues, RxRing: 4096})
	if err != nil {
		tb.Fatal(err)
	}
	td := &testDev{Device: d, wake: make(chan struct{}, 1)}
	tb.Cleanup(td.drain) // before the pool's leak check, after the port's Close
	d.SetNotify(func() {
		select {
		case td.wake <- struct{}{}:
		default:
		}
	})
	return td
}

// next returns the next received frame whose payload carries the test
// marker (frames the kernel sends on its own are released and skipped),
// or nil after timeout.
func (td *testDev) next(timeout time.Duration) *pkt.Buffer {
	// One timer for the device's life: next runs inside allocation
	// counts. (Since Go 1.23 Reset leaves no stale tick in C.)
	if td.timer == nil {
		td.timer = time.NewTimer(timeout)
	} else {
		td.timer.Reset(timeout)
	}
	deadline := td.timer
	defer deadline.Stop()
	for {
		for p := td.RxRing().Pop(); p != nil; p = td.RxRing().Pop() {
			if _, ok := testSeq(p.Data()); ok {
				return p
			}
			p.Release()
		}
		// A polled backend (Options.Polled) is read here, as the
		// datapath's worker would, a frame at a time.
		for pl := td.RxPoller(); pl != nil && pl.PollRx(td.one[:], 0) == 1; {
			p := td.one[0]
			td.one[0] = nil
			if _, ok := testSeq(p.Data()); ok {
				return p
			}
			p.Release()
		}
		select {
		case <-td.wake:
		case <-deadline.C:
			return nil
		}
	}
}

// drain releases whatever is left on the RX ring.
func (td *testDev) drain() {
	for p := td.RxRing().Pop(); p != nil; p = td.RxRing().Pop() {
		p.Release()
	}
}

// testEtherType is IEEE 802's "local experimental" EtherType: nothing in
// the kernel answers it.
const testEtherType = 0x88b5

var testMarker = []byte("netyard-link")

// testFrame builds a frame of size bytes (at least 60) with the given tags
// and a payload that carries the marker and seq.
func testFrame(tags []wire.Tag, seq uint32, size int) []byte {
	f := wire.AppendEthernet(nil, macB, macA, tags, testEtherType)
	f = append(f, testMarker...)
	f = binary.BigEndian.AppendUint32(f, seq)
	for i := 0; len(f) < size; i++ {
		f = append(f, byte(i))
	}
	return f
}

// testSeq finds the marker in a frame (in any payload: test frames may
// be UDP datagrams too) and returns the sequence number that follows it.
func testSeq(f []byte) (uint32, bool) {
	i := bytes.Index(f, testMarker)
	if i < 0 || len(f) < i+len(testMarker)+4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(f[i+len(testMarker):]), true
}

// udpFrame builds an IPv4/UDP frame from ip4A:sport to ip4B:5000 whose
// payload carries the marker and seq: a flow per source port, for the
// fanout hash.
func udpFrame(sport uint16, seq uint32) []byte {
	payload := binary.BigEndian.AppendUint32(append([]byte(nil), testMarker...), seq)
	u := wire.UDPHeader{SrcPort: sport, DstPort: 5000, Length: uint16(wire.UDPHeaderLen + len(payload))}
	seg := append(u.Append(nil), payload...)
	_ = wire.PutTransportChecksum(wire.ProtoUDP, ip4A, ip4B, seg)
	h := wire.IPv4Header{TotalLen: uint16(wire.IPv4MinHeaderLen + len(seg)), TTL: 64, Proto: wire.ProtoUDP, Src: ip4A, Dst: ip4B}
	f, _ := h.Append(wire.AppendEthernet(nil, macB, macA, nil, wire.EtherTypeIPv4))
	return append(f, seg...)
}

// rawSock is the test's independent view of a link: a plain AF_PACKET
// socket (no ring) that injects frames and reads what arrives.
type rawSock struct{ fd int }

func (ns *testNS) rawSocket(tb testing.TB, ifname string) *rawSock {
	tb.Helper()
	var r rawSock
	err := ns.do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		r.fd = fd
		ifi, err := unix.NewIfreq(ifname)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifi); err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: int(ifi.Uint32())}); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
			return err
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
			return err
		}
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		return unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	})
	if err != nil {
		tb.Fatalf("raw socket on %s: %v", ifname, err)
	}
	tb.Cleanup(func() { unix.Close(r.fd) })
	return &r
}

// drops is how many frames the socket's receive buffer had no room for
// since the last call (PACKET_STATISTICS reads and clears tp_drops): on a
// loaded machine a reader that is not scheduled in time loses frames there,
// and a test that counts frames must count these too.
func (r *rawSock) drops(tb testing.TB) int {
	tb.Helper()
	st, err := unix.GetsockoptTpacketStats(r.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		tb.Fatalf("PACKET_STATISTICS: %v", err)
	}
	return int(st.Drops)
}

func (r *rawSock) send(tb testing.TB, frame []byte) {
	tb.Helper()
	if _, err := unix.Write(r.fd, frame); err != nil {
		tb.Fatalf("inject %d bytes: %v", len(frame), err)
	}
}

// recv returns the next frame carrying the test marker, as on the wire:
// the kernel strips the outer VLAN tag into the auxiliary data, and recv
// puts it back. nil after timeout.
func (r *rawSock) recv(tb testing.TB, timeout time.Duration) []byte {
	tb.Helper()
	buf := make([]byte, 1<<16)
	oob := make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.TpacketAuxdata{}))))
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		n, oobn, _, _, err := unix.Recvmsg(r.fd, buf, oob, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			tb.Fatalf("recvmsg: %v", err)
		}
		f := bytes.Clone(buf[:n])
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			tb.Fatal(err)
		}
		for _, c := range cmsgs {
			if c.Header.Level != unix.SOL_PACKET || c.Header.Type != unix.PACKET_AUXDATA {
				continue
			}
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&c.Data[0]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				tagged := make([]byte, len(f)+4)
				putTagged(tagged, f, aux.Vlan_tpid, aux.Vlan_tci)
				f = tagged
			}
		}
		if _, ok := testSeq(f); ok {
			return f
		}
	}
	return nil
}

// fdCount is the number of open file descriptors of the process.
func fdCount(tb testing.TB) int {
	tb.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		tb.Fatal(err)
	}
	return len(ents)
}

// testPool is a leak-checked pool: a frame the backend or the test forgot
// to release fails the test.
func testPool(tb testing.TB) *pkt.Pool { return testutil.Pool(tb, pkt.PoolConfig{}) }
