package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"netyard/internal/testutil"
	"netyard/wire"
)

// BenchmarkForward measures the forwarding rate of each way through a
// middle namespace M, A -> M -> B on veth pairs: the kernel's own tc mirred
// (the reference), netyard over afpacket, over xdp in native and in
// generic mode. The generator is a separate process in A (this test binary
// again: TestMain) that sends prebuilt 60-byte UDP frames
// (64 on a wire with FCS) with sendmmsg on an AF_PACKET socket, 64 flows,
// FORWARD_FRAMES of them (default 500000) at FORWARD_RATE frames a second
// (default 0: as fast as it can). B counts what arrives on its veth
// (rx_packets); its stack then drops the frames (addressed to an IP it does
// not have, forwarding off), so nothing comes back. Reported: offered and
// delivered frames a second, the loss, and for netyard the CPU time of
// this process (the daemon; the generator is another process) per
// delivered frame. Bounded: FORWARD_FRAMES per iteration, 60 s at most.
//
//	go test ./cmd/netyard -run '^$' -bench '^BenchmarkForward$' -benchtime 1x
func BenchmarkForward(b *testing.B) {
	testutil.NeedRoot(b, "network namespaces and veth pairs")
	frames := envInt(b, "FORWARD_FRAMES", 500000)
	rate := envInt(b, "FORWARD_RATE", 0)
	ways := []struct{ name, typ, mode string }{
		{"mirred", "", ""},
		{"afpacket", "afpacket", ""},
		{"xdp-native", "xdp", "native"},
		{"xdp-generic", "xdp", "generic"},
	}
	// Rounds alternate the ways, so that drift in the machine's load
	// does not land on one of them.
	for range envInt(b, "FORWARD_ROUNDS", 1) {
		for _, way := range ways {
			forwardWay(b, way.name, way.typ, way.mode, frames, rate)
		}
	}
}

// forwardWay is one of BenchmarkForward's ways, typ "" for kernel mirred.
func forwardWay(b *testing.B, name, typ, mode string, frames, rate int) {
	b.Run(name, func(b *testing.B) {
		topo := newForwardTopo(b)
		if typ == "" {
			for _, d := range [][2]string{{"nyma", "nymb"}, {"nymb", "nyma"}} {
				topo.m.Exec("tc", "qdisc", "add", "dev", d[0], "clsact")
				// u32 matching zero bits: every packet, where the
				// kernel lacks cls_matchall.
				topo.m.Exec("tc", "filter", "add", "dev", d[0], "ingress", "protocol", "all", "u32", "match", "u32", "0", "0",
					"action", "mirred", "egress", "redirect", "dev", d[1])
			}
		} else {
			topo.startForwarder(b, typ, mode)
		}
		var offered, delivered, elapsed, cpu float64
		for b.Loop() {
			o, d, e, c := topo.run(b, frames, rate)
			offered += o
			delivered += d
			elapsed += e.Seconds()
			cpu += c.Seconds()
		}
		b.ReportMetric(offered/elapsed, "offered-pps")
		b.ReportMetric(delivered/elapsed, "delivered-pps")
		b.ReportMetric(100*(offered-delivered)/max(offered, 1), "loss-%")
		if typ != "" {
			b.ReportMetric(cpu*1e9/max(delivered, 1), "netyard-cpu-ns/pkt")
		}
	})
}

func envInt(tb testing.TB, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		tb.Fatalf("%s=%q: want a number", name, v)
	}
	return n
}

type forwardTopo struct {
	a, m, b *testutil.Netns
	sock    string // the daemon's control socket, "" without
	macA    string
	macB    string
}

// newForwardTopo makes A - M - B as the end-to-end test does, the veths'
// offloads as they come.
func newForwardTopo(tb testing.TB) *forwardTopo {
	t := &forwardTopo{
		a: testutil.NewNetns(tb, "nyfA"),
		m: testutil.NewNetns(tb, "nyfM"),
		b: testutil.NewNetns(tb, "nyfB"),
	}
	t.m.IP("link", "add", "name", "nyma", "type", "veth", "peer", "name", "nyva", "netns", t.a.Name)
	t.m.IP("link", "add", "name", "nymb", "type", "veth", "peer", "name", "nyvb", "netns", t.b.Name)
	t.m.IP("link", "set", "dev", "nyma", "up")
	t.m.IP("link", "set", "dev", "nymb", "up")
	t.a.IP("addr", "add", "10.98.0.1/24", "dev", "nyva")
	t.a.IP("link", "set", "dev", "nyva", "up")
	t.b.IP("addr", "add", "10.98.0.2/24", "dev", "nyvb")
	t.b.IP("link", "set", "dev", "nyvb", "up")
	t.macA = linkMAC(tb, t.a, "nyva")
	t.macB = linkMAC(tb, t.b, "nyvb")
	return t
}

func linkMAC(tb testing.TB, ns *testutil.Netns, dev string) string {
	var ls []struct {
		Address string `json:"address"`
	}
	out := testutil.Cmd(tb, "ip", "-n", ns.Name, "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		tb.Fatalf("ip link show %s: %v: %s", dev, err, out)
	}
	return ls[0].Address
}

// linkCount reads a veth's packet counter ("rx" or "tx") through netlink
// in its namespace.
func linkCount(tb testing.TB, ns *testutil.Netns, dev, dir string) float64 {
	return linkStat(tb, ns, dev, dir, "packets")
}

// linkStat reads one of a link's counters (dir "rx" or "tx", field
// "packets", "dropped"...) through netlink in its namespace.
func linkStat(tb testing.TB, ns *testutil.Netns, dev, dir, field string) float64 {
	var ls []struct {
		Stats map[string]map[string]float64 `json:"stats64"`
	}
	out := testutil.Cmd(tb, "ip", "-n", ns.Name, "-s", "-j", "link", "show", "dev", dev)
	if err := json.Unmarshal([]byte(out), &ls); err != nil || len(ls) != 1 {
		tb.Fatalf("ip -s link show %s: %v: %s", dev, err, out)
	}
	return ls[0].Stats[dir][field]
}

func (t *forwardTopo) startForwarder(tb testing.TB, typ, mode string) {
	words := ""
	if mode != "" {
		words = " mode " + mode
	}
	t.startDaemon(tb, fmt.Sprintf(`dev add a type %s link nyma%s
dev add b type %s link nymb%s
qdisc add dev a clsact
qdisc add dev b clsact
filter add dev a ingress matchall action mirred egress redirect dev b
filter add dev b ingress matchall action mirred egress redirect dev a
`, typ, words, typ, words))
}

func (t *forwardTopo) startDaemon(tb testing.TB, rules string) {
	dir := tb.TempDir()
	file := filepath.Join(dir, "rules.tc")
	if err := os.WriteFile(file, []byte(rules), 0o644); err != nil {
		tb.Fatal(err)
	}
	t.sock = filepath.Join(dir, "ctl.sock")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	var logs strings.Builder
	go func() {
		done <- t.m.Do(func() error {
			cfg := daemonConfig{socket: t.sock, rules: file, workers: 1}
			return runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), ready)
		})
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Errorf("daemon did not stop")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		tb.Fatalf("daemon: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		tb.Fatal("daemon not ready")
	}
	tb.Logf("daemon: %s", logs.String())
}

// run sends frames from A and returns what A offered and B received, the
// time from the first frame sent to the last received, and this process's
// CPU time meanwhile.
func (t *forwardTopo) run(tb testing.TB, frames, rate int) (offered, delivered float64, elapsed, cpu time.Duration) {
	tx0 := linkCount(tb, t.a, "nyva", "tx")
	rx0 := linkCount(tb, t.b, "nyvb", "rx")
	var ru0, ru1 unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru0)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", t.a.Name, os.Args[0])
	cmd.Env = append(os.Environ(), "NY_GEN=nyva,"+t.macA+","+t.macB+","+strconv.Itoa(frames)+","+strconv.Itoa(rate))
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("generator: %v\n%s", err, out)
	}
	// Until B's count stops moving for 100 ms.
	last, lastAt := linkCount(tb, t.b, "nyvb", "rx"), time.Now()
	for time.Since(lastAt) < 100*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
		if n := linkCount(tb, t.b, "nyvb", "rx"); n != last {
			last, lastAt = n, time.Now()
		}
	}
	unix.Getrusage(unix.RUSAGE_SELF, &ru1)
	if t.sock != "" {
		// Where the losses were: netyard's own counters.
		var out, errb strings.Builder
		run([]string{"tc", "--socket", t.sock, "-s", "dev", "show"}, &out, &errb)
		tb.Logf("netyard:\n%s%s", out.String(), errb.String())
	}
	cpu = time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	return linkCount(tb, t.a, "nyva", "tx") - tx0, last - rx0, lastAt.Sub(start), cpu
}

// TestMain runs BenchmarkForward's generator instead of the tests when
// NY_GEN is set (the benchmark starts this binary again in namespace A).
func TestMain(m *testing.M) {
	if os.Getenv("NY_RUN") != "" {
		// A child that is `netyard ARGS...` (tenants_linux_test.go
		// runs it with another user's credentials).
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	if spec := os.Getenv("NY_GEN"); spec != "" {
		if err := generate(spec); err != nil {
			fmt.Fprintln(os.Stderr, "generator:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// generate sends FRAMES 60-byte UDP frames from IFNAME at RATE a second
// (0: as fast as it can), spec being IFNAME,SRCMAC,DSTMAC,FRAMES,RATE.
func generate(spec string) error {
	f := strings.Split(spec, ",")
	if len(f) != 5 {
		return fmt.Errorf("NY_GEN=%q: want IFNAME,SRCMAC,DSTMAC,FRAMES,RATE", spec)
	}
	src, err1 := net.ParseMAC(f[1])
	dst, err2 := net.ParseMAC(f[2])
	frames, err3 := strconv.Atoi(f[3])
	rate, err4 := strconv.Atoi(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("NY_GEN=%q: %w", spec, err)
	}
	ifi, err := net.InterfaceByName(f[0])
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, 4<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		return err
	}
	// 64 flows: source ports 10000..10063, to an address B does not
	// have.
	const batch = 64
	bufs := make([][]byte, batch)
	iovs := make([]unix.Iovec, batch)
	msgs := make([]unix.Mmsghdr, batch)
	for i := range batch {
		payload := make([]byte, 18)
		u := wire.UDPHeader{SrcPort: uint16(10000 + i), DstPort: 9, Length: uint16(wire.UDPHeaderLen + len(payload))}
		seg := append(u.Append(nil), payload...)
		s, d := netip.MustParseAddr("10.98.0.1"), netip.MustParseAddr("10.98.0.99")
		_ = wire.PutTransportChecksum(wire.ProtoUDP, s, d, seg)
		h := wire.IPv4Header{TotalLen: uint16(wire.IPv4MinHeaderLen + len(seg)), TTL: 64, Proto: wire.ProtoUDP, Src: s, Dst: d}
		fr, _ := h.Append(wire.AppendEthernet(nil, wire.MAC(dst), wire.MAC(src), nil, wire.EtherTypeIPv4))
		bufs[i] = append(fr, seg...)
		iovs[i] = unix.Iovec{Base: &bufs[i][0]}
		iovs[i].SetLen(len(bufs[i]))
		msgs[i].Hdr.Iov = &iovs[i]
		msgs[i].Hdr.SetIovlen(1)
	}
	start := time.Now()
	sent := 0
	for sent < frames {
		n := min(batch, frames-sent)
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), uintptr(n), 0, 0, 0)
		if e != 0 && e != unix.ENOBUFS && e != unix.EAGAIN && e != unix.EINTR {
			return fmt.Errorf("sendmmsg: %w", e)
		}
		if e == 0 {
			sent += int(r)
		}
		if rate > 0 {
			if ahead := time.Duration(float64(sent)/float64(rate)*1e9) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	return nil
}

// BenchmarkForwardTCP measures one TCP stream from A to B through M with
// the veths' offloads as they come (TSO, GSO, GRO on): a Linux bridge in
// M (the reference), netyard over afpacket, over xdp native and generic.
// Bounded: FORWARD_TCP_MB megabytes (default 1000) or 5 s.
//
//	go test ./cmd/netyard -run '^$' -bench BenchmarkForwardTCP -benchtime 1x
func BenchmarkForwardTCP(b *testing.B) {
	testutil.NeedRoot(b, "network namespaces and veth pairs")
	size := int64(envInt(b, "FORWARD_TCP_MB", 1000)) << 20
	for _, way := range []struct{ name, typ, mode string }{
		{"bridge", "", ""},
		{"afpacket", "afpacket", ""},
		{"xdp-native", "xdp", "native"},
		{"xdp-generic", "xdp", "generic"},
	} {
		b.Run(way.name, func(b *testing.B) {
			topo := newForwardTopo(b)
			if way.typ == "" {
				topo.m.IP("link", "add", "nybr", "type", "bridge")
				topo.m.IP("link", "set", "nyma", "master", "nybr")
				topo.m.IP("link", "set", "nymb", "master", "nybr")
				topo.m.IP("link", "set", "nybr", "up")
			} else {
				topo.startForwarder(b, way.typ, way.mode)
			}
			var bytes int64
			var elapsed time.Duration
			for b.Loop() {
				n, e := tcpTransfer(b, topo.a, topo.b, "10.98.0.2", size, 5*time.Second)
				bytes += n
				elapsed += e
			}
			b.ReportMetric(float64(bytes)*8/elapsed.Seconds()/1e6, "Mbit/s")
		})
	}
}

// tcpTransfer sends up to size bytes over one TCP connection from a to
// dst:7000 in b, for at most limit, and returns what b received and how
// long it took.
func tcpTransfer(tb testing.TB, a, b *testutil.Netns, dst string, size int64, limit time.Duration) (int64, time.Duration) {
	tb.Helper()
	lc := make(chan net.Listener, 1)
	errc := make(chan error, 1)
	got := make(chan int64, 1)
	go func() {
		if err := b.Enter(); err != nil {
			errc <- err
			lc <- nil
			return
		}
		l, err := net.Listen("tcp4", dst+":7000")
		if err != nil {
			errc <- err
			lc <- nil
			return
		}
		lc <- l
		c, err := l.Accept()
		if err != nil {
			got <- 0
			return
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(limit + time.Second))
		n, _ := io.Copy(io.Discard, c)
		got <- n
	}()
	l := <-lc
	if l == nil {
		tb.Fatalf("listener in B: %v", <-errc)
	}
	defer l.Close()
	start := time.Now()
	sent := make(chan error, 1)
	go func() {
		if err := a.Enter(); err != nil {
			sent <- err
			return
		}
		c, err := net.DialTimeout("tcp4", dst+":7000", 3*time.Second)
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		c.SetWriteDeadline(start.Add(limit))
		buf := make([]byte, 1<<20)
		for left := size; left > 0; left -= int64(len(buf)) {
			if _, err := c.Write(buf[:min(int64(len(buf)), left)]); err != nil {
				break // the time limit
			}
		}
		sent <- nil
	}()
	if err := <-sent; err != nil {
		tb.Fatalf("sender in A: %v", err)
	}
	n := <-got
	return n, time.Since(start)
}
