package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/sys/unix"

	"netyard/internal/testutil"
)

// genNS is a namespace with the veth pair nyg0 <-> nyg1, both up, and a
// raw socket on nyg1 that sees what gen sends.
func genNS(t *testing.T) (*testutil.Netns, net.HardwareAddr, int) {
	t.Helper()
	testutil.NeedRoot(t, "network namespaces and veth pairs")
	ns := testutil.NewNetns(t, "nyG")
	ns.IP("link", "add", "name", "nyg0", "type", "veth", "peer", "name", "nyg1")
	ns.IP("link", "set", "dev", "nyg0", "up")
	ns.IP("link", "set", "dev", "nyg1", "up")
	var mac net.HardwareAddr
	var fd int
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName("nyg1")
		if err != nil {
			return err
		}
		mac = ifi.HardwareAddr
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons16(unix.ETH_P_ALL))); err != nil {
			return err
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 16<<20)
		tv := unix.NsecToTimeval(int64(200 * time.Millisecond))
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons16(unix.ETH_P_ALL), Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatalf("setup in %s: %v", ns.Name, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return ns, mac, fd
}

func htons16(v uint16) uint16 { return v<<8 | v>>8 }

// recvAll reads frames from fd until it has been quiet for its timeout.
func recvAll(t *testing.T, fd int) [][]byte {
	t.Helper()
	var out [][]byte
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if errors.Is(err, unix.EAGAIN) {
			return out
		}
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			t.Fatalf("recvfrom: %v", err)
		}
		out = append(out, bytes.Clone(buf[:n]))
	}
}

// rxPackets is iproute2's count of what the interface received: an
// oracle gen's own counting does not share.
func rxPackets(t *testing.T, ns *testutil.Netns, dev string) uint64 {
	t.Helper()
	var links []struct {
		Stats64 struct {
			RX struct {
				Packets uint64 `json:"packets"`
			} `json:"rx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal([]byte(ns.IP("-s", "-j", "link", "show", "dev", dev)), &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -s -j link show dev %s: %v", dev, err)
	}
	return links[0].Stats64.RX.Packets
}

// TestGenSendsExactly: gen sends exactly --count frames of the template,
// at the rate asked, and they all arrive at the veth's peer: iproute2
// counts them, a raw socket sees them, gopacket decodes them as the
// template says; --count-rx, running at the same time, counts them too.
func TestGenSendsExactly(t *testing.T) {
	ns, mac, fd := genNS(t)
	before := rxPackets(t, ns, "nyg1")
	const n = 1000
	rx := make(chan string, 1)
	go func() {
		var out, errb strings.Builder
		_ = ns.Do(func() error {
			run([]string{"gen", "--count-rx", "nyg1", "--duration", "1500ms"}, &out, &errb)
			return nil
		})
		rx <- out.String() + errb.String()
	}()
	time.Sleep(200 * time.Millisecond) // count-rx has taken its first reading
	var out, errb strings.Builder
	start := time.Now()
	err := ns.Do(func() error {
		if code := run([]string{"gen", "-i", "nyg0", "--dst-mac", mac.String(), "--src-ip", "10.7.0.1", "--dst-ip", "10.7.0.2",
			"--sport", "4000", "--dport", "5000", "--flows", "4", "--size", "100", "--count", "1000", "--rate", "10k"}, &out, &errb); code != 0 {
			return fmt.Errorf("exit %d: %s", code, errb.String())
		}
		return nil
	})
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "sent 1000 frames 100000 bytes") || !strings.Contains(out.String(), "refused 0") {
		t.Errorf("gen reported %q, want 1000 frames of 100 bytes sent, none refused", out.String())
	}
	// 1000 frames at 10,000 a second take 0.1 s.
	if el < 90*time.Millisecond || el > 2*time.Second {
		t.Errorf("1000 frames at 10k pps took %v, want about 100 ms", el)
	}
	frames := recvAll(t, fd)
	if got := rxPackets(t, ns, "nyg1") - before; got != n {
		t.Errorf("iproute2 counts %d frames received at nyg1, want %d", got, n)
	}
	var mine int
	for i, f := range frames {
		p := gopacket.NewPacket(f, layers.LayerTypeEthernet, gopacket.Default)
		udp, _ := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		eth, _ := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		if udp == nil || ip == nil || eth == nil {
			continue // not gen's
		}
		mine++
		if len(f) != 100 || !bytes.Equal(eth.DstMAC, mac) || ip.SrcIP.String() != "10.7.0.1" || ip.DstIP.String() != "10.7.0.2" ||
			udp.DstPort != 5000 || int(udp.SrcPort) != 4000+i%4 || int(ip.Length) != 100-14 {
			t.Fatalf("frame %d: %d bytes, %v -> %v, %v:%d -> %v:%d, want 100 bytes to %v, 10.7.0.1:%d -> 10.7.0.2:5000",
				i, len(f), eth.SrcMAC, eth.DstMAC, ip.SrcIP, udp.SrcPort, ip.DstIP, udp.DstPort, mac, 4000+i%4)
		}
	}
	if mine != n {
		t.Errorf("the raw socket saw %d UDP frames, want %d", mine, n)
	}
	rep := <-rx
	if m := regexp.MustCompile(`^rx nyg1: (\d+) packets`).FindStringSubmatch(rep); m == nil || m[1] != "1000" {
		t.Errorf("--count-rx reported %q, want 1000 packets", rep)
	}
}

// TestGenPcap: with --pcap, gen sends the capture's frames as they are,
// in order, looping over the capture; a bad capture is a clear error.
func TestGenPcap(t *testing.T) {
	ns, mac, fd := genNS(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "in.pcap")
	var caps [][]byte
	for i := range 3 {
		f := make([]byte, 60+i*10)
		copy(f, mac)
		copy(f[6:], []byte{2, 0, 0, 0, 0, byte(i)})
		f[12], f[13] = 0x88, 0xb5 // local experimental EtherType
		f[14] = byte(i)
		caps = append(caps, f)
	}
	w, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw := pcapgo.NewWriter(w)
	if err := pw.WriteFileHeader(65536, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, f := range caps {
		if err := pw.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	var out, errb strings.Builder
	err = ns.Do(func() error {
		if code := run([]string{"gen", "-i", "nyg0", "--pcap", path, "--count", "7"}, &out, &errb); code != 0 {
			return fmt.Errorf("exit %d: %s", code, errb.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got [][]byte
	for _, f := range recvAll(t, fd) {
		if len(f) >= 14 && f[12] == 0x88 && f[13] == 0xb5 {
			got = append(got, f)
		}
	}
	if len(got) != 7 {
		t.Fatalf("%d frames arrived, want 7 (gen said %q)", len(got), out.String())
	}
	for i, f := range got {
		if !bytes.Equal(f, caps[i%3]) {
			t.Errorf("frame %d:\n% x\nwant capture frame %d:\n% x", i, f, i%3, caps[i%3])
		}
	}

	// Not a capture; no such interface: errors, not panics.
	bad := filepath.Join(dir, "bad.pcap")
	os.WriteFile(bad, []byte("not a capture at all"), 0o644)
	for _, args := range [][]string{
		{"gen", "-i", "nyg0", "--pcap", bad, "--count", "1"},
		{"gen", "-i", "nosuchif0", "--count", "1"},
		{"gen", "--count-rx", "nosuchif0", "--duration", "10ms"},
	} {
		var out, errb strings.Builder
		_ = ns.Do(func() error {
			if code := run(args, &out, &errb); code != 1 || errb.Len() == 0 {
				t.Errorf("netyard %q: exit %d, stderr %q; want 1 with a message", args, code, errb.String())
			}
			return nil
		})
	}
}
