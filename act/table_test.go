package act_test

import (
	"errors"
	"strings"
	"testing"

	"netyard/act"
)

type refs struct{ refs, binds int }

func counts(t *testing.T, tab *act.Table, kind string, index uint32) refs {
	t.Helper()
	v, err := tab.Get(kind, index)
	if err != nil {
		t.Fatalf("Get(%s, %d): %v", kind, index, err)
	}
	return refs{v.Refs, v.Binds}
}

func indexes(t *testing.T, tab *act.Table, kind string) []uint32 {
	t.Helper()
	vs, err := tab.List(kind)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint32
	for _, v := range vs {
		out = append(out, v.Spec.Common().Index)
	}
	return out
}

// TestTableIndexes: index 0 takes the lowest free index from 1; an
// explicit index is kept; kinds are numbered apart; List is in index order.
func TestTableIndexes(t *testing.T) {
	tab := act.NewTable(newEnv())
	for _, idx := range []uint32{0, 0, 5, 0} {
		s := gact(act.Shot)
		s.C.Index = idx
		if _, err := tab.Add(s, act.ModeAdd); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := indexes(t, tab, "gact"), []uint32{1, 2, 3, 5}; !equal(got, want) {
		t.Errorf("gact indexes = %v, want %v", got, want)
	}
	s := &act.Skbedit{C: act.Common{Control: act.Pipe}, Priority: 1, HasPriority: true}
	if _, err := tab.Add(s, act.ModeAdd); err != nil || s.C.Index != 1 {
		t.Errorf("first skbedit: index %d, err %v; want index 1 (written back)", s.C.Index, err)
	}
	if err := tab.Delete("gact", 2); err != nil {
		t.Fatal(err)
	}
	s2 := gact(act.OK)
	if _, err := tab.Add(s2, act.ModeAdd); err != nil || s2.C.Index != 2 {
		t.Errorf("after deleting 2: new index %d, err %v; want the freed 2", s2.C.Index, err)
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

// TestTableAddReplace: add refuses an existing index; replace updates the
// same action in place (same object, same counters, new behaviour).
func TestTableAddReplace(t *testing.T) {
	pool := leakPool(t)
	tab := act.NewTable(newEnv())
	a, err := tab.Add(&act.Gact{C: act.Common{Index: 7, Control: act.OK}}, act.ModeAdd)
	if err != nil {
		t.Fatal(err)
	}
	p := packet(t, pool, build(t, udp4()))
	defer p.Release()
	a.Exec(&act.Ctx{}, p)

	_, err = tab.Add(&act.Gact{C: act.Common{Index: 7, Control: act.Shot}}, act.ModeAdd)
	if !errors.Is(err, act.ErrExists) {
		t.Fatalf("add over index 7: %v, want ErrExists", err)
	}
	for _, m := range []act.Mode{act.ModeReplace, act.ModeChange} {
		b, err := tab.Add(&act.Gact{C: act.Common{Index: 7, Control: act.Shot, Cookie: []byte{1, 2}}}, m)
		if err != nil {
			t.Fatalf("%v: %v", m, err)
		}
		if b != a {
			t.Errorf("%v returned another action; want the same one, as filters hold it", m)
		}
	}
	if v := a.Exec(&act.Ctx{}, p); v != act.Shot {
		t.Errorf("after replace: %v, want drop", v)
	}
	v, _ := tab.Get("gact", 7)
	if v.Stats.Packets != 2 || v.Spec.Common().Control != act.Shot || string(v.Spec.Common().Cookie) != "\x01\x02" {
		t.Errorf("view = %+v; want 2 packets (kept) and the new spec", v)
	}
	// A replace that fails validation leaves the action as it was.
	if _, err := tab.Add(&act.Gact{C: act.Common{Index: 7, Control: act.Repeat}}, act.ModeReplace); err == nil {
		t.Error("replace with a bad verdict succeeded")
	}
	if v := a.Exec(&act.Ctx{}, p); v != act.Shot {
		t.Errorf("after a failed replace: %v, want drop still", v)
	}
	// Replace of a missing index creates it.
	if _, err := tab.Add(&act.Gact{C: act.Common{Index: 9, Control: act.OK}}, act.ModeReplace); err != nil {
		t.Errorf("replace creating index 9: %v", err)
	}
}

// TestTableBind follows ref and bind counts through the life of standalone
// and inline actions, as tcfa_refcnt and tcfa_bindcnt go.
func TestTableBind(t *testing.T) {
	tab := act.NewTable(newEnv())
	if _, err := tab.Add(&act.Gact{C: act.Common{Index: 1, Control: act.Shot}}, act.ModeAdd); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, tab, "gact", 1); got != (refs{1, 0}) {
		t.Errorf("standalone: %+v, want ref 1 bind 0", got)
	}

	// A filter refers to it by index.
	b1, err := tab.Bind(&act.Ref{ActKind: "gact", C: act.Common{Index: 1}})
	if err != nil || b1.Created {
		t.Fatalf("Bind ref: %+v, %v", b1, err)
	}
	if got := counts(t, tab, "gact", 1); got != (refs{2, 1}) {
		t.Errorf("bound once: %+v, want ref 2 bind 1", got)
	}
	// An inline spec whose index exists binds it as it is.
	b2, err := tab.Bind(&act.Gact{C: act.Common{Index: 1, Control: act.OK}})
	if err != nil || b2.Action != b1.Action || b2.Created {
		t.Fatalf("Bind inline existing: %+v, %v", b2, err)
	}
	if v, _ := tab.Get("gact", 1); v.Spec.Common().Control != act.Shot || v.Refs != 3 || v.Binds != 2 {
		t.Errorf("after inline bind: %+v, want the old verdict kept, ref 3 bind 2", v)
	}
	err = tab.Delete("gact", 1)
	if !errors.Is(err, act.ErrBound) {
		t.Errorf("delete of a bound action: %v, want ErrBound", err)
	}
	tab.Unbind(b1)
	tab.Unbind(b2)
	if got := counts(t, tab, "gact", 1); got != (refs{1, 0}) {
		t.Errorf("unbound: %+v, want ref 1 bind 0 (the standalone stays)", got)
	}
	if err := tab.Delete("gact", 1); err != nil {
		t.Errorf("delete: %v", err)
	}
	if _, err := tab.Get("gact", 1); !errors.Is(err, act.ErrNotFound) {
		t.Errorf("get after delete: %v, want ErrNotFound", err)
	}

	// An inline action lives as long as its filters.
	spec := &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPop}
	b3, err := tab.Bind(spec)
	if err != nil || !b3.Created || spec.C.Index != 1 {
		t.Fatalf("Bind inline: %+v (index %d), %v", b3, spec.C.Index, err)
	}
	b4, err := tab.Bind(&act.Ref{ActKind: "vlan", C: act.Common{Index: 1}})
	if err != nil {
		t.Fatal(err)
	}
	if got := counts(t, tab, "vlan", 1); got != (refs{2, 2}) {
		t.Errorf("inline bound twice: %+v, want ref 2 bind 2", got)
	}
	tab.Unbind(b3)
	tab.Unbind(b4)
	if got := indexes(t, tab, "vlan"); len(got) != 0 {
		t.Errorf("vlan actions after the last unbind: %v, want none", got)
	}

	if _, err := tab.Bind(&act.Ref{ActKind: "police", C: act.Common{Index: 4}}); !errors.Is(err, act.ErrNotFound) {
		t.Errorf("bind of a missing action: %v, want ErrNotFound", err)
	}
}

// TestTableFlush deletes in index order up to the first bound action,
// where it stops as tcf_del_walker does (tdc's "Try to flush actions
// when last one is referenced by filter" and "Try to flush action which
// is referenced by filter").
func TestTableFlush(t *testing.T) {
	tab := act.NewTable(newEnv())
	for i := uint32(1); i <= 3; i++ {
		if _, err := tab.Add(&act.Gact{C: act.Common{Index: i, Control: act.OK}}, act.ModeAdd); err != nil {
			t.Fatal(err)
		}
	}
	b, err := tab.Bind(&act.Ref{ActKind: "gact", C: act.Common{Index: 2}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := tab.Flush("gact")
	if n != 1 || !errors.Is(err, act.ErrBound) || !strings.Contains(err.Error(), "index 2") {
		t.Errorf("Flush = %d, %v; want 1 deleted and ErrBound at index 2", n, err)
	}
	if got := indexes(t, tab, "gact"); !equal(got, []uint32{2, 3}) {
		t.Errorf("left after flush: %v, want [2 3]", got)
	}
	if n, err := tab.Flush("gact"); n != 0 || !errors.Is(err, act.ErrBound) {
		t.Errorf("flush with the first bound = %d, %v; want 0, ErrBound", n, err)
	}
	tab.Unbind(b)
	if got := indexes(t, tab, "gact"); !equal(got, []uint32{2, 3}) {
		t.Errorf("after unbind: %v; a standalone action outlives its filters", got)
	}
	if n, err := tab.Flush("gact"); n != 2 || err != nil {
		t.Errorf("last Flush = %d, %v; want 2, nil", n, err)
	}
}

// TestTableErrors: requests the table refuses, each with a reason.
func TestTableErrors(t *testing.T) {
	tab := act.NewTable(newEnv())
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"unknown kind", func() error { _, err := tab.List("nat"); return err }, `"nat": not supported`},
		{"add a reference", func() error {
			_, err := tab.Add(&act.Ref{ActKind: "gact", C: act.Common{Index: 1}}, act.ModeAdd)
			return err
		}, "give the action's parameters"},
		{"standalone goto", func() error { _, err := tab.Add(gact(act.GotoChain(1)), act.ModeAdd); return err }, "only an action inside a filter can goto a chain"},
		{"standalone police exceed goto", func() error {
			_, err := tab.Add(&act.Police{Rate: 1, Burst: 1, Exceed: act.GotoChain(2)}, act.ModeAdd)
			return err
		}, "goto chain 2"},
		{"delete missing", func() error { return tab.Delete("gact", 9) }, "gact index 9: no such action"},
		{"bad parameters", func() error { _, err := tab.Bind(&act.Mirred{Dev: "nope"}); return err }, `device "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	// A filter may bind an action that goes to a chain.
	if _, err := tab.Bind(gact(act.GotoChain(1))); err != nil {
		t.Errorf("Bind with goto chain: %v", err)
	}
}
