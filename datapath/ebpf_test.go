package datapath

import (
	"bytes"
	"testing"

	"github.com/cilium/ebpf/asm"

	"netyard/act"
	"netyard/bpf"
	"netyard/bpf/ebpf"
	"netyard/cls"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/pkt"
)

// cloneProg is an eBPF program that clones the packet to device ifindex
// (its ingress when ingress) and returns TC_ACT_OK when the helper
// returned 0, TC_ACT_SHOT otherwise.
func cloneProg(t *testing.T, ifindex int32, ingress bool) *ebpf.Program {
	t.Helper()
	flags := int32(0)
	if ingress {
		flags = 1
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, ifindex),
		asm.Mov.Imm(asm.R3, flags),
		asm.FnCloneRedirect.Call(),
		asm.JEq.Imm(asm.R0, 0, "ok"),
		asm.Mov.Imm(asm.R0, 2),
		asm.Return(),
		asm.Mov.Imm(asm.R0, 0).WithSymbol("ok"),
		asm.Return(),
	}
	raw, err := ebpf.FromAsm(insns, func(string) (int, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgram("clone", raw, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBpfCloneRedirect: bpf_clone_redirect through the datapath: a copy
// of the packet as it is at the call leaves through the target device
// while the program's own verdict decides the original (OK: delivered);
// an unknown device is -EINVAL; a copy sent to the ingress of its own
// device loops until the redirect TTL stops it, which the helper reports
// as -ENOBUFS to the run that hit it.
func TestBpfCloneRedirect(t *testing.T) {
	for _, tt := range []struct {
		name      string
		target    string // "" for an unknown index
		ingress   bool
		wantTx    int // copies eth1 transmitted
		wantLoops bool
	}{
		{"to eth1's egress", "eth1", false, 1, false},
		{"unknown device", "", false, 0, false},
		{"loop through eth0's ingress", "eth0", true, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, "eth0", "eth1")
			idx := int32(999)
			if tt.target != "" {
				d, err := r.ns.Device(tt.target)
				if err != nil {
					t.Fatal(err)
				}
				idx = d.Netdev().Index()
			}
			prog := cloneProg(t, idx, tt.ingress)
			r.e.LoadObject = func(ns, path, section string) (bpf.Program, error) { return prog, nil }
			r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: 0x0003, Classifier: &cls.Bpf{Object: "clone.o", DirectAction: true}})
			frame := udpFrame(t)
			r.inject("eth0", frame)
			if got := len(r.sent["eth1"]); got != tt.wantTx {
				t.Errorf("eth1 sent %d copies, want %d", got, tt.wantTx)
			}
			if tt.wantTx > 0 && !bytes.Equal(r.sent["eth1"][0].frame, frame) {
				t.Errorf("the copy differs from the frame")
			}
			c, _ := r.ns.Device("eth0")
			cnt := c.Counters()
			runs, faults, _ := prog.Stats()
			if faults != 0 {
				t.Errorf("%d faults", faults)
			}
			switch {
			case tt.wantLoops:
				// every copy runs the program again, until the TTL is
				// spent: that run's helper fails (SHOT), all others pass
				if cnt.LoopDrops != 1 || runs < 2 || cnt.IngressDrops != 1 || cnt.Delivered != runs-1 {
					t.Errorf("loop: %d runs, loop drops %d, ingress drops %d, delivered %d; want the TTL to stop it once", runs, cnt.LoopDrops, cnt.IngressDrops, cnt.Delivered)
				}
			case tt.target == "":
				if runs != 1 || cnt.IngressDrops != 1 || cnt.Delivered != 0 {
					t.Errorf("unknown device: %d runs, %d dropped, %d delivered; want the helper to fail (-EINVAL: SHOT)", runs, cnt.IngressDrops, cnt.Delivered)
				}
			default:
				if runs != 1 || cnt.Delivered != 1 {
					t.Errorf("%d runs, %d delivered; want 1 and the original delivered (TC_ACT_OK)", runs, cnt.Delivered)
				}
			}
		})
	}
}

// TestEBPFPathNoAllocs: the datapath with the three eBPF examples from
// their objects (the flow counter, the sampler and the DSCP classifier in
// front of a redirect) through an engine's loader, each worker with its
// own run scratch, allocates nothing per packet: map lookups, updates of
// existing keys, ring buffer records and context writes included.
func TestEBPFPathNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	pool := pkt.NewPool(pkt.PoolConfig{})
	r := newRigPool(t, pool, "eth0", "eth1")
	d1, _ := r.ns.Device("eth1")
	d1.Netdev().SetTxSink(netdev.EndpointFunc(func(p *pkt.Buffer, now int64) { p.Release() }))
	l := ebpf.NewLoader(r.e.Workers())
	r.e.LoadObject = l.LoadObject
	for i, obj := range []string{"flow_counter", "sampler", "dscp_classifier"} {
		r.filter(cls.Filter{Dev: "eth0", Prio: uint16(i + 1), Protocol: 0x0003,
			Classifier: &cls.Bpf{Object: "../examples/bpf/" + obj + ".o", Section: "tc"}})
	}
	r.filter(cls.Filter{Dev: "eth0", Prio: 9, Protocol: 0x0003, Classifier: &cls.Matchall{}, Actions: []act.Spec{redirect("eth1")}})
	d0, _ := r.ns.Device("eth0")
	frame := udpFrame(t)
	maps := l.MapsIn(r.ns.Name())
	drain := func([]byte) {}
	samples := func() {
		for _, m := range maps {
			m.ReadRecords(drain)
		}
	}
	batch(r, d0, frame, 64) // the flow's key is in the map from now on
	samples()
	if n := testing.AllocsPerRun(100, func() { batch(r, d0, frame, 64); samples() }); n != 0 {
		t.Fatalf("%v allocations per batch of 64, want 0", n)
	}
	for _, p := range l.Programs() {
		if runs, faults, _ := p.Stats(); runs < 64*101 || faults != 0 {
			t.Errorf("%s: %d runs, %d faults", p.Info().Name, runs, faults)
		}
	}
	if n := pool.Stats().Live; n != 0 {
		t.Errorf("%d buffers leaked", n)
	}
}
