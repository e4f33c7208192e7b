package ebpf

import (
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"netyard/bpf"
	"netyard/pkt"
)

// The amd64 JIT. Why one, in a pure Go project: the interpreter's
// switch costs about 1.5 ns an instruction and closures were measured no
// faster (docs/PERFORMANCE.md, "The compiled form"); the kernel's JIT is
// the yardstick (bench/ebpf.sh), and only machine code gets near it.
// No cgo is needed: the code is written into an anonymous mapping that
// is then made read+execute (never writable and executable at once),
// and jitcall (jit_linux_amd64.s) calls it like a leaf function. The
// machine code calls nothing: helpers and everything else it does not
// compile are exits to Go (jit.go). It runs on the goroutine's stack
// for its return address and six saved registers only, well inside the
// room a Go function may use below a checked frame; the GC cannot stop
// the goroutine inside it (no safe point), which a run's instruction
// limit bounds to about a millisecond.
//
// Registers, as the kernel's x86 JIT maps them: r0 rax, r1 rdi, r2 rsi,
// r3 rdx, r4 rcx, r5 r8, r6 rbx, r7 r13, r8 r14, r9 r15, r10 rbp;
// r12 holds the run's state, r9..r11 are scratch.
var bx = [11]uint8{xAX, xDI, xSI, xDX, xCX, x8, xBX, x13, x14, x15, xBP}

const xState = x12

// Offsets into state and pkt.Buffer the machine code uses.
var (
	offRegs, offStack, offPktPtr, offPktLen          int32
	offValTag, offJValTag, offJValOff, offJValEnd    int32
	offJValBase                                      int32
	offBuf, offClassid                               int32
	offResume, offExitPC, offBudget, offDepth, offFr int32
	offPriority, offMark, offQM, offHasQM            int32
	offEnv, offIfindex                               int32
)

func init() {
	var s state
	base := uintptr(unsafe.Pointer(&s))
	off := func(p unsafe.Pointer) int32 { return int32(uintptr(p) - base) }
	offRegs = off(unsafe.Pointer(&s.regs))
	offStack = off(unsafe.Pointer(&s.stack))
	offPktPtr = off(unsafe.Pointer(&s.pkt))
	offPktLen = offPktPtr + 8
	offValTag = off(unsafe.Pointer(&s.valTag))
	offJValTag = off(unsafe.Pointer(&s.j.valTag))
	offJValOff = off(unsafe.Pointer(&s.j.valOff))
	offJValEnd = off(unsafe.Pointer(&s.j.valEnd))
	offJValBase = off(unsafe.Pointer(&s.j.valBase))
	offBuf = off(unsafe.Pointer(&s.buf))
	offClassid = off(unsafe.Pointer(&s.skb.classid))
	offEnv = off(unsafe.Pointer(&s.env))
	var e bpf.Env
	offIfindex = int32(uintptr(unsafe.Pointer(&e.Ifindex)) - uintptr(unsafe.Pointer(&e)))
	offResume = off(unsafe.Pointer(&s.j.resume))
	offExitPC = off(unsafe.Pointer(&s.j.exitPC))
	offBudget = off(unsafe.Pointer(&s.j.budget))
	offDepth = off(unsafe.Pointer(&s.j.depth))
	offFr = off(unsafe.Pointer(&s.j.frames))
	var b pkt.Buffer
	bb := uintptr(unsafe.Pointer(&b))
	offPriority = int32(uintptr(unsafe.Pointer(&b.Priority)) - bb)
	offMark = int32(uintptr(unsafe.Pointer(&b.Mark)) - bb)
	offQM = int32(uintptr(unsafe.Pointer(&b.QueueMapping)) - bb)
	offHasQM = int32(uintptr(unsafe.Pointer(&b.HasQueueMapping)) - bb)
	if unsafe.Sizeof(jframe{}) != 64 || unsafe.Sizeof(b.QueueMapping) != 2 || unsafe.Sizeof(b.HasQueueMapping) != 1 {
		panic("ebpf: the JIT's layout assumptions do not hold")
	}
}

// jitcall enters machine code at entry with the run's state in rdi and
// returns its exit code (jit_linux_amd64.s).
//
//go:noescape
func jitcall(entry uintptr, s unsafe.Pointer) uint64

// jitCode is a program's machine code.
type jitCode struct {
	mem   []byte    // the executable mapping
	entry uintptr   // loads the registers, jumps to state.j.resume
	addr  []uintptr // each instruction's address
	size  int       // bytes of machine code
}

// JitedLen is the size of p's machine code, 0 when the interpreter runs
// it (bpftool's "jited NB" / "not jited").
func (p *Program) JitedLen() int {
	if p.jit == nil {
		return 0
	}
	return p.jit.size
}

// jitPrograms counts the mappings alive; above jitMaxPrograms a program
// runs in the interpreter (each takes at least a page and a mapping of
// the process's vm.max_map_count).
var jitPrograms atomic.Int64

const jitMaxPrograms = 16384

// compileJIT gives p machine code, or leaves it to the interpreter.
func (p *Program) compileJIT() {
	p.jit = nil
	if !jitEnabled || jitPrograms.Load() >= jitMaxPrograms {
		return
	}
	c := &jitc{p: p, stubs: map[int]int{}}
	code, ok := c.compile()
	if !ok {
		return
	}
	n := (len(code) + 4095) &^ 4095
	mem, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return
	}
	copy(mem, code)
	if unix.Mprotect(mem, unix.PROT_READ|unix.PROT_EXEC) != nil {
		unix.Munmap(mem)
		return
	}
	base := uintptr(unsafe.Pointer(&mem[0]))
	jc := &jitCode{mem: mem, entry: base, addr: make([]uintptr, len(p.code)), size: len(code)}
	for pc := range p.code {
		jc.addr[pc] = base + uintptr(c.a.labels[c.insnLabel[pc]])
	}
	jitPrograms.Add(1)
	// unmapped once nothing refers to the code: not the program (which
	// may have been compiled again, SetWifiContext) and no run (runJIT
	// keeps its jitCode alive until the machine code has returned)
	runtime.AddCleanup(jc, func(m []byte) {
		unix.Munmap(m)
		jitPrograms.Add(-1)
	}, mem)
	p.jit = jc
}

type jitc struct {
	p         *Program
	a         x86
	insnLabel []int
	stubs     map[int]int // pc -> label of its exit-to-Go stub
	save      int         // stores the registers; r9 is the exit code
	limit     map[int]int // target pc -> label of its instruction-limit stub
	target    []bool      // instructions a jump or call goes to
	callLimit [][2]int    // a call's pc and its instruction-limit stub
}

func (c *jitc) compile() ([]byte, bool) {
	a := &c.a
	c.insnLabel = make([]int, len(c.p.code))
	for i := range c.insnLabel {
		c.insnLabel[i] = a.newLabel()
	}
	c.save = a.newLabel()
	c.limit = map[int]int{}
	c.target = make([]bool, len(c.p.code)+1)
	for pc, in := range c.p.code {
		if isJump(in.op) || in.op == opCallLocal {
			c.target[pc+1+int(in.off)] = true
		}
	}

	// entry: save what the SysV and Go conventions expect kept, take
	// the state, load the BPF registers, go to state.j.resume
	for _, r := range []uint8{xBX, xBP, x12, x13, x14, x15} {
		a.push(r)
	}
	a.aluRR(aluMov, true, xState, xDI)
	for i, r := range bx {
		a.movRM(r, xState, offRegs+int32(8*i))
	}
	a.jmpM(xState, offResume)

	for pc := range c.p.code {
		a.bind(c.insnLabel[pc])
		if !c.insn(pc, &c.p.code[pc]) {
			return nil, false
		}
	}

	// exits
	for pc, l := range c.stubs {
		a.bind(l)
		a.storeImm(8, int32(pc), xState, offExitPC)
		a.movImm(x9, exitStep)
		a.jmp(c.save)
	}
	for pc, l := range c.limit {
		a.bind(l)
		a.storeImm(8, int32(pc), xState, offExitPC)
		a.movImm(x9, exitLimit)
		a.jmp(c.save)
	}
	for _, cl := range c.callLimit {
		a.bind(cl[1])
		a.storeImm(8, int32(cl[0]), xState, offExitPC)
		a.movImm(x9, exitCallLimit)
		a.jmp(c.save)
	}
	a.bind(c.save)
	for i, r := range bx {
		a.movMR(xState, offRegs+int32(8*i), r)
	}
	a.aluRR(aluMov, false, xAX, x9)
	for _, r := range []uint8{x15, x14, x13, x12, xBP, xBX} {
		a.pop(r)
	}
	a.ret()
	if !a.finish() {
		return nil, false
	}
	return a.b, true
}

// stub is the label of the exit that hands instruction pc to Go.
func (c *jitc) stub(pc int) int {
	l, ok := c.stubs[pc]
	if !ok {
		l = c.a.newLabel()
		c.stubs[pc] = l
	}
	return l
}

func fits32(v int64) bool { return v == int64(int32(v)) }

// insn compiles one instruction; false: the program is left to the
// interpreter (nothing a checked program contains does that today).
func (c *jitc) insn(pc int, in *insn) bool {
	a := &c.a
	if in.dst > 10 || in.src > 10 || in.src2 > 10 {
		return false
	}
	d, s := bx[in.dst], bx[in.src]
	imm := int32(in.imm)
	if in.op != opLdImm64 && !fits32(in.imm) {
		return false
	}
	switch op := in.op; op {
	case a64AddK, a64SubK, a64OrK, a64AndK, a64XorK:
		a.aluRI(aluOf[op], true, d, imm)
	case a32AddK, a32SubK, a32OrK, a32AndK, a32XorK:
		a.aluRI(aluOf[op], false, d, imm)
	case a64AddX, a64SubX, a64OrX, a64AndX, a64XorX, a64MovX:
		a.aluRR(aluOf[op], true, d, s)
	case a32AddX, a32SubX, a32OrX, a32AndX, a32XorX, a32MovX:
		a.aluRR(aluOf[op], false, d, s)
	case a64MulK:
		a.imulRI(true, d, imm)
	case a32MulK:
		a.imulRI(false, d, imm)
	case a64MulX:
		a.imulRR(true, d, s)
	case a32MulX:
		a.imulRR(false, d, s)
	case a64MovK:
		a.movImm(d, uint64(in.imm))
	case a32MovK:
		a.movImm(d, uint64(uint32(imm)))
	case a64Neg:
		a.neg(true, d)
	case a32Neg:
		a.neg(false, d)
	case a64LshK, a64RshK, a64ArshK:
		a.shiftI(shiftOf[op], true, d, uint8(imm))
	case a32LshK, a32RshK, a32ArshK:
		a.shiftI(shiftOf[op], false, d, uint8(imm))
		a.aluRR(aluMov, false, d, d) // a count of 0 leaves the upper half alone
	case a64LshX, a64RshX, a64ArshX, a32LshX, a32RshX, a32ArshX:
		// the count must be in cl, and rcx is r4
		w := op == a64LshX || op == a64RshX || op == a64ArshX
		a.aluRR(aluMov, true, x9, xCX)
		a.aluRR(aluMov, true, x10, d)
		a.aluRR(aluMov, true, xCX, s)
		a.shiftCL(shiftOf[op], w, x10)
		if !w {
			a.aluRR(aluMov, false, x10, x10)
		}
		a.aluRR(aluMov, true, xCX, x9)
		a.aluRR(aluMov, true, d, x10)
	case a64DivK, a64DivX, a64ModK, a64ModX, a32DivK, a32DivX, a32ModK, a32ModX:
		c.divMod(in)
	case a64Movsx8:
		a.movsx(true, d, s, 8)
	case a64Movsx16:
		a.movsx(true, d, s, 16)
	case a64Movsx32:
		a.movsx(true, d, s, 32)
	case a32Movsx8:
		a.movsx(false, d, s, 8)
	case a32Movsx16:
		a.movsx(false, d, s, 16)
	case a64Bswap16, a32Be16:
		a.rol16by8(d)
		a.movzx16(d, d)
	case a64Bswap32, a32Be32:
		a.bswap(false, d)
	case a64Bswap64, a32Be64:
		a.bswap(true, d)
	case a32Le16:
		a.movzx16(d, d)
	case a32Le32:
		a.aluRR(aluMov, false, d, d)
	case a32Le64, opFiller:
	case opMovAddK, opMovAddKJgt:
		// the fused form's first part; the add and the jump keep
		// their own slots, which follow
		a.aluRR(aluMov, true, d, s)
	case opLdImm64:
		a.movImm(d, uint64(in.imm))
	case jA:
		c.jump(pc, in, -1)
	case opCallLocal:
		c.callLocal(pc, in)
	case opExit:
		c.exit()
	case opLdxFpB, opLdxFpH, opLdxFpW, opLdxFpDW:
		a.aluRR(aluMov, false, x11, xBP)
		a.aluRR(aluAdd, true, x11, xState)
		a.load(1<<(op-opLdxFpB), false, d, x11, offStack+in.off)
	case opStFpB, opStFpH, opStFpW, opStFpDW:
		a.aluRR(aluMov, false, x11, xBP)
		a.aluRR(aluAdd, true, x11, xState)
		a.storeImm(1<<(op-opStFpB), imm, x11, offStack+in.off)
	case opStxFpB, opStxFpH, opStxFpW, opStxFpDW:
		a.aluRR(aluMov, false, x11, xBP)
		a.aluRR(aluAdd, true, x11, xState)
		a.store(1<<(op-opStxFpB), s, x11, offStack+in.off)
	case opLdxB, opLdxH, opLdxW, opLdxDW, opLdxSB, opLdxSH, opLdxSW:
		c.access(pc, in, accLoad)
	case opStB, opStH, opStW, opStDW:
		c.access(pc, in, accStoreImm)
	case opStxB, opStxH, opStxW, opStxDW:
		c.access(pc, in, accStore)
	case atAddW, atAddDW, atFAddW, atFAddDW:
		c.atomicAdd(pc, in)
	case opCallHelper:
		if m, mi, ok := c.knownArray(pc, in); ok {
			c.arrayLookup(pc, m, mi)
			break
		}
		a.jmp(c.stub(pc))
	default:
		if cc, ok := ccOf[op]; ok {
			c.cond(pc, in, cc)
			break
		}
		// helpers, tail calls, LD_ABS/IND, divisions, other atomics
		a.jmp(c.stub(pc))
	}
	return true
}

var aluOf = map[op]byte{
	a64AddK: aluAdd, a64SubK: aluSub, a64OrK: aluOr, a64AndK: aluAnd, a64XorK: aluXor,
	a32AddK: aluAdd, a32SubK: aluSub, a32OrK: aluOr, a32AndK: aluAnd, a32XorK: aluXor,
	a64AddX: aluAdd, a64SubX: aluSub, a64OrX: aluOr, a64AndX: aluAnd, a64XorX: aluXor, a64MovX: aluMov,
	a32AddX: aluAdd, a32SubX: aluSub, a32OrX: aluOr, a32AndX: aluAnd, a32XorX: aluXor, a32MovX: aluMov,
}

var shiftOf = map[op]uint8{
	a64LshK: shl, a64RshK: shr, a64ArshK: sar, a32LshK: shl, a32RshK: shr, a32ArshK: sar,
	a64LshX: shl, a64RshX: shr, a64ArshX: sar, a32LshX: shl, a32RshX: shr, a32ArshX: sar,
}

// ccOf is each conditional jump's condition after "cmp dst, src" (or
// "test" for JSET).
var ccOf = map[op]byte{
	jEqK: ccE, jEqX: ccE, jNeK: ccNE, jNeX: ccNE, jSetK: ccNE, jSetX: ccNE,
	jGtK: ccA, jGtX: ccA, jGeK: ccAE, jGeX: ccAE, jLtK: ccB, jLtX: ccB, jLeK: ccBE, jLeX: ccBE,
	jSGtK: ccG, jSGtX: ccG, jSGeK: ccGE, jSGeX: ccGE, jSLtK: ccL, jSLtX: ccL, jSLeK: ccLE, jSLeX: ccLE,
	j32EqK: ccE, j32EqX: ccE, j32NeK: ccNE, j32NeX: ccNE, j32SetK: ccNE, j32SetX: ccNE,
	j32GtK: ccA, j32GtX: ccA, j32GeK: ccAE, j32GeX: ccAE, j32LtK: ccB, j32LtX: ccB, j32LeK: ccBE, j32LeX: ccBE,
	j32SGtK: ccG, j32SGtX: ccG, j32SGeK: ccGE, j32SGeX: ccGE, j32SLtK: ccL, j32SLtX: ccL, j32SLeK: ccLE, j32SLeX: ccLE,
}

// divMod is the unsigned division and remainder (exec's: x/0 is 0, x%0
// is x, its low half for 32 bits). div needs rax and rdx, which are r0
// and r3: they wait in r9 and r10.
func (c *jitc) divMod(in *insn) {
	a := &c.a
	op := in.op
	w := op == a64DivK || op == a64DivX || op == a64ModK || op == a64ModX
	mod := op == a64ModK || op == a64ModX || op == a32ModK || op == a32ModX
	k := op == a64DivK || op == a64ModK || op == a32DivK || op == a32ModK
	d := bx[in.dst]
	zero, done := a.newLabel(), a.newLabel()
	if k {
		if w {
			a.movImm(x11, uint64(in.imm))
		} else {
			a.movImm(x11, uint64(uint32(in.imm)))
		}
	} else {
		a.aluRR(aluMov, w, x11, bx[in.src])
	}
	a.aluRR(aluTest, w, x11, x11)
	a.jcc(ccE, zero)
	a.aluRR(aluMov, true, x9, xAX)
	a.aluRR(aluMov, true, x10, xDX)
	a.aluRR(aluMov, w, xAX, d)
	a.aluRR(aluXor, false, xDX, xDX)
	a.div(w, x11)
	if mod {
		a.aluRR(aluMov, true, x11, xDX)
	} else {
		a.aluRR(aluMov, true, x11, xAX)
	}
	a.aluRR(aluMov, true, xAX, x9)
	a.aluRR(aluMov, true, xDX, x10)
	a.aluRR(aluMov, true, d, x11)
	a.jmp(done)
	a.bind(zero)
	switch {
	case !mod:
		a.movImm(d, 0)
	case !w:
		a.aluRR(aluMov, false, d, d)
	}
	a.bind(done)
}

// cond compiles a conditional jump: compare (or test), then jump.
func (c *jitc) cond(pc int, in *insn, cc byte) {
	a := &c.a
	w := in.op < j32EqK
	k := (in.op-jEqK)%2 == 0 // K forms come first in each pair
	d, s := bx[in.dst], bx[in.src]
	set := in.op == jSetK || in.op == jSetX || in.op == j32SetK || in.op == j32SetX
	switch {
	case set && k:
		a.aluRI(aluTest, w, d, int32(in.imm))
	case set:
		a.aluRR(aluTest, w, d, s)
	case k:
		a.aluRI(aluCmp, w, d, int32(in.imm))
	default:
		a.aluRR(aluCmp, w, d, s)
	}
	c.jump(pc, in, int(cc))
}

// jump jumps to in's target when condition cc holds (cc < 0: always).
// A jump back counts the instructions it goes back over against the
// run's budget, as exec does, and stops the run past InsnLimit.
func (c *jitc) jump(pc int, in *insn, cc int) {
	a := &c.a
	t := pc + 1 + int(in.off)
	if in.off >= 0 {
		if cc < 0 {
			a.jmp(c.insnLabel[t])
		} else {
			a.jcc(byte(cc), c.insnLabel[t])
		}
		return
	}
	skip := a.newLabel()
	if cc >= 0 {
		a.jcc(byte(cc)^1, skip)
	}
	lim, ok := c.limit[t]
	if !ok {
		lim = a.newLabel()
		c.limit[t] = lim
	}
	a.subMI(xState, offBudget, -in.off)
	a.jcc(ccS, lim)
	a.jmp(c.insnLabel[t])
	a.bind(skip)
}

// callLocal is a bpf-to-bpf call: r6..r9, r10 and the return address go
// to the state's frame stack (not the machine stack: an exit to Go in
// the callee returns all the way out of the machine code), r10 moves to
// the next 512-byte frame.
func (c *jitc) callLocal(pc int, in *insn) {
	a := &c.a
	deep := a.newLabel()
	ok := a.newLabel()
	a.movRM(x9, xState, offDepth)
	a.aluRI(aluCmp, true, x9, maxCallDepth-1)
	a.jcc(ccB, ok)
	a.bind(deep)
	a.storeImm(8, int32(pc), xState, offExitPC)
	a.movImm(x9, exitDepth)
	a.jmp(c.save)
	a.bind(ok)
	a.aluRR(aluMov, true, x10, x9)
	a.shiftI(shl, true, x10, 6)
	a.aluRR(aluAdd, true, x10, xState)
	a.leaLabel(x11, c.insnLabel[pc+1])
	a.movMR(x10, offFr, x11)
	for i, r := range []uint8{bx[6], bx[7], bx[8], bx[9], bx[10]} {
		a.movMR(x10, offFr+8+int32(8*i), r)
	}
	a.aluRI(aluAdd, true, x9, 1)
	a.movMR(xState, offDepth, x9)
	// r10 = stack pointer to the top of frame depth+1: (depth+1) * 512
	a.lea(xBP, x9, 1)
	a.shiftI(shl, true, xBP, 9)
	a.movImm(x11, tagStack<<32)
	a.aluRR(aluOr, true, xBP, x11)
	// charged the callee's length (chargeCalls), as exec does after
	// pushing the frame
	lim := a.newLabel()
	c.callLimit = append(c.callLimit, [2]int{pc, lim})
	a.subMI(xState, offBudget, int32(in.imm))
	a.jcc(ccS, lim)
	a.jmp(c.insnLabel[pc+1+int(in.off)])
}

// exit returns r0 from the program, or from a bpf-to-bpf call.
func (c *jitc) exit() {
	a := &c.a
	nested := a.newLabel()
	a.movRM(x9, xState, offDepth)
	a.aluRR(aluTest, true, x9, x9)
	a.jcc(ccNE, nested)
	a.movImm(x9, exitDone)
	a.jmp(c.save)
	a.bind(nested)
	a.aluRI(aluSub, true, x9, 1)
	a.movMR(xState, offDepth, x9)
	a.shiftI(shl, true, x9, 6)
	a.aluRR(aluAdd, true, x9, xState)
	for i, r := range []uint8{bx[6], bx[7], bx[8], bx[9], bx[10]} {
		a.movRM(r, x9, offFr+8+int32(8*i))
	}
	a.jmpM(x9, offFr)
}

type accKind int

const (
	accLoad accKind = iota
	accStore
	accStoreImm
)

// access compiles a load or store through a pointer register: r11 is
// the address's offset, r10 its region tag; the packet, the stack and the
// map value the last lookup returned are reached here after a bounds
// check, data/data_end/len loads and the context fields tc programs
// write too; anything else (or anything out of bounds) goes to Go, which
// does it or faults exactly as the interpreter.
func (c *jitc) access(pc int, in *insn, k accKind) {
	a := &c.a
	var w int
	signed := false
	base := bx[in.dst]
	switch {
	case k == accLoad:
		w = [...]int{1, 2, 4, 8, 1, 2, 4}[in.op-opLdxB]
		signed = in.op >= opLdxSB
		base = bx[in.src]
	case k == accStore:
		w = 1 << (in.op - opStxB)
	default:
		w = 1 << (in.op - opStB)
	}
	slow := c.stub(pc)
	done := a.newLabel()
	do := func(reg uint8, disp int32) {
		switch k {
		case accLoad:
			a.load(w, signed, bx[in.dst], reg, disp)
		case accStore:
			a.store(w, bx[in.src], reg, disp)
		default:
			a.storeImm(w, int32(in.imm), reg, disp)
		}
	}
	c.split(base, in.off)

	// the packet
	notPkt := a.newLabel()
	a.aluRI(aluCmp, false, x10, tagPkt)
	a.jcc(ccNE, notPkt)
	a.lea(x9, x11, int32(w))
	a.cmpRM(x9, xState, offPktLen)
	a.jcc(ccA, slow)
	a.addRM(x11, xState, offPktPtr)
	do(x11, 0)
	a.jmp(done)
	a.bind(notPkt)

	// the context's most used fields
	if (w == 4 || w == 8 && k == accLoad) && !signed && k != accStoreImm {
		notCtx := a.newLabel()
		a.aluRI(aluCmp, false, x10, tagCtx)
		a.jcc(ccNE, notCtx)
		if k == accLoad {
			c.ctxLoad(in, w, slow, done)
		} else {
			c.ctxStore(in, slow, done)
		}
		a.bind(notCtx)
	}

	// the stack
	notStack := a.newLabel()
	a.aluRI(aluCmp, false, x10, tagStack)
	a.jcc(ccNE, notStack)
	a.aluRI(aluCmp, true, x11, int32(maxCallDepth*stackSize-w))
	a.jcc(ccA, slow)
	a.aluRR(aluAdd, true, x11, xState)
	do(x11, offStack)
	a.jmp(done)
	a.bind(notStack)

	// the value the last lookup returned (tag 0, NULL, never is)
	c.valueAddr(w, slow)
	do(x11, 0)
	a.bind(done)
}

// Where a context field the machine code loads itself lives: in the
// state, the packet's buffer or the environment, its Go size and
// whether it is a signed C type read as a __u32.
const (
	inState = iota
	inBuf
	inEnv
)

type ctxField struct {
	off    int32 // in __sk_buff or netyard_wifi_md
	w      int   // the load's width
	in     int
	disp   int32
	size   int
	signed bool
}

var skbFields, wifiFields []ctxField

func init() {
	var b pkt.Buffer
	bb := uintptr(unsafe.Pointer(&b))
	at := func(p unsafe.Pointer) int32 { return int32(uintptr(p) - bb) }
	r := &b.Radio
	skbFields = []ctxField{
		{skbLen, 4, inState, offPktLen, 4, false},
		{skbIfindex, 4, inEnv, offIfindex, 4, false},
		{skbMark, 4, inBuf, offMark, 4, false},
		{skbPriority, 4, inBuf, offPriority, 4, false},
		{skbTCClassid, 4, inState, offClassid, 4, false},
		{skbTstamp, 8, inBuf, at(unsafe.Pointer(&b.Time)), 8, false},
	}
	wifiFields = []ctxField{
		{wifiLen, 4, inState, offPktLen, 4, false},
		{wifiIfindex, 4, inEnv, offIfindex, 4, false},
		{wifiPresent, 4, inBuf, at(unsafe.Pointer(&r.Present)), 4, false},
		{wifiFlags, 4, inBuf, at(unsafe.Pointer(&r.Flags)), 1, false},
		{wifiSignal, 4, inBuf, at(unsafe.Pointer(&r.Signal)), 1, true},
		{wifiNoise, 4, inBuf, at(unsafe.Pointer(&r.Noise)), 1, true},
		{wifiFreq, 4, inBuf, at(unsafe.Pointer(&r.Freq)), 2, false},
		{wifiChanFlags, 4, inBuf, at(unsafe.Pointer(&r.ChanFlags)), 2, false},
		{wifiAntenna, 4, inBuf, at(unsafe.Pointer(&r.Antenna)), 1, false},
		{wifiMark, 4, inBuf, offMark, 4, false},
		{wifiKeepLen, 4, inBuf, at(unsafe.Pointer(&b.KeepLen)), 4, false},
		{wifiTSFT, 8, inBuf, at(unsafe.Pointer(&r.TSFT)), 8, false},
		{wifiTstamp, 8, inBuf, at(unsafe.Pointer(&b.Time)), 8, false},
	}
	if unsafe.Sizeof(r.Present) != 4 || unsafe.Sizeof(r.Flags) != 1 || unsafe.Sizeof(r.Signal) != 1 ||
		unsafe.Sizeof(r.Freq) != 2 || unsafe.Sizeof(b.Time) != 8 || unsafe.Sizeof(r.TSFT) != 8 {
		panic("ebpf: the JIT's context field sizes do not hold")
	}
}

// split computes the address base+off: its region tag in r10, its
// offset in the region in r11.
func (c *jitc) split(base uint8, off int32) {
	a := &c.a
	a.lea(x11, base, off)
	a.aluRR(aluMov, true, x10, x11)
	a.shiftI(shr, true, x10, 32)
	a.aluRR(aluMov, false, x11, x11)
}

// valueAddr turns r11 into the machine address of the w bytes at offset
// r11 of the value the last lookup returned, when r10 is its tag (never
// 0, NULL's) and they are inside it; otherwise it jumps to slow.
func (c *jitc) valueAddr(w int, slow int) {
	a := &c.a
	a.aluRR(aluTest, true, x10, x10)
	a.jcc(ccE, slow)
	a.cmpRM(x10, xState, offJValTag)
	a.jcc(ccNE, slow)
	a.cmpRM(x11, xState, offJValOff)
	a.jcc(ccB, slow)
	a.lea(x9, x11, int32(w))
	a.cmpRM(x9, xState, offJValEnd)
	a.jcc(ccA, slow)
	a.addRM(x11, xState, offJValBase)
}

// ctxLoad: a w-byte load (4 or 8) from the context at offset r11: data
// and data_end, and the fields of skbFields or wifiFields; anything else
// goes to Go (ctxLoad, wifiLoad).
func (c *jitc) ctxLoad(in *insn, w int, slow, done int) {
	a := &c.a
	d := bx[in.dst]
	data, end, fields := int32(skbData), int32(skbDataEnd), skbFields
	if c.p.wifi {
		data, end, fields = wifiData, wifiDataEnd, wifiFields
	}
	if w == 4 {
		notData, notEnd := a.newLabel(), a.newLabel()
		a.aluRI(aluCmp, false, x11, data)
		a.jcc(ccNE, notData)
		a.movImm(d, tagPkt<<32)
		a.jmp(done)
		a.bind(notData)
		a.aluRI(aluCmp, false, x11, end)
		a.jcc(ccNE, notEnd)
		a.load(4, false, d, xState, offPktLen)
		a.movImm(x9, tagPkt<<32)
		a.aluRR(aluOr, true, d, x9)
		a.jmp(done)
		a.bind(notEnd)
	}
	for _, f := range fields {
		if f.w != w {
			continue
		}
		l := a.newLabel()
		a.aluRI(aluCmp, false, x11, f.off)
		a.jcc(ccNE, l)
		base := xState
		switch f.in {
		case inBuf:
			a.movRM(x9, xState, offBuf)
			base = x9
		case inEnv:
			a.movRM(x9, xState, offEnv)
			base = x9
		}
		if f.signed {
			a.load32sx(f.size, d, base, f.disp)
		} else {
			a.load(f.size, false, d, base, f.disp)
		}
		a.jmp(done)
		a.bind(l)
	}
	a.jmp(slow)
}

// ctxStore: a 4-byte store of a register to the context at offset r11:
// priority, mark, tc_classid and queue_mapping of __sk_buff.
func (c *jitc) ctxStore(in *insn, slow, done int) {
	a := &c.a
	if c.p.wifi {
		a.jmp(slow)
		return
	}
	s := bx[in.src]
	next := func(off int32) int {
		l := a.newLabel()
		a.aluRI(aluCmp, false, x11, off)
		a.jcc(ccNE, l)
		return l
	}
	l := next(skbPriority)
	a.movRM(x9, xState, offBuf)
	a.store(4, s, x9, offPriority)
	a.jmp(done)
	a.bind(l)
	l = next(skbTCClassid)
	a.store(2, s, xState, offClassid) // a u16 (ctxStore); the upper half stays 0
	a.jmp(done)
	a.bind(l)
	l = next(skbMark)
	a.movRM(x9, xState, offBuf)
	a.store(4, s, x9, offMark)
	a.jmp(done)
	a.bind(l)
	l = next(skbQueueMapping)
	// NO_QUEUE_MAPPING (0xffff) and above are ignored (ctxStore)
	a.aluRI(aluCmp, false, s, 0xffff)
	a.jcc(ccAE, done)
	a.movRM(x9, xState, offBuf)
	a.store(2, s, x9, offQM)
	a.storeImm(1, 1, x9, offHasQM)
	a.jmp(done)
	a.bind(l)
	a.jmp(slow)
}

// atomicAdd: lock add / lock xadd on an aligned word of the value the
// last lookup returned (counters); anything else goes to Go.
func (c *jitc) atomicAdd(pc int, in *insn) {
	a := &c.a
	w := 4
	if in.op == atAddDW || in.op == atFAddDW {
		w = 8
	}
	slow := c.stub(pc)
	c.split(bx[in.dst], in.off)
	c.valueAddr(w, slow)
	a.aluRI(aluTest, true, x11, int32(w-1)) // the offset and the address aligned
	a.jcc(ccNE, slow)
	if in.op == atAddW || in.op == atAddDW {
		a.lockAdd(w, bx[in.src], x11, 0)
	} else {
		a.lockXadd(w, bx[in.src], x11, 0)
	}
}

// knownArray: the map_lookup_elem at pc is on a plain array whose
// pointer a 64-bit immediate load put in r1 on the straight path just
// before it (clang's "r1 = map ll; call 1"), so the map is known here.
func (c *jitc) knownArray(pc int, in *insn) (*Map, int, bool) {
	if in.imm != helperMapLookup {
		return nil, 0, false
	}
	for q := pc - 1; q >= 0 && q >= pc-32 && !c.target[q+1]; q-- {
		x := &c.p.code[q]
		switch {
		case x.op == opFiller || x.dst != 1 && x.op != opCallHelper && x.op != opCallLocal && !(x.op >= atAddW && x.op <= atCmpxchgDW && x.src == 1):
			continue
		case x.op == opLdImm64 && x.dst == 1:
			t := uint64(x.imm) >> 32
			if uint32(x.imm) != 0 || t < tagMapPtr || t-tagMapPtr >= uint64(len(c.p.maps)) {
				return nil, 0, false
			}
			mi := int(t - tagMapPtr)
			m := c.p.maps[mi]
			if m.spec.Type != MapArray || m.ring != nil || m.progs != nil {
				return nil, 0, false
			}
			return m, mi, true
		}
		return nil, 0, false
	}
	return nil, 0, false
}

// arrayLookup is map_lookup_elem on the plain array m (the program's map
// mi) with its key on the stack, in machine code, as lookupArray does
// it (anything else is handed to Go): r0 is the element's value or NULL,
// the value becomes the one later accesses reach first, r1..r5 are
// cleared as after every call.
func (c *jitc) arrayLookup(pc int, m *Map, mi int) {
	a := &c.a
	slow := c.stub(pc)
	null, done := a.newLabel(), a.newLabel()
	c.split(bx[2], 0)
	a.aluRI(aluCmp, false, x10, tagStack)
	a.jcc(ccNE, slow)
	a.aluRI(aluCmp, true, x11, maxCallDepth*stackSize-4)
	a.jcc(ccA, slow)
	a.aluRR(aluAdd, true, x11, xState)
	a.load(4, false, x9, x11, offStack)
	a.aluRI(aluCmp, false, x9, int32(m.spec.MaxEntries))
	a.jcc(ccAE, null)
	a.imulRI(true, x9, int32(m.spec.ValueSize))
	tag := uint64(tagMapVal + mi)
	a.movImm(x10, tag)
	a.movMR(xState, offJValTag, x10)
	a.movMR(xState, offJValOff, x9)
	a.lea(x11, x9, int32(m.spec.ValueSize))
	a.movMR(xState, offJValEnd, x11)
	a.movImm(x11, uint64(uintptr(unsafe.Pointer(unsafe.SliceData(m.values)))))
	a.movMR(xState, offJValBase, x11)
	a.storeImm(8, 0, xState, offValTag)
	a.movImm(xAX, tag<<32)
	a.aluRR(aluOr, true, xAX, x9)
	a.jmp(done)
	a.bind(null)
	a.movImm(xAX, 0)
	a.bind(done)
	for _, r := range bx[1:6] {
		a.movImm(r, 0)
	}
}

// runJIT is run for a program with machine code. The machine code
// cannot panic; the Go it hands instructions to (jitStep) has the
// last-resort recover, so a run that takes no exit pays for none.
func (s *state) runJIT(p *Program) (uint64, *bpf.Fault) {
	s.prog, s.jc = p, p.jit
	s.regs[1] = mkptr(tagCtx, 0)
	s.regs[10] = mkptr(tagStack, uint32(stackSize))
	s.depth, s.tail, s.steps = 0, 0, 0
	s.j.budget, s.j.depth = InsnLimit, 0
	s.j.resume = p.jit.addr[0]
	for {
		// s.jc keeps the code mapped while it runs (its cleanup)
		code := jitcall(s.jc.entry, unsafe.Pointer(s))
		switch code {
		case exitDone:
			s.jitDone()
			return s.regs[0], nil
		case exitStep:
			if ret, f, end := s.jitStep(p); end {
				return ret, f
			}
			continue
		}
		s.jitDone()
		pc := int(s.j.exitPC)
		if code == exitDepth {
			return 0, fault(pc, "call depth above 8")
		}
		if code == exitCallLimit {
			return 0, fault(pc, "instruction limit (calls that do not end?)")
		}
		return 0, fault(pc, "instruction limit (a loop that does not end?)")
	}
}

// jitStep runs in Go the instruction at s.j.exitPC that the machine
// code handed back, and sets where the machine code goes on (in the
// target's code after a tail call, or the rest of the run in the
// interpreter when the target has none); end: the run is over. A panic
// would be a netyard bug: it is recovered, counted and a fault, as in
// the interpreter's run.
func (s *state) jitStep(entry *Program) (ret uint64, f *bpf.Fault, end bool) {
	pc := int(s.j.exitPC)
	defer func() {
		if r := recover(); r != nil {
			entry.recovered.Add(1)
			ret, f, end = 0, &bpf.Fault{PC: pc, Reason: "internal error (recovered)"}, true
		}
	}()
	tail := s.tail
	next, ret, end, f := s.step(pc)
	if end {
		s.jitDone()
		return ret, f, true
	}
	if s.tail != tail { // a tail call: frame 0 of the target, even if it is the same program
		s.j.depth = 0
		np := s.prog
		if np.jit == nil || np.wifi != s.wifi {
			s.jitDone()
			ret, f = s.exec(np, &pc)
			return ret, f, true
		}
		s.jc = np.jit
	}
	s.j.resume = s.jc.addr[next]
	return 0, nil, false
}

// jitDone leaves what the interpreter would have counted.
func (s *state) jitDone() {
	s.steps = int(InsnLimit - s.j.budget)
	s.depth = int(s.j.depth)
}
