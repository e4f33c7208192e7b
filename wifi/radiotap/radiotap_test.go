package radiotap

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// hdr builds a radiotap header by hand: present words, then the field
// bytes as given (the caller lays out alignment), with it_len set.
func hdr(present []uint32, body ...byte) []byte {
	b := []byte{0, 0, 0, 0}
	for _, p := range present {
		b = binary.LittleEndian.AppendUint32(b, p)
	}
	b = append(b, body...)
	binary.LittleEndian.PutUint16(b[2:], uint16(len(b)))
	return b
}

// TestParseCases: hand-built headers, each with what Parse must make of
// it (the layouts are radiotap.org's; alignment is from the header's
// start).
func TestParseCases(t *testing.T) {
	full := hdr([]uint32{1<<TSFT | 1<<FlagsBit | 1<<RateBit | 1<<Channel | 1<<AntSignal | 1<<AntNoise | 1<<AntennaBit},
		1, 2, 3, 4, 5, 6, 7, 8, // TSFT at 8
		0x10,                   // flags: FCS
		12,                     // rate: 6 Mbit/s
		0x6c, 0x09, 0xc0, 0x00, // channel 2412, 2GHz|OFDM
		0xc4, // -60 dBm
		0xa1, // -95 dBm
		1)
	ext := hdr([]uint32{1<<AntSignal | 1<<Ext | 1<<NSNext, 1 << AntSignal},
		0xc4, 0xba) // two signals: the first namespace's is kept, the second's too (last wins)
	vendor := hdr([]uint32{1<<Channel | 1<<Ext | 1<<VendorNext, 1<<0 | 1<<NSNext | 1<<Ext, 1 << AntSignal},
		0x85, 0x16, 0x80, 0x00, // channel 5765, 5GHz at 16
		0x00, 0x11, 0x22, 0x01, 3, 0, // vendor ns header at 20: OUI, sub ns, skip 3
		0xaa, 0xbb, 0xcc, // vendor data
		0xb0) // signal -80 at 29
	tests := []struct {
		name    string
		b       []byte
		wantErr error // nil, ErrMalformed or ErrUnknownField
		check   func(t *testing.T, f *Fields)
	}{
		{"full", full, nil, func(t *testing.T, f *Fields) {
			if f.TSFT != 0x0807060504030201 || f.Flags != FlagFCS || f.Rate != 12 || f.Freq != 2412 ||
				f.ChanFlags != 0xc0 || f.Signal != -60 || f.Noise != -95 || f.Antenna != 1 {
				t.Errorf("fields %+v", *f)
			}
			if f.Band() != Band2GHz || f.RateKbps() != 6000 {
				t.Errorf("band %d rate %d", f.Band(), f.RateKbps())
			}
		}},
		{"extended bitmap, radiotap namespace again", ext, nil, func(t *testing.T, f *Fields) {
			if f.Signal != -70 {
				t.Errorf("signal %d, want the second namespace's -70", f.Signal)
			}
		}},
		{"vendor namespace skipped", vendor, nil, func(t *testing.T, f *Fields) {
			if f.Freq != 5765 || f.Signal != -80 || f.Band() != Band5GHz {
				t.Errorf("fields %+v", *f)
			}
		}},
		{"short", []byte{0, 0, 8, 0}, ErrMalformed, nil},
		{"version 1", append([]byte{1}, full[1:]...), ErrMalformed, nil},
		{"length beyond the record", full[:len(full)-1], ErrMalformed, nil},
		{"length below 8", []byte{0, 0, 4, 0, 0, 0, 0, 0}, ErrMalformed, nil},
		{"field past the length", hdr([]uint32{1 << TSFT}, 1, 2, 3), ErrMalformed, nil},
		{"present words past the length", hdr([]uint32{1 << Ext}), ErrMalformed, nil},
		{"vendor data past the length", hdr([]uint32{1<<Ext | 1<<VendorNext, 0}, 0, 0, 0, 0, 9, 0), ErrMalformed, nil},
		{"unknown bit after known ones", hdr([]uint32{1<<AntSignal | 1<<TLV}, 0xc4, 0, 0, 0, 0), ErrUnknownField, func(t *testing.T, f *Fields) {
			if !f.Has(AntSignal) || f.Signal != -60 {
				t.Errorf("the field before the unknown one is lost: %+v", *f)
			}
		}},
		{"radiotap field 32", hdr([]uint32{1 << Ext, 1}, 0), ErrUnknownField, nil},
		{"known fields stepped over", hdr([]uint32{1<<FHSS | 1<<LockQual | 1<<AntSignal}, 1, 2, 0xc4, 0, 3, 4), nil, func(t *testing.T, f *Fields) {
			if f.Signal != -60 || f.Present != 1<<AntSignal {
				t.Errorf("fields %+v", *f)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var f Fields
			b := tc.b
			if tc.wantErr != ErrMalformed {
				b = append(b, 0x80, 0, 0, 0) // a frame after it
			}
			n, err := Parse(b, &f)
			switch {
			case tc.wantErr == nil && err != nil, tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil || tc.wantErr == ErrUnknownField {
				if n != len(tc.b) {
					t.Errorf("length %d, want %d", n, len(tc.b))
				}
			} else if n != 0 {
				t.Errorf("length %d with an error", n)
			}
			if tc.check != nil {
				tc.check(t, &f)
			}
		})
	}
}

func randFields(r *rand.Rand) Fields {
	f := Fields{Present: r.Uint32() & Kept}
	if f.Has(TSFT) {
		f.TSFT = r.Uint64()
	}
	if f.Has(FlagsBit) {
		f.Flags = uint8(r.Uint32()) &^ FlagDataPad // gopacket strips a data pad
	}
	if f.Has(RateBit) {
		f.Rate = uint8(r.Uint32())
	}
	if f.Has(Channel) {
		f.Freq, f.ChanFlags = uint16(r.Uint32()), uint16(r.Uint32())
	}
	if f.Has(AntSignal) {
		f.Signal = int8(r.Uint32())
	}
	if f.Has(AntNoise) {
		f.Noise = int8(r.Uint32())
	}
	if f.Has(AntennaBit) {
		f.Antenna = uint8(r.Uint32())
	}
	if f.Has(MCS) {
		f.MCSKnown, f.MCSFlags, f.MCSIndex = uint8(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32())
	}
	if f.Has(VHT) {
		f.VHTKnown, f.VHTFlags, f.VHTBandwidth = uint16(r.Uint32()), uint8(r.Uint32()), uint8(r.Uint32())
		for i := range f.VHTMCSNSS {
			f.VHTMCSNSS[i] = uint8(r.Uint32())
		}
		f.VHTCoding, f.VHTGroupID, f.VHTPartialAID = uint8(r.Uint32()), uint8(r.Uint32()), uint16(r.Uint32())
	}
	return f
}

// TestAgainstGopacket: what Put writes, gopacket's RadioTap decoder (not
// netyard's) reads back field for field, and what gopacket's encoder
// writes, Parse reads back.
func TestAgainstGopacket(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		f := randFields(r)
		b := Append(nil, &f)
		frame := append(b, 0x40, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 0, 0)
		pk := gopacket.NewPacket(frame, layers.LayerTypeRadioTap, gopacket.NoCopy)
		rt, _ := pk.Layer(layers.LayerTypeRadioTap).(*layers.RadioTap)
		if rt == nil {
			t.Fatalf("case %d: gopacket cannot read %x: %v", i, b, pk.ErrorLayer())
		}
		if int(rt.Length) != len(b) || uint32(rt.Present[0]) != f.Present {
			t.Fatalf("case %d: gopacket length %d present %#x, want %d %#x", i, rt.Length, rt.Present[0], len(b), f.Present)
		}
		v := rt.RadioTapValues[0]
		got := Fields{Present: uint32(rt.Present[0]), TSFT: v.TSFT, Flags: uint8(v.Flags), Rate: uint8(v.Rate),
			Freq: uint16(v.ChannelFrequency), ChanFlags: uint16(v.ChannelFlags), Signal: v.DBMAntennaSignal,
			Noise: v.DBMAntennaNoise, Antenna: v.Antenna, MCSKnown: uint8(v.MCS.Known), MCSFlags: uint8(v.MCS.Flags), MCSIndex: v.MCS.MCS,
			VHTKnown: uint16(v.VHT.Known), VHTFlags: uint8(v.VHT.Flags), VHTBandwidth: v.VHT.Bandwidth,
			VHTCoding: v.VHT.Coding, VHTGroupID: v.VHT.GroupId, VHTPartialAID: v.VHT.PartialAID}
		for k := range got.VHTMCSNSS {
			got.VHTMCSNSS[k] = uint8(v.VHT.MCSNSS[k])
		}
		if got != f {
			t.Fatalf("case %d: gopacket reads\n%+v\nwant\n%+v", i, got, f)
		}
		// And back: gopacket's encoding of the same layer.
		sb := gopacket.NewSerializeBuffer()
		if err := rt.SerializeTo(sb, gopacket.SerializeOptions{}); err != nil {
			t.Fatal(err)
		}
		var g Fields
		n, err := Parse(sb.Bytes(), &g)
		if err != nil || n != len(sb.Bytes()) || g != f {
			t.Fatalf("case %d: parse of gopacket's %x: %v n=%d\n%+v\nwant\n%+v", i, sb.Bytes(), err, n, g, f)
		}
	}
}

// TestRates: data rates against 802.11's tables (IEEE 802.11-2016
// tables 19-27.. and 21-30..: HT MCS 7 at 20 MHz is 65 Mbit/s, 72.2 with
// the short GI; VHT MCS 9, 80 MHz, 1 stream 390 and 433.3; 2 streams of
// HT MCS 15 at 40 MHz 270).
func TestRates(t *testing.T) {
	tests := []struct {
		name string
		f    Fields
		want uint32
	}{
		{"legacy 54", Fields{Present: 1 << RateBit, Rate: 108}, 54000},
		{"ht mcs7 20", Fields{Present: 1 << MCS, MCSKnown: 0x07, MCSIndex: 7}, 65000},
		{"ht mcs7 20 sgi", Fields{Present: 1 << MCS, MCSKnown: 0x07, MCSFlags: 0x04, MCSIndex: 7}, 72222},
		{"ht mcs15 40", Fields{Present: 1 << MCS, MCSKnown: 0x07, MCSFlags: 1, MCSIndex: 15}, 270000},
		{"vht mcs9 80 1ss", Fields{Present: 1 << VHT, VHTKnown: 0x44, VHTBandwidth: 4, VHTMCSNSS: [4]uint8{0x91}}, 390000},
		{"vht mcs9 80 1ss sgi", Fields{Present: 1 << VHT, VHTKnown: 0x44, VHTFlags: 4, VHTBandwidth: 4, VHTMCSNSS: [4]uint8{0x91}}, 433333},
		{"vht no user", Fields{Present: 1 << VHT, VHTKnown: 0x44}, 0},
		{"nothing", Fields{}, 0},
	}
	for _, tc := range tests {
		if got := tc.f.RateKbps(); got != tc.want {
			t.Errorf("%s: %d kbit/s, want %d", tc.name, got, tc.want)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	f := Fields{Present: Kept, Freq: 2412, Signal: -50}
	b := make([]byte, Len(&f))
	var g Fields
	if n := testing.AllocsPerRun(100, func() {
		Put(b, &f)
		_, _ = Parse(b, &g)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

// FuzzParse: no input panics; a header read without error is put back
// into one that reads the same.
func FuzzParse(f *testing.F) {
	f.Add(hdr([]uint32{1<<TSFT | 1<<Channel | 1<<AntSignal}, 1, 2, 3, 4, 5, 6, 7, 8, 0x6c, 0x09, 0xc0, 0, 0xc4))
	f.Add(hdr([]uint32{1<<Channel | 1<<Ext | 1<<VendorNext, 1<<0 | 1<<NSNext | 1<<Ext, 1 << AntSignal},
		0x85, 0x16, 0x80, 0x00, 0, 0x11, 0x22, 1, 3, 0, 0xaa, 0xbb, 0xcc, 0xb0))
	f.Add([]byte{0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var fl Fields
		n, err := Parse(b, &fl)
		if err != nil && !errors.Is(err, ErrUnknownField) {
			if n != 0 {
				t.Fatalf("n=%d with %v", n, err)
			}
			return
		}
		if n < 8 || n > len(b) {
			t.Fatalf("n=%d of %d bytes", n, len(b))
		}
		out := Append(nil, &fl)
		var g Fields
		if m, err := Parse(out, &g); err != nil || m != len(out) || g != fl {
			t.Fatalf("round trip: %v %d\n%+v\n%+v", err, m, g, fl)
		}
	})
}
