package act_test

import (
	"testing"

	"netyard/act"
)

// TestExec runs action lists through act.Exec and checks the verdict and
// which actions ran, against tcf_action_exec.
func TestExec(t *testing.T) {
	tests := []struct {
		name string
		list []act.Verdict // one gact per entry
		want act.Verdict
		runs []uint64 // packets each action saw
	}{
		{"empty list is pass", nil, act.OK, nil},
		{"pipe goes on", []act.Verdict{act.Pipe, act.OK}, act.OK, []uint64{1, 1}},
		{"ending in pipe returns pipe", []act.Verdict{act.Pipe, act.Pipe}, act.Pipe, []uint64{1, 1}},
		{"drop ends the list", []act.Verdict{act.Pipe, act.Shot, act.OK}, act.Shot, []uint64{1, 1, 0}},
		{"continue ends the list", []act.Verdict{act.Unspec, act.Shot}, act.Unspec, []uint64{1, 0}},
		{"goto chain ends the list", []act.Verdict{act.Pipe, act.GotoChain(4), act.Shot}, act.GotoChain(4), []uint64{1, 1, 0}},
		{"reclassify ends the list", []act.Verdict{act.Reclassify, act.Shot}, act.Reclassify, []uint64{1, 0}},
		// jump N restarts the list and skips its first N actions.
		{"jump 2 from the first", []act.Verdict{act.Jump(2), act.Shot, act.Trap}, act.Trap, []uint64{1, 0, 1}},
		{"jump is counted from the start", []act.Verdict{act.Pipe, act.Jump(3), act.Shot, act.Trap}, act.Trap, []uint64{1, 1, 0, 1}},
		{"jump back loops 32 times then passes", []act.Verdict{act.Pipe, act.Jump(1), act.Shot}, act.OK, []uint64{1, 32, 0}},
		{"jump past the end passes", []act.Verdict{act.Jump(3), act.Shot}, act.OK, []uint64{1, 0}},
		{"jump to the end passes", []act.Verdict{act.Jump(2), act.Shot}, act.OK, []uint64{1, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := leakPool(t)
			e := newEnv()
			var list []act.Action
			for _, v := range tt.list {
				list = append(list, mustNew(t, gact(v), e))
			}
			p := packet(t, pool, build(t, udp4()))
			defer p.Release()
			if got := act.Exec(&act.Ctx{}, p, list); got != tt.want {
				t.Errorf("Exec = %v, want %v", got, tt.want)
			}
			for i, a := range list {
				if n := a.Stats().Read().Packets; n != tt.runs[i] {
					t.Errorf("action %d ran %d times, want %d", i, n, tt.runs[i])
				}
			}
		})
	}
}

// TestExecConsumedStops: after mirred has taken the packet, no further
// action may touch it (a use after free in the making).
func TestExecConsumedStops(t *testing.T) {
	pool := leakPool(t)
	e := newEnv()
	list := []act.Action{
		mustNew(t, gact(act.Pipe), e),
		mustNew(t, &act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}, e),
		mustNew(t, gact(act.Shot), e),
	}
	p := packet(t, pool, build(t, udp4()))
	out := &redirector{}
	if got := act.Exec(&act.Ctx{Out: out}, p, list); got != act.Consumed {
		t.Fatalf("Exec = %v, want consumed", got)
	}
	if len(out.got) != 1 {
		t.Errorf("target got %d packets, want 1", len(out.got))
	}
	if n := list[2].Stats().Read().Packets; n != 0 {
		t.Errorf("the action after the redirect ran %d times, want 0", n)
	}
}

// TestExecAllocs: running actions allocates nothing.
func TestExecAllocs(t *testing.T) {
	pool := leakPool(t)
	e := newEnv()
	list := []act.Action{
		mustNew(t, &act.Skbedit{C: act.Common{Control: act.Pipe}, Mark: 1, HasMark: true}, e),
		mustNew(t, &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPush, ID: 9}, e),
		mustNew(t, &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPop}, e),
		mustNew(t, &act.Police{C: act.Common{Control: act.Pipe}, Rate: 1e9, Burst: 1e6, Exceed: act.Pipe}, e),
		mustNew(t, gact(act.OK), e),
	}
	p := packet(t, pool, build(t, udp4()))
	defer p.Release()
	c := &act.Ctx{}
	if n := testing.AllocsPerRun(100, func() { act.Exec(c, p, list) }); n != 0 {
		t.Errorf("Exec allocates %v times per run, want 0", n)
	}
}
