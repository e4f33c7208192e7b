package link

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

// xdpModes are the hooks every test runs over. Native XDP on a veth needs
// nothing on the peer to receive (veth runs the program in its NAPI poll)
// and AF_XDP in copy mode transmits through the ordinary xmit path, so
// both work on a plain veth pair.
var xdpModes = []XDPMode{XDPModeGeneric, XDPModeNative}

// xdpState is what `ip link show` says about XDP on ifname: "" when no
// program is attached, else its words (xdpgeneric, xdp, prog/xdp id N).
func (ns *testNS) xdpState(tb testing.TB, ifname string) string {
	tb.Helper()
	out := testutil.Cmd(tb, "ip", "-netns", ns.name, "-d", "link", "show", "dev", ifname)
	var xdp []string
	for _, w := range strings.Fields(out) {
		if strings.HasPrefix(w, "xdp") || strings.HasPrefix(w, "prog/xdp") {
			xdp = append(xdp, w)
		}
	}
	return strings.Join(xdp, " ")
}

// txDropped is the kernel's count of frames ifname could not pass on (a
// veth: its peer's backlog was full).
func (ns *testNS) txDropped(tb testing.TB, ifname string) int {
	tb.Helper()
	var ls []struct {
		Stats struct {
			TX struct {
				Dropped int `json:"dropped"`
			} `json:"tx"`
		} `json:"stats64"`
	}
	out := testutil.Cmd(tb, "ip", "-netns", ns.name, "-s", "-j", "link", "show", "dev", ifname)
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		tb.Fatalf("ip -s link show %s: %v: %s", ifname, err, out)
	}
	return ls[0].Stats.TX.Dropped
}

// xdpPort is the usual setup: a veth pair ny0-ny1 in a namespace of its
// own, a device eth0 with an xdp port on ny0 in mode (started).
func xdpPort(t *testing.T, mode XDPMode) (*testNS, *pkt.Pool, *testDev, *Port) {
	t.Helper()
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool})
	p.Start()
	return ns, pool, td, p
}

// inject sends frame from the raw socket, again while the kernel refuses
// it with ENOBUFS: the veth dropped it (its peer's receive queue, or the
// CPU's backlog that every namespace on the machine shares, was full; the
// kernel counts it as the veth's TX dropped). A shared, loaded machine
// does that now and then; the tests count frames, not the machine's load.
func (r *rawSock) inject(tb testing.TB, frame []byte) {
	tb.Helper()
	for try := 0; ; try++ {
		_, err := unix.Write(r.fd, frame)
		if err == nil {
			return
		}
		if !errors.Is(err, unix.ENOBUFS) || try == 100 {
			tb.Fatalf("inject %d bytes: %v", len(frame), err)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestXDPReceive: what the peer puts on the wire reaches the device byte
// for byte, tags included (XDP sees the frame before the stack strips a
// tag), and a run of n frames arrives exactly, counted once.
func TestXDPReceive(t *testing.T) {
	for _, mode := range xdpModes {
		t.Run(string(mode), func(t *testing.T) {
			ns := newNS(t)
			ns.veth(t, "ny0", "ny1")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 1)
			p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool})
			if p.Kind() != KindXDP || p.XDPMode() != string(mode)+" copy" {
				t.Fatalf("port is %s %q, want xdp %q copy", p.Kind(), p.XDPMode(), mode)
			}
			want := map[XDPMode]string{XDPModeGeneric: "xdpgeneric", XDPModeNative: "xdp"}[mode]
			if st := ns.xdpState(t, "ny0"); !strings.HasPrefix(st, want+" ") && st != want {
				t.Errorf("ip link show: %q, want %s attached", st, want)
			}
			p.Start()
			peer := ns.rawSocket(t, "ny1")
			for _, tc := range wireSet {
				peer.inject(t, tc.frame)
				got := td.next(wait)
				if got == nil {
					t.Fatalf("%s: nothing received", tc.name)
				}
				if !bytes.Equal(got.Data(), tc.frame) {
					t.Errorf("%s: received\n% x\nsent\n% x", tc.name, got.Data(), tc.frame)
				}
				got.Release()
			}
			const n = 3000
			for i := range n {
				peer.inject(t, testFrame(nil, uint32(1000+i), 60+i%1400))
			}
			got := 0
			// Each exactly once. Not necessarily in order: the
			// sending thread may move between CPUs, and in generic
			// mode each CPU's backlog feeds the program on its own.
			seen := make([]bool, n)
			for f := td.next(wait); f != nil; f = td.next(200 * time.Millisecond) {
				seq, _ := testSeq(f.Data())
				switch i := int(seq) - 1000; {
				case i < 0 || i >= n:
					t.Errorf("frame with seq %d", seq)
				case seen[i]:
					t.Errorf("seq %d received twice", seq)
				default:
					seen[i] = true
				}
				f.Release()
				got++
			}
			// inject sends again what the veth dropped: every frame
			// arrives, in order.
			s := p.Stats()
			if got != n || s.RxDropped != 0 || s.RxKernelDrops != 0 {
				t.Errorf("received %d of %d, the veth dropped %d; stats %+v", got, n, ns.txDropped(t, "ny1"), s)
			}
			// The kernel may send frames of its own; ours are all
			// counted.
			if s.RxPackets < uint64(got+len(wireSet)) {
				t.Errorf("RxPackets %d, want >= %d", s.RxPackets, got+len(wireSet))
			}
		})
	}
}

// TestXDPTransmit: what the datapath transmits is what the peer receives,
// byte for byte, and n frames in batches all arrive.
func TestXDPTransmit(t *testing.T) {
	for _, mode := range xdpModes {
		t.Run(string(mode), func(t *testing.T) {
			ns, pool, td, p := xdpPort(t, mode)
			peer := ns.rawSocket(t, "ny1")
			for _, tc := range wireSet {
				td.TransmitBatch(0, []*pkt.Buffer{bufferOf(t, pool, tc.frame)}, 0)
				got := peer.recv(t, wait)
				if !bytes.Equal(got, tc.frame) {
					t.Errorf("%s: peer received\n% x\nsent\n% x", tc.name, got, tc.frame)
				}
			}
			// Bursts of 64 with a pause: the peer's raw socket
			// (a 200 KiB receive buffer) must not overflow.
			const n, batch = 2048, 64
			got := make(chan int, 1)
			go func() {
				k := 0
				for f := peer.recv(t, wait); f != nil; f = peer.recv(t, 300*time.Millisecond) {
					k++
				}
				got <- k
			}()
			bufs := make([]*pkt.Buffer, 0, batch)
			for i := range n {
				bufs = append(bufs, bufferOf(t, pool, testFrame(nil, uint32(100+i), 60)))
				if len(bufs) == batch {
					td.TransmitBatch(0, bufs, 0)
					bufs = bufs[:0]
					time.Sleep(2 * time.Millisecond)
				}
			}
			// On a loaded machine the peer's backlog may overflow
			// (veth_xmit returns NET_XMIT_DROP): the kernel counts
			// it as ny0's TX dropped, and the kick reports EBUSY,
			// a TxError. Every frame is either received or there.
			// The peer's socket may also be short of buffer when its
			// reader is not scheduled in time (tp_drops).
			k := <-got
			dropped := ns.txDropped(t, "ny0")
			sockDrops := peer.drops(t)
			if k+dropped+sockDrops != n {
				t.Errorf("peer received %d of %d, the veth dropped %d, the peer's socket %d; stats %+v", k, n, dropped, sockDrops, p.Stats())
			}
			if dropped+sockDrops > 0 {
				t.Logf("the veth dropped %d, the peer's socket %d (a loaded machine)", dropped, sockDrops)
			}
			if s := p.Stats(); s.TxPackets != uint64(n+len(wireSet)) || s.TxDropped != 0 || (s.TxErrors == 0) != (dropped == 0) {
				t.Errorf("stats %+v: want %d sent, no drops, a TxError only with the veth's drops (%d)", s, n+len(wireSet), dropped)
			}
		})
	}
}

// TestXDPTxFull: with more frames than the queue has TX frames and no
// Flush, the extra are counted drops, and the queue flows after a Flush.
func TestXDPTxFull(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0"}, Options{Pool: pool})
	frame := testFrame(nil, 1, 60)
	for range xdpTxFrames + 10 {
		p.Transmit(0, bufferOf(t, pool, frame), 0)
	}
	if s := p.Stats(); s.TxDropped != 10 || s.TxPackets != xdpTxFrames {
		t.Errorf("stats %+v: want %d sent, 10 dropped", s, xdpTxFrames)
	}
	p.Flush(0)
	peer := ns.rawSocket(t, "ny1")
	p.Transmit(0, bufferOf(t, pool, testFrame(nil, 2, 60)), 0)
	p.Flush(0)
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if f := peer.recv(t, 100*time.Millisecond); f != nil {
			if seq, _ := testSeq(f); seq == 2 {
				return
			}
		}
	}
	t.Errorf("the queue does not flow after it was full: %+v", p.Stats())
}

// openErr is Open's error in the namespace; an Open that succeeds is
// closed and reported as an error.
func (ns *testNS) openErr(d *netdev.Device, s Spec, o Options) error {
	return ns.do(func() error {
		p, err := Open(d, s, o)
		if err == nil {
			p.Close()
			return errors.New("Open succeeded")
		}
		return err
	})
}

// TestXDPErrors: what cannot work gets an error that says what to do, and
// nothing is left attached.
func TestXDPErrors(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	for _, tc := range []struct {
		name    string
		spec    Spec
		bad     bool // ErrBadSpec
		message string
	}{
		{"zerocopy on veth", Spec{Kind: KindXDP, Link: "ny0", ZeroCopy: true}, false, "does not support AF_XDP zero-copy"},
		{"more queues than the link", Spec{Kind: KindXDP, Link: "ny0", Queues: 2}, true, "has no queue 1"},
		{"zerocopy generic", Spec{Kind: KindXDP, Link: "ny0", XDPMode: XDPModeGeneric, ZeroCopy: true}, true, "zerocopy needs the driver's XDP hook"},
		{"unknown mode", Spec{Kind: KindXDP, Link: "ny0", XDPMode: "offload"}, true, `xdp mode "offload"`},
		{"mode on afpacket", Spec{Kind: KindAFPacket, Link: "ny0", XDPMode: XDPModeNative}, true, "for type xdp"},
		{"no link", Spec{Kind: KindXDP}, true, "xdp needs the interface"},
		{"no such link", Spec{Kind: KindXDP, Link: "nope0"}, true, `no interface "nope0"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			td := newTestDev(t, "eth0", 1)
			fds := fdCount(t)
			err := ns.openErr(td.Device, tc.spec, Options{Pool: pool})
			if err == nil || !strings.Contains(err.Error(), tc.message) || errors.Is(err, ErrBadSpec) != tc.bad {
				t.Errorf("Open: %v; want an error with %q (bad spec: %v)", err, tc.message, tc.bad)
			}
			if st := ns.xdpState(t, "ny0"); st != "" {
				t.Errorf("after the failed Open: %q attached", st)
			}
			if n := fdCount(t); n != fds {
				t.Errorf("%d file descriptors after the failed Open, %d before", n, fds)
			}
		})
	}
}

// passProgram attaches an XDP program that passes everything to ifname in
// the namespace, as another tool would, and detaches it when the test ends.
func (ns *testNS) passProgram(tb testing.TB, ifname string, flags ebpflink.XDPAttachFlags) {
	tb.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
		License:      "MIT",
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { prog.Close() })
	var l ebpflink.Link
	err = ns.do(func() error {
		ifi, err := lookupIndex(ifname)
		if err != nil {
			return err
		}
		l, err = ebpflink.AttachXDP(ebpflink.XDPOptions{Program: prog, Interface: ifi, Flags: flags})
		return err
	})
	if err != nil {
		tb.Fatalf("attach a pass program to %s: %v", ifname, err)
	}
	tb.Cleanup(func() { l.Close() })
}

func lookupIndex(ifname string) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	info, err := lookupLink(fd, ifname, ifname)
	return info.index, err
}

// logBuffer is a logger whose output the test reads.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestXDPFallback: where the XDP program cannot be attached (another one
// holds the interface), type xdp falls back to afpacket, says so and why,
// and frames flow; an explicit mode is not traded for another.
func TestXDPFallback(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	ns.passProgram(t, "ny0", ebpflink.XDPGenericMode)
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	var logs logBuffer
	p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0"}, Options{Pool: pool, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if p.Kind() != KindAFPacket {
		t.Fatalf("port kind %s, want the afpacket fallback", p.Kind())
	}
	if l := logs.String(); !strings.Contains(l, "falling back to afpacket") || !strings.Contains(l, "could not be attached to ny0") {
		t.Errorf("log %q: want the fallback and its reason", l)
	}
	p.Start()
	peer := ns.rawSocket(t, "ny1")
	peer.inject(t, testFrame(nil, 1, 60))
	if f := td.next(wait); f == nil {
		t.Error("nothing received through the fallback")
	} else {
		f.Release()
	}

	// A link whose frames do not fit an AF_XDP frame falls back too.
	ns.ip(t, "link", "add", "name", "nyj0", "mtu", "9000", "type", "veth", "peer", "name", "nyj1", "mtu", "9000")
	ns.ip(t, "link", "set", "nyj0", "up")
	ns.ip(t, "link", "set", "nyj1", "up")
	tdj := newTestDev(t, "jumbo", 1)
	pj := ns.open(t, tdj.Device, Spec{Kind: KindXDP, Link: "nyj0"}, Options{Pool: pool, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if pj.Kind() != KindAFPacket || !strings.Contains(logs.String(), "link nyj0 has MTU 9000") {
		t.Errorf("xdp on a 9000-byte link: port %s, log %q; want the afpacket fallback and the MTU as reason", pj.Kind(), logs.String())
	}
	t.Logf("fallback log:\n%s", logs.String())

	td2 := newTestDev(t, "eth1", 1)
	err := ns.openErr(td2.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: XDPModeNative}, Options{Pool: pool})
	if err == nil || !strings.Contains(err.Error(), `without "mode native"`) {
		t.Errorf("Open with mode native on a held link: %v, want an error saying so", err)
	}
	t.Logf("explicit mode: %v", err)
}

// TestXDPTeardown: Close detaches the program (ip link show no longer
// says xdp), closes every socket, stops the goroutines; Transmit after it
// is a counted drop.
func TestXDPTeardown(t *testing.T) {
	for _, tc := range []struct {
		mode   XDPMode
		polled bool
	}{{XDPModeGeneric, false}, {XDPModeNative, false}, {XDPModeNative, true}} {
		name := string(tc.mode)
		if tc.polled {
			// Polled mode's receive goroutines wait in a poll(2) of
			// their own, beside an eventfd (waitRx): Close wakes
			// them and closes it.
			name += "/polled"
		}
		t.Run(name, func(t *testing.T) {
			mode := tc.mode
			ns := newNS(t)
			ns.veth(t, "ny0", "ny1")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 1)
			fds := fdCount(t)
			var p *Port
			if err := ns.do(func() (err error) {
				p, err = Open(td.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool, Polled: tc.polled})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			p.Start()
			if st := ns.xdpState(t, "ny0"); st == "" {
				t.Fatal("no XDP program attached while open")
			}
			done := make(chan error, 1)
			go func() { done <- p.Close() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Close: %v", err)
				}
			case <-time.After(wait):
				t.Fatal("Close hangs")
			}
			if err := p.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			if st := ns.xdpState(t, "ny0"); st != "" {
				t.Errorf("after Close ip link show still says %q", st)
			}
			p.Transmit(0, bufferOf(t, pool, testFrame(nil, 2, 60)), 0)
			p.Flush(0)
			if s := p.Stats(); s.TxDropped != 1 {
				t.Errorf("TxDropped after Close = %d, want 1", s.TxDropped)
			}
			deadline := time.Now().Add(time.Second)
			for receivers() > 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if n := receivers(); n != 0 {
				t.Errorf("%d receive goroutines after Close", n)
			}
			if n := fdCount(t); n != fds {
				t.Errorf("%d file descriptors after Close, %d before Open", n, fds)
			}
			// The host stack has the link back: a frame from the
			// peer reaches an AF_PACKET socket on it.
			own := ns.rawSocket(t, "ny0")
			ns.rawSocket(t, "ny1").inject(t, testFrame(nil, 3, 60))
			if f := own.recv(t, wait); f == nil {
				t.Error("after Close frames do not reach the stack")
			}
		})
	}
}

// TestXDPMultiQueue: a device with two queues on a two-queue veth shares
// one UMEM (XDP_SHARED_UMEM), receives everything, and transmits on each
// queue. In native mode a veth hands a frame to the XDP program of the RX
// queue numbered like the peer's TX queue, which the peer's stack picks
// by flow hash: both sockets receive. In generic mode the kernel runs the
// program on the queue the skb recorded, which a veth does not: all on
// queue 0.
func TestXDPMultiQueue(t *testing.T) {
	for _, mode := range xdpModes {
		t.Run(string(mode), func(t *testing.T) {
			ns := newNS(t)
			ns.ip(t, "link", "add", "name", "ny0", "numtxqueues", "2", "numrxqueues", "2", "type", "veth",
				"peer", "name", "ny1", "numtxqueues", "2", "numrxqueues", "2")
			ns.ip(t, "link", "set", "ny0", "up")
			ns.ip(t, "link", "set", "ny1", "up")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 2)
			p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool})
			if p.Queues() != 2 {
				t.Fatalf("%d queues, want 2", p.Queues())
			}
			p.Start()
			peer := ns.rawSocket(t, "ny1")
			const n = 200
			for i := range n {
				peer.inject(t, udpFrame(uint16(1000+i), uint32(i)))
			}
			got := 0
			for f := td.next(wait); f != nil; f = td.next(200 * time.Millisecond) {
				f.Release()
				got++
			}
			q0, q1 := p.QueueStats(0).RxPackets, p.QueueStats(1).RxPackets
			t.Logf("%s: queue 0 received %d, queue 1 %d", mode, q0, q1)
			if got != n {
				t.Errorf("received %d of %d; stats %+v", got, n, p.Stats())
			}
			if mode == XDPModeNative && (q0 == 0 || q1 == 0) {
				t.Errorf("native: queue 0 received %d, queue 1 %d: want both to receive", q0, q1)
			}
			// A frame the veth drops (the shared backlog full: a
			// loaded machine) is a TxError and is sent again.
			for q := range 2 {
				frame := testFrame(nil, uint32(10+q), 60)
				var f []byte
				tries := 0
				for ; f == nil && tries < 5; tries++ {
					td.TransmitBatch(q, []*pkt.Buffer{bufferOf(t, pool, frame)}, 0)
					f = peer.recv(t, wait/2)
				}
				s := p.QueueStats(q)
				if !bytes.Equal(f, frame) || s.TxPackets != uint64(tries) || s.TxErrors != uint64(tries-1) {
					t.Errorf("queue %d: peer received % x after %d tries; stats %+v, the veth dropped %d",
						q, f, tries, s, ns.txDropped(t, "ny0"))
				}
			}
		})
	}
}

// TestXDPZeroAllocs: a frame's way out of one AF_XDP port, through the
// veth, into another AF_XDP port and the device allocates nothing.
func TestXDPZeroAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("under the race detector sync.Pool drops buffers on purpose")
	}
	// Push mode (receive goroutines) and polled mode (the worker's
	// PollRx, as in the daemon).
	for _, polled := range []bool{false, true} {
		t.Run(map[bool]string{false: "push", true: "polled"}[polled], func(t *testing.T) {
			ns := newNS(t)
			ns.veth(t, "ny0", "ny1")
			pool := pkt.NewPool(pkt.PoolConfig{})
			txd, rxd := newTestDev(t, "tx0", 1), newTestDev(t, "rx0", 1)
			tx := ns.open(t, txd.Device, Spec{Kind: KindXDP, Link: "ny0"}, Options{Pool: pool, Polled: polled})
			rx := ns.open(t, rxd.Device, Spec{Kind: KindXDP, Link: "ny1"}, Options{Pool: pool, Polled: polled})
			if (rxd.RxPoller() != nil) != polled {
				t.Fatalf("Polled %v: the device's RxPoller is %v", polled, rxd.RxPoller())
			}
			tx.Start()
			rx.Start()
			const batch = 32
			frame := testFrame(nil, 1, 60)
			forward := func() {
				for range batch {
					b, err := pool.Get()
					if err != nil {
						t.Fatal(err)
					}
					_ = b.SetData(frame)
					tx.Transmit(0, b, 0)
				}
				tx.Flush(0)
				for got := 0; got < batch; got++ {
					p := rxd.next(wait)
					if p == nil {
						t.Fatalf("received %d of %d frames", got, batch)
					}
					p.Release()
				}
			}
			forward()
			if allocs := testing.AllocsPerRun(20, forward); allocs != 0 {
				t.Errorf("%.1f allocations per batch of %d frames, want 0", allocs, batch)
			}
		})
	}
}

// BenchmarkXDPForward is BenchmarkAFPacketForward over AF_XDP ports: one
// frame per op from an AF_XDP port on ny0 through the veth into one on ny1.
func BenchmarkXDPForward(b *testing.B) {
	for _, mode := range xdpModes {
		b.Run(string(mode), func(b *testing.B) {
			ns := newNS(b)
			ns.veth(b, "ny0", "ny1")
			pool := pkt.NewPool(pkt.PoolConfig{})
			txd, rxd := newTestDev(b, "tx0", 1), newTestDev(b, "rx0", 1)
			tx := ns.open(b, txd.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool})
			rx := ns.open(b, rxd.Device, Spec{Kind: KindXDP, Link: "ny1", XDPMode: mode}, Options{Pool: pool})
			rx.Start()
			const batch, window = 64, 2048
			frame := testFrame(nil, 1, 60)
			var sent, received, lost int
			drain := func() {
				for p := rxd.RxRing().Pop(); p != nil; p = rxd.RxRing().Pop() {
					p.Release()
					received++
				}
			}
			waitFor := func(until int) {
				timeout := time.NewTimer(50 * time.Millisecond)
				defer timeout.Stop()
				for drain(); received+lost < until; drain() {
					select {
					case <-rxd.wake:
					case <-timeout.C:
						lost = sent - received
						return
					}
				}
			}
			// The buffers in flight are the pool's working set, not a
			// per-frame cost.
			warm := make([]*pkt.Buffer, 2*window)
			for i := range warm {
				warm[i], _ = pool.Get()
			}
			for _, p := range warm {
				p.Release()
			}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				p, _ := pool.Get()
				_ = p.SetData(frame)
				tx.Transmit(0, p, 0)
				if sent++; sent%batch == 0 {
					tx.Flush(0)
					if sent-received-lost > window {
						waitFor(sent - window/2)
					}
				}
			}
			tx.Flush(0)
			waitFor(sent)
			elapsed := time.Since(start)
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(max(received, 1)), "ns/pkt")
			b.ReportMetric(float64(received)/elapsed.Seconds(), "pkt/s")
			b.ReportMetric(float64(lost), "lost")
			if s := rx.Stats(); s.RxKernelDrops > 0 {
				b.Logf("receive ring drops: %d", s.RxKernelDrops)
			}
		})
	}
}

// TestXDPChecksumOffload: a UDP datagram from the local stack of the
// peer's namespace leaves the veth with its checksum partial (tx
// checksum offload); AF_XDP does not say so, and the backend completes it
// all the same (completePartialChecksum), in both modes.
func TestXDPChecksumOffload(t *testing.T) {
	for _, mode := range xdpModes {
		t.Run(string(mode), func(t *testing.T) {
			ns := newNS(t)
			ns.ip(t, "link", "add", "name", "ny0", "address", macB.String(), "type", "veth", "peer", "name", "ny1")
			ns.ip(t, "link", "set", "ny0", "up")
			ns.ip(t, "link", "set", "ny1", "up")
			ns.ip(t, "addr", "add", ip4A.String()+"/24", "dev", "ny1")
			ns.ip(t, "neigh", "add", ip4B.String(), "lladdr", macB.String(), "dev", "ny1", "nud", "permanent")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 1)
			p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool})
			p.Start()
			payload := append(append([]byte(nil), testMarker...), 0, 0, 0, 1, 'x')
			if err := ns.do(func() error { return sendUDP(ip4B, 5000, payload) }); err != nil {
				t.Fatal(err)
			}
			got := td.next(wait)
			if got == nil {
				t.Fatal("the datagram did not arrive")
			}
			defer got.Release()
			var h wire.Headers
			if err := wire.Parse(got.Data(), &h); err != nil || h.Proto != wire.ProtoUDP {
				t.Fatalf("parse: %v, proto %d", err, h.Proto)
			}
			seg := got.Data()[h.L4Off : int(h.L3Off)+int(h.IPTotalLen)]
			if c := wire.TransportChecksum(wire.ProtoUDP, h.SrcIP, h.DstIP, seg); c != 0 {
				t.Errorf("UDP checksum does not verify (sum %#04x): % x", c, seg)
			}
			if s := p.Stats(); s.RxCsumCompleted != 1 {
				t.Errorf("RxCsumCompleted = %d, want 1 (is tx checksum offload off on the veth?)", s.RxCsumCompleted)
			}
		})
	}
}

// TestXDPTxPeerDown: frames sent while the veth peer is down (carrier off)
// are dropped by the kernel, which says so only as EBUSY on the kick: a
// counted error, and the frames come back through the completion ring, so
// the queue is not held; it flows when the peer is back.
func TestXDPTxPeerDown(t *testing.T) {
	ns, pool, _, p := xdpPort(t, XDPModeAuto)
	ns.ip(t, "link", "set", "dev", "ny1", "down")
	const n = 20
	for i := range n {
		p.Transmit(0, bufferOf(t, pool, testFrame(nil, uint32(i), 60)), 0)
	}
	p.Flush(0)
	deadline := time.Now().Add(wait)
	if s := p.Stats(); s.TxErrors == 0 || s.TxPackets != n {
		t.Errorf("stats %+v: want %d handed to the kernel and the refusal counted", s, n)
	}
	// The kernel completes a dropped frame when it frees its skb,
	// which may be a moment later.
	tx := &p.b.(*xdpBackend).qs[0].tx
	free := 0
	for free < xdpTxFrames && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		tx.mu.Lock()
		tx.reclaim()
		free = len(tx.free)
		tx.mu.Unlock()
	}
	if free != xdpTxFrames {
		t.Errorf("%d of %d TX frames free after the kernel dropped the rest", free, xdpTxFrames)
	}
	ns.ip(t, "link", "set", "dev", "ny1", "up")
	peer := ns.rawSocket(t, "ny1")
	frame := testFrame(nil, 100, 60)
	var got []byte
	for time.Now().Before(deadline) && got == nil {
		p.Transmit(0, bufferOf(t, pool, frame), 0)
		p.Flush(0)
		got = peer.recv(t, 50*time.Millisecond)
	}
	if !bytes.Equal(got, frame) {
		t.Fatalf("after the peer came back: % x; stats %+v", got, p.Stats())
	}
}

// TestXDPLinkFlap: with the link down a kick fails (counted) and nothing
// spins; once it is back, frames flow both ways again.
func TestXDPLinkFlap(t *testing.T) {
	ns, pool, td, p := xdpPort(t, XDPModeAuto)
	peer := ns.rawSocket(t, "ny1")
	ns.ip(t, "link", "set", "ny0", "down")
	td.TransmitBatch(0, []*pkt.Buffer{bufferOf(t, pool, testFrame(nil, 1, 60))}, 0)
	if s := p.Stats(); s.TxErrors == 0 {
		t.Errorf("stats %+v: a kick on a down link must count an error", s)
	}
	ns.ip(t, "link", "set", "ny0", "up")
	// The frame queued while down goes with the next kick, before the
	// new one; a kick before the carrier is back, or into a full
	// backlog (a loaded machine), has the veth drop frames (counted:
	// its TX dropped), and the new one is sent again.
	var order []uint32
	for tries := 0; !slices.Contains(order, 2) && tries < 5; tries++ {
		td.TransmitBatch(0, []*pkt.Buffer{bufferOf(t, pool, testFrame(nil, 2, 60))}, 0)
		for f := peer.recv(t, wait/2); f != nil; f = peer.recv(t, 50*time.Millisecond) {
			seq, _ := testSeq(f)
			order = append(order, seq)
		}
	}
	dropped := ns.txDropped(t, "ny0")
	switch {
	case !slices.Contains(order, 2):
		t.Fatalf("peer received %v, want 2; the veth dropped %d", order, dropped)
	case len(order) > 0 && order[0] != 1 && dropped == 0:
		t.Errorf("peer received %v: the frame queued while down neither went first nor was dropped by the veth", order)
	}
	peer.inject(t, testFrame(nil, 3, 60))
	got := td.next(wait)
	if got == nil {
		t.Fatal("nothing received after the link came back")
	}
	got.Release()
	if n := receivers(); n != 1 {
		t.Errorf("%d receive goroutines, want 1", n)
	}
}

// TestXDPNativeRefused: a veth whose peer's MTU is above what native XDP
// takes (a page less headroom) refuses the driver's hook; without mode
// the port runs generic and the log says why, with mode native Open
// fails and says so.
func TestXDPNativeRefused(t *testing.T) {
	ns := newNS(t)
	ns.ip(t, "link", "add", "name", "ny0", "mtu", "3000", "type", "veth", "peer", "name", "ny1", "mtu", "4000")
	ns.ip(t, "link", "set", "ny0", "up")
	ns.ip(t, "link", "set", "ny1", "up")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	var logs logBuffer
	p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0"}, Options{Pool: pool, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if p.Kind() != KindXDP || p.XDPMode() != "generic copy" || !strings.Contains(logs.String(), "refused native XDP; using generic") ||
		!strings.Contains(logs.String(), "peer's MTU") {
		t.Errorf("port %s %q, log %q: want generic and the reason native was refused", p.Kind(), p.XDPMode(), logs.String())
	}
	t.Logf("log: %s", logs.String())
	p.Start()
	peer := ns.rawSocket(t, "ny1")
	peer.inject(t, testFrame(nil, 1, 1000))
	if f := td.next(wait); f == nil {
		t.Errorf("nothing received in generic mode: %+v", p.Stats())
	} else {
		f.Release()
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	td2 := newTestDev(t, "eth1", 1)
	err := ns.openErr(td2.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: XDPModeNative}, Options{Pool: pool})
	if err == nil || !strings.Contains(err.Error(), `without "mode native"`) {
		t.Errorf("Open with mode native: %v, want an error saying so", err)
	}
}

// TestMain lets TestXDPKilled start this binary again as a process that
// holds an xdp port (NY_XDP_HOLD=IFNAME) until it is killed.
func TestMain(m *testing.M) {
	if ifname := os.Getenv("NY_XDP_HOLD"); ifname != "" {
		os.Exit(holdXDP(ifname))
	}
	os.Exit(m.Run())
}

// holdXDP opens an xdp port on ifname, says "ready" and waits to be
// killed.
func holdXDP(ifname string) int {
	d, err := netdev.New(1, netdev.Config{Name: "hold0"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := Open(d, Spec{Kind: KindXDP, Link: ifname}, Options{Pool: pkt.NewPool(pkt.PoolConfig{})})
	if err != nil || p.Kind() != KindXDP {
		fmt.Fprintln(os.Stderr, "open:", err)
		return 1
	}
	p.Start()
	fmt.Println("ready")
	select {}
}

// TestXDPKilled: a netyard killed with SIGKILL leaves no XDP program on
// the interface (the program is attached as a bpf_link, which the kernel
// detaches when the process's descriptors close), and the interface
// passes frames to the stack again.
func TestXDPKilled(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	cmd := exec.Command("ip", "netns", "exec", ns.name, os.Args[0])
	cmd.Env = append(os.Environ(), "NY_XDP_HOLD=ny0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "ready\n" {
		t.Fatalf("holder: %q, %v", line, err)
	}
	if st := ns.xdpState(t, "ny0"); st == "" {
		t.Fatal("no XDP program attached by the holder")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline := time.Now().Add(wait)
	st := ns.xdpState(t, "ny0")
	for st != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		st = ns.xdpState(t, "ny0")
	}
	if st != "" {
		t.Fatalf("after SIGKILL ip link show still says %q", st)
	}
	own := ns.rawSocket(t, "ny0")
	ns.rawSocket(t, "ny1").inject(t, testFrame(nil, 1, 60))
	if f := own.recv(t, wait); f == nil {
		t.Error("after the kill frames do not reach the stack")
	}
}

// TestXDPPolled: with Options.Polled the device's worker reads the RX
// ring itself (netdev.RxPoller): frames come in ring order, at most the
// budget a poll, nothing lands on the device's RX ring, and a worker that
// does not poll gets one wake-up however much arrives. What overflows the
// RX ring meanwhile is dropped by the kernel at the XDP redirect
// (rx_ring_full), never copied and then dropped by netyard; every frame is
// either polled or counted there.
func TestXDPPolled(t *testing.T) {
	for _, mode := range xdpModes {
		t.Run(string(mode), func(t *testing.T) {
			ns := newNS(t)
			ns.veth(t, "ny0", "ny1")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 1)
			var notifies atomic.Int32
			td.SetNotify(func() {
				notifies.Add(1)
				select {
				case td.wake <- struct{}{}:
				default:
				}
			})
			p := ns.open(t, td.Device, Spec{Kind: KindXDP, Link: "ny0", XDPMode: mode}, Options{Pool: pool, Polled: true})
			poller := td.RxPoller()
			if poller == nil {
				t.Fatal("Polled: the device has no RxPoller")
			}
			p.Start()
			peer := ns.rawSocket(t, "ny1")
			var buf [8]*pkt.Buffer
			// drain polls until the ring is empty and returns the
			// frames with the marker, checking the budget.
			drain := func() (seqs []uint32) {
				t.Helper()
				for {
					n := poller.PollRx(buf[:], 0)
					if n > len(buf) {
						t.Fatalf("PollRx returned %d frames for a budget of %d", n, len(buf))
					}
					if n == 0 {
						return seqs
					}
					for i := range n {
						if seq, ok := testSeq(buf[i].Data()); ok {
							seqs = append(seqs, seq)
						}
						buf[i].Release()
						buf[i] = nil
					}
				}
			}
			const n = 100
			for i := range n {
				peer.inject(t, testFrame(nil, uint32(i), 60))
			}
			var got []uint32
			deadline := time.Now().Add(wait)
			for len(got) < n && time.Now().Before(deadline) {
				got = append(got, drain()...)
				select {
				case <-td.wake:
				case <-time.After(10 * time.Millisecond):
				}
			}
			// One sending thread, one queue: ring order is send order
			// unless the thread moved between CPUs (generic mode runs
			// the program from each CPU's backlog), so count each.
			seen := make(map[uint32]bool)
			for _, s := range got {
				if s >= n || seen[s] {
					t.Fatalf("polled seq %d (twice, or never sent)", s)
				}
				seen[s] = true
			}
			if len(seen) != n {
				t.Fatalf("%d of %d frames polled", len(seen), n)
			}
			if td.RxRing().Len() != 0 {
				t.Errorf("polled mode put %d frames on the device's RX ring", td.RxRing().Len())
			}
			drain() // empty: the receive goroutine is rearmed

			// Overload: nobody polls while more frames arrive than the
			// RX ring holds. One wake-up, not one per frame.
			woken := notifies.Load()
			const m = xdpRxFrames + 2000
			for i := range m {
				peer.inject(t, testFrame(nil, uint32(n+i), 60))
			}
			time.Sleep(20 * time.Millisecond)
			if k := notifies.Load() - woken; k != 1 {
				t.Errorf("%d wake-ups for %d frames while the worker did not poll, want 1 (NAPI)", k, m)
			}
			drops := p.Stats().RxKernelDrops
			if drops == 0 || drops >= m {
				t.Fatalf("RxKernelDrops = %d for %d frames into a ring of %d, want some", drops, m, xdpRxFrames)
			}
			polled := len(drain())
			if uint64(polled)+drops != m || polled > xdpRxFrames {
				t.Errorf("polled %d + kernel drops %d, want %d in all (the ring holds %d)", polled, drops, m, xdpRxFrames)
			}
			if s := p.Stats(); s.RxDropped != 0 {
				t.Errorf("RxDropped = %d, want 0: nothing is copied only to be dropped", s.RxDropped)
			}
			// The ring flows again, and the worker is woken for it.
			td.wokenFor(t, &notifies, func() { peer.inject(t, testFrame(nil, n+m, 60)) })
			if last := drain(); len(last) != 1 || last[0] != n+m {
				t.Errorf("after the overload polled %v, want [%d]", last, n+m)
			}
		})
	}
}
