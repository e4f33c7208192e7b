package datapath

import (
	"bytes"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netyard/bpf/ebpf"
	"netyard/internal/testutil"
	"netyard/netdev"
	"netyard/tcsyntax"
	"netyard/wire"
)

// TestBpfClassIDAgainstKernel: the class a direct-action bpf filter of a
// classful qdisc picks, with the kernel as the oracle. The same htb tree
// and the same "tc filter add ... bpf da ..." line (examples/bpf/
// dscp_classifier.o, which writes tc_classid = 1:(DSCP>>3)+1, or a
// classic program, which cannot write it) go on a veth in a namespace and
// on a netyard device; frames with chosen DSCPs are sent through both,
// and the classes' packet counters must agree. What it pins down
// (cls_bpf_classify, struct qdisc_skb_cb): the class is TC_H_MAJ(the
// filter's classid) | tc_classid, tc_classid is a u16 (the major the
// program writes is lost: without a classid the class is 0:N, no htb
// class, so htb's default), and it is preset to the filter's classid (a
// classic program picks the filter's classid itself).
func TestBpfClassIDAgainstKernel(t *testing.T) {
	testutil.NeedRoot(t, "a veth, htb and cls_bpf in a network namespace")
	testutil.NeedTools(t, "ip", "tc")
	const obj = "../examples/bpf/dscp_classifier.o"
	setup := []string{
		// default 63: where a class that does not exist sends a packet
		"qdisc add dev v0 root handle 1: htb default 63 r2q 10000",
	}
	for _, c := range []int{1, 2, 3, 4, 5, 6, 7, 8, 63} {
		setup = append(setup, fmt.Sprintf("class add dev v0 parent 1: classid 1:%d htb rate 1gbit", c))
	}
	// one frame per class selector, and AF41 and EF inside them
	var frames [][]byte
	for _, dscp := range []uint8{0, 8, 16, 24, 32, 34, 40, 46, 48, 56} {
		frames = append(frames, dscpFrame(t, dscp, false))
	}
	frames = append(frames, dscpFrame(t, 46, true), dscpFrame(t, 10, true))
	// and one the program leaves alone (not IP: it returns OK without
	// writing tc_classid, so the preset filter classid decides)
	other := dscpFrame(t, 0, false)
	other[12], other[13] = 0x88, 0xb5 // IEEE 802 local experimental EtherType
	frames = append(frames, other)
	for _, tt := range []struct{ name, filter string }{
		{"ebpf, no classid", "bpf da obj " + obj + " sec tc"},
		{"ebpf, classid of the qdisc's major", "bpf da obj " + obj + " sec tc classid 1:7"},
		{"ebpf, classid of another major", "bpf da obj " + obj + " sec tc classid 2:3"},
		{"ebpf, flowid", "bpf obj " + obj + " sec tc da flowid 1:0"},
		{"classic, classid", "bpf bytecode 1,6\\ 0\\ 0\\ 0, da classid 1:3"},
		{"classic, no classid", "bpf bytecode 1,6\\ 0\\ 0\\ 0, da"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			filter := "filter add dev v0 parent 1: protocol all pref 1 " + tt.filter
			kernel := kernelClassCounts(t, setup, filter, frames)
			ours := netyardClassCounts(t, setup, filter, frames)
			if !maps.Equal(kernel, ours) {
				t.Fatalf("packets per class: kernel %v, netyard %v", kernel, ours)
			}
			t.Logf("packets per class: %v", kernel)
		})
	}
}

// dscpFrame is a UDP frame over IPv4 or IPv6 with the given DSCP.
func dscpFrame(t *testing.T, dscp uint8, v6 bool) []byte {
	t.Helper()
	s := wire.FrameSpec{Src: wire.MAC{2, 0, 0, 0, 0, 1}, Dst: wire.MAC{2, 0, 0, 0, 0, 2},
		SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"),
		Proto: wire.ProtoUDP, SrcPort: 1, DstPort: 2, TOS: dscp << 2, Payload: []byte("a payload long enough to need no padding")}
	if v6 {
		s.SrcIP, s.DstIP = netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	}
	b, err := wire.AppendFrame(nil, &s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// splitTC cuts a tc command line into words, a backslash keeping the
// space after it (the classic program's "1,6 0 0 0," is one word).
func splitTC(line string) []string {
	var w []string
	for _, f := range strings.Fields(strings.ReplaceAll(line, "\\ ", "\x00")) {
		w = append(w, strings.ReplaceAll(f, "\x00", " "))
	}
	return w
}

// kernelClassCounts runs the commands on a veth v0 in a fresh namespace,
// sends the frames out of v0 through an AF_PACKET socket (so through its
// root qdisc) and returns each class's packets once they add up to the
// frames sent.
func kernelClassCounts(t *testing.T, setup []string, filter string, frames [][]byte) map[string]uint64 {
	ns := testutil.NewNetns(t, "bpfcls")
	ns.IP("link", "add", "v0", "type", "veth", "peer", "name", "v1")
	ns.IP("link", "set", "v0", "up")
	ns.IP("link", "set", "v1", "up")
	for _, c := range append(setup[:len(setup):len(setup)], filter) {
		ns.Exec("tc", splitTC(c)...)
	}
	err := ns.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		ifi, err := net.InterfaceByName("v0")
		if err != nil {
			return err
		}
		to := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		for _, f := range frames {
			if err := unix.Sendto(fd, f, 0, to); err != nil {
				return fmt.Errorf("send: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]uint64
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		got = classPackets(t, ns.Exec("tc", "-s", "class", "show", "dev", "v0"))
		if total(got) >= uint64(len(frames)) || time.Now().After(deadline) {
			break
		}
	}
	return got
}

// netyardClassCounts runs the same commands on a netyard device v0 and
// sends the frames to v0's egress (a mirred from another device's
// ingress), then reads the classes as tc prints them.
func netyardClassCounts(t *testing.T, setup []string, filter string, frames [][]byte) map[string]uint64 {
	r := newRig(t, "in")
	if _, err := r.e.AddDevice(r.ns, netdev.Config{Name: "v0"}); err != nil {
		t.Fatal(err)
	}
	r.e.LoadObject = ebpf.NewLoader(r.e.Workers()).LoadObject
	tc := func(line string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if err := tcsyntax.Run(r.ns, splitTC(line), &out, &errb); err != nil {
			t.Fatalf("tc %s: %v %s", line, err, errb.String())
		}
		return out.String()
	}
	for _, c := range append(setup[:len(setup):len(setup)], filter,
		"filter add dev in ingress matchall action mirred egress redirect dev v0") {
		tc(c)
	}
	for _, f := range frames {
		r.inject("in", f)
	}
	return classPackets(t, tc("-s class show dev v0"))
}

// classPackets reads "tc -s class show": each class's "Sent N bytes M
// pkt" (iproute2 prints htb's classes as text even with -j).
func classPackets(t *testing.T, out string) map[string]uint64 {
	m := map[string]uint64{}
	var class string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 3 && f[0] == "class":
			class = f[2]
		case len(f) >= 5 && f[0] == "Sent" && class != "":
			n, err := strconv.ParseUint(f[3], 10, 64)
			if err != nil {
				t.Fatalf("class %s: %q: %v", class, l, err)
			}
			if n != 0 {
				m[class] = n
			}
			class = ""
		}
	}
	return m
}

func total(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
