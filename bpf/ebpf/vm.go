package ebpf

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"netyard/bpf"
	"netyard/pkt"
)

// Pointers. A register holds a plain 64-bit value; a pointer is a region
// tag in the upper 32 bits and an offset in the lower 32. Pointer
// arithmetic is ordinary arithmetic on the value, so data + 14 > data_end
// and data_end - data work as in the kernel, and every load or store
// decodes the tag and checks offset and size against that region: the
// context, the packet (data..data_end), the stack, a map's values or a
// ring buffer record. Any other value faults; no access ever leaves the
// program's regions. A tag of 0 is no region, so NULL faults.
const (
	tagCtx    = 1
	tagPkt    = 2
	tagStack  = 3
	tagMapVal = 0x100   // + the map's index in the program
	tagMapPtr = 0x10000 // + the map's index: a map, for helpers only
	maxMaps   = 0xff00
)

func mkptr(tag uint64, off uint32) uint64 { return tag<<32 | uint64(off) }

// InsnLimit bounds the instructions one run executes (tail calls
// included), the run-time stand-in for the verifier's proof that loops
// end: a program that reaches it is stopped with a Fault.
const InsnLimit = 1 << 20

// maxTailCalls is MAX_TAIL_CALL_CNT (33).
const maxTailCalls = 33

// frame is a bpf-to-bpf call's saved state.
type frame struct {
	ret  int
	regs [4]uint64 // r6..r9
	fp   uint64
}

// state is one run's scratch: registers, stacks, call frames. It lives in
// the program's per-CPU scratch so that a run allocates nothing and does
// not zero 4 KiB per packet (the stack's content at entry is undefined,
// as the kernel's is).
type state struct {
	busy   atomic.Uint32
	regs   [16]uint64
	frames [maxCallDepth]frame
	stack  [maxCallDepth * stackSize]byte

	prog    *Program
	wifi    bool // the context is struct netyard_wifi_md (wifictx.go)
	buf     *pkt.Buffer
	pkt     []byte
	env     *bpf.Env
	skb     skbExtra
	reserve [4]ringRes // ring buffer records reserved in this run
	nres    int

	// the map value the last lookup returned (tag, its bytes' range in
	// valMem): most accesses through map value pointers are to it
	valTag         uint64
	valOff, valEnd uint64
	valMem         []byte

	depth, tail, steps int // call depth, tail calls, instructions counted (exec)

	j  jitState // the machine code's part (jit.go)
	jc *jitCode // the machine code running (runJIT), kept mapped by this

	runs  atomic.Uint64 // runs in this scratch (one writer: its holder)
	inUse bool          // a worker's scratch (bpf.Env.Scratch) is running
	_     [64]byte      // keep neighbours' busy flags off this cache line
}

type ringRes struct {
	m      *Map
	off, n int
}

var statePool = sync.Pool{New: func() any { return new(state) }}

// NewScratch returns a run scratch for one worker's bpf.Env.Scratch.
func NewScratch() any { return new(state) }

// Program is a loaded extended BPF program (bpf.Program).
type Program struct {
	name    string
	code    []insn
	entries []int
	maps    []*Map
	info    bpf.Info
	id      uint32
	scratch []state

	// ns is the namespace the program was loaded for (Loader); timing
	// is its loader's stats switch (nil: never timed) and runNS the
	// time spent in runs while it was on.
	ns     string
	loader *Loader
	timing *atomic.Bool
	runNS  atomic.Uint64
	// wifi: the program's context is struct netyard_wifi_md (a
	// "netyard/wifi" section, wifictx.go), not __sk_buff.
	wifi bool

	runs      atomic.Uint64
	faults    atomic.Uint64
	recovered atomic.Uint64
	printk    rateLimit

	jit *jitCode // machine code (jit.go), nil: the interpreter runs it
}

var _ bpf.Program = (*Program)(nil)

// Info implements bpf.Program.
func (p *Program) Info() bpf.Info { return p.info }

// Maps are the maps the program references, in its own order.
func (p *Program) Maps() []*Map { return p.maps }

// Stats returns the number of runs, of faults (runs stopped), and of
// those that were Go panics caught by the last-resort recover (a bug in
// netyard: it should stay 0).
func (p *Program) Stats() (runs, faults, recovered uint64) {
	runs = p.runs.Load()
	for i := range p.scratch {
		runs += p.scratch[i].runs.Load()
	}
	return runs, p.faults.Load(), p.recovered.Load()
}

func (p *Program) acquire(cpu int) *state {
	if n := len(p.scratch); n > 0 {
		s := &p.scratch[cpuSlot(cpu, n)]
		if s.busy.CompareAndSwap(0, 1) {
			return s
		}
	}
	s := statePool.Get().(*state)
	s.busy.Store(2)
	return s
}

// cpuSlot is cpu's slot of n (no division when cpu < n, the usual case).
func cpuSlot(cpu, n int) int {
	if uint(cpu) < uint(n) {
		return cpu
	}
	return int(uint(cpu) % uint(n))
}

func release(s *state) {
	if s.inUse {
		s.inUse = false
		return
	}
	if s.busy.Load() == 2 {
		s.buf, s.pkt, s.env, s.prog, s.valMem, s.jc = nil, nil, nil, nil, nil, nil
		s.busy.Store(0)
		statePool.Put(s)
		return
	}
	s.busy.Store(0)
}

// Run implements bpf.Program: it runs the program on b with r1 pointing at
// the packet's struct __sk_buff and returns r0.
func (p *Program) Run(b *pkt.Buffer, env *bpf.Env) (uint64, error) {
	if t := p.timing; t != nil && t.Load() {
		// kernel.bpf_stats_enabled: the kernel's __bpf_prog_run adds
		// sched_clock() deltas the same way
		t0 := time.Now()
		r, err := p.runWith(b, env, nil)
		p.runNS.Add(uint64(time.Since(t0)))
		return r, err
	}
	return p.runWith(b, env, nil)
}

// runWith runs with the context fields netyard does not keep in pkt.Meta
// (cb, tc_index, tc_classid) starting from *x, and leaves them in *x; a
// nil x (Run, the datapath) starts cb and tc_index at 0, as every hook
// does, and tc_classid at env.ClassID's low 16 bits, and keeps only
// tc_classid (env.ClassID), copying nothing through the caller's stack.
func (p *Program) runWith(b *pkt.Buffer, env *bpf.Env, x *skbExtra) (uint64, error) {
	s, _ := env.Scratch.(*state)
	if s != nil && !s.inUse {
		// the worker's own scratch: nobody else touches it; the run is
		// counted in the program's slot of this CPU (one writer)
		s.inUse = true
		bump(&p.scratch[cpuSlot(env.CPU, len(p.scratch))].runs)
	} else {
		s = p.acquire(env.CPU)
		if s.busy.Load() == 2 {
			p.runs.Add(1)
		} else {
			bump(&s.runs)
		}
	}
	s.valTag, s.j.valTag = 0, 0
	s.buf, s.env = b, env
	s.wifi = p.wifi
	s.pkt = b.Data()
	if x != nil {
		s.skb = *x
		s.skb.classid &= 0xffff
	} else {
		s.skb = skbExtra{classid: env.ClassID & 0xffff} // a u16, preset by the hook
	}
	s.nres = 0
	ret, f := s.run(p)
	for i := 0; i < s.nres; i++ { // the verifier would insist; netyard discards
		s.reserve[i].m.ring.commit(s.reserve[i].off, true)
		s.reserve[i] = ringRes{}
	}
	if x != nil {
		*x = s.skb
	}
	env.ClassID = s.skb.classid
	release(s)
	if f != nil {
		p.faults.Add(1)
		return 0, f
	}
	return ret, nil
}

// run is the interpreter. The recover is a last resort for a netyard bug:
// every access is checked before it is made, so it should never fire; it
// is counted (Stats) when it does.
func (s *state) run(p *Program) (ret uint64, f *bpf.Fault) {
	if p.jit != nil {
		return s.runJIT(p) // its recover is where Go runs for it (jitStep)
	}
	pc := 0
	defer func() {
		if r := recover(); r != nil {
			p.recovered.Add(1)
			ret, f = 0, &bpf.Fault{PC: pc, Reason: "internal error (recovered)"}
		}
	}()
	s.depth, s.tail, s.steps = 0, 0, 0
	return s.exec(p, &pc)
}

func fault(pc int, why string) *bpf.Fault { return &bpf.Fault{PC: pc, Reason: why} }

// mem returns the n bytes at pointer v, or nil when they are not all in
// one region the program may access.
func (s *state) mem(v uint64, n int) []byte {
	off := uint64(uint32(v))
	switch tag := v >> 32; {
	case tag == tagPkt:
		if off+uint64(n) <= uint64(len(s.pkt)) {
			return s.pkt[off : off+uint64(n) : off+uint64(n)]
		}
	case tag == tagStack:
		if off+uint64(n) <= uint64(len(s.stack)) {
			return s.stack[off : off+uint64(n) : off+uint64(n)]
		}
	case tag == s.valTag && tag != 0 && off >= s.valOff && off+uint64(n) <= s.valEnd:
		// the value the last lookup returned: no division to find
		// which element off is in (valTag 0 is no value: valOff and
		// valEnd are then a previous run's, and NULL must not reach it)
		return s.valMem[off : off+uint64(n) : off+uint64(n)]
	case tag >= tagMapVal && tag < tagMapVal+maxMaps:
		i := int(tag - tagMapVal)
		if i < len(s.prog.maps) {
			m := s.prog.maps[i]
			if m.ring != nil {
				// a ring buffer record reserved in this run (the
				// kernel's verifier ends a record pointer's life at
				// submit or discard; netyard forgets the record then)
				for k := 0; k < s.nres; k++ {
					rs := &s.reserve[k]
					if rs.m == m && off >= uint64(rs.off) && off+uint64(n) <= uint64(rs.off+rs.n) {
						return m.ring.data[off : off+uint64(n) : off+uint64(n)]
					}
				}
				return nil
			}
			st := uint64(m.stride())
			if st > 0 && off%st+uint64(n) <= uint64(m.spec.ValueSize) && off+uint64(n) <= uint64(len(m.values)) {
				return m.values[off : off+uint64(n) : off+uint64(n)]
			}
		}
	}
	return nil
}

func le16(b []byte) uint64 { return uint64(binary.LittleEndian.Uint16(b)) }
func le32(b []byte) uint64 { return uint64(binary.LittleEndian.Uint32(b)) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// exec runs p from its start with r1 the context (a run, or the rest of
// one after a tail call: the caller resets the call depth, the tail call
// count and the instructions counted); it updates *pc so that a
// recovered panic names the instruction.
func (s *state) exec(p *Program, pcp *int) (uint64, *bpf.Fault) {
	s.prog = p
	r := &s.regs
	r[1] = mkptr(tagCtx, 0)
	r[10] = mkptr(tagStack, uint32(stackSize))
	pc := 0
	base := unsafe.Pointer(unsafe.SliceData(p.code))
	for {
		// pc is always in range: decode checked every jump and call
		// target, and that the program ends in an exit or a jump, so
		// the fetch needs no bounds check (code[pc] in effect).
		in := (*insn)(unsafe.Add(base, uintptr(pc)*unsafe.Sizeof(insn{})))
		pc++
		d, sr := in.dst&15, in.src&15
		switch in.op {
		// 64-bit ALU
		case a64AddK:
			r[d] += uint64(in.imm)
		case a64AddX:
			r[d] += r[sr]
		case a64SubK:
			r[d] -= uint64(in.imm)
		case a64SubX:
			r[d] -= r[sr]
		case a64MulK:
			r[d] *= uint64(in.imm)
		case a64MulX:
			r[d] *= r[sr]
		case a64DivK, a64DivX, a64SDivK, a64SDivX, a64ModK, a64ModX, a64SModK, a64SModX,
			a32DivK, a32DivX, a32SDivK, a32SDivX, a32ModK, a32ModX, a32SModK, a32SModX:
			aluSlow(in, r)
		case a64OrK:
			r[d] |= uint64(in.imm)
		case a64OrX:
			r[d] |= r[sr]
		case a64AndK:
			r[d] &= uint64(in.imm)
		case a64AndX:
			r[d] &= r[sr]
		case a64LshK:
			r[d] <<= uint64(in.imm)
		case a64LshX:
			r[d] <<= r[sr] & 63
		case a64RshK:
			r[d] >>= uint64(in.imm)
		case a64RshX:
			r[d] >>= r[sr] & 63
		case a64Neg:
			r[d] = -r[d]
		case a64XorK:
			r[d] ^= uint64(in.imm)
		case a64XorX:
			r[d] ^= r[sr]
		case a64MovK:
			r[d] = uint64(in.imm)
		case a64MovX:
			r[d] = r[sr]
		case a64Movsx8:
			r[d] = uint64(int64(int8(r[sr])))
		case a64Movsx16:
			r[d] = uint64(int64(int16(r[sr])))
		case a64Movsx32:
			r[d] = uint64(int64(int32(r[sr])))
		case a64ArshK:
			r[d] = uint64(int64(r[d]) >> uint64(in.imm))
		case a64ArshX:
			r[d] = uint64(int64(r[d]) >> (r[sr] & 63))
		case a64Bswap16:
			r[d] = uint64(bits.ReverseBytes16(uint16(r[d])))
		case a64Bswap32:
			r[d] = uint64(bits.ReverseBytes32(uint32(r[d])))
		case a64Bswap64:
			r[d] = bits.ReverseBytes64(r[d])

		// 32-bit ALU: operate on the low halves, zero-extend the result
		case a32AddK:
			r[d] = uint64(uint32(r[d]) + uint32(in.imm))
		case a32AddX:
			r[d] = uint64(uint32(r[d]) + uint32(r[sr]))
		case a32SubK:
			r[d] = uint64(uint32(r[d]) - uint32(in.imm))
		case a32SubX:
			r[d] = uint64(uint32(r[d]) - uint32(r[sr]))
		case a32MulK:
			r[d] = uint64(uint32(r[d]) * uint32(in.imm))
		case a32MulX:
			r[d] = uint64(uint32(r[d]) * uint32(r[sr]))
		case a32OrK:
			r[d] = uint64(uint32(r[d]) | uint32(in.imm))
		case a32OrX:
			r[d] = uint64(uint32(r[d]) | uint32(r[sr]))
		case a32AndK:
			r[d] = uint64(uint32(r[d]) & uint32(in.imm))
		case a32AndX:
			r[d] = uint64(uint32(r[d]) & uint32(r[sr]))
		case a32LshK:
			r[d] = uint64(uint32(r[d]) << uint32(in.imm))
		case a32LshX:
			r[d] = uint64(uint32(r[d]) << (uint32(r[sr]) & 31))
		case a32RshK:
			r[d] = uint64(uint32(r[d]) >> uint32(in.imm))
		case a32RshX:
			r[d] = uint64(uint32(r[d]) >> (uint32(r[sr]) & 31))
		case a32Neg:
			r[d] = uint64(-uint32(r[d]))
		case a32XorK:
			r[d] = uint64(uint32(r[d]) ^ uint32(in.imm))
		case a32XorX:
			r[d] = uint64(uint32(r[d]) ^ uint32(r[sr]))
		case a32MovK:
			r[d] = uint64(uint32(in.imm))
		case a32MovX:
			r[d] = uint64(uint32(r[sr]))
		case a32Movsx8:
			r[d] = uint64(uint32(int32(int8(r[sr]))))
		case a32Movsx16:
			r[d] = uint64(uint32(int32(int16(r[sr]))))
		case a32ArshK:
			r[d] = uint64(uint32(int32(r[d]) >> uint32(in.imm)))
		case a32ArshX:
			r[d] = uint64(uint32(int32(r[d]) >> (uint32(r[sr]) & 31)))
		case a32Le16:
			r[d] = uint64(uint16(r[d]))
		case a32Le32:
			r[d] = uint64(uint32(r[d]))
		case a32Le64:
		case a32Be16:
			r[d] = uint64(bits.ReverseBytes16(uint16(r[d])))
		case a32Be32:
			r[d] = uint64(bits.ReverseBytes32(uint32(r[d])))
		case a32Be64:
			r[d] = bits.ReverseBytes64(r[d])

		// jumps
		case jA:
			goto taken
		case jEqK:
			if r[d] == uint64(in.imm) {
				goto taken
			}
		case jEqX:
			if r[d] == r[sr] {
				goto taken
			}
		case jGtK:
			if r[d] > uint64(in.imm) {
				goto taken
			}
		case jGtX:
			if r[d] > r[sr] {
				goto taken
			}
		case jGeK:
			if r[d] >= uint64(in.imm) {
				goto taken
			}
		case jGeX:
			if r[d] >= r[sr] {
				goto taken
			}
		case jSetK:
			if r[d]&uint64(in.imm) != 0 {
				goto taken
			}
		case jSetX:
			if r[d]&r[sr] != 0 {
				goto taken
			}
		case jNeK:
			if r[d] != uint64(in.imm) {
				goto taken
			}
		case jNeX:
			if r[d] != r[sr] {
				goto taken
			}
		case jSGtK:
			if int64(r[d]) > in.imm {
				goto taken
			}
		case jSGtX:
			if int64(r[d]) > int64(r[sr]) {
				goto taken
			}
		case jSGeK:
			if int64(r[d]) >= in.imm {
				goto taken
			}
		case jSGeX:
			if int64(r[d]) >= int64(r[sr]) {
				goto taken
			}
		case jLtK:
			if r[d] < uint64(in.imm) {
				goto taken
			}
		case jLtX:
			if r[d] < r[sr] {
				goto taken
			}
		case jLeK:
			if r[d] <= uint64(in.imm) {
				goto taken
			}
		case jLeX:
			if r[d] <= r[sr] {
				goto taken
			}
		case jSLtK:
			if int64(r[d]) < in.imm {
				goto taken
			}
		case jSLtX:
			if int64(r[d]) < int64(r[sr]) {
				goto taken
			}
		case jSLeK:
			if int64(r[d]) <= in.imm {
				goto taken
			}
		case jSLeX:
			if int64(r[d]) <= int64(r[sr]) {
				goto taken
			}
		case j32EqK:
			if uint32(r[d]) == uint32(in.imm) {
				goto taken
			}
		case j32EqX:
			if uint32(r[d]) == uint32(r[sr]) {
				goto taken
			}
		case j32GtK:
			if uint32(r[d]) > uint32(in.imm) {
				goto taken
			}
		case j32GtX:
			if uint32(r[d]) > uint32(r[sr]) {
				goto taken
			}
		case j32GeK:
			if uint32(r[d]) >= uint32(in.imm) {
				goto taken
			}
		case j32GeX:
			if uint32(r[d]) >= uint32(r[sr]) {
				goto taken
			}
		case j32SetK:
			if uint32(r[d])&uint32(in.imm) != 0 {
				goto taken
			}
		case j32SetX:
			if uint32(r[d])&uint32(r[sr]) != 0 {
				goto taken
			}
		case j32NeK:
			if uint32(r[d]) != uint32(in.imm) {
				goto taken
			}
		case j32NeX:
			if uint32(r[d]) != uint32(r[sr]) {
				goto taken
			}
		case j32SGtK:
			if int32(r[d]) > int32(in.imm) {
				goto taken
			}
		case j32SGtX:
			if int32(r[d]) > int32(r[sr]) {
				goto taken
			}
		case j32SGeK:
			if int32(r[d]) >= int32(in.imm) {
				goto taken
			}
		case j32SGeX:
			if int32(r[d]) >= int32(r[sr]) {
				goto taken
			}
		case j32LtK:
			if uint32(r[d]) < uint32(in.imm) {
				goto taken
			}
		case j32LtX:
			if uint32(r[d]) < uint32(r[sr]) {
				goto taken
			}
		case j32LeK:
			if uint32(r[d]) <= uint32(in.imm) {
				goto taken
			}
		case j32LeX:
			if uint32(r[d]) <= uint32(r[sr]) {
				goto taken
			}
		case j32SLtK:
			if int32(r[d]) < int32(in.imm) {
				goto taken
			}
		case j32SLtX:
			if int32(r[d]) < int32(r[sr]) {
				goto taken
			}
		case j32SLeK:
			if int32(r[d]) <= int32(in.imm) {
				goto taken
			}
		case j32SLeX:
			if int32(r[d]) <= int32(r[sr]) {
				goto taken
			}

		case opCallHelper:
			if in.imm == helperTailCall {
				if s.tailCall(r) {
					base = unsafe.Pointer(unsafe.SliceData(s.prog.code))
					pc = 0
				}
				continue
			}
			v, f := s.call(int32(in.imm), r, pc-1)
			if f != nil {
				*pcp = pc - 1
				return 0, f
			}
			r[0] = v
			clobber(r)
		case opCallLocal:
			if !s.pushFrame(pc, r) {
				*pcp = pc - 1
				return 0, fault(pc-1, "call depth above 8")
			}
			// a call is charged its callee's length (chargeCalls)
			s.steps += int(in.imm)
			if s.steps > InsnLimit {
				*pcp = pc - 1
				return 0, fault(pc-1, "instruction limit (calls that do not end?)")
			}
			pc += int(in.off)
		case opExit:
			if s.depth == 0 {
				*pcp = pc - 1
				return r[0], nil
			}
			pc = s.popFrame(r)

		case opLdImm64:
			r[d] = uint64(in.imm)
			pc++
		case opMovAddK:
			r[d] = r[sr] + uint64(in.imm)
			pc++
		case opMovAddKJgt:
			r[d] = r[sr] + uint64(in.imm)
			pc += 2
			if r[d] > r[in.src2&15] {
				goto taken
			}
		case opLdAbsB, opLdAbsH, opLdAbsW, opLdIndB, opLdIndH, opLdIndW:
			if !s.ldAbs(in, r) {
				// a load outside the packet ends the program with
				// r0 = 0 (the kernel's bpf_skb_load_helper)
				*pcp = pc - 1
				return 0, nil
			}

		case opLdxB:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				r[d] = uint64(s.pkt[o])
			} else if b := s.valAt(a, 1); b != nil {
				r[d] = uint64(b[0])
			} else if v, ok := s.load(a, 1); ok {
				r[d] = v
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 1)
			}
		case opLdxH:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				r[d] = le16(s.pkt[o:])
			} else if b := s.valAt(a, 2); b != nil {
				r[d] = le16(b)
			} else if v, ok := s.load(a, 2); ok {
				r[d] = v
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 2)
			}
		case opLdxW:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				r[d] = le32(s.pkt[o:])
			} else if b := s.valAt(a, 4); b != nil {
				r[d] = le32(b)
			} else if a == mkptr(tagCtx, skbData) && !s.wifi {
				r[d] = mkptr(tagPkt, 0) // skb->data, the most common context load
			} else if a == mkptr(tagCtx, skbDataEnd) && !s.wifi {
				r[d] = mkptr(tagPkt, uint32(len(s.pkt)))
			} else if a == mkptr(tagCtx, wifiData) && s.wifi {
				r[d] = mkptr(tagPkt, 0) // netyard_wifi_md's data and data_end: the same shortcut
			} else if a == mkptr(tagCtx, wifiDataEnd) && s.wifi {
				r[d] = mkptr(tagPkt, uint32(len(s.pkt)))
			} else if v, ok := s.load(a, 4); ok {
				r[d] = v
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 4)
			}
		case opLdxDW:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+8 <= uint64(len(s.pkt)) {
				r[d] = le64(s.pkt[o:])
			} else if b := s.valAt(a, 8); b != nil {
				r[d] = le64(b)
			} else if v, ok := s.load(a, 8); ok {
				r[d] = v
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 8)
			}
		case opLdxSB:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				r[d] = uint64(int64(int8(s.pkt[o])))
			} else if b := s.valAt(a, 1); b != nil {
				r[d] = uint64(int64(int8(b[0])))
			} else if v, ok := s.load(a, 1); ok {
				r[d] = uint64(int64(int8(v)))
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 1)
			}
		case opLdxSH:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				r[d] = uint64(int64(int16(le16(s.pkt[o:]))))
			} else if b := s.valAt(a, 2); b != nil {
				r[d] = uint64(int64(int16(le16(b))))
			} else if v, ok := s.load(a, 2); ok {
				r[d] = uint64(int64(int16(v)))
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 2)
			}
		case opLdxSW:
			a := r[sr] + uint64(in.off)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				r[d] = uint64(int64(int32(le32(s.pkt[o:]))))
			} else if b := s.valAt(a, 4); b != nil {
				r[d] = uint64(int64(int32(le32(b))))
			} else if v, ok := s.load(a, 4); ok {
				r[d] = uint64(int64(int32(v)))
			} else {
				*pcp = pc - 1
				return 0, s.loadFault(pc-1, a, 4)
			}
		case opLdxFpB:
			o := uint32(r[10]) + uint32(in.off)
			r[d] = uint64(s.stack[o])
		case opLdxFpH:
			o := uint32(r[10]) + uint32(in.off)
			r[d] = le16(s.stack[o:])
		case opLdxFpW:
			o := uint32(r[10]) + uint32(in.off)
			r[d] = le32(s.stack[o:])
		case opLdxFpDW:
			o := uint32(r[10]) + uint32(in.off)
			r[d] = le64(s.stack[o:])
		case opStB:
			a := r[d] + uint64(in.off)
			v := uint64(in.imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				s.pkt[o] = byte(v)
			} else if b := s.valAt(a, 1); b != nil {
				b[0] = byte(v)
			} else if !s.store(a, 1, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 1)
			}
		case opStxB:
			a := r[d] + uint64(in.off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+1 <= uint64(len(s.pkt)) {
				s.pkt[o] = byte(v)
			} else if b := s.valAt(a, 1); b != nil {
				b[0] = byte(v)
			} else if !s.store(a, 1, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 1)
			}
		case opStH:
			a := r[d] + uint64(in.off)
			v := uint64(in.imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint16(s.pkt[o:], uint16(v))
			} else if b := s.valAt(a, 2); b != nil {
				binary.LittleEndian.PutUint16(b, uint16(v))
			} else if !s.store(a, 2, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 2)
			}
		case opStxH:
			a := r[d] + uint64(in.off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+2 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint16(s.pkt[o:], uint16(v))
			} else if b := s.valAt(a, 2); b != nil {
				binary.LittleEndian.PutUint16(b, uint16(v))
			} else if !s.store(a, 2, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 2)
			}
		case opStW:
			a := r[d] + uint64(in.off)
			v := uint64(in.imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint32(s.pkt[o:], uint32(v))
			} else if b := s.valAt(a, 4); b != nil {
				binary.LittleEndian.PutUint32(b, uint32(v))
			} else if !s.store(a, 4, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 4)
			}
		case opStxW:
			a := r[d] + uint64(in.off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+4 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint32(s.pkt[o:], uint32(v))
			} else if b := s.valAt(a, 4); b != nil {
				binary.LittleEndian.PutUint32(b, uint32(v))
			} else if !s.store(a, 4, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 4)
			}
		case opStDW:
			a := r[d] + uint64(in.off)
			v := uint64(in.imm)
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+8 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint64(s.pkt[o:], v)
			} else if b := s.valAt(a, 8); b != nil {
				binary.LittleEndian.PutUint64(b, v)
			} else if !s.store(a, 8, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 8)
			}
		case opStxDW:
			a := r[d] + uint64(in.off)
			v := r[sr]
			if o := uint64(uint32(a)); a>>32 == tagPkt && o+8 <= uint64(len(s.pkt)) {
				binary.LittleEndian.PutUint64(s.pkt[o:], v)
			} else if b := s.valAt(a, 8); b != nil {
				binary.LittleEndian.PutUint64(b, v)
			} else if !s.store(a, 8, v) {
				*pcp = pc - 1
				return 0, s.storeFault(pc-1, a, 8)
			}
		case opStFpB:
			o := uint32(r[10]) + uint32(in.off)
			v := uint64(in.imm)
			s.stack[o] = byte(v)
		case opStxFpB:
			o := uint32(r[10]) + uint32(in.off)
			v := r[sr]
			s.stack[o] = byte(v)
		case opStFpH:
			o := uint32(r[10]) + uint32(in.off)
			v := uint64(in.imm)
			binary.LittleEndian.PutUint16(s.stack[o:], uint16(v))
		case opStxFpH:
			o := uint32(r[10]) + uint32(in.off)
			v := r[sr]
			binary.LittleEndian.PutUint16(s.stack[o:], uint16(v))
		case opStFpW:
			o := uint32(r[10]) + uint32(in.off)
			v := uint64(in.imm)
			binary.LittleEndian.PutUint32(s.stack[o:], uint32(v))
		case opStxFpW:
			o := uint32(r[10]) + uint32(in.off)
			v := r[sr]
			binary.LittleEndian.PutUint32(s.stack[o:], uint32(v))
		case opStFpDW:
			o := uint32(r[10]) + uint32(in.off)
			v := uint64(in.imm)
			binary.LittleEndian.PutUint64(s.stack[o:], v)
		case opStxFpDW:
			o := uint32(r[10]) + uint32(in.off)
			v := r[sr]
			binary.LittleEndian.PutUint64(s.stack[o:], v)
		case atAddW, atAddDW, atOrW, atOrDW, atAndW, atAndDW, atXorW, atXorDW,
			atFAddW, atFAddDW, atFOrW, atFOrDW, atFAndW, atFAndDW, atFXorW, atFXorDW,
			atXchgW, atXchgDW, atCmpxchgW, atCmpxchgDW:
			if f := s.atomic(in, r, pc-1); f != nil {
				*pcp = pc - 1
				return 0, f
			}
		default:
			*pcp = pc - 1
			return 0, fault(pc-1, "invalid instruction")
		}
		continue
	taken:
		pc += int(in.off)
		if in.off < 0 {
			// Only a backward jump makes a loop: count the
			// instructions of the loop's body it goes back over.
			s.steps += int(-in.off)
			if s.steps > InsnLimit {
				*pcp = pc
				return 0, fault(pc, "instruction limit (a loop that does not end?)")
			}
		}
	}
}

// valAt is the n bytes at a when they are in the value the last map
// lookup or ring buffer reservation of this run returned (mem's shortcut
// for it, here without the calls of load and store: a ring buffer
// record's fields written one by one, a map value's read), or nil.
func (s *state) valAt(a, n uint64) []byte {
	t, o := a>>32, uint64(uint32(a))
	if t != s.valTag || t == 0 || o < s.valOff || o+n > s.valEnd {
		return nil
	}
	return s.valMem[o : o+n : o+n]
}

// load reads w bytes at a from any region but the packet's fast path.
func (s *state) load(a uint64, w int) (uint64, bool) {
	if a>>32 == tagCtx {
		return s.ctxLoad(uint32(a), w)
	}
	b := s.mem(a, w)
	if b == nil {
		return 0, false
	}
	return getLE(b, w), true
}

// getLE and putLE read and write a w-byte little-endian value.
func getLE(b []byte, w int) uint64 {
	switch w {
	case 1:
		return uint64(b[0])
	case 2:
		return le16(b)
	case 4:
		return le32(b)
	}
	return le64(b)
}

func putLE(b []byte, w int, v uint64) {
	switch w {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	default:
		binary.LittleEndian.PutUint64(b, v)
	}
}

func (s *state) loadFault(pc int, a uint64, w int) *bpf.Fault {
	if a>>32 == tagCtx {
		return fault(pc, "invalid __sk_buff access")
	}
	return s.accessFault(pc, a, w, "read")
}

// store writes w bytes of v at a, in any region but the packet's fast path.
func (s *state) store(a uint64, w int, v uint64) bool {
	if a>>32 == tagCtx {
		if w == 4 && !s.wifi { // __sk_buff's fields tc programs write most
			switch uint32(a) {
			case skbPriority:
				s.buf.Priority = uint32(v)
				return true
			case skbTCClassid:
				s.skb.classid = uint32(uint16(v)) // a u16 in the kernel's qdisc_skb_cb
				return true
			}
		}
		return s.ctxStore(uint32(a), w, v) // netyard_wifi_md's go to wifiStore
	}
	b := s.mem(a, w)
	if b == nil {
		return false
	}
	putLE(b, w, v)
	return true
}

func (s *state) storeFault(pc int, a uint64, w int) *bpf.Fault {
	if a>>32 == tagCtx {
		return fault(pc, "invalid __sk_buff write")
	}
	return s.accessFault(pc, a, w, "write")
}

// tailCall is bpf_tail_call(ctx, prog_array, index): on success the
// target replaces the running program, with r1 = ctx and a fresh frame
// (true); on failure execution goes on (false).
func (s *state) tailCall(r *[16]uint64) bool {
	np := s.tailTarget(r[2], r[3])
	if np == nil || s.tail >= maxTailCalls {
		r[0] = uint64(math.MaxUint64 - eNOENT + 1) // -ENOENT; the kernel leaves r0 undefined
		clobber(r)
		return false
	}
	s.tail++
	s.prog = np
	s.valTag, s.j.valTag = 0, 0 // map indices are the new program's
	r[1] = mkptr(tagCtx, 0)
	r[10] = mkptr(tagStack, uint32(stackSize))
	s.depth = 0
	return true
}

// pushFrame enters a bpf-to-bpf call returning to ret.
func (s *state) pushFrame(ret int, r *[16]uint64) bool {
	if s.depth >= maxCallDepth-1 {
		return false
	}
	fr := &s.frames[s.depth]
	fr.ret = ret
	fr.regs = [4]uint64{r[6], r[7], r[8], r[9]}
	fr.fp = r[10]
	s.depth++
	r[10] = mkptr(tagStack, uint32((s.depth+1)*stackSize))
	return true
}

// popFrame returns from a bpf-to-bpf call: the pc to go on at.
func (s *state) popFrame(r *[16]uint64) int {
	s.depth--
	fr := &s.frames[s.depth]
	r[6], r[7], r[8], r[9] = fr.regs[0], fr.regs[1], fr.regs[2], fr.regs[3]
	r[10] = fr.fp
	return fr.ret
}

// ldAbs is LD_ABS and LD_IND: r0 = the packet's big-endian byte, half or
// word at imm (plus src for IND); false when it is outside the packet.
func (s *state) ldAbs(in *insn, r *[16]uint64) bool {
	off := int64(int32(in.imm))
	if in.op >= opLdIndB {
		off = int64(int32(uint32(r[in.src&15]) + uint32(in.imm)))
	}
	w := int64(1) << ((in.op - opLdAbsB) % 3)
	if off < 0 || off+w > int64(len(s.pkt)) {
		return false
	}
	b := s.pkt[off : off+w]
	switch w {
	case 1:
		r[0] = uint64(b[0])
	case 2:
		r[0] = uint64(binary.BigEndian.Uint16(b))
	default:
		r[0] = uint64(binary.BigEndian.Uint32(b))
	}
	clobber(r)
	return true
}

// clobber marks r1..r5 dead after a call: the load check rejects reading
// them, so their values do not matter; zero them so that no pointer
// survives.
func clobber(r *[16]uint64) { r[1], r[2], r[3], r[4], r[5] = 0, 0, 0, 0, 0 }

func (s *state) accessFault(pc int, a uint64, w int, what string) *bpf.Fault {
	switch a >> 32 {
	case tagPkt:
		return fault(pc, what+" outside packet (past data_end)")
	case tagStack:
		return fault(pc, what+" outside stack")
	case 0:
		return fault(pc, what+" through a NULL or scalar pointer")
	}
	if t := a >> 32; t >= tagMapVal && t < tagMapVal+maxMaps {
		return fault(pc, what+" outside map value")
	}
	return fault(pc, what+" through an invalid pointer")
}

// Signed division and modulo (cpu v4) as the kernel defines them: x/0 is
// 0, x%0 is x, and INT_MIN/-1 is INT_MIN (INT_MIN%-1 is 0) instead of a
// trap.
func sdiv64(a, b uint64) uint64 {
	if b == 0 {
		return 0
	}
	if int64(b) == -1 {
		return -a
	}
	return uint64(int64(a) / int64(b))
}

func smod64(a, b uint64) uint64 {
	if b == 0 {
		return a
	}
	if int64(b) == -1 {
		return 0
	}
	return uint64(int64(a) % int64(b))
}

func sdiv32(a, b uint64) uint64 {
	if uint32(b) == 0 {
		return 0
	}
	if int32(b) == -1 {
		return uint64(-uint32(a))
	}
	return uint64(uint32(int32(a) / int32(b)))
}

func smod32(a, b uint64) uint64 {
	if uint32(b) == 0 {
		return uint64(uint32(a))
	}
	if int32(b) == -1 {
		return 0
	}
	return uint64(uint32(int32(a) % int32(b)))
}

// atomic runs an atomic instruction on a checked, aligned address. Map
// values and the stack are shared with other workers only through maps;
// the operation is a real atomic there.
func (s *state) atomic(in *insn, r *[16]uint64, pc int) *bpf.Fault {
	a := r[in.dst&15] + uint64(in.off)
	if in.op == atAddDW && a&7 == 0 {
		// a counter in the value the last lookup returned
		// (__sync_fetch_and_add whose result is unused)
		if b := s.valAt(a, 8); b != nil {
			if p := unsafe.Pointer(&b[0]); uintptr(p)&7 == 0 {
				atomic.AddUint64((*uint64)(p), r[in.src&15])
				return nil
			}
		}
	}
	dw := (in.op-atAddW)%2 == 1
	w := 4
	if dw {
		w = 8
	}
	if a>>32 == tagCtx || a&uint64(w-1) != 0 {
		return fault(pc, "misaligned or invalid atomic access")
	}
	b := s.mem(a, w)
	if b == nil {
		return s.accessFault(pc, a, w, "atomic")
	}
	if uintptr(unsafe.Pointer(&b[0]))&uintptr(w-1) != 0 {
		return fault(pc, "misaligned atomic access")
	}
	src := &r[in.src&15]
	if dw {
		p := (*uint64)(unsafe.Pointer(&b[0]))
		switch in.op {
		case atAddDW:
			atomic.AddUint64(p, *src)
		case atOrDW:
			atomic.OrUint64(p, *src)
		case atAndDW:
			atomic.AndUint64(p, *src)
		case atXorDW:
			casLoop64(p, func(o uint64) uint64 { return o ^ *src })
		case atFAddDW:
			*src = atomic.AddUint64(p, *src) - *src
		case atFOrDW:
			*src = atomic.OrUint64(p, *src)
		case atFAndDW:
			*src = atomic.AndUint64(p, *src)
		case atFXorDW:
			v := *src
			*src = casLoop64(p, func(o uint64) uint64 { return o ^ v })
		case atXchgDW:
			*src = atomic.SwapUint64(p, *src)
		case atCmpxchgDW:
			for {
				old := atomic.LoadUint64(p)
				if old != r[0] {
					r[0] = old
					break
				}
				if atomic.CompareAndSwapUint64(p, old, *src) {
					r[0] = old
					break
				}
			}
		}
		return nil
	}
	p := (*uint32)(unsafe.Pointer(&b[0]))
	v := uint32(*src)
	switch in.op {
	case atAddW:
		atomic.AddUint32(p, v)
	case atOrW:
		atomic.OrUint32(p, v)
	case atAndW:
		atomic.AndUint32(p, v)
	case atXorW:
		casLoop32(p, func(o uint32) uint32 { return o ^ v })
	case atFAddW:
		*src = uint64(atomic.AddUint32(p, v) - v)
	case atFOrW:
		*src = uint64(atomic.OrUint32(p, v))
	case atFAndW:
		*src = uint64(atomic.AndUint32(p, v))
	case atFXorW:
		*src = uint64(casLoop32(p, func(o uint32) uint32 { return o ^ v }))
	case atXchgW:
		*src = uint64(atomic.SwapUint32(p, v))
	case atCmpxchgW:
		for {
			old := atomic.LoadUint32(p)
			if old != uint32(r[0]) {
				r[0] = uint64(old)
				break
			}
			if atomic.CompareAndSwapUint32(p, old, v) {
				r[0] = uint64(old)
				break
			}
		}
	}
	return nil
}

func casLoop64(p *uint64, f func(uint64) uint64) uint64 {
	for {
		o := atomic.LoadUint64(p)
		if atomic.CompareAndSwapUint64(p, o, f(o)) {
			return o
		}
	}
}

func casLoop32(p *uint32, f func(uint32) uint32) uint32 {
	for {
		o := atomic.LoadUint32(p)
		if atomic.CompareAndSwapUint32(p, o, f(o)) {
			return o
		}
	}
}
