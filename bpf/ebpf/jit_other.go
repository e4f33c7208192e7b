//go:build !(linux && amd64)

package ebpf

import "netyard/bpf"

// jitCode: there is no JIT here; programs run in the interpreter.
type jitCode struct{}

func (p *Program) compileJIT() {}

// JitedLen is 0: the interpreter runs every program here.
func (p *Program) JitedLen() int { return 0 }

func (s *state) runJIT(p *Program) (uint64, *bpf.Fault) {
	s.depth, s.tail, s.steps = 0, 0, 0
	var pc int
	return s.exec(p, &pc)
}
