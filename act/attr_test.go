package act_test

import (
	"bytes"
	"testing"

	"netyard/act"
)

// TestObjectRoundTrip: every kind's dump encoding decodes to the spec,
// counters and references it was made from; terse objects to a Ref.
func TestObjectRoundTrip(t *testing.T) {
	specs := []act.Spec{
		&act.Gact{C: act.Common{Index: 7, Control: act.Shot, Cookie: []byte{1, 2, 0xab}}},
		&act.Gact{C: act.Common{Index: 8, Control: act.Jump(2)}},
		&act.Mirred{C: act.Common{Index: 1, Control: act.Pipe}, Ingress: true, Mirror: true, Dev: "eth1"},
		&act.Vlan{C: act.Common{Index: 2, Control: act.Pipe}, Op: act.VlanPush, ID: 100, Proto: 0x88a8, Priority: 5, HasPriority: true},
		&act.Skbedit{C: act.Common{Index: 3, Control: act.Pipe}, Priority: 3, HasPriority: true, Mark: 0x10, MarkMask: 0xff, HasMark: true, QueueMapping: 2, HasQueueMapping: true},
		&act.Police{C: act.Common{Index: 4, Control: act.OK}, Rate: 125000, Burst: 10240, PeakRate: 250000, MTU: 2048, Exceed: act.Shot},
	}
	e := newEnv()
	tab := act.NewTable(e)
	for _, s := range specs {
		if _, err := tab.Add(s, act.ModeAdd); err != nil {
			t.Fatalf("%T: %v", s, err)
		}
	}
	for _, s := range specs {
		v, err := tab.Get(s.Kind(), s.Common().Index)
		if err != nil {
			t.Fatal(err)
		}
		for _, terse := range []bool{false, true} {
			b := act.AppendObject(nil, act.Entry{Index: s.Common().Index, Action: v.Action, Refs: 1, Cell: v.Action.Stats()}, terse, 1e9)
			var d act.Decoder
			d.Reset(1)
			var got act.View
			if err := d.Decode(b, &got); err != nil {
				t.Fatalf("%T terse=%v: %v", s, terse, err)
			}
			if terse {
				r, ok := got.Spec.(*act.Ref)
				if !ok || r.ActKind != s.Kind() || r.C.Index != s.Common().Index {
					t.Errorf("terse %T: got %#v", s, got.Spec)
				}
				continue
			}
			want := v.Spec
			if got.Refs != 1 || got.Spec.Kind() != want.Kind() || !specEqual(got.Spec, want) {
				t.Errorf("%T: got %#v refs %d\nwant %#v", s, got.Spec, got.Refs, want)
			}
		}
	}
}

func specEqual(a, b act.Spec) bool {
	ca, cb := *a.Common(), *b.Common()
	if ca.Index != cb.Index || ca.Control != cb.Control || !bytes.Equal(ca.Cookie, cb.Cookie) {
		return false
	}
	switch x := a.(type) {
	case *act.Gact:
		return true
	case *act.Mirred:
		y := b.(*act.Mirred)
		return x.Dev == y.Dev && x.Ingress == y.Ingress && x.Mirror == y.Mirror
	case *act.Vlan:
		y := b.(*act.Vlan)
		return x.Op == y.Op && x.ID == y.ID && x.Proto == y.Proto && x.Priority == y.Priority && x.HasPriority == y.HasPriority
	case *act.Skbedit:
		y := b.(*act.Skbedit)
		return x.Priority == y.Priority && x.HasPriority == y.HasPriority && x.Mark == y.Mark && x.MarkMask == y.MarkMask &&
			x.HasMark == y.HasMark && x.QueueMapping == y.QueueMapping && x.HasQueueMapping == y.HasQueueMapping
	case *act.Police:
		y := b.(*act.Police)
		return x.Rate == y.Rate && x.Burst == y.Burst && x.PeakRate == y.PeakRate && x.MTU == y.MTU && x.Exceed == y.Exceed
	}
	return false
}

// FuzzDecodeObject: whatever a daemon (or anything on its socket) sends,
// the client's decoder returns a View or an error, never a panic.
func FuzzDecodeObject(f *testing.F) {
	e := newEnv()
	tab := act.NewTable(e)
	for _, s := range []act.Spec{
		&act.Gact{C: act.Common{Index: 7, Control: act.Shot, Cookie: []byte{1, 2}}},
		&act.Mirred{C: act.Common{Index: 1, Control: act.Pipe}, Dev: "eth1"},
		&act.Police{C: act.Common{Index: 4}, Rate: 1000, Burst: 100},
	} {
		a, err := tab.Add(s, act.ModeAdd)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(act.AppendObject(nil, act.Entry{Index: s.Common().Index, Action: a, Cell: a.Stats()}, false, 5))
		f.Add(act.AppendObject(nil, act.Entry{Index: s.Common().Index, Action: a, Cell: a.Stats()}, true, 5))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var d act.Decoder
		d.Reset(1)
		var v act.View
		if err := d.Decode(b, &v); err == nil && v.Spec == nil {
			t.Fatalf("no error and no spec")
		}
	})
}
