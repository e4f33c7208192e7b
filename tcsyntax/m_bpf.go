package tcsyntax

import (
	"encoding/hex"

	"netyard/act"
	"netyard/bpf/cbpf"
)

// The bpf action (tc/m_bpf.c): "bpf [ run ] { bytecode|bc "N,c t f k,..." |
// bytecode-file|bcf FILE | object-file|obj FILE [ section|sec NAME ] }
// [ CONTROL ] [ index N ]". CONTROL is the default-action, "pipe" unless
// given. An object's program is taken from section "action" unless another
// is named, as tc does for act_bpf.

func init() {
	registerAction(&actionKind{name: "bpf", parse: parseBpfAction, format: formatBpfAction, print: printBpfAction})
}

func parseBpfAction(a *Args) (act.Spec, error) {
	a.Next() // "bpf"
	s := &act.Bpf{}
	seenRun := false
	for a.More() {
		w := a.Peek()
		if matches(w, "run") {
			if seenRun {
				return nil, duplicate("bpf", "run", w)
			}
			a.Next()
		} else if matches(w, "help") {
			return nil, syntaxErr("bpf", w, "usage: bpf { bytecode \"N,c t f k,...\" | bytecode-file FILE | object-file FILE [ section NAME ] } [ CONTROL ] [ index INDEX ]")
		} else if matches(w, "index") || seenRun {
			break
		}
		seenRun = true
		p, err := parseBpfProgram(a, "bpf", "action")
		if err != nil {
			return nil, err
		}
		s.Bytecode, s.File, s.Object, s.Section = p.bytecode, p.file, p.object, p.section
		if p.object != "" {
			s.Name = objectName(p.object, p.section)
		}
	}
	s.C.Control = act.Pipe
	if c, ok, err := parseControl(a, false); err != nil {
		return nil, err
	} else if ok {
		s.C.Control = c
	}
	seen := false
	if err := parseIndex(a, &s.C, &seen); err != nil {
		return nil, err
	}
	if !seenRun {
		if seen {
			return ref("bpf", s.C.Index), nil
		}
		return nil, syntaxErr("bpf", wordOr(a, "bpf"), "no program: give bytecode, bytecode-file or object-file")
	}
	return s, nil
}

func formatBpfAction(sp act.Spec) []string {
	s := sp.(*act.Bpf)
	words := []string{"bpf"}
	if s.Object != "" {
		words = append(words, "object-file", s.Object, "section", s.Section)
	} else {
		words = append(words, "bytecode", cbpf.Format(s.Bytecode))
	}
	if s.C.Control != act.Pipe {
		words = append(words, formatControl(s.C.Control)...)
	}
	return formatIndex(words, &s.C)
}

// printBpfAction is print_bpf: "bpf NAME bytecode '...' id N name P tag T
// default-action pipe", then the index line.
func printBpfAction(w *Writer, sp act.Spec, v *ActionView, o *Options) {
	s := sp.(*act.Bpf)
	w.String(PrintAny, "kind", "%s ", "bpf")
	if s.Name != "" {
		w.String(PrintAny, "bpf_name", "%s ", s.Name)
	}
	if len(s.Bytecode) > 0 {
		printBytecode(w, s.Bytecode)
	} else {
		printProgInfo(w, s.ProgID, s.ProgName, s.ProgTag)
	}
	printControl(w, "control_action", "default-action ", s.C.Control, "")
	w.NL()
	printIndexLine(w, "\t index %d", s.C.Index, v, o)
}

// printBytecode is bpf_print_ops: a JSON object of the instructions, or
// "bytecode 'N,c t f k,...' ".
func printBytecode(w *Writer, code []cbpf.Insn) {
	w.Open("bytecode")
	w.Uint(PrintJSON, "length", "", uint64(len(code)))
	w.OpenArray("insns")
	for _, in := range code {
		w.Open("")
		w.Uint(PrintJSON, "code", "", uint64(in.Code))
		w.Uint(PrintJSON, "jt", "", uint64(in.Jt))
		w.Uint(PrintJSON, "jf", "", uint64(in.Jf))
		w.Uint(PrintJSON, "k", "", uint64(in.K))
		w.Close()
	}
	w.CloseArray()
	w.Close()
	w.String(PrintText, "", "bytecode '%s' ", cbpf.Format(code))
}

// printProgInfo is bpf_dump_prog_info: "id N name P tag T ".
func printProgInfo(w *Writer, id uint32, name string, tag [8]byte) {
	w.Open("prog")
	w.Uint(PrintAny, "id", "id %d ", uint64(id))
	if name != "" {
		w.String(PrintAny, "name", "name %s ", name)
	}
	w.String(PrintAny, "tag", "tag %s ", hex.EncodeToString(tag[:]))
	w.Uint(PrintJSON, "jited", "", 0)
	w.Close()
}
