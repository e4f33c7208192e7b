package tcsyntax

import (
	"fmt"
	"io"

	"netyard/qdisc"
)

// Exec performs cmd on t and, for show and get, prints the answer to out
// as tc would. Errors name the command ("filter add: ...") and wrap the
// Target's, so errors.Is(err, ErrNotFound) works.
func Exec(t Target, cmd *Command, opts Options, out io.Writer) error {
	var err error
	switch cmd.Object {
	case ObjQdisc:
		err = execQdisc(t, cmd, opts, out)
	case ObjClass:
		err = execClass(t, cmd, opts, out)
	case ObjFilter:
		err = execFilter(t, cmd, opts, out)
	case ObjAction:
		err = execActions(t, cmd, opts, out)
	case ObjLoops:
		err = execLoops(t, opts, out)
	case ObjDev:
		err = execDev(t, cmd, opts, out)
	case ObjLink:
		err = execLink(t, cmd, opts, out)
	case ObjNetns:
		err = execNetns(t, cmd, opts, out)
	case ObjTenant:
		err = execTenant(t, cmd, opts, out)
	default:
		err = fmt.Errorf("unknown object %d", cmd.Object)
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", cmd.Object, cmd.Verb, err)
	}
	return nil
}

func execQdisc(t Target, cmd *Command, opts Options, out io.Writer) error {
	switch cmd.Verb {
	case VerbAdd, VerbChange, VerbReplace:
		if cmd.Qdisc == nil {
			return fmt.Errorf("no qdisc given")
		}
		return t.AddQdisc(cmd.Qdisc, cmd.Mode)
	case VerbDelete:
		q := cmd.Qdisc
		if q == nil {
			return fmt.Errorf("no qdisc given")
		}
		if q.Params != nil {
			// tc sends the kind with a delete and the kernel
			// refuses when it is not the qdisc's.
			if err := checkQdiscKind(t, q); err != nil {
				return err
			}
		}
		return t.DelQdisc(q)
	case VerbShow:
		views, err := t.Qdiscs(cmd.Select.Dev)
		if err != nil {
			return err
		}
		if cmd.Select.HasParent {
			kept := views[:0:0]
			for _, v := range views {
				if v.Spec.Parent == cmd.Select.Parent {
					kept = append(kept, v)
				}
			}
			views = kept
		}
		return (&Printer{opts}).Qdiscs(out, views, cmd.Select)
	}
	return fmt.Errorf("not supported")
}

func checkQdiscKind(t Target, q *qdisc.Spec) error {
	views, err := t.Qdiscs(q.Dev)
	if err != nil {
		return err
	}
	for _, v := range views {
		if v.Spec.Parent != q.Parent || q.Handle != 0 && v.Spec.Handle != q.Handle || v.Spec.Params == nil {
			continue
		}
		if k := v.Spec.Params.Kind(); k != q.Params.Kind() {
			return fmt.Errorf("the qdisc at %s is %s, not %s", FormatClassID(q.Parent), k, q.Params.Kind())
		}
	}
	return nil
}

func execClass(t Target, cmd *Command, opts Options, out io.Writer) error {
	if cmd.Verb != VerbShow {
		cm, ok := t.(ClassModifier)
		if !ok || cmd.Class == nil {
			return Refuse(nil, "Operation not supported: this target has no classes made by hand")
		}
		if cmd.Verb == VerbDelete {
			return cm.DelClass(cmd.Class)
		}
		return cm.AddClass(cmd.Class, cmd.Mode)
	}
	var views []ClassView
	if cl, ok := t.(ClassLister); ok {
		all, err := cl.Classes(cmd.Select.Dev)
		if err != nil {
			return err
		}
		for _, c := range all {
			if cmd.Select.HasParent && c.Parent != cmd.Select.Parent ||
				cmd.Select.HasHandle && c.Handle != cmd.Select.Handle {
				continue
			}
			views = append(views, c)
		}
	}
	return (&Printer{opts}).Classes(out, views, cmd.Select)
}

func execFilter(t Target, cmd *Command, opts Options, out io.Writer) error {
	switch cmd.Verb {
	case VerbAdd, VerbChange, VerbReplace:
		if cmd.Filter == nil {
			return fmt.Errorf("no filter given")
		}
		return t.AddFilter(cmd.Filter, cmd.Mode)
	case VerbDelete:
		if cmd.Filter == nil {
			return fmt.Errorf("no filter given")
		}
		return t.DelFilter(cmd.Filter)
	case VerbShow, VerbGet:
		sel := cmd.Select
		var chain *uint32
		if sel.HasChain {
			chain = &sel.Chain
		}
		var next uint64
		if sel.HasSinceGen {
			gt, ok := t.(Generations)
			if !ok {
				return fmt.Errorf("since gen: this target keeps no generations")
			}
			next = gt.CloseGeneration() // before the read, as for actions
		}
		views, err := t.Filters(sel.Dev, sel.Parent, chain)
		if err != nil {
			return err
		}
		kept := views[:0:0]
		for _, v := range views {
			f := &v.Spec
			if sel.Prio != 0 && f.Prio != sel.Prio || sel.Protocol != 0 && f.Protocol != sel.Protocol {
				continue
			}
			if cmd.Verb == VerbGet && (f.Handle != sel.Handle || f.Classifier == nil || f.Classifier.Kind() != sel.Kind) {
				continue
			}
			if sel.HasSinceGen && v.Stats.Gen <= sel.SinceGen {
				continue
			}
			kept = append(kept, v)
		}
		p := &Printer{opts}
		if cmd.Verb == VerbShow {
			if sel.HasSinceGen {
				return p.filtersSince(out, kept, sel, next)
			}
			return p.Filters(out, kept, sel)
		}
		if len(kept) == 0 {
			return fmt.Errorf("%s filter pref %d protocol %s handle %#x on %s %s: %w",
				sel.Kind, sel.Prio, FormatProtocol(sel.Protocol), sel.Handle, sel.Dev, parentWords(sel.Parent), ErrNotFound)
		}
		// tc_filter_get prints the parent the kernel echoes, the one
		// the command gave ("parent ffff:" stays ffff:).
		if sel.ShowParent != 0 {
			kept[0].Spec.Parent = sel.ShowParent
		}
		return p.Filter(out, &kept[0])
	}
	return fmt.Errorf("not supported")
}

func parentWords(p uint32) string {
	if key, kw := filterParentName(p); kw {
		return key
	}
	return "parent " + FormatClassID(p)
}

func execActions(t Target, cmd *Command, opts Options, out io.Writer) error {
	switch cmd.Verb {
	case VerbAdd, VerbChange, VerbReplace:
		return t.AddActions(cmd.Actions, cmd.Mode)
	case VerbDelete:
		for _, id := range cmd.Select.Actions {
			if err := t.DelAction(id.Kind, id.Index); err != nil {
				return err
			}
		}
		return nil
	case VerbGet:
		views := make([]ActionView, 0, len(cmd.Select.Actions))
		for _, id := range cmd.Select.Actions {
			v, err := t.Action(id.Kind, id.Index)
			if err != nil {
				return err
			}
			views = append(views, v)
		}
		return (&Printer{opts}).Actions(out, views, false)
	case VerbShow:
		var next uint64
		if cmd.Select.HasSinceGen {
			gt, ok := t.(Generations)
			if !ok {
				return fmt.Errorf("since gen: this target keeps no generations")
			}
			// Closed before the table is read: a change after this
			// is stamped later and shown next time, one before it is
			// in what is read now. None is lost.
			next = gt.CloseGeneration()
		}
		views, err := t.Actions(cmd.Select.Kind)
		if err != nil {
			return err
		}
		if cmd.Select.Since != 0 {
			views = usedSince(views, opts.Now, cmd.Select.Since)
		}
		if !cmd.Select.HasSinceGen {
			return (&Printer{opts}).Actions(out, views, true)
		}
		kept := views[:0]
		for _, v := range views {
			if v.Stats.Gen > cmd.Select.SinceGen {
				kept = append(kept, v)
			}
		}
		l := (&Printer{opts}).ListActions(out)
		l.Message(kept)
		return l.Close(&next)
	case VerbFlush:
		return t.FlushActions(cmd.Select.Kind)
	}
	return fmt.Errorf("not supported")
}

// usedSince keeps the actions used in the last ms milliseconds before
// now, as the kernel's tcf_dump_walker does for TCA_ROOT_TIME_DELTA (an
// action never used counts as used when it was installed).
func usedSince(views []ActionView, now int64, ms uint32) []ActionView {
	cutoff := now - int64(ms)*1e6
	kept := views[:0:0]
	for _, v := range views {
		last := v.Stats.LastUsed
		if last == 0 {
			last = v.Stats.Installed
		}
		if last >= cutoff {
			kept = append(kept, v)
		}
	}
	return kept
}

// Args returns cmd as tc command words ("qdisc", "add", "dev", ...),
// which Parse reads back into the same command. A daemon can write its
// configuration as a batch file with it.
func (c *Command) Args() []string {
	words := []string{c.Object.String(), c.Verb.String()}
	switch c.Object {
	case ObjQdisc:
		if c.Qdisc != nil {
			return append(words, formatQdisc(c.Qdisc)...)
		}
		words = append(words, formatSelectDev(c.Select)...)
		if c.Select.HasParent {
			words = append(words, "ingress")
		}
	case ObjClass:
		if cs := c.Class; cs != nil {
			words = append(words, "dev", cs.Dev)
			if cs.Parent == qdisc.HandleRoot {
				words = append(words, "root")
			} else if cs.Parent != 0 {
				words = append(words, "parent", FormatClassID(cs.Parent))
			}
			if cs.Handle != 0 {
				words = append(words, "classid", FormatClassID(cs.Handle))
			}
			if cs.Kind != "" {
				words = append(words, cs.Kind)
				if k := qdiscKinds[cs.Kind]; k != nil && k.FormatClass != nil && cs.Params != nil {
					words = append(words, k.FormatClass(cs.Params)...)
				}
			}
			return words
		}
		words = append(words, formatSelectDev(c.Select)...)
		if c.Select.HasParent {
			if c.Select.Parent == qdisc.HandleRoot {
				words = append(words, "root")
			} else {
				words = append(words, "parent", FormatClassID(c.Select.Parent))
			}
		}
		if c.Select.HasHandle {
			words = append(words, "classid", FormatClassID(c.Select.Handle))
		}
	case ObjFilter:
		if c.Filter != nil {
			return append(words, formatFilter(c.Filter, c.Verb)...)
		}
		words = append(words, formatFilterSelect(c)...)
	case ObjNetns:
		return append(words, formatNetns(c)...)
	case ObjTenant:
		if c.Tenant != nil {
			return append(words, FormatTenant(*c.Tenant)...)
		}
	case ObjDev:
		if c.Dev != nil {
			return append(words, formatDev(c.Dev)...)
		}
		if c.Select.Dev != "" {
			words = append(words, "dev", c.Select.Dev)
		}
	case ObjAction:
		switch c.Verb {
		case VerbAdd, VerbChange, VerbReplace:
			return append(words, formatActions(c.Actions)...)
		case VerbGet, VerbDelete:
			for _, id := range c.Select.Actions {
				words = append(words, "action", id.Kind, "index", itoa(uint64(id.Index)))
			}
		default:
			words = append(words, "action", c.Select.Kind)
			if c.Select.HasSinceGen {
				words = append(words, "since", "gen", itoa(c.Select.SinceGen))
			} else if c.Select.Since != 0 {
				words = append(words, "since", itoa(uint64(c.Select.Since)))
			}
		}
	}
	return words
}

func formatSelectDev(s Selector) []string {
	if s.Dev == "" {
		return nil
	}
	return []string{"dev", s.Dev}
}

func formatFilterSelect(c *Command) []string {
	s := c.Select
	words := formatSelectDev(s)
	if s.ShowParent != 0 {
		words = append(words, "parent", FormatClassID(s.ShowParent))
	} else if s.HasParent {
		if key, kw := filterParentName(s.Parent); kw {
			words = append(words, key)
		} else {
			words = append(words, "parent", FormatClassID(s.Parent))
		}
	}
	if s.HasChain {
		words = append(words, "chain", itoa(uint64(s.Chain)))
	}
	if s.Prio != 0 {
		words = append(words, "pref", itoa(uint64(s.Prio)))
	}
	if s.Protocol != 0 || c.Verb == VerbGet {
		words = append(words, "protocol", protoWord(s.Protocol))
	}
	if s.Handle != 0 || c.Verb == VerbGet {
		words = append(words, "handle", "0x"+hex32(s.Handle))
	}
	if c.Verb == VerbGet {
		words = append(words, s.Kind)
	}
	if s.HasSinceGen {
		words = append(words, "since", "gen", itoa(s.SinceGen))
	}
	return words
}

func formatQdisc(q *qdisc.Spec) []string {
	words := []string{"dev", q.Dev}
	var k *QdiscKind
	if q.Params != nil {
		k = qdiscKinds[q.Params.Kind()]
	}
	if k != nil && k.Parent != 0 && q.Parent == k.Parent {
		// "tc qdisc add dev X clsact": the kind names the parent.
		return append(words, k.Name)
	}
	switch q.Parent {
	case qdisc.HandleRoot:
		words = append(words, "root")
	default:
		words = append(words, "parent", FormatClassID(q.Parent))
	}
	if q.Handle != 0 {
		words = append(words, "handle", formatQdiscHandle(q.Handle))
	}
	if q.Params != nil {
		words = append(words, q.Params.Kind())
		if k != nil && k.Format != nil {
			words = append(words, k.Format(q.Params)...)
		}
	}
	return words
}
