package ebpf

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"netyard/bpf"
)

// The compiled form. At load time every decoded instruction becomes a Go
// closure with its operands, immediates, jump targets, helper and map
// bound, and each closure calls the one that runs after it (its next
// instruction, or a branch's target) instead of going back to a dispatch
// loop: every instruction ends in its own indirect call, which the CPU
// predicts per call site, where the interpreter's single switch jump
// (exec) has one site for every instruction. A chain ends, returning a pc
// to the driver loop (execCompiled), at a backward jump (so that loops
// are counted against InsnLimit and the Go stack stays bounded), at a
// bpf-to-bpf call's return, after maxChain nested calls, and at exit,
// fault and tail call.
//
// The memory accesses are the interpreter's, case for case (the ALU,
// load and store closures in compile_ops.go are written from exec's cases),
// with a few specialisations whose guard proves what they assume at run
// time, so that they need no load-time type tracking:
//   - a 4-byte context load of data or data_end and a 4-byte context store
//     to mark, priority, queue_mapping or tc_classid test that the address
//     is exactly that field of the context (one compare of the tagged
//     pointer) and fall back to the general access otherwise;
//   - map_lookup_elem whose r1 is set by the lddw just before it (clang's
//     "r1 = map ll; call 1") is bound to that map and, for arrays, indexes
//     the values without the map's generic lookup;
//   - an atomic add to the map value the last lookup returned adds to it
//     directly.
//
// exec, the interpreter, stays the reference: TestCompiledMatchesInterpreter
// and FuzzCompiled run both forms on the same programs and packets and
// compare return values, faults, registers, packets, context and maps.

// cfn is one compiled instruction: it runs and calls what follows it, and
// the chain returns the pc at which the driver goes on, or one of the
// c* codes below.
type cfn func(s *state) int

const (
	cExit  = -1 // the program ended: r0 is the result
	cFault = -2 // stopped: s.fault says why
	cZero  = -3 // LD_ABS/LD_IND outside the packet: the program ends with 0
	cTail  = -4 // a tail call replaced s.prog: start it at 0
)

// maxChain bounds the closures one chain calls nested, so the Go stack a
// run needs (a few dozen bytes a closure) is bounded whatever the program.
var maxChain = 24

// compile builds the compiled form of code: one closure per instruction,
// the driver may start at any pc.
func compile(code []insn) []cfn {
	n := len(code)
	fns := make([]cfn, n)
	depth := make([]int, n) // the longest chain of nested calls from pc
	target := make([]bool, n+1)
	for pc := range code {
		if in := &code[pc]; isJump(in.op) || in.op == opCallLocal {
			target[pc+1+int(in.off)] = true
		}
	}
	invalid := func(pc int) cfn {
		return func(s *state) int {
			s.fault = fault(pc, "invalid instruction")
			return cFault
		}
	}
	// to is the closure that takes control from pc to t, and its depth:
	// the target's own closure for a forward edge, a return to the driver
	// for a backward one, a long chain or a pc out of the program (only
	// in code that never runs: decode checked every target).
	to := func(pc, t int) (cfn, int) {
		switch {
		case t < 0 || t >= n:
			return invalid(pc), 1
		case t > pc && depth[t] < maxChain:
			return fns[t], depth[t] + 1
		}
		return func(*state) int { return t }, 1
	}
	// back is a taken jump from pc to t: backward jumps count the
	// instructions of the loop's body against InsnLimit, as exec does.
	back := func(pc, t int, off int32) (cfn, int) {
		if t > pc {
			return to(pc, t)
		}
		dist := int(-off)
		return func(s *state) int { return s.loop(t, dist) }, 1
	}
	for pc := n - 1; pc >= 0; pc-- {
		in := &code[pc]
		var f cfn
		dep := 1
		switch {
		case in.op == jA:
			f, dep = back(pc, pc+1+int(in.off), in.off)
		case isCond(in.op) && in.off < 0:
			fall, df := to(pc, pc+1)
			f, dep = compileCondBack(in, pc+1+int(in.off), int(-in.off), fall), 1+df
		case isCond(in.op):
			taken, dt := to(pc, pc+1+int(in.off))
			fall, df := to(pc, pc+1)
			f, dep = compileCond(in, taken, fall), 1+max(dt, df)
		case in.op == opMovAddKJgt:
			taken, dt := back(pc, pc+3+int(in.off), in.off)
			fall, df := to(pc, pc+3)
			f, dep = movAddJgt(in, taken, fall), 1+max(dt, df)
		case in.op == opExit:
			f = func(s *state) int {
				if s.depth == 0 {
					return cExit
				}
				return s.popFrame(&s.regs)
			}
		case in.op == opCallLocal:
			callee, dc := to(pc, pc+1+int(in.off))
			ret := pc + 1
			f = func(s *state) int {
				if !s.pushFrame(ret, &s.regs) {
					s.fault = fault(ret-1, "call depth above 8")
					return cFault
				}
				return callee(s)
			}
			dep = 1 + dc
		case in.op == opFiller || in.op == opInvalid || in.op >= numOps:
			f = invalid(pc)
		default:
			w := 1
			if in.op == opLdImm64 || in.op == opMovAddK {
				w = 2
			}
			next, dn := to(pc, pc+w)
			dep = 1 + dn
			f = compileStraightOrCall(code, target, pc, next)
		}
		fns[pc], depth[pc] = f, dep
	}
	return fns
}

// compileStraightOrCall compiles an instruction that goes on at next.
func compileStraightOrCall(code []insn, target []bool, pc int, next cfn) cfn {
	in := &code[pc]
	d, sr := in.dst&15, in.src&15
	off, imm := in.off, in.imm
	switch op := in.op; {
	case op == opLdImm64:
		return func(s *state) int {
			s.regs[d] = uint64(imm)
			return next(s)
		}
	case op == opMovAddK:
		return func(s *state) int {
			s.regs[d] = s.regs[sr] + uint64(imm)
			return next(s)
		}
	case op >= opLdAbsB && op <= opLdIndW:
		return func(s *state) int {
			if !s.ldAbs(in, &s.regs) {
				return cZero
			}
			return next(s)
		}
	case op >= atAddW && op <= atCmpxchgDW:
		return compileAtomic(in, pc, next)
	case op == opCallHelper:
		return compileCall(code, target, pc, next)
	}
	gen := compileStraight(in, pc, next)
	if gen == nil {
		return func(s *state) int {
			s.fault = fault(pc, "invalid instruction")
			return cFault
		}
	}
	// context fields at a constant offset from a register that holds the
	// context pointer itself (clang's r6 = r1 ... *(u32 *)(r6 + 80))
	want := mkptr(tagCtx, uint32(off))
	switch {
	case in.op == opLdxW && (off == skbData || off == skbDataMeta):
		return func(s *state) int {
			if s.regs[sr]+uint64(off) == want {
				s.regs[d] = mkptr(tagPkt, 0)
				return next(s)
			}
			return gen(s)
		}
	case in.op == opLdxW && off == skbDataEnd:
		return func(s *state) int {
			if s.regs[sr]+uint64(off) == want {
				s.regs[d] = mkptr(tagPkt, uint32(len(s.pkt)))
				return next(s)
			}
			return gen(s)
		}
	case in.op == opStxW && (off == skbMark || off == skbPriority || off == skbTCClassid || off == skbQueueMapping):
		return func(s *state) int {
			if s.regs[d]+uint64(off) != want {
				return gen(s)
			}
			v := uint32(s.regs[sr])
			switch off {
			case skbMark:
				s.buf.Mark = v
			case skbPriority:
				s.buf.Priority = v
			case skbTCClassid:
				s.skb.classid = v
			default:
				// NO_QUEUE_MAPPING (0xffff) and above are ignored, as in
				// ctxStore
				if v < 0xffff {
					s.buf.QueueMapping = uint16(v)
					s.buf.HasQueueMapping = true
				}
			}
			return next(s)
		}
	}
	return gen
}

// loop is a taken backward jump to t over a loop body of dist
// instructions: exec's instruction count.
func (s *state) loop(t, dist int) int {
	s.steps += dist
	if s.steps > InsnLimit {
		s.fault = fault(t, "instruction limit (a loop that does not end?)")
		return cFault
	}
	return t
}

func movAddJgt(in *insn, taken, fall cfn) cfn {
	d, sr, s2 := in.dst&15, in.src&15, in.src2&15
	imm := uint64(in.imm)
	return func(s *state) int {
		r := &s.regs
		r[d] = r[sr] + imm
		if r[d] > r[s2] {
			return taken(s)
		}
		return fall(s)
	}
}

// compileAtomic: the atomic add clang emits for counters
// (__sync_fetch_and_add without using the result) on the value the last
// map lookup returned is done in place; everything else, and anything
// that is not plainly in that value and aligned, takes exec's path.
func compileAtomic(in *insn, pc int, next cfn) cfn {
	gen := func(s *state) int {
		if f := s.atomic(in, &s.regs, pc); f != nil {
			s.fault = f
			return cFault
		}
		return next(s)
	}
	d, sr := in.dst&15, in.src&15
	off := uint64(in.off)
	switch in.op {
	case atAddDW:
		return func(s *state) int {
			a := s.regs[d] + off
			o := uint64(uint32(a))
			if a>>32 != s.valTag || s.valTag == 0 || o < s.valOff || o+8 > s.valEnd || o&7 != 0 {
				return gen(s)
			}
			p := unsafe.Pointer(&s.valMem[o])
			if uintptr(p)&7 != 0 {
				return gen(s)
			}
			atomic.AddUint64((*uint64)(p), s.regs[sr])
			return next(s)
		}
	case atAddW:
		return func(s *state) int {
			a := s.regs[d] + off
			o := uint64(uint32(a))
			if a>>32 != s.valTag || s.valTag == 0 || o < s.valOff || o+4 > s.valEnd || o&3 != 0 {
				return gen(s)
			}
			p := unsafe.Pointer(&s.valMem[o])
			if uintptr(p)&3 != 0 {
				return gen(s)
			}
			atomic.AddUint32((*uint32)(p), uint32(s.regs[sr]))
			return next(s)
		}
	}
	return gen
}

// compileCall binds a helper call. tail_call ends the chain when it
// succeeds; map_lookup_elem right after "r1 = map ll" (and not a jump
// target, so r1 is that map on every path) is bound to the map.
func compileCall(code []insn, target []bool, pc int, next cfn) cfn {
	id := int32(code[pc].imm)
	if id == helperTailCall {
		return func(s *state) int {
			if s.tailCall(&s.regs) {
				return cTail
			}
			return next(s)
		}
	}
	gen := func(s *state) int {
		r := &s.regs
		v, f := s.call(id, r, pc)
		if f != nil {
			s.fault = f
			return cFault
		}
		r[0] = v
		clobber(r)
		return next(s)
	}
	if id != helperMapLookup || pc < 2 || target[pc] || target[pc-1] {
		return gen
	}
	ld := &code[pc-2]
	mref := uint64(ld.imm)
	if ld.op != opLdImm64 || ld.dst != 1 || uint32(mref) != 0 || mref>>32 < tagMapPtr || mref>>32 >= tagMapPtr+maxMaps {
		return gen
	}
	mi := int(mref>>32 - tagMapPtr)
	return func(s *state) int {
		if mi >= len(s.prog.maps) {
			return gen(s)
		}
		m := s.prog.maps[mi]
		ks := uint64(m.spec.KeySize)
		if m.ring != nil || m.progs != nil {
			return gen(s) // the same fault
		}
		r := &s.regs
		var key []byte
		a := r[2]
		if o := uint64(uint32(a)); a>>32 == tagStack && o+ks <= uint64(len(s.stack)) {
			key = s.stack[o : o+ks : o+ks]
		} else if key = s.mem(a, int(ks)); key == nil {
			s.fault = fault(pc, "map key outside the program's memory")
			return cFault
		}
		switch m.spec.Type {
		case MapArray, MapPercpuArray:
			i := binary.LittleEndian.Uint32(key)
			if i >= m.spec.MaxEntries {
				r[0] = 0
			} else {
				r[0] = s.found(m, mi, int(i))
			}
		default:
			r[0] = s.found(m, mi, m.lookup(key))
		}
		clobber(r)
		return next(s)
	}
}

// execCompiled runs p's compiled form from pc 0; *pcp is the pc the
// current chain started at (what a recovered panic names).
func (s *state) execCompiled(p *Program, pcp *int) (uint64, *bpf.Fault) {
	s.prog = p
	r := &s.regs
	r[1] = mkptr(tagCtx, 0)
	r[10] = mkptr(tagStack, uint32(stackSize))
	s.depth, s.tail, s.steps = 0, 0, 0
	tab := p.fns
	pc := 0
	for {
		*pcp = pc
		pc = tab[pc](s)
		if pc >= 0 {
			continue
		}
		switch pc {
		case cExit:
			return r[0], nil
		case cZero:
			return 0, nil
		case cTail:
			tab, pc = s.prog.fns, 0
		default:
			f := s.fault
			s.fault = nil
			return 0, f
		}
	}
}
