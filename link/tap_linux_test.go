package link

import (
	"bytes"
	"errors"
	"testing"

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
