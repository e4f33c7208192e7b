// Package radiotap reads and writes radiotap headers (radiotap.org, the
// header a Linux monitor interface puts in front of every 802.11 frame,
// DLT_IEEE802_11_RADIO, pcap link type 127), in the compact form netyard
// keeps as a frame's receive metadata (Fields, in pkt.Meta).
//
// Parse walks every present bitmap as the kernel's
// ieee80211_radiotap_iterator does (net/wireless/radiotap.c): extended
// bitmaps (bit 31), the radiotap namespace restarted (bit 29), vendor
// namespaces (bit 30) whose data it skips by their skip_length, each field
// aligned to its natural alignment from the start of the header. It keeps
// the fields netyard's receive path uses (TSFT, Flags, Rate, Channel, dBm
// antenna signal and noise, Antenna, MCS, VHT) and steps over the other
// known ones. Neither Parse nor Put allocates.
//
// What bad input gets (the caller counts it):
//   - shorter than 8 bytes, a version other than 0, a length below 8 or
//     beyond the data, present words or a field that run past the
//     length, a vendor namespace that skips past it: an error wrapping
//     ErrMalformed; nothing of the header can be trusted, so the record
//     is dropped.
//   - a present bit netyard does not know (in the radiotap namespace: bits
//     above 27 of the first word's numbering, the TLV bit 28), whose size
//     and alignment are therefore unknown: the fields before it are kept,
//     the walk stops there, and Parse returns the header's length with
//     ErrUnknownField. The frame itself is intact (the header's length
//     says where it starts), so the caller passes it.
package radiotap

import (
	"encoding/binary"
	"errors"
	"fmt"
	mathbits "math/bits"
)

// Present bits (radiotap's field numbers in the radiotap namespace).
const (
	TSFT       = 0
	FlagsBit   = 1
	RateBit    = 2
	Channel    = 3
	FHSS       = 4
	AntSignal  = 5 // dBm antenna signal
	AntNoise   = 6 // dBm antenna noise
	LockQual   = 7
	TxAtten    = 8
	DBTxAtten  = 9
	DBmTxPower = 10
	AntennaBit = 11
	DBAntSig   = 12
	DBAntNoise = 13
	RxFlags    = 14
	TxFlags    = 15
	RTSRetries = 16
	DataRetry  = 17
	XChannel   = 18
	MCS        = 19
	AMPDU      = 20
	VHT        = 21
	Timestamp  = 22
	HE         = 23
	HEMU       = 24
	HEMUUser   = 25
	ZeroLen    = 26
	LSIG       = 27
	TLV        = 28 // TLVs follow the fixed fields: their layout is not a bitmap's
	NSNext     = 29 // the next bitmap restarts the radiotap namespace
	VendorNext = 30 // the next bitmap is a vendor namespace's
	Ext        = 31 // another bitmap follows
)

// field is a known field's alignment and size (radiotap.org's defined
// fields; the kernel's rtap_namespace_sizes).
type field struct{ align, size uint8 }

var fields = [28]field{
	TSFT: {8, 8}, FlagsBit: {1, 1}, RateBit: {1, 1}, Channel: {2, 4}, FHSS: {1, 2},
	AntSignal: {1, 1}, AntNoise: {1, 1}, LockQual: {2, 2}, TxAtten: {2, 2}, DBTxAtten: {2, 2},
	DBmTxPower: {1, 1}, AntennaBit: {1, 1}, DBAntSig: {1, 1}, DBAntNoise: {1, 1},
	RxFlags: {2, 2}, TxFlags: {2, 2}, RTSRetries: {1, 1}, DataRetry: {1, 1},
	XChannel: {4, 8}, MCS: {1, 3}, AMPDU: {4, 8}, VHT: {2, 12}, Timestamp: {8, 12},
	HE: {2, 12}, HEMU: {2, 12}, HEMUUser: {2, 6}, ZeroLen: {1, 1}, LSIG: {2, 4},
}

// Flags (the Flags field, IEEE80211_RADIOTAP_F_*).
const (
	FlagCFP      = 0x01
	FlagShortPre = 0x02
	FlagWEP      = 0x04
	FlagFrag     = 0x08
	FlagFCS      = 0x10 // the frame ends with its 4-byte FCS
	FlagDataPad  = 0x20
	FlagBadFCS   = 0x40
	FlagShortGI  = 0x80
)

// Channel flags.
const (
	Chan2GHz = 0x0080
	Chan5GHz = 0x0100
	ChanCCK  = 0x0020
	ChanOFDM = 0x0040
)

// Bands (netyard_wifi.h's NETYARD_WIFI_BAND_*).
const (
	BandUnknown = 0
	Band2GHz    = 1
	Band5GHz    = 2
	Band6GHz    = 3
	Band60GHz   = 4
)

// Fields is what netyard keeps of a radiotap header: the receive metadata
// of one frame (the driver's rx status). Present has radiotap's bit for
// each field that is valid; the others are zero. 48 bytes, no pointers.
type Fields struct {
	TSFT      uint64 // µs, the MAC time of the frame's first bit
	Present   uint32 // 1<<TSFT | 1<<FlagsBit | ... of the fields below
	Freq      uint16 // MHz
	ChanFlags uint16
	Flags     uint8
	Rate      uint8 // 500 kbit/s units
	Signal    int8  // dBm
	Noise     int8  // dBm
	Antenna   uint8
	// MCS: known, flags, index (radiotap's three bytes).
	MCSKnown, MCSFlags, MCSIndex uint8
	// VHT: radiotap's twelve bytes.
	VHTFlags, VHTBandwidth uint8
	VHTKnown               uint16
	VHTMCSNSS              [4]uint8
	VHTCoding, VHTGroupID  uint8
	VHTPartialAID          uint16
}

// Has reports whether field bit is present.
func (f *Fields) Has(bit int) bool { return f.Present&(1<<bit) != 0 }

// Kept is the set of fields Fields keeps, which Put writes back.
const Kept = 1<<TSFT | 1<<FlagsBit | 1<<RateBit | 1<<Channel | 1<<AntSignal | 1<<AntNoise |
	1<<AntennaBit | 1<<MCS | 1<<VHT

// Errors. Malformed headers wrap ErrMalformed.
var (
	ErrMalformed    = errors.New("radiotap: malformed header")
	ErrUnknownField = errors.New("radiotap: unknown field; the fields after it were not read")
)

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, a...)...)
}

// Parse reads the radiotap header at the start of b into f and returns its
// length (it_len): the 802.11 frame is b[n:]. f is overwritten. The error
// is nil, wraps ErrMalformed (n is 0: drop the record) or is
// ErrUnknownField (n is valid, f holds the fields before the unknown one).
func Parse(b []byte, f *Fields) (n int, err error) {
	*f = Fields{}
	if len(b) < 8 {
		return 0, malformed("%d bytes, a header has at least 8", len(b))
	}
	if b[0] != 0 {
		return 0, malformed("version %d, only 0 is defined", b[0])
	}
	hlen := int(binary.LittleEndian.Uint16(b[2:]))
	if hlen < 8 {
		return 0, malformed("length %d, below the 8 of a bare header", hlen)
	}
	if hlen > len(b) {
		return 0, malformed("length %d, beyond the %d bytes of the record", hlen, len(b))
	}
	h := b[:hlen]
	// The present words: the first at 4, one more while bit 31 is set.
	nwords := 1
	for binary.LittleEndian.Uint32(h[4*nwords:])&(1<<Ext) != 0 {
		nwords++
		if 4+4*nwords > hlen {
			return 0, malformed("present bitmaps run past the length %d", hlen)
		}
	}
	off := 4 + 4*nwords
	vendor := false // the namespace of the current word
	idx := 0        // the word's index within its namespace
	for w := range nwords {
		word := binary.LittleEndian.Uint32(h[4+4*w:])
		if vendor {
			if idx == 0 {
				// The vendor namespace's header: OUI, sub_namespace,
				// skip_length; its data is skipped whole.
				off = (off + 1) &^ 1
				if off+6 > hlen {
					return 0, malformed("vendor namespace at %d runs past the length %d", off, hlen)
				}
				skip := int(binary.LittleEndian.Uint16(h[off+4:]))
				off += 6 + skip
				if off > hlen {
					return 0, malformed("vendor namespace data (%d bytes) runs past the length %d", skip, hlen)
				}
			}
		} else {
			bits := word &^ (1<<NSNext | 1<<VendorNext | 1<<Ext)
			if idx > 0 && bits != 0 {
				// Radiotap fields 32 and up: none is defined.
				return hlen, ErrUnknownField
			}
			for bits != 0 {
				bit := mathbits.TrailingZeros32(bits)
				bits &^= 1 << bit
				if bit >= len(fields) {
					return hlen, ErrUnknownField
				}
				fd := fields[bit]
				off = (off + int(fd.align) - 1) &^ (int(fd.align) - 1)
				if off+int(fd.size) > hlen {
					return 0, malformed("field %d at %d (%d bytes) runs past the length %d", bit, off, fd.size, hlen)
				}
				take(f, bit, h[off:off+int(fd.size)])
				off += int(fd.size)
			}
		}
		switch {
		case word&(1<<VendorNext) != 0:
			vendor, idx = true, 0
		case word&(1<<NSNext) != 0:
			vendor, idx = false, 0
		default:
			idx++
		}
	}
	return hlen, nil
}

// take keeps field bit's value v in f.
func take(f *Fields, bit int, v []byte) {
	switch bit {
	case TSFT:
		f.TSFT = binary.LittleEndian.Uint64(v)
	case FlagsBit:
		f.Flags = v[0]
	case RateBit:
		f.Rate = v[0]
	case Channel:
		f.Freq = binary.LittleEndian.Uint16(v)
		f.ChanFlags = binary.LittleEndian.Uint16(v[2:])
	case AntSignal:
		f.Signal = int8(v[0])
	case AntNoise:
		f.Noise = int8(v[0])
	case AntennaBit:
		f.Antenna = v[0]
	case MCS:
		f.MCSKnown, f.MCSFlags, f.MCSIndex = v[0], v[1], v[2]
	case VHT:
		f.VHTKnown = binary.LittleEndian.Uint16(v)
		f.VHTFlags, f.VHTBandwidth = v[2], v[3]
		copy(f.VHTMCSNSS[:], v[4:8])
		f.VHTCoding, f.VHTGroupID = v[8], v[9]
		f.VHTPartialAID = binary.LittleEndian.Uint16(v[10:])
	default:
		return // known, stepped over
	}
	f.Present |= 1 << bit
}

// Len is the length of the header Put writes for f.
func Len(f *Fields) int {
	off := 8
	p := f.Present & Kept
	for bit := 0; p != 0; bit++ {
		if p&(1<<bit) == 0 {
			continue
		}
		p &^= 1 << bit
		fd := fields[bit]
		off = (off+int(fd.align)-1)&^(int(fd.align)-1) + int(fd.size)
	}
	return off
}

// Put writes f's radiotap header (its Kept fields, one present word) into
// b, which must be Len(f) bytes long, and returns that length. Padding is
// zeroed. It allocates nothing: the datapath writes it into a buffer's
// headroom.
func Put(b []byte, f *Fields) int {
	p := f.Present & Kept
	n := len(b)
	clear(b)
	b[0], b[1] = 0, 0
	binary.LittleEndian.PutUint16(b[2:], uint16(n))
	binary.LittleEndian.PutUint32(b[4:], p)
	off := 8
	for bit := 0; p != 0; bit++ {
		if p&(1<<bit) == 0 {
			continue
		}
		p &^= 1 << bit
		fd := fields[bit]
		off = (off + int(fd.align) - 1) &^ (int(fd.align) - 1)
		v := b[off : off+int(fd.size)]
		switch bit {
		case TSFT:
			binary.LittleEndian.PutUint64(v, f.TSFT)
		case FlagsBit:
			v[0] = f.Flags
		case RateBit:
			v[0] = f.Rate
		case Channel:
			binary.LittleEndian.PutUint16(v, f.Freq)
			binary.LittleEndian.PutUint16(v[2:], f.ChanFlags)
		case AntSignal:
			v[0] = uint8(f.Signal)
		case AntNoise:
			v[0] = uint8(f.Noise)
		case AntennaBit:
			v[0] = f.Antenna
		case MCS:
			v[0], v[1], v[2] = f.MCSKnown, f.MCSFlags, f.MCSIndex
		case VHT:
			binary.LittleEndian.PutUint16(v, f.VHTKnown)
			v[2], v[3] = f.VHTFlags, f.VHTBandwidth
			copy(v[4:8], f.VHTMCSNSS[:])
			v[8], v[9] = f.VHTCoding, f.VHTGroupID
			binary.LittleEndian.PutUint16(v[10:], f.VHTPartialAID)
		}
		off += int(fd.size)
	}
	return off
}

// Append appends f's header to dst.
func Append(dst []byte, f *Fields) []byte {
	n := Len(f)
	dst = append(dst, make([]byte, n)...)
	Put(dst[len(dst)-n:], f)
	return dst
}

// Band is the band of the channel's frequency (netyard_wifi.h's bands).
func (f *Fields) Band() uint32 {
	if f.Present&(1<<Channel) == 0 {
		return BandUnknown
	}
	switch fr := f.Freq; {
	case fr >= 2400 && fr < 2500:
		return Band2GHz
	case fr >= 4900 && fr < 5925:
		return Band5GHz
	case fr >= 5925 && fr <= 7125:
		return Band6GHz
	case fr >= 57000: // to 71000, beyond what a uint16 holds anyway
		return Band60GHz
	}
	return BandUnknown
}

// htBits6 is bits per subcarrier times the coding rate, times 6, for HT
// MCS 0..7 and VHT MCS 0..9 (BPSK 1/2 ... 256-QAM 5/6).
var bits6 = [10]uint32{3, 6, 9, 12, 18, 24, 27, 30, 36, 40}

// vhtWidth maps radiotap's VHT bandwidth code to MHz.
var vhtWidth = [26]uint32{20, 40, 20, 20, 80, 40, 40, 20, 20, 20, 20, 160, 80, 80, 40, 40, 40, 40, 20, 20, 20, 20, 20, 20, 20, 20}

// dataSubcarriers for 20, 40, 80, 160 MHz (802.11n/ac).
func dataSubcarriers(mhz uint32) uint32 {
	switch mhz {
	case 40:
		return 108
	case 80:
		return 234
	case 160:
		return 468
	}
	return 52
}

// ofdmKbps is a data rate from subcarriers, bits6 and streams: Nsd ×
// bits × streams per 4 µs symbol (3.6 µs with the short guard interval).
func ofdmKbps(nsd, b6, nss uint32, sgi bool) uint32 {
	r := nsd * b6 * nss * 250 / 6
	if sgi {
		r = r * 10 / 9
	}
	return r
}

// RateKbps is the frame's data rate in kbit/s: the legacy Rate, else the
// HT MCS rate (index, width, guard interval, streams), else VHT user 0's;
// 0 when none is known.
func (f *Fields) RateKbps() uint32 {
	switch {
	case f.Present&(1<<RateBit) != 0 && f.Rate != 0:
		return uint32(f.Rate) * 500
	case f.Present&(1<<MCS) != 0 && f.MCSKnown&0x02 != 0 && f.MCSIndex < 32:
		// known: 0x01 bandwidth, 0x02 index, 0x04 guard interval.
		mhz := uint32(20)
		if f.MCSKnown&0x01 != 0 && f.MCSFlags&3 == 1 {
			mhz = 40
		}
		sgi := f.MCSKnown&0x04 != 0 && f.MCSFlags&0x04 != 0
		return ofdmKbps(dataSubcarriers(mhz), bits6[f.MCSIndex%8], uint32(f.MCSIndex/8)+1, sgi)
	case f.Present&(1<<VHT) != 0:
		mcs, nss := uint32(f.VHTMCSNSS[0]>>4), uint32(f.VHTMCSNSS[0]&15)
		if nss == 0 || mcs > 9 {
			return 0
		}
		mhz := uint32(20)
		if f.VHTKnown&0x40 != 0 && int(f.VHTBandwidth) < len(vhtWidth) {
			mhz = vhtWidth[f.VHTBandwidth]
		}
		sgi := f.VHTKnown&0x04 != 0 && f.VHTFlags&0x04 != 0
		return ofdmKbps(dataSubcarriers(mhz), bits6[mcs], nss, sgi)
	}
	return 0
}
