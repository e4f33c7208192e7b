package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netyard/internal/testutil"
)

// TestEndToEndNetns moves real packets through netyard: namespaces A and B
// are joined through a middle namespace M, where netyard attaches to the
// two veth ends and forwards between them by tc rules, once per backend
// (AF_PACKET, AF_XDP). Ping and a bounded UDP stream from A reach B;
// netyard's counters match what was sent and its drop counters stay 0; a
// drop rule added through `netyard tc` stops both. Traffic stays on the
// veths the test makes.
func TestEndToEndNetns(t *testing.T) {
	for _, tc := range []struct {
		typ string
		// mtuB is nymb's MTU, which device b takes: AF_XDP frames
		// are at most a page less the kernel's headroom, so xdp's
		// is smaller than afpacket's.
		mtuB string
		// show matches what `dev show dev b` must say: the link's
		// MTU, and for xdp that it runs AF_XDP (native where the
		// kernel allows it on a veth, as 6.18 does), not the
		// afpacket fallback.
		show string
	}{
		// afpacket's load shedding (an XDP program attached while
		// overloaded) is ready where the kernel allows XDP.
		{"afpacket", "4000", `link nymb queues 1 mtu 4000 backend shed (native|generic)\n`},
		{"xdp", "3000", `link nymb queues 1 mtu 3000 backend (native|generic) copy\n`},
	} {
		t.Run(tc.typ, func(t *testing.T) { testEndToEnd(t, tc.typ, tc.mtuB, tc.show) })
	}
}

func testEndToEnd(t *testing.T, typ, mtuB, show string) {
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	testutil.NeedTools(t, "ip", "ping", "sysctl")
	a, m, b := threeHosts(t, "10.98.0", mtuB)

	// UDP to port 9999 goes through a mirred of its own (index 10), so
	// its counter is the stream's; everything else (ARP, ping) through
	// catch-alls.
	sock := startDaemonIn(t, m, 2, `dev add a type `+typ+` link nyma
dev add b type `+typ+` link nymb
qdisc add dev a clsact
qdisc add dev b clsact
filter add dev a ingress pref 10 protocol ip flower ip_proto udp dst_port 9999 action mirred egress redirect dev b index 10
filter add dev a ingress pref 20 matchall action mirred egress redirect dev b
filter add dev b ingress pref 20 matchall action mirred egress redirect dev a
`)
	tc := func(args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		if code := run(append([]string{"tc", "--socket", sock}, args...), &out, &errb); code != 0 {
			t.Fatalf("netyard tc %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}

	// A device takes its interface's MTU.
	devB := tc("dev", "show", "dev", "b")
	if !regexp.MustCompile(show).MatchString(devB) {
		t.Errorf("dev show dev b: %q, want %q", devB, show)
	}

	// Ping: ARP and ICMP both ways through netyard.
	a.Exec("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.98.0.2")

	// What the kernel drops on the veths outside netyard (A's towards
	// M, M's towards B: the CPU's backlog, which every namespace on the
	// machine shares, was full) it counts as their TX dropped; a
	// loaded machine does that now and then. Everything else arrives.
	vethDrops := func() (int, int) {
		return int(linkStat(t, a, "nyva", "tx", "dropped")), int(linkStat(t, m, "nymb", "tx", "dropped"))
	}
	a0, b0 := vethDrops()
	const n = 2000
	got := udpStream(t, a, b, n)
	a1, b1 := vethDrops()
	dropA, dropB := a1-a0, b1-b0
	// Every datagram missing at B must be one the veths counted; a
	// veth may also drop a frame that was not one of ours (the kernel's
	// own traffic in M), so more drops than missing datagrams is fine.
	if got > n || n-got > dropA+dropB {
		t.Fatalf("UDP: %d of %d datagrams reached B, the veths dropped %d (A) and %d (M to B)\n%s\nB's UDP counters:\n%s",
			got, n, dropA, dropB, tc("-s", "dev", "show"), b.Exec("grep", "^Udp:", "/proc/net/snmp"))
	}
	if dropA+dropB > 0 {
		t.Logf("the veths dropped %d (A) and %d (M to B): a loaded machine", dropA, dropB)
	}
	act := tc("-s", "actions", "get", "action", "mirred", "index", "10")
	if p := sentPackets(t, act); p != n-dropA {
		t.Errorf("mirred index 10 counted %d packets, %d were sent and %d dropped before M:\n%s", p, n, dropA, act)
	}
	devs := tc("-s", "dev", "show")
	for _, d := range regexp.MustCompile(`(\d+) dropped`).FindAllStringSubmatch(devs, -1) {
		if d[1] != "0" {
			t.Errorf("netyard dropped packets below its capacity:\n%s", devs)
			break
		}
	}
	qd := tc("-s", "qdisc", "show")
	if m := regexp.MustCompile(`dropped (\d+)`).FindAllStringSubmatch(qd, -1); len(m) == 0 {
		t.Errorf("no qdisc statistics:\n%s", qd)
	} else {
		for _, d := range m {
			if d[1] != "0" {
				t.Errorf("a qdisc dropped packets:\n%s", qd)
				break
			}
		}
	}

	// TCP with the veths' offloads as they come (TSO/GSO on A's side):
	// native XDP on a veth turns software GSO off on its peer
	// (veth_xdp_set), so A's stack segments and every frame fits.
	// afpacket takes A's 64 KiB GSO frames whole (PACKET_VNET_HDR) and
	// has the kernel segment them on the way to B. (Over generic XDP
	// they do not fit: the rest of the offloads item of issue 16.)
	if strings.Contains(devB, "backend native") || typ == "afpacket" {
		const size = 20 << 20
		n, el := tcpTransfer(t, a, b, "10.98.0.2", size, 10*time.Second)
		if n != size {
			t.Errorf("TCP: %d of %d bytes reached B in %v\n%s", n, size, el, tc("-s", "dev", "show"))
		}
		t.Logf("TCP: %d bytes in %v (%.0f Mbit/s) with A's offloads on", n, el, float64(n)*8/el.Seconds()/1e6)
	}

	// A drop rule stops the stream and the pings.
	tc("filter", "add", "dev", "a", "ingress", "pref", "5", "protocol", "ip", "flower", "ip_proto", "udp", "dst_port", "9999", "action", "drop", "index", "11")
	tc("filter", "add", "dev", "a", "ingress", "pref", "6", "protocol", "ip", "flower", "ip_proto", "icmp", "action", "drop", "index", "12")
	a0, _ = vethDrops()
	if got := udpStream(t, a, b, 500); got != 0 {
		t.Errorf("with the drop rule, %d datagrams reached B", got)
	}
	a1, _ = vethDrops()
	if p := sentPackets(t, tc("-s", "actions", "get", "action", "gact", "index", "11")); p != 500-(a1-a0) {
		t.Errorf("drop rule counted %d of 500 (%d dropped before M)", p, a1-a0)
	}
	if out, err := exec.Command("ip", "netns", "exec", a.Name, "ping", "-c", "2", "-i", "0.2", "-W", "1", "10.98.0.2").CombinedOutput(); err == nil {
		t.Errorf("ping got through the drop rule:\n%s", out)
	}
}

// udpStream sends n datagrams from A to B's port 9999 at about 20,000 a
// second (well below netyard's capacity) and returns how many B received.
func udpStream(t *testing.T, a, b *testutil.Netns, n int) int {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	conn := make(chan *net.UDPConn, 1)
	got := make(chan result, 1)
	go func() {
		if err := b.Enter(); err != nil {
			got <- result{err: err}
			conn <- nil
			return
		}
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 98, 0, 2), Port: 9999})
		conn <- c
		if err != nil {
			got <- result{err: err}
			return
		}
		// Room for the whole stream (the default 208 KiB holds a
		// few hundred datagrams): on a loaded machine this goroutine
		// may be kept off the CPU for a while, and what the socket
		// then drops is not netyard's.
		if rc, err := c.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) { unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20) })
		}
		defer c.Close()
		buf := make([]byte, 2048)
		k := 0
		// Until n arrive, or the line is quiet for a second.
		for k < n {
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, _, err := c.ReadFromUDP(buf); err != nil {
				break
			}
			k++
		}
		got <- result{n: k}
	}()
	if c := <-conn; c == nil {
		r := <-got
		t.Fatalf("receiver in B: %v", r.err)
	}
	sent := make(chan error, 1)
	go func() {
		if err := a.Enter(); err != nil {
			sent <- err
			return
		}
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 98, 0, 2), Port: 9999})
		if err != nil {
			sent <- err
			return
		}
		defer c.Close()
		payload := make([]byte, 64)
		for i := range n {
			copy(payload, fmt.Sprintf("netyard %d", i))
			if _, err := c.Write(payload); err != nil {
				sent <- err
				return
			}
			if i%20 == 19 {
				time.Sleep(time.Millisecond)
			}
		}
		sent <- nil
	}()
	if err := <-sent; err != nil {
		t.Fatalf("sender in A: %v", err)
	}
	r := <-got
	if r.err != nil {
		t.Fatalf("receiver in B: %v", r.err)
	}
	return r.n
}

// sentPackets reads "Sent N bytes P pkt" from tc -s output.
func sentPackets(t *testing.T, out string) int {
	t.Helper()
	m := regexp.MustCompile(`Sent \d+ bytes (\d+) pkt`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no statistics in\n%s", out)
	}
	p, _ := strconv.Atoi(m[1])
	return p
}

// startDaemonIn runs the daemon in namespace m with the given rules and
// workers until the test ends, and returns its socket. Its backends'
// sockets are made in m: the rules add the devices on the daemon's
// thread, which is in m.
func startDaemonIn(t *testing.T, m *testutil.Netns, workers int, rules string) string {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	file := filepath.Join(dir, "rules.tc")
	if err := os.WriteFile(file, []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	var logs strings.Builder
	go func() {
		done <- m.Do(func() error {
			cfg := daemonConfig{socket: sock, rules: file, workers: workers}
			return runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), ready)
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("daemon: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("daemon did not stop")
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v\n%s", err, logs.String())
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	return sock
}

// TestEndToEndGSOSegmented: A's 64 KiB GSO frames come in through afpacket
// (whole, with their virtio_net_hdr) and leave through AF_XDP, which takes
// no offload metadata: netyard cuts them (software GSO) and B's stack must
// receive every byte of a TCP stream, with checksums that verify (a bad
// one would stall the stream). B's device counts the segments it sent.
func TestEndToEndGSOSegmented(t *testing.T) {
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	testutil.NeedTools(t, "ip", "ping")
	a, m, b := threeHosts(t, "10.98.0", "")
	sock := startDaemonIn(t, m, 2, `dev add a type afpacket link nyma
dev add b type xdp link nymb
qdisc add dev a clsact
qdisc add dev b clsact
filter add dev a ingress pref 20 matchall action mirred egress redirect dev b index 20
filter add dev b ingress pref 20 matchall action mirred egress redirect dev a
`)
	tc := func(args ...string) string {
		t.Helper()
		var out, errb strings.Builder
		if code := run(append([]string{"tc", "--socket", sock}, args...), &out, &errb); code != 0 {
			t.Fatalf("netyard tc %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
		}
		return out.String()
	}
	a.Exec("ping", "-c", "2", "-i", "0.2", "-W", "2", "10.98.0.2")
	const size = 20 << 20
	n, el := tcpTransfer(t, a, b, "10.98.0.2", size, 15*time.Second)
	if n != size {
		t.Errorf("TCP: %d of %d bytes reached B in %v\n%s", n, size, el, tc("-s", "dev", "show"))
	}
	t.Logf("TCP: %d bytes in %v (%.0f Mbit/s), afpacket in, AF_XDP out", n, el, float64(n)*8/el.Seconds()/1e6)
	// The mirred counts packets as the wire has them: at least one per
	// 1448-byte MSS, whether A's frames came in whole or cut.
	act := tc("-s", "actions", "get", "action", "mirred", "index", "20")
	if p := sentPackets(t, act); p < size/1448 {
		t.Errorf("mirred index 20 counted %d packets for %d bytes: GSO frames not counted as segments\n%s", p, size, act)
	}
}

// threeHosts makes the end-to-end tests' topology: hosts A and B, each in
// a namespace of its own with one address in net (".1" and ".2"), wired
// by veths to M, the namespace netyard runs in (nyma to A's nyva, nymb to
// B's nyvb; mtuB, when given, is nymb's MTU). The interfaces are made
// inside M and moved out: their names cannot clash with anything outside
// the test's namespaces.
func threeHosts(t *testing.T, net, mtuB string) (a, m, b *testutil.Netns) {
	t.Helper()
	a = testutil.NewNetns(t, "nyA")
	m = testutil.NewNetns(t, "nyM")
	b = testutil.NewNetns(t, "nyB")
	m.IP("link", "add", "name", "nyma", "type", "veth", "peer", "name", "nyva", "netns", a.Name)
	m.IP("link", "add", "name", "nymb", "type", "veth", "peer", "name", "nyvb", "netns", b.Name)
	m.IP("link", "set", "dev", "nyma", "up")
	if mtuB != "" {
		m.IP("link", "set", "dev", "nymb", "mtu", mtuB)
	}
	m.IP("link", "set", "dev", "nymb", "up")
	a.IP("addr", "add", net+".1/24", "dev", "nyva")
	a.IP("link", "set", "dev", "nyva", "up")
	b.IP("addr", "add", net+".2/24", "dev", "nyvb")
	b.IP("link", "set", "dev", "nyvb", "up")
	return a, m, b
}

// TestEndToEndTAPOffloads: TCP from the stack of M, through a tap netyard
// creates there (IFF_VNET_HDR: the stack's TSO frames reach netyard whole,
// with their virtio_net_hdr), out of an afpacket device to B, and the
// replies back into the stack through the tap, with every offload as the
// kernel sets it by default. All of it must arrive.
func TestEndToEndTAPOffloads(t *testing.T) {
	testutil.NeedRoot(t, "network namespaces, veth pairs and a tap")
	testutil.NeedTools(t, "ip", "sysctl")
	_, m, b := threeHosts(t, "10.96.0", "")
	sock := startDaemonIn(t, m, 1, `dev add t type tap link nytap
dev add b type afpacket link nymb
qdisc add dev t clsact
qdisc add dev b clsact
filter add dev t ingress matchall action mirred egress redirect dev b
filter add dev b ingress matchall action mirred egress redirect dev t
`)
	m.IP("link", "set", "dev", "nytap", "up")
	m.IP("addr", "add", "10.96.0.1/24", "dev", "nytap")
	const size = 20 << 20
	n, el := tcpTransfer(t, m, b, "10.96.0.2", size, 10*time.Second)
	var out, errb strings.Builder
	run([]string{"tc", "--socket", sock, "-s", "dev", "show"}, &out, &errb)
	if n != size {
		t.Fatalf("TCP: %d of %d bytes reached B in %v\n%s", n, size, el, out.String())
	}
	t.Logf("TCP through a tap with the stack's offloads: %d bytes in %v (%.0f Mbit/s)\n%s", n, el, float64(n)*8/el.Seconds()/1e6, out.String())
}
