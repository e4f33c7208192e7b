package ebpf

import (
	"encoding/binary"
	"math/bits"
)

// struct __sk_buff offsets (include/uapi/linux/bpf.h).
const (
	skbLen            = 0
	skbPktType        = 4
	skbMark           = 8
	skbQueueMapping   = 12
	skbProtocol       = 16
	skbVlanPresent    = 20
	skbVlanTCI        = 24
	skbVlanProto      = 28
	skbPriority       = 32
	skbIngressIfindex = 36
	skbIfindex        = 40
	skbTCIndex        = 44
	skbCB             = 48 // cb[5]: 48..68
	skbHash           = 68
	skbTCClassid      = 72
	skbData           = 76
	skbDataEnd        = 80
	skbNapiID         = 84
	skbFamily         = 88 // family..local_port: sk_skb programs only
	skbDataMeta       = 140
	skbFlowKeys       = 144
	skbTstamp         = 152
	skbWireLen        = 160
	skbGSOSegs        = 164
	skbSk             = 168
	skbGSOSize        = 176
	skbTstampType     = 180
	skbHwtstamp       = 184
	skbSize           = 192
)

// skbExtra is the part of the context that pkt.Meta does not carry:
// it lives for one run (tc_index and cb start at 0 at every hook,
// tc_classid, a u16, at what the hook presets: env.ClassID; see
// docs/BPF.md (its extended part)).
type skbExtra struct {
	cb      [20]byte
	tcIndex uint16
	classid uint32
}

// Packet types (include/uapi/linux/if_packet.h).
const (
	packetHost      = 0
	packetBroadcast = 1
	packetMulticast = 2
)

// u32Field is the value of a 4-byte field of __sk_buff at off.
func (s *state) u32Field(off uint32) (uint32, bool) {
	b := s.buf
	switch off {
	case skbLen:
		return uint32(len(s.pkt)), true
	case skbPktType:
		// netyard is a switch: it does not compare the destination with
		// the device's address, so unicast is PACKET_HOST.
		if len(s.pkt) >= 6 && s.pkt[0]&1 != 0 {
			if s.pkt[0]&s.pkt[1]&s.pkt[2]&s.pkt[3]&s.pkt[4]&s.pkt[5] == 0xff {
				return packetBroadcast, true
			}
			return packetMulticast, true
		}
		return packetHost, true
	case skbMark:
		return b.Mark, true
	case skbQueueMapping:
		if b.HasQueueMapping {
			return uint32(b.QueueMapping), true
		}
		return 0, true
	case skbProtocol:
		return uint32(bits.ReverseBytes16(ethProtocol(s.pkt))), true
	case skbVlanPresent, skbVlanTCI, skbVlanProto:
		// netyard keeps VLAN tags in the frame (no hardware offload):
		// as an skb whose tag is not accelerated.
		return 0, true
	case skbPriority:
		return b.Priority, true
	case skbIngressIfindex:
		return uint32(b.Ingress), true
	case skbIfindex:
		return uint32(s.env.Ifindex), true
	case skbTCIndex:
		return uint32(s.skb.tcIndex), true
	case skbHash:
		if b.HashValid {
			return b.Hash, true
		}
		return 0, true
	case skbTCClassid:
		return s.skb.classid, true
	case skbNapiID:
		return 0, true
	case skbWireLen:
		_, n := b.WireLen()
		return uint32(n), true
	case skbGSOSegs:
		if b.GSOType != 0 {
			n, _ := b.WireLen()
			return uint32(n), true
		}
		return 0, true
	case skbGSOSize:
		return uint32(b.GSOSize), true
	}
	return 0, false
}

// ethProtocol is skb->protocol as eth_type_trans sets it (host order).
func ethProtocol(p []byte) uint16 {
	if len(p) < 14 {
		return 0
	}
	t := binary.BigEndian.Uint16(p[12:])
	if t >= 0x0600 {
		return t
	}
	if len(p) >= 16 && p[14] == 0xff && p[15] == 0xff {
		return 0x0001 // ETH_P_802_3: raw IPX
	}
	return 0x0004 // ETH_P_802_2
}

// ctxLoad reads w bytes of __sk_buff at off, as tc_cls_act_is_valid_access
// and bpf_skb_is_valid_access allow: data, data_end and data_meta whole,
// the 64-bit fields whole, other fields whole or in narrow aligned parts.
func (s *state) ctxLoad(off uint32, w int) (uint64, bool) {
	if s.wifi {
		return s.wifiLoad(off, w)
	}
	if off&uint32(w-1) != 0 || off >= skbSize {
		return 0, false
	}
	switch {
	case off >= skbCB && off < skbCB+20:
		if off+uint32(w) > skbCB+20 {
			return 0, false
		}
		return getLE(s.skb.cb[off-skbCB:], w), true
	case off == skbData || off == skbDataMeta:
		return mkptr(tagPkt, 0), w == 4
	case off == skbDataEnd:
		return mkptr(tagPkt, uint32(len(s.pkt))), w == 4
	case off == skbTstamp:
		return uint64(s.buf.Time), w == 8
	case off == skbHwtstamp, off == skbSk:
		return 0, w == 8
	case off >= skbFamily && off < skbDataMeta, off >= skbFlowKeys && off < skbTstamp,
		off >= skbTstampType && off < skbHwtstamp:
		return 0, false
	}
	if w == 8 {
		return 0, false
	}
	v, ok := s.u32Field(off &^ 3)
	return narrow(v, off, w), ok
}

// narrow is the part of the 32-bit field v that a load of w bytes at off
// (within the field: the kernel's narrow context loads) reads.
func narrow(v uint32, off uint32, w int) uint64 {
	v >>= 8 * (off & 3)
	if w < 4 {
		v &= 1<<(8*w) - 1
	}
	return uint64(v)
}

// ctxStore writes a field a tc program may write: mark, priority,
// queue_mapping, tc_index, cb[], tc_classid (all 4 bytes; cb any size) and
// tstamp (8).
func (s *state) ctxStore(off uint32, w int, v uint64) bool {
	if s.wifi {
		return s.wifiStore(off, w, v)
	}
	if off&uint32(w-1) != 0 {
		return false
	}
	if off >= skbCB && off+uint32(w) <= skbCB+20 {
		putLE(s.skb.cb[off-skbCB:], w, v)
		return true
	}
	if off == skbTstamp {
		if w != 8 {
			return false
		}
		s.buf.Time = int64(v)
		return true
	}
	if w != 4 {
		return false
	}
	switch off {
	case skbMark:
		s.buf.Mark = uint32(v)
	case skbPriority:
		s.buf.Priority = uint32(v)
	case skbQueueMapping:
		// NO_QUEUE_MAPPING (0xffff) and above are ignored, as in
		// bpf_convert_ctx_access.
		if uint32(v) < 0xffff {
			s.buf.QueueMapping = uint16(v)
			s.buf.HasQueueMapping = true
		}
	case skbTCIndex:
		s.skb.tcIndex = uint16(v)
	case skbTCClassid:
		s.skb.classid = uint32(uint16(v)) // a u16 in the kernel's qdisc_skb_cb
	default:
		return false
	}
	return true
}
