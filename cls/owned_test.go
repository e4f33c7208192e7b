package cls

import (
	"net/netip"
	"testing"
	"unsafe"

	"netyard/act"
	"netyard/wire"
)

// TestAddOwnedSpec: a filter whose caller hands its flower spec over
// (Filter.Owned, as tcsyntax.Exec does) is stored and listed like a copied
// one; its strings are copied out of the caller's buffer, and the stored
// spec says Owned false. Without Owned, changing the spec after Add
// changes nothing stored.
func TestAddOwnedSpec(t *testing.T) {
	line := "eth0 " + "veth7" // a batch chunk: the parsed strings are slices of it
	for _, owned := range []bool{false, true} {
		c := newTestChains()
		pfx := netip.MustParsePrefix("10.0.0.1/32")
		fl := &Flower{DstIP: &pfx, Indev: ""}
		f := &Filter{Dev: line[:4], Prio: 1, Handle: 7, Protocol: wire.EtherTypeIPv4, Classifier: fl,
			Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}, Owned: owned}
		if err := c.Add(f, act.ModeAdd); err != nil {
			t.Fatalf("owned=%v: %v", owned, err)
		}
		vs := c.List(nil)
		if len(vs) != 1 {
			t.Fatalf("owned=%v: %d filters listed, want 1", owned, len(vs))
		}
		v := vs[0].Spec
		if v.Owned {
			t.Errorf("owned=%v: the stored spec says Owned", owned)
		}
		if v.Dev != "eth0" || unsafe.StringData(v.Dev) == unsafe.StringData(line) {
			t.Errorf("owned=%v: stored dev %q shares the caller's buffer: %v", owned, v.Dev, unsafe.StringData(v.Dev) == unsafe.StringData(line))
		}
		got, ok := v.Classifier.(*Flower)
		if !ok || got.DstIP == nil || *got.DstIP != pfx {
			t.Fatalf("owned=%v: listed classifier %#v, want dst_ip %v", owned, v.Classifier, pfx)
		}
		if !owned {
			*fl.DstIP = netip.MustParsePrefix("10.9.9.9/32")
			if again := c.List(nil)[0].Spec.Classifier.(*Flower); *again.DstIP != netip.MustParsePrefix("10.0.0.1/32") {
				t.Errorf("a copied spec changed with the caller's: dst_ip %v", *again.DstIP)
			}
		}
	}
}

// TestOwnedIndevCopied: an owned flower's indev is copied out of the
// caller's buffer (a batch chunk a stored filter must not keep alive).
func TestOwnedIndevCopied(t *testing.T) {
	buf := "xx veth7 yy"
	fl := &Flower{Indev: buf[3:8]}
	got := ownClassifierSpec(fl).(*Flower)
	if got.Indev != "veth7" || unsafe.StringData(got.Indev) == unsafe.StringData(buf[3:8]) {
		t.Errorf("indev %q still points into the caller's buffer", got.Indev)
	}
}
