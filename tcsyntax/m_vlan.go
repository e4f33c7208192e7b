package tcsyntax

import (
	"strconv"

	"netyard/act"
	"netyard/wire"
)

// vlan (tc/m_vlan.c): "vlan pop", "vlan push [protocol P] id N [priority
// P]", "vlan modify [protocol P] id N [priority P]", each with an optional
// control (default pipe) and index.

func init() {
	registerAction(&actionKind{name: "vlan", parse: parseVlan, format: formatVlan, print: printVlan})
}

func parseVlan(a *Args) (act.Spec, error) {
	a.Next() // "vlan"
	v := &act.Vlan{}
	idSet, protoSet := false, false
loop:
	for a.More() {
		w := a.Peek()
		// parse_vlan's order: "p" is pop, "pu" push, "pro" protocol,
		// "pri" priority.
		var op act.VlanOp
		switch {
		case matches(w, "pop"):
			op = act.VlanPop
		case matches(w, "push"):
			op = act.VlanPush
		case matches(w, "modify"):
			op = act.VlanModify
		case matches(w, "pop_eth"), matches(w, "push_eth"), matches(w, "dst_mac"), matches(w, "src_mac"):
			return nil, syntaxErr("vlan", w, "not supported by netyard")
		case matches(w, "id"), matches(w, "protocol"), matches(w, "priority"):
		default:
			break loop
		}
		a.Next()
		if op != 0 {
			if v.Op != 0 {
				return nil, syntaxErr("vlan", w, "unexpected: action already specified")
			}
			v.Op = op
			continue
		}
		if v.Op != act.VlanPush && v.Op != act.VlanModify {
			return nil, syntaxErr("vlan", w, "only valid for push/modify")
		}
		switch {
		case matches(w, "id"):
			s, err := a.Value("id", "a VLAN id")
			if err != nil {
				return nil, err
			}
			id, ok := getU16(s, 0)
			if !ok || id > 4095 {
				return nil, badValue("vlan", "id", s, "id is invalid: expected 0..4095")
			}
			v.ID, idSet = id, true
		case matches(w, "protocol"):
			s, err := a.Value("protocol", "802.1Q or 802.1ad")
			if err != nil {
				return nil, err
			}
			p, err := ParseProtocol(s)
			if err != nil {
				return nil, badValue("vlan", "protocol", s, "protocol is invalid")
			}
			if p != wire.EtherTypeVLAN && p != wire.EtherTypeQinQ {
				return nil, badValue("vlan", "protocol", s, "protocol not supported: expected 802.1Q or 802.1ad")
			}
			v.Proto, protoSet = p, true
		default: // priority
			s, err := a.Value("priority", "a priority (0..7)")
			if err != nil {
				return nil, err
			}
			p, ok := getU8(s, 0)
			if !ok || p > 7 {
				return nil, badValue("vlan", "priority", s, "prio is invalid: expected 0..7")
			}
			v.Priority, v.HasPriority = p, true
		}
	}
	v.C.Control = act.DefaultControl("vlan", v)
	if c, ok, err := parseControl(a, false); err != nil {
		return nil, err
	} else if ok {
		v.C.Control = c
	}
	seen := false
	if err := parseIndex(a, &v.C, &seen); err != nil {
		return nil, err
	}
	switch {
	case v.Op == 0 && seen:
		return ref("vlan", v.C.Index), nil
	case v.Op == 0:
		return nil, syntaxErr("vlan", wordOr(a, "vlan"), "expected pop, push or modify")
	case (v.Op == act.VlanPush || v.Op == act.VlanModify) && !idSet:
		return nil, syntaxErr("vlan", "id", "needs to be set for %s", v.Op)
	}
	if (v.Op == act.VlanPush || v.Op == act.VlanModify) && !protoSet {
		// The kernel stores 802.1Q when no protocol is given and shows
		// it; so does the spec, so that printing it back is exact.
		v.Proto = wire.EtherTypeVLAN
	}
	return v, nil
}

func formatVlan(s act.Spec) []string {
	v := s.(*act.Vlan)
	words := []string{"vlan", v.Op.String()}
	if v.Op == act.VlanPush || v.Op == act.VlanModify {
		proto := v.Proto
		if proto == 0 {
			proto = wire.EtherTypeVLAN
		}
		words = append(words, "protocol", FormatProtocol(proto), "id", strconv.Itoa(int(v.ID)))
		if v.HasPriority {
			words = append(words, "priority", strconv.Itoa(int(v.Priority)))
		}
	}
	if v.C.Control != act.DefaultControl("vlan", v) {
		words = append(words, formatControl(v.C.Control)...)
	}
	return formatIndex(words, &v.C)
}

// printVlan is print_vlan: "vlan  push id 5 protocol 802.1Q priority 3
// pipe" (two spaces, as tc). A push prints priority 0 when none was set,
// as tc shows the kernel's; a modify without one keeps the packet's PCP
// and prints none (tdc's vlan cases).
func printVlan(w *Writer, s act.Spec, v *ActionView, o *Options) {
	a := s.(*act.Vlan)
	w.String(PrintAny, "kind", "%s ", "vlan")
	w.String(PrintAny, "vlan_action", " %s", a.Op.String())
	if a.Op == act.VlanPush || a.Op == act.VlanModify {
		w.Uint(PrintAny, "id", " id %d", uint64(a.ID))
		proto := a.Proto
		if proto == 0 {
			proto = wire.EtherTypeVLAN
		}
		w.String(PrintAny, "protocol", " protocol %s", FormatProtocol(proto))
		// A push always has a priority (0 when none was given, as
		// the kernel dumps it); a modify only when one was given.
		if a.Op == act.VlanPush || a.HasPriority {
			w.Uint(PrintAny, "priority", " priority %d", uint64(a.Priority))
		}
	}
	printControl(w, "control_action", " ", a.C.Control, "")
	w.NL()
	printIndexLine(w, "\t index %d", a.C.Index, v, o)
}
