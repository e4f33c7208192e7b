package act

import (
	"fmt"
	"path/filepath"

	"netyard/bpf"
	"netyard/bpf/cbpf"
)

// LoadProgram loads the program a bpf classifier or action names: classic
// bytecode (file: where it came from, for its name) or an eBPF object
// file through env's bpf.ObjectLoader.
func LoadProgram(bytecode []cbpf.Insn, file, object, section string, env Env) (bpf.Program, error) {
	switch {
	case len(bytecode) > 0 && object != "":
		return nil, fmt.Errorf("bpf: give bytecode or an object file, not both")
	case len(bytecode) > 0:
		name := "bytecode"
		if file != "" {
			name = filepath.Base(file)
		}
		p, err := cbpf.Load(bytecode, name)
		if err != nil {
			return nil, fmt.Errorf("bpf: %w", err)
		}
		return p, nil
	case object != "":
		l, ok := env.(bpf.ObjectLoader)
		if !ok {
			return nil, fmt.Errorf("bpf: object-file %s: %w", object, bpf.ErrNoObjectLoader)
		}
		p, err := l.LoadObject(object, section)
		if err != nil {
			return nil, fmt.Errorf("bpf: object-file %s: %w", object, err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("bpf: no program: give bytecode, bytecode-file or object-file")
}
