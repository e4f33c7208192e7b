package tcsyntax

import (
	"path/filepath"

	"netyard/bpf/cbpf"
	"netyard/cls"
)

// The bpf classifier (tc/f_bpf.c, lib/bpf_legacy.c's bpf_parse_common):
//
//	bpf [ run ] { bytecode|bc "N,c t f k,..." | bytecode-file|bcf FILE |
//	      object-file|obj FILE [ section|sec NAME ] [ verbose ] }
//	    [ direct-action|da ] [ skip_hw ] [ classid|flowid X:Y ] [ action ... ]
//
// A bytecode file is read here, as tc reads it before it talks to the
// kernel; an object file is loaded where the filter is installed (the
// engine's eBPF loader). Without a section an object's program is taken
// from "classifier", tc's default for cls_bpf.

func init() {
	registerClassifier(&classifier{name: "bpf", parse: parseBpf, format: formatBpf, print: printBpf})
}

// bpfProgram is what bpf_parse_common reads: one program.
type bpfProgram struct {
	bytecode        []cbpf.Insn
	file            string
	object, section string
}

// parseBpfProgram reads a program's words, the mode word first (already
// peeked at by the caller). ctx is "bpf" or the action's "bpf".
func parseBpfProgram(a *Args, ctx, defaultSection string) (*bpfProgram, error) {
	mode := a.Next()
	p := &bpfProgram{}
	switch {
	case matches(mode, "bytecode") || mode == "bc":
		v, err := a.Value(mode, "a bytecode string \"N,code jt jf k,...\"")
		if err != nil {
			return nil, err
		}
		insns, err := cbpf.Parse(v)
		if err != nil {
			return nil, syntaxErr(ctx, mode, "%v", err)
		}
		p.bytecode = insns
	case matches(mode, "bytecode-file") || mode == "bcf":
		v, err := a.Value(mode, "a file of tcpdump -ddd output")
		if err != nil {
			return nil, err
		}
		if a.mayOpen != nil {
			if err := a.mayOpen(v); err != nil {
				return nil, syntaxErr(ctx, mode, "%s: %v", v, err)
			}
		}
		insns, err := cbpf.ParseFile(v)
		if err != nil {
			return nil, syntaxErr(ctx, mode, "%v", err)
		}
		p.bytecode, p.file = insns, v
	case matches(mode, "object-file") || mode == "obj":
		v, err := a.Value(mode, "an ELF object file (clang -target bpf)")
		if err != nil {
			return nil, err
		}
		if a.mayOpen != nil {
			if err := a.mayOpen(v); err != nil {
				return nil, syntaxErr(ctx, mode, "%s: %v", v, err)
			}
		}
		p.object, p.section = v, defaultSection
		if matches(a.Peek(), "type") {
			return nil, syntaxErr(ctx, a.Peek(), "not supported by netyard (the program type follows from the hook)")
		}
		if w := a.Peek(); matches(w, "section") || w == "sec" {
			a.Next()
			if p.section, err = a.Value(w, "an ELF section name"); err != nil {
				return nil, err
			}
		}
		if matches(a.Peek(), "export") {
			return nil, syntaxErr(ctx, a.Peek(), "not supported by netyard (no map export over a unix socket)")
		}
		if matches(a.Peek(), "verbose") {
			a.Next() // the verifier log: netyard's loader errors say it all
		}
	case matches(mode, "object-pinned") || matches(mode, "pinned") || matches(mode, "fd"):
		return nil, syntaxErr(ctx, mode, "not supported by netyard (no bpffs): give object-file")
	default:
		return nil, syntaxErr(ctx, mode, "unknown program mode; expected bytecode, bytecode-file or object-file")
	}
	return p, nil
}

// objectName is TCA_BPF_NAME as tc sets it: "FILE.o:[SECTION]".
func objectName(object, section string) string {
	return filepath.Base(object) + ":[" + section + "]"
}

func parseBpf(a *Args, f *cls.Filter, handle string) (*cls.Filter, error) {
	f = cloneFilter(f)
	if handle != "" {
		h, ok := getU32(handle, 0)
		if !ok {
			return nil, badValue("bpf", "handle", handle, "illegal handle, must be numeric")
		}
		f.Handle = h
	}
	s := &cls.Bpf{}
	f.Classifier = s
	seenRun := false
	run := func() error {
		if seenRun {
			return duplicate("bpf", "run", a.Peek())
		}
		seenRun = true
		p, err := parseBpfProgram(a, "bpf", "classifier")
		if err != nil {
			return err
		}
		s.Bytecode, s.File, s.Object, s.Section = p.bytecode, p.file, p.object, p.section
		if p.object != "" {
			s.Name = objectName(p.object, p.section)
		}
		return nil
	}
	for a.More() {
		w := a.Peek()
		switch {
		case matches(w, "run"):
			a.Next()
			if !a.More() {
				return nil, syntaxErr("bpf", w, "expected a program after it")
			}
			if err := run(); err != nil {
				return nil, err
			}
			continue
		case matches(w, "classid") || w == "flowid":
			a.Next()
			v, err := a.Value(w, "a class id")
			if err != nil {
				return nil, err
			}
			h, err := ParseClassID(v)
			if err != nil {
				return nil, badValue("bpf", w, v, "illegal classid: expected MAJOR:MINOR (hex)")
			}
			f.ClassID = h
			continue
		case matches(w, "direct-action") || matches(w, "da"):
			a.Next()
			s.DirectAction = true
			continue
		case matches(w, "skip_hw"):
			a.Next()
			f.SkipHW = true
			continue
		case matches(w, "skip_sw"):
			return nil, syntaxErr("bpf", w, "netyard is software only: a filter that skips software would never run")
		case matches(w, "action"):
			a.Next()
			specs, err := parseActionList(a, isActionStop)
			if err != nil {
				return nil, err
			}
			f.Actions = append(f.Actions, specs...)
			continue
		case matches(w, "police"):
			return nil, syntaxErr("bpf", w, "not supported by netyard: use \"action police\"")
		case matches(w, "help"):
			return nil, syntaxErr("bpf", w, "usage: bpf { bytecode \"N,c t f k,...\" | bytecode-file FILE | object-file FILE [ section NAME ] } [ direct-action ] [ skip_hw ] [ classid CLASSID ] [ action ACTION-SPEC ]")
		}
		if seenRun {
			return nil, unknownWord("bpf", w, "word", []string{"classid", "flowid", "direct-action", "da", "skip_hw", "action"})
		}
		if err := run(); err != nil {
			return nil, err
		}
	}
	if !seenRun {
		return nil, syntaxErr("bpf", "", "no program: give bytecode, bytecode-file or object-file")
	}
	return f, nil
}

func formatBpf(f *cls.Filter) []string {
	s := f.Classifier.(*cls.Bpf)
	words := []string{"bpf"}
	if s.Object != "" {
		words = append(words, "object-file", s.Object, "section", s.Section)
	} else {
		words = append(words, "bytecode", cbpf.Format(s.Bytecode))
	}
	if s.DirectAction {
		words = append(words, "direct-action")
	}
	if f.SkipHW {
		words = append(words, "skip_hw")
	}
	if f.ClassID != 0 {
		words = append(words, "classid", FormatClassID(f.ClassID))
	}
	return words
}

// printBpf is bpf_print_opt: handle, flowid, the object's name,
// direct-action, the flags, the classic program as "bytecode '...'" (and
// as a JSON object of its instructions), an eBPF program's id, name and
// tag (bpf_dump_prog_info), then the actions. With -s netyard adds the
// filter's hits, its program's faults and its failed redirects (the
// kernel keeps none of them).
func printBpf(w *Writer, v *FilterView, o *Options) {
	f := &v.Spec
	s, _ := f.Classifier.(*cls.Bpf)
	if s == nil {
		return
	}
	if f.Handle != 0 {
		w.Uint(PrintAny, "handle", "handle %#x ", uint64(f.Handle))
	}
	if f.ClassID != 0 {
		w.String(PrintAny, "flowid", "flowid %s ", FormatClassID(f.ClassID))
	}
	if s.Name != "" {
		w.String(PrintAny, "bpf_name", "%s ", s.Name)
	}
	if s.DirectAction {
		w.Bool(PrintAny, "direct-action", "direct-action ", true)
	}
	if f.SkipHW {
		w.Bool(PrintAny, "skip_hw", "skip_hw ", true)
	}
	w.Bool(PrintAny, "not_in_hw", "not_in_hw ", true)
	if len(s.Bytecode) > 0 {
		printBytecode(w, s.Bytecode)
	} else {
		printProgInfo(w, s.ProgID, s.ProgName, s.ProgTag)
	}
	if o.Stats > 0 {
		w.Uint(PrintAny, "rule_hit", "(rule hit %d", v.Stats.Packets)
		w.Uint(PrintAny, "faults", " faults %d", v.Stats.Drops)
		// TC_ACT_REDIRECTs that failed (act.BPFRedirect): the packet
		// was dropped, as skb_do_redirect drops it
		w.Uint(PrintAny, "redirect_errors", " redirect errors %d) ", v.Stats.Overlimits)
	}
	printFilterActions(w, v.Actions, o)
}
