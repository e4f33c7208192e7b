package act_test

import (
	"errors"
	"testing"

	"netyard/act"
	"netyard/bpf"
	"netyard/bpf/cbpf"
	"netyard/internal/testutil"
	"netyard/pkt"
)

// TestBpfAction: tcf_bpf_act's reading of the program's return value.
func TestBpfAction(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	for _, tt := range []struct {
		name    string
		ret     uint32
		control act.Verdict
		want    act.Verdict
		drops   uint64
	}{
		{"UNSPEC takes the default-action", 0xffffffff, act.Pipe, act.Pipe, 0},
		{"UNSPEC takes a given default-action", 0xffffffff, act.Shot, act.Shot, 0},
		{"OK", 0, act.Pipe, act.OK, 0},
		{"SHOT counts a drop", 2, act.Pipe, act.Shot, 1},
		{"RECLASSIFY", 1, act.Pipe, act.Reclassify, 0},
		{"PIPE", 3, act.OK, act.Pipe, 0},
		// REDIRECT is carried out by the action (BPFRedirect); without
		// a bpf_redirect there is nowhere to go: dropped, an overlimit
		// (TestBpfActionRedirect has the rest)
		{"REDIRECT without a target", 7, act.Pipe, act.Shot, 0},
		{"STOLEN is not act_bpf's: continue", 4, act.Pipe, act.Unspec, 0},
		{"tcpdump's 262144: continue", 262144, act.Pipe, act.Unspec, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv()
			a, err := act.New(&act.Bpf{C: act.Common{Control: tt.control}, Bytecode: []cbpf.Insn{{Code: 0x06, K: tt.ret}}}, e)
			if err != nil {
				t.Fatal(err)
			}
			p, _ := pool.Get()
			_ = p.SetData(make([]byte, 60))
			defer p.Release()
			c := &act.Ctx{}
			if v := a.Exec(c, p); v != tt.want {
				t.Fatalf("Exec = %v, want %v", v, tt.want)
			}
			var overlimits uint64
			if tt.ret == 7 {
				overlimits = 1
			}
			if s := a.Stats().Read(); s.Packets != 1 || s.Drops != tt.drops || s.Overlimits != overlimits {
				t.Fatalf("counters %+v: want 1 packet, %d drops, %d overlimits", s, tt.drops, overlimits)
			}
			if n := testing.AllocsPerRun(100, func() { a.Exec(c, p) }); n != 0 {
				t.Fatalf("%v allocations per run", n)
			}
		})
	}
	if _, err := act.New(&act.Bpf{Object: "x.o", Section: "action"}, newEnv()); !errors.Is(err, bpf.ErrNoObjectLoader) {
		t.Fatalf("object without a loader: %v", err)
	}
	if _, err := act.New(&act.Bpf{Bytecode: []cbpf.Insn{{Code: 0x15, Jt: 5}, {Code: 0x06}}}, newEnv()); err == nil {
		t.Fatal("a jump past the end was loaded")
	}
}
