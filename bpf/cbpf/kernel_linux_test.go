package cbpf

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netyard/bpf"
	"netyard/bpf/cbpf/cbpftest"
	"netyard/internal/testutil"
	"netyard/pkt"
)

// TestKernelClsBpf: the kernel's own cls_bpf, given the same bytecode
// with `tc filter add dev VETH ingress bpf bytecode ...`, matches as many
// of the corpus's frames as netyard does. Each expression is a filter
// whose action, a mirred mirror (the one action this kernel has) with
// "continue", counts its matches and lets the packet on to the next
// filter. VLAN-tagged frames are left out: the kernel takes
// the outer tag out of the frame before tc's ingress (skb_vlan_untag),
// netyard keeps it in (docs/BPF.md).
func TestKernelClsBpf(t *testing.T) {
	testutil.NeedRoot(t, "namespaces, veths and tc filters")
	testutil.NeedTools(t, "tc", "ip", "tcpdump")
	ns := testutil.NewNetns(t, "cbpf")
	ns.IP("link", "add", "va", "type", "veth", "peer", "name", "vb")
	ns.IP("link", "set", "va", "up")
	ns.IP("link", "set", "vb", "up")
	ns.IP("link", "add", "vc", "type", "veth", "peer", "name", "vd")
	ns.IP("link", "set", "vc", "up")
	ns.IP("link", "set", "vd", "up")
	ns.Exec("tc", "qdisc", "add", "dev", "vb", "clsact")
	var progs []*Program
	for i, expr := range cbpftest.Expressions {
		p, insns := tcpdumpProgram(t, expr)
		progs = append(progs, p)
		ns.Exec("tc", "filter", "add", "dev", "vb", "ingress", "pref", fmt.Sprint(i+1), "protocol", "all",
			"bpf", "bytecode", Format(insns), "action", "mirred", "egress", "mirror", "dev", "vc", "continue")
	}
	var frames [][]byte
	for _, f := range cbpftest.Frames() {
		if len(f) >= 14 && (f[12] == 0x81 && f[13] == 0x00 || f[12] == 0x88 && f[13] == 0xa8) {
			continue
		}
		frames = append(frames, f)
	}
	want := make([]uint64, len(progs))
	pool := pkt.NewPool(pkt.PoolConfig{})
	for _, f := range frames {
		b, _ := pool.Get()
		_ = b.SetData(f)
		_ = b.Parse()
		for i, p := range progs {
			if v, _ := p.Run(b, &bpf.Env{Ingress: true}); v != 0 {
				want[i]++
			}
		}
		b.Release()
	}

	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifi, err := netInterfaceIndex("va")
		if err != nil {
			return err
		}
		to := &unix.SockaddrLinklayer{Ifindex: ifi, Halen: 6}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				return fmt.Errorf("send % x: %w", f[:14], err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for deadline := time.Now().Add(3 * time.Second); ; {
		got = kernelCounts(t, ns)
		if slices.Equal(got, want) || time.Now().After(deadline) {
			break
		}
	}
	for i, expr := range cbpftest.Expressions {
		if i >= len(got) || got[i] != want[i] {
			t.Errorf("%q: kernel cls_bpf matched %v of %d frames, netyard %d", expr, got, len(frames), want[i])
		}
	}
	t.Logf("%d frames; matches per expression: %v", len(frames), want)
}

// kernelCounts reads each filter's mirred packet count, in pref order.
func kernelCounts(t *testing.T, ns *testutil.Netns) []uint64 {
	out := ns.Exec("tc", "-s", "-j", "filter", "show", "dev", "vb", "ingress")
	var fs []struct {
		Pref    int `json:"pref"`
		Options *struct {
			Actions []struct {
				Stats struct {
					Packets uint64 `json:"packets"`
				} `json:"stats"`
			} `json:"actions"`
		} `json:"options"`
	}
	if err := json.Unmarshal([]byte(out), &fs); err != nil {
		t.Fatalf("tc -j: %v\n%s", err, out)
	}
	counts := make([]uint64, len(cbpftest.Expressions))
	for _, f := range fs {
		if f.Options == nil || len(f.Options.Actions) == 0 || f.Pref < 1 || f.Pref > len(counts) {
			continue
		}
		counts[f.Pref-1] = f.Options.Actions[0].Stats.Packets
	}
	return counts
}

// TestKernelClsBpfOrder: in the kernel, of two bpf filters in one prio
// that both match, the one added last decides (cls_bpf_change puts a new
// filter at the head of its list): the order netyard runs them in (cls
// TestBpfListOrder).
func TestKernelClsBpfOrder(t *testing.T) {
	testutil.NeedRoot(t, "namespaces, veths and tc filters")
	testutil.NeedTools(t, "tc", "ip")
	ns := testutil.NewNetns(t, "cbpford")
	for _, pair := range [][2]string{{"va", "vb"}, {"vc", "vd"}, {"vg", "vh"}} {
		ns.IP("link", "add", pair[0], "type", "veth", "peer", "name", pair[1])
		ns.IP("link", "set", pair[0], "up")
		ns.IP("link", "set", pair[1], "up")
	}
	ns.Exec("tc", "qdisc", "add", "dev", "vb", "clsact")
	accept := Format([]Insn{{Code: clsRET | retK, K: 0xffffffff}})
	// handle 1, then handle 2; each mirrors to its own device and ends
	// classification (mirred's default pipe is a verdict >= 0).
	ns.Exec("tc", "filter", "add", "dev", "vb", "ingress", "pref", "1", "handle", "1", "protocol", "all", "bpf", "bytecode", accept, "action", "mirred", "egress", "mirror", "dev", "vc")
	ns.Exec("tc", "filter", "add", "dev", "vb", "ingress", "pref", "1", "handle", "2", "protocol", "all", "bpf", "bytecode", accept, "action", "mirred", "egress", "mirror", "dev", "vg")
	frame := cbpftest.Frames()[0]
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifi, err := netInterfaceIndex("va")
		if err != nil {
			return err
		}
		return unix.Sendto(fd, frame, 0, &unix.SockaddrLinklayer{Ifindex: ifi, Halen: 6})
	})
	if err != nil {
		t.Fatal(err)
	}
	var byHandle map[string]uint64
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); {
		byHandle = map[string]uint64{}
		out := ns.Exec("tc", "-s", "-j", "filter", "show", "dev", "vb", "ingress")
		var fs []struct {
			Options *struct {
				Handle  string `json:"handle"` // "0x1"
				Actions []struct {
					Stats struct {
						Packets uint64 `json:"packets"`
					} `json:"stats"`
				} `json:"actions"`
			} `json:"options"`
		}
		if err := json.Unmarshal([]byte(out), &fs); err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Options != nil && len(f.Options.Actions) > 0 {
				byHandle[f.Options.Handle] = f.Options.Actions[0].Stats.Packets
			}
		}
		if byHandle["0x1"]+byHandle["0x2"] > 0 {
			break
		}
	}
	if byHandle["0x2"] != 1 || byHandle["0x1"] != 0 {
		t.Fatalf("kernel: handle 1 ran on %d packets, handle 2 on %d; want the newest (2) to decide", byHandle["0x1"], byHandle["0x2"])
	}
}
