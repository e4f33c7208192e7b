package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"netyard/bpf"
	"netyard/pkt"
)

var testPool = pkt.NewPool(pkt.PoolConfig{})

func mustRaw(t testing.TB, insns asm.Instructions) []RawInsn {
	t.Helper()
	raw, err := FromAsm(insns, func(name string) (int, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func newBuf(t testing.TB, data []byte) *pkt.Buffer {
	t.Helper()
	b, err := testPool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetData(data); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Release)
	return b
}

// TestLoadErrors: what the kernel's verifier rejects for its structure is
// a load error that names the instruction and the reason.
func TestLoadErrors(t *testing.T) {
	ri := func(op uint8, dst, src uint8, off int16, imm int32) RawInsn {
		return RawInsn{Op: op, Dst: dst, Src: src, Off: off, Imm: imm}
	}
	exit := ri(0x95, 0, 0, 0, 0)
	mov0 := ri(0xb7, 0, 0, 0, 0)
	for _, tc := range []struct {
		name string
		prog []RawInsn
		want string
	}{
		{"empty", nil, "no instructions"},
		{"no exit", []RawInsn{mov0}, "last instruction is not an exit"},
		{"jump past the end", []RawInsn{mov0, ri(0x05, 0, 0, 5, 0), exit}, "insn 1: jump to insn 7, outside the program"},
		{"jump backwards out", []RawInsn{mov0, ri(0x15, 0, 0, -3, 0), exit}, "insn 1: jump to insn -1"},
		{"jump into lddw", []RawInsn{ri(0x05, 0, 0, 1, 0), ri(0x18, 0, 0, 0, 1), ri(0, 0, 0, 0, 0), exit}, "middle of a 64-bit immediate load"},
		{"lddw in the last slot", []RawInsn{mov0, ri(0x18, 0, 0, 0, 1)}, "64-bit immediate load in the last slot"},
		{"division by constant zero", []RawInsn{mov0, ri(0x37, 0, 0, 0, 0), exit}, "insn 1: division by zero"},
		{"modulo by constant zero", []RawInsn{mov0, ri(0x94, 0, 0, 0, 0), exit}, "insn 1: division by zero"},
		{"unknown helper", []RawInsn{ri(0x85, 0, 0, 0, 28), exit}, "insn 0: unknown helper 28 (bpf_csum_diff, not supported by netyard)"},
		{"unknown helper number", []RawInsn{ri(0x85, 0, 0, 0, 9999), exit}, "unknown helper 9999"},
		{"invalid opcode", []RawInsn{ri(0xff, 0, 0, 0, 0), exit}, "insn 0: invalid opcode 0xff"},
		{"write to r10", []RawInsn{ri(0xb7, 10, 0, 0, 0), exit}, "frame pointer r10 is read only"},
		{"register 11", []RawInsn{ri(0xb7, 11, 0, 0, 0), exit}, "invalid register"},
		{"atomic fetch into r10", []RawInsn{mov0, ri(0x7a, 10, 0, -8, 0), ri(0xdb, 10, 10, -8, 0x01), exit}, "insn 2: frame pointer r10 is read only"},
		{"atomic exchange into r10", []RawInsn{mov0, ri(0x7a, 10, 0, -8, 0), ri(0xdb, 10, 10, -8, 0xe1), exit}, "insn 2: frame pointer r10 is read only"},
		{"read before write", []RawInsn{ri(0xbf, 0, 2, 0, 0), exit}, "insn 0: reads r2, which is not set"},
		{"read on one path only", []RawInsn{ri(0x61, 2, 1, 0, 0), ri(0x15, 2, 0, 1, 0), ri(0xb7, 3, 0, 0, 0), ri(0xbf, 0, 3, 0, 0), exit}, "insn 3: reads r3"},
		{"exit without r0", []RawInsn{exit}, "insn 0: reads r0"},
		{"r1 after a call", []RawInsn{ri(0x85, 0, 0, 0, 5), ri(0xbf, 0, 1, 0, 0), exit}, "insn 1: reads r1"},
		{"helper argument unset", []RawInsn{ri(0xb7, 1, 0, 0, 0), ri(0x85, 0, 0, 0, 23), exit}, "helper redirect reads r2"},
		{"stack below the frame", []RawInsn{mov0, ri(0x7a, 10, 0, -520, 1), exit}, "stack access at r10-520"},
		{"stack above the frame", []RawInsn{mov0, ri(0x79, 0, 10, 0, 0), exit}, "stack access at r10+0"},
		{"shift by 64", []RawInsn{mov0, ri(0x67, 0, 0, 0, 64), exit}, "invalid shift 64"},
		{"shift by 32 in 32 bits", []RawInsn{mov0, ri(0x64, 0, 0, 0, 32), exit}, "invalid shift 32"},
		{"call out of the program", []RawInsn{ri(0x85, 0, 1, 0, 10), mov0, exit}, "call to insn 11"},
		{"kfunc", []RawInsn{ri(0x85, 0, 2, 0, 10), mov0, exit}, "kfuncs are not supported"},
		{"tail call in a function", []RawInsn{ri(0x85, 0, 1, 0, 2), mov0, exit, ri(0x85, 0, 0, 0, 12), mov0, exit}, "insn 3: tail call from a bpf-to-bpf function"},
		{"jump into another function", []RawInsn{ri(0x85, 0, 1, 0, 2), mov0, ri(0x05, 0, 0, 0, 0), mov0, ri(0x05, 0, 0, -3, 0), exit}, "out of its function"},
		{"map reference without map", []RawInsn{ri(0x18, 1, 1, 0, 0), ri(0, 0, 0, 0, 0), mov0, exit}, "no such map"},
		{"bad byte swap", []RawInsn{mov0, ri(0xd4, 0, 0, 0, 8), exit}, "byte swap of 8 bits"},
		{"bad movsx", []RawInsn{mov0, ri(0xbc, 0, 0, 32, 0), exit}, "invalid offset 32 for mov"},
		{"atomic on a byte", []RawInsn{mov0, ri(0xd3, 10, 0, -8, 0), exit}, "invalid atomic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewProgram(tc.name, tc.prog, nil, 1)
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("got %v, want a *LoadError", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, want it to say %q", err, tc.want)
			}
		})
	}
}

// TestFaults: what only run time can tell stops the program with a
// counted *bpf.Fault, never a panic; the next run goes on normally.
func TestFaults(t *testing.T) {
	l := NewLoader(1)
	raw, err := os.ReadFile("testdata/bad.o")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sec, want string }{
		{"past_end", "read outside packet"},
		{"forever", "instruction limit"},
		{"null_deref", "NULL or scalar pointer"},
		{"ctx_write", "invalid __sk_buff write"},
	} {
		t.Run(tc.sec, func(t *testing.T) {
			p, err := l.Load("ns", bytes.NewReader(raw), tc.sec)
			if err != nil {
				t.Fatal(err)
			}
			b := newBuf(t, corpus()[0].data)
			_, err = p.Run(b, &bpf.Env{})
			var f *bpf.Fault
			if !errors.As(err, &f) || !strings.Contains(f.Reason, tc.want) {
				t.Fatalf("got %v, want a fault saying %q", err, tc.want)
			}
			runs, faults, recovered := p.Stats()
			if runs != 1 || faults != 1 || recovered != 0 {
				t.Fatalf("stats: runs %d faults %d recovered %d", runs, faults, recovered)
			}
		})
	}
	_, err = l.Load("ns", bytes.NewReader(raw), "unknown_helper")
	if err == nil || !strings.Contains(err.Error(), "unknown helper 28 (bpf_csum_diff") {
		t.Fatalf("unknown helper: %v", err)
	}
}

// TestBadObjects: truncated and garbled object files are load errors.
func TestBadObjects(t *testing.T) {
	raw, err := os.ReadFile("../../examples/bpf/flow_counter.o")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(1)
	for _, n := range []int{0, 1, 16, 63, 64, 200, 1000, len(raw) / 2, len(raw) - 1} {
		if _, err := l.Load("ns", bytes.NewReader(raw[:n]), ""); err == nil {
			t.Errorf("object cut at %d bytes: loaded", n)
		}
	}
	if _, err := l.Load("ns", bytes.NewReader(raw), "nosuchsection"); err == nil || !strings.Contains(err.Error(), "flow_counter (section tc)") {
		t.Errorf("missing section: %v", err)
	}
	if _, err := l.LoadObject("ns", "testdata/nonexistent.o", ""); err == nil {
		t.Errorf("missing file loaded")
	}
}

func runAsm(t *testing.T, insns asm.Instructions, data []byte) (uint64, *pkt.Buffer, error) {
	t.Helper()
	p, err := NewProgram("t", mustRaw(t, insns), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := newBuf(t, data)
	r, err := p.Run(b, &bpf.Env{Ifindex: 3})
	return r, b, err
}

// TestSemantics: the kernel's answers where C cannot reach them with
// clang 14 or the differential cannot see them (the kernel tests compare
// the rest).
func TestSemantics(t *testing.T) {
	eth := corpus()[0].data
	for _, tc := range []struct {
		name  string
		prog  asm.Instructions
		want  uint64
		check func(t *testing.T, b *pkt.Buffer)
	}{
		{"sdiv by -1 of INT64_MIN", asm.Instructions{
			asm.LoadImm(asm.R0, -1<<63, asm.DWord), asm.Mov.Imm(asm.R1, -1), asm.SDiv.Reg(asm.R0, asm.R1), asm.Return()}, 1 << 63, nil},
		{"smod by -1", asm.Instructions{
			asm.LoadImm(asm.R0, -7, asm.DWord), asm.Mov.Imm(asm.R1, -1), asm.SMod.Reg(asm.R0, asm.R1), asm.Return()}, 0, nil},
		{"sdiv negative", asm.Instructions{
			asm.Mov.Imm(asm.R0, -7), asm.SDiv.Imm(asm.R0, 2), asm.Return()}, uint64(1<<64 - 3), nil},
		{"div by zero register is 0", asm.Instructions{
			asm.Mov.Imm(asm.R0, 9), asm.Mov.Imm(asm.R1, 0), asm.Div.Reg(asm.R0, asm.R1), asm.Return()}, 0, nil},
		{"mod by zero register keeps dst", asm.Instructions{
			asm.Mov.Imm(asm.R0, 9), asm.Mov.Imm(asm.R1, 0), asm.Mod.Reg(asm.R0, asm.R1), asm.Return()}, 9, nil},
		{"movsx8", asm.Instructions{
			asm.Mov.Imm(asm.R1, 0x80), asm.MovSX8.Reg(asm.R0, asm.R1), asm.Return()}, uint64(1<<64 - 128), nil},
		{"bswap64", asm.Instructions{
			asm.LoadImm(asm.R0, 0x0102030405060708, asm.DWord), asm.BSwap(asm.R0, asm.DWord), asm.Return()}, 0x0807060504030201, nil},
		{"ldxsb from the packet", asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, skbData, asm.Word), asm.LoadMem(asm.R3, asm.R1, skbDataEnd, asm.Word),
			asm.Mov.Reg(asm.R4, asm.R2), asm.Add.Imm(asm.R4, 16), asm.Mov.Imm(asm.R0, 0),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.StoreImm(asm.R2, 15, 0xfe, asm.Byte),
			asm.LoadMemSX(asm.R0, asm.R2, 15, asm.Byte).WithSymbol("x"),
			asm.Return().WithSymbol("out")}, uint64(1<<64 - 2), nil},
		{"vlan push then pop", asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.Mov.Imm(asm.R2, 0x0081), asm.Mov.Imm(asm.R3, 0x2005), asm.FnSkbVlanPush.Call(),
			asm.Mov.Reg(asm.R1, asm.R6), asm.LoadMem(asm.R0, asm.R1, skbLen, asm.Word), asm.Return()}, uint64(len(eth) + 4),
			func(t *testing.T, b *pkt.Buffer) {
				d := b.Data()
				if binary.BigEndian.Uint16(d[12:]) != 0x8100 || binary.BigEndian.Uint16(d[14:]) != 0x2005 || binary.BigEndian.Uint16(d[16:]) != 0x0800 {
					t.Fatalf("no tag pushed: %x", d[:20])
				}
			}},
		{"vlan pop of an untagged frame", asm.Instructions{
			asm.FnSkbVlanPop.Call(), asm.Return()}, 0, nil},
		{"redirect", asm.Instructions{
			asm.Mov.Imm(asm.R1, 5), asm.Mov.Imm(asm.R2, 1), asm.FnRedirect.Call(), asm.Return()}, 7, nil},
		{"bpf-to-bpf call keeps r6..r9 and its own stack", asm.Instructions{
			asm.Mov.Imm(asm.R6, 100), asm.StoreImm(asm.RFP, -8, 5, asm.Word), asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.Call.Label("f"),
			asm.LoadMem(asm.R1, asm.RFP, -8, asm.DWord), asm.Add.Reg(asm.R0, asm.R1), asm.Add.Reg(asm.R0, asm.R6), asm.Return(),
			asm.Mov.Imm(asm.R6, 1).WithSymbol("f"), asm.StoreImm(asm.RFP, -8, 7, asm.Word), asm.StoreImm(asm.RFP, -4, 0, asm.Word),
			asm.LoadMem(asm.R0, asm.RFP, -8, asm.DWord), asm.Add.Reg(asm.R0, asm.R6), asm.Return()}, 8 + 5 + 100, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, b, err := runAsm(t, tc.prog, eth)
			if err != nil {
				t.Fatal(err)
			}
			if r != tc.want {
				t.Fatalf("r0 = %#x, want %#x", r, tc.want)
			}
			if tc.check != nil {
				tc.check(t, b)
			}
		})
	}
}

// TestCallDepth: recursion stops at the kernel's 8 frames.
func TestCallDepth(t *testing.T) {
	_, _, err := runAsm(t, asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Call.Label("f"), asm.Return(),
		asm.Call.Label("f").WithSymbol("f"), asm.Return(),
	}, corpus()[0].data)
	var f *bpf.Fault
	if !errors.As(err, &f) || !strings.Contains(f.Reason, "call depth") {
		t.Fatalf("got %v", err)
	}
}

// TestNullAfterLookup: a NULL or scalar pointer faults even right after
// another program's run on the same worker scratch left the value of a
// lookup (element 0 of an array: offset 0) as its "last value" (the
// reset tag of that shortcut is 0, the tag of NULL).
func TestNullAfterLookup(t *testing.T) {
	dscp := loadExample(t, "dscp_classifier")
	env := &bpf.Env{Ifindex: 1, Scratch: NewScratch()}
	null, err := NewProgram("null", mustRaw(t, asm.Instructions{
		asm.Mov.Imm(asm.R1, 0),
		asm.LoadMem(asm.R0, asm.R1, 0, asm.DWord),
		asm.Return(),
	}), nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := newBuf(t, corpus()[0].data) // DSCP 0: dscp_hits[0], at offset 0
	if _, err := dscp.Run(b, env); err != nil {
		t.Fatal(err)
	}
	v, err := null.Run(b, env)
	var f *bpf.Fault
	if !errors.As(err, &f) || !strings.Contains(f.Reason, "NULL") {
		t.Errorf("NULL read gave %d, %v; want a fault", v, err)
	}
}
