package replay

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/datapath"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
)

// fakeClock is a clock that sleeping advances.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

// TestPlayer: tcpreplay's paces on a capture of records 10 ms apart (the
// capture's own, speed 2, rate 50/s, topspeed), loops, and a cancelled
// play; every record reaches the device.
func TestPlayer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	for i := range 5 {
		fr := make([]byte, 60)
		fr[12], fr[13] = 0x88, 0xb5
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(100, int64(i)*10e6), CaptureLength: 60, Length: 60}, fr)
	}
	f.Close()
	if l, err := CheckCapture(path); err != nil || l != netdev.LinkEthernet {
		t.Fatalf("CheckCapture: %v %v", l, err)
	}
	for _, tc := range []struct {
		name        string
		speed, rate float64
		top         bool
		loop        int
		total       time.Duration // virtual time the play took
		n           uint64
	}{
		{"capture's pace", 0, 0, false, 0, 40 * time.Millisecond, 5},
		{"speed 2", 2, 0, false, 0, 20 * time.Millisecond, 5},
		{"rate 50", 0, 50, false, 0, 80 * time.Millisecond, 5},
		{"topspeed", 0, 0, true, 0, 0, 5},
		{"loop 3", 0, 0, false, 3, 120 * time.Millisecond, 15},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := datapath.New(datapath.Config{Workers: 1, Pool: testutil.Pool(t, pkt.PoolConfig{}), Clock: &datapath.ManualClock{}})
			d, err := e.AddDevice(e.Default(), netdev.Config{Name: "eth0", RxRing: 64})
			if err != nil {
				t.Fatal(err)
			}
			clk := &fakeClock{now: time.Unix(0, 0)}
			p := &Player{Path: path, Speed: tc.speed, Rate: tc.rate, TopSpeed: tc.top, Loop: tc.loop, Now: clk.Now, Sleep: clk.Sleep}
			if err := p.Play(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			e.Run()
			if n, _ := p.Stats(); n != tc.n || d.Counters().RxPackets != tc.n {
				t.Errorf("played %d, device received %d; want %d", n, d.Counters().RxPackets, tc.n)
			}
			if got := clk.now.Sub(time.Unix(0, 0)); got != tc.total {
				t.Errorf("the play took %v, want %v (sleeps %v)", got, tc.total, clk.sleeps)
			}
		})
	}
	e := datapath.New(datapath.Config{Workers: 1, Pool: testutil.Pool(t, pkt.PoolConfig{}), Clock: &datapath.ManualClock{}})
	d, _ := e.AddDevice(e.Default(), netdev.Config{Name: "eth0"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	clk := &fakeClock{now: time.Unix(0, 0)}
	p := Player{Path: path, Loop: -1, Now: clk.Now, Sleep: clk.Sleep}
	if err := p.Play(ctx, d); err == nil {
		t.Error("a cancelled play for ever returned no error")
	}
	e.Run()
}
