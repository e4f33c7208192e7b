package datapath

import (
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/tcsyntax"
	"netyard/wire"
)

// rig is an engine in virtual time with devices whose transmissions are
// recorded.
type rig struct {
	t     testing.TB
	clk   *ManualClock
	e     *Engine
	ns    *Namespace
	sent  map[string][]sentFrame
	pool  *pkt.Pool
	order []string
}

type sentFrame struct {
	frame    []byte
	priority uint32
	time     int64
}

func newRig(t testing.TB, devs ...string) *rig {
	t.Helper()
	return newRigPool(t, testutil.Pool(t, pkt.PoolConfig{}), devs...)
}

// newRigPool is newRig with a given pool: allocation tests need one
// without leak tracking, which allocates.
func newRigPool(t testing.TB, pool *pkt.Pool, devs ...string) *rig {
	t.Helper()
	r := &rig{t: t, clk: &ManualClock{}, sent: map[string][]sentFrame{}}
	r.clk.Set(1000)
	r.pool = pool
	r.e = New(Config{Pool: r.pool, Clock: r.clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	r.ns = r.e.Default()
	for _, n := range devs {
		r.addDev(n)
	}
	return r
}

func (r *rig) addDev(name string) *Device {
	d, err := r.e.AddDevice(r.ns, netdev.Config{Name: name})
	if err != nil {
		r.t.Fatal(err)
	}
	d.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) {
		r.sent[name] = append(r.sent[name], sentFrame{slices.Clone(p.Data()), p.Priority, now})
		r.order = append(r.order, name)
		p.Release()
	}))
	return d
}

func (r *rig) filter(f cls.Filter) {
	r.t.Helper()
	if f.Parent == 0 {
		f.Parent = ParentIngress
	}
	if err := r.ns.AddFilter(&f, tcsyntax.ModeAdd); !ok(err) {
		r.t.Fatalf("filter %+v: %v", f, err)
	}
}

func (r *rig) inject(dev string, frame []byte) {
	r.t.Helper()
	d, err := r.ns.Device(dev)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := d.Inject(frame, r.clk.Now()); err != nil {
		r.t.Fatal(err)
	}
	r.e.Run()
}

func redirect(dev string) act.Spec { return &act.Mirred{Dev: dev, C: act.Common{Control: act.Stolen}} }

func udpFrame(t testing.TB, tags ...wire.Tag) []byte {
	t.Helper()
	s := wire.FrameSpec{Src: wire.MAC{2, 0, 0, 0, 0, 1}, Dst: wire.MAC{2, 0, 0, 0, 0, 2}, Tags: tags,
		SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"),
		Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 2, Payload: []byte("a payload long enough to need no padding")}
	b, err := wire.AppendFrame(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ctag(pcp uint8, vid uint16) wire.Tag {
	return wire.Tag{TPID: wire.EtherTypeVLAN, TCI: uint16(pcp)<<13 | vid}
}

func stag(pcp uint8, vid uint16) wire.Tag {
	return wire.Tag{TPID: wire.EtherTypeQinQ, TCI: uint16(pcp)<<13 | vid}
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// ok is "no error, or only a warning" (a filter that closes a loop).
func ok(err error) bool {
	var w *tcsyntax.Warning
	return err == nil || errors.As(err, &w)
}
