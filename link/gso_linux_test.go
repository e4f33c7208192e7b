package link

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"netyard/pkt"
	"netyard/wire"
)

// gsoFrame is a TCP GSO super-frame as a sending stack hands it to a
// device with TSO: headers of the whole, a TCP checksum field holding the
// pseudo-header sum (CHECKSUM_PARTIAL), payload bytes numbered.
func gsoFrame(t *testing.T, v6 bool, payload int, flags byte) ([]byte, pkt.Meta) {
	f := tcpFrame(payload, 32, v6)
	ip := 14
	l4 := ip + 20
	m := pkt.Meta{GSOType: pkt.GSOTCPv4, GSOSize: 1000, CsumPartial: true, CsumOffset: 16}
	var src, dst netip.Addr
	if v6 {
		l4 = ip + 40
		m.GSOType = pkt.GSOTCPv6
		src, dst = netip.AddrFrom16([16]byte(f[ip+8:ip+24])), netip.AddrFrom16([16]byte(f[ip+24:ip+40]))
	} else {
		f[ip+6] = 0x40 // DF, as TCP sends
		binary.BigEndian.PutUint16(f[ip+4:], 0x1234)
		binary.BigEndian.PutUint16(f[ip+10:], wire.Checksum(f[ip:l4]))
		src, dst = netip.AddrFrom4([4]byte(f[ip+12:ip+16])), netip.AddrFrom4([4]byte(f[ip+16:ip+20]))
	}
	copy(f[0:12], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	m.CsumStart = uint16(l4)
	// The payload starts with the marker the receive tests look for.
	copy(f[l4+32:], binary.BigEndian.AppendUint32(append([]byte(nil), testMarker...), 1))
	binary.BigEndian.PutUint32(f[l4+4:], 0xfffff000) // the sequence number wraps inside
	f[l4+13] = flags
	f[l4+14] = 0xff
	// ~pseudo-header sum: what the checksum of an all-zero segment with
	// the pseudo-header leaves out, complemented (tcp_v4_check(len, s, d, 0)).
	seg := f[l4:]
	c := wire.TransportChecksum(6, src, dst, make([]byte, len(seg)))
	binary.BigEndian.PutUint16(seg[16:], ^c)
	return f, m
}

// udpGSOFrame is a UDP/IPv4 GSO frame (UDP_SEGMENT) of payload bytes in
// 1000-byte datagrams, checksum field holding the pseudo-header sum.
func udpGSOFrame(payload int) ([]byte, pkt.Meta) {
	f := make([]byte, 14+20+8+payload)
	copy(f[0:12], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	binary.BigEndian.PutUint16(f[16:], uint16(20+8+payload))
	binary.BigEndian.PutUint16(f[18:], 0x777)
	f[22], f[23] = 64, 17
	copy(f[26:], []byte{10, 0, 0, 1, 10, 0, 0, 2})
	binary.BigEndian.PutUint16(f[24:], wire.Checksum(f[14:34]))
	binary.BigEndian.PutUint16(f[34:], 4000)
	binary.BigEndian.PutUint16(f[36:], 5000)
	binary.BigEndian.PutUint16(f[38:], uint16(8+payload))
	for i := range payload {
		f[42+i] = byte(i * 7)
	}
	c := wire.TransportChecksum(17, netip.AddrFrom4([4]byte{10, 0, 0, 1}), netip.AddrFrom4([4]byte{10, 0, 0, 2}), make([]byte, 8+payload))
	binary.BigEndian.PutUint16(f[40:], ^c)
	return f, pkt.Meta{GSOType: pkt.GSOUDPL4, GSOSize: 1000, CsumPartial: true, CsumStart: 34, CsumOffset: 6}
}

// TestSegmenterAgainstKernel cuts TCP GSO frames with the Segmenter and
// has the kernel cut the same ones: written with a virtio_net_hdr into an
// AF_PACKET socket bound to a TAP device that offers no TSO (no
// TUNSETOFFLOAD), they are segmented by the kernel's software GSO
// (validate_xmit_skb, skb_gso_segment) and read back from the TAP. The
// segments must be the same bytes.
func TestSegmenterAgainstKernel(t *testing.T) {
	ns := newNS(t)
	var tapFd, pktFd int
	if err := ns.do(func() error {
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		tapFd = fd
		ifr, _ := unix.NewIfreq("nygso0")
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			return fmt.Errorf("TUNSETIFF: %w", err)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(tapFd) })
	ns.ip(t, "link", "set", "dev", "nygso0", "up")
	if err := ns.do(func() error {
		ifi, err := net.InterfaceByName("nygso0")
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		pktFd = fd
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(pktFd) })
	if err := unix.SetNonblock(tapFd, true); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name    string
		v6      bool
		payload int
		flags   byte
		udp     bool
	}{
		{"tcp4", false, 10000, 0x18, false},           // PSH|ACK: PSH on the last only
		{"tcp4 short tail", false, 4321, 0x99, false}, // CWR|PSH|FIN|ACK
		{"tcp6", true, 7500, 0x18, false},
		{"udp4 (UDP_SEGMENT)", false, 3500, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, m := gsoFrame(t, tc.v6, tc.payload, tc.flags)
			if tc.udp {
				f, m = udpGSOFrame(tc.payload)
			}
			// Drain what the stack sent on the TAP (IPv6 ND, MLD).
			junk := make([]byte, 65536)
			for {
				if _, err := unix.Read(tapFd, junk); err != nil {
					break
				}
			}
			h := make([]byte, vnetHdrLen)
			putVnetHdr(h, &m, f)
			if _, err := unix.Write(pktFd, append(h, f...)); err != nil {
				t.Fatalf("send: %v", err)
			}
			var kernel [][]byte
			deadline := time.Now().Add(3 * time.Second)
			want := (tc.payload + 999) / 1000
			for len(kernel) < want && time.Now().Before(deadline) {
				buf := make([]byte, 65536)
				n, err := unix.Read(tapFd, buf)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				if bytes.Equal(buf[:12], f[:12]) {
					kernel = append(kernel, buf[:n])
				}
			}
			if len(kernel) != want {
				t.Fatalf("the kernel sent %d segments, want %d", len(kernel), want)
			}
			var s pkt.Segmenter
			if err := s.Init(f, &m); err != nil {
				t.Fatal(err)
			}
			dst := make([]byte, s.MaxLen())
			for i, k := range kernel {
				n := s.Next(dst)
				if !bytes.Equal(dst[:n], k) {
					t.Errorf("segment %d:\n netyard % x\n kernel  % x", i, dst[:min(n, 80)], k[:min(len(k), 80)])
				}
			}
			if n := s.Next(dst); n != 0 {
				t.Errorf("netyard made more segments than the kernel")
			}
		})
	}
}
