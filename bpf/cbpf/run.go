package cbpf

import (
	"encoding/binary"

	"netyard/bpf"
	"netyard/pkt"
	"netyard/wire"
)

// Program is a checked, compiled classic BPF program. It is immutable and
// safe for concurrent use; a run keeps its registers and scratch memory on
// the stack and allocates nothing.
type Program struct {
	insns []Insn
	ops   []op
	sets  [][]uint32 // the constants of opJeqSet runs
	info  bpf.Info
}

var _ bpf.Program = (*Program)(nil)

// op is one compiled instruction: a dense kind for the switch, jump
// targets made absolute, and the constant. A fused op (a load and the
// compare-and-jump after it) uses t and f of the jump and k2 of its
// constant.
type op struct {
	kind uint8
	t, f uint16
	k    uint32
	k2   uint32
}

const (
	opRetK uint8 = iota
	opRetA
	opLdW // A = P[k:4], k a non-negative offset
	opLdH
	opLdB
	opLdIndW // A = P[X+k:4]
	opLdIndH
	opLdIndB
	opLdNeg // absolute load at a negative offset (SKF_NET_OFF, SKF_LL_OFF); k2 the size
	opLdAnc // ancillary load; k the SKF_AD_* offset
	opLdLen
	opLdxLen
	opLdImm
	opLdxImm
	opLdMem
	opLdxMem
	opLdxMsh
	opSt
	opStx
	opTax
	opTxa
	opAddK
	opAddX
	opSubK
	opSubX
	opMulK
	opMulX
	opDivK
	opDivX
	opModK
	opModX
	opAndK
	opAndX
	opOrK
	opOrX
	opXorK
	opXorX
	opLshK
	opLshX
	opRshK
	opRshX
	opNeg
	opJa
	opJeqK
	opJeqX
	opJgtK
	opJgtX
	opJgeK
	opJgeX
	opJsetK
	opJsetX
	// Fused: an absolute packet load followed by a compare with a
	// constant, tcpdump's "ldh [12]; jeq #0x800".
	opLdHJeqK
	opLdBJeqK
	opLdWJeqK
	opLdHJsetK
	opLdBJsetK
	// An indirect load and a compare: "ldh [x + 16]; jeq #80".
	opLdIndHJeqK
	opLdIndBJeqK
	opLdIndBJsetK
	// tcpdump's port test: "ldxb 4*([k]&0xf); ldh [x + k']; jeq #port",
	// with k << 16 | k' in k.
	opMshLdIndHJeqK
	// A run of "jeq #k_i, T, next" with one T, tcpdump's code for
	// "host a or host b or ...": k indexes Program.sets.
	opJeqSet
	opLdWJeqSet
	opLdHJeqSet
)

// minSetRun is the shortest run of compares made into a set op: below it
// the compares cost less than the loop.
const minSetRun = 3

// Load checks insns (Check) and compiles them. name is what tc shows for
// the program ("bytecode" or the file it came from).
func Load(insns []Insn, name string) (*Program, error) {
	if err := Check(insns); err != nil {
		return nil, err
	}
	p := &Program{insns: append([]Insn(nil), insns...)}
	p.ops, p.sets = compile(p.insns)
	raw := make([]byte, 0, 8*len(insns))
	for _, in := range insns {
		raw = binary.LittleEndian.AppendUint16(raw, in.Code)
		raw = append(raw, in.Jt, in.Jf)
		raw = binary.LittleEndian.AppendUint32(raw, in.K)
	}
	p.info = bpf.Info{Kind: "classic", Name: name, Tag: bpf.Tag(raw), ID: bpf.NewID(), Insns: len(insns)}
	return p, nil
}

// Insns returns the program as loaded.
func (p *Program) Insns() []Insn { return append([]Insn(nil), p.insns...) }

// String is the program in tc's bytecode form.
func (p *Program) String() string { return Format(p.insns) }

// Info implements bpf.Program.
func (p *Program) Info() bpf.Info { return p.info }

func compile(insns []Insn) ([]op, [][]uint32) {
	ops := make([]op, len(insns))
	for pc, in := range insns {
		o := op{k: in.K}
		jt, jf := uint16(pc+1+int(in.Jt)), uint16(pc+1+int(in.Jf))
		switch in.Code {
		case clsRET | retK:
			o.kind = opRetK
		case clsRET | retA:
			o.kind = opRetA
		case clsLD | szW | modeABS, clsLD | szH | modeABS, clsLD | szB | modeABS:
			size := map[uint16]uint32{szW: 4, szH: 2, szB: 1}[in.Code&0x18]
			switch {
			case knownAncillary(in.K):
				o.kind, o.k = opLdAnc, in.K-skfADOff
			case int32(in.K) < 0:
				o.kind, o.k2 = opLdNeg, size
			default:
				o.kind = map[uint32]uint8{4: opLdW, 2: opLdH, 1: opLdB}[size]
			}
		case clsLD | szW | modeIND:
			o.kind = opLdIndW
		case clsLD | szH | modeIND:
			o.kind = opLdIndH
		case clsLD | szB | modeIND:
			o.kind = opLdIndB
		case clsLD | szW | modeLEN:
			o.kind = opLdLen
		case clsLDX | szW | modeLEN:
			o.kind = opLdxLen
		case clsLD | modeIMM:
			o.kind = opLdImm
		case clsLDX | modeIMM:
			o.kind = opLdxImm
		case clsLD | modeMEM:
			o.kind = opLdMem
		case clsLDX | modeMEM:
			o.kind = opLdxMem
		case clsLDX | szB | modeMSH:
			o.kind = opLdxMsh
		case clsST:
			o.kind = opSt
		case clsSTX:
			o.kind = opStx
		case clsMISC | miscTAX:
			o.kind = opTax
		case clsMISC | miscTXA:
			o.kind = opTxa
		case clsALU | aluNEG:
			o.kind = opNeg
		case clsJMP | jmpJA:
			o.kind, o.t = opJa, uint16(pc+1+int(in.K))
		default:
			if in.Code&7 == clsALU {
				o.kind = map[uint16]uint8{aluADD: opAddK, aluSUB: opSubK, aluMUL: opMulK, aluDIV: opDivK,
					aluMOD: opModK, aluAND: opAndK, aluOR: opOrK, aluXOR: opXorK, aluLSH: opLshK, aluRSH: opRshK}[in.Code&0xf0]
				if in.Code&srcX != 0 {
					o.kind++ // every X form follows its K form
				}
			} else { // a conditional jump: Check let nothing else through
				o.kind = map[uint16]uint8{jmpJEQ: opJeqK, jmpJGT: opJgtK, jmpJGE: opJgeK, jmpJSET: opJsetK}[in.Code&0xf0]
				if in.Code&srcX != 0 {
					o.kind++
				}
				o.t, o.f = jt, jf
			}
		}
		ops[pc] = o
	}
	// Runs of compares against constants with one target become a
	// set op at the run's start, and so does every suffix of a run (a
	// jump may land inside it, as tcpdump's `or` of hosts does); the
	// compares keep their ops too. A suffix's set is a slice of its run's,
	// so a run costs its constants once, not quadratic memory.
	var sets [][]uint32
	var whole []uint32 // the constants of the run being converted
	runStart, runEnd := -1, -1
	for pc := 0; pc < len(ops); pc++ {
		if ops[pc].kind != opJeqK {
			continue
		}
		t := ops[pc].t
		end := pc // the last compare of the run
		for end+1 < len(ops) && int(ops[end].f) == end+1 && ops[end+1].kind == opJeqK && ops[end+1].t == t {
			end++
		}
		if end-pc+1 < minSetRun {
			continue
		}
		if pc > runEnd || end != runEnd {
			runStart, runEnd = pc, end
			whole = make([]uint32, 0, end-pc+1)
			for i := pc; i <= end; i++ {
				whole = append(whole, ops[i].k)
			}
		}
		ops[pc] = op{kind: opJeqSet, k: uint32(len(sets)), t: t, f: ops[end].f}
		sets = append(sets, whole[pc-runStart:])
	}
	// Fuse a packet load with the compare after it. The compare keeps
	// its own op: another jump may land on it.
	for pc := 0; pc+1 < len(ops); pc++ {
		a, b := ops[pc], ops[pc+1]
		var kind uint8
		switch {
		case a.kind == opLdW && b.kind == opJeqSet:
			kind = opLdWJeqSet
		case a.kind == opLdH && b.kind == opJeqSet:
			kind = opLdHJeqSet
		case a.kind == opLdH && b.kind == opJeqK:
			kind = opLdHJeqK
		case a.kind == opLdB && b.kind == opJeqK:
			kind = opLdBJeqK
		case a.kind == opLdW && b.kind == opJeqK:
			kind = opLdWJeqK
		case a.kind == opLdH && b.kind == opJsetK:
			kind = opLdHJsetK
		case a.kind == opLdB && b.kind == opJsetK:
			kind = opLdBJsetK
		case a.kind == opLdIndH && b.kind == opJeqK:
			kind = opLdIndHJeqK
		case a.kind == opLdIndB && b.kind == opJeqK:
			kind = opLdIndBJeqK
		case a.kind == opLdIndB && b.kind == opJsetK:
			kind = opLdIndBJsetK
		default:
			continue
		}
		ops[pc] = op{kind: kind, t: b.t, f: b.f, k: a.k, k2: b.k}
	}
	// And the header length load before a fused port compare.
	for pc := 0; pc+1 < len(ops); pc++ {
		a, b := ops[pc], ops[pc+1]
		if a.kind == opLdxMsh && b.kind == opLdIndHJeqK && a.k < 1<<16 && b.k < 1<<16 {
			ops[pc] = op{kind: opMshLdIndHJeqK, t: b.t, f: b.f, k: a.k<<16 | b.k, k2: b.k2}
		}
	}
	return ops, sets
}

// Run implements bpf.Program: it runs the program on p's frame (which
// starts at the Ethernet header, as cls_bpf shows it at either hook) and
// returns A of the RET that ended it. Classic BPF cannot fault: whatever
// the kernel would stop (a load outside the packet, a division by a zero
// X) returns 0, as the kernel's program does.
func (p *Program) Run(b *pkt.Buffer, env *bpf.Env) (uint64, error) {
	data := b.Data()
	ret, at, a, x := p.fast(data, 0, 0, 0)
	if at >= 0 {
		ret = p.run(data, b, env, at, a, x)
	}
	return uint64(ret), nil
}

// RunData runs the program on a bare frame, with no metadata: ancillary
// loads read zeros (SKF_AD_RANDOM still draws).
func (p *Program) RunData(data []byte) uint32 {
	ret, at, a, x := p.fast(data, 0, 0, 0)
	if at >= 0 {
		ret = p.run(data, nil, nil, at, a, x)
	}
	return ret
}

// A run starts in fast, which runs the operations that need no call (a
// call anywhere in its loop would keep its registers in memory on every
// operation) until a RET or an operation it leaves to run: ancillary
// loads, negative offsets, scratch memory. run does that one and hands
// back to fast. Most of tcpdump's programs never leave fast, and never
// clear a scratch memory they do not use.
//
// run goes on from the operation at pc with registers a and x; M[] is
// empty then, since fast never writes it.
func (p *Program) run(data []byte, b *pkt.Buffer, env *bpf.Env, pc int, a, x uint32) uint32 {
	var (
		mem [MemWords]uint32
		ret uint32
	)
	for pc >= 0 {
		o := &p.ops[pc]
		pc++
		switch o.kind {
		case opLdIndW, opLdIndH, opLdIndB, opLdIndHJeqK, opLdIndBJeqK, opLdIndBJsetK:
			size := uint32(1)
			switch o.kind {
			case opLdIndW:
				size = 4
			case opLdIndH, opLdIndHJeqK:
				size = 2
			}
			v, ok := load(data, b, int32(x+o.k), size)
			if !ok {
				return 0
			}
			a = v
			switch o.kind {
			case opLdIndHJeqK, opLdIndBJeqK:
				pc = jeqChain(p.ops, a, o.k2, o.t, o.f)
			case opLdIndBJsetK:
				pc = int(o.f)
				if a&o.k2 != 0 {
					pc = int(o.t)
				}
			}
		case opLdxMsh:
			v, ok := load(data, b, int32(o.k), 1)
			if !ok {
				return 0
			}
			x = (v & 0xf) << 2
		case opLdNeg:
			v, ok := load(data, b, int32(o.k), o.k2)
			if !ok {
				return 0
			}
			a = v
		case opLdAnc:
			a = ancillary(o.k, a, x, data, b, env, p)
		case opLdMem:
			a = mem[o.k&(MemWords-1)]
		case opLdxMem:
			x = mem[o.k&(MemWords-1)]
		case opSt:
			mem[o.k&(MemWords-1)] = a
		case opStx:
			mem[o.k&(MemWords-1)] = x
		default:
			// compile makes no other kind, and fast runs all others.
			panic("cbpf: unknown op kind")
		}
		ret, pc, a, x = p.fast(data, pc, a, x)
	}
	return ret
}

// fast runs the program from pc with registers a and x until a RET (at
// is -1, ret its value) or an operation it leaves to run (at is its
// index, a and x the registers before it).
func (p *Program) fast(data []byte, pc int, a, x uint32) (ret uint32, at int, _, _ uint32) {
	ops := p.ops
	n := uint64(len(data))
	for {
		o := &ops[pc]
		pc++
		switch o.kind {
		case opRetK:
			return o.k, -1, a, x
		case opRetA:
			return a, -1, a, x
		case opLdW:
			if uint64(o.k)+4 > n {
				return 0, -1, a, x
			}
			a = binary.BigEndian.Uint32(data[o.k:])
		case opLdH:
			if uint64(o.k)+2 > n {
				return 0, -1, a, x
			}
			a = uint32(binary.BigEndian.Uint16(data[o.k:]))
		case opLdB:
			if uint64(o.k) >= n {
				return 0, -1, a, x
			}
			a = uint32(data[o.k])
		case opLdHJeqK:
			if uint64(o.k)+2 > n {
				return 0, -1, a, x
			}
			a = uint32(binary.BigEndian.Uint16(data[o.k:]))
			pc = jeqChain(ops, a, o.k2, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdBJeqK:
			if uint64(o.k) >= n {
				return 0, -1, a, x
			}
			a = uint32(data[o.k])
			pc = jeqChain(ops, a, o.k2, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdWJeqK:
			if uint64(o.k)+4 > n {
				return 0, -1, a, x
			}
			a = binary.BigEndian.Uint32(data[o.k:])
			pc = jeqChain(ops, a, o.k2, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdHJsetK:
			if uint64(o.k)+2 > n {
				return 0, -1, a, x
			}
			a = uint32(binary.BigEndian.Uint16(data[o.k:]))
			if a&o.k2 != 0 {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdBJsetK:
			if uint64(o.k) >= n {
				return 0, -1, a, x
			}
			a = uint32(data[o.k])
			if a&o.k2 != 0 {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJeqSet:
			pc = inSet(p.sets[o.k], a, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdWJeqSet:
			if uint64(o.k)+4 > n {
				return 0, -1, a, x
			}
			a = binary.BigEndian.Uint32(data[o.k:])
			pc = inSet(p.sets[o.k2], a, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdHJeqSet:
			if uint64(o.k)+2 > n {
				return 0, -1, a, x
			}
			a = uint32(binary.BigEndian.Uint16(data[o.k:]))
			pc = inSet(p.sets[o.k2], a, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opMshLdIndHJeqK:
			mk := uint64(o.k >> 16)
			if mk >= n {
				return 0, -1, a, x
			}
			x = uint32(data[mk]&0xf) << 2
			off := uint64(x + o.k&0xffff)
			if off+2 > n {
				return 0, -1, a, x
			}
			a = uint32(binary.BigEndian.Uint16(data[off:]))
			pc = jeqChain(ops, a, o.k2, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdIndHJeqK:
			if off := x + o.k; int32(off) >= 0 && uint64(off)+2 <= n {
				a = uint32(binary.BigEndian.Uint16(data[off:]))
			} else if int32(off) >= 0 {
				return 0, -1, a, x
			} else {
				return 0, pc - 1, a, x // a negative offset: run's
			}
			pc = jeqChain(ops, a, o.k2, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdIndBJeqK:
			if off := x + o.k; int32(off) >= 0 && uint64(off)+1 <= n {
				a = uint32(data[off])
			} else if int32(off) >= 0 {
				return 0, -1, a, x
			} else {
				return 0, pc - 1, a, x // a negative offset: run's
			}
			pc = jeqChain(ops, a, o.k2, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdIndBJsetK:
			if off := x + o.k; int32(off) >= 0 && uint64(off)+1 <= n {
				a = uint32(data[off])
			} else if int32(off) >= 0 {
				return 0, -1, a, x
			} else {
				return 0, pc - 1, a, x // a negative offset: run's
			}
			if a&o.k2 != 0 {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opLdIndW, opLdIndH, opLdIndB:
			off := x + o.k
			if int32(off) < 0 {
				return 0, pc - 1, a, x // a negative offset: run's
			}
			size := uint64(4)
			if o.kind == opLdIndH {
				size = 2
			} else if o.kind == opLdIndB {
				size = 1
			}
			if uint64(off)+size > n {
				return 0, -1, a, x
			}
			switch size {
			case 4:
				a = binary.BigEndian.Uint32(data[off:])
			case 2:
				a = uint32(binary.BigEndian.Uint16(data[off:]))
			default:
				a = uint32(data[off])
			}
		case opLdNeg, opLdAnc, opLdMem, opLdxMem, opSt, opStx:
			return 0, pc - 1, a, x // run's
		case opLdLen:
			a = uint32(n)
		case opLdxLen:
			x = uint32(n)
		case opLdImm:
			a = o.k
		case opLdxImm:
			x = o.k
		case opLdxMsh:
			if uint64(o.k) < n {
				x = uint32(data[o.k]&0xf) << 2
			} else if int32(o.k) >= 0 {
				return 0, -1, a, x
			} else {
				return 0, pc - 1, a, x // a negative offset: run's
			}
		case opTax:
			x = a
		case opTxa:
			a = x
		case opAddK:
			a += o.k
		case opAddX:
			a += x
		case opSubK:
			a -= o.k
		case opSubX:
			a -= x
		case opMulK:
			a *= o.k
		case opMulX:
			a *= x
		case opDivK:
			a /= o.k
		case opDivX:
			if x == 0 {
				return 0, -1, a, x
			}
			a /= x
		case opModK:
			a %= o.k
		case opModX:
			if x == 0 {
				return 0, -1, a, x
			}
			a %= x
		case opAndK:
			a &= o.k
		case opAndX:
			a &= x
		case opOrK:
			a |= o.k
		case opOrX:
			a |= x
		case opXorK:
			a ^= o.k
		case opXorX:
			a ^= x
		case opLshK:
			a <<= o.k
		case opLshX:
			a <<= x & 31 // the kernel's ALU32 shift masks the count
		case opRshK:
			a >>= o.k
		case opRshX:
			a >>= x & 31
		case opNeg:
			a = -a
		case opJa:
			pc = int(o.t)
		case opJeqK:
			pc = jeqChain(ops, a, o.k, o.t, o.f)
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJeqX:
			if a == x {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJgtK:
			if a > o.k {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJgtX:
			if a > x {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJgeK:
			if a >= o.k {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJgeX:
			if a >= x {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJsetK:
			if a&o.k != 0 {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		case opJsetX:
			if a&x != 0 {
				pc = int(o.t)
			} else {
				pc = int(o.f)
			}
			if r := &ops[pc]; r.kind == opRetK {
				return r.k, -1, a, x
			}
		default:
			return 0, pc - 1, a, x // run's

		}
	}
}

// jeqChain is "jeq #k, t, f" and the jeq's it leads to: tcpdump's code
// compares one loaded value with constant after constant (EtherTypes,
// addresses), and following such a chain here, with a branch the CPU
// predicts, costs less than a dispatch through the switch per compare.
func jeqChain(ops []op, a, k uint32, t, f uint16) int {
	for {
		next := int(f)
		if a == k {
			next = int(t)
		}
		o := &ops[next]
		if o.kind != opJeqK {
			return next
		}
		k, t, f = o.k, o.t, o.f
	}
}

// inSet is a run of compares: t when a is one of set, else f.
func inSet(set []uint32, a uint32, t, f uint16) int {
	for _, k := range set {
		if a == k {
			return int(t)
		}
	}
	return int(f)
}

// load is bpf_skb_load_helper_{8,16,32}: a non-negative offset reads the
// frame; a negative one is bpf_internal_load_pointer_neg_helper's,
// relative to the network header (SKF_NET_OFF) or the link-layer header
// (SKF_LL_OFF). ok is false where the kernel's helper fails, and the
// program then returns 0.
func load(data []byte, b *pkt.Buffer, off int32, size uint32) (uint32, bool) {
	var start int64
	switch {
	case off >= 0:
		start = int64(off)
	case off >= skfNetOff:
		start = int64(networkOffset(data, b)) + int64(off) - skfNetOff
	case off >= skfLLOff:
		start = int64(off) - skfLLOff // the frame starts at the MAC header
	default:
		return 0, false
	}
	if start < 0 || start+int64(size) > int64(len(data)) {
		return 0, false
	}
	switch size {
	case 4:
		return binary.BigEndian.Uint32(data[start:]), true
	case 2:
		return uint32(binary.BigEndian.Uint16(data[start:])), true
	}
	return uint32(data[start]), true
}

// networkOffset is skb_network_offset at the hook: the end of the Ethernet
// header and of the VLAN tags netyard keeps in the frame.
func networkOffset(data []byte, b *pkt.Buffer) int {
	if b != nil && b.Hdr.L3Off != 0 {
		return int(b.Hdr.L3Off)
	}
	return wire.EthHeaderLen
}

// Values of the ancillary loads that netyard's devices fix.
const (
	arphrdEther = 1 // ARPHRD_ETHER: every netyard device is Ethernet

	packetHost      = 0
	packetBroadcast = 1
	packetMulticast = 2
)

// ARPHRD_IEEE80211: an 802.11 device without radiotap (include/uapi/linux/if_arp.h).
const arphrdIEEE80211 = 801

// ancillary80211 is what the ancillary loads that depend on the link layer
// read at an 802.11 device: HATYPE is ARPHRD_IEEE80211, PROTOCOL 0 (no
// EtherType before the LLC header), PKTTYPE from the receiver address
// (addr1, at byte 4); the others as on Ethernet.
func ancillary80211(ad uint32, data []byte, env *bpf.Env) (uint32, bool) {
	switch ad {
	case ADHatype:
		return arphrdIEEE80211, true
	case ADProtocol, ADPayOffset:
		return 0, true
	case ADPktType:
		if !env.Ingress || len(data) < 10 || data[4]&1 == 0 {
			return packetHost, true
		}
		if data[4]&data[5]&data[6]&data[7]&data[8]&data[9] == 0xff {
			return packetBroadcast, true
		}
		return packetMulticast, true
	}
	return 0, false
}

// ancillary is convert_bpf_extensions: what an absolute load at
// SKF_AD_OFF + ad reads.
func ancillary(ad, a, x uint32, data []byte, b *pkt.Buffer, env *bpf.Env, p *Program) uint32 {
	switch ad {
	case ADAluXorX:
		return a ^ x
	case ADRandom:
		return random(env)
	case ADNlattr:
		return nlattr(data, a, x, false)
	case ADNlattrNest:
		return nlattr(data, a, x, true)
	}
	if b == nil {
		if ad == ADHatype {
			return arphrdEther
		}
		return 0
	}
	if ad >= bpf.WifiAncillary {
		v, _ := bpf.WifiField(b, env, ad-bpf.WifiAncillary)
		return v
	}
	if env != nil && env.Link == bpf.LinkIEEE80211 {
		if v, ok := ancillary80211(ad, data, env); ok {
			return v
		}
	}
	switch ad {
	case ADProtocol:
		return uint32(b.Hdr.OuterType)
	case ADPktType:
		if env == nil || !env.Ingress || len(data) < 6 {
			return packetHost
		}
		if data[0]&1 == 0 {
			return packetHost
		}
		if data[0]&data[1]&data[2]&data[3]&data[4]&data[5] == 0xff {
			return packetBroadcast
		}
		return packetMulticast
	case ADIfindex:
		if env == nil {
			return 0
		}
		return uint32(env.Ifindex)
	case ADMark:
		return b.Mark
	case ADQueue:
		if b.HasQueueMapping {
			return uint32(b.QueueMapping)
		}
		return 0
	case ADHatype:
		return arphrdEther
	case ADRxhash:
		if b.HashValid {
			return b.Hash
		}
		return 0
	case ADCPU:
		if env == nil {
			return 0
		}
		return uint32(env.CPU)
	case ADVlanTag, ADVlanTagPresent, ADVlanTPID:
		// netyard keeps VLAN tags in the frame: no tag was taken out
		// into skb->vlan_tci (docs/BPF.md).
		return 0
	case ADPayOffset:
		return payOffset(data, b)
	}
	return 0
}

// random is bpf_user_rnd_u32 on the Env's seeded state (the worker's), so
// that replay and the lab repeat exactly (bpf.Rand32).
func random(env *bpf.Env) uint32 {
	if env != nil {
		return bpf.Rand32(env.Rand)
	}
	return bpf.Rand32(nil)
}

// payOffset is skb_get_poff (__skb_get_poff): the offset of the transport
// payload, from the flow dissector's transport offset plus the transport
// header's length; 0 when the frame has no transport header to find.
func payOffset(data []byte, b *pkt.Buffer) uint32 {
	h := &b.Hdr
	if h.IPVersion == 0 {
		return 0
	}
	poff := uint32(h.L4Off)
	if poff == 0 {
		return 0
	}
	switch h.Proto {
	case wire.ProtoTCP:
		if int(poff)+13 > len(data) {
			return poff
		}
		doff := uint32(data[poff+12]>>4) * 4
		return poff + max(20, doff)
	case wire.ProtoUDP, 136, wire.ProtoICMP, wire.ProtoICMPv6, 2: // UDP-Lite, IGMP
		return poff + 8
	case 33: // DCCP
		return poff + 16
	case wire.ProtoSCTP:
		return poff + 12
	}
	return poff
}

// nlattr is bpf_skb_get_nlattr and _nest: the offset of netlink attribute
// x in the attributes at offset a (nested: inside the attribute at a), 0
// for none.
func nlattr(data []byte, a, x uint32, nest bool) uint32 {
	n := uint32(len(data))
	if n < 4 || a > n-4 {
		return 0
	}
	start, end := a, n
	if nest {
		l := uint32(binary.LittleEndian.Uint16(data[a:]))
		if l > n-a {
			return 0
		}
		start, end = a+4, a+l // nla_find_nested: the payload of the attribute
		if l < 4 {
			return 0
		}
	}
	for off := start; end >= off+4; {
		l := uint32(binary.LittleEndian.Uint16(data[off:]))
		t := uint32(binary.LittleEndian.Uint16(data[off+2:])) & 0x3fff // NLA_TYPE_MASK
		if l < 4 || l > end-off {
			return 0 // nla_ok fails: the walk ends
		}
		if t == x {
			return off
		}
		off += (l + 3) &^ 3 // NLA_ALIGN
	}
	return 0
}
