package cls

import (
	"strings"
	"sync/atomic"

	"netyard/act"
	"netyard/bpf"
	"netyard/bpf/cbpf"
	"netyard/pkt"
)

// Bpf is the bpf classifier's configuration (net/sched/cls_bpf.c, tc's
// f_bpf): a classic BPF program (tc's "bytecode" or "bytecode-file") or an
// eBPF program from a clang object file ("object-file FILE [section S]"),
// and whether its return value is a verdict ("direct-action").
type Bpf struct {
	// Bytecode is a classic program; File the bytecode file it was read
	// from, if any (tc does not keep it: the kernel gets the
	// instructions).
	Bytecode []cbpf.Insn
	File     string
	// Object and Section name an eBPF program, loaded through the
	// env's bpf.ObjectLoader.
	Object, Section string
	// Name is TCA_BPF_NAME, what tc shows for an object's program:
	// "FILE.o:[SECTION]". Empty for classic BPF, as tc sends none.
	Name string
	// DirectAction is "direct-action"/"da": the program's return value
	// is a TC_ACT verdict and the filter's actions are not run.
	DirectAction bool

	// Set when the program is loaded, for listings: the program's id,
	// name and tag (bpf.Info).
	ProgID   uint32
	ProgName string
	ProgTag  [8]byte
}

// Kind is "bpf".
func (*Bpf) Kind() string { return "bpf" }

func cloneBpf(b *Bpf) *Bpf {
	c := *b
	c.Bytecode = append([]cbpf.Insn(nil), b.Bytecode...)
	// Not slices of the caller's batch.
	c.File, c.Object, c.Section, c.Name = strings.Clone(b.File), strings.Clone(b.Object), strings.Clone(b.Section), strings.Clone(b.Name)
	return &c
}

// bpfProg is a compiled bpf classifier: the loaded program.
type bpfProg struct {
	prog bpf.Program
	da   bool
	// spec is the filter's configuration as listings print it (a filter
	// keeps no spec of its own: flower's is rebuilt from its key, a
	// program's cannot be).
	spec *Bpf
}

// compileBpf loads s's program: classic bytecode through package cbpf's
// checks (bpf_check_classic), an object file through env's loader.
func compileBpf(c *Classifier, s *Bpf, env act.Env) error {
	prog, err := act.LoadProgram(s.Bytecode, s.File, s.Object, s.Section, env)
	if err != nil {
		return err
	}
	spec := cloneBpf(s)
	in := prog.Info()
	spec.ProgID, spec.ProgName, spec.ProgTag = in.ID, in.Name, in.Tag
	*c = Classifier{kind: kindBpf, bpf: &bpfProg{prog: prog, da: s.DirectAction, spec: spec}}
	return nil
}

// bpfNode is one filter in a bpf group's list. Nodes are immutable once
// published: a new filter is a new head, a delete or replace copies the
// nodes before the one it changes.
type bpfNode struct {
	f    *filter
	next *bpfNode
}

// bpfList is a bpf group's filters in the order cls_bpf runs them: its
// plist, where cls_bpf_change puts a new filter first (list_add_rcu) and
// a replaced one where the old one was (list_replace_rcu). A bpf program
// cannot be hashed as flower's keys are, so the group is a list, walked
// in full by every packet, as the kernel walks it.
type bpfList struct {
	head atomic.Pointer[bpfNode]
}

func (l *bpfList) push(f *filter) { l.head.Store(&bpfNode{f: f, next: l.head.Load()}) }

// swap replaces old with nf (nf nil: removes old), copying the nodes
// before it.
func (l *bpfList) swap(old, nf *filter) {
	var prefix []*filter
	n := l.head.Load()
	for ; n != nil && n.f != old; n = n.next {
		prefix = append(prefix, n.f)
	}
	if n == nil {
		return
	}
	rest := n.next
	if nf != nil {
		rest = &bpfNode{f: nf, next: rest}
	}
	for i := len(prefix) - 1; i >= 0; i-- {
		rest = &bpfNode{f: prefix[i], next: rest}
	}
	l.head.Store(rest)
}

// classifyBpf is cls_bpf_classify: it runs the group's programs in list
// order until one decides, and returns its verdict, the class and the
// filter (nil when none decided):
//
//   - without direct-action, 0 is no match; -1 (0xffffffff) picks the
//     filter's classid and anything else is itself the class; then the
//     filter's actions run, and a negative verdict ("continue") goes on
//     with the next program;
//   - with direct-action, the return value is the verdict: OK, SHOT,
//     STOLEN, TRAP and REDIRECT decide, anything else (UNSPEC and unknown
//     codes, cls_bpf_exec_opcode) goes on with the next program; the
//     class is the filter's classid's major | the 16-bit tc_classid (see
//     tcClassID);
//   - REDIRECT is carried out through the datapath's redirect path
//     (act.BPFRedirect: act.Redirector, which spends the packet's
//     redirect TTL) to the device bpf_redirect chose, its ingress with
//     BPF_F_INGRESS; with no device chosen, or one that is gone, the
//     packet is dropped, as skb_do_redirect drops it, and a failure is
//     counted as the filter's overlimit;
//   - a program that faults is stopped: the packet is dropped and the
//     fault counted as the filter's drop.
//
// The packet starts at its Ethernet header at both hooks, as cls_bpf
// pushes the MAC header back at ingress.
func (g *group) classifyBpf(c *act.Ctx, p *pkt.Buffer) (act.Verdict, uint32, *filter) {
	env := &c.BPF
	env.Ifindex, env.Ingress, env.Now, env.CPU = c.Dev, c.Ingress, c.Now, c.Worker
	for n := g.bpf.head.Load(); n != nil; n = n.next {
		f := n.f
		// cls_bpf_classify presets qdisc_skb_cb(skb)->tc_classid to the
		// filter's classid before each program; the field is a u16, so
		// only the minor number survives.
		env.RedirectIfindex, env.RedirectFlags, env.ClassID = 0, 0, f.classID&tcClassIDMask
		ret, err := f.cls.bpf.prog.Run(p, env)
		if err != nil {
			f.cell.Drop(c.Worker)
			return act.Shot, f.classID, f
		}
		if f.cls.bpf.da {
			v := act.Verdict(int32(uint32(ret)))
			switch v {
			case act.OK, act.Shot, act.Stolen, act.Trap:
			case act.Redirect:
				v = act.BPFRedirect(c, p, f.cell)
			default:
				continue
			}
			pk, by := p.WireLen()
			f.cell.UseN(c.Worker, pk, by, c.Now)
			return v, tcClassID(f.classID, env.ClassID), f
		}
		r := uint32(ret)
		if r == 0 {
			continue
		}
		class := f.classID
		if r != 0xffffffff {
			class = r
		}
		pk, by := p.WireLen()
		f.cell.UseN(c.Worker, pk, by, c.Now)
		v := act.Exec(c, p, f.actions())
		if v < 0 {
			continue
		}
		return v, class, f
	}
	return act.Unspec, 0, nil
}

// tcClassIDMask is what qdisc_skb_cb's tc_classid holds: it is a u16
// (include/net/sch_generic.h), and bpf_convert_ctx_access turns a
// program's access to __sk_buff->tc_classid into a 16-bit load or store
// of it (net/core/filter.c), so a program's 32-bit write keeps only its
// low half.
const tcClassIDMask = 0xffff

// tcClassID is a direct-action filter's class, as cls_bpf_classify sets
// it: res->classid = TC_H_MAJ(prog->res.classid) |
// qdisc_skb_cb(skb)->tc_classid, where tc_classid was preset to the
// filter's classid (its minor, for a u16) and is then whatever the
// program left in it (written, the low 16 bits of its write). So
// "classid 1:0 da" with a program writing TC_H_MAKE(2<<16, 3) picks 1:3,
// no classid picks 0:3, and a program that writes nothing (every classic
// one) picks the filter's classid itself.
func tcClassID(filter, written uint32) uint32 {
	return filter&^tcClassIDMask | written&tcClassIDMask
}
