package ebpf

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"netyard/internal/testutil"
)

var r64 = []string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
var r32 = []string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"}
var r16 = []string{"ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"}
var r8 = []string{"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"}

// memOp is objdump's Intel syntax of [base + d].
func memOp(b uint8, d int32) string {
	if d < 0 {
		return fmt.Sprintf("[%s-0x%x]", r64[b], -d)
	}
	return fmt.Sprintf("[%s+0x%x]", r64[b], d)
}

// TestEncodingsAgainstObjdump: every form the JIT's assembler emits, with
// every register but rsp as operand and as base (r12's SIB byte, rbp's
// and r13's disp32, the byte registers sil/dil/bpl that need a REX),
// disassembled by objdump: the oracle for the encodings.
func TestEncodingsAgainstObjdump(t *testing.T) {
	testutil.NeedTools(t, "objdump")
	var a x86
	var want []string
	add := func(w string, f func()) { f(); want = append(want, w) }
	regs := []uint8{0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	for _, r := range regs {
		for _, b := range regs {
			r, b := r, b
			add(fmt.Sprintf("mov BYTE PTR %s,%s", memOp(b, 0x1234), r8[r]), func() { a.store(1, r, b, 0x1234) })
			add(fmt.Sprintf("mov WORD PTR %s,%s", memOp(b, -8), r16[r]), func() { a.store(2, r, b, -8) })
			add(fmt.Sprintf("mov DWORD PTR %s,%s", memOp(b, 8), r32[r]), func() { a.store(4, r, b, 8) })
			add(fmt.Sprintf("mov QWORD PTR %s,%s", memOp(b, 8), r64[r]), func() { a.store(8, r, b, 8) })
			add(fmt.Sprintf("movzx %s,BYTE PTR %s", r32[r], memOp(b, 8)), func() { a.load(1, false, r, b, 8) })
			add(fmt.Sprintf("movzx %s,WORD PTR %s", r32[r], memOp(b, 8)), func() { a.load(2, false, r, b, 8) })
			add(fmt.Sprintf("mov %s,DWORD PTR %s", r32[r], memOp(b, 8)), func() { a.load(4, false, r, b, 8) })
			add(fmt.Sprintf("mov %s,QWORD PTR %s", r64[r], memOp(b, 8)), func() { a.load(8, false, r, b, 8) })
			add(fmt.Sprintf("movsx %s,BYTE PTR %s", r64[r], memOp(b, 8)), func() { a.load(1, true, r, b, 8) })
			add(fmt.Sprintf("movsx %s,WORD PTR %s", r64[r], memOp(b, 8)), func() { a.load(2, true, r, b, 8) })
			add(fmt.Sprintf("movsxd %s,DWORD PTR %s", r64[r], memOp(b, 8)), func() { a.load(4, true, r, b, 8) })
			add(fmt.Sprintf("movsx %s,BYTE PTR %s", r32[r], memOp(b, 8)), func() { a.load32sx(1, r, b, 8) })
			add(fmt.Sprintf("movsx %s,WORD PTR %s", r32[r], memOp(b, 8)), func() { a.load32sx(2, r, b, 8) })
			add(fmt.Sprintf("lea %s,%s", r64[r], memOp(b, -3)), func() { a.lea(r, b, -3) })
			add(fmt.Sprintf("add %s,QWORD PTR %s", r64[r], memOp(b, 8)), func() { a.addRM(r, b, 8) })
			add(fmt.Sprintf("cmp %s,QWORD PTR %s", r64[r], memOp(b, 8)), func() { a.cmpRM(r, b, 8) })
			add(fmt.Sprintf("lock add DWORD PTR %s,%s", memOp(b, 0), r32[r]), func() { a.lockAdd(4, r, b, 0) })
			add(fmt.Sprintf("lock add QWORD PTR %s,%s", memOp(b, 0), r64[r]), func() { a.lockAdd(8, r, b, 0) })
			add(fmt.Sprintf("lock xadd DWORD PTR %s,%s", memOp(b, 0), r32[r]), func() { a.lockXadd(4, r, b, 0) })
			add(fmt.Sprintf("lock xadd QWORD PTR %s,%s", memOp(b, 0), r64[r]), func() { a.lockXadd(8, r, b, 0) })
			// register-register: r is dst, b is src
			add(fmt.Sprintf("movsx %s,%s", r64[r], r8[b]), func() { a.movsx(true, r, b, 8) })
			add(fmt.Sprintf("movsx %s,%s", r32[r], r8[b]), func() { a.movsx(false, r, b, 8) })
			add(fmt.Sprintf("movsx %s,%s", r64[r], r16[b]), func() { a.movsx(true, r, b, 16) })
			add(fmt.Sprintf("movsx %s,%s", r32[r], r16[b]), func() { a.movsx(false, r, b, 16) })
			add(fmt.Sprintf("movsxd %s,%s", r64[r], r32[b]), func() { a.movsx(true, r, b, 32) })
			add(fmt.Sprintf("movzx %s,%s", r32[r], r16[b]), func() { a.movzx16(r, b) })
			add(fmt.Sprintf("imul %s,%s", r64[r], r64[b]), func() { a.imulRR(true, r, b) })
			add(fmt.Sprintf("imul %s,%s", r32[r], r32[b]), func() { a.imulRR(false, r, b) })
			add(fmt.Sprintf("sub %s,%s", r64[r], r64[b]), func() { a.aluRR(aluSub, true, r, b) })
			add(fmt.Sprintf("cmp %s,%s", r32[r], r32[b]), func() { a.aluRR(aluCmp, false, r, b) })
			add(fmt.Sprintf("test %s,%s", r64[r], r64[b]), func() { a.aluRR(aluTest, true, r, b) })
		}
		r := r
		add(fmt.Sprintf("mov BYTE PTR %s,0xfe", memOp(r, 8)), func() { a.storeImm(1, -2, r, 8) })
		add(fmt.Sprintf("mov WORD PTR %s,0xfffe", memOp(r, 8)), func() { a.storeImm(2, -2, r, 8) })
		add(fmt.Sprintf("mov DWORD PTR %s,0xfffffffe", memOp(r, 8)), func() { a.storeImm(4, -2, r, 8) })
		add(fmt.Sprintf("mov QWORD PTR %s,0xfffffffffffffffe", memOp(r, 8)), func() { a.storeImm(8, -2, r, 8) })
		add(fmt.Sprintf("sub QWORD PTR %s,0x7", memOp(r, 8)), func() { a.subMI(r, 8, 7) })
		add(fmt.Sprintf("jmp QWORD PTR %s", memOp(r, 8)), func() { a.jmpM(r, 8) })
		add(fmt.Sprintf("imul %s,%s,0xfffffffffffffff9", r64[r], r64[r]), func() { a.imulRI(true, r, -7) })
		add(fmt.Sprintf("imul %s,%s,0xfffffff9", r32[r], r32[r]), func() { a.imulRI(false, r, -7) })
		add(fmt.Sprintf("add %s,0xfffffffffffffff9", r64[r]), func() { a.aluRI(aluAdd, true, r, -7) })
		add(fmt.Sprintf("xor %s,0xfffffff9", r32[r]), func() { a.aluRI(aluXor, false, r, -7) })
		add(fmt.Sprintf("test %s,0x10", r64[r]), func() { a.aluRI(aluTest, true, r, 16) })
		add(fmt.Sprintf("cmp %s,0x80000000", r32[r]), func() { a.aluRI(aluCmp, false, r, -0x80000000) })
		add(fmt.Sprintf("shl %s,0x3f", r64[r]), func() { a.shiftI(shl, true, r, 63) })
		add(fmt.Sprintf("sar %s,0x1f", r32[r]), func() { a.shiftI(sar, false, r, 31) })
		add(fmt.Sprintf("shr %s,cl", r64[r]), func() { a.shiftCL(shr, true, r) })
		add(fmt.Sprintf("shl %s,cl", r32[r]), func() { a.shiftCL(shl, false, r) })
		add(fmt.Sprintf("neg %s", r32[r]), func() { a.neg(false, r) })
		add(fmt.Sprintf("div %s", r64[r]), func() { a.div(true, r) })
		add(fmt.Sprintf("div %s", r32[r]), func() { a.div(false, r) })
		add(fmt.Sprintf("bswap %s", r64[r]), func() { a.bswap(true, r) })
		add(fmt.Sprintf("bswap %s", r32[r]), func() { a.bswap(false, r) })
		add(fmt.Sprintf("rol %s,0x8", r16[r]), func() { a.rol16by8(r) })
		add(fmt.Sprintf("mov %s,0xffffffff", r32[r]), func() { a.movImm(r, 0xffffffff) })
		add(fmt.Sprintf("mov %s,0xfffffffffffffffe", r64[r]), func() { a.movImm(r, 0xfffffffffffffffe) })
		add(fmt.Sprintf("movabs %s,0x123456789", r64[r]), func() { a.movImm(r, 0x123456789) })
		add(fmt.Sprintf("push %s", r64[r]), func() { a.push(r) })
		add(fmt.Sprintf("pop %s", r64[r]), func() { a.pop(r) })
	}
	f, err := os.CreateTemp(t.TempDir(), "enc*.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(a.b); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out, err := exec.Command("objdump", "-D", "-b", "binary", "-m", "i386:x86-64", "-M", "intel", f.Name()).Output()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(string(out), "\n") {
		p := strings.SplitN(l, "\t", 3)
		if len(p) == 3 && strings.HasSuffix(p[0], ":") {
			got = append(got, strings.Join(strings.Fields(p[2]), " "))
		}
	}
	bad := 0
	for i := range want {
		if i >= len(got) {
			t.Fatalf("short disassembly at %d (%s)", i, want[i])
		}
		g := strings.ReplaceAll(strings.TrimPrefix(got[i], "rex "), " ", "")
		if g != strings.ReplaceAll(want[i], " ", "") {
			t.Errorf("%d: want %q got %q", i, want[i], got[i])
			if bad++; bad > 20 {
				t.FailNow()
			}
		}
	}
}
