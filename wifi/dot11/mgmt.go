package dot11

import (
	"encoding/binary"
	"hash/crc32"
	"time"
)

// Capability information bits (802.11-2020 9.4.1.4).
const (
	CapESS           uint16 = 0x0001
	CapIBSS          uint16 = 0x0002
	CapPrivacy       uint16 = 0x0010
	CapShortPreamble uint16 = 0x0020
	CapShortSlot     uint16 = 0x0400
)

// Reason codes (9.4.1.7) the model sends.
const (
	ReasonUnspecified    uint16 = 1
	ReasonPrevAuthBad    uint16 = 2 // previous authentication no longer valid
	ReasonDeauthLeaving  uint16 = 3
	ReasonInactivity     uint16 = 4
	ReasonClass3NotAssoc uint16 = 7
	ReasonDisassocLeave  uint16 = 8
)

// Status codes (9.4.1.9).
const (
	StatusSuccess     uint16 = 0
	StatusUnspecified uint16 = 1
)

// Authentication algorithms (9.4.1.1).
const (
	AuthOpen uint16 = 0
	AuthSAE  uint16 = 3
)

// TU is the time unit of beacon intervals (9.4.1.3).
const TU = 1024 * time.Microsecond

// Mgmt holds a management frame's fixed fields (those of its kind; the
// others stay zero) and the elements that follow them.
type Mgmt struct {
	Timestamp      uint64 // beacon, probe response: the TSF in µs
	Interval       uint16 // beacon interval in TU
	Capability     uint16
	ListenInterval uint16 // (re)association request, in beacon intervals
	CurrentAP      MAC    // reassociation request
	Status         uint16 // authentication, (re)association response
	AID            uint16 // (re)association response: association ID, bits 14-15 set
	Reason         uint16 // deauthentication, disassociation
	AuthAlgorithm  uint16
	AuthSeq        uint16
	Category       uint8 // action
	// IEs are the information elements after the fixed fields (for an
	// action frame: the rest of the body after the category); a
	// sub-slice of the frame when parsed.
	IEs []byte
}

// FixedLen is the length of the fixed fields of a management frame of
// kind k (802.11-2020 9.3.3), or -1 for a kind that is not management.
func FixedLen(k Kind) int {
	switch k {
	case AssocReq:
		return 4
	case AssocResp, ReassocResp, Auth:
		return 6
	case ReassocReq:
		return 10
	case ProbeReq, ATIM:
		return 0
	case ProbeResp, Beacon:
		return 12
	case Disassoc, Deauth:
		return 2
	case Action:
		return 1
	}
	if k.Type() == TypeMgmt {
		return 0 // reserved subtypes, timing advertisement: elements only
	}
	return -1
}

// AppendMgmt appends the fixed fields of kind k from m, then m.IEs.
func AppendMgmt(b []byte, k Kind, m *Mgmt) []byte {
	le := binary.LittleEndian
	switch k {
	case AssocReq:
		b = le.AppendUint16(b, m.Capability)
		b = le.AppendUint16(b, m.ListenInterval)
	case ReassocReq:
		b = le.AppendUint16(b, m.Capability)
		b = le.AppendUint16(b, m.ListenInterval)
		b = append(b, m.CurrentAP[:]...)
	case AssocResp, ReassocResp:
		b = le.AppendUint16(b, m.Capability)
		b = le.AppendUint16(b, m.Status)
		b = le.AppendUint16(b, m.AID)
	case ProbeResp, Beacon:
		b = le.AppendUint64(b, m.Timestamp)
		b = le.AppendUint16(b, m.Interval)
		b = le.AppendUint16(b, m.Capability)
	case Disassoc, Deauth:
		b = le.AppendUint16(b, m.Reason)
	case Auth:
		b = le.AppendUint16(b, m.AuthAlgorithm)
		b = le.AppendUint16(b, m.AuthSeq)
		b = le.AppendUint16(b, m.Status)
	case Action:
		b = append(b, m.Category)
	}
	return append(b, m.IEs...)
}

// ParseMgmt reads the fixed fields of a management body of kind k into m;
// m.IEs is the rest of body. It does not look into the elements (IEIter
// and CheckIEs do).
func ParseMgmt(k Kind, body []byte, m *Mgmt) error {
	*m = Mgmt{}
	n := FixedLen(k)
	if n < 0 || len(body) < n {
		return errBodyShrt
	}
	le := binary.LittleEndian
	switch k {
	case AssocReq:
		m.Capability, m.ListenInterval = le.Uint16(body), le.Uint16(body[2:])
	case ReassocReq:
		m.Capability, m.ListenInterval = le.Uint16(body), le.Uint16(body[2:])
		copy(m.CurrentAP[:], body[4:10])
	case AssocResp, ReassocResp:
		m.Capability, m.Status, m.AID = le.Uint16(body), le.Uint16(body[2:]), le.Uint16(body[4:])
	case ProbeResp, Beacon:
		m.Timestamp, m.Interval, m.Capability = le.Uint64(body), le.Uint16(body[8:]), le.Uint16(body[10:])
	case Disassoc, Deauth:
		m.Reason = le.Uint16(body)
	case Auth:
		m.AuthAlgorithm, m.AuthSeq, m.Status = le.Uint16(body), le.Uint16(body[2:]), le.Uint16(body[4:])
	case Action:
		m.Category = body[0]
	}
	m.IEs = body[n:]
	return nil
}

// AppendFCS appends the frame check sequence of b[start:] (the frame from
// its first header byte): the IEEE CRC-32, sent least significant byte
// first (802.11-2020 9.2.4.8).
func AppendFCS(b []byte, start int) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b[start:]))
}

// CheckFCS reports whether frame ends in a correct FCS.
func CheckFCS(frame []byte) bool {
	if len(frame) < FCSLen {
		return false
	}
	n := len(frame) - FCSLen
	return crc32.ChecksumIEEE(frame[:n]) == binary.LittleEndian.Uint32(frame[n:])
}

// OFDM timing for durations (802.11-2020 17.4.4: 5 GHz and ERP-OFDM).
const (
	sifsUS     = 16
	preambleUS = 20 // PLCP preamble and SIGNAL
	ackBits    = 16 + 14*8 + 6
)

// ACKDuration is the duration field of an individually addressed frame
// sent at rate (500 kb/s units, as in the rates element) that ends its
// exchange with an ACK: SIFS and the ACK at the highest mandatory OFDM
// rate (6, 12 or 24 Mb/s) not above rate (802.11-2020 10.6.6.5).
func ACKDuration(rate uint16) uint16 {
	basic := uint16(12) // 6 Mb/s
	for _, r := range []uint16{48, 24} {
		if rate >= r {
			basic = r
			break
		}
	}
	bitsPerSym := int(basic) * 2 // 500 kb/s × 4 µs = 2 bits a unit
	syms := (ackBits + bitsPerSym - 1) / bitsPerSym
	return uint16(sifsUS + preambleUS + 4*syms)
}

// LLC/SNAP encapsulation of a data frame's payload (RFC 1042).
var snapHeader = [6]byte{0xaa, 0xaa, 0x03, 0, 0, 0}

// AppendSNAP appends the RFC 1042 header carrying etherType.
func AppendSNAP(b []byte, etherType uint16) []byte {
	b = append(b, snapHeader[:]...)
	return binary.BigEndian.AppendUint16(b, etherType)
}

// SNAP reads an RFC 1042 header at the start of a data body.
func SNAP(body []byte) (etherType uint16, payload []byte, ok bool) {
	if len(body) < 8 || [6]byte(body[:6]) != snapHeader {
		return 0, nil, false
	}
	return binary.BigEndian.Uint16(body[6:]), body[8:], true
}

// Frame is a parsed frame: its header, the body between header and FCS,
// and for management frames the fixed fields and elements.
type Frame struct {
	Header
	HeaderLen int
	Body      []byte
	HasFCS    bool
	FCS       uint32
	Mgmt      Mgmt
}

// Parse reads frame (with an FCS at its end when fcs is true) into f. A
// management frame's fixed fields are read and its elements checked
// (CheckIEs); the FCS is read, not checked (CheckFCS).
func Parse(frame []byte, fcs bool, f *Frame) error {
	f.HasFCS, f.FCS, f.Body = false, 0, nil
	f.Mgmt = Mgmt{}
	if fcs {
		if len(frame) < FCSLen {
			return errNoFCS
		}
		n := len(frame) - FCSLen
		f.HasFCS, f.FCS = true, binary.LittleEndian.Uint32(frame[n:])
		frame = frame[:n]
	}
	n, err := ParseHeader(frame, &f.Header)
	if err != nil {
		return err
	}
	f.HeaderLen, f.Body = n, frame[n:]
	if f.Kind.Type() != TypeMgmt {
		return nil
	}
	if err := ParseMgmt(f.Kind, f.Body, &f.Mgmt); err != nil {
		return err
	}
	if f.Kind == Action {
		return nil
	}
	return CheckIEs(f.Mgmt.IEs)
}
