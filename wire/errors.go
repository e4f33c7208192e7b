package wire

import "errors"

// The kinds of parse failure. Every error Parse and the per-layer parsers
// return is an *Error that unwraps to one of them, so callers test
// errors.Is(err, ErrTruncated) and count drops by kind without looking at
// the text.
var (
	// ErrTruncated: the frame ends before a header that it announces.
	ErrTruncated = errors.New("truncated")
	// ErrBadHeader: a header's own fields contradict each other or the
	// protocol (wrong version, length fields below the minimum, an
	// extension header chain longer than MaxIPv6ExtHeaders).
	ErrBadHeader = errors.New("bad header")
)

// Error is a parse failure: the layer, what was wrong with it, and its kind
// (ErrTruncated or ErrBadHeader).
//
// Parse runs once per packet and a flood of malformed frames must cost no
// more than good ones, so every *Error is a package-level value created at
// init: returning one allocates nothing, and it carries no per-packet
// detail such as the offset (Headers says how far Parse got).
type Error struct {
	Layer  string // "ethernet", "vlan", "ipv4", "ipv6", "tcp", "udp", "icmp", ...
	Reason string
	Kind   error
}

func (e *Error) Error() string { return e.Layer + ": " + e.Reason + ": " + e.Kind.Error() }

// Unwrap returns the kind, for errors.Is.
func (e *Error) Unwrap() error { return e.Kind }

func truncated(layer, reason string) *Error {
	return &Error{Layer: layer, Reason: reason, Kind: ErrTruncated}
}

func bad(layer, reason string) *Error {
	return &Error{Layer: layer, Reason: reason, Kind: ErrBadHeader}
}

var (
	errFrameTooLong = bad("ethernet", "frame longer than 65535 bytes")
	errEthShort     = truncated("ethernet", "frame shorter than 14 bytes")
	errVLANShort    = truncated("vlan", "tag cut short")
	errOffset       = bad("wire", "offset outside the frame")

	errIPv4Short      = truncated("ipv4", "header shorter than 20 bytes")
	errIPv4Version    = bad("ipv4", "version is not 4")
	errIPv4IHL        = bad("ipv4", "IHL below 5")
	errIPv4Options    = truncated("ipv4", "options cut short")
	errIPv4TotLenLow  = bad("ipv4", "total length below header length")
	errIPv4TotLenLong = truncated("ipv4", "total length beyond the frame")

	errIPv6Short     = truncated("ipv6", "header shorter than 40 bytes")
	errIPv6Version   = bad("ipv6", "version is not 6")
	errIPv6PayLong   = truncated("ipv6", "payload length beyond the frame")
	errIPv6ExtShort  = truncated("ipv6", "extension header cut short")
	errIPv6ExtTooMny = bad("ipv6", "too many extension headers")

	errTCPShort   = truncated("tcp", "header shorter than 20 bytes")
	errTCPDataOff = bad("tcp", "data offset below 5")
	errTCPOptions = truncated("tcp", "options cut short")
	errUDPShort   = truncated("udp", "header shorter than 8 bytes")
	errPortsShort = truncated("l4", "header too short for ports")
	errICMPShort  = truncated("icmp", "header shorter than 8 bytes")
)
