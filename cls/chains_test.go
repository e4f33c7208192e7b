package cls_test

import (
	"errors"
	"strings"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/wire"
)

type pos struct {
	chain  uint32
	prio   uint16
	handle uint32
}

func positions(h *hook) []pos {
	var out []pos
	for _, v := range h.ch.List(nil) {
		out = append(out, pos{v.Spec.Chain, v.Spec.Prio, v.Spec.Handle})
	}
	return out
}

func equalPos(a, b []pos) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAutoPrio: a filter added without a prio gets one below the first
// filter at 32768 or above, or 49152 when there is none (tc_new_tfilter and
// tcf_auto_prio), so it goes after filters given low prios; the chosen prio
// and handle are written back.
func TestAutoPrio(t *testing.T) {
	h := newHook(t)
	var got []uint16
	for _, f := range []*cls.Filter{
		matchall(0, 0, ethIP), matchall(0, 0, ethIP), matchall(0, 10, ethIP), matchall(0, 0, ethIP), matchall(1, 0, ethIP),
	} {
		h.add(f)
		got = append(got, f.Prio)
		if f.Handle != 1 {
			t.Errorf("matchall handle %d, want 1", f.Handle)
		}
	}
	if want := []uint16{49152, 49151, 10, 49150, 49152}; !equal16(got, want) {
		t.Errorf("prios = %v, want %v", got, want)
	}
	// After a low prio only, the new filter goes at 49152, after it.
	h.add(matchall(2, 1, ethIP))
	low := matchall(2, 0, ethIP)
	h.add(low)
	if low.Prio != 49152 {
		t.Errorf("auto prio after prio 1: %d, want 49152", low.Prio)
	}
	// A filter at exactly 32768 is where the kernel's search lands: EINVAL.
	h.add(matchall(3, 0x8000, ethIP))
	if err := h.ch.Add(matchall(3, 0, ethIP), act.ModeAdd); err == nil || !strings.Contains(err.Error(), "give a prio") {
		t.Errorf("auto prio with a filter at 32768: %v", err)
	}
}

func equal16(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestHandles: flower takes the lowest free handle of its prio from 1;
// matchall takes 1 and holds its prio alone.
func TestHandles(t *testing.T) {
	h := newHook(t)
	port := func(p uint16, handle uint32) *cls.Filter {
		return &cls.Filter{Prio: 5, Handle: handle, Protocol: ethIP,
			Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: p, Max: p}}}
	}
	var got []uint32
	for _, f := range []*cls.Filter{port(1, 0), port(2, 0), port(3, 5), port(4, 0)} {
		h.add(f)
		got = append(got, f.Handle)
	}
	if want := []uint32{1, 2, 5, 3}; !equal(got, want) {
		t.Errorf("flower handles = %v, want %v", got, want)
	}
	m := h.add(&cls.Filter{Prio: 6, Handle: 7, Protocol: ethIP, Classifier: &cls.Matchall{}})
	if m.Handle != 7 {
		t.Errorf("matchall handle = %d, want 7 as given", m.Handle)
	}
	if err := h.ch.Add(matchall(0, 6, ethIP), act.ModeAdd); !errors.Is(err, cls.ErrExists) {
		t.Errorf("second matchall in a prio: %v, want ErrExists", err)
	}
	want := []pos{{0, 5, 1}, {0, 5, 2}, {0, 5, 3}, {0, 5, 5}, {0, 6, 7}}
	if got := positions(h); !equalPos(got, want) {
		t.Errorf("list = %v, want %v", got, want)
	}
}

func equal(a, b []uint32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestAddErrors: what Add refuses, and that a refused filter leaves no
// action behind.
func TestAddErrors(t *testing.T) {
	h := newHook(t)
	h.add(&cls.Filter{Prio: 1, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP)}})
	h.add(matchall(0, 2, ethIP))
	tests := []struct {
		name string
		f    *cls.Filter
		m    act.Mode
		is   error
		want string
	}{
		{"kind differs in prio", matchall(0, 1, ethIP), act.ModeAdd, nil, "holds flower filters, not matchall"},
		{"protocol differs in prio", &cls.Filter{Prio: 1, Protocol: ethIPv6, Classifier: &cls.Flower{}}, act.ModeAdd, nil, "is for protocol 0x0800, not 0x86dd"},
		{"no protocol for a new prio", &cls.Filter{Prio: 3, Classifier: &cls.Matchall{}}, act.ModeAdd, nil, "protocol: give one"},
		{"handle taken", &cls.Filter{Prio: 1, Handle: 1, Protocol: ethIP, Classifier: &cls.Flower{}}, act.ModeAdd, cls.ErrExists, ""},
		{"same keys in prio", &cls.Filter{Prio: 1, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP)}}, act.ModeAdd, cls.ErrExists, "same keys"},
		{"change of a missing handle", &cls.Filter{Prio: 1, Handle: 9, Protocol: ethIP, Classifier: &cls.Flower{}}, act.ModeChange, cls.ErrNotFound, ""},
		{"change without prio", &cls.Filter{Protocol: ethIP, Classifier: &cls.Flower{}}, act.ModeChange, nil, "give the prio"},
		{"skip_sw", &cls.Filter{Protocol: ethIP, Classifier: &cls.Matchall{}, SkipSW: true}, act.ModeAdd, nil, "skip_sw"},
		{"no classifier", &cls.Filter{Protocol: ethIP}, act.ModeAdd, nil, "no classifier"},
		{"chain too big", &cls.Filter{Chain: 1 << 28, Protocol: ethIP, Classifier: &cls.Matchall{}}, act.ModeAdd, nil, "chain 268435456"},
		{"too many actions", matchall(0, 9, ethIP, make([]act.Spec, 33)...), act.ModeAdd, nil, "at most 32"},
		{"bad flower", &cls.Filter{Prio: 9, Protocol: ethAll, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoTCP)}}, act.ModeAdd, nil, "ip_proto needs"},
		{"missing referenced action", matchall(0, 9, ethIP, gact(act.Shot), &act.Ref{ActKind: "police", C: act.Common{Index: 3}}), act.ModeAdd, act.ErrNotFound, "action 2"},
		{"bad action", matchall(0, 9, ethIP, gact(act.Pipe), &act.Vlan{Op: act.VlanPush, ID: 9999}), act.ModeAdd, nil, "vlan: id 9999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := h.ch.Add(tt.f, tt.m)
			if err == nil {
				t.Fatal("Add succeeded")
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v, want %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
	for _, kind := range act.Kinds {
		if vs, _ := h.table.List(kind); len(vs) != 0 {
			t.Errorf("%s actions left behind by refused filters: %d", kind, len(vs))
		}
	}
	if got := len(h.ch.List(nil)); got != 2 {
		t.Errorf("%d filters, want the 2 added", got)
	}
}

// TestReplace: replace and change keep the filter's counters, bind the new
// actions and let go of the old ones: an inline action dies, a standalone
// one stays.
func TestReplace(t *testing.T) {
	pool := leakPool(t)
	h := newHook(t)
	if _, err := h.table.Add(&act.Gact{C: act.Common{Index: 10, Control: act.Pipe}}, act.ModeAdd); err != nil {
		t.Fatal(err)
	}
	f := h.add(&cls.Filter{Prio: 3, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP)},
		Actions: []act.Spec{&act.Ref{ActKind: "gact", C: act.Common{Index: 10}}, gact(act.Shot)}})
	inline := f.Actions[1].Common().Index
	if inline != 1 {
		t.Fatalf("inline action index %d written back, want 1", inline)
	}
	run := func() cls.Result {
		p := packet(t, pool, udp4())
		defer p.Release()
		return h.ch.Block().Classify(&act.Ctx{}, p)
	}
	if r := run(); r.Verdict != act.Shot {
		t.Fatalf("before replace: %+v", r)
	}
	if v, _ := h.table.Get("gact", 10); v.Refs != 2 || v.Binds != 1 {
		t.Errorf("standalone gact 10 while bound: ref %d bind %d, want 2 1", v.Refs, v.Binds)
	}

	for i, m := range []act.Mode{act.ModeReplace, act.ModeChange} {
		g := &cls.Filter{Prio: 3, Handle: f.Handle, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}},
			Actions: []act.Spec{gact(act.OK)}, ClassID: 5}
		if err := h.ch.Add(g, m); err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if r := run(); r != (cls.Result{Verdict: act.OK, ClassID: 5, Matched: true}) {
			t.Errorf("after %v: %+v", m, r)
		}
		vs := h.ch.List(nil)
		if len(vs) != 1 || vs[0].Stats.Packets != uint64(2+i) {
			t.Fatalf("after %v: %+v; want one filter that kept counting (%d packets)", m, vs, 2+i)
		}
	}
	if v, _ := h.table.Get("gact", 10); v.Refs != 1 || v.Binds != 0 {
		t.Errorf("standalone gact 10 after replace: ref %d bind %d, want 1 0", v.Refs, v.Binds)
	}
	// The new inline action was bound (index 2, then 1 again) before the
	// old one went: only the live inline pass and standalone 10 remain.
	vs, _ := h.table.List("gact")
	if len(vs) != 2 || vs[0].Spec.Common().Index != 1 || vs[0].Spec.Common().Control != act.OK || vs[1].Spec.Common().Index != 10 {
		t.Errorf("gact actions after replace: %+v; want index 1 (pass) and 10", vs)
	}
	// Replace creates when the handle is free.
	if err := h.ch.Add(&cls.Filter{Prio: 3, Handle: 8, Protocol: ethIP, Classifier: &cls.Flower{}}, act.ModeReplace); err != nil {
		t.Errorf("replace creating handle 8: %v", err)
	}
}

// TestDelete: by handle, by prio, by chain (prio 0), and the errors.
func TestDelete(t *testing.T) {
	h := newHook(t)
	flower := func(handle uint32, p uint16) *cls.Filter {
		return &cls.Filter{Prio: 1, Handle: handle, Protocol: ethIP,
			Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: p, Max: p}}, Actions: []act.Spec{gact(act.Shot)}}
	}
	h.add(flower(1, 1))
	h.add(flower(2, 2))
	h.add(flower(3, 3))
	h.add(matchall(0, 2, ethIP, gact(act.OK)))
	h.add(matchall(3, 1, ethIP, gact(act.OK)))
	h.add(matchall(3, 2, ethIP))

	steps := []struct {
		name string
		sel  cls.Filter
		is   error
		left []pos
	}{
		{"one handle", cls.Filter{Prio: 1, Handle: 2}, nil, []pos{{0, 1, 1}, {0, 1, 3}, {0, 2, 1}, {3, 1, 1}, {3, 2, 1}}},
		{"missing handle", cls.Filter{Prio: 1, Handle: 2}, cls.ErrNotFound, nil},
		{"missing prio", cls.Filter{Prio: 7}, cls.ErrNotFound, nil},
		{"protocol differs", cls.Filter{Prio: 2, Protocol: ethIPv6}, cls.ErrNotFound, nil},
		{"missing chain", cls.Filter{Chain: 7, Prio: 1}, cls.ErrNotFound, nil},
		{"whole prio", cls.Filter{Prio: 1, Protocol: ethIP}, nil, []pos{{0, 2, 1}, {3, 1, 1}, {3, 2, 1}}},
		{"whole chain", cls.Filter{Chain: 3}, nil, []pos{{0, 2, 1}}},
		{"flush of an empty chain is fine", cls.Filter{Chain: 9}, nil, []pos{{0, 2, 1}}},
		{"chain 0 by default", cls.Filter{}, nil, nil},
	}
	for _, s := range steps {
		sel := s.sel
		err := h.ch.Delete(&sel)
		if s.is != nil {
			if !errors.Is(err, s.is) {
				t.Errorf("%s: %v, want %v", s.name, err, s.is)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := positions(h); !equalPos(got, s.left) {
			t.Errorf("%s: left %v, want %v", s.name, got, s.left)
		}
	}
	if vs, _ := h.table.List("gact"); len(vs) != 0 {
		t.Errorf("%d inline gact actions outlived their filters", len(vs))
	}
}

// TestList: chain, prio, handle order; one chain; the views carry the
// chosen numbers, the actions' current specs and their ref/bind counts, and
// copies that the caller may change.
func TestList(t *testing.T) {
	h := newHook(t)
	if _, err := h.table.Add(&act.Gact{C: act.Common{Index: 4, Control: act.Pipe}}, act.ModeAdd); err != nil {
		t.Fatal(err)
	}
	h.add(matchall(2, 1, ethIP))
	h.add(&cls.Filter{Prio: 9, Protocol: ethIP, Classifier: &cls.Flower{DstIP: prefix("10.0.0.0/8")},
		Actions: []act.Spec{&act.Ref{ActKind: "gact", C: act.Common{Index: 4}}, &act.Skbedit{C: act.Common{Control: act.OK}, Mark: 7, HasMark: true}}})
	h.add(matchall(0, 3, ethIPv6))
	if got, want := positions(h), []pos{{0, 3, 1}, {0, 9, 1}, {2, 1, 1}}; !equalPos(got, want) {
		t.Errorf("list = %v, want %v", got, want)
	}
	two := uint32(2)
	if vs := h.ch.List(&two); len(vs) != 1 || vs[0].Spec.Chain != 2 {
		t.Errorf("List(chain 2) = %+v", vs)
	}
	v := h.ch.List(nil)[1]
	if v.Spec.Protocol != ethIP || len(v.Actions) != 2 || len(v.Spec.Actions) != 2 {
		t.Fatalf("view = %+v", v)
	}
	if a := v.Actions[0]; a.Spec.Common().Index != 4 || a.Refs != 2 || a.Binds != 1 {
		t.Errorf("shared action view: index %d ref %d bind %d, want 4 2 1", a.Spec.Common().Index, a.Refs, a.Binds)
	}
	if a := v.Actions[1]; a.Spec.Kind() != "skbedit" || a.Spec.Common().Index != 1 || a.Refs != 1 || a.Binds != 1 {
		t.Errorf("inline action view: %s index %d ref %d bind %d, want skbedit 1 1 1", a.Spec.Kind(), a.Spec.Common().Index, a.Refs, a.Binds)
	}
	// The view is a copy.
	*v.Spec.Classifier.(*cls.Flower).DstIP = *prefix("0.0.0.0/0")
	if got := h.ch.List(nil)[1].Spec.Classifier.(*cls.Flower).DstIP.String(); got != "10.0.0.0/8" {
		t.Errorf("stored dst_ip changed through a view: %s", got)
	}
	h.ch.Flush()
	if len(h.ch.List(nil)) != 0 {
		t.Error("filters left after Flush")
	}
	if vs, _ := h.table.List("skbedit"); len(vs) != 0 {
		t.Error("inline skbedit outlived Flush")
	}
	if v, _ := h.table.Get("gact", 4); v.Refs != 1 || v.Binds != 0 {
		t.Errorf("gact 4 after Flush: ref %d bind %d, want 1 0", v.Refs, v.Binds)
	}
}
