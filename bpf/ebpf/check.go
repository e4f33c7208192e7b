package ebpf

import (
	"fmt"
	"math/bits"
)

// RawInsn is one 8-byte eBPF instruction as the kernel takes it. A 64-bit
// immediate load takes two; map references use the kernel's encoding with
// the map's index in the program's map list as the "fd" (Src 1:
// BPF_PSEUDO_MAP_FD; Src 2: BPF_PSEUDO_MAP_VALUE, the value offset in the
// second slot's Imm).
type RawInsn struct {
	Op       uint8
	Dst, Src uint8
	Off      int16
	Imm      int32
}

// insn is a decoded instruction: operands checked, the operation one dense
// value, jump offsets and immediates ready to use.
type insn struct {
	op       op
	dst, src uint8
	src2     uint8 // a superinstruction's third register
	off      int32 // memory offset, or jump offset from the next insn
	imm      int64 // immediate (sign-extended), the whole 64-bit value of a lddw
}

// LoadError is a load-time rejection, naming the instruction.
type LoadError struct {
	Prog   string
	PC     int
	Reason string
}

func (e *LoadError) Error() string {
	if e.PC < 0 {
		return fmt.Sprintf("ebpf: %s: %s", e.Prog, e.Reason)
	}
	return fmt.Sprintf("ebpf: %s: insn %d: %s", e.Prog, e.PC, e.Reason)
}

const (
	stackSize    = 512     // MAX_BPF_STACK, per frame here (see docs/BPF.md (its extended part))
	maxCallDepth = 8       // MAX_CALL_FRAMES
	maxInsns     = 1 << 20 // BPF_COMPLEXITY_LIMIT_INSNS as a program length bound
)

// decode checks raw and decodes it: the structural checks of the kernel's
// verifier (check_subprogs, check_cfg, the opcode checks of do_check)
// without its value tracking, which netyard replaces with run-time bounds
// checks on every access.
func decode(name string, raw []RawInsn, nmaps int, mapValueOK func(m int, off uint32) bool) ([]insn, []int, error) {
	n := len(raw)
	fail := func(pc int, f string, a ...any) error {
		return &LoadError{Prog: name, PC: pc, Reason: fmt.Sprintf(f, a...)}
	}
	if n == 0 {
		return nil, nil, fail(-1, "no instructions")
	}
	if n > maxInsns {
		return nil, nil, fail(-1, "%d instructions, more than %d", n, maxInsns)
	}
	code := make([]insn, n)
	entries := []int{0}
	for pc := 0; pc < n; pc++ {
		r := raw[pc]
		in := insn{dst: r.Dst, src: r.Src, off: int32(r.Off), imm: int64(r.Imm)}
		if r.Dst > 10 || r.Src > 10 {
			return nil, nil, fail(pc, "invalid register (dst r%d, src r%d)", r.Dst, r.Src)
		}
		cls := r.Op & 7
		switch cls {
		case clsALU, clsALU64:
			o := r.Op >> 4
			x := r.Op&srcX != 0
			if o == 0xd { // END / BSWAP
				if r.Imm != 16 && r.Imm != 32 && r.Imm != 64 {
					return nil, nil, fail(pc, "byte swap of %d bits", r.Imm)
				}
				k := map[int32]int{16: 0, 32: 1, 64: 2}[r.Imm]
				switch {
				case cls == clsALU64 && !x:
					in.op = a64Bswap16 + op(k)
				case cls == clsALU64:
					return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
				case x:
					in.op = a32Be16 + op(k)
				default:
					in.op = a32Le16 + op(k)
				}
				break
			}
			base := alu64[o]
			if cls == clsALU {
				base = alu32[o]
			}
			if base == opInvalid || (o == 0x8 && x) {
				return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
			}
			in.op = base
			if x && o != 0x8 {
				in.op++
			}
			switch o {
			case 0x3, 0x9: // div, mod: off 1 is the signed form (cpu v4)
				if r.Off != 0 && r.Off != 1 {
					return nil, nil, fail(pc, "invalid offset %d for div/mod", r.Off)
				}
				if r.Off == 1 {
					in.op += 2 // a64DivK -> a64SDivK, a64ModK -> a64SModK
				}
				if !x && r.Imm == 0 {
					return nil, nil, fail(pc, "division by zero")
				}
			case 0xb: // mov, movsx (cpu v4)
				switch {
				case r.Off == 0:
				case x && (r.Off == 8 || r.Off == 16 || (r.Off == 32 && cls == clsALU64)):
					if cls == clsALU64 {
						in.op = map[int16]op{8: a64Movsx8, 16: a64Movsx16, 32: a64Movsx32}[r.Off]
					} else {
						in.op = map[int16]op{8: a32Movsx8, 16: a32Movsx16}[r.Off]
					}
				default:
					return nil, nil, fail(pc, "invalid offset %d for mov", r.Off)
				}
			case 0x6, 0x7, 0xc: // shifts
				w := int64(64)
				if cls == clsALU {
					w = 32
				}
				if !x && (r.Imm < 0 || int64(r.Imm) >= w) {
					return nil, nil, fail(pc, "invalid shift %d", r.Imm)
				}
				if r.Off != 0 {
					return nil, nil, fail(pc, "reserved offset %d", r.Off)
				}
			default:
				if r.Off != 0 {
					return nil, nil, fail(pc, "reserved offset %d", r.Off)
				}
			}
			if r.Dst == 10 {
				return nil, nil, fail(pc, "frame pointer r10 is read only")
			}
			if !x && r.Src != 0 {
				return nil, nil, fail(pc, "reserved source register r%d", r.Src)
			}
		case clsJMP, clsJMP32:
			o := r.Op >> 4
			x := r.Op&srcX != 0
			switch {
			case o == 0x0: // ja
				if x || r.Src != 0 || r.Dst != 0 {
					return nil, nil, fail(pc, "invalid ja")
				}
				in.op = jA
				if cls == clsJMP32 { // gotol: the offset is in imm
					in.off = r.Imm
				} else if r.Imm != 0 {
					return nil, nil, fail(pc, "reserved immediate in ja")
				}
			case o == 0x8 && cls == clsJMP: // call
				switch {
				case r.Src == 0 && !x:
					if helperByID(r.Imm) == nil {
						return nil, nil, fail(pc, "unknown helper %d%s", r.Imm, helperName(r.Imm))
					}
					in.op = opCallHelper
				case r.Src == pseudoCall && !x:
					in.op = opCallLocal
					in.off = r.Imm
					t := pc + 1 + int(r.Imm)
					if t < 0 || t >= n {
						return nil, nil, fail(pc, "call to insn %d, outside the program", t)
					}
					entries = append(entries, t)
				default:
					return nil, nil, fail(pc, "unsupported call (src %d): kfuncs are not supported", r.Src)
				}
				if r.Dst != 0 || r.Off != 0 {
					return nil, nil, fail(pc, "reserved fields in call")
				}
				in.src = 0
			case o == 0x9 && cls == clsJMP: // exit
				if r.Op != 0x95 || r.Dst != 0 || r.Src != 0 || r.Off != 0 || r.Imm != 0 {
					return nil, nil, fail(pc, "invalid exit")
				}
				in.op = opExit
			default:
				base := jmp64[o]
				if cls == clsJMP32 {
					base = jmp32[o]
				}
				if base == opInvalid {
					return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
				}
				in.op = base
				if x {
					in.op++
				} else if r.Src != 0 {
					return nil, nil, fail(pc, "reserved source register r%d", r.Src)
				}
			}
		case clsLD:
			switch {
			case r.Op == 0x18: // lddw
				if pc+1 >= n {
					return nil, nil, fail(pc, "64-bit immediate load in the last slot")
				}
				r2 := raw[pc+1]
				if r2.Op != 0 || r2.Dst != 0 || r2.Src != 0 || r2.Off != 0 {
					return nil, nil, fail(pc+1, "invalid second half of a 64-bit immediate load")
				}
				if r.Dst == 10 {
					return nil, nil, fail(pc, "frame pointer r10 is read only")
				}
				in.op = opLdImm64
				switch r.Src {
				case 0:
					in.imm = int64(uint64(uint32(r.Imm)) | uint64(uint32(r2.Imm))<<32)
				case pseudoMapFD:
					if r.Imm < 0 || int(r.Imm) >= nmaps || r2.Imm != 0 {
						return nil, nil, fail(pc, "map reference %d: no such map", r.Imm)
					}
					in.imm = int64(mkptr(tagMapPtr+uint64(r.Imm), 0))
				case pseudoMapValue:
					if r.Imm < 0 || int(r.Imm) >= nmaps || !mapValueOK(int(r.Imm), uint32(r2.Imm)) {
						return nil, nil, fail(pc, "direct value reference to map %d offset %d: not an array map or out of range", r.Imm, r2.Imm)
					}
					in.imm = int64(mkptr(tagMapVal+uint64(r.Imm), uint32(r2.Imm)))
				default:
					return nil, nil, fail(pc, "unsupported 64-bit load source %d (BTF ids, function pointers)", r.Src)
				}
				in.src = 0
				code[pc] = in
				pc++
				code[pc] = insn{op: opFiller}
				continue
			case r.Op&0xe0 == modeABS || r.Op&0xe0 == modeIND:
				sz := r.Op & 0x18
				if sz == sizeDW {
					return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
				}
				k := map[uint8]op{sizeB: 0, sizeH: 1, sizeW: 2}[sz]
				if r.Op&0xe0 == modeABS {
					in.op = opLdAbsB + k
					if r.Src != 0 {
						return nil, nil, fail(pc, "reserved source register")
					}
				} else {
					in.op = opLdIndB + k
				}
				if r.Dst != 0 || r.Off != 0 {
					return nil, nil, fail(pc, "reserved fields in packet load")
				}
			default:
				return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
			}
		case clsLDX:
			sz := r.Op & 0x18
			switch r.Op & 0xe0 {
			case modeMEM:
				in.op = map[uint8]op{sizeB: opLdxB, sizeH: opLdxH, sizeW: opLdxW, sizeDW: opLdxDW}[sz]
			case modeMEMSX:
				if sz == sizeDW {
					return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
				}
				in.op = map[uint8]op{sizeB: opLdxSB, sizeH: opLdxSH, sizeW: opLdxSW}[sz]
			default:
				return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
			}
			if r.Dst == 10 {
				return nil, nil, fail(pc, "frame pointer r10 is read only")
			}
			if r.Imm != 0 {
				return nil, nil, fail(pc, "reserved immediate")
			}
			if r.Src == 10 {
				if err := stackCheck(pc, r.Off, sz, fail); err != nil {
					return nil, nil, err
				}
				if r.Op&0xe0 == modeMEM {
					in.op = opLdxFpB + (in.op - opLdxB)
				}
			}
		case clsST, clsSTX:
			sz := r.Op & 0x18
			switch r.Op & 0xe0 {
			case modeMEM:
				if cls == clsST {
					in.op = map[uint8]op{sizeB: opStB, sizeH: opStH, sizeW: opStW, sizeDW: opStDW}[sz]
					if r.Src != 0 {
						return nil, nil, fail(pc, "reserved source register")
					}
				} else {
					in.op = map[uint8]op{sizeB: opStxB, sizeH: opStxH, sizeW: opStxW, sizeDW: opStxDW}[sz]
					if r.Imm != 0 {
						return nil, nil, fail(pc, "reserved immediate")
					}
				}
			case modeATOMIC:
				if cls != clsSTX || (sz != sizeW && sz != sizeDW) {
					return nil, nil, fail(pc, "invalid atomic opcode %#02x", r.Op)
				}
				var a op
				switch r.Imm {
				case 0x00:
					a = atAddW
				case 0x40:
					a = atOrW
				case 0x50:
					a = atAndW
				case 0xa0:
					a = atXorW
				case 0x01:
					a = atFAddW
				case 0x41:
					a = atFOrW
				case 0x51:
					a = atFAndW
				case 0xa1:
					a = atFXorW
				case 0xe1:
					a = atXchgW
				case 0xf1:
					a = atCmpxchgW
				default:
					return nil, nil, fail(pc, "unsupported atomic operation %#x", r.Imm)
				}
				if sz == sizeDW {
					a++
				}
				if r.Imm&1 != 0 && r.Imm != 0xf1 && r.Src == 10 {
					// the fetch writes the old value to src (check_atomic
					// checks it as a destination)
					return nil, nil, fail(pc, "frame pointer r10 is read only")
				}
				in.op = a
			default:
				return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
			}
			if r.Dst == 10 {
				if err := stackCheck(pc, r.Off, sz, fail); err != nil {
					return nil, nil, err
				}
				switch {
				case in.op >= opStB && in.op <= opStDW:
					in.op = opStFpB + (in.op - opStB)
				case in.op >= opStxB && in.op <= opStxDW:
					in.op = opStxFpB + (in.op - opStxB)
				}
			}
		}
		if in.op == opInvalid {
			return nil, nil, fail(pc, "invalid opcode %#02x", r.Op)
		}
		code[pc] = in
	}
	// jump targets
	for pc := range code {
		in := &code[pc]
		if isJump(in.op) || in.op == opCallLocal {
			t := pc + 1 + int(in.off)
			if t < 0 || t >= n {
				return nil, nil, fail(pc, "jump to insn %d, outside the program (0..%d)", t, n-1)
			}
			if code[t].op == opFiller {
				return nil, nil, fail(pc, "jump into the middle of a 64-bit immediate load (insn %d)", t)
			}
		}
	}
	last := code[n-1].op
	if last != opExit && last != jA {
		return nil, nil, fail(n-1, "last instruction is not an exit or a jump")
	}
	entries = sortUnique(entries)
	if err := checkFuncs(name, code, entries); err != nil {
		return nil, nil, err
	}
	if err := checkInit(name, raw, code, entries); err != nil {
		return nil, nil, err
	}
	fuse(code)
	chargeCalls(code, entries)
	return code, entries, nil
}

// chargeCalls sets each bpf-to-bpf call's imm to the length of the
// function it calls: a call is charged that many instructions against
// the run's InsnLimit (exec's pushFrame, the JIT's callLocal). A function
// runs at most its length before it returns, calls again or jumps back
// (the other charged events), so with calls charged a run executes at
// most InsnLimit instructions plus the main function's length: a tree
// of calls without a loop (main calls f0 24 times, f0 calls f1 24 times,
// ... 24^6 calls in 154 instructions) is stopped like a loop. The
// kernel's verifier refuses such programs by its complexity limit.
func chargeCalls(code []insn, entries []int) {
	for pc := range code {
		in := &code[pc]
		if in.op != opCallLocal {
			continue
		}
		t := pc + 1 + int(in.off)
		end := len(code)
		for _, e := range entries {
			if e > t {
				end = e
				break
			}
		}
		in.imm = int64(end - t)
	}
}

// fuse rewrites clang's pointer bounds check "rX = rY; rX += K; if rX >
// rZ goto L" (and "rX = rY; rX += K" alone) into one instruction at the
// first slot that does the work of all and skips the others. The others
// stay in place, so nothing that jumps to them changes; a sequence whose
// later parts are jump targets is not fused.
func fuse(code []insn) {
	target := make([]bool, len(code)+1)
	for pc := range code {
		if in := &code[pc]; isJump(in.op) || in.op == opCallLocal {
			target[pc+1+int(in.off)] = true
		}
	}
	for pc := 0; pc+1 < len(code); pc++ {
		a, b := &code[pc], &code[pc+1]
		if a.op != a64MovX || b.op != a64AddK || b.dst != a.dst || a.dst == a.src || target[pc+1] {
			continue
		}
		fused := insn{op: opMovAddK, dst: a.dst, src: a.src, imm: b.imm}
		if pc+2 < len(code) && !target[pc+2] {
			if c := &code[pc+2]; c.op == jGtX && c.dst == a.dst {
				// the jump's offset is from the fused slot's next insn
				fused = insn{op: opMovAddKJgt, dst: a.dst, src: a.src, src2: c.src, imm: b.imm, off: c.off}
			}
		}
		*a = fused
	}
}

func stackCheck(pc int, off int16, sz uint8, fail func(int, string, ...any) error) error {
	w := map[uint8]int{sizeB: 1, sizeH: 2, sizeW: 4, sizeDW: 8}[sz]
	if int(off) < -stackSize || int(off)+w > 0 {
		return fail(pc, "stack access at r10%+d of %d bytes, outside the 512-byte frame", off, w)
	}
	return nil
}

func sortUnique(a []int) []int {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
	out := a[:0]
	for i, v := range a {
		if i == 0 || v != a[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// checkFuncs checks that jumps stay inside their function (check_subprogs)
// and that every function ends in an exit or a jump.
func checkFuncs(name string, code []insn, entries []int) error {
	for f, start := range entries {
		end := len(code)
		if f+1 < len(entries) {
			end = entries[f+1]
		}
		for pc := start; pc < end; pc++ {
			in := &code[pc]
			if f > 0 && in.op == opCallHelper && in.imm == helperTailCall {
				// The kernel's interpreter refuses this too; its JIT keeps the
				// subprogram's frame, which netyard's tail call (a jump to the
				// new program's frame 0) does not.
				return &LoadError{Prog: name, PC: pc, Reason: "tail call from a bpf-to-bpf function (only the main program may tail-call)"}
			}
			if isJump(in.op) {
				t := pc + 1 + int(in.off)
				if t < start || t >= end {
					return &LoadError{Prog: name, PC: pc, Reason: fmt.Sprintf("jump to insn %d, out of its function (%d..%d)", t, start, end-1)}
				}
			}
		}
		if l := code[end-1].op; l != opExit && l != jA {
			return &LoadError{Prog: name, PC: end - 1, Reason: "function does not end in an exit or a jump"}
		}
	}
	return nil
}

// rawUsesDefs gives the registers an instruction reads and writes, as
// bit masks (bit i = ri); calls are handled by checkInit.
func rawUsesDefs(r RawInsn) (use, def uint16) {
	d, s := uint16(1)<<r.Dst, uint16(1)<<r.Src
	x := r.Op&srcX != 0
	switch r.Op & 7 {
	case clsALU, clsALU64:
		switch r.Op >> 4 {
		case 0x8, 0xd: // neg, end
			return d, d
		case 0xb: // mov
			if x {
				return s, d
			}
			return 0, d
		}
		if x {
			return d | s, d
		}
		return d, d
	case clsJMP, clsJMP32:
		switch r.Op >> 4 {
		case 0x0, 0x8:
			return 0, 0
		case 0x9:
			return 1, 0
		}
		if x {
			return d | s, 0
		}
		return d, 0
	case clsLD:
		switch r.Op & 0xe0 {
		case modeABS:
			return 1 << 6, 1
		case modeIND:
			return 1<<6 | s, 1
		}
		return 0, d
	case clsLDX:
		return s, d
	case clsST:
		return d, 0
	case clsSTX:
		if r.Op&0xe0 == modeATOMIC {
			switch {
			case r.Imm == 0xf1:
				return d | s | 1, 1
			case r.Imm&1 != 0:
				return d | s, s
			}
		}
		return d | s, 0
	}
	return 0, 0
}

// checkInit rejects a read of a register that is not written on every
// path to it (the verifier's "R%d !read_ok"): a forward must-analysis
// over the control flow graph.
func checkInit(name string, raw []RawInsn, code []insn, entries []int) error {
	n := len(code)
	const all = uint16(0x7ff)
	in := make([]uint16, n)
	seen := make([]bool, n)
	for i := range in {
		in[i] = all
	}
	work := make([]int, 0, n)
	push := func(pc int, st uint16) {
		if !seen[pc] || st&in[pc] != in[pc] {
			if seen[pc] {
				st &= in[pc]
			}
			in[pc] = st
			seen[pc] = true
			work = append(work, pc)
		}
	}
	for i, e := range entries {
		st := uint16(1<<1 | 1<<10)
		if i > 0 {
			st = 0x3e | 1<<10
		}
		push(e, st)
	}
	for len(work) > 0 {
		pc := work[len(work)-1]
		work = work[:len(work)-1]
		ins := &code[pc]
		st := in[pc]
		switch ins.op {
		case opCallHelper:
			h := helperByID(int32(ins.imm))
			use := uint16(0)
			for a := 1; a <= h.nargs; a++ {
				use |= 1 << a
			}
			if miss := use &^ st; miss != 0 {
				return &LoadError{Prog: name, PC: pc, Reason: fmt.Sprintf("helper %s reads r%d, which is not set on every path here", h.name, bits.TrailingZeros16(miss))}
			}
			push(pc+1, (st&^0x3e)|1)
			continue
		case opCallLocal:
			push(pc+1, (st&^0x3e)|1)
			continue
		case opFiller:
			continue
		}
		use, def := rawUsesDefs(raw[pc])
		if miss := use &^ st; miss != 0 {
			return &LoadError{Prog: name, PC: pc, Reason: fmt.Sprintf("reads r%d, which is not set on every path here", bits.TrailingZeros16(miss))}
		}
		if ins.op >= opLdAbsB && ins.op <= opLdIndW {
			st &^= 0x3e
		}
		st |= def
		switch {
		case ins.op == opExit:
		case ins.op == jA:
			push(pc+1+int(ins.off), st)
		case isCond(ins.op):
			push(pc+1+int(ins.off), st)
			push(pc+1, st)
		case ins.op == opLdImm64:
			push(pc+2, st)
		default:
			if pc+1 < n {
				push(pc+1, st)
			}
		}
	}
	return nil
}
