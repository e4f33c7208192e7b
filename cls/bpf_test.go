package cls_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"netyard/act"
	"netyard/bpf"
	"netyard/bpf/cbpf"
	"netyard/bpf/ebpf"
	"netyard/cls"
	"netyard/pkt"
	"netyard/wire"
)

// retK is a classic program that returns k.
func retK(k uint32) *cls.Bpf {
	return &cls.Bpf{Bytecode: []cbpf.Insn{{Code: 0x06, K: k}}}
}

func bpfFilter(prio uint16, s *cls.Bpf, classID uint32, actions ...act.Spec) *cls.Filter {
	return &cls.Filter{Prio: prio, Protocol: wire.EtherTypeAll, Classifier: s, ClassID: classID, Actions: actions}
}

// TestBpfReturnValues: cls_bpf_classify's reading of a program's return
// value, without and with direct-action.
func TestBpfReturnValues(t *testing.T) {
	da := func(k uint32) *cls.Bpf { s := retK(k); s.DirectAction = true; return s }
	for _, tt := range []struct {
		name    string
		first   *cls.Filter
		verdict act.Verdict
		class   uint32
		// second says the packet went on to the filter at prio 2
		// (matchall, classid 0x99).
		second bool
	}{
		{"0 is no match", bpfFilter(1, retK(0), 0x10001), act.OK, 0x99, true},
		{"-1 is the filter's classid", bpfFilter(1, retK(0xffffffff), 0x10001), act.OK, 0x10001, false},
		{"another value is the class", bpfFilter(1, retK(0x10002), 0x10001), act.OK, 0x10002, false},
		{"the actions run", bpfFilter(1, retK(0xffffffff), 0x10001, gact(act.Shot)), act.Shot, 0x10001, false},
		{"an action's continue goes on", bpfFilter(1, retK(0xffffffff), 0x10001, gact(act.Unspec)), act.OK, 0x99, true},
		// da: the class is TC_H_MAJ(classid) | tc_classid, which
		// cls_bpf_classify presets to the filter's classid and a
		// classic program cannot write: the filter's classid
		{"da: OK", bpfFilter(1, da(0), 0x10001), act.OK, 0x10001, false},
		{"da: SHOT", bpfFilter(1, da(2), 0x10001), act.Shot, 0x10001, false},
		{"da: STOLEN", bpfFilter(1, da(4), 0), act.Stolen, 0, false},
		{"da: UNSPEC goes on", bpfFilter(1, da(0xffffffff), 0x10001), act.OK, 0x99, true},
		{"da: RECLASSIFY is not a cls_bpf opcode: goes on", bpfFilter(1, da(1), 0x10001), act.OK, 0x99, true},
		{"da: REDIRECT without bpf_redirect drops", bpfFilter(1, da(7), 0), act.Shot, 0, false},
		{"da: actions do not run", bpfFilter(1, da(0), 0, gact(act.Shot)), act.OK, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pool := leakPool(t)
			h := newHook(t)
			h.add(tt.first)
			h.add(matchall(0, 2, wire.EtherTypeAll))
			h.ch.Add(&cls.Filter{Prio: 2, ClassID: 0x99, Handle: 1, Classifier: &cls.Matchall{}}, act.ModeReplace)
			p := packet(t, pool, udp4())
			defer p.Release()
			r := h.ch.Block().Classify(&act.Ctx{}, p)
			if r.Verdict != tt.verdict || r.ClassID != tt.class {
				t.Fatalf("Classify = %+v; want verdict %v class %#x", r, tt.verdict, tt.class)
			}
		})
	}
}

// TestBpfListOrder: the filters of one bpf prio run newest first, as
// cls_bpf_change puts a new filter at the head of its list; a replaced
// filter keeps its place; a deleted one leaves it.
func TestBpfListOrder(t *testing.T) {
	pool := leakPool(t)
	h := newHook(t)
	h.add(bpfFilter(1, retK(0x10001), 0)) // handle 1
	h.add(bpfFilter(1, retK(0x10002), 0)) // handle 2, runs first
	h.add(bpfFilter(1, retK(0), 0))       // handle 3: no match
	p := packet(t, pool, udp4())
	defer p.Release()
	classify := func() uint32 { return h.ch.Block().Classify(&act.Ctx{}, p).ClassID }
	if got := classify(); got != 0x10002 {
		t.Fatalf("class %#x; want the newest matching filter's 0x10002", got)
	}
	f := bpfFilter(1, retK(0), 0)
	f.Handle = 2
	if err := h.ch.Add(f, act.ModeReplace); err != nil {
		t.Fatal(err)
	}
	if got := classify(); got != 0x10001 {
		t.Fatalf("after replacing handle 2 with a non-match: class %#x; want 0x10001", got)
	}
	f = bpfFilter(1, retK(0x10003), 0)
	f.Handle = 2
	if err := h.ch.Add(f, act.ModeReplace); err != nil {
		t.Fatal(err)
	}
	if got := classify(); got != 0x10003 {
		t.Fatalf("the replaced filter keeps its place before handle 1: class %#x; want 0x10003", got)
	}
	if err := h.ch.Delete(&cls.Filter{Prio: 1, Handle: 2}); err != nil {
		t.Fatal(err)
	}
	if got := classify(); got != 0x10001 {
		t.Fatalf("after deleting handle 2: class %#x; want 0x10001", got)
	}
	views := h.ch.List(nil)
	if len(views) != 2 {
		t.Fatalf("%d filters listed, want 2", len(views))
	}
	if b := views[0].Spec.Classifier.(*cls.Bpf); b.ProgID == 0 || b.ProgName != "bytecode" || len(b.Bytecode) != 1 {
		t.Fatalf("listed spec %+v: want the loaded program's id and name and the bytecode", b)
	}
}

// faulty is a program that always stops with a fault.
type faulty struct{}

func (faulty) Run(*pkt.Buffer, *bpf.Env) (uint64, error) {
	return 0, &bpf.Fault{PC: 3, Reason: "read outside packet"}
}
func (faulty) Info() bpf.Info { return bpf.Info{Kind: "extended", Name: "faulty", ID: 77} }

// loaderEnv is env with an eBPF loader that hands out one program.
type loaderEnv struct {
	*env
	prog bpf.Program
	path string
}

func (l *loaderEnv) LoadObject(path, section string) (bpf.Program, error) {
	l.path = path + ":" + section
	return l.prog, nil
}

// TestBpfObjectAndFault: an object file goes through the env's loader
// (and without one the error says what is missing); a program that faults
// drops the packet and counts the fault as the filter's drop.
func TestBpfObjectAndFault(t *testing.T) {
	h := newHook(t)
	err := h.ch.Add(bpfFilter(1, &cls.Bpf{Object: "prog.o", Section: "classifier"}, 0), act.ModeAdd)
	if !errors.Is(err, bpf.ErrNoObjectLoader) || !strings.Contains(err.Error(), "eBPF loader") {
		t.Fatalf("object file without a loader: %v", err)
	}

	pool := leakPool(t)
	le := &loaderEnv{env: &env{}, prog: faulty{}}
	tab := act.NewTable(le)
	ch := cls.NewChains(tab, le)
	if err := ch.Add(bpfFilter(1, &cls.Bpf{Object: "prog.o", Section: "tc", DirectAction: true}, 0), act.ModeAdd); err != nil {
		t.Fatal(err)
	}
	if le.path != "prog.o:tc" {
		t.Fatalf("loader asked for %q", le.path)
	}
	p := packet(t, pool, udp4())
	defer p.Release()
	r := ch.Block().Classify(&act.Ctx{}, p)
	if r.Verdict != act.Shot {
		t.Fatalf("a faulting program: %+v; want drop", r)
	}
	v := ch.List(nil)
	if v[0].Stats.Drops != 1 {
		t.Fatalf("fault count %d, want 1", v[0].Stats.Drops)
	}
	if b := v[0].Spec.Classifier.(*cls.Bpf); b.ProgID != 77 || b.ProgName != "faulty" {
		t.Fatalf("stored spec %+v: want the program's id and name", b)
	}
}

// TestBpfClassifyAllocs: the bpf classifier path allocates nothing.
func TestBpfClassifyAllocs(t *testing.T) {
	pool := leakPool(t)
	h := newHook(t)
	insns, err := cbpf.Parse("11,40 0 0 12,21 0 8 2048,48 0 0 23,21 0 6 17,40 0 0 20,69 4 0 8191,177 0 0 14,72 0 0 16,21 0 1 53,6 0 0 262144,6 0 0 0")
	if err != nil {
		t.Fatal(err)
	}
	h.add(bpfFilter(1, &cls.Bpf{Bytecode: insns}, 0x10001, gact(act.Pipe)))
	p := packet(t, pool, udp4())
	defer p.Release()
	c := &act.Ctx{}
	b := h.ch.Block()
	// tcpdump's programs return the snap length, 262144, for a match:
	// without direct-action cls_bpf reads it as the class 4:0.
	if r := b.Classify(c, p); r.ClassID != 262144 || r.Verdict != act.Pipe {
		t.Fatalf("udp 53: %+v; want class 262144 and the action's pipe", r)
	}
	if n := testing.AllocsPerRun(200, func() { b.Classify(c, p) }); n != 0 {
		t.Errorf("bpf: %v allocations per packet, want 0", n)
	}
}

// BenchmarkClassifyBpf: the bpf classifier path with tcpdump's code for
// "udp dst port 53" (classic, compiled) and gact pass, on a matching
// packet; beside it, flower's filter for the same match.
func BenchmarkClassifyBpf(b *testing.B) {
	insns, err := cbpf.Parse("11,40 0 0 12,21 0 8 2048,48 0 0 23,21 0 6 17,40 0 0 20,69 4 0 8191,177 0 0 14,72 0 0 16,21 0 1 53,6 0 0 262144,6 0 0 0")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		f    *cls.Filter
	}{
		{"bpf", bpfFilter(1, &cls.Bpf{Bytecode: insns}, 0, gact(act.OK))},
		{"flower", &cls.Filter{Prio: 1, Protocol: ethIP, Classifier: &cls.Flower{IPProto: ptr(wire.ProtoUDP), DstPort: &cls.PortRange{Min: 53, Max: 53}}, Actions: []act.Spec{gact(act.OK)}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			pool := leakPool(b)
			h := newHook(b)
			h.add(bc.f)
			blk := h.ch.Block()
			p := packet(b, pool, udp4())
			defer p.Release()
			c := &act.Ctx{}
			b.ReportAllocs()
			for b.Loop() {
				if r := blk.Classify(c, p); !r.Matched {
					b.Fatalf("no match: %+v", r)
				}
			}
		})
	}
}

// TestBpfDumpRoundTrip: a bpf filter and a bpf action come back from the
// dump encoding as they were listed.
func TestBpfDumpRoundTrip(t *testing.T) {
	h := newHook(t)
	h.add(bpfFilter(1, &cls.Bpf{Bytecode: []cbpf.Insn{{Code: 0x28, K: 12}, {Code: 0x06, K: 0xffffffff}}, File: "x.txt", DirectAction: true}, 0x10001,
		&act.Bpf{C: act.Common{Control: act.Pipe}, Bytecode: []cbpf.Insn{{Code: 0x06}}}))
	want := h.ch.List(nil)
	var d cls.Decoder
	d.Reset(1)
	n := 0
	h.ch.Walk(nil, cls.Select{}, func(e cls.DumpEntry) bool {
		var v cls.FilterView
		if err := d.Decode(e.Append(nil, false, 0), &v); err != nil {
			t.Fatal(err)
		}
		w := want[n]
		v.Spec.Dev, v.Spec.Parent = w.Spec.Dev, w.Spec.Parent
		if !reflect.DeepEqual(v.Spec, w.Spec) {
			t.Errorf("got %+v\nwant %+v", v.Spec, w.Spec)
		}
		gb, wb := v.Spec.Classifier.(*cls.Bpf), w.Spec.Classifier.(*cls.Bpf)
		if !reflect.DeepEqual(gb, wb) || wb.ProgID == 0 {
			t.Errorf("classifier %+v, want %+v", gb, wb)
		}
		ga, wa := v.Spec.Actions[0].(*act.Bpf), w.Spec.Actions[0].(*act.Bpf)
		if !reflect.DeepEqual(ga, wa) || wa.ProgID == 0 {
			t.Errorf("action %+v, want %+v", ga, wa)
		}
		n++
		return true
	})
	if n != 1 {
		t.Fatalf("%d filters dumped", n)
	}
}

// redirector is a program that calls bpf_redirect(2, BPF_F_INGRESS) and
// returns TC_ACT_REDIRECT, as an eBPF program would.
type redirector struct{}

func (redirector) Run(_ *pkt.Buffer, env *bpf.Env) (uint64, error) {
	env.RedirectIfindex, env.RedirectFlags = 2, 1
	return 7, nil
}
func (redirector) Info() bpf.Info { return bpf.Info{Kind: "extended", Name: "redir", ID: 9} }

// recorder is an act.Redirector that records where a packet went.
type recorder struct {
	dev     int32
	ingress bool
	n       int
}

func (r *recorder) Mirred(_ *act.Ctx, p *pkt.Buffer, dev int32, ingress bool) error {
	r.dev, r.ingress = dev, ingress
	r.n++
	p.Release()
	return nil
}

// TestBpfRedirect: a direct-action program's TC_ACT_REDIRECT goes through
// the datapath's redirect path (which spends the packet's TTL) to the
// device and side bpf_redirect chose, and the packet is consumed.
func TestBpfRedirect(t *testing.T) {
	pool := leakPool(t)
	le := &loaderEnv{env: &env{}, prog: redirector{}}
	ch := cls.NewChains(act.NewTable(le), le)
	if err := ch.Add(bpfFilter(1, &cls.Bpf{Object: "r.o", DirectAction: true}, 0), act.ModeAdd); err != nil {
		t.Fatal(err)
	}
	out := &recorder{}
	p := packet(t, pool, udp4())
	r := ch.Block().Classify(&act.Ctx{Out: out}, p)
	if r.Verdict != act.Consumed || out.n != 1 || out.dev != 2 || !out.ingress {
		t.Fatalf("Classify = %+v, redirector saw %+v; want the packet consumed, sent to 2's ingress", r, out)
	}
}

// TestBpfDirectActionClassID: an eBPF program in direct-action mode picks
// the class by writing __sk_buff->tc_classid, which cls_bpf combines with
// the filter's classid's major number (TC_H_MAJ(classid) | tc_classid).
// tc_classid is a u16 in the kernel (qdisc_skb_cb), so of
// examples/bpf/dscp_classifier.o's write of 1:(DSCP>>3)+1 only the minor
// counts: the major is the filter's, 0 without a classid. The kernel is
// the oracle in datapath's TestBpfClassIDAgainstKernel; this is the
// unit-level check of the same rule.
func TestBpfDirectActionClassID(t *testing.T) {
	l := ebpf.NewLoader(1)
	prog, err := l.LoadObject("default", "../examples/bpf/dscp_classifier.o", "tc")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		frame   wire.FrameSpec
		classID uint32
	}{
		{"ipv4", udp4(), 0},
		{"ipv6", udp6(), 0},
		{"the filter's major, the program's minor", udp6(), 0x20007},
		{"the program's major is lost", udp4(), 0x10000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// the program: priority DSCP>>3 (dscp_table empty), class
			// TC_H_MAKE(1<<16, priority+1)
			prio := uint32(tt.frame.TOS>>2) >> 3
			want := tt.classID&0xffff0000 | (prio + 1)
			pool := leakPool(t)
			le := &loaderEnv{env: &env{}, prog: prog}
			ch := cls.NewChains(act.NewTable(le), le)
			if err := ch.Add(bpfFilter(1, &cls.Bpf{Object: "dscp_classifier.o", Section: "tc", DirectAction: true}, tt.classID), act.ModeAdd); err != nil {
				t.Fatal(err)
			}
			p := packet(t, pool, tt.frame)
			defer p.Release()
			var rnd uint64
			c := &act.Ctx{}
			c.BPF.Rand = &rnd
			r := ch.Block().Classify(c, p)
			if r.Verdict != act.OK || r.ClassID != want || p.Priority != prio {
				t.Fatalf("Classify = %+v, priority %d; want OK, class %#x, priority %d", r, p.Priority, want, prio)
			}
		})
	}
}
