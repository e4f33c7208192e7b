package link

import (
	"bytes"
	"errors"
	"net/netip"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

// wait is how long a test waits for a frame it expects: far above the
// ring's 2 ms retire timeout, far below the test's budget.
const wait = 2 * time.Second

var (
	prio0   = wire.Tag{TPID: wire.EtherTypeVLAN, TCI: 0}           // priority tag, PCP 0: a TCI of 0
	prio5   = wire.Tag{TPID: wire.EtherTypeVLAN, TCI: 5 << 13}     // priority tag, PCP 5
	vid100  = wire.Tag{TPID: wire.EtherTypeVLAN, TCI: 3<<13 | 100} // 802.1Q C-tag
	stag7   = wire.Tag{TPID: wire.EtherTypeQinQ, TCI: 7}           // 802.1ad S-tag
	wireSet = []struct {
		name  string
		frame []byte
	}{
		{"untagged minimum", testFrame(nil, 1, 60)},
		{"priority tag vid 0 pcp 0", testFrame([]wire.Tag{prio0}, 2, 64)},
		{"priority tag vid 0 pcp 5", testFrame([]wire.Tag{prio5}, 3, 64)},
		{"802.1Q vid 100", testFrame([]wire.Tag{vid100}, 4, 64)},
		{"802.1ad over 802.1Q", testFrame([]wire.Tag{stag7, vid100}, 5, 68)},
		{"untagged mtu", testFrame(nil, 6, 1514)},
		{"802.1Q mtu", testFrame([]wire.Tag{vid100}, 7, 1518)},
	}
)

// TestAFPacketReceive: what the peer puts on the wire reaches the device
// byte for byte, the outer tag the kernel strips (skb_vlan_untag) put
// back, a priority tag with a TCI of 0 included.
func TestAFPacketReceive(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	p.Start()
	peer := ns.rawSocket(t, "ny1")

	var nbytes uint64
	for _, tc := range wireSet {
		t.Run(tc.name, func(t *testing.T) {
			peer.send(t, tc.frame)
			got := td.next(wait)
			if got == nil {
				t.Fatal("nothing received")
			}
			defer got.Release()
			if !bytes.Equal(got.Data(), tc.frame) {
				t.Errorf("received\n% x\nsent\n% x", got.Data(), tc.frame)
			}
			if got.Headroom() != pkt.Headroom {
				t.Errorf("headroom %d, want the pool's %d", got.Headroom(), pkt.Headroom)
			}
			nbytes += uint64(len(tc.frame))
		})
	}
	s := p.Stats()
	if s.RxPackets < uint64(len(wireSet)) || s.RxBytes < nbytes || s.RxDropped != 0 || s.RxKernelDrops != 0 {
		t.Errorf("stats %+v: want >= %d packets, >= %d bytes, no drops", s, len(wireSet), nbytes)
	}
}

// TestAFPacketReceiveDrops: frames the device cannot take are counted,
// not delivered.
func TestAFPacketReceiveDrops(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	d, err := netdev.New(1, netdev.Config{Name: "eth0", MTU: 1000})
	if err != nil {
		t.Fatal(err)
	}
	td := &testDev{Device: d, wake: make(chan struct{}, 1)}
	t.Cleanup(td.drain)
	d.SetNotify(func() {
		select {
		case td.wake <- struct{}{}:
		default:
		}
	})
	p := ns.open(t, d, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	p.Start()
	peer := ns.rawSocket(t, "ny1")
	peer.send(t, testFrame(nil, 1, 1000+14+8+1)) // above MTU 1000 with two tags
	peer.send(t, testFrame(nil, 2, 1000+14))
	got := td.next(wait)
	if got == nil {
		t.Fatal("the frame that fits did not arrive")
	}
	if seq, _ := testSeq(got.Data()); seq != 2 {
		t.Errorf("received frame %d, want 2 (frame 1 is too long)", seq)
	}
	got.Release()
	if s := p.Stats(); s.RxDropped != 1 {
		t.Errorf("RxDropped = %d, want 1", s.RxDropped)
	}
}

// TestAFPacketKernelDrops: frames the kernel cannot put in a full ring
// are counted (tp_drops), the count survives PACKET_STATISTICS' reset on
// read, and the ring flows again once read.
func TestAFPacketKernelDrops(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	peer := ns.rawSocket(t, "ny1")
	// Not started: nothing reads the ring. 64 blocks of 32 KiB hold
	// at most ~1300 frames of 1514 bytes (fewer when blocks retire
	// part-full on the 2 ms timeout while the frames trickle in).
	const n = 2000
	for i := range n {
		peer.send(t, testFrame(nil, uint32(i), 1514))
	}
	first := p.Stats().RxKernelDrops
	if first == 0 || first >= n {
		t.Fatalf("RxKernelDrops = %d after %d frames into a ring of ~1300, want some", first, n)
	}
	if again := p.Stats().RxKernelDrops; again != first {
		t.Errorf("RxKernelDrops read again = %d, want %d (the kernel's count resets on read; ours must not)", again, first)
	}
	p.Start()
	got := 0
	for f := td.next(wait); f != nil; f = td.next(100 * time.Millisecond) {
		f.Release()
		got++
	}
	t.Logf("%d frames received, %d dropped by the kernel", got, first)
	if uint64(got)+first != n {
		t.Errorf("received %d + dropped %d, want %d in all", got, first, n)
	}
	peer.send(t, testFrame(nil, n, 60))
	if f := td.next(wait); f == nil {
		t.Error("the ring does not flow after it was drained")
	} else {
		f.Release()
	}
}

// TestAFPacketLinkFlap: when the link goes down the socket reports
// ENETDOWN to the waiting goroutine; it must neither spin nor stop, and
// frames flow again once the link is back.
func TestAFPacketLinkFlap(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	p.Start()
	peer := ns.rawSocket(t, "ny1")
	ns.ip(t, "link", "set", "ny0", "down")
	td.TransmitBatch(0, []*pkt.Buffer{bufferOf(t, pool, testFrame(nil, 1, 60))}, 0)
	if s := p.Stats(); s.TxErrors == 0 {
		t.Errorf("stats %+v: a kick on a down link must count an error", s)
	}
	// The frame queued while the link is down is kicked again by the
	// retries and then given up and counted: a down link does not hold
	// the queue, and no stale burst goes out when it is back.
	deadline := time.Now().Add(wait)
	for p.Stats().TxDropped == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := p.Stats(); s.TxDropped != 1 {
		t.Errorf("stats %+v: the frame queued on a down link was not given up", s)
	}
	ns.ip(t, "link", "set", "ny0", "up")
	td.TransmitBatch(0, []*pkt.Buffer{bufferOf(t, pool, testFrame(nil, 2, 60))}, 0)
	// The kernel's own frames for a link that came up (IPv6 DAD,
	// router solicitations) may come first: the first test frame counts.
	got0 := peer.recv(t, wait)
	for _, ok := testSeq(got0); got0 != nil && !ok; _, ok = testSeq(got0) {
		got0 = peer.recv(t, wait)
	}
	if seq, ok := testSeq(got0); !ok || seq != 2 {
		t.Fatalf("peer received seq %d (%v), want 2", seq, ok)
	}
	ns.waitOperUp(t, "ny1")
	peer.send(t, testFrame(nil, 3, 60))
	got := td.next(wait)
	if got == nil {
		t.Fatalf("nothing received after the link came back; stats %+v", p.Stats())
	}
	got.Release()
	if n := receivers(); n != 1 {
		t.Errorf("%d receive goroutines, want 1", n)
	}
}

// TestAFPacketTransmit: what the datapath transmits is what the peer
// receives, on both TX paths: the TPACKET_V3 ring on the receive socket
// and the pre-4.11 TPACKET_V2 ring on a socket of its own. Frames the link
// would refuse are counted as drops.
func TestAFPacketTransmit(t *testing.T) {
	for _, v2 := range []bool{false, true} {
		t.Run(map[bool]string{false: "v3", true: "v2"}[v2], func(t *testing.T) {
			ns := newNS(t)
			ns.veth(t, "ny0", "ny1")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 1)
			p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool, forceTxV2: v2})
			peer := ns.rawSocket(t, "ny1")
			for _, tc := range wireSet {
				t.Run(tc.name, func(t *testing.T) {
					td.TransmitBatch(0, []*pkt.Buffer{bufferOf(t, pool, tc.frame)}, 0)
					got := peer.recv(t, wait)
					if !bytes.Equal(got, tc.frame) {
						t.Errorf("peer received\n% x\nsent\n% x", got, tc.frame)
					}
				})
			}
			before := p.Stats()
			for _, f := range [][]byte{testFrame(nil, 90, 1515), make([]byte, 13), testFrame([]wire.Tag{stag7}, 91, 1518)} {
				p.Transmit(0, bufferOf(t, pool, f), 0)
				p.Flush(0)
			}
			if got := peer.recv(t, 100*time.Millisecond); got != nil {
				t.Errorf("a frame the link refuses arrived: % x", got[:20])
			}
			s := p.Stats()
			if d := s.TxDropped - before.TxDropped; d != 3 {
				t.Errorf("TxDropped grew by %d, want 3 (too long, runt, too long for 802.1ad)", d)
			}
			if s.TxPackets != uint64(len(wireSet)) || s.TxErrors != 0 {
				t.Errorf("stats %+v: want %d packets, no errors", s, len(wireSet))
			}
		})
	}
}

// TestAFPacketTxRingFull: frames that find the TX ring full are dropped
// and counted, never waited for; a kick empties the ring.
func TestAFPacketTxRingFull(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	frame := testFrame(nil, 1, 60)
	const extra = 88
	for range txFrames + extra {
		p.Transmit(0, bufferOf(t, pool, frame), 0) // no Flush: nothing leaves the ring
	}
	if s := p.Stats(); s.TxPackets != txFrames || s.TxDropped != extra {
		t.Fatalf("stats %+v: want %d packets in the ring and %d dropped", s, txFrames, extra)
	}
	p.Flush(0)
	for range 10 {
		p.Transmit(0, bufferOf(t, pool, frame), 0)
	}
	p.Flush(0)
	if s := p.Stats(); s.TxPackets != txFrames+10 || s.TxDropped != extra || s.TxErrors != 0 {
		t.Errorf("stats %+v after a kick: want %d packets, still %d dropped", s, txFrames+10, extra)
	}
}

// TestAFPacketTxUnwedge: a frame the veth peer keeps refusing (its MTU is
// smaller) does not hold the frames behind it for good: after a few
// Flushes it is given up and counted as dropped, and the rest go out.
func TestAFPacketTxUnwedge(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	ns.ip(t, "link", "set", "dev", "ny1", "mtu", "1000")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	peer := ns.rawSocket(t, "ny1")
	p.Transmit(0, bufferOf(t, pool, testFrame(nil, 1, 1514)), 0) // fits ny0, not ny1
	p.Flush(0)
	small := testFrame(nil, 2, 60)
	var got []byte
	for i := 0; i < 2*stuckFlushes && got == nil; i++ {
		p.Transmit(0, bufferOf(t, pool, small), 0)
		p.Flush(0)
		got = peer.recv(t, 50*time.Millisecond)
	}
	if !bytes.Equal(got, small) {
		t.Fatalf("the frames behind a refused one never arrived (got % x); stats %+v", got, p.Stats())
	}
	if s := p.Stats(); s.TxDropped != 1 {
		t.Errorf("stats %+v: want the refused frame counted as dropped", s)
	}
}

// bufferOf returns a pool buffer holding a copy of frame.
func bufferOf(tb testing.TB, pool *pkt.Pool, frame []byte) *pkt.Buffer {
	b, err := pool.Get()
	if err != nil {
		tb.Fatal(err)
	}
	if err := b.SetData(frame); err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestAFPacketMultiQueue: TX queue q goes out on socket q; received flows
// spread over the queues' sockets (PACKET_FANOUT_HASH) and all reach the
// device.
func TestAFPacketMultiQueue(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 2)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	if p.Queues() != 2 {
		t.Fatalf("%d queues, want the device's 2", p.Queues())
	}
	p.Start()
	peer := ns.rawSocket(t, "ny1")

	const n = 8
	for i := range n {
		td.TransmitBatch(1, []*pkt.Buffer{bufferOf(t, pool, testFrame(nil, uint32(i), 100))}, 0)
	}
	for i := range n {
		got := peer.recv(t, wait)
		if seq, ok := testSeq(got); !ok || seq != uint32(i) {
			t.Fatalf("frame %d: peer received seq %d (%v)", i, seq, ok)
		}
	}
	if q0, q1 := p.QueueStats(0), p.QueueStats(1); q0.TxPackets != 0 || q1.TxPackets != n {
		t.Errorf("tx packets per queue: %d, %d; want 0, %d", q0.TxPackets, q1.TxPackets, n)
	}

	const flows = 64
	for i := range flows {
		peer.send(t, udpFrame(uint16(10000+i), uint32(i)))
	}
	seen := map[uint32]bool{}
	for range flows {
		got := td.next(wait)
		if got == nil {
			t.Fatalf("received %d of %d flows", len(seen), flows)
		}
		seq, _ := testSeq(got.Data())
		seen[seq] = true
		got.Release()
	}
	if len(seen) != flows {
		t.Errorf("received %d distinct flows, want %d", len(seen), flows)
	}
	// With 64 flows hashed over 2 sockets, one socket getting none has
	// probability 2^-63.
	if q0, q1 := p.QueueStats(0), p.QueueStats(1); q0.RxPackets == 0 || q1.RxPackets == 0 {
		t.Errorf("rx packets per queue: %d, %d; want both > 0", q0.RxPackets, q1.RxPackets)
	}
}

// TestAFPacketFanoutOpen: frames arriving while a multi-queue port opens
// reach the device once. (A socket bound before it joins the fanout group
// would receive a copy of what the group gets.)
func TestAFPacketFanoutOpen(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 4)
	peer := ns.rawSocket(t, "ny1")
	var sent atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for seq := 0; ; {
			select {
			case <-stop:
				return
			default:
			}
			// Different flows, so that all sockets of the group
			// get some.
			if _, err := unix.Write(peer.fd, udpFrame(uint16(30000+seq%64), uint32(seq))); err == nil {
				seq++
				sent.Store(int64(seq))
			}
		}
	}()
	// Frames flow before, during and after Open.
	waitSent := func(n int64) {
		for sent.Load() < n {
			runtime.Gosched()
		}
	}
	waitSent(500)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	waitSent(sent.Load() + 500)
	close(stop)
	<-done
	p.Start()
	seen := map[uint32]int{}
	for f := td.next(wait); f != nil; f = td.next(100 * time.Millisecond) {
		seq, _ := testSeq(f.Data())
		seen[seq]++
		f.Release()
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	t.Logf("%d frames sent, %d received after Open, %d duplicates", sent.Load(), len(seen), dups)
	if dups != 0 {
		t.Errorf("%d frames reached the device twice", dups)
	}
}

// TestAFPacketChecksumOffload: a UDP datagram the peer's stack sends with
// checksum offload (a veth's default) arrives with its checksum filled in.
func TestAFPacketChecksumOffload(t *testing.T) {
	ns := newNS(t)
	ns.ip(t, "link", "add", "name", "ny0", "address", wire.MAC(macB).String(), "type", "veth", "peer", "name", "ny1")
	ns.ip(t, "link", "set", "ny0", "up")
	ns.ip(t, "link", "set", "ny1", "up")
	ns.ip(t, "addr", "add", ip4A.String()+"/24", "dev", "ny1")
	ns.ip(t, "neigh", "add", ip4B.String(), "lladdr", wire.MAC(macB).String(), "dev", "ny1", "nud", "permanent")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
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
}

// TestAFPacketBadLink: interfaces netyard cannot attach to give an
// ErrBadSpec error that names the problem.
func TestAFPacketBadLink(t *testing.T) {
	ns := newNS(t)
	ns.ip(t, "link", "add", "name", "down0", "type", "veth", "peer", "name", "down1")
	ns.ip(t, "link", "set", "lo", "up")
	pool := testPool(t)
	for _, tc := range []struct{ name, link string }{
		{"missing", "nosuch0"},
		{"down", "down0"},
		{"not ethernet", "lo"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := netdev.New(1, netdev.Config{Name: "eth0"})
			fds := fdCount(t)
			var err error
			_ = ns.do(func() error {
				_, err = Open(d, Spec{Kind: KindAFPacket, Link: tc.link}, Options{Pool: pool})
				return nil
			})
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("Open(%s) = %v, want an ErrBadSpec error", tc.link, err)
			}
			t.Log(err)
			if n := fdCount(t); n != fds {
				t.Errorf("%d file descriptors after the failed Open, %d before", n, fds)
			}
		})
	}
}

// TestCloseNoLeaks: Close returns promptly with receive goroutines
// waiting, leaves no goroutine and no file descriptor behind, can be
// called again, and a Transmit after it is a counted drop.
func TestCloseNoLeaks(t *testing.T) {
	for _, kind := range []Kind{KindAFPacket, KindTAP} {
		t.Run(string(kind), func(t *testing.T) {
			ns := newNS(t)
			ns.veth(t, "ny0", "ny1")
			pool := testPool(t)
			td := newTestDev(t, "eth0", 3)
			peer := ns.rawSocket(t, "ny1")
			fds := fdCount(t)

			var p *Port
			link := map[Kind]string{KindAFPacket: "ny0", KindTAP: "nyt0"}[kind]
			err := ns.do(func() (err error) {
				p, err = Open(td.Device, Spec{Kind: kind, Link: link}, Options{Pool: pool})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			p.Start()
			p.Start() // a second Start starts nothing
			if kind == KindAFPacket {
				peer.send(t, testFrame(nil, 1, 60))
				if got := td.next(wait); got != nil {
					got.Release()
				}
			}
			for deadline := time.Now().Add(time.Second); receivers() < 3 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond) // until the goroutines are scheduled
			}
			if n := receivers(); n != 3 {
				t.Errorf("%d receive goroutines while running, want one per queue, 3", n)
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
			p.Transmit(0, bufferOf(t, pool, testFrame(nil, 2, 60)), 0)
			p.Flush(0)
			if s := p.Stats(); s.TxDropped != 1 {
				t.Errorf("TxDropped after Close = %d, want 1", s.TxDropped)
			}

			// A goroutine's stack lingers a moment after its
			// deferred wg.Done.
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
		})
	}
}

// TestZeroAllocs: a frame's way through the backends, transmit, the
// kernel, receive, into the device, allocates nothing. Both backends: a
// veth pair between two AF_PACKET ports, and a TAP port facing an
// AF_PACKET port on the tap itself.
func TestZeroAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("under the race detector sync.Pool drops buffers on purpose")
	}
	for _, tc := range []struct {
		name         string
		setup        func(*testing.T, *testNS)
		txSpec       Spec
		rxSpec       Spec
		bringTapUpOn string
		polled       bool // the receiving port is read by its consumer (Options.Polled)
		gso          bool // 20 KB TCP GSO frames, sent and received whole
	}{
		{"afpacket", func(t *testing.T, ns *testNS) { ns.veth(t, "ny0", "ny1") },
			Spec{Kind: KindAFPacket, Link: "ny0"}, Spec{Kind: KindAFPacket, Link: "ny1"}, "", false, false},
		{"afpacket polled", func(t *testing.T, ns *testNS) { ns.veth(t, "ny0", "ny1") },
			Spec{Kind: KindAFPacket, Link: "ny0"}, Spec{Kind: KindAFPacket, Link: "ny1"}, "", true, false},
		{"tap to afpacket", func(*testing.T, *testNS) {},
			Spec{Kind: KindTAP, Link: "nyt0"}, Spec{Kind: KindAFPacket, Link: "nyt0"}, "nyt0", false, false},
		{"afpacket to tap", func(*testing.T, *testNS) {},
			Spec{Kind: KindAFPacket, Link: "nyt0"}, Spec{Kind: KindTAP, Link: "nyt0"}, "nyt0", false, false},
		{"afpacket gso polled", func(t *testing.T, ns *testNS) { ns.veth(t, "ny0", "ny1") },
			Spec{Kind: KindAFPacket, Link: "ny0"}, Spec{Kind: KindAFPacket, Link: "ny1"}, "", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := newNS(t)
			tc.setup(t, ns)
			pool := pkt.NewPool(pkt.PoolConfig{}) // no leak check: it records stacks
			txd, rxd := newTestDev(t, "tx0", 1), newTestDev(t, "rx0", 1)
			// The tap must exist before the AF_PACKET port attaches.
			first, second := tc.txSpec, tc.rxSpec
			firstDev, secondDev := txd, rxd
			if tc.rxSpec.Kind == KindTAP {
				first, second, firstDev, secondDev = second, first, rxd, txd
			}
			fo, so := Options{Pool: pool}, Options{Pool: pool}
			if firstDev == rxd {
				fo.Polled = tc.polled
			} else {
				so.Polled = tc.polled
			}
			fp := ns.open(t, firstDev.Device, first, fo)
			if tc.bringTapUpOn != "" {
				ns.ip(t, "link", "set", tc.bringTapUpOn, "up")
			}
			sp := ns.open(t, secondDev.Device, second, so)
			fp.Start()
			sp.Start()
			tx := fp
			if firstDev != txd {
				tx = sp
			}

			const batch = 32
			frame := testFrame(nil, 1, 60)
			var m pkt.Meta
			if tc.gso {
				frame, m = gsoFrame(t, false, 20000, 0x10)
			}
			bufs := make([]*pkt.Buffer, batch)
			forward := func() {
				for i := range bufs {
					get := pool.Get
					if tc.gso {
						get = pool.GetBig
					}
					b, err := get()
					if err != nil {
						t.Fatal(err)
					}
					_ = b.SetData(frame)
					b.GSOType, b.GSOSize, b.CsumPartial, b.CsumStart, b.CsumOffset = m.GSOType, m.GSOSize, m.CsumPartial, m.CsumStart, m.CsumOffset
					bufs[i] = b
				}
				for _, b := range bufs {
					tx.Transmit(0, b, 0)
				}
				tx.Flush(0)
				for got := 0; got < batch; {
					p := rxd.next(wait)
					if p == nil {
						t.Fatalf("received %d of %d frames", got, batch)
					}
					p.Release()
					got++
				}
			}
			forward() // warm the pool and the rings
			if allocs := testing.AllocsPerRun(20, forward); allocs != 0 {
				t.Errorf("%.1f allocations per batch of %d frames, want 0", allocs, batch)
			}
		})
	}
}

// BenchmarkAFPacketForward pushes 60-byte frames from one AF_PACKET port
// through a veth pair into another, one frame per op: ns/op is the cost
// of a frame's way transmit -> TX ring -> kernel -> RX ring -> device, on
// whichever cores the kernel and the receive goroutine get.
func BenchmarkAFPacketForward(b *testing.B) {
	// The TX ring's frames as linear skbs (the default), and as
	// fragments of the ring's pages (before; Options.txFrags).
	for _, frags := range []bool{false, true} {
		b.Run(map[bool]string{false: "linear", true: "frags"}[frags], func(b *testing.B) {
			benchAFPacketForward(b, frags)
		})
	}
}

func benchAFPacketForward(b *testing.B, txFrags bool) {
	ns := newNS(b)
	ns.veth(b, "ny0", "ny1")
	pool := pkt.NewPool(pkt.PoolConfig{})
	txd, rxd := newTestDev(b, "tx0", 1), newTestDev(b, "rx0", 1)
	tx := ns.open(b, txd.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool, txFrags: txFrags})
	rx := ns.open(b, rxd.Device, Spec{Kind: KindAFPacket, Link: "ny1"}, Options{Pool: pool})
	rx.Start()

	// window bounds the frames in flight: above one RX block's worth
	// (~800), so that blocks retire full rather than on the timeout,
	// and below the device ring (4096).
	const batch, window = 64, 2048
	frame := testFrame(nil, 1, 60)
	var sent, received, lost int
	drain := func() {
		for p := rxd.RxRing().Pop(); p != nil; p = rxd.RxRing().Pop() {
			p.Release()
			received++
		}
	}
	wait := func(until int) {
		timeout := time.NewTimer(50 * time.Millisecond)
		defer timeout.Stop()
		for drain(); received+lost < until; drain() {
			select {
			case <-rxd.wake:
			case <-timeout.C:
				lost = sent - received // dropped somewhere: count it, move on
				return
			}
		}
	}
	// Fill the pool first: the buffers in flight are its working set,
	// not a per-frame cost.
	warm := make([]*pkt.Buffer, 2*window)
	for i := range warm {
		warm[i], _ = pool.Get()
	}
	for _, p := range warm {
		p.Release()
	}
	b.ReportAllocs()
	start := time.Now()
	cpu0 := cpuTime()
	for b.Loop() {
		p, _ := pool.Get()
		_ = p.SetData(frame)
		tx.Transmit(0, p, 0)
		if sent++; sent%batch == 0 {
			tx.Flush(0)
			if sent-received-lost > window {
				wait(sent - window/2)
			}
		}
	}
	tx.Flush(0)
	wait(sent)
	elapsed := time.Since(start)
	// The process's CPU time (both ends, the kernel's work in their
	// system calls included) per frame: on a shared machine it moves
	// less than the wall-clock time.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(max(received, 1)), "cpu-ns/pkt")
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(max(received, 1)), "ns/pkt")
	b.ReportMetric(float64(received)/elapsed.Seconds(), "pkt/s")
	b.ReportMetric(float64(lost), "lost")
	if s := rx.Stats(); s.RxKernelDrops > 0 {
		b.Logf("receive ring drops: %d", s.RxKernelDrops)
	}
}

// cpuTime is the process's user and system time in nanoseconds.
func cpuTime() int64 {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// sendUDP sends payload to dst:port from a UDP socket of the calling
// thread's namespace.
func sendUDP(dst netip.Addr, port int, payload []byte) error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Port: port, Addr: dst.As4()})
}

// TestAFPacketTxRetry: a Flush that leaves frames in the ring (the peer
// is down) is retried without another transmission: the retries give the
// stuck frame up (counted) and the queue is free when the peer is back.
func TestAFPacketTxRetry(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	p.Start()
	ns.ip(t, "link", "set", "dev", "ny1", "down")
	p.Transmit(0, bufferOf(t, pool, testFrame(nil, 5, 60)), 0)
	p.Flush(0)
	deadline := time.Now().Add(2 * time.Second)
	for p.Stats().TxDropped == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s := p.Stats(); s.TxDropped != 1 {
		t.Fatalf("stats %+v: the frame the down peer refused was not given up by the retries", s)
	}
	ns.ip(t, "link", "set", "dev", "ny1", "up")
	peer := ns.rawSocket(t, "ny1")
	frame := testFrame(nil, 6, 60)
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

// TestAFPacketPolled: with Options.Polled the device's consumer reads the
// kernel's ring itself (netdev.RxPoller), in order, a budget at a time;
// the receive goroutine wakes it once and then not again until a poll has
// found the ring empty (NAPI). Frames nobody polls wait in the kernel's
// ring and, once it is full, are dropped by the kernel and counted there
// (RxKernelDrops): none is copied only to be dropped (RxDropped stays 0,
// the device's RX ring stays empty).
func TestAFPacketPolled(t *testing.T) {
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
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool, Polled: true})
	poller := td.RxPoller()
	if poller == nil {
		t.Fatal("Polled: the device has no RxPoller")
	}
	p.Start()
	peer := ns.rawSocket(t, "ny1")
	var buf [8]*pkt.Buffer
	// pollAll polls until want frames with the marker came, in order
	// from seq first, with a budget of len(buf) per poll.
	pollAll := func(first uint32, want int) {
		t.Helper()
		deadline := time.Now().Add(wait)
		next := first
		for int(next-first) < want {
			n := poller.PollRx(buf[:], 0)
			if n > len(buf) {
				t.Fatalf("PollRx returned %d frames for a budget of %d", n, len(buf))
			}
			for i := range n {
				if seq, ok := testSeq(buf[i].Data()); ok {
					if seq != next {
						t.Fatalf("frame %d polled, want %d (ring order)", seq, next)
					}
					next++
				}
				buf[i].Release()
				buf[i] = nil
			}
			if n == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("%d of %d frames polled", next-first, want)
				}
				select {
				case <-td.wake:
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	}
	const n = 100
	for i := range n {
		peer.send(t, testFrame(nil, uint32(i), 60))
	}
	pollAll(0, n)
	if td.RxRing().Len() != 0 {
		t.Errorf("polled mode put %d frames on the device's RX ring", td.RxRing().Len())
	}
	// Run the ring dry, so the receive goroutine is rearmed.
	for poller.PollRx(buf[:], 0) > 0 {
		for i := range buf {
			if buf[i] != nil {
				buf[i].Release()
				buf[i] = nil
			}
		}
	}

	// Overload: nobody polls while 2000 full-size frames arrive (the
	// ring holds ~1300). One wake-up, not one per block.
	woken := notifies.Load()
	const m = 2000
	for i := range m {
		peer.send(t, testFrame(nil, uint32(n+i), 1514))
	}
	time.Sleep(20 * time.Millisecond) // past the 2 ms retire timeout
	if k := notifies.Load() - woken; k != 1 {
		t.Errorf("%d wake-ups for %d frames while the worker did not poll, want 1 (NAPI)", k, m)
	}
	drops := p.Stats().RxKernelDrops
	if drops == 0 || drops >= m {
		t.Fatalf("RxKernelDrops = %d for %d frames into a ring of ~1300, want some", drops, m)
	}
	got := 0
	for {
		k := poller.PollRx(buf[:], 0)
		if k == 0 {
			break
		}
		for i := range k {
			if _, ok := testSeq(buf[i].Data()); ok {
				got++
			}
			buf[i].Release()
			buf[i] = nil
		}
	}
	if uint64(got)+drops != m {
		t.Errorf("polled %d + kernel drops %d, want %d in all", got, drops, m)
	}
	if s := p.Stats(); s.RxDropped != 0 {
		t.Errorf("RxDropped = %d, want 0: nothing is copied only to be dropped", s.RxDropped)
	}
	// The ring flows again, and the worker is woken for it.
	td.wokenFor(t, &notifies, func() { peer.send(t, testFrame(nil, n+m, 60)) })
	pollAll(n+m, 1)
}

// TestAFPacketGSO: a TCP GSO frame sent through one AF_PACKET port (with
// its virtio_net_hdr) crosses a veth whole and arrives at the other port
// byte for byte, with the same offload metadata; both count it as the 20
// segments the kernel would send (gso_segs, qdisc_pkt_len).
func TestAFPacketGSO(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	txd, rxd := newTestDev(t, "tx0", 1), newTestDev(t, "rx0", 1)
	tx := ns.open(t, txd.Device, Spec{Kind: KindAFPacket, Link: "ny0"}, Options{Pool: pool})
	rx := ns.open(t, rxd.Device, Spec{Kind: KindAFPacket, Link: "ny1"}, Options{Pool: pool})
	tx.Start()
	rx.Start()
	if !tx.TakesGSO() {
		t.Fatal("an AF_PACKET port without PACKET_VNET_HDR")
	}
	frame, m := gsoFrame(t, false, 20000, 0x18)
	b, err := pool.GetBig()
	if err != nil {
		t.Fatal(err)
	}
	_ = b.SetData(frame)
	b.GSOType, b.GSOSize, b.CsumPartial, b.CsumStart, b.CsumOffset = m.GSOType, m.GSOSize, m.CsumPartial, m.CsumStart, m.CsumOffset
	tx.Transmit(0, b, 0)
	tx.Flush(0)
	got := rxd.next(wait)
	if got == nil {
		t.Fatalf("nothing received; tx %+v rx %+v", tx.Stats(), rx.Stats())
	}
	defer got.Release()
	if !bytes.Equal(got.Data(), frame) {
		t.Errorf("received %d bytes, sent %d; not the same", got.Len(), len(frame))
	}
	if got.GSOType != m.GSOType || got.GSOSize != m.GSOSize || !got.CsumPartial || got.CsumStart != m.CsumStart || got.CsumOffset != m.CsumOffset {
		t.Errorf("received metadata %+v, sent %+v", got.Meta, m)
	}
	const segs, octets = 20, 20000 + 20*66
	if s := tx.Stats(); s.TxPackets != segs || s.TxBytes != octets || s.TxDropped != 0 {
		t.Errorf("tx stats %+v: want %d packets, %d bytes", s, segs, octets)
	}
	if s := rx.Stats(); s.RxPackets < segs || s.RxBytes < octets || s.RxDropped != 0 {
		t.Errorf("rx stats %+v: want >= %d packets, >= %d bytes", s, segs, octets)
	}
}
