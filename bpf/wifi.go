package bpf

import "netyard/pkt"

// Link layers of the device whose hook runs a program (Env.Link).
const (
	LinkEthernet  = 0
	LinkIEEE80211 = 1 // an 802.11 device: frames start at the 802.11 header
)

// WifiAncillary is netyard's own classic-BPF ancillary area for the 802.11
// receive metadata: an absolute load at SKF_AD_OFF + WifiAncillary + off
// reads the 4-byte field at offset off of struct netyard_wifi_md
// (examples/bpf/include/netyard_wifi.h), for 8 <= off < WifiCtxSize. The
// kernel's own ancillary loads end below SKF_AD_OFF + 64 (SKF_AD_MAX).
const WifiAncillary = 0x100

// WifiCtxSize is sizeof(struct netyard_wifi_md).
const WifiCtxSize = 88

// WifiField is the 4-byte field of struct netyard_wifi_md at off for
// packet p at the hook of env's device (8 <= off < 88, a multiple of 4;
// tsft and tstamp as their low word at 64 and 72, high word at 68 and
// 76); false for any other offset. Fields come from p.Meta.Radio, the
// frame's receive metadata; one whose present bit is clear reads 0.
func WifiField(p *pkt.Buffer, env *Env, off uint32) (uint32, bool) {
	r := &p.Radio
	switch off {
	case 8:
		return uint32(p.Len()), true
	case 12:
		if env == nil {
			return 0, true
		}
		return uint32(env.Ifindex), true
	case 16:
		return r.Present, true
	case 20:
		return uint32(r.Flags), true
	case 24:
		return uint32(int32(r.Signal)), true
	case 28:
		return uint32(int32(r.Noise)), true
	case 32:
		return r.RateKbps(), true
	case 36:
		return uint32(r.Freq), true
	case 40:
		return uint32(r.ChanFlags), true
	case 44:
		return r.Band(), true
	case 48:
		return uint32(r.Antenna), true
	case 52:
		return uint32(r.MCSKnown) | uint32(r.MCSFlags)<<8 | uint32(r.MCSIndex)<<16, true
	case 56:
		return uint32(r.VHTKnown) | uint32(r.VHTFlags)<<16 | uint32(r.VHTBandwidth)<<24, true
	case 60:
		m := r.VHTMCSNSS
		return uint32(m[0]) | uint32(m[1])<<8 | uint32(m[2])<<16 | uint32(m[3])<<24, true
	case 64:
		return uint32(r.TSFT), true
	case 68:
		return uint32(r.TSFT >> 32), true
	case 72:
		return uint32(p.Time), true
	case 76:
		return uint32(uint64(p.Time) >> 32), true
	case 80:
		return p.Mark, true
	case 84:
		return p.KeepLen, true
	}
	return 0, false
}
