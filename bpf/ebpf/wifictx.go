package ebpf

import (
	"strings"

	"netyard/bpf"
)

// WifiSection is the section-name prefix of programs for netyard's 802.11
// receive hook: such a program gets struct netyard_wifi_md
// (examples/bpf/include/netyard_wifi.h) as its context instead of
// struct __sk_buff. The kernel picks a program's context by its type,
// which libbpf takes from the section name ("tc", "xdp", "socket"); the
// 802.11 hook is netyard's own type, so it has its own section.
const WifiSection = "netyard/wifi"

// IsWifiSection reports whether a program in section sec is an 802.11
// hook program.
func IsWifiSection(sec string) bool { return strings.HasPrefix(sec, WifiSection) }

// struct netyard_wifi_md offsets (netyard_wifi.h).
const (
	wifiData       = 0
	wifiDataEnd    = 4
	wifiLen        = 8
	wifiIfindex    = 12
	wifiPresent    = 16
	wifiFlags      = 20
	wifiSignal     = 24
	wifiNoise      = 28
	wifiRate       = 32
	wifiFreq       = 36
	wifiChanFlags  = 40
	wifiBand       = 44
	wifiAntenna    = 48
	wifiMCS        = 52
	wifiVHT        = 56
	wifiVHTMCSNSS  = 60
	wifiTSFT       = 64
	wifiTstamp     = 72
	wifiMark       = 80
	wifiKeepLen    = 84
	wifiSize       = 88
	wifiFirstField = wifiLen
)

// SetWifiContext makes p an 802.11 hook program (what a "netyard/wifi"
// section does at load): for programs built from instructions.
func (p *Program) SetWifiContext(on bool) {
	if p.wifi != on {
		p.wifi = on
		p.compileJIT() // its context shortcuts are the context's
	}
}

// WifiContext reports whether p runs with struct netyard_wifi_md.
func (p *Program) WifiContext() bool { return p.wifi }

// wifiField is the 4-byte field of struct netyard_wifi_md at off
// (bpf.WifiField, which classic BPF's ancillary loads read too).
func (s *state) wifiField(off uint32) (uint32, bool) {
	return bpf.WifiField(s.buf, s.env, off)
}

// wifiLoad reads w bytes of netyard_wifi_md at off: data and data_end as
// 32-bit loads, tsft and tstamp as 64-bit loads, the 32-bit fields whole,
// in narrow aligned parts (as __sk_buff's), or two at a time.
func (s *state) wifiLoad(off uint32, w int) (uint64, bool) {
	if off&uint32(w-1) != 0 || off >= wifiSize {
		return 0, false
	}
	switch off {
	case wifiData:
		return mkptr(tagPkt, 0), w == 4
	case wifiDataEnd:
		return mkptr(tagPkt, uint32(len(s.pkt))), w == 4
	case wifiTSFT:
		if w == 8 {
			return s.buf.Radio.TSFT, true
		}
	case wifiTstamp:
		if w == 8 {
			return uint64(s.buf.Time), true
		}
	}
	if off < wifiFirstField || off >= wifiTSFT && off < wifiMark {
		return 0, false
	}
	if w == 8 {
		// Two neighbouring 4-byte fields in one load: clang merges
		// adjacent reads (the struct is netyard's own, so the kernel's
		// rule of one field per access need not hold).
		lo, ok1 := s.wifiField(off)
		hi, ok2 := s.wifiField(off + 4)
		return uint64(lo) | uint64(hi)<<32, ok1 && ok2
	}
	v, ok := s.wifiField(off &^ 3)
	return narrow(v, off, w), ok
}

// wifiStore writes mark or keep_len (4 bytes), or both in one 8-byte
// store at mark's offset, which clang makes of two neighbouring writes.
func (s *state) wifiStore(off uint32, w int, v uint64) bool {
	if w == 8 && off == wifiMark {
		s.buf.Mark, s.buf.KeepLen = uint32(v), uint32(v>>32)
		return true
	}
	if w != 4 {
		return false
	}
	switch off {
	case wifiMark:
		s.buf.Mark = uint32(v)
	case wifiKeepLen:
		s.buf.KeepLen = uint32(v)
	default:
		return false
	}
	return true
}
