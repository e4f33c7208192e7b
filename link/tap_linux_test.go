package link

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"netyard/netdev"
	"netyard/pkt"
)

// TestTAP: frames the kernel sends on the tap reach the device, and frames
// the device transmits enter the kernel on the tap, byte for byte, tags
// included. The kernel side is an AF_PACKET socket on the tap.
func TestTAP(t *testing.T) {
	for _, queues := range []int{1, 2} {
		t.Run(map[int]string{1: "single queue", 2: "multi-queue"}[queues], func(t *testing.T) {
			ns := newNS(t)
			pool := testPool(t)
			td := newTestDev(t, "nyt0", queues)
			p := ns.open(t, td.Device, Spec{Kind: KindTAP}, Options{Pool: pool})
			if p.Link() != "nyt0" || p.Queues() != queues {
				t.Fatalf("tap %q with %d queues, want the device's name and %d", p.Link(), p.Queues(), queues)
			}
			// The tap is created down; bringing it up is the
			// user's, as with ip tuntap add.
			ns.ip(t, "link", "set", "nyt0", "up")
			p.Start()
			kernel := ns.rawSocket(t, "nyt0")

			for _, tc := range wireSet {
				t.Run(tc.name, func(t *testing.T) {
					kernel.send(t, tc.frame)
					got := td.next(wait)
					if got == nil {
						t.Fatal("the frame the kernel sent did not arrive")
					}
					if !bytes.Equal(got.Data(), tc.frame) {
						t.Errorf("received\n% x\nsent\n% x", got.Data(), tc.frame)
					}
					got.Release()

					// The last TX queue: queue 1 of a multi-queue tap.
					td.TransmitBatch(queues-1, []*pkt.Buffer{bufferOf(t, pool, tc.frame)}, 0)
					if back := kernel.recv(t, wait); !bytes.Equal(back, tc.frame) {
						t.Errorf("kernel received\n% x\nsent\n% x", back, tc.frame)
					}
				})
			}
			last := p.QueueStats(queues - 1)
			if last.TxPackets != uint64(len(wireSet)) || last.TxErrors != 0 || last.TxDropped != 0 {
				t.Errorf("queue %d stats %+v: want %d tx packets, no drops or errors", queues-1, last, len(wireSet))
			}
			if s := p.Stats(); s.RxPackets < uint64(len(wireSet)) || s.RxDropped != 0 {
				t.Errorf("stats %+v: want >= %d rx packets, no drops", s, len(wireSet))
			}

			// Flows the kernel sends spread over the queues and
			// all arrive.
			const flows = 32
			for i := range flows {
				kernel.send(t, udpFrame(uint16(20000+i), uint32(100+i)))
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
		})
	}
}

// TestTAPDown: a tap that is down refuses writes (tun_get_user: EIO);
// the frames are counted as errors, not lost silently.
func TestTAPDown(t *testing.T) {
	ns := newNS(t)
	pool := testPool(t)
	td := newTestDev(t, "nyt0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindTAP}, Options{Pool: pool})
	p.Transmit(0, bufferOf(t, pool, testFrame(nil, 1, 60)), 0)
	if s := p.Stats(); s.TxErrors != 1 || s.TxPackets != 0 {
		t.Errorf("stats %+v: want 1 tx error", s)
	}
}

// TestTAPBadSpec: names the kernel cannot give a tap are refused clearly.
func TestTAPBadSpec(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "ny0", "ny1")
	pool := testPool(t)
	held := newTestDev(t, "held0", 1)
	ns.open(t, held.Device, Spec{Kind: KindTAP}, Options{Pool: pool})
	for _, tc := range []struct {
		name string
		spec Spec
	}{
		// A veth already has the name.
		{"name of a veth", Spec{Kind: KindTAP, Link: "ny0"}},
		// A single-queue tap takes one file only.
		{"tap in use", Spec{Kind: KindTAP, Link: "held0"}},
		// A multi-queue attach to a single-queue tap.
		{"queue mode differs", Spec{Kind: KindTAP, Link: "held0", Queues: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := netdev.New(2, netdev.Config{Name: "eth1"})
			fds := fdCount(t)
			var err error
			_ = ns.do(func() error {
				_, err = Open(d, tc.spec, Options{Pool: pool})
				return nil
			})
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("Open(%+v) = %v, want an ErrBadSpec error", tc.spec, err)
			}
			t.Log(err)
			if n := fdCount(t); n != fds {
				t.Errorf("%d file descriptors after the failed Open, %d before", n, fds)
			}
		})
	}
}

// TestTAPGSO: with IFF_VNET_HDR the tap passes GSO frames whole both ways.
// The stack's UDP GSO send (UDP_SEGMENT, 20 segments) reaches the device
// as one frame with its offload state, counted as 20 packets; a TCP GSO
// frame the device transmits enters the stack whole (an AF_PACKET socket
// on the tap sees one 20 KiB frame, byte for byte), counted as its
// segments. The same with the header off (Options.noVnet): the stack
// segments, and the device's GSO frame is not the tap's to send whole.
func TestTAPGSO(t *testing.T) {
	ns := newNS(t)
	pool := testPool(t)
	td := newTestDev(t, "nyg0", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindTAP}, Options{Pool: pool})
	if !p.TakesGSO() {
		t.Fatal("a tap without IFF_VNET_HDR")
	}
	ns.ip(t, "link", "set", "nyg0", "up")
	ns.ip(t, "addr", "add", "10.77.0.1/24", "dev", "nyg0")
	ns.ip(t, "neigh", "add", "10.77.0.2", "lladdr", "02:00:00:00:00:02", "dev", "nyg0")
	p.Start()

	// Receive: one UDP GSO send of 20 x 1000 bytes.
	const segs, segSize = 20, 1000
	payload := make([]byte, segs*segSize)
	copy(payload, binary.BigEndian.AppendUint32(append([]byte(nil), testMarker...), 7))
	err := ns.do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_UDP, unix.UDP_SEGMENT, segSize); err != nil {
			return err
		}
		return unix.Sendto(fd, payload, 0, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{10, 77, 0, 2}})
	})
	if err != nil {
		t.Fatalf("UDP GSO send: %v", err)
	}
	got := td.next(wait)
	if got == nil {
		t.Fatalf("nothing received; %+v", p.Stats())
	}
	if n, _ := got.WireLen(); got.GSOType != pkt.GSOUDPL4 || got.GSOSize != segSize || got.Len() != 14+20+8+len(payload) || n != segs {
		t.Errorf("received %d bytes, %+v, %d segments: want one UDP GSO frame of %d segments", got.Len(), got.Meta, n, segs)
	}
	got.Release()
	if s := p.Stats(); s.RxPackets != segs || s.RxDropped != 0 {
		t.Errorf("rx stats %+v: want %d packets", s, segs)
	}

	// Transmit: a 20 KiB TCP GSO frame with a partial checksum.
	kernel := ns.rawSocket(t, "nyg0")
	frame, m := gsoFrame(t, false, 20000, 0x18)
	b, err := pool.GetBig()
	if err != nil {
		t.Fatal(err)
	}
	_ = b.SetData(frame)
	b.Meta = m
	td.TransmitBatch(0, []*pkt.Buffer{b}, 0)
	if back := kernel.recv(t, wait); !bytes.Equal(back, frame) {
		t.Errorf("the stack received %d bytes, sent a %d-byte GSO frame", len(back), len(frame))
	}
	if s := p.Stats(); s.TxPackets != 20 || s.TxDropped != 0 || s.TxErrors != 0 {
		t.Errorf("tx stats %+v: want 20 packets (the frame's segments)", s)
	}
}

// TestTAPNoVnet: without the header the stack segments before the tap.
func TestTAPNoVnet(t *testing.T) {
	ns := newNS(t)
	pool := testPool(t)
	td := newTestDev(t, "nyg1", 1)
	p := ns.open(t, td.Device, Spec{Kind: KindTAP}, Options{Pool: pool, noVnet: true})
	if p.TakesGSO() {
		t.Fatal("TakesGSO without IFF_VNET_HDR")
	}
	ns.ip(t, "link", "set", "nyg1", "up")
	p.Start()
	kernel := ns.rawSocket(t, "nyg1")
	f := testFrame(nil, 3, 100)
	kernel.send(t, f)
	if got := td.next(wait); got == nil || !bytes.Equal(got.Data(), f) || got.GSOType != pkt.GSONone {
		t.Fatalf("received %v, want the frame as sent", got)
	} else {
		got.Release()
	}
}
