package ebpf

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"netyard/bpf"
	"netyard/pkt"
	"netyard/wifi/radiotap"
)

// The JIT (jit_linux_amd64.go) against exec, the interpreter: the same
// program, loaded twice with maps of its own, runs on the same packets in
// both forms, and after every run the return value, the fault, the
// registers, the stacks, the packet, the packet's metadata, the context
// fields outside it, what the helpers told the environment and, at the
// end, the maps and ring buffers must be the same. The kernel
// differential tests (kernel_linux_test.go) hold the JIT, the default
// here, to the kernel as well.

// side is one form's program and what it runs with.
type side struct {
	p      *Program
	env    *bpf.Env
	rand   uint64
	clones []string // what bpf_clone_redirect was asked to send
}

func newSide(p *Program, interp bool) *side {
	sd := &side{p: p, rand: 0x9e3779b97f4a7c15}
	if interp {
		p.jit = nil
	}
	sd.env = &bpf.Env{Ifindex: 1, Now: 1e9, Rand: &sd.rand, Scratch: NewScratch()}
	sd.env.CloneRedirect = func(b *pkt.Buffer, ifindex int32, flags uint64) int64 {
		sd.clones = append(sd.clones, fmt.Sprintf("%d %d %x", ifindex, flags, b.Data()))
		return 0
	}
	return sd
}

// run runs the side's program once and describes everything it changed.
func (sd *side) run(t testing.TB, data []byte, x skbExtra) string {
	b, err := testPool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if err := b.SetData(data); err != nil {
		t.Fatal(err)
	}
	b.Mark, b.Priority, b.Time, b.KeepLen = 0x2a, 5, 0x1122334455667788, 9
	// distinct values in every receive field, so that a load of the
	// wrong one shows
	b.Radio = radiotap.Fields{TSFT: 0x0102030405060708, Present: 0x80000a2f, Freq: 2437, ChanFlags: 0xa0,
		Flags: 0x12, Signal: -42, Noise: -95, Antenna: 3, MCSKnown: 1, MCSFlags: 2, MCSIndex: 7}
	ret, err := sd.p.runWith(b, sd.env, &x)
	s := sd.env.Scratch.(*state)
	var w strings.Builder
	fmt.Fprintf(&w, "ret %#x err %v\nregs %x steps %d depth %d tail %d\n", ret, err, s.regs[:11], s.steps, s.depth, s.tail)
	fmt.Fprintf(&w, "stack %x\n", s.stack)
	fmt.Fprintf(&w, "pkt %x\nmeta %+v\n", b.Data(), b.Meta)
	fmt.Fprintf(&w, "skb %+v\nenv class %#x redirect %d %#x rand %#x\nclones %q\n",
		x, sd.env.ClassID, sd.env.RedirectIfindex, sd.env.RedirectFlags, sd.rand, sd.clones)
	return w.String()
}

// maps describes the side's maps: every element, every ring record.
func (sd *side) maps() string {
	var w strings.Builder
	for _, m := range sd.p.maps {
		fmt.Fprintf(&w, "map %s:", m.spec.Name)
		if m.ring != nil {
			m.ReadRecords(func(rec []byte) { fmt.Fprintf(&w, " %x", rec) })
			w.WriteString("\n")
			continue
		}
		if m.progs != nil {
			w.WriteString(" prog array\n")
			continue
		}
		var els []string
		m.Iterate(func(k, v []byte) bool {
			els = append(els, hex.EncodeToString(k)+"="+hex.EncodeToString(v))
			return true
		})
		sort.Strings(els)
		fmt.Fprintf(&w, " %v\n", els)
	}
	return w.String()
}

// compareForms runs interp and compiled (the JIT), two loads of one program, on
// every packet with every starting context and fails at the first
// difference.
func compareForms(t testing.TB, what string, interp, compiled *Program, pkts [][]byte, xs []skbExtra) {
	t.Helper()
	if compiled.jit == nil {
		t.Fatalf("%s: not compiled", what)
	}
	a, b := newSide(interp, true), newSide(compiled, false)
	for i, data := range pkts {
		for _, x := range xs {
			ra, rb := a.run(t, data, x), b.run(t, data, x)
			if ra != rb {
				t.Fatalf("%s, packet %d, skb %+v:\n%s", what, i, x, lineDiff(ra, rb))
			}
		}
	}
	if ma, mb := a.maps(), b.maps(); ma != mb {
		t.Fatalf("%s: maps differ\ninterpreter:\n%s\nJIT:\n%s", what, ma, mb)
	}
	if _, _, rec := compiled.Stats(); rec != 0 {
		t.Fatalf("%s: a panic was recovered", what)
	}
}

// lineDiff shows the lines of two descriptions that differ.
func lineDiff(a, b string) string {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	var w strings.Builder
	for i := range max(len(la), len(lb)) {
		var x, y string
		if i < len(la) {
			x = la[i]
		}
		if i < len(lb) {
			y = lb[i]
		}
		if x != y {
			fmt.Fprintf(&w, "interpreter: %s\nJIT:         %s\n", x, y)
		}
	}
	return w.String()
}

func corpusData() [][]byte {
	var out [][]byte
	for _, c := range corpus() {
		out = append(out, c.data)
	}
	return out
}

var startContexts = []skbExtra{{}, {cb: [20]byte{1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5}, tcIndex: 7, classid: 0x10002}}

// TestJITMatchesInterpreter: the examples and every test program of
// testdata/progs.o on the packet corpus, random programs (those the
// kernel's verifier would refuse too, which fault), and hand-written
// programs for what the others do not reach (loops that hit the
// instruction limit, recursion past 8 frames, LD_ABS past the packet in
// a subprogram).
func TestJITMatchesInterpreter(t *testing.T) {
	pkts := corpusData()
	for _, path := range []string{"../../examples/bpf/flow_counter.o", "../../examples/bpf/dscp_classifier.o",
		"../../examples/bpf/sampler.o", "../../examples/bpf/wifi_monitor.o", "../../examples/bpf/wifi_probes.o", "testdata/progs.o", "testdata/wifi.o"} {
		spec, err := cebpf.LoadCollectionSpec(path)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for n, ps := range spec.Programs {
			if ps.Type == cebpf.SchedCLS || IsWifiSection(ps.SectionName) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			load := func() *Program {
				p, err := NewLoader(1).Load("t", bytes.NewReader(raw), name)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			compareForms(t, path+" "+name, load(), load(), pkts, startContexts)
		}
	}

	few := [][]byte{pkts[0], pkts[2], pkts[15], pkts[len(pkts)/2], pkts[len(pkts)-1], pkts[0][:15], nil}
	for seed := uint64(0); seed < 300; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
		raw := randProgram(rng, 8+rng.IntN(40))
		a, err1 := NewProgram("random", raw, nil, 1)
		b, err2 := NewProgram("random", raw, nil, 1)
		if err1 != nil || err2 != nil {
			t.Fatalf("seed %d: %v %v", seed, err1, err2)
		}
		compareForms(t, fmt.Sprintf("random seed %d", seed), a, b, few, startContexts[:1])
	}

	for _, tc := range []struct {
		name  string
		insns asm.Instructions
	}{
		{"endless loop", asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Add.Imm(asm.R0, 1).WithSymbol("l"),
			asm.JNE.Imm(asm.R0, 0, "l"),
			asm.Return(),
		}},
		{"endless ja", asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Ja.Label("l").WithSymbol("l"),
			asm.Return(),
		}},
		{"recursion", asm.Instructions{
			asm.Mov.Imm(asm.R0, 0),
			asm.Call.Label("f"), asm.Return(),
			asm.Add.Imm(asm.R1, 1).WithSymbol("f"),
			asm.Call.Label("f"), asm.Return(),
		}},
		{"ld_abs past the packet in a subprogram", asm.Instructions{
			asm.Mov.Reg(asm.R6, asm.R1),
			asm.Mov.Imm(asm.R0, 3),
			asm.Call.Label("f"),
			asm.Add.Imm(asm.R0, 1),
			asm.Return(),
			asm.Mov.Reg(asm.R6, asm.R1).WithSymbol("f"),
			asm.LoadAbs(12, asm.Half),
			asm.LoadAbs(4000, asm.Word),
			asm.Return(),
		}},
		{"counted loop over the packet", asm.Instructions{
			asm.LoadMem(asm.R2, asm.R1, skbData, asm.Word),
			asm.LoadMem(asm.R3, asm.R1, skbDataEnd, asm.Word),
			asm.Mov.Imm(asm.R0, 0),
			asm.Mov.Reg(asm.R4, asm.R2).WithSymbol("l"),
			asm.Add.Imm(asm.R4, 1),
			asm.JGT.Reg(asm.R4, asm.R3, "out"),
			asm.LoadMem(asm.R5, asm.R2, 0, asm.Byte),
			asm.Add.Reg(asm.R0, asm.R5),
			asm.Add.Imm(asm.R2, 1),
			asm.Ja.Label("l"),
			asm.Return().WithSymbol("out"),
		}},
	} {
		raw := mustRaw(t, tc.insns)
		a, err1 := NewProgram(tc.name, raw, nil, 1)
		b, err2 := NewProgram(tc.name, raw, nil, 1)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: %v %v", tc.name, err1, err2)
		}
		compareForms(t, tc.name, a, b, few, startContexts[:1])
	}
}

// TestJITRegisterPairs: the operations the JIT compiles with fixed x86
// registers (division and remainder use rax and rdx, which hold r0 and
// r3; shifts by a register use cl, which holds r4) with every pairing
// of those registers and others as destination and source, divisors 0,
// 7 and -1, shift counts past the width; all registers are compared.
func TestJITRegisterPairs(t *testing.T) {
	regs := []asm.Register{asm.R0, asm.R1, asm.R3, asm.R4, asm.R5, asm.R9}
	type opf func(dst, src asm.Register) asm.Instruction
	ops := map[string]opf{
		"div64": asm.Div.Reg, "mod64": asm.Mod.Reg, "div32": asm.Div.Reg32, "mod32": asm.Mod.Reg32,
		"lsh64": asm.LSh.Reg, "rsh64": asm.RSh.Reg, "arsh64": asm.ArSh.Reg,
		"lsh32": asm.LSh.Reg32, "rsh32": asm.RSh.Reg32, "arsh32": asm.ArSh.Reg32,
	}
	pkts := [][]byte{corpusData()[0]}
	for name, f := range ops {
		for _, d := range regs {
			for _, sr := range regs {
				for _, v := range []int64{0, 7, -1, 65, 0x7fffffff12345678} {
					var insns asm.Instructions
					for i, r := range regs {
						insns = append(insns, asm.LoadImm(r, int64(-0x123456789abcd)*int64(i+3), asm.DWord))
					}
					insns = append(insns, asm.LoadImm(sr, v, asm.DWord), f(d, sr), asm.Return())
					raw := mustRaw(t, insns)
					a, err1 := NewProgram(name, raw, nil, 1)
					b, err2 := NewProgram(name, raw, nil, 1)
					if err1 != nil || err2 != nil {
						t.Fatalf("%s: %v %v\n%s", name, err1, err2, dump(raw))
					}
					compareForms(t, fmt.Sprintf("%s r%d, r%d (r%d = %#x)", name, d, sr, sr, v), a, b, pkts, startContexts[:1])
				}
			}
		}
	}
	for _, name := range []string{"div64", "mod64", "div32", "mod32"} {
		for _, k := range []int32{7, -1, 1, -0x80000000} {
			f := map[string]func(asm.Register, int32) asm.Instruction{"div64": asm.Div.Imm, "mod64": asm.Mod.Imm, "div32": asm.Div.Imm32, "mod32": asm.Mod.Imm32}[name]
			for _, d := range regs {
				raw := mustRaw(t, asm.Instructions{asm.LoadImm(asm.R0, 5, asm.DWord), asm.LoadImm(d, -0x123456789abcd, asm.DWord), asm.LoadImm(asm.R3, 99, asm.DWord), f(d, k), asm.Return()})
				a, err1 := NewProgram(name, raw, nil, 1)
				b, err2 := NewProgram(name, raw, nil, 1)
				if err1 != nil || err2 != nil {
					t.Fatalf("%s: %v %v", name, err1, err2)
				}
				compareForms(t, fmt.Sprintf("%s r%d, %d", name, d, k), a, b, pkts, startContexts[:1])
			}
		}
	}
}

// TestJITContextFields: a load and a store of every width at every
// offset of both contexts (__sk_buff and netyard_wifi_md), valid or not,
// through the machine code's shortcuts or Go, as the interpreter.
func TestJITContextFields(t *testing.T) {
	pkts := [][]byte{corpusData()[0]}
	sizes := map[asm.Size]int{asm.Byte: 1, asm.Half: 2, asm.Word: 4, asm.DWord: 8}
	for _, wifi := range []bool{false, true} {
		for off := int16(-4); off < skbSize+8; off++ {
			for sz, w := range sizes {
				sizeBits := map[int]uint8{1: sizeB, 2: sizeH, 4: sizeW, 8: sizeDW}[w]
				for _, raw := range [][]RawInsn{
					mustRaw(t, asm.Instructions{asm.LoadMem(asm.R0, asm.R1, off, sz), asm.Return()}),
					mustRaw(t, asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1), asm.LoadImm(asm.R2, 0x1234567890abcdef, asm.DWord),
						asm.StoreMem(asm.R6, off, asm.R2, sz), asm.LoadMem(asm.R0, asm.R6, off&^int16(w-1), sz), asm.Return()}),
					// cilium/ebpf's asm has no 8-byte store of an immediate
					{{Op: 0xbf, Dst: 6, Src: 1}, {Op: clsST | modeMEM | sizeBits, Dst: 6, Off: off, Imm: 0xfffe},
						{Op: 0xb7}, {Op: 0x95}},
				} {
					a, err1 := NewProgram("ctx", raw, nil, 1)
					b, err2 := NewProgram("ctx", raw, nil, 1)
					if err1 != nil || err2 != nil {
						t.Fatalf("%v %v\n%s", err1, err2, dump(raw))
					}
					a.SetWifiContext(wifi)
					b.SetWifiContext(wifi)
					compareForms(t, fmt.Sprintf("wifi %v off %d width %d\n%s", wifi, off, w, dump(raw)), a, b, pkts, startContexts)
				}
			}
		}
	}
}

// FuzzJIT: any instruction bytes that load run the same in both forms, with a hash map, an array and a ring buffer to reach (two sets:
// each form has its own).
func FuzzJIT(f *testing.F) {
	f.Add([]byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x61, 0x21, 76, 0, 0, 0, 0, 0, 0x71, 0x02, 5, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xb7, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0xff, 0xff, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	// r1 = map a; r2 = fp - 4; *(u32 *)(fp - 4) = 1; call lookup; if r0 == 0 goto exit; lock *(u64 *)(r0) += 1; exit
	seed, err := FromAsm(asm.Instructions{
		asm.StoreImm(asm.RFP, -4, 1, asm.Word),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, 0).WithReference("a"),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.Mov.Imm(asm.R1, 1),
		asm.StoreXAdd(asm.R0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
		asm.Return(),
	}, func(string) (int, error) { return 1, nil })
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rawBytes(seed))
	pks := [][]byte{corpus()[0].data[:15], corpus()[0].data}
	f.Fuzz(func(t *testing.T, code []byte) {
		raw := rawFromBytes(code)
		a, err := NewProgram("fuzz", raw, fuzzMaps(t), 1)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("not a LoadError: %v", err)
			}
			return
		}
		b, err := NewProgram("fuzz", raw, fuzzMaps(t), 1)
		if err != nil {
			t.Fatal(err)
		}
		compareForms(t, "fuzz", a, b, pks, startContexts)
	})
}

func fuzzMaps(t testing.TB) []*Map {
	var out []*Map
	for _, s := range []MapSpec{
		{Name: "m", Type: MapHash, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Name: "a", Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 4},
		{Name: "r", Type: MapRingbuf, MaxEntries: 4096},
	} {
		m, err := NewMap(s, 1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func rawBytes(raw []RawInsn) []byte {
	var out []byte
	for _, r := range raw {
		out = append(out, r.Op, r.Dst|r.Src<<4, byte(r.Off), byte(uint16(r.Off)>>8))
		out = binary.LittleEndian.AppendUint32(out, uint32(r.Imm))
	}
	return out
}

// TestJITSelfTailCallFromCalledMain: the main function called as a
// bpf-to-bpf function (a call to insn 0 passes the load check) tail-calls
// itself: the target starts at frame 0, as in exec's tailCall (the JIT
// kept the stale frames when the target was the running program).
func TestJITSelfTailCallFromCalledMain(t *testing.T) {
	raw := []RawInsn{
		{Op: 0x15, Dst: 1, Off: 4},         // 0: if r1 == 0 goto 5
		{Op: 0xb7, Dst: 1},                 // 1: r1 = 0
		{Op: 0x85, Src: 1, Imm: -3},        // 2: call 0 (main, as a function)
		{Op: 0x07, Dst: 0, Imm: 100},       // 3: r0 += 100
		{Op: 0x95},                         // 4: exit
		{Op: 0x18, Dst: 2, Src: 1, Imm: 0}, // 5: r2 = prog array
		{},
		{Op: 0xb7, Dst: 3},         // 7: r3 = 0
		{Op: 0x85, Imm: 12},        // 8: tail_call(r1, r2, 0): itself
		{Op: 0xb7, Dst: 0, Imm: 1}, // 9: r0 = 1
		{Op: 0x95},                 // 10: exit
	}
	load := func() *Program {
		m, err := NewMap(MapSpec{Name: "pa", Type: MapProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 1}, 1)
		if err != nil {
			t.Fatal(err)
		}
		p, err := NewProgram("selftail", raw, []*Map{m}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.SetProg(0, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	compareForms(t, "self tail call from main called as a function", load(), load(), [][]byte{corpusData()[0]}, startContexts[:1])
}

// callTree is main calling f0, and f_k calling f_(k+1) n times, up to f6.
func callTree(n int) []RawInsn {
	raw := []RawInsn{{Op: 0x85, Src: 1, Imm: 1}, {Op: 0x95}} // main: call f0; exit
	for k := 0; k < 6; k++ {
		// f_k: n calls of f_{k+1}; exit. f_{k+1} starts right after.
		for i := 0; i < n; i++ {
			raw = append(raw, RawInsn{Op: 0x85, Src: 1, Imm: int32(n - i)})
		}
		raw = append(raw, RawInsn{Op: 0x95})
	}
	return append(raw, RawInsn{Op: 0xb7}, RawInsn{Op: 0x95}) // f6: r0 = 0; exit
}

// TestCallTreeIsLimited: a tree of bpf-to-bpf calls without a loop (main
// calls f0, each f_k calls f_(k+1) 24 times: 24^6 calls in 154
// instructions) is stopped by the instruction limit in both forms, with
// the same fault (calls are charged their callee's length,
// chargeCalls), within milliseconds; a GC meanwhile waits no longer.
// Before calls were charged, the machine code ran it for 0.5 s with no
// safe point, and a GC waited as long (the interpreter: 2.3 s).
func TestCallTreeIsLimited(t *testing.T) {
	for _, jit := range []bool{false, true} {
		p, err := NewProgram("tree", callTree(24), nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !jit {
			p.jit = nil
		} else if p.jit == nil {
			t.Fatal("not compiled")
		}
		b := newBuf(t, corpusData()[0])
		t0 := time.Now()
		_, err = p.Run(b, &bpf.Env{Ifindex: 1})
		run := time.Since(t0)
		if err == nil || !strings.Contains(err.Error(), "instruction limit") {
			t.Fatalf("jit %v: %v, want the instruction limit", jit, err)
		}
		if run > 500*time.Millisecond {
			t.Errorf("jit %v: the run took %v", jit, run)
		}
	}
	a, _ := NewProgram("tree", callTree(24), nil, 1)
	c, _ := NewProgram("tree", callTree(24), nil, 1)
	compareForms(t, "call tree", a, c, [][]byte{corpusData()[0]}, startContexts[:1])
}

// TestJITRecompileUnmapsOld: SetWifiContext compiles the program again;
// the code it replaces is unmapped once no run holds it (it stayed
// mapped, and counted against jitMaxPrograms, as long as the program
// lived). The loader compiles a netyard/wifi program once, for its
// context.
func TestJITRecompileUnmapsOld(t *testing.T) {
	raw := []RawInsn{{Op: 0xb7}, {Op: 0x95}}
	p, err := NewProgram("w", raw, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	n0 := jitPrograms.Load()
	for i := 0; i < 10; i++ {
		p.SetWifiContext(i%2 == 0)
	}
	// the replaced code is unmapped once collected
	// (other tests' programs may be collected meanwhile: at most n0)
	for i := 0; i < 100 && jitPrograms.Load() > n0; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(p)
	if d := jitPrograms.Load() - n0; d > 0 {
		t.Errorf("one live program, %d more mappings after 10 flips and GCs", d)
	}
	if p.jit == nil {
		t.Fatal("the program lost its code")
	}
}

// FuzzJITTailCalls: FuzzJIT with a fourth map, a prog array whose slot 0 is
// the program itself (tail calls succeed) and slot 1 an interpreted copy.
func FuzzJITTailCalls(f *testing.F) {
	f.Add([]byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	pks := [][]byte{corpus()[0].data[:15], corpus()[0].data}
	f.Fuzz(func(t *testing.T, code []byte) {
		raw := rawFromBytes(code)
		mk := func(interp bool) *Program {
			ms := fuzzMaps(t)
			pa, err := NewMap(MapSpec{Name: "pa", Type: MapProgArray, KeySize: 4, ValueSize: 4, MaxEntries: 2}, 1)
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, pa)
			p, err := NewProgram("fuzz", raw, ms, 1)
			if err != nil {
				return nil
			}
			q, _ := NewProgram("fuzz", raw, ms, 1)
			q.jit = nil
			pa.SetProg(0, p)
			pa.SetProg(1, q)
			return p
		}
		a := mk(true)
		if a == nil {
			return
		}
		compareForms(t, "fuzz", a, mk(false), pks, startContexts)
	})
}

// TestJITValueCacheCases: the machine code's value cache against the
// interpreter's when two array values are live and the older one is
// written, after a ring record's submit or discard, and with 32-bit
// fetch-adds.
func TestJITValueCacheCases(t *testing.T) {
	idx := func(n string) (int, error) { return map[string]int{"m": 0, "a": 1, "r": 2}[n], nil }
	lookupA := func(k int32) asm.Instructions {
		return asm.Instructions{
			asm.StoreImm(asm.RFP, -4, int64(k), asm.Word),
			asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -4),
			asm.LoadMapPtr(asm.R1, 0).WithReference("a"),
			asm.FnMapLookupElem.Call(),
		}
	}
	cat := func(xs ...asm.Instructions) asm.Instructions {
		var o asm.Instructions
		for _, x := range xs {
			o = append(o, x...)
		}
		return o
	}
	cases := map[string]asm.Instructions{
		"two array values, older one written": cat(lookupA(1), asm.Instructions{asm.JEq.Imm(asm.R0, 0, "out"), asm.Mov.Reg(asm.R6, asm.R0)},
			lookupA(2), asm.Instructions{asm.JEq.Imm(asm.R0, 0, "out"), asm.StoreImm(asm.R6, 4, 7, asm.Word), asm.StoreImm(asm.R0, 0, 9, asm.Word),
				asm.LoadMem(asm.R0, asm.R6, 3, asm.Byte), asm.LoadMem(asm.R1, asm.R6, 7, asm.Byte), asm.Add.Reg(asm.R0, asm.R1),
				asm.StoreMem(asm.R6, -1, asm.R0, asm.Byte), // just before element 1: element 0's last byte
				asm.Mov.Imm(asm.R1, -3), asm.StoreXAdd(asm.R6, asm.R1, asm.Word),
				asm.Return().WithSymbol("out")}),
		"ring write after submit": cat(asm.Instructions{
			asm.LoadMapPtr(asm.R1, 2).WithReference("r"), asm.Mov.Imm(asm.R2, 16), asm.Mov.Imm(asm.R3, 0),
			asm.FnRingbufReserve.Call(), asm.JEq.Imm(asm.R0, 0, "out"), asm.Mov.Reg(asm.R6, asm.R0),
			asm.StoreImm(asm.R6, 8, 5, asm.Word),
			asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Imm(asm.R2, 0), asm.FnRingbufSubmit.Call(),
			asm.StoreImm(asm.R6, 0, 6, asm.Word),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return()}),
		"ring discard then array then ring write": cat(asm.Instructions{
			asm.LoadMapPtr(asm.R1, 2).WithReference("r"), asm.Mov.Imm(asm.R2, 16), asm.Mov.Imm(asm.R3, 0),
			asm.FnRingbufReserve.Call(), asm.JEq.Imm(asm.R0, 0, "out"), asm.Mov.Reg(asm.R7, asm.R0)},
			lookupA(0), asm.Instructions{asm.JEq.Imm(asm.R0, 0, "out"), asm.Mov.Reg(asm.R6, asm.R0),
				asm.Mov.Reg(asm.R1, asm.R7), asm.Mov.Imm(asm.R2, 0), asm.FnRingbufDiscard.Call(),
				asm.StoreImm(asm.R6, 0, 3, asm.Word),
				asm.StoreImm(asm.R7, 0, 6, asm.Word),
				asm.Mov.Imm(asm.R0, 0).WithSymbol("out"), asm.Return()}),
		"queue mapping": {asm.Mov.Imm(asm.R2, 0xfffe), asm.StoreMem(asm.R1, skbQueueMapping, asm.R2, asm.Word),
			asm.Mov.Imm(asm.R2, 0xffff), asm.StoreMem(asm.R1, skbQueueMapping, asm.R2, asm.Word),
			asm.LoadMem(asm.R0, asm.R1, skbQueueMapping, asm.Word), asm.Return()},
		"fetch add w on array": cat(lookupA(3), asm.Instructions{asm.JEq.Imm(asm.R0, 0, "out"),
			asm.LoadImm(asm.R1, -1, asm.DWord), asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
			asm.LoadImm(asm.R2, 0x1_0000_0002, asm.DWord),
			{OpCode: asm.OpCode(0xc3), Dst: asm.R0, Src: asm.R2, Offset: 4, Constant: 1},
			{OpCode: asm.OpCode(0xdb), Dst: asm.R0, Src: asm.R0, Offset: 0, Constant: 1},
			asm.Add.Reg(asm.R0, asm.R2),
			asm.Return().WithSymbol("out")}),
	}
	for name, insns := range cases {
		raw, err := FromAsm(insns, idx)
		if err != nil {
			t.Fatal(name, err)
		}
		a, err := NewProgram(name, raw, fuzzMaps(t), 1)
		if err != nil {
			t.Fatal(name, err)
		}
		b, _ := NewProgram(name, raw, fuzzMaps(t), 1)
		compareForms(t, name, a, b, [][]byte{corpusData()[0]}, startContexts)
		sd := newSide(b, false)
		t.Logf("%s: %s", name, sd.run(t, corpusData()[0], skbExtra{})[:60])
	}
}

// TestJITRecoversGoPanic: a panic in the Go that runs an instruction for
// the machine code (here forced: the program's decoded code is cut short
// under its machine code, so the exit's instruction is out of range) is
// recovered, counted and a fault naming the instruction, and the worker's
// scratch works for the next run.
func TestJITRecoversGoPanic(t *testing.T) {
	raw := mustRaw(t, asm.Instructions{
		asm.Mov.Imm(asm.R0, 1),
		asm.Mov.Imm(asm.R0, 2),
		asm.FnKtimeGetNs.Call(), // an exit to Go at insn 2
		asm.Return(),
	})
	p, err := NewProgram("panic", raw, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p.jit == nil {
		t.Fatal("not compiled")
	}
	good, _ := NewProgram("good", raw, nil, 1)
	env := &bpf.Env{Ifindex: 1, Scratch: NewScratch()}
	p.code = p.code[:2]
	_, err = p.Run(newBuf(t, corpusData()[0]), env)
	var f *bpf.Fault
	if !errors.As(err, &f) || f.PC != 2 || !strings.Contains(f.Reason, "internal error") {
		t.Fatalf("err %v, want a recovered internal error at insn 2", err)
	}
	if _, _, rec := p.Stats(); rec != 1 {
		t.Fatalf("recovered %d, want 1", rec)
	}
	if _, err := good.Run(newBuf(t, corpusData()[0]), env); err != nil {
		t.Fatalf("the next run on the same scratch: %v", err)
	}
}
