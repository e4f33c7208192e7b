package datapath

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"

	"github.com/cilium/ebpf/asm"

	"netyard/act"
	"netyard/bpf"
	"netyard/bpf/ebpf"
	"netyard/cls"
	"netyard/tcsyntax"
)

// redirectProg is an eBPF program that returns bpf_redirect(ifindex,
// flags): TC_ACT_REDIRECT.
func redirectProg(t *testing.T, ifindex int32, ingress bool) *ebpf.Program {
	t.Helper()
	flags := int32(0)
	if ingress {
		flags = 1
	}
	insns := asm.Instructions{
		asm.Mov.Imm(asm.R1, ifindex),
		asm.Mov.Imm(asm.R2, flags),
		asm.FnRedirect.Call(),
		asm.Return(),
	}
	raw, err := ebpf.FromAsm(insns, func(string) (int, error) { return 0, nil })
	if err != nil {
		t.Fatal(err)
	}
	p, err := ebpf.NewProgram("redirect", raw, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	redirectErrors = regexp.MustCompile(`redirect errors (\d+)\)`)
	actionStats    = regexp.MustCompile(`Sent \d+ bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)`)
)

// TestBpfRedirectFailureCounted: a TC_ACT_REDIRECT whose redirect fails
// (the device bpf_redirect named is gone or never was, or the packet's
// redirect TTL stopped a loop) drops the packet, as skb_do_redirect
// frees it, and is counted where tc -s shows it: a direct-action
// filter's "redirect errors", a bpf action's overlimits (as act_mirred
// counts a gone device). A redirect that works counts nothing.
func TestBpfRedirectFailureCounted(t *testing.T) {
	for _, tt := range []struct {
		name     string
		target   string // the device; "" an index no device ever had
		ingress  bool
		del      bool // delete the target before the packet comes
		asAction bool // matchall + action bpf instead of bpf da
		fails    bool
	}{
		{"to eth1", "eth1", false, false, false, false},
		{"to eth1, action", "eth1", false, false, true, false},
		{"to a deleted device", "eth1", false, true, false, true},
		{"to a deleted device, action", "eth1", false, true, true, true},
		{"to an unknown index", "", false, false, false, true},
		{"a loop through eth0's ingress", "eth0", true, false, false, true},
		{"a loop through eth0's ingress, action", "eth0", true, false, true, true},
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
			prog := redirectProg(t, idx, tt.ingress)
			r.e.LoadObject = func(ns, path, section string) (bpf.Program, error) { return prog, nil }
			if tt.asAction {
				r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: 0x0003, Classifier: &cls.Matchall{},
					Actions: []act.Spec{&act.Bpf{Object: "redirect.o", Section: "action"}}})
			} else {
				r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: 0x0003, Classifier: &cls.Bpf{Object: "redirect.o", DirectAction: true}})
			}
			if tt.del {
				if err := r.e.DelDevice(r.ns, tt.target, nil); err != nil {
					t.Fatal(err)
				}
			}
			r.inject("eth0", udpFrame(t))

			var out, errb bytes.Buffer
			if err := tcsyntax.Run(r.ns, []string{"-s", "filter", "show", "dev", "eth0", "ingress"}, &out, &errb); err != nil {
				t.Fatalf("tc -s filter show: %v %s", err, errb.String())
			}
			var failed uint64
			if tt.asAction {
				m := actionStats.FindStringSubmatch(out.String())
				if m == nil {
					t.Fatalf("no action statistics in\n%s", out.String())
				}
				failed, _ = strconv.ParseUint(m[3], 10, 64)
			} else {
				m := redirectErrors.FindStringSubmatch(out.String())
				if m == nil {
					t.Fatalf("no redirect errors in\n%s", out.String())
				}
				failed, _ = strconv.ParseUint(m[1], 10, 64)
			}
			d0, _ := r.ns.Device("eth0")
			c := d0.Counters()
			sent := len(r.sent["eth1"])
			if tt.fails {
				if failed != 1 || sent != 0 || c.Delivered != 0 {
					t.Fatalf("failed redirects %d, eth1 sent %d, eth0 delivered %d; want the failure counted once and the packet dropped\n%s",
						failed, sent, c.Delivered, out.String())
				}
				if tt.target == "eth0" && c.LoopDrops != 1 {
					t.Fatalf("loop drops %d, want the TTL to have stopped the loop once", c.LoopDrops)
				}
			} else if failed != 0 || sent != 1 {
				t.Fatalf("failed redirects %d, eth1 sent %d; want the packet through eth1 and nothing counted\n%s", failed, sent, out.String())
			}
		})
	}
}
