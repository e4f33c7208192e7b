package cls

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"testing"

	"netyard/wire"
)

// randomFlower makes a valid flower spec for a random protocol, with every
// kind of key, in the canonical form a rebuilt spec has: values inside
// their masks, no all-zero mask, prefixes masked.
func randomFlower(r *rand.Rand) (*Flower, uint16) {
	fl := &Flower{}
	pick := func() bool { return r.IntN(2) == 0 }
	nz8 := func() uint8 { return uint8(1 + r.IntN(255)) }
	if pick() {
		fl.Indev = "lo"
	}
	mac := func() *MACMask {
		m := &MACMask{}
		for i := range m.Mask {
			m.Mask[i] = byte(r.IntN(256))
		}
		m.Mask[r.IntN(6)] |= 1
		for i := range m.Addr {
			m.Addr[i] = byte(r.IntN(256)) & m.Mask[i]
		}
		return m
	}
	if pick() {
		fl.DstMAC = mac()
	}
	if pick() {
		fl.SrcMAC = mac()
	}
	l3 := []uint16{wire.EtherTypeIPv4, wire.EtherTypeIPv6, wire.EtherTypeARP}[r.IntN(3)]
	proto := l3
	if r.IntN(3) == 0 {
		proto = []uint16{wire.EtherTypeVLAN, wire.EtherTypeQinQ}[r.IntN(2)]
		if pick() {
			fl.VlanID = ptrTo(uint16(r.IntN(4096)))
		}
		if pick() {
			fl.VlanPrio = ptrTo(uint8(r.IntN(8)))
		}
		if pick() {
			inner := []uint16{wire.EtherTypeVLAN, wire.EtherTypeQinQ}[r.IntN(2)]
			fl.VlanEthType = &inner
			if pick() {
				fl.CVlanID = ptrTo(uint16(r.IntN(4096)))
			}
			if pick() {
				fl.CVlanPrio = ptrTo(uint8(r.IntN(8)))
			}
			fl.CVlanEthType = &l3
		} else {
			fl.VlanEthType = &l3
		}
	}
	if l3 == wire.EtherTypeARP {
		return fl, proto
	}
	if pick() {
		m := nz8()
		fl.TOS = &Masked[uint8]{Value: uint8(r.IntN(256)) & m, Mask: m}
	}
	if pick() {
		m := nz8()
		fl.TTL = &Masked[uint8]{Value: uint8(r.IntN(256)) & m, Mask: m}
	}
	if pick() {
		m := uint32(1 + r.IntN(3))
		fl.IPFlags = &Masked[uint32]{Value: uint32(r.IntN(4)) & m, Mask: m}
	}
	addr := func() *netip.Prefix {
		var p netip.Prefix
		if l3 == wire.EtherTypeIPv4 {
			var a [4]byte
			for i := range a {
				a[i] = byte(r.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom4(a), 1+r.IntN(32)).Masked()
		} else {
			var a [16]byte
			for i := range a {
				a[i] = byte(r.IntN(256))
			}
			p = netip.PrefixFrom(netip.AddrFrom16(a), 1+r.IntN(128)).Masked()
		}
		return &p
	}
	if pick() {
		fl.SrcIP = addr()
	}
	if pick() {
		fl.DstIP = addr()
	}
	if !pick() {
		return fl, proto
	}
	icmp := uint8(wire.ProtoICMP)
	if l3 == wire.EtherTypeIPv6 {
		icmp = wire.ProtoICMPv6
	}
	p := []uint8{wire.ProtoTCP, wire.ProtoUDP, wire.ProtoSCTP, icmp, 47}[r.IntN(5)]
	fl.IPProto = &p
	port := func() *PortRange {
		lo := uint16(r.IntN(65536))
		if pick() {
			return &PortRange{Min: lo, Max: lo}
		}
		return &PortRange{Min: lo, Max: lo + uint16(r.IntN(int(65536-uint32(lo))))}
	}
	switch p {
	case wire.ProtoTCP, wire.ProtoUDP, wire.ProtoSCTP:
		if pick() {
			fl.SrcPort = port()
		}
		if pick() {
			fl.DstPort = port()
		}
		if p == wire.ProtoTCP && pick() {
			m := uint16(1 + r.IntN(0xffff))
			fl.TCPFlags = &Masked[uint16]{Value: uint16(r.IntN(0x10000)) & m, Mask: m}
		}
	case icmp:
		if pick() {
			fl.ICMPType = ptrTo(uint8(r.IntN(256)))
		}
		if pick() {
			fl.ICMPCode = ptrTo(uint8(r.IntN(256)))
		}
	}
	return fl, proto
}

func ptrTo[T any](v T) *T { return &v }

// TestFlowerRebuilt: the spec a listing rebuilds from a compiled flower
// (Classifier.flower; filters keep no spec) is the spec it was compiled
// from, for canonical specs with every kind of key, and compiles to the
// same classifier.
func TestFlowerRebuilt(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	env := &testEnv{}
	for i := range 20000 {
		fl, proto := randomFlower(r)
		c, err := NewFlower(fl, proto, env)
		if err != nil {
			t.Fatalf("%d: %+v under %#04x: %v", i, fl, proto, err)
		}
		var got Flower
		var v flowerValues
		c.flower(&got, &v, fl.Indev)
		if !reflect.DeepEqual(&got, fl) {
			t.Fatalf("%d: protocol %#04x: rebuilt\n%s\nwant\n%s", i, proto, flowerString(&got), flowerString(fl))
		}
		again, err := NewFlower(&got, proto, env)
		if err != nil || !c.sameKeys(again) {
			t.Fatalf("%d: the rebuilt spec compiles to %+v, %v; want %+v", i, again, err, c)
		}
	}
}

// TestFlowerRebuiltZeroMasks: keys given with an all-zero mask match
// everything and are not rebuilt, as the kernel's fl_dump_key leaves them
// out; the classifier is the same without them.
func TestFlowerRebuiltZeroMasks(t *testing.T) {
	zero := &Flower{TOS: &Masked[uint8]{Value: 0, Mask: 0}, DstIP: prefix4("0.0.0.0/0"), DstMAC: &MACMask{}}
	c, err := NewFlower(zero, wire.EtherTypeIPv4, &testEnv{})
	if err != nil {
		t.Fatal(err)
	}
	var got Flower
	var v flowerValues
	c.flower(&got, &v, "")
	if !reflect.DeepEqual(got, Flower{}) {
		t.Errorf("rebuilt %s, want no keys", flowerString(&got))
	}
}

func prefix4(s string) *netip.Prefix { p := netip.MustParsePrefix(s); return &p }

func flowerString(f *Flower) string {
	s := ""
	v := reflect.ValueOf(f).Elem()
	for i := range v.NumField() {
		x := v.Field(i)
		if x.Kind() == reflect.Pointer {
			if x.IsNil() {
				continue
			}
			x = x.Elem()
		} else if x.IsZero() {
			continue
		}
		s += " " + v.Type().Field(i).Name + "=" + fmtValue(x)
	}
	return s
}

func fmtValue(v reflect.Value) string { return fmt.Sprintf("%+v", v.Interface()) }

// BenchmarkFlowerRebuild is what a dump adds per flower filter to rebuild
// its options (Classifier.flower) instead of reading a kept spec.
func BenchmarkFlowerRebuild(b *testing.B) {
	c, err := NewFlower(&Flower{DstIP: prefix4("10.1.2.3/32")}, wire.EtherTypeIPv4, &testEnv{})
	if err != nil {
		b.Fatal(err)
	}
	var fl Flower
	var v flowerValues
	b.ReportAllocs()
	for b.Loop() {
		c.flower(&fl, &v, "")
	}
}
