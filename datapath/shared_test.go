package datapath

import (
	"net/netip"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/tcsyntax"
	"netyard/wire"
)

// TestSharedActionScale is tdc's "Add 1M filters with the same action",
// scaled (bench/filters.sh runs the million through the daemon): N flower
// filters bind one gact action by index. Its bind count is N and its
// reference count N+1; packets that match K different filters count K on
// the shared action and one on each of those filters; deleting the
// filters lets go of every binding and leaves the counters.
func TestSharedActionScale(t *testing.T) {
	n := 20_000
	if testing.Short() || testutil.RaceEnabled {
		n = 2_000
	}
	r := newRig(t, "eth0")
	if err := r.ns.AddActions([]act.Spec{&act.Gact{C: act.Common{Index: 1, Control: act.Shot}}}, tcsyntax.ModeAdd); err != nil {
		t.Fatal(err)
	}
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}) }
	for i := 1; i <= n; i++ {
		p := netip.PrefixFrom(addr(i), 32)
		f := cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1, Handle: uint32(i), Protocol: wire.EtherTypeIPv4,
			Classifier: &cls.Flower{DstIP: &p}, Actions: []act.Spec{&act.Ref{ActKind: "gact", C: act.Common{Index: 1}}}}
		if err := r.ns.AddFilter(&f, tcsyntax.ModeAdd); err != nil {
			t.Fatalf("filter %d: %v", i, err)
		}
	}
	v, err := r.ns.Action("gact", 1)
	if err != nil || v.Binds != n || v.Refs != n+1 {
		t.Fatalf("shared action: binds %d refs %d (%v), want %d and %d", v.Binds, v.Refs, err, n, n+1)
	}
	hit := map[uint32]bool{}
	for k := range 50 {
		i := 1 + k*(n/50)
		hit[uint32(i)] = true
		s := wire.FrameSpec{Src: wire.MAC{2, 0, 0, 0, 0, 1}, Dst: wire.MAC{2, 0, 0, 0, 0, 2},
			SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: addr(i), Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 2,
			Payload: []byte("a payload long enough to need no padding")}
		frame, err := wire.AppendFrame(nil, &s)
		if err != nil {
			t.Fatal(err)
		}
		r.inject("eth0", frame)
	}
	v, _ = r.ns.Action("gact", 1)
	if v.Stats.Packets != uint64(len(hit)) {
		t.Fatalf("shared action counted %d packets, want %d", v.Stats.Packets, len(hit))
	}
	fs, err := r.ns.Filters("eth0", ParentIngress, nil)
	if err != nil || len(fs) != n {
		t.Fatalf("%d filters listed (%v), want %d", len(fs), err, n)
	}
	for _, f := range fs {
		want := uint64(0)
		if hit[f.Spec.Handle] {
			want = 1
		}
		if f.Stats.Packets != want || f.Actions[0].Binds != n {
			t.Fatalf("filter %d: %d packets, action binds %d; want %d and %d", f.Spec.Handle, f.Stats.Packets, f.Actions[0].Binds, want, n)
		}
	}
	if err := r.ns.DelFilter(&cls.Filter{Dev: "eth0", Parent: ParentIngress, Prio: 1}); err != nil {
		t.Fatal(err)
	}
	v, err = r.ns.Action("gact", 1)
	if err != nil || v.Binds != 0 || v.Refs != 1 || v.Stats.Packets != uint64(len(hit)) {
		t.Fatalf("after the filters went: binds %d refs %d packets %d (%v)", v.Binds, v.Refs, v.Stats.Packets, err)
	}
}
