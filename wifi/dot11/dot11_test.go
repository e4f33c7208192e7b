package dot11

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strconv"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"netyard/wifi/dot11/dot11test"
	"netyard/wire"
)

var (
	apMAC  = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}
	staMAC = MAC{0x02, 0x00, 0x5e, 0x20, 0x00, 0x07}
	ap2MAC = MAC{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}
)

// sample is one frame built by this package's builders.
type sample struct {
	name string
	h    Header
	m    Mgmt   // management kinds
	body []byte // other kinds: the body after the header
}

// testIEs builds the elements of a beacon: SSID, rates with extended
// rates, DS parameter set, TIM, RSN, HT capabilities.
func testIEs(t testing.TB, ssid string, beacon bool) []byte {
	b, err := AppendSSID(nil, ssid)
	if err != nil {
		t.Fatal(err)
	}
	b, err = AppendRates(b, []uint8{0x82, 0x84, 0x8b, 0x96, 0x0c, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6c})
	if err != nil {
		t.Fatal(err)
	}
	b = AppendDSParams(b, 6)
	if beacon {
		if b, err = AppendTIM(b, &TIM{DTIMCount: 0, DTIMPeriod: 1}); err != nil {
			t.Fatal(err)
		}
	}
	b = AppendRSN(b, &RSN{Version: 1, Group: SuiteCCMP, NPairwise: 1, Pairwise: [4]uint32{SuiteCCMP}, NAKM: 1, AKM: [4]uint32{SuitePSK}})
	ht := HTCaps{Info: 0x016e, AMPDU: 0x17}
	ht.MCS[0] = 0xff
	return AppendHTCaps(b, &ht)
}

func samples(t testing.TB) []sample {
	ies := testIEs(t, "netyard", true)
	probe := testIEs(t, "", false)
	mg := func(k Kind, a1, a2, a3 MAC, seq uint16) Header {
		d := uint16(0)
		if !a1.Group() {
			d = ACKDuration(12)
		}
		return Header{Kind: k, Duration: d, Addr1: a1, Addr2: a2, Addr3: a3, Seq: seq}
	}
	data := AppendSNAP(nil, 0x0800)
	data = appendUDP(t, data, 40)
	rates, err := AppendRates(nil, []uint8{0x82, 0x84, 0x8b, 0x96, 0x0c, 0x12, 0x18, 0x24, 0x30, 0x48, 0x60, 0x6c})
	if err != nil {
		t.Fatal(err)
	}
	return []sample{
		{name: "beacon", h: mg(Beacon, Broadcast, apMAC, apMAC, 1), m: Mgmt{Timestamp: 123456789, Interval: 100, Capability: CapESS | CapPrivacy | CapShortSlot, IEs: ies}},
		{name: "probe request, wildcard", h: mg(ProbeReq, Broadcast, staMAC, Broadcast, 2), m: Mgmt{IEs: probe}},
		{name: "probe response", h: mg(ProbeResp, staMAC, apMAC, apMAC, 3), m: Mgmt{Timestamp: 1 << 40, Interval: 100, Capability: CapESS | CapPrivacy, IEs: ies[:len(ies)-28]}},
		{name: "authentication 1", h: mg(Auth, apMAC, staMAC, apMAC, 4), m: Mgmt{AuthAlgorithm: AuthOpen, AuthSeq: 1}},
		{name: "authentication 2", h: mg(Auth, staMAC, apMAC, apMAC, 5), m: Mgmt{AuthAlgorithm: AuthOpen, AuthSeq: 2, Status: StatusSuccess}},
		{name: "association request", h: mg(AssocReq, apMAC, staMAC, apMAC, 6), m: Mgmt{Capability: CapESS | CapPrivacy, ListenInterval: 10, IEs: testIEs(t, "netyard", false)}},
		{name: "association response", h: mg(AssocResp, staMAC, apMAC, apMAC, 7), m: Mgmt{Capability: CapESS | CapPrivacy, AID: 0xc000 | 17, IEs: rates}},
		{name: "reassociation request", h: mg(ReassocReq, ap2MAC, staMAC, ap2MAC, 8), m: Mgmt{Capability: CapESS | CapPrivacy, ListenInterval: 10, CurrentAP: apMAC, IEs: testIEs(t, "netyard", false)}},
		{name: "reassociation response", h: mg(ReassocResp, staMAC, ap2MAC, ap2MAC, 9), m: Mgmt{Capability: CapESS | CapPrivacy, AID: 0xc000 | 3, IEs: rates}},
		{name: "disassociation", h: mg(Disassoc, apMAC, staMAC, apMAC, 10), m: Mgmt{Reason: ReasonDisassocLeave}},
		{name: "deauthentication", h: mg(Deauth, apMAC, staMAC, apMAC, 11), m: Mgmt{Reason: ReasonDeauthLeaving}},
		{name: "deauthentication, broadcast", h: mg(Deauth, Broadcast, apMAC, apMAC, 4095), m: Mgmt{Reason: ReasonClass3NotAssoc}},
		// Block Ack DELBA: action 2, parameters (TID 1, initiator), reason 37.
		{name: "action (DELBA)", h: mg(Action, apMAC, staMAC, apMAC, 12), m: Mgmt{Category: 3, IEs: []byte{2, 0x00, 0x18, 37, 0}}},
		{name: "qos data to the AP", h: Header{Kind: QoSData, Flags: ToDS, Duration: ACKDuration(108), Addr1: apMAC, Addr2: staMAC, Addr3: ap2MAC, Seq: 13, QoS: 6}, body: data},
		{name: "qos data from the AP, fragment 1", h: Header{Kind: QoSData, Flags: FromDS | MoreFrag, Duration: 44, Addr1: staMAC, Addr2: apMAC, Addr3: ap2MAC, Seq: 14, Frag: 1, QoS: 0}, body: data},
		{name: "qos data, +HTC", h: Header{Kind: QoSData, Flags: ToDS | Order, Duration: 44, Addr1: apMAC, Addr2: staMAC, Addr3: ap2MAC, Seq: 15, QoS: 5, HTC: 0x00000002}, body: data},
		{name: "qos data, four addresses", h: Header{Kind: QoSData, Flags: ToDS | FromDS, Duration: 44, Addr1: apMAC, Addr2: ap2MAC, Addr3: staMAC, Addr4: staMAC, Seq: 16, QoS: 1}, body: data},
		{name: "data", h: Header{Kind: Data, Flags: ToDS | Retry, Duration: 44, Addr1: apMAC, Addr2: staMAC, Addr3: ap2MAC, Seq: 17}, body: data},
		{name: "null, power management", h: Header{Kind: Null, Flags: ToDS | PwrMgt, Duration: 44, Addr1: apMAC, Addr2: staMAC, Addr3: apMAC, Seq: 18}},
		{name: "qos null", h: Header{Kind: QoSNull, Flags: ToDS, Duration: 44, Addr1: apMAC, Addr2: staMAC, Addr3: apMAC, Seq: 19, QoS: 7}},
		{name: "ack", h: Header{Kind: ACK, Addr1: staMAC}},
		{name: "rts", h: Header{Kind: RTS, Duration: 300, Addr1: apMAC, Addr2: staMAC}},
	}
}

// appendUDP appends an IPv4/UDP packet with n bytes of payload.
func appendUDP(t testing.TB, b []byte, n int) []byte {
	src, dst := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.1")
	ip := wire.IPv4Header{TotalLen: uint16(28 + n), TTL: 64, Proto: wire.ProtoUDP, Src: src, Dst: dst}
	b, err := ip.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	at := len(b)
	b = (&wire.UDPHeader{SrcPort: 5000, DstPort: 5001, Length: uint16(8 + n)}).Append(b)
	b = append(b, make([]byte, n)...)
	if err := wire.PutTransportChecksum(wire.ProtoUDP, src, dst, b[at:]); err != nil {
		t.Fatal(err)
	}
	return b
}

// build appends s's frame with its FCS.
func (s *sample) build(b []byte) []byte {
	start := len(b)
	b = AppendHeader(b, &s.h)
	if s.h.Kind.Type() == TypeMgmt {
		b = AppendMgmt(b, s.h.Kind, &s.m)
	} else {
		b = append(b, s.body...)
	}
	return AppendFCS(b, start)
}

// TestRoundTrip parses every sample back to what built it, with the
// header's length as HeaderLen gives it.
func TestRoundTrip(t *testing.T) {
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			frame := s.build(nil)
			if !CheckFCS(frame) {
				t.Fatal("FCS does not check")
			}
			var f Frame
			if err := Parse(frame, true, &f); err != nil {
				t.Fatal(err)
			}
			if f.Header != s.h {
				t.Errorf("header %+v, built %+v", f.Header, s.h)
			}
			if f.HeaderLen != s.h.Len() || len(AppendHeader(nil, &s.h)) != f.HeaderLen {
				t.Errorf("header length %d, Len %d", f.HeaderLen, s.h.Len())
			}
			if s.h.Kind.Type() == TypeMgmt {
				want := s.m
				if len(want.IEs) == 0 {
					want.IEs = f.Mgmt.IEs[:0]
				}
				if f.Mgmt.Timestamp != want.Timestamp || f.Mgmt.Reason != want.Reason || f.Mgmt.AID != want.AID ||
					f.Mgmt.CurrentAP != want.CurrentAP || f.Mgmt.AuthSeq != want.AuthSeq || !bytes.Equal(f.Mgmt.IEs, want.IEs) {
					t.Errorf("management fields %+v, built %+v", f.Mgmt, want)
				}
			} else if !bytes.Equal(f.Body, s.body) {
				t.Errorf("body % x, built % x", f.Body, s.body)
			}
		})
	}
}

// TestGopacketDecodes: gopacket's Dot11 layers, an implementation we did
// not write, decode every sample with the same fields and a good FCS.
func TestGopacketDecodes(t *testing.T) {
	for _, s := range samples(t) {
		t.Run(s.name, func(t *testing.T) {
			frame := s.build(nil)
			d := dot11test.Gopacket(t, frame)
			if uint8(d.Type) != uint8(s.h.Kind.Type())|s.h.Kind.Subtype()<<2 {
				t.Errorf("gopacket type %v (%#x), built %v", d.Type, uint8(d.Type), s.h.Kind)
			}
			if uint8(d.Flags) != uint8(s.h.Flags) || d.DurationID != s.h.Duration || !bytes.Equal(d.Address1, s.h.Addr1[:]) {
				t.Errorf("gopacket flags %v duration %d addr1 %v", d.Flags, d.DurationID, d.Address1)
			}
			if s.h.Kind.Type() != TypeCtrl {
				if !bytes.Equal(d.Address2, s.h.Addr2[:]) || !bytes.Equal(d.Address3, s.h.Addr3[:]) ||
					d.SequenceNumber != s.h.Seq || d.FragmentNumber != uint16(s.h.Frag) {
					t.Errorf("gopacket addr2 %v addr3 %v seq %d frag %d", d.Address2, d.Address3, d.SequenceNumber, d.FragmentNumber)
				}
			}
			if s.h.Kind.QoS() && (d.QOS == nil || d.QOS.TID != uint8(s.h.QoS&0xf)) {
				t.Errorf("gopacket QoS %+v, built %#x", d.QOS, s.h.QoS)
			}
			if s.h.Kind == Beacon {
				p := gopacketIEs(frame)
				if p["ssid"] != "netyard" || p["ds"] != "6" {
					t.Errorf("gopacket elements %v", p)
				}
			}
		})
	}
}

// gopacketIEs returns the SSID and channel gopacket finds in a beacon.
func gopacketIEs(frame []byte) map[string]string {
	out := map[string]string{}
	d := dot11test.Gopacket(&testing.T{}, frame)
	b := d.Payload[FixedLen(Beacon):]
	for len(b) >= 2 {
		var ie layers.Dot11InformationElement
		if ie.DecodeFromBytes(b, nil) != nil {
			break
		}
		switch ie.ID {
		case layers.Dot11InformationElementIDSSID:
			out["ssid"] = string(ie.Info)
		case layers.Dot11InformationElementIDDSSet:
			out["ds"] = strconv.Itoa(int(ie.Info[0]))
		}
		b = b[2+int(ie.Length):]
	}
	return out
}

// TestTshark: tshark dissects every sample without a malformed packet or
// an expert warning, agrees on type and subtype, sequence number and
// SSID, and finds the FCS good; and the same frames without their FCS,
// as link type 105 usually carries them.
func TestTshark(t *testing.T) {
	ss := samples(t)
	var with, without [][]byte
	for _, s := range ss {
		f := s.build(nil)
		with, without = append(with, f), append(without, f[:len(f)-FCSLen])
	}
	for _, fcs := range []bool{true, false} {
		frames := without
		if fcs {
			frames = with
		}
		got := dot11test.Tshark(t, frames, fcs, "wlan.seq", "wlan.ssid", "wlan.ds.current_channel", "wlan.fixed.reason_code")
		for i, d := range got {
			s := ss[i]
			if d.TypeSubtype != int(s.h.Kind) {
				t.Errorf("%s: tshark type_subtype %#x, built %v (%#x)", s.name, d.TypeSubtype, s.h.Kind, uint8(s.h.Kind))
			}
			if s.h.Kind.Type() != TypeCtrl && d.Fields[0] != strconv.Itoa(int(s.h.Seq)) {
				t.Errorf("%s: tshark seq %q, built %d", s.name, d.Fields[0], s.h.Seq)
			}
			if s.h.Kind == Beacon && (d.Fields[1] != hex.EncodeToString([]byte("netyard")) || d.Fields[2] != "6") {
				t.Errorf("%s: tshark ssid %q channel %q", s.name, d.Fields[1], d.Fields[2])
			}
			if (s.h.Kind == Deauth || s.h.Kind == Disassoc) && parseUint(d.Fields[3]) != uint64(s.m.Reason) {
				t.Errorf("%s: tshark reason %q, built %d", s.name, d.Fields[3], s.m.Reason)
			}
		}
	}
}

// TestBadFrames: short, lying and unsupported frames give a typed error
// and no panic.
func TestBadFrames(t *testing.T) {
	beacon := samples(t)[0].build(nil)
	beacon = beacon[:len(beacon)-FCSLen]
	lying := append([]byte(nil), beacon...)
	lying[MgmtLen+12+1] = 200 // the SSID's length runs past the body
	ext := append([]byte(nil), beacon...)
	ext[0] = 3 << 2
	ver := append([]byte(nil), beacon...)
	ver[0] |= 1
	cases := []struct {
		name  string
		frame []byte
		fcs   bool
		kind  error
	}{
		{"empty", nil, false, wire.ErrTruncated},
		{"9 bytes", beacon[:9], false, wire.ErrTruncated},
		{"management header cut", beacon[:20], false, wire.ErrTruncated},
		{"beacon without its fixed fields", beacon[:MgmtLen+5], false, wire.ErrTruncated},
		{"element past the body", lying, false, wire.ErrTruncated},
		{"extension type", ext, false, wire.ErrBadHeader},
		{"version 1", ver, false, wire.ErrBadHeader},
		{"FCS only", []byte{1, 2, 3}, true, wire.ErrTruncated},
		{"bad DS parameter length", append(AppendHeader(nil, &Header{Kind: ProbeReq}), IEDSParams, 2, 1, 1), false, wire.ErrBadHeader},
		{"bad RSN", append(AppendHeader(nil, &Header{Kind: ProbeReq}), IERSN, 1, 1), false, wire.ErrBadHeader},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var f Frame
			if err := Parse(c.frame, c.fcs, &f); !errors.Is(err, c.kind) {
				t.Errorf("Parse: %v, want %v", err, c.kind)
			}
		})
	}
}

// TestNoAllocs: building and parsing a beacon into a reused buffer
// allocates nothing.
func TestNoAllocs(t *testing.T) {
	s := samples(t)[0]
	buf := make([]byte, 0, 512)
	var f Frame
	n := testing.AllocsPerRun(1000, func() {
		buf = s.build(buf[:0])
		if Parse(buf, true, &f) != nil {
			t.Fatal("parse")
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per frame", n)
	}
}

// FuzzParse: Parse never panics, and what it accepts rebuilds byte for
// byte: the header from its fields, a management body from its fixed
// fields and elements.
func FuzzParse(f *testing.F) {
	for _, s := range samples(f) {
		f.Add(s.build(nil), true)
	}
	f.Add([]byte{0x80, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, frame []byte, fcs bool) {
		var fr Frame
		if err := Parse(frame, fcs, &fr); err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				t.Fatalf("error %v is not a *wire.Error", err)
			}
			return
		}
		if fcs {
			frame = frame[:len(frame)-FCSLen]
		}
		if h := AppendHeader(nil, &fr.Header); !bytes.Equal(h, frame[:fr.HeaderLen]) {
			t.Fatalf("header rebuilt % x, was % x", h, frame[:fr.HeaderLen])
		}
		if fr.Kind.Type() == TypeMgmt {
			if b := AppendMgmt(nil, fr.Kind, &fr.Mgmt); !bytes.Equal(b, fr.Body) {
				t.Fatalf("body rebuilt % x, was % x", b, fr.Body)
			}
		}
	})
}

func parseUint(s string) uint64 {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 1 << 63
	}
	return v
}
