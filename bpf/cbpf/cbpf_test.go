package cbpf

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	xbpf "golang.org/x/net/bpf"

	"netyard/bpf"
	"netyard/bpf/cbpf/cbpftest"
	"netyard/internal/testutil"
	"netyard/pkt"
)

// TestParse: tc's bytecode string and file forms, and errors that name the
// instruction.
func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		file     bool
		want     []Insn
		err      string
	}{
		{name: "tcpdump tr form", in: "2,40 0 0 12,6 0 0 0,", want: []Insn{{40, 0, 0, 12}, {6, 0, 0, 0}}},
		{name: "no trailing comma, spaces", in: " 2 , 40 0 0 12 ,6 0 0 262144", want: []Insn{{40, 0, 0, 12}, {6, 0, 0, 262144}}},
		{name: "file form", in: "2\n40 0 0 12\r\n6 0 0 4294967295\n", file: true, want: []Insn{{40, 0, 0, 12}, {6, 0, 0, 0xffffffff}}},
		{name: "no count", in: "40 0 0 12", err: "expected \"N,code"},
		{name: "count zero", in: "0,", err: "count 0"},
		{name: "count too big", in: "4097,6 0 0 0", err: "count 4097"},
		{name: "fewer than the count", in: "3,6 0 0 0,6 0 0 0", err: "found 2"},
		{name: "more than the count", in: "1,6 0 0 0,6 0 0 0", err: "instruction 1"},
		{name: "three numbers", in: "2,6 0 0 0,6 0 0", err: "instruction 1"},
		{name: "jt out of range", in: "1,21 256 0 0", err: "jt \"256\""},
		{name: "k out of range", in: "1,6 0 0 4294967296", err: "k \"4294967296\""},
		{name: "not a number", in: "1,ret 0 0 0", err: "instruction 0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []Insn
			var err error
			if tt.file {
				got, err = ParseFileText(tt.in)
			} else {
				got, err = Parse(tt.in)
			}
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("insn %d: got %v, want %v", i, got[i], tt.want[i])
				}
			}
			// Format is Parse's inverse.
			if again, err := Parse(Format(got)); err != nil || len(again) != len(got) {
				t.Fatalf("Parse(Format) = %v, %v", again, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0,")
	f.Add("1,6 0 0 0")
	f.Add("2\n6 0 0 0\n6 0 0 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		insns, err := Parse(s)
		if err != nil {
			return
		}
		if len(insns) == 0 || len(insns) > MaxInsns {
			t.Fatalf("Parse accepted %d instructions", len(insns))
		}
		if again, err := Parse(Format(insns)); err != nil || len(again) != len(insns) {
			t.Fatalf("Parse(Format(%v)) = %v, %v", insns, again, err)
		}
		_, _ = ParseFileText(s)
		if p, err := Load(insns, "fuzz"); err == nil {
			p.RunData([]byte(s)) // any checked program runs without panicking
		}
	})
}

// TestCheck: each of bpf_check_classic's refusals names the instruction.
func TestCheck(t *testing.T) {
	ret0 := Insn{clsRET | retK, 0, 0, 0}
	for _, tt := range []struct {
		name  string
		insns []Insn
		index int // -2: accepted
	}{
		{"empty", nil, -1},
		{"too long", make([]Insn, MaxInsns+1), -1},
		{"unknown opcode", []Insn{{0xff, 0, 0, 0}, ret0}, 0},
		{"LDX ABS (seccomp only)", []Insn{{clsLDX | szW | modeABS, 0, 0, 0}, ret0}, 0},
		{"div by constant 0", []Insn{{clsALU | aluDIV | srcK, 0, 0, 0}, ret0}, 0},
		{"mod by constant 0", []Insn{ret0, {clsALU | aluMOD | srcK, 0, 0, 0}, ret0}, 1},
		{"div by X is a run-time matter", []Insn{{clsALU | aluDIV | srcX, 0, 0, 0}, ret0}, -2},
		{"shift by 32", []Insn{{clsALU | aluLSH | srcK, 0, 0, 32}, ret0}, 0},
		{"scratch 16", []Insn{{clsST, 0, 0, 16}, ret0}, 0},
		{"ja past the end", []Insn{{clsJMP | jmpJA, 0, 0, 1}, ret0}, 0},
		{"ja to the last", []Insn{{clsJMP | jmpJA, 0, 0, 0}, ret0}, -2},
		{"jt past the end", []Insn{{clsJMP | jmpJEQ | srcK, 1, 0, 0}, ret0}, 0},
		{"jf past the end", []Insn{{clsJMP | jmpJGT | srcX, 0, 1, 0}, ret0}, 0},
		{"no RET at the end", []Insn{ret0, {clsLD | modeIMM, 0, 0, 0}}, 1},
		{"unknown ancillary", []Insn{{clsLD | szW | modeABS, 0, 0, skfADOff + 64}, ret0}, 0},
		{"misaligned ancillary", []Insn{{clsLD | szB | modeABS, 0, 0, skfADOff + 2}, ret0}, 0},
		{"known ancillary, any size", []Insn{{clsLD | szB | modeABS, 0, 0, skfADOff + ADMark}, ret0}, -2},
		{"SKF_NET_OFF load is not ancillary", []Insn{{clsLD | szB | modeABS, 0, 0, 0xfff00009}, ret0}, -2},
		{"scratch read before write", []Insn{{clsLD | modeMEM, 0, 0, 3}, ret0}, 0},
		{"scratch written on one path only", []Insn{
			{clsJMP | jmpJEQ | srcK, 0, 1, 0},
			{clsST, 0, 0, 3},
			{clsLDX | modeMEM, 0, 0, 3},
			ret0}, 2},
		{"scratch written on both paths", []Insn{
			{clsST, 0, 0, 3},
			{clsJMP | jmpJEQ | srcK, 0, 1, 0},
			{clsST, 0, 0, 4},
			{clsLDX | modeMEM, 0, 0, 3},
			ret0}, -2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			insns := tt.insns
			if tt.name == "too long" {
				for i := range insns {
					insns[i] = ret0
				}
			}
			err := Check(insns)
			if tt.index == -2 {
				if err != nil {
					t.Fatalf("Check: %v; want it accepted", err)
				}
				return
			}
			var ce *CheckError
			if !errors.As(err, &ce) {
				t.Fatalf("Check = %v; want a CheckError at %d", err, tt.index)
			}
			if ce.Index != tt.index {
				t.Fatalf("Check = %v; want the error at insn %d", err, tt.index)
			}
		})
	}
}

// genProgram makes a random program of the instructions x/net/bpf's VM
// implements with the kernel's semantics: no ancillary loads (it has
// none), no negative absolute offsets (SKF_NET_OFF/SKF_LL_OFF), no NEG
// no shift by X (its VM does not run NEG; it shifts by 32 or more to 0
// where the kernel masks the count), and no "ldx len" (its Disassemble
// turns it into a load of the length into A).
func genProgram(r *rand.Rand, n int) []Insn {
	insns := make([]Insn, n)
	smallK := func() uint32 {
		if r.IntN(8) == 0 {
			return r.Uint32()
		}
		return uint32(r.IntN(80))
	}
	indirect := make([]bool, n)
	for pc := 0; pc < n-1; pc++ {
		left := n - pc - 2 // the farthest a jump may go
		var in Insn
		switch r.IntN(12) {
		case 0, 1:
			in = Insn{Code: clsLD | []uint16{szW, szH, szB}[r.IntN(3)] | modeABS, K: uint32(r.IntN(80))}
		case 2:
			// An indirect load right after X is set small: x/net/bpf
			// adds X and k in 64 bits where the kernel wraps them
			// to 32 (a wrapped sum reads at SKF_NET_OFF or fails).
			if pc+2 >= n {
				in = Insn{Code: clsLD | modeIMM, K: smallK()}
				break
			}
			if r.IntN(2) == 0 {
				in = Insn{Code: clsLDX | modeIMM, K: uint32(r.IntN(40))}
			} else {
				in = Insn{Code: clsLDX | szB | modeMSH, K: uint32(r.IntN(70))}
			}
			insns[pc] = in
			pc++
			in = Insn{Code: clsLD | []uint16{szW, szH, szB}[r.IntN(3)] | modeIND, K: uint32(r.IntN(60))}
			indirect[pc] = true
		case 3:
			in = Insn{Code: clsLDX | szB | modeMSH, K: uint32(r.IntN(70))}
		case 4:
			in = Insn{Code: []uint16{clsLD | modeIMM, clsLDX | modeIMM, clsLD | szW | modeLEN, clsMISC | miscTAX, clsMISC | miscTXA}[r.IntN(5)], K: smallK()}
		case 5:
			in = Insn{Code: []uint16{clsST, clsSTX, clsLD | modeMEM, clsLDX | modeMEM}[r.IntN(4)], K: uint32(r.IntN(MemWords))}
		case 6, 7:
			op := []uint16{aluADD, aluSUB, aluMUL, aluDIV, aluMOD, aluAND, aluOR, aluXOR, aluLSH, aluRSH}[r.IntN(10)]
			if r.IntN(2) == 0 && op != aluLSH && op != aluRSH {
				in = Insn{Code: clsALU | op | srcX}
			} else {
				k := smallK()
				if op == aluLSH || op == aluRSH {
					k %= 32
				}
				if (op == aluDIV || op == aluMOD) && k == 0 {
					k = 3
				}
				in = Insn{Code: clsALU | op | srcK, K: k}
			}
		case 8, 9, 10:
			if left < 0 {
				in = Insn{Code: clsLD | modeIMM, K: smallK()}
				break
			}
			op := []uint16{jmpJEQ, jmpJGT, jmpJGE, jmpJSET}[r.IntN(4)]
			src := []uint16{srcK, srcX}[r.IntN(2)]
			in = Insn{Code: clsJMP | op | src, Jt: uint8(r.IntN(min(left, 255) + 1)), Jf: uint8(r.IntN(min(left, 255) + 1)), K: smallK()}
		default:
			if left < 0 || r.IntN(3) > 0 {
				in = Insn{Code: clsRET | []uint16{retK, retA}[r.IntN(2)], K: smallK()}
				break
			}
			in = Insn{Code: clsJMP | jmpJA, K: uint32(r.IntN(min(left, 255) + 1))}
		}
		insns[pc] = in
	}
	insns[n-1] = Insn{Code: clsRET | []uint16{retK, retA}[r.IntN(2)], K: smallK()}
	// A jump to an indirect load lands on the load of X before it.
	for pc, in := range insns {
		if in.Code&7 != clsJMP {
			continue
		}
		if in.Code == clsJMP|jmpJA {
			if indirect[pc+1+int(in.K)] {
				insns[pc].K--
			}
			continue
		}
		if indirect[pc+1+int(in.Jt)] {
			insns[pc].Jt--
		}
		if indirect[pc+1+int(in.Jf)] {
			insns[pc].Jf--
		}
	}
	return insns
}

func xnetVM(t testing.TB, insns []Insn) *xbpf.VM {
	raw := make([]xbpf.Instruction, len(insns))
	for i, in := range insns {
		raw[i] = xbpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}.Disassemble()
	}
	vm, err := xbpf.NewVM(raw)
	if err != nil {
		t.Fatalf("x/net/bpf refuses a program Check accepts: %v\n%s", err, Format(insns))
	}
	return vm
}

// differential runs one random program on random packets in both VMs.
func differential(t *testing.T, seed uint64) {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	insns := genProgram(r, 1+r.IntN(40))
	p, err := Load(insns, "fuzz")
	if err != nil {
		return // e.g. a scratch cell read before written: the kernel refuses it too
	}
	vm := xnetVM(t, insns)
	for range 8 {
		frame := make([]byte, r.IntN(90))
		for i := range frame {
			frame[i] = byte(r.IntN(256))
		}
		want, err := vm.Run(frame)
		if err != nil {
			t.Fatalf("x/net/bpf: %v", err)
		}
		if got := p.RunData(frame); uint32(want) != got {
			t.Fatalf("program %s\nframe % x\nnetyard %#x, x/net/bpf %#x", Format(insns), frame, got, uint32(want))
		}
	}
}

// TestDifferentialXNet: random valid programs and packets give the same
// return value in netyard and in x/net/bpf's VM.
func TestDifferentialXNet(t *testing.T) {
	for seed := range uint64(3000) {
		differential(t, seed)
	}
}

func FuzzDifferentialXNet(f *testing.F) {
	f.Add(uint64(1))
	f.Add(uint64(77))
	f.Fuzz(func(t *testing.T, seed uint64) { differential(t, seed) })
}

// TestKernelSemantics: where netyard follows the kernel rather than
// x/net/bpf, and the ancillary loads, each from the kernel's code
// (bpf_convert_filter, convert_bpf_extensions, the load helpers).
func TestKernelSemantics(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	frame := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00, // broadcast, IPv4
		0x45, 0, 0, 44, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, // IPv4, TCP
		0x30, 0x39, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x02, 0, 0, 0, 0, 0, 0, // TCP, doff 6
		1, 2, 3, 4,
	}
	b, _ := pool.Get()
	defer b.Release()
	if err := b.SetData(frame); err != nil {
		t.Fatal(err)
	}
	if err := b.Parse(); err != nil {
		t.Fatal(err)
	}
	b.Mark, b.Hash, b.HashValid, b.QueueMapping, b.HasQueueMapping = 0xabcd, 0x1234, true, 3, true
	rnd := uint64(42)
	env := &bpf.Env{Ifindex: 7, Ingress: true, CPU: 1, Rand: &rnd}
	anc := func(ad uint32) []Insn {
		return []Insn{{clsLD | szW | modeABS, 0, 0, skfADOff + ad}, {clsRET | retA, 0, 0, 0}}
	}
	for _, tt := range []struct {
		name  string
		insns []Insn
		want  uint32
	}{
		{"protocol", anc(ADProtocol), 0x0800},
		{"pkttype broadcast at ingress", anc(ADPktType), packetBroadcast},
		{"ifindex", anc(ADIfindex), 7},
		{"mark", anc(ADMark), 0xabcd},
		{"queue", anc(ADQueue), 3},
		{"hatype", anc(ADHatype), arphrdEther},
		{"rxhash", anc(ADRxhash), 0x1234},
		{"cpu", anc(ADCPU), 1},
		{"vlan tag present: the tag stays in the frame", anc(ADVlanTagPresent), 0},
		{"pay offset: 14+20+24", anc(ADPayOffset), 58},
		{"byte-sized ancillary reads the whole value", []Insn{{clsLD | szB | modeABS, 0, 0, skfADOff + ADMark}, {clsRET | retA, 0, 0, 0}}, 0xabcd},
		{"alu xor x", []Insn{{clsLD | modeIMM, 0, 0, 0xf0}, {clsLDX | modeIMM, 0, 0, 0xff}, {clsLD | szW | modeABS, 0, 0, skfADOff + ADAluXorX}, {clsRET | retA, 0, 0, 0}}, 0x0f},
		{"SKF_NET_OFF: IP protocol", []Insn{{clsLD | szB | modeABS, 0, 0, 0xfff00009}, {clsRET | retA, 0, 0, 0}}, 6},
		{"SKF_LL_OFF: EtherType", []Insn{{clsLD | szH | modeABS, 0, 0, 0xffe0000c}, {clsRET | retA, 0, 0, 0}}, 0x0800},
		{"below SKF_LL_OFF: returns 0", []Insn{{clsLD | szB | modeABS, 0, 0, 0xffd00000}, {clsRET | retK, 0, 0, 9}}, 0},
		{"indirect at X+k wrapping negative is SKF_NET_OFF", []Insn{{clsLDX | modeIMM, 0, 0, 0xfff00000}, {clsLD | szB | modeIND, 0, 0, 9}, {clsRET | retA, 0, 0, 0}}, 6},
		{"shift by X masks the count", []Insn{{clsLD | modeIMM, 0, 0, 1}, {clsLDX | modeIMM, 0, 0, 33}, {clsALU | aluLSH | srcX, 0, 0, 0}, {clsRET | retA, 0, 0, 0}}, 2},
		{"neg", []Insn{{clsLD | modeIMM, 0, 0, 1}, {clsALU | aluNEG, 0, 0, 0}, {clsRET | retA, 0, 0, 0}}, 0xffffffff},
		{"div by zero X returns 0", []Insn{{clsLD | modeIMM, 0, 0, 1}, {clsALU | aluDIV | srcX, 0, 0, 0}, {clsRET | retK, 0, 0, 9}}, 0},
		{"load past the end returns 0", []Insn{{clsLD | szW | modeABS, 0, 0, uint32(len(frame) - 3)}, {clsRET | retK, 0, 0, 9}}, 0},
		{"msh", []Insn{{clsLDX | szB | modeMSH, 0, 0, 14}, {clsMISC | miscTXA, 0, 0, 0}, {clsRET | retA, 0, 0, 0}}, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(tt.insns, "t")
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Run(b, env)
			if err != nil || uint32(got) != tt.want {
				t.Fatalf("Run = %#x, %v; want %#x", got, err, tt.want)
			}
		})
	}
	// RANDOM draws from the Env's seeded state: the same seed repeats.
	p, _ := Load(anc(ADRandom), "rand")
	r1, r2 := uint64(5), uint64(5)
	a, _ := p.Run(b, &bpf.Env{Rand: &r1})
	c, _ := p.Run(b, &bpf.Env{Rand: &r2})
	if a != c || r1 == 5 {
		t.Fatalf("random: %#x then %#x with the same seed (state %d)", a, c, r1)
	}
}

// TestRunAllocs: a run allocates nothing.
func TestRunAllocs(t *testing.T) {
	insns, err := Parse(tcpdumpPort80)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(insns, "t")
	if err != nil {
		t.Fatal(err)
	}
	pool := pkt.NewPool(pkt.PoolConfig{})
	b, _ := pool.Get()
	defer b.Release()
	_ = b.SetData(make([]byte, 60))
	env := &bpf.Env{}
	if n := testing.AllocsPerRun(100, func() { _, _ = p.Run(b, env) }); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// tcpdumpPort80 is `tcpdump -ddd -y EN10MB 'ip and tcp dst port 80'`
// (tcpdump 4.99, libpcap 1.10), for tests that must not need tcpdump.
const tcpdumpPort80 = "11,40 0 0 12,21 0 8 2048,48 0 0 23,21 0 6 6,40 0 0 20,69 4 0 8191,177 0 0 14,72 0 0 16,21 0 1 80,6 0 0 262144,6 0 0 0"

// tcpdumpProgram loads `tcpdump -ddd EXPR`; it returns the instructions
// too.
func tcpdumpProgram(tb testing.TB, expr string) (*Program, []Insn) {
	tb.Helper()
	bc, err := cbpftest.Bytecode(expr)
	if err != nil {
		tb.Fatal(err)
	}
	insns, err := Parse(bc)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := Load(insns, "bytecode")
	if err != nil {
		tb.Fatal(err)
	}
	return p, insns
}

// TestTcpdump: for each expression, the frames of the corpus the bytecode
// from `tcpdump -ddd` accepts in netyard are exactly those `tcpdump -r`
// prints (libpcap's own filter, run by tcpdump on the capture).
func TestTcpdump(t *testing.T) {
	testutil.NeedTools(t, "tcpdump")
	frames := cbpftest.Frames()
	capture := filepath.Join(t.TempDir(), "corpus.pcap")
	if err := cbpftest.WritePcap(capture, frames); err != nil {
		t.Fatal(err)
	}
	pool := pkt.NewPool(pkt.PoolConfig{})
	for _, expr := range cbpftest.Expressions {
		t.Run(expr, func(t *testing.T) {
			p, _ := tcpdumpProgram(t, expr)
			want, err := cbpftest.Matches(capture, expr)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for i, f := range frames {
				b, _ := pool.Get()
				_ = b.SetData(f)
				_ = b.Parse()
				v, _ := p.Run(b, &bpf.Env{Ingress: true})
				b.Release()
				if got := v != 0; got != want[i] {
					t.Errorf("frame %d (% x): netyard %v (returns %d), tcpdump %v", i, f[:min(len(f), 40)], got, v, want[i])
				}
				if v != 0 {
					n++
				}
			}
			if n != len(want) {
				t.Errorf("netyard accepts %d frames, tcpdump %d", n, len(want))
			}
			t.Logf("%d of %d frames", n, len(frames))
		})
	}
}
