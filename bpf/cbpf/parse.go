package cbpf

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Parse reads tc's bytecode string, as iproute2's bpf_ops_parse does
// (lib/bpf_legacy.c): a count, then that many instructions "code jt jf k",
// each after a comma; a trailing comma is allowed, space around numbers
// too. Where sscanf would wrap an out-of-range number or ignore trailing
// words, Parse reports them: an error names the instruction (from 0) and
// what is wrong with it.
func Parse(s string) ([]Insn, error) {
	head, rest, ok := strings.Cut(s, ",")
	if !ok {
		return nil, fmt.Errorf("bytecode: %q: expected \"N,code jt jf k,...\" (the count, then the instructions, each after a comma)", clip(s))
	}
	n, err := strconv.ParseUint(strings.TrimSpace(head), 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bytecode: count %q: expected a number 1..%d", clip(head), MaxInsns)
	}
	if n == 0 || n > MaxInsns {
		return nil, fmt.Errorf("bytecode: count %d: must be 1..%d (BPF_MAXINSNS)", n, MaxInsns)
	}
	insns := make([]Insn, 0, n)
	for i := 0; rest != ""; i++ {
		var tok string
		tok, rest, _ = strings.Cut(rest, ",")
		if strings.TrimSpace(tok) == "" && rest == "" {
			break // the trailing comma of tr '\n' ','
		}
		if i >= int(n) {
			return nil, fmt.Errorf("bytecode: instruction %d: the count says %d instructions", i, n)
		}
		in, err := parseInsn(tok)
		if err != nil {
			return nil, fmt.Errorf("bytecode: instruction %d (%q): %w", i, clip(strings.TrimSpace(tok)), err)
		}
		insns = append(insns, in)
	}
	if len(insns) != int(n) {
		return nil, fmt.Errorf("bytecode: the count says %d instructions, found %d", n, len(insns))
	}
	return insns, nil
}

// ParseFile reads a bytecode file (tc's "bytecode-file"), as iproute2's
// bpf_parse_string does: the same text, where line ends stand for commas
// (so tcpdump -ddd's output, one number and then one instruction per
// line, is a bytecode file as it is).
func ParseFile(path string) ([]Insn, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bytecode-file: %w", err)
	}
	insns, err := ParseFileText(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return insns, nil
}

// ParseFileText is ParseFile on the file's text.
func ParseFileText(s string) ([]Insn, error) {
	var b strings.Builder
	prev := byte(' ')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\n':
			if prev != ',' {
				b.WriteByte(',')
			}
			prev = ','
		case '\r':
		default:
			b.WriteByte(c)
			prev = c
		}
	}
	return Parse(b.String())
}

func parseInsn(tok string) (Insn, error) {
	f := strings.Fields(tok)
	if len(f) != 4 {
		return Insn{}, fmt.Errorf("expected 4 numbers \"code jt jf k\", found %d", len(f))
	}
	var v [4]uint64
	for j, bits := range [4]int{16, 8, 8, 32} {
		x, err := strconv.ParseUint(f[j], 10, bits)
		if err != nil {
			return Insn{}, fmt.Errorf("%s %q: expected a number 0..%d", [4]string{"code", "jt", "jf", "k"}[j], f[j], uint64(1)<<bits-1)
		}
		v[j] = x
	}
	return Insn{Code: uint16(v[0]), Jt: uint8(v[1]), Jf: uint8(v[2]), K: uint32(v[3])}, nil
}

// clip shortens what an error quotes.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
