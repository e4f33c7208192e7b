package cbpf

import (
	"fmt"

	"netyard/bpf"
)

// CheckError is a program the kernel's bpf_check_classic would refuse
// (with EINVAL): the instruction and why.
type CheckError struct {
	Index  int // the instruction, from 0; -1 for the program as a whole
	Insn   Insn
	Reason string
}

func (e *CheckError) Error() string {
	if e.Index < 0 {
		return "cbpf: " + e.Reason
	}
	return fmt.Sprintf("cbpf: insn %d (%s): %s", e.Index, e.Insn, e.Reason)
}

// allowed is chk_code_allowed's table.
var allowed = func() (t [0x100]bool) {
	for _, op := range []uint16{aluADD, aluSUB, aluMUL, aluDIV, aluMOD, aluAND, aluOR, aluXOR, aluLSH, aluRSH} {
		t[clsALU|op|srcK] = true
		t[clsALU|op|srcX] = true
	}
	t[clsALU|aluNEG] = true
	for _, c := range []uint16{
		clsLD | szW | modeABS, clsLD | szH | modeABS, clsLD | szB | modeABS, clsLD | szW | modeLEN,
		clsLD | szW | modeIND, clsLD | szH | modeIND, clsLD | szB | modeIND, clsLD | modeIMM, clsLD | modeMEM,
		clsLDX | szW | modeLEN, clsLDX | szB | modeMSH, clsLDX | modeIMM, clsLDX | modeMEM,
		clsST, clsSTX, clsMISC | miscTAX, clsMISC | miscTXA, clsRET | retK, clsRET | retA,
		clsJMP | jmpJA,
	} {
		t[c] = true
	}
	for _, op := range []uint16{jmpJEQ, jmpJGE, jmpJGT, jmpJSET} {
		t[clsJMP|op|srcK] = true
		t[clsJMP|op|srcX] = true
	}
	return t
}()

// knownAncillary is bpf_anc_helper's list: the SKF_AD_* offsets the kernel
// knows.
func knownAncillary(k uint32) bool {
	if k < skfADOff {
		return false
	}
	off := k - skfADOff
	if off >= bpf.WifiAncillary+8 && off < bpf.WifiAncillary+bpf.WifiCtxSize {
		// netyard's 802.11 receive metadata (docs/WIFI.md)
		return off%4 == 0
	}
	return off < adMax && off%4 == 0
}

// Check verifies insns as bpf_check_classic (net/core/filter.c) does, in
// its order: 1..4096 instructions; each opcode one the kernel accepts; no
// division or modulo by a constant 0, no constant shift of 32 or more;
// scratch indexes below 16; jumps inside the program; absolute loads at
// SKF_AD_OFF and above only for known ancillary loads; the last
// instruction a RET; and (check_load_and_stores) no scratch cell read on a
// path where it was not written.
func Check(insns []Insn) error {
	n := len(insns)
	if n == 0 || n > MaxInsns {
		return &CheckError{Index: -1, Reason: fmt.Sprintf("%d instructions: must be 1..%d", n, MaxInsns)}
	}
	bad := func(pc int, why string) error { return &CheckError{Index: pc, Insn: insns[pc], Reason: why} }
	for pc, in := range insns {
		if in.Code >= uint16(len(allowed)) || !allowed[in.Code] {
			return bad(pc, fmt.Sprintf("opcode %#x: not a classic BPF instruction the kernel accepts", in.Code))
		}
		switch in.Code {
		case clsALU | aluDIV | srcK, clsALU | aluMOD | srcK:
			if in.K == 0 {
				return bad(pc, "division or modulo by the constant 0")
			}
		case clsALU | aluLSH | srcK, clsALU | aluRSH | srcK:
			if in.K >= 32 {
				return bad(pc, fmt.Sprintf("shift by %d: must be below 32", in.K))
			}
		case clsLD | modeMEM, clsLDX | modeMEM, clsST, clsSTX:
			if in.K >= MemWords {
				return bad(pc, fmt.Sprintf("scratch index M[%d]: must be below %d", in.K, MemWords))
			}
		case clsJMP | jmpJA:
			if uint64(in.K) >= uint64(n-pc-1) {
				return bad(pc, fmt.Sprintf("ja +%d: jumps past the last instruction", in.K))
			}
		case clsJMP | jmpJEQ | srcK, clsJMP | jmpJEQ | srcX, clsJMP | jmpJGE | srcK, clsJMP | jmpJGE | srcX,
			clsJMP | jmpJGT | srcK, clsJMP | jmpJGT | srcX, clsJMP | jmpJSET | srcK, clsJMP | jmpJSET | srcX:
			if pc+int(in.Jt)+1 >= n || pc+int(in.Jf)+1 >= n {
				return bad(pc, fmt.Sprintf("jt %d / jf %d: jumps past the last instruction", in.Jt, in.Jf))
			}
		case clsLD | szW | modeABS, clsLD | szH | modeABS, clsLD | szB | modeABS:
			if in.K >= skfADOff && !knownAncillary(in.K) {
				return bad(pc, fmt.Sprintf("ancillary load SKF_AD_OFF%+d: unknown", int32(in.K-skfADOff)))
			}
		}
	}
	switch insns[n-1].Code {
	case clsRET | retK, clsRET | retA:
	default:
		return bad(n-1, "the last instruction must be a RET")
	}
	return checkLoadAndStores(insns)
}

// checkLoadAndStores is the kernel's check_load_and_stores: a scratch cell
// may be read only where every path to the read has written it, so that
// M[] never needs clearing between runs.
func checkLoadAndStores(insns []Insn) error {
	masks := make([]uint16, len(insns))
	for i := range masks {
		masks[i] = 0xffff
	}
	var valid uint16
	for pc, in := range insns {
		valid &= masks[pc]
		switch in.Code {
		case clsST, clsSTX:
			valid |= 1 << in.K
		case clsLD | modeMEM, clsLDX | modeMEM:
			if valid&(1<<in.K) == 0 {
				return &CheckError{Index: pc, Insn: in, Reason: fmt.Sprintf("reads M[%d], which a path to it leaves unwritten", in.K)}
			}
		case clsJMP | jmpJA:
			masks[pc+1+int(in.K)] &= valid
			valid = 0xffff
		case clsJMP | jmpJEQ | srcK, clsJMP | jmpJEQ | srcX, clsJMP | jmpJGE | srcK, clsJMP | jmpJGE | srcX,
			clsJMP | jmpJGT | srcK, clsJMP | jmpJGT | srcX, clsJMP | jmpJSET | srcK, clsJMP | jmpJSET | srcX:
			masks[pc+1+int(in.Jt)] &= valid
			masks[pc+1+int(in.Jf)] &= valid
			valid = 0xffff
		}
	}
	return nil
}
