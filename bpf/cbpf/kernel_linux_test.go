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
