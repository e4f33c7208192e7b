package act

import (
	"fmt"
	"path/filepath"
	"sync/atomic"

	"netyard/bpf"
	"netyard/bpf/cbpf"
	"netyard/pkt"
	"netyard/stats"
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

// Bpf is the bpf action (net/sched/act_bpf.c, tc's m_bpf): a classic or
// eBPF program run on the packet, whose return value may override the
// action's control verdict.
type Bpf struct {
	C Common // C.Control is "default-action": pipe unless given
	// Bytecode is a classic program (File: the file it was read from).
	Bytecode []cbpf.Insn
	File     string
	// Object and Section name an eBPF program; Name is TCA_ACT_BPF_NAME,
	// "FILE.o:[SECTION]".
	Object, Section, Name string
	// Set when the program is loaded, for listings.
	ProgID   uint32
	ProgName string
	ProgTag  [8]byte
}

func (*Bpf) Kind() string      { return "bpf" }
func (b *Bpf) Common() *Common { return &b.C }

// bpfAction runs its program as tcf_bpf_act does. Its parameters (the
// program among them) sit behind one atomic pointer, so a replace swaps
// them whole.
type bpfAction struct {
	cell stats.Cell
	p    atomic.Pointer[bpfParams]
}

type bpfParams struct {
	spec Bpf
	prog bpf.Program
}

var _ Action = (*bpfAction)(nil)

func newBpf(s *Bpf, env Env, cell stats.Cell) (*bpfAction, error) {
	if err := checkControl("bpf", "default-action", s.C.Control); err != nil {
		return nil, err
	}
	c, err := copyCommon(s.C)
	if err != nil {
		return nil, fmt.Errorf("bpf: %w", err)
	}
	prog, err := LoadProgram(s.Bytecode, s.File, s.Object, s.Section, env)
	if err != nil {
		return nil, err
	}
	spec := *cloneSpec(s).(*Bpf)
	spec.C = c
	in := prog.Info()
	spec.ProgID, spec.ProgName, spec.ProgTag = in.ID, in.Name, in.Tag
	a := &bpfAction{cell: cell}
	a.p.Store(&bpfParams{spec: spec, prog: prog})
	return a, nil
}

// Exec is tcf_bpf_act: the program's return value picks the verdict.
// PIPE, RECLASSIFY and OK are taken as they are, SHOT too (and counted as
// the action's drop); UNSPEC (-1) means the action's own default-action;
// anything else is UNSPEC ("continue"). REDIRECT ends the action list and
// the classification in the kernel too, and skb_do_redirect carries it
// out at the hook: here the action carries it out at once (BPFRedirect),
// so that a redirect that fails is counted as its overlimit. A program
// that faults drops the packet and counts a drop.
func (a *bpfAction) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	prm := a.p.Load()
	pk, by := p.WireLen()
	a.cell.UseN(c.Worker, pk, by, c.Now)
	env := &c.BPF
	env.Ifindex, env.Ingress, env.Now, env.CPU = c.Dev, c.Ingress, c.Now, c.Worker
	env.RedirectIfindex, env.RedirectFlags, env.ClassID = 0, 0, 0
	ret, err := prm.prog.Run(p, env)
	if err != nil {
		a.cell.Drop(c.Worker)
		return Shot
	}
	switch v := Verdict(int32(uint32(ret))); v {
	case Pipe, Reclassify, OK:
		return v
	case Redirect:
		return BPFRedirect(c, p, a.cell)
	case Shot:
		a.cell.Drop(c.Worker)
		return Shot
	case Unspec:
		return prm.spec.C.Control
	}
	return Unspec
}

func (a *bpfAction) Spec() Spec        { s := a.p.Load().spec; return cloneSpec(&s) }
func (a *bpfAction) live() Spec        { return &a.p.Load().spec }
func (a *bpfAction) Stats() stats.Cell { return a.cell }

func (a *bpfAction) replace(from Action, _ int64) error {
	f, ok := from.(*bpfAction)
	if !ok {
		return errKindChange("bpf", from)
	}
	if old := a.p.Swap(f.p.Load()); old.prog != f.p.Load().prog {
		ReleaseProgram(old.prog)
	}
	return nil
}

// release implements the table's releaser: the action left the table.
func (a *bpfAction) release() { ReleaseProgram(a.p.Load().prog) }

// ReleaseProgram lets an eBPF program leave the listings (bpf.Releaser)
// when what held it (a bpf filter or action) is gone.
func ReleaseProgram(p bpf.Program) {
	if r, ok := p.(bpf.Releaser); ok {
		r.Release()
	}
}

// bpfFlagIngress is BPF_F_INGRESS: bpf_redirect to the device's ingress.
const bpfFlagIngress = 1

// BPFRedirect carries out a bpf program's TC_ACT_REDIRECT, as
// skb_do_redirect does: the packet goes to the device the program's
// bpf_redirect chose (c.BPF.RedirectIfindex, its ingress with
// BPF_F_INGRESS) through the datapath's redirect path, which owns it from
// then on, failed or not: it returns Consumed. A redirect that fails (no
// such device: skb_do_redirect's dev_get_by_index_rcu miss, which frees
// the skb; a spent redirect TTL; a full backlog) drops the packet and is
// counted as cell's overlimit, where tc -s shows it (act_mirred counts a
// gone device the same way, tcf_action_inc_overlimit_qstats). Without a
// target (no bpf_redirect, or nothing to redirect through) the packet is
// the caller's to drop: Shot, counted as an overlimit too.
func BPFRedirect(c *Ctx, p *pkt.Buffer, cell stats.Cell) Verdict {
	dev := c.BPF.RedirectIfindex
	if dev == 0 || c.Out == nil {
		cell.Overlimit(c.Worker)
		return Shot
	}
	if err := c.Out.Mirred(c, p, dev, c.BPF.RedirectFlags&bpfFlagIngress != 0); err != nil {
		cell.Overlimit(c.Worker)
	}
	return Consumed
}
