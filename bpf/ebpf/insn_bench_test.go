package ebpf

import (
	"testing"

	"github.com/cilium/ebpf/asm"

	"netyard/bpf"
)

func BenchmarkInsnLoop(b *testing.B) {
	p, err := NewProgram("loop", mustRaw(b, asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Add.Imm(asm.R0, 1).WithSymbol("l"),
		asm.JLT.Imm(asm.R0, 10000, "l"),
		asm.Return(),
	}), nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	buf := newBuf(b, corpus()[0].data)
	env := &bpf.Env{Scratch: NewScratch()}
	for b.Loop() {
		p.Run(buf, env)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/20000, "ns/insn")
}

// BenchmarkEmpty is the fixed cost of a run: r0 = 0; exit.
func BenchmarkEmpty(b *testing.B) {
	p, err := NewProgram("empty", mustRaw(b, asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()}), nil, 1)
	if err != nil {
		b.Fatal(err)
	}
	buf := newBuf(b, corpus()[0].data)
	env := &bpf.Env{Scratch: NewScratch()}
	b.ReportAllocs()
	for b.Loop() {
		p.Run(buf, env)
	}
}
