package dot11

import (
	"encoding/binary"
	"errors"
)

// Element IDs (802.11-2020 Table 9-92) netyard builds or checks.
const (
	IESSID       = 0
	IERates      = 1
	IEDSParams   = 3
	IETIM        = 5
	IECountry    = 7
	IEERP        = 42
	IEHTCaps     = 45
	IERSN        = 48
	IEExtRates   = 50
	IEHTOper     = 61
	IEExtCaps    = 127
	IEVendor     = 221
	IEExtension  = 255
	MaxSSIDLen   = 32
	maxIELen     = 255
	htCapsLen    = 26
	htOperLen    = 22
	maxRatesInIE = 8
)

// ErrSpec is what builders return for arguments no element can carry.
var ErrSpec = errors.New("dot11: invalid element")

// AppendIE appends an element: ID, length, data.
func AppendIE(b []byte, id uint8, data []byte) ([]byte, error) {
	if len(data) > maxIELen {
		return b, ErrSpec
	}
	b = append(b, id, uint8(len(data)))
	return append(b, data...), nil
}

// AppendSSID appends the SSID element; an empty SSID is the wildcard of a
// probe request.
func AppendSSID(b []byte, ssid string) ([]byte, error) {
	if len(ssid) > MaxSSIDLen {
		return b, ErrSpec
	}
	b = append(b, IESSID, uint8(len(ssid)))
	return append(b, ssid...), nil
}

// AppendRates appends the Supported Rates element with the first 8 rates
// and, when there are more, an Extended Supported Rates element with the
// rest (9.4.2.3, 9.4.2.13). Rates are in 500 kb/s units, 0x80 marking a
// basic rate.
func AppendRates(b []byte, rates []uint8) ([]byte, error) {
	if len(rates) == 0 || len(rates) > maxRatesInIE+maxIELen {
		return b, ErrSpec
	}
	n := min(len(rates), maxRatesInIE)
	b = append(b, IERates, uint8(n))
	b = append(b, rates[:n]...)
	if len(rates) > n {
		b = append(b, IEExtRates, uint8(len(rates)-n))
		b = append(b, rates[n:]...)
	}
	return b, nil
}

// AppendDSParams appends the DS Parameter Set: the current channel.
func AppendDSParams(b []byte, channel uint8) []byte {
	return append(b, IEDSParams, 1, channel)
}

// TIM is the Traffic Indication Map element (9.4.2.5) with a one-byte
// partial virtual bitmap (no station has buffered frames in the model).
type TIM struct {
	DTIMCount, DTIMPeriod, BitmapControl uint8
	Bitmap                               []byte // at least one byte on the air
}

// AppendTIM appends t.
func AppendTIM(b []byte, t *TIM) ([]byte, error) {
	bm := t.Bitmap
	if len(bm) > 251 {
		return b, ErrSpec
	}
	n := max(len(bm), 1)
	b = append(b, IETIM, uint8(3+n), t.DTIMCount, t.DTIMPeriod, t.BitmapControl)
	if len(bm) == 0 {
		return append(b, 0), nil
	}
	return append(b, bm...), nil
}

// Cipher and AKM suites under the IEEE OUI 00-0F-AC (Table 9-149, 9-151),
// as OUI<<8 | type.
const (
	SuiteCCMP uint32 = 0x000fac04
	SuitePSK  uint32 = 0x000fac02
	SuiteSAE  uint32 = 0x000fac08
)

// RSN is the RSN element (9.4.2.24) up to the capabilities: one group
// cipher, up to four pairwise ciphers and AKMs kept (more are counted).
type RSN struct {
	Version        uint16
	Group          uint32
	NPairwise      int
	Pairwise       [4]uint32
	NAKM           int
	AKM            [4]uint32
	Capabilities   uint16
	HasCapabilites bool
}

// AppendRSN appends r (its first min(N, 4) suites of each list).
func AppendRSN(b []byte, r *RSN) []byte {
	np, na := min(r.NPairwise, 4), min(r.NAKM, 4)
	n := 2 + 4 + 2 + 4*np + 2 + 4*na + 2
	be, le := binary.BigEndian, binary.LittleEndian
	b = append(b, IERSN, uint8(n))
	b = le.AppendUint16(b, r.Version)
	b = be.AppendUint32(b, r.Group)
	b = le.AppendUint16(b, uint16(np))
	for _, s := range r.Pairwise[:np] {
		b = be.AppendUint32(b, s)
	}
	b = le.AppendUint16(b, uint16(na))
	for _, s := range r.AKM[:na] {
		b = be.AppendUint32(b, s)
	}
	return le.AppendUint16(b, r.Capabilities)
}

// ParseRSN reads an RSN element's data (after ID and length). The
// optional trailing fields (PMKIDs, group management cipher) are not read.
func ParseRSN(d []byte, r *RSN) error {
	*r = RSN{}
	le, be := binary.LittleEndian, binary.BigEndian
	if len(d) < 2 {
		return errIEBad
	}
	r.Version = le.Uint16(d)
	d = d[2:]
	if len(d) < 4 {
		return nil // version only: everything else defaults (CCMP, 802.1X)
	}
	r.Group = be.Uint32(d)
	d = d[4:]
	for _, list := range []struct {
		n   *int
		out *[4]uint32
	}{{&r.NPairwise, &r.Pairwise}, {&r.NAKM, &r.AKM}} {
		if len(d) < 2 {
			return nil
		}
		c := int(le.Uint16(d))
		d = d[2:]
		if len(d) < 4*c {
			return errIEBad
		}
		*list.n = c
		for i := range min(c, 4) {
			list.out[i] = be.Uint32(d[4*i:])
		}
		d = d[4*c:]
	}
	if len(d) >= 2 {
		r.Capabilities, r.HasCapabilites = le.Uint16(d), true
	}
	return nil
}

// HTCaps is the part of the HT Capabilities element (9.4.2.56) the model
// sets; the rest (A-MPDU parameters aside, extended, beamforming, ASEL) is
// zero.
type HTCaps struct {
	Info     uint16   // HT capability information
	AMPDU    uint8    // A-MPDU parameters
	MCS      [16]byte // supported MCS set
	ExtCaps  uint16
	TxBF     uint32
	ASELCaps uint8
}

// AppendHTCaps appends h.
func AppendHTCaps(b []byte, h *HTCaps) []byte {
	le := binary.LittleEndian
	b = append(b, IEHTCaps, htCapsLen)
	b = le.AppendUint16(b, h.Info)
	b = append(b, h.AMPDU)
	b = append(b, h.MCS[:]...)
	b = le.AppendUint16(b, h.ExtCaps)
	b = le.AppendUint32(b, h.TxBF)
	return append(b, h.ASELCaps)
}

// IEIter walks the elements of a body without allocating:
//
//	it := dot11.IEs(m.IEs)
//	for id, data, ok := it.Next(); ok; id, data, ok = it.Next() { ... }
//	if it.Err() != nil { ... }
type IEIter struct {
	rest []byte
	err  error
}

// IEs starts a walk over b.
func IEs(b []byte) IEIter { return IEIter{rest: b} }

// Next returns the next element, or ok false at the end or at an element
// that runs past the body (Err then says so).
func (it *IEIter) Next() (id uint8, data []byte, ok bool) {
	if len(it.rest) == 0 || it.err != nil {
		return 0, nil, false
	}
	if len(it.rest) < 2 || len(it.rest) < 2+int(it.rest[1]) {
		it.err = errIEShort
		return 0, nil, false
	}
	id, n := it.rest[0], int(it.rest[1])
	data, it.rest = it.rest[2:2+n], it.rest[2+n:]
	return id, data, true
}

// Err is the walk's error, if it stopped at a broken element.
func (it *IEIter) Err() error { return it.err }

// FindIE returns the data of the first element id in b.
func FindIE(b []byte, id uint8) ([]byte, bool) {
	it := IEs(b)
	for eid, data, ok := it.Next(); ok; eid, data, ok = it.Next() {
		if eid == id {
			return data, true
		}
	}
	return nil, false
}

// CheckIEs walks b and checks the lengths of the elements netyard builds:
// SSID ≤ 32, rates 1..8, DS parameter set 1, TIM ≥ 4, HT capabilities 26,
// HT operation 22, RSN ≥ 2 and consistent.
func CheckIEs(b []byte) error {
	it := IEs(b)
	var rsn RSN
	for id, d, ok := it.Next(); ok; id, d, ok = it.Next() {
		bad := false
		switch id {
		case IESSID:
			bad = len(d) > MaxSSIDLen
		case IERates:
			bad = len(d) < 1 || len(d) > maxRatesInIE
		case IEExtRates:
			bad = len(d) < 1
		case IEDSParams:
			bad = len(d) != 1
		case IETIM:
			bad = len(d) < 4
		case IEHTCaps:
			bad = len(d) != htCapsLen
		case IEHTOper:
			bad = len(d) != htOperLen
		case IERSN:
			if err := ParseRSN(d, &rsn); err != nil {
				return err
			}
		}
		if bad {
			return errIEBad
		}
	}
	return it.Err()
}
