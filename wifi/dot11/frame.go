package dot11

import (
	"encoding/binary"
	"fmt"

	"netyard/wire"
)

// Kind is a frame's type and subtype in one byte, type<<4 | subtype: the
// way Wireshark's wlan.fc.type_subtype numbers them (0x08 beacon, 0x28 QoS
// data).
type Kind uint8

// Frame types (802.11-2020 Table 9-1).
const (
	TypeMgmt = 0
	TypeCtrl = 1
	TypeData = 2
	TypeExt  = 3
)

// The kinds netyard builds and names.
const (
	AssocReq    Kind = 0x00
	AssocResp   Kind = 0x01
	ReassocReq  Kind = 0x02
	ReassocResp Kind = 0x03
	ProbeReq    Kind = 0x04
	ProbeResp   Kind = 0x05
	Beacon      Kind = 0x08
	ATIM        Kind = 0x09
	Disassoc    Kind = 0x0a
	Auth        Kind = 0x0b
	Deauth      Kind = 0x0c
	Action      Kind = 0x0d

	BlockAckReq Kind = 0x18
	BlockAck    Kind = 0x19
	PSPoll      Kind = 0x1a
	RTS         Kind = 0x1b
	CTS         Kind = 0x1c
	ACK         Kind = 0x1d
	CFEnd       Kind = 0x1e

	Data    Kind = 0x20
	Null    Kind = 0x24
	QoSData Kind = 0x28
	QoSNull Kind = 0x2c
)

// Type is the frame's type (TypeMgmt, TypeCtrl, TypeData, TypeExt).
func (k Kind) Type() uint8 { return uint8(k>>4) & 3 }

// Subtype is the frame's 4-bit subtype.
func (k Kind) Subtype() uint8 { return uint8(k) & 0xf }

// QoS reports whether a data frame of this kind carries a QoS control
// field (subtype bit 3).
func (k Kind) QoS() bool { return k.Type() == TypeData && k&0x08 != 0 }

var kindNames = map[Kind]string{
	AssocReq: "assoc-req", AssocResp: "assoc-resp", ReassocReq: "reassoc-req", ReassocResp: "reassoc-resp",
	ProbeReq: "probe-req", ProbeResp: "probe-resp", Beacon: "beacon", ATIM: "atim", Disassoc: "disassoc",
	Auth: "auth", Deauth: "deauth", Action: "action",
	BlockAckReq: "block-ack-req", BlockAck: "block-ack", PSPoll: "ps-poll", RTS: "rts", CTS: "cts", ACK: "ack", CFEnd: "cf-end",
	Data: "data", Null: "null", QoSData: "qos-data", QoSNull: "qos-null",
}

func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("type%d/subtype%d", k.Type(), k.Subtype())
}

// Flags is the second byte of frame control.
type Flags uint8

const (
	ToDS      Flags = 0x01
	FromDS    Flags = 0x02
	MoreFrag  Flags = 0x04
	Retry     Flags = 0x08
	PwrMgt    Flags = 0x10
	MoreData  Flags = 0x20
	Protected Flags = 0x40
	Order     Flags = 0x80 // +HTC in QoS data and management frames
)

// MAC is an IEEE 802 address.
type MAC [6]byte

// Broadcast is ff:ff:ff:ff:ff:ff.
var Broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// Group reports whether m is a group (multicast or broadcast) address.
func (m MAC) Group() bool { return m[0]&1 != 0 }

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Header is an 802.11 MAC header. Which fields are on the air depends on
// the kind and flags (HeaderLen): Addr2 and beyond are absent from ACK and
// CTS, Addr3 and sequence control from every control frame, Addr4 is
// present in data frames with both ToDS and FromDS, QoS in QoS data
// frames, HTC when Order is set in a QoS data or management frame.
type Header struct {
	Kind     Kind
	Flags    Flags
	Duration uint16 // duration/ID: microseconds, or an AID in a PS-Poll
	Addr1    MAC    // receiver
	Addr2    MAC    // transmitter
	Addr3    MAC    // BSSID in management frames
	Seq      uint16 // sequence number, 12 bits
	Frag     uint8  // fragment number, 4 bits
	Addr4    MAC
	QoS      uint16 // QoS control: TID in bits 0-3, EOSP 4, ack policy 5-6
	HTC      uint32
}

// Header lengths.
const (
	CtrlShortLen = 10 // ACK, CTS
	CtrlLongLen  = 16 // RTS, PS-Poll, CF-End, BlockAck(Req) up to the TA
	MgmtLen      = 24
	FCSLen       = 4
	htcLen       = 4
)

var (
	errShort    = &wire.Error{Layer: "802.11", Reason: "frame shorter than its header", Kind: wire.ErrTruncated}
	errVersion  = &wire.Error{Layer: "802.11", Reason: "protocol version is not 0", Kind: wire.ErrBadHeader}
	errExt      = &wire.Error{Layer: "802.11", Reason: "extension frame type not supported", Kind: wire.ErrBadHeader}
	errBodyShrt = &wire.Error{Layer: "802.11", Reason: "management body shorter than its fixed fields", Kind: wire.ErrTruncated}
	errIEShort  = &wire.Error{Layer: "802.11", Reason: "information element runs past the body", Kind: wire.ErrTruncated}
	errIEBad    = &wire.Error{Layer: "802.11", Reason: "information element of a wrong length", Kind: wire.ErrBadHeader}
	errNoFCS    = &wire.Error{Layer: "802.11", Reason: "frame shorter than an FCS", Kind: wire.ErrTruncated}
)

// HeaderLen is the length of the header a frame of this kind and these
// flags has on the air.
func HeaderLen(k Kind, f Flags) int {
	switch k.Type() {
	case TypeCtrl:
		switch k {
		case ACK, CTS:
			return CtrlShortLen
		}
		// Control wrapper (7) and others: RA and TA.
		return CtrlLongLen
	case TypeData:
		n := MgmtLen
		if f&(ToDS|FromDS) == ToDS|FromDS {
			n += 6
		}
		if k.QoS() {
			n += 2
			if f&Order != 0 {
				n += htcLen
			}
		}
		return n
	default: // management (extension frames are refused by ParseHeader)
		if f&Order != 0 {
			return MgmtLen + htcLen
		}
		return MgmtLen
	}
}

// Len is the length of h on the air.
func (h *Header) Len() int { return HeaderLen(h.Kind, h.Flags) }

// SeqCtl is the sequence control field.
func (h *Header) SeqCtl() uint16 { return h.Seq<<4 | uint16(h.Frag&0xf) }

// AppendHeader appends h as the air carries it.
func AppendHeader(b []byte, h *Header) []byte {
	b = append(b, byte(h.Kind.Subtype()<<4|h.Kind.Type()<<2), byte(h.Flags))
	b = binary.LittleEndian.AppendUint16(b, h.Duration)
	b = append(b, h.Addr1[:]...)
	n := h.Len()
	if n == CtrlShortLen {
		return b
	}
	b = append(b, h.Addr2[:]...)
	if h.Kind.Type() == TypeCtrl {
		return b
	}
	b = append(b, h.Addr3[:]...)
	b = binary.LittleEndian.AppendUint16(b, h.SeqCtl())
	if h.Kind.Type() == TypeData && h.Flags&(ToDS|FromDS) == ToDS|FromDS {
		b = append(b, h.Addr4[:]...)
	}
	if h.Kind.QoS() {
		b = binary.LittleEndian.AppendUint16(b, h.QoS)
	}
	if h.Flags&Order != 0 && (h.Kind.QoS() || h.Kind.Type() == TypeMgmt) {
		b = binary.LittleEndian.AppendUint32(b, h.HTC)
	}
	return b
}

// ParseHeader reads the MAC header at the start of frame and returns it
// with its length (the body starts there). frame must not include
// anything before the header (no radiotap). Extension frames (type 3) and
// protocol versions other than 0 are refused.
func ParseHeader(frame []byte, h *Header) (int, error) {
	*h = Header{}
	if len(frame) < CtrlShortLen {
		return 0, errShort
	}
	fc0 := frame[0]
	if fc0&3 != 0 {
		return 0, errVersion
	}
	typ, sub := fc0>>2&3, fc0>>4
	if typ == TypeExt {
		return 0, errExt
	}
	h.Kind = Kind(typ<<4 | sub)
	h.Flags = Flags(frame[1])
	n := h.Len()
	if len(frame) < n {
		return 0, errShort
	}
	h.Duration = binary.LittleEndian.Uint16(frame[2:])
	copy(h.Addr1[:], frame[4:10])
	if n == CtrlShortLen {
		return n, nil
	}
	copy(h.Addr2[:], frame[10:16])
	if typ == TypeCtrl {
		return n, nil
	}
	copy(h.Addr3[:], frame[16:22])
	sc := binary.LittleEndian.Uint16(frame[22:])
	h.Seq, h.Frag = sc>>4, uint8(sc&0xf)
	off := MgmtLen
	if typ == TypeData && h.Flags&(ToDS|FromDS) == ToDS|FromDS {
		copy(h.Addr4[:], frame[off:off+6])
		off += 6
	}
	if h.Kind.QoS() {
		h.QoS = binary.LittleEndian.Uint16(frame[off:])
		off += 2
	}
	if h.Flags&Order != 0 && (h.Kind.QoS() || typ == TypeMgmt) {
		h.HTC = binary.LittleEndian.Uint32(frame[off:])
		off += htcLen
	}
	return off, nil
}

// BSSID is the header's BSSID where the frame carries one: Addr3 of a
// management frame and of a data frame inside a BSS (neither or one of
// ToDS/FromDS); Addr1 of a data frame to the AP, Addr2 of one from it. ok
// is false for control frames and WDS (ToDS and FromDS).
func (h *Header) BSSID() (bssid MAC, ok bool) {
	switch h.Kind.Type() {
	case TypeMgmt:
		return h.Addr3, true
	case TypeData:
		switch h.Flags & (ToDS | FromDS) {
		case 0:
			return h.Addr3, true
		case ToDS:
			return h.Addr1, true
		case FromDS:
			return h.Addr2, true
		}
	}
	return MAC{}, false
}
