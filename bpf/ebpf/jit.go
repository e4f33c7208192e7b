package ebpf

import (
	"os"

	"netyard/bpf"
)

// The JIT (jit_linux_amd64.go) compiles a loaded program to machine code
// that keeps the BPF registers in CPU registers and checks every memory
// access against its region, as the interpreter does. What it does not
// compile (helper calls, tail calls, LD_ABS, divisions, atomics other
// than add, context fields other than data, data_end, len and the ones
// tc programs write, accesses to a map value other than the last one
// looked up) it hands back to Go: the machine code stores its registers
// in the run's state and returns, step runs that one instruction with
// the interpreter's own code, and the machine code goes on at the next
// one. So every instruction has exactly the interpreter's semantics, and
// the interpreter stays the reference the JIT is tested against
// (TestJITMatchesInterpreter, FuzzJIT); it is also what runs where there
// is no JIT (other systems and architectures, NETYARD_BPF_JIT=0).

// jitEnabled: NETYARD_BPF_JIT=0 in the environment turns the JIT off
// (to compare, or to rule it out when debugging a program).
var jitEnabled = os.Getenv("NETYARD_BPF_JIT") != "0"

// jitState is the part of a run's state only the machine code uses. Its
// fields are read and written by the machine code at fixed offsets.
type jitState struct {
	resume uintptr // where the machine code goes on when entered
	exitPC int64   // the instruction an exit to Go is about
	budget int64   // InsnLimit less the instructions counted (exec's steps)
	depth  int64   // bpf-to-bpf call depth
	frames [maxCallDepth]jframe

	// The machine code's cache of the value the last lookup or ring
	// reservation returned: state's valTag, valOff, valEnd and valMem,
	// with the value's memory as an address (the machine code must not
	// store Go pointers). setVal sets both caches; the machine code's
	// own array lookup sets this one and empties the interpreter's, so
	// each is always either right or empty. valBase points into a
	// map's values or a ring's data, which the program keeps alive.
	valTag, valOff, valEnd uint64
	valBase                uintptr
}

// jframe is a bpf-to-bpf call's saved state: the machine address to
// return to, r6..r9 and r10. 64 bytes, so that a frame's address is a
// shift of the depth.
type jframe struct {
	ret  uintptr
	regs [5]uint64
	_    [2]uint64
}

// Exits from the machine code.
const (
	exitDone  = 0 // r0 is the result
	exitStep  = 1 // run the instruction at exitPC in Go, go on after it
	exitDepth = 2 // a bpf-to-bpf call at exitPC goes past 8 frames
	exitLimit = 3 // the instruction limit, reached jumping back to exitPC
	// the instruction limit, reached by the call at exitPC (chargeCalls)
	exitCallLimit = 4
)

// step runs the instruction at pc, which the machine code handed back,
// with the interpreter's semantics: the next instruction (in s.prog,
// which a tail call changes), or the end of the run (a result or a
// fault).
func (s *state) step(pc int) (next int, ret uint64, end bool, f *bpf.Fault) {
	in := &s.prog.code[pc]
	r := &s.regs
	d := in.dst & 15
	switch op := in.op; {
	case op == opCallHelper:
		if in.imm == helperTailCall {
			if s.tailCall(r) {
				return 0, 0, false, nil
			}
			return pc + 1, 0, false, nil
		}
		v, f := s.call(int32(in.imm), r, pc)
		if f != nil {
			return 0, 0, true, f
		}
		r[0] = v
		clobber(r)
	case op >= opLdAbsB && op <= opLdIndW:
		if !s.ldAbs(in, r) {
			return 0, 0, true, nil // r0 = 0, as the interpreter
		}
	case op >= opLdxB && op <= opLdxSW:
		w := [...]int{1, 2, 4, 8, 1, 2, 4}[op-opLdxB]
		a := r[in.src&15] + uint64(in.off)
		v, ok := s.load(a, w)
		if !ok {
			return 0, 0, true, s.loadFault(pc, a, w)
		}
		switch op {
		case opLdxSB:
			v = uint64(int64(int8(v)))
		case opLdxSH:
			v = uint64(int64(int16(v)))
		case opLdxSW:
			v = uint64(int64(int32(v)))
		}
		r[d] = v
	case op >= opStB && op <= opStxDW:
		w := [...]int{1, 2, 4, 8}[(op-opStB)%4]
		a := r[d] + uint64(in.off)
		v := uint64(in.imm)
		if op >= opStxB {
			v = r[in.src&15]
		}
		if !s.store(a, w, v) {
			return 0, 0, true, s.storeFault(pc, a, w)
		}
	case op >= atAddW && op <= atCmpxchgDW:
		if f := s.atomic(in, r, pc); f != nil {
			return 0, 0, true, f
		}
	default:
		if !aluSlow(in, r) {
			return 0, 0, true, fault(pc, "invalid instruction")
		}
	}
	return pc + 1, 0, false, nil
}

// aluSlow is the ALU operations the JIT leaves to Go: divisions and
// remainders, as exec does them.
func aluSlow(in *insn, r *[16]uint64) bool {
	d, sr := in.dst&15, in.src&15
	switch in.op {
	case a64DivK:
		r[d] /= uint64(in.imm)
	case a64DivX:
		if r[sr] == 0 {
			r[d] = 0
		} else {
			r[d] /= r[sr]
		}
	case a64SDivK:
		r[d] = sdiv64(r[d], uint64(in.imm))
	case a64SDivX:
		r[d] = sdiv64(r[d], r[sr])
	case a64ModK:
		r[d] %= uint64(in.imm)
	case a64ModX:
		if r[sr] != 0 {
			r[d] %= r[sr]
		}
	case a64SModK:
		r[d] = smod64(r[d], uint64(in.imm))
	case a64SModX:
		r[d] = smod64(r[d], r[sr])
	case a32DivK:
		r[d] = uint64(uint32(r[d]) / uint32(in.imm))
	case a32DivX:
		if uint32(r[sr]) == 0 {
			r[d] = 0
		} else {
			r[d] = uint64(uint32(r[d]) / uint32(r[sr]))
		}
	case a32SDivK:
		r[d] = sdiv32(r[d], uint64(in.imm))
	case a32SDivX:
		r[d] = sdiv32(r[d], r[sr])
	case a32ModK:
		r[d] = uint64(uint32(r[d]) % uint32(in.imm))
	case a32ModX:
		if uint32(r[sr]) != 0 {
			r[d] = uint64(uint32(r[d]) % uint32(r[sr]))
		} else {
			r[d] = uint64(uint32(r[d]))
		}
	case a32SModK:
		r[d] = smod32(r[d], uint64(in.imm))
	case a32SModX:
		r[d] = smod32(r[d], r[sr])
	default:
		return false
	}
	return true
}
