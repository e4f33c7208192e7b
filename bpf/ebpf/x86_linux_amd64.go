package ebpf

import "encoding/binary"

// A small x86-64 assembler: the forms the JIT (jit_linux_amd64.go)
// emits, nothing else. Memory operands are always [base + disp32]
// (mod 10; a SIB byte for rsp/r12 bases), which costs a few bytes of
// code and keeps one encoding path. Jumps are rel32 to labels, patched
// in finish; a RIP-relative lea takes a label's address, so the code is
// position independent and is copied into executable memory as it is.

// x86 registers.
const (
	xAX uint8 = iota
	xCX
	xDX
	xBX
	xSP
	xBP
	xSI
	xDI
	x8
	x9
	x10
	x11
	x12
	x13
	x14
	x15
)

// Condition codes (the low nibble of Jcc).
const (
	ccB  = 0x2 // unsigned <
	ccAE = 0x3 // unsigned >=
	ccE  = 0x4
	ccNE = 0x5
	ccBE = 0x6 // unsigned <=
	ccA  = 0x7 // unsigned >
	ccS  = 0x8
	ccL  = 0xc // signed <
	ccGE = 0xd
	ccLE = 0xe
	ccG  = 0xf
)

// ALU operations: the "op r/m, r" opcode; the "op r/m, imm32" /digit is
// aluExt.
const (
	aluAdd  = 0x01
	aluOr   = 0x09
	aluAnd  = 0x21
	aluSub  = 0x29
	aluXor  = 0x31
	aluCmp  = 0x39
	aluMov  = 0x89
	aluTest = 0x85
)

var aluExt = map[byte]uint8{aluAdd: 0, aluOr: 1, aluAnd: 4, aluSub: 5, aluXor: 6, aluCmp: 7}

// Shifts: the /digit of C1 and D3.
const (
	shl = 4
	shr = 5
	sar = 7
)

type x86 struct {
	b      []byte
	labels []int // offset of each label, -1 until bound
	fix    []fixup
}

type fixup struct{ at, label int } // at: the rel32 field

func (a *x86) newLabel() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

func (a *x86) bind(l int) { a.labels[l] = len(a.b) }

func (a *x86) emit(b ...byte) { a.b = append(a.b, b...) }

func (a *x86) rel32(l int) {
	a.fix = append(a.fix, fixup{len(a.b), l})
	a.b = append(a.b, 0, 0, 0, 0)
}

func (a *x86) imm32(v int32) { a.b = binary.LittleEndian.AppendUint32(a.b, uint32(v)) }

// finish patches the jumps; false if a label was never bound (a JIT
// bug: the program then runs in the interpreter).
func (a *x86) finish() bool {
	for _, f := range a.fix {
		t := a.labels[f.label]
		if t < 0 {
			return false
		}
		binary.LittleEndian.PutUint32(a.b[f.at:], uint32(int32(t-(f.at+4))))
	}
	return true
}

// rex emits a REX prefix when one is needed: 64-bit operand size, an
// extended register, or (force) a byte register sil/dil/bpl/spl.
func (a *x86) rex(w bool, reg, index, base uint8, force bool) {
	r := byte(0x40)
	if w {
		r |= 8
	}
	if reg&8 != 0 {
		r |= 4
	}
	if index&8 != 0 {
		r |= 2
	}
	if base&8 != 0 {
		r |= 1
	}
	if r != 0x40 || force {
		a.b = append(a.b, r)
	}
}

// rr is "opc reg, rm" with two registers (ModRM mod 11).
func (a *x86) rr(w, byteRegs bool, opc []byte, reg, rm uint8) {
	a.rex(w, reg, 0, rm, byteRegs && (reg&7 >= 4 && reg < 8 || rm&7 >= 4 && rm < 8))
	a.b = append(a.b, opc...)
	a.b = append(a.b, 0xc0|(reg&7)<<3|rm&7)
}

// rm is "opc reg, [base + disp]"; prefix (0x66, 0xf0) goes before REX.
func (a *x86) rm(prefix byte, w, byteReg bool, opc []byte, reg, base uint8, disp int32) {
	if prefix != 0 {
		a.b = append(a.b, prefix)
	}
	a.rex(w, reg, 0, base, byteReg && reg >= 4 && reg < 8)
	a.b = append(a.b, opc...)
	if base&7 == 4 {
		a.b = append(a.b, 0x80|(reg&7)<<3|4, 0x24)
	} else {
		a.b = append(a.b, 0x80|(reg&7)<<3|base&7)
	}
	a.imm32(disp)
}

// aluRR is "op dst, src" (64 or 32 bits; 32-bit results are
// zero-extended, as BPF's ALU32 wants).
func (a *x86) aluRR(op byte, w bool, dst, src uint8) { a.rr(w, false, []byte{op}, src, dst) }

// aluRI is "op dst, imm32" (sign-extended for 64 bits).
func (a *x86) aluRI(op byte, w bool, dst uint8, imm int32) {
	if op == aluTest {
		a.rr(w, false, []byte{0xf7}, 0, dst)
	} else {
		a.rr(w, false, []byte{0x81}, aluExt[op], dst)
	}
	a.imm32(imm)
}

// movImm sets dst to v in the shortest form.
func (a *x86) movImm(dst uint8, v uint64) {
	switch {
	case v <= 0xffffffff: // mov r32, imm32 zero-extends
		a.rex(false, 0, 0, dst, false)
		a.emit(0xb8 + dst&7)
		a.imm32(int32(uint32(v)))
	case int64(v) == int64(int32(v)):
		a.rr(true, false, []byte{0xc7}, 0, dst)
		a.imm32(int32(v))
	default:
		a.rex(true, 0, 0, dst, false)
		a.emit(0xb8 + dst&7)
		a.b = binary.LittleEndian.AppendUint64(a.b, v)
	}
}

func (a *x86) imulRR(w bool, dst, src uint8) { a.rr(w, false, []byte{0x0f, 0xaf}, dst, src) }

func (a *x86) imulRI(w bool, dst uint8, imm int32) {
	a.rr(w, false, []byte{0x69}, dst, dst)
	a.imm32(imm)
}

func (a *x86) shiftI(ext uint8, w bool, dst uint8, n uint8) {
	a.rr(w, false, []byte{0xc1}, ext, dst)
	a.emit(n)
}

func (a *x86) shiftCL(ext uint8, w bool, dst uint8) { a.rr(w, false, []byte{0xd3}, ext, dst) }

func (a *x86) neg(w bool, dst uint8) { a.rr(w, false, []byte{0xf7}, 3, dst) }

// div is the unsigned "div r": rdx:rax / r, quotient in rax, remainder
// in rdx (edx:eax for 32 bits).
func (a *x86) div(w bool, r uint8) { a.rr(w, false, []byte{0xf7}, 6, r) }

// movsx/movzx between registers: from is 8, 16 or 32 bits.
func (a *x86) movsx(w bool, dst, src uint8, from int) {
	switch from {
	case 8:
		a.rr(w, true, []byte{0x0f, 0xbe}, dst, src)
	case 16:
		a.rr(w, false, []byte{0x0f, 0xbf}, dst, src)
	default:
		a.rr(true, false, []byte{0x63}, dst, src)
	}
}

func (a *x86) movzx16(dst, src uint8) { a.rr(false, false, []byte{0x0f, 0xb7}, dst, src) }

func (a *x86) bswap(w bool, r uint8) {
	a.rex(w, 0, 0, r, false)
	a.emit(0x0f, 0xc8+r&7)
}

// rol16by8 swaps the two low bytes of r (rol r16, 8).
func (a *x86) rol16by8(r uint8) {
	a.emit(0x66)
	a.rr(false, false, []byte{0xc1}, 0, r)
	a.emit(8)
}

// load is dst = the w bytes at [base + disp], zero- or sign-extended.
func (a *x86) load(w int, signed bool, dst, base uint8, disp int32) {
	switch {
	case w == 1 && !signed:
		a.rm(0, false, false, []byte{0x0f, 0xb6}, dst, base, disp)
	case w == 2 && !signed:
		a.rm(0, false, false, []byte{0x0f, 0xb7}, dst, base, disp)
	case w == 4 && !signed:
		a.rm(0, false, false, []byte{0x8b}, dst, base, disp)
	case w == 8:
		a.rm(0, true, false, []byte{0x8b}, dst, base, disp)
	case w == 1:
		a.rm(0, true, false, []byte{0x0f, 0xbe}, dst, base, disp)
	case w == 2:
		a.rm(0, true, false, []byte{0x0f, 0xbf}, dst, base, disp)
	default:
		a.rm(0, true, false, []byte{0x63}, dst, base, disp)
	}
}

// load32sx is dst = the signed byte or half at [base + disp],
// sign-extended to 32 bits and zero-extended from there (a C int8 read
// as a __u32 field).
func (a *x86) load32sx(w int, dst, base uint8, disp int32) {
	if w == 1 {
		a.rm(0, false, false, []byte{0x0f, 0xbe}, dst, base, disp)
	} else {
		a.rm(0, false, false, []byte{0x0f, 0xbf}, dst, base, disp)
	}
}

// store writes the low w bytes of src at [base + disp].
func (a *x86) store(w int, src, base uint8, disp int32) {
	switch w {
	case 1:
		a.rm(0, false, true, []byte{0x88}, src, base, disp)
	case 2:
		a.rm(0x66, false, false, []byte{0x89}, src, base, disp)
	case 4:
		a.rm(0, false, false, []byte{0x89}, src, base, disp)
	default:
		a.rm(0, true, false, []byte{0x89}, src, base, disp)
	}
}

// storeImm writes imm's low w bytes (8: imm sign-extended) at [base + disp].
func (a *x86) storeImm(w int, imm int32, base uint8, disp int32) {
	switch w {
	case 1:
		a.rm(0, false, false, []byte{0xc6}, 0, base, disp)
		a.emit(byte(imm))
	case 2:
		a.rm(0x66, false, false, []byte{0xc7}, 0, base, disp)
		a.emit(byte(imm), byte(imm>>8))
	case 4:
		a.rm(0, false, false, []byte{0xc7}, 0, base, disp)
		a.imm32(imm)
	default:
		a.rm(0, true, false, []byte{0xc7}, 0, base, disp)
		a.imm32(imm)
	}
}

func (a *x86) lea(dst, base uint8, disp int32) { a.rm(0, true, false, []byte{0x8d}, dst, base, disp) }

// movRM and movMR move 64 bits between a register and memory.
func (a *x86) movRM(dst, base uint8, disp int32) { a.load(8, false, dst, base, disp) }
func (a *x86) movMR(base uint8, disp int32, src uint8) {
	a.store(8, src, base, disp)
}

// opRM is "op reg, [base + disp]" for add and cmp (64 bits).
func (a *x86) addRM(reg, base uint8, disp int32) {
	a.rm(0, true, false, []byte{0x03}, reg, base, disp)
}
func (a *x86) cmpRM(reg, base uint8, disp int32) {
	a.rm(0, true, false, []byte{0x3b}, reg, base, disp)
}

// subMI is "sub qword [base + disp], imm32".
func (a *x86) subMI(base uint8, disp int32, imm int32) {
	a.rm(0, true, false, []byte{0x81}, 5, base, disp)
	a.imm32(imm)
}

// lockAdd and lockXadd are the atomic add (without and with the old
// value into src) of w = 4 or 8 bytes at [base + disp].
func (a *x86) lockAdd(w int, src, base uint8, disp int32) {
	a.rm(0xf0, w == 8, false, []byte{0x01}, src, base, disp)
}
func (a *x86) lockXadd(w int, src, base uint8, disp int32) {
	a.rm(0xf0, w == 8, false, []byte{0x0f, 0xc1}, src, base, disp)
}

func (a *x86) jcc(cc byte, l int) {
	a.emit(0x0f, 0x80+cc)
	a.rel32(l)
}

func (a *x86) jmp(l int) {
	a.emit(0xe9)
	a.rel32(l)
}

// jmpM is "jmp qword [base + disp]".
func (a *x86) jmpM(base uint8, disp int32) { a.rm(0, false, false, []byte{0xff}, 4, base, disp) }

// leaLabel is "lea dst, [rip + label]".
func (a *x86) leaLabel(dst uint8, l int) {
	a.rex(true, dst, 0, 0, false)
	a.emit(0x8d, (dst&7)<<3|5)
	a.rel32(l)
}

func (a *x86) push(r uint8) {
	a.rex(false, 0, 0, r, false)
	a.emit(0x50 + r&7)
}

func (a *x86) pop(r uint8) {
	a.rex(false, 0, 0, r, false)
	a.emit(0x58 + r&7)
}

func (a *x86) ret() { a.emit(0xc3) }
