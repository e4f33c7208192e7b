package cls_test

import (
	"reflect"
	"strconv"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/wire"
)

// dumpFilters is a hook with filters that use every flower key, a
// matchall with classid, skip_hw and two actions, in three chains.
func dumpFilters(t testing.TB) *hook {
	h := newHook(t)
	full := [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	h.add(&cls.Filter{Chain: 0, Prio: 1, Protocol: ethIP, ClassID: 0x10001, Classifier: &cls.Flower{
		Indev: "eth0", DstMAC: &cls.MACMask{Addr: macB, Mask: full}, SrcMAC: &cls.MACMask{Addr: macA, Mask: [6]byte{0xff, 0xff, 0xff}},
		IPProto: ptr(wire.ProtoTCP), SrcIP: prefix("192.0.2.0/24"), DstIP: prefix("198.51.100.7/32"),
		SrcPort: &cls.PortRange{Min: 1000, Max: 2000}, DstPort: &cls.PortRange{Min: 443, Max: 443},
		TOS: &cls.Masked[uint8]{Value: 0x10, Mask: 0xfc}, TTL: &cls.Masked[uint8]{Value: 64, Mask: 0xff},
		TCPFlags: &cls.Masked[uint16]{Value: 0x02, Mask: 0x12}, IPFlags: &cls.Masked[uint32]{Value: 0, Mask: cls.FlagIsFragment},
	}, Actions: []act.Spec{gact(act.Shot)}})
	h.add(&cls.Filter{Chain: 0, Prio: 1, Classifier: &cls.Flower{DstIP: prefix("10.0.0.0/8")}, Actions: []act.Spec{gact(act.OK)}})
	h.add(&cls.Filter{Chain: 1, Prio: 5, Protocol: wire.EtherTypeQinQ, Classifier: &cls.Flower{
		VlanID: ptr(uint16(100)), VlanPrio: ptr(uint8(3)), VlanEthType: ptr(wire.EtherTypeVLAN),
		CVlanID: ptr(uint16(200)), CVlanPrio: ptr(uint8(5)), CVlanEthType: ptr(wire.EtherTypeIPv6),
		IPProto: ptr(wire.ProtoICMPv6), DstIP: prefix("2001:db8::/64"), ICMPType: ptr(uint8(128)), ICMPCode: ptr(uint8(0)),
	}, Actions: []act.Spec{gact(act.Pipe)}})
	h.add(&cls.Filter{Chain: 7, Prio: 2, Protocol: ethAll, ClassID: 0x10002, SkipHW: true, Classifier: &cls.Matchall{},
		Actions: []act.Spec{&act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}, gact(act.OK)}})
	return h
}

// TestDumpRoundTrip: what a filter dump encodes decodes to the filter as
// List shows it (but the counters' times, which travel as ages).
func TestDumpRoundTrip(t *testing.T) {
	h := dumpFilters(t)
	want := h.ch.List(nil)
	var got []cls.FilterView
	var d cls.Decoder
	var keys [][]byte
	d.Reset(len(want)) // the decoded actions stay valid until the next Reset
	h.ch.Walk(nil, cls.Select{}, func(e cls.DumpEntry) bool {
		var v cls.FilterView
		if err := d.Decode(e.Append(nil, false, 0), &v); err != nil {
			t.Fatal(err)
		}
		got = append(got, v)
		keys = append(keys, cls.DumpKey(nil, e.Pos()))
		return true
	})
	if len(got) != len(want) {
		t.Fatalf("%d filters dumped, %d listed", len(got), len(want))
	}
	for i := range want {
		w, g := want[i], got[i]
		g.Spec.Dev, g.Spec.Parent = w.Spec.Dev, w.Spec.Parent
		if !reflect.DeepEqual(g.Spec, w.Spec) {
			t.Errorf("filter %d:\n got %+v\nwant %+v", i, g.Spec, w.Spec)
		}
		if g.Stats.Bytes != w.Stats.Bytes || g.Stats.Packets != w.Stats.Packets {
			t.Errorf("filter %d: stats %+v, want %+v", i, g.Stats, w.Stats)
		}
		for j := range w.Actions {
			if g.Actions[j].Refs != w.Actions[j].Refs || g.Actions[j].Binds != w.Actions[j].Binds {
				t.Errorf("filter %d action %d: refs/binds %d/%d, want %d/%d", i, j, g.Actions[j].Refs, g.Actions[j].Binds, w.Actions[j].Refs, w.Actions[j].Binds)
			}
		}
		p, err := cls.ParseDumpKey(keys[i])
		if err != nil || p != (cls.Pos{Chain: w.Spec.Chain, Prio: w.Spec.Prio, Handle: w.Spec.Handle}) {
			t.Errorf("filter %d: key %x reads %+v, %v", i, keys[i], p, err)
		}
	}
	// Bad input is an error, never a panic.
	var v cls.FilterView
	for _, b := range [][]byte{{1}, {4, 0, 1, 0}, {8, 0, 10, 0, 4, 0, 11, 0}, {5, 0, 1, 0, 'x', 0, 0, 0}} {
		if err := d.Decode(b, &v); err == nil {
			t.Errorf("Decode(%x): no error", b)
		}
	}
}

// TestWalkResume: a walk resumed after any filter's position goes on with
// the next one, whatever the selection; positions resume the same way.
func TestWalkResume(t *testing.T) {
	h := newHook(t)
	for chain := range uint32(3) {
		for _, prio := range []uint16{1, 4, 9} {
			for i := range 5 {
				dst := prefix("10.0.0." + itoa(int(chain)*50+int(prio)*5+i) + "/32")
				h.add(&cls.Filter{Chain: chain, Prio: prio, Protocol: ethIP, Handle: uint32(i*3 + 1), Classifier: &cls.Flower{DstIP: dst}})
			}
		}
	}
	one := uint32(1)
	for _, sel := range []cls.Select{{}, {Chain: &one}, {Prio: 4}, {Chain: &one, Prio: 9}} {
		var all []cls.Pos
		h.ch.Walk(nil, sel, func(e cls.DumpEntry) bool { all = append(all, e.Pos()); return true })
		want := 45
		if sel.Chain != nil {
			want /= 3
		}
		if sel.Prio != 0 {
			want /= 3
		}
		if len(all) != want {
			t.Fatalf("select %+v: %d filters, want %d", sel, len(all), want)
		}
		for i, p := range all {
			var next []cls.Pos
			h.ch.Walk(&p, sel, func(e cls.DumpEntry) bool { next = append(next, e.Pos()); return len(next) < 2 })
			var nextP []cls.Pos
			h.ch.WalkPositions(all, &p, cls.Select{}, func(e cls.DumpEntry) bool { nextP = append(nextP, e.Pos()); return len(nextP) < 2 })
			exp := all[i+1 : min(i+3, len(all))]
			if !reflect.DeepEqual(next, exp) && !(len(next) == 0 && len(exp) == 0) {
				t.Errorf("select %+v after %+v: %+v, want %+v", sel, p, next, exp)
			}
			if !reflect.DeepEqual(nextP, exp) && !(len(nextP) == 0 && len(exp) == 0) {
				t.Errorf("positions after %+v: %+v, want %+v", p, nextP, exp)
			}
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// FuzzDecodeFilter: a filter object from the socket decodes or is
// refused with an error, never a panic; the encodings of real filters are
// the seeds.
func FuzzDecodeFilter(f *testing.F) {
	h := dumpFilters(f)
	h.ch.Walk(nil, cls.Select{}, func(e cls.DumpEntry) bool {
		f.Add(e.Append(nil, false, 0))
		f.Add(e.Append(nil, true, 0))
		return true
	})
	var d cls.Decoder
	f.Fuzz(func(t *testing.T, b []byte) {
		d.Reset(1)
		var v cls.FilterView
		if err := d.Decode(b, &v); err == nil && v.Spec.Classifier == nil {
			t.Fatalf("decoded %x without a classifier", b)
		}
	})
}
