package tcsyntax

import (
	"slices"
	"strconv"

	"netyard/act"
)

// skbedit (tc/m_skbedit.c): "skbedit [queue_mapping N] [priority X:Y]
// [mark N[/MASK]] [CONTROL] [index N]". The priority is a class id, read
// as tc reads one: "1:2", or a bare hex number ("10" is 0x10, printed
// ":10").

func init() {
	registerAction(&actionKind{name: "skbedit", parse: parseSkbedit, format: formatSkbedit, print: printSkbedit})
}

func parseSkbedit(a *Args) (act.Spec, error) {
	a.Next() // "skbedit"
	s := &act.Skbedit{}
loop:
	for a.More() {
		w := a.Peek()
		switch {
		case matches(w, "queue_mapping"):
			a.Next()
			v, err := a.Value("queue_mapping", "a queue number")
			if err != nil {
				return nil, err
			}
			n, ok := parseUint(v, 10, 65535)
			if !ok {
				return nil, badValue("skbedit", "queue_mapping", v, "illegal queue_mapping: expected 0..65535")
			}
			s.QueueMapping, s.HasQueueMapping = uint16(n), true
		case matches(w, "priority"):
			a.Next()
			v, err := a.Value("priority", "a class id")
			if err != nil {
				return nil, err
			}
			p, err := ParseClassID(v)
			if err != nil {
				return nil, badValue("skbedit", "priority", v, "illegal priority: expected a class id (MAJOR:MINOR)")
			}
			s.Priority, s.HasPriority = p, true
		case matches(w, "mark"):
			a.Next()
			v, err := a.Value("mark", "a mark (N or N/MASK)")
			if err != nil {
				return nil, err
			}
			mark, mask, hasMask := v, "", false
			for i := 0; i < len(v); i++ {
				if v[i] == '/' {
					mark, mask, hasMask = v[:i], v[i+1:], true
					break
				}
			}
			m, ok := getU32(mark, 0)
			if !ok {
				return nil, badValue("skbedit", "mark", v, "illegal mark")
			}
			s.Mark, s.MarkMask, s.HasMark = m, 0, true
			if hasMask {
				mk, ok := getU32(mask, 0)
				if !ok {
					return nil, badValue("skbedit", "mark", v, "illegal mask")
				}
				if mk == 0 {
					// act.Skbedit reads a zero mask as "all bits".
					return nil, badValue("skbedit", "mark", v, "a mask of 0 would change no bit")
				}
				s.MarkMask = mk
			}
		case matches(w, "ptype"):
			a.Next()
			v, err := a.Value("ptype", "host, broadcast, multicast or otherhost")
			if err != nil {
				return nil, err
			}
			t := slices.IndexFunc(ptypeNames, func(n string) bool { return matches(v, n) })
			if t < 0 {
				return nil, badValue("skbedit", "ptype", v, "Illegal ptype: expected host, broadcast, multicast or otherhost")
			}
			s.PType, s.HasPType = uint16(t), true
		case matches(w, "inheritdsfield"):
			a.Next()
			s.InheritDS = true
		default:
			break loop
		}
	}
	s.C.Control = act.DefaultControl("skbedit", s)
	if c, ok, err := parseControl(a, false); err != nil {
		return nil, err
	} else if ok {
		s.C.Control = c
	}
	seen := false
	if err := parseIndex(a, &s.C, &seen); err != nil {
		return nil, err
	}
	if !s.HasQueueMapping && !s.HasPriority && !s.HasMark && !s.HasPType && !s.InheritDS {
		if seen {
			return ref("skbedit", s.C.Index), nil
		}
		return nil, syntaxErr("skbedit", wordOr(a, "skbedit"), "expected queue_mapping, priority or mark")
	}
	return s, nil
}

func formatSkbedit(sp act.Spec) []string {
	s := sp.(*act.Skbedit)
	words := []string{"skbedit"}
	if s.HasQueueMapping {
		words = append(words, "queue_mapping", strconv.Itoa(int(s.QueueMapping)))
	}
	if s.HasPriority {
		words = append(words, "priority", FormatClassID(s.Priority))
	}
	if s.HasMark {
		m := strconv.FormatUint(uint64(s.Mark), 10)
		if s.MarkMask != 0 {
			m += "/0x" + strconv.FormatUint(uint64(s.MarkMask), 16)
		}
		words = append(words, "mark", m)
	}
	if s.HasPType {
		words = append(words, "ptype", formatPType(s.PType))
	}
	if s.InheritDS {
		words = append(words, "inheritdsfield")
	}
	if s.C.Control != act.DefaultControl("skbedit", s) {
		words = append(words, formatControl(s.C.Control)...)
	}
	return formatIndex(words, &s.C)
}

// printSkbedit is print_skbedit: "skbedit queue_mapping 3 priority 1:2
// mark 5/0xff pipe".
func printSkbedit(w *Writer, sp act.Spec, v *ActionView, o *Options) {
	s := sp.(*act.Skbedit)
	w.String(PrintAny, "kind", "%s ", "skbedit")
	if s.HasQueueMapping {
		w.Uint(PrintAny, "queue_mapping", "queue_mapping %d", uint64(s.QueueMapping))
	}
	if s.HasPriority {
		w.String(PrintAny, "priority", " priority %s", FormatClassID(s.Priority))
	}
	if s.HasMark {
		w.Uint(PrintAny, "mark", " mark %d", uint64(s.Mark))
		if s.MarkMask != 0 {
			w.Hex(PrintAny, "mask", "/%#x", uint64(s.MarkMask))
		}
	}
	if s.HasPType {
		w.String(PrintAny, "ptype", " ptype %s", formatPType(s.PType))
	}
	if s.InheritDS {
		w.Null(PrintAny, "inheritdsfield", " inheritdsfield")
	}
	printControl(w, "control_action", " ", s.C.Control, "")
	w.NL()
	printIndexLine(w, "\t index %d", s.C.Index, v, o)
}

// ptypeNames are the packet types tc names, by value (PACKET_HOST 0 ...).
var ptypeNames = []string{"host", "broadcast", "multicast", "otherhost"}

func formatPType(t uint16) string {
	if int(t) < len(ptypeNames) {
		return ptypeNames[t]
	}
	return strconv.Itoa(int(t))
}
