package ebpf

// Raw instruction encoding (include/uapi/linux/bpf.h, bpf_common.h).
const (
	clsLD    = 0x00
	clsLDX   = 0x01
	clsST    = 0x02
	clsSTX   = 0x03
	clsALU   = 0x04
	clsJMP   = 0x05
	clsJMP32 = 0x06
	clsALU64 = 0x07

	srcK = 0x00
	srcX = 0x08

	sizeW  = 0x00
	sizeH  = 0x08
	sizeB  = 0x10
	sizeDW = 0x18

	modeIMM    = 0x00
	modeABS    = 0x20
	modeIND    = 0x40
	modeMEM    = 0x60
	modeMEMSX  = 0x80
	modeATOMIC = 0xc0

	pseudoMapFD    = 1
	pseudoMapValue = 2
	pseudoCall     = 1
)

// op is netyard's decoded opcode: one dense value per operation and
// operand kind, so that the interpreter's switch is a jump table and
// no case looks at the raw encoding again.
type op uint8

const (
	opInvalid op = iota

	// 64-bit ALU, K (immediate) and X (register) forms
	a64AddK
	a64AddX
	a64SubK
	a64SubX
	a64MulK
	a64MulX
	a64DivK
	a64DivX
	a64SDivK
	a64SDivX
	a64OrK
	a64OrX
	a64AndK
	a64AndX
	a64LshK
	a64LshX
	a64RshK
	a64RshX
	a64Neg
	a64ModK
	a64ModX
	a64SModK
	a64SModX
	a64XorK
	a64XorX
	a64MovK
	a64MovX
	a64Movsx8
	a64Movsx16
	a64Movsx32
	a64ArshK
	a64ArshX
	a64Bswap16
	a64Bswap32
	a64Bswap64

	// 32-bit ALU
	a32AddK
	a32AddX
	a32SubK
	a32SubX
	a32MulK
	a32MulX
	a32DivK
	a32DivX
	a32SDivK
	a32SDivX
	a32OrK
	a32OrX
	a32AndK
	a32AndX
	a32LshK
	a32LshX
	a32RshK
	a32RshX
	a32Neg
	a32ModK
	a32ModX
	a32SModK
	a32SModX
	a32XorK
	a32XorX
	a32MovK
	a32MovX
	a32Movsx8
	a32Movsx16
	a32ArshK
	a32ArshX
	a32Le16
	a32Le32
	a32Le64
	a32Be16
	a32Be32
	a32Be64

	// jumps; 64-bit compares
	jA
	jEqK
	jEqX
	jGtK
	jGtX
	jGeK
	jGeX
	jSetK
	jSetX
	jNeK
	jNeX
	jSGtK
	jSGtX
	jSGeK
	jSGeX
	jLtK
	jLtX
	jLeK
	jLeX
	jSLtK
	jSLtX
	jSLeK
	jSLeX
	// 32-bit compares
	j32EqK
	j32EqX
	j32GtK
	j32GtX
	j32GeK
	j32GeX
	j32SetK
	j32SetX
	j32NeK
	j32NeX
	j32SGtK
	j32SGtX
	j32SGeK
	j32SGeX
	j32LtK
	j32LtX
	j32LeK
	j32LeX
	j32SLtK
	j32SLtX
	j32SLeK
	j32SLeX

	opCallHelper
	opCallLocal
	opExit

	opLdImm64 // imm is the final 64-bit value (map pointers resolved)
	opLdAbsB
	opLdAbsH
	opLdAbsW
	opLdIndB
	opLdIndH
	opLdIndW

	opLdxB
	opLdxH
	opLdxW
	opLdxDW
	opLdxSB
	opLdxSH
	opLdxSW
	opStB
	opStH
	opStW
	opStDW
	opStxB
	opStxH
	opStxW
	opStxDW

	// loads and stores at constant offsets from r10, checked at load time
	opLdxFpB
	opLdxFpH
	opLdxFpW
	opLdxFpDW
	opStFpB
	opStFpH
	opStFpW
	opStFpDW
	opStxFpB
	opStxFpH
	opStxFpW
	opStxFpDW

	// atomics, 32 and 64 bit
	atAddW
	atAddDW
	atOrW
	atOrDW
	atAndW
	atAndDW
	atXorW
	atXorDW
	atFAddW
	atFAddDW
	atFOrW
	atFOrDW
	atFAndW
	atFAndDW
	atFXorW
	atFXorDW
	atXchgW
	atXchgDW
	atCmpxchgW
	atCmpxchgDW

	opFiller // the second slot of a 64-bit immediate load

	// superinstructions (fuse in check.go): clang's pointer bounds check
	// "rX = rY; rX += K; if rX > rZ goto L" and its first two parts
	opMovAddK    // dst = src + imm; skips the add
	opMovAddKJgt // dst = src + imm; if dst > r[off2] goto; skips both

	numOps
)

// aluOps maps the raw ALU operation (code & 0xf0 >> 4) to the 64-bit K op;
// X follows K, the 32-bit ops mirror the 64-bit ones.
var alu64 = [16]op{
	0x0: a64AddK, 0x1: a64SubK, 0x2: a64MulK, 0x3: a64DivK, 0x4: a64OrK, 0x5: a64AndK,
	0x6: a64LshK, 0x7: a64RshK, 0x8: a64Neg, 0x9: a64ModK, 0xa: a64XorK, 0xb: a64MovK, 0xc: a64ArshK,
}

var alu32 = [16]op{
	0x0: a32AddK, 0x1: a32SubK, 0x2: a32MulK, 0x3: a32DivK, 0x4: a32OrK, 0x5: a32AndK,
	0x6: a32LshK, 0x7: a32RshK, 0x8: a32Neg, 0x9: a32ModK, 0xa: a32XorK, 0xb: a32MovK, 0xc: a32ArshK,
}

var jmp64 = [16]op{
	0x1: jEqK, 0x2: jGtK, 0x3: jGeK, 0x4: jSetK, 0x5: jNeK, 0x6: jSGtK, 0x7: jSGeK,
	0xa: jLtK, 0xb: jLeK, 0xc: jSLtK, 0xd: jSLeK,
}

var jmp32 = [16]op{
	0x1: j32EqK, 0x2: j32GtK, 0x3: j32GeK, 0x4: j32SetK, 0x5: j32NeK, 0x6: j32SGtK, 0x7: j32SGeK,
	0xa: j32LtK, 0xb: j32LeK, 0xc: j32SLtK, 0xd: j32SLeK,
}

func isJump(o op) bool { return o >= jA && o <= j32SLeX }

func isCond(o op) bool { return o > jA && o <= j32SLeX }
