package datapath

import (
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

// pathRig is the foundation issue's in-process path: parse, one flower
// filter, one mirred redirect, pfifo, transmit on an in-memory device
// whose far end releases the frame.
func pathRig(tb testing.TB, action act.Spec) (*rig, *Device, []byte) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	r := newRigPool(tb, pool, "eth0", "eth1")
	tb.Cleanup(func() {
		if n := pool.Stats().Live; n != 0 {
			tb.Errorf("%d buffers leaked", n)
		}
	})
	// The far end of eth1 drops what it gets, as a sink host would.
	d1, _ := r.ns.Device("eth1")
	d1.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) { p.Release() }))
	proto, port := wire.ProtoUDP, uint16(53)
	r.filter(cls.Filter{Dev: "eth0", Protocol: wire.EtherTypeIPv4,
		Classifier: &cls.Flower{IPProto: &proto, DstPort: &cls.PortRange{Min: port, Max: port}},
		Actions:    []act.Spec{action}})
	d0, _ := r.ns.Device("eth0")
	return r, d0, udpFrameTo(tb, 53)
}

func udpFrameTo(tb testing.TB, port uint16) []byte {
	f := udpFrame(tb)
	var h wire.Headers
	_ = wire.Parse(f, &h)
	f[h.L4Off+2], f[h.L4Off+3] = byte(port>>8), byte(port)
	return f
}

// batch injects n copies of frame into d and runs the engine.
func batch(r *rig, d *Device, frame []byte, n int) {
	now := r.clk.Now()
	for range n {
		_ = d.Inject(frame, now)
	}
	r.e.Run()
}

// TestPathNoAllocs: the whole in-process path allocates nothing per packet.
func TestPathNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector (sync.Pool drops items on purpose); the plain test run checks them")
	}
	for _, c := range []struct {
		name   string
		action act.Spec
	}{
		{"mirred", redirect("eth1")},
		{"gact", &act.Gact{C: act.Common{Control: act.Shot}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, d, frame := pathRig(t, c.action)
			batch(r, d, frame, 64) // warm the pool
			if n := testing.AllocsPerRun(100, func() { batch(r, d, frame, 64) }); n != 0 {
				t.Fatalf("%v allocations per batch of 64, want 0", n)
			}
		})
	}
}

// BenchmarkPath measures the in-process path per packet, in batches of 64:
// the copy into a pooled buffer (what a device's receive does), parse, one
// flower filter, one action, pfifo, transmit. docs/PERFORMANCE.md has the
// figures; the target is <= 200 ns/pkt and 0 allocs/op.
func BenchmarkPath(b *testing.B) {
	for _, c := range []struct {
		name   string
		action act.Spec
	}{
		{"flower+mirred", redirect("eth1")},
		{"flower+gact-drop", &act.Gact{C: act.Common{Control: act.Shot}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, d, frame := pathRig(b, c.action)
			b.ReportAllocs()
			for b.Loop() {
				batch(r, d, frame, 64)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*64), "ns/pkt")
		})
	}
}
