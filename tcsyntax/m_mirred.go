package tcsyntax

import (
	"netyard/act"
)

// mirred (tc/m_mirred.c): "mirred {egress|ingress} {mirror|redirect} dev
// DEV [CONTROL] [index N]", or "mirred index N" to share an existing one.

func init() {
	registerAction(&actionKind{name: "mirred", parse: parseMirred, format: formatMirred, print: printMirred})
}

func parseMirred(a *Args) (act.Spec, error) {
	a.Next() // "mirred"
	m := &act.Mirred{}
	dirSet, opSet, indexSet := false, false, false
	// parse_direction: a direction first (or an index alone), then
	// mirror or redirect, then dev, which ends the list.
loop:
	for a.More() {
		w := a.Peek()
		switch {
		case matches(w, "egress") || matches(w, "ingress"):
			ingress := !matches(w, "egress")
			if dirSet {
				if ingress != m.Ingress {
					return nil, syntaxErr("mirred", w, "can't have both egress and ingress")
				}
				return nil, syntaxErr("mirred", w, "direction given twice")
			}
			a.Next()
			dirSet, m.Ingress = true, ingress
		case matches(w, "index"):
			if err := parseIndex(a, &m.C, &indexSet); err != nil {
				return nil, err
			}
			if !dirSet {
				// "mirred index N": bind an existing mirred action.
				return ref("mirred", m.C.Index), nil
			}
		case !dirSet:
			return nil, syntaxErr("mirred", w, "was expecting egress or ingress")
		case matches(w, "mirror") || matches(w, "redirect"):
			if opSet {
				return nil, syntaxErr("mirred", w, "can't have both mirror and redirect")
			}
			a.Next()
			opSet, m.Mirror = true, matches(w, "mirror")
		case opSet && matches(w, "dev"):
			a.Next()
			v, err := a.Value("dev", "a device name")
			if err != nil {
				return nil, err
			}
			if v == "" {
				return nil, syntaxErr("mirred", "dev", "needs a device name")
			}
			m.Dev = v
			break loop
		default:
			return nil, unknownWord("mirred", w, "word", []string{"egress", "ingress", "mirror", "redirect", "dev", "index"})
		}
	}
	switch {
	case !dirSet:
		return nil, syntaxErr("mirred", "", "expected egress or ingress")
	case !opSet:
		return nil, syntaxErr("mirred", "", "expected mirror or redirect after the direction")
	case m.Dev == "":
		return nil, syntaxErr("mirred", "dev", "needs a device name: mirred %s %s dev DEV", dirName(m.Ingress), opName(m.Mirror))
	}
	// As m_mirred.c: a control verdict is read only after "mirror"
	// (default pipe). After "redirect" the control is stolen, and a
	// verdict word that follows is the next action (a gact), exactly as
	// iproute2 reads "mirred egress redirect dev eth1 pipe".
	m.C.Control = act.DefaultControl("mirred", m)
	if m.Mirror {
		if v, ok, err := parseControl(a, false); err != nil {
			return nil, err
		} else if ok {
			m.C.Control = v
		}
	}
	if matches(a.Peek(), "index") && indexSet {
		return nil, syntaxErr("mirred", "index", "illegal double index")
	}
	if err := parseIndex(a, &m.C, &indexSet); err != nil {
		return nil, err
	}
	return m, nil
}

func dirName(ingress bool) string {
	if ingress {
		return "ingress"
	}
	return "egress"
}

func opName(mirror bool) string {
	if mirror {
		return "mirror"
	}
	return "redirect"
}

func formatMirred(s act.Spec) []string {
	m := s.(*act.Mirred)
	words := []string{"mirred", dirName(m.Ingress), opName(m.Mirror), "dev", m.Dev}
	if m.C.Control != act.DefaultControl("mirred", m) {
		words = append(words, formatControl(m.C.Control)...)
	}
	return formatIndex(words, &m.C)
}

// printMirred is print_mirred: "mirred (Egress Redirect to device eth1)
// stolen".
func printMirred(w *Writer, s act.Spec, v *ActionView, o *Options) {
	m := s.(*act.Mirred)
	what := "Egress"
	if m.Ingress {
		what = "Ingress"
	}
	if m.Mirror {
		what += " Mirror"
	} else {
		what += " Redirect"
	}
	w.String(PrintAny, "kind", "%s ", "mirred")
	w.String(PrintText, "", "(%s", what)
	w.String(PrintJSON, "mirred_action", "", opName(m.Mirror))
	w.String(PrintJSON, "direction", "", dirName(m.Ingress))
	w.String(PrintAny, "to_dev", " to device %s)", m.Dev)
	printControl(w, "control_action", " ", m.C.Control, "")
	w.NL()
	printIndexLine(w, "\tindex %d", m.C.Index, v, o)
}
