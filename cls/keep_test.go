package cls

import (
	"net/netip"
	"testing"
	"unsafe"

	"netyard/act"
	"netyard/wire"
)

// TestAddKeepsNothingOfTheSpec: Add keeps no part of the *Filter it is
// given (tcsyntax's batch parser reuses one for every line): the listing
// is the same after the caller overwrote its spec, and no string of it
// points into the caller's buffer (a batch chunk, which a million kept
// filters would keep alive).
func TestAddKeepsNothingOfTheSpec(t *testing.T) {
	line := "eth0 " + "lo" // a batch chunk: the parsed strings are slices of it
	c := newTestChains()
	pfx := netip.MustParsePrefix("10.0.0.1/32")
	fl := &Flower{DstIP: &pfx, Indev: line[5:]}
	f := &Filter{Dev: line[:4], Prio: 1, Handle: 7, Protocol: wire.EtherTypeIPv4, Classifier: fl,
		Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}}}
	if err := c.Add(f, act.ModeAdd); err != nil {
		t.Fatal(err)
	}
	*fl.DstIP = netip.MustParsePrefix("10.9.9.9/32")
	fl.Indev, f.Dev = "xx", "yyyy"
	vs := c.List(nil)
	if len(vs) != 1 {
		t.Fatalf("%d filters listed, want 1", len(vs))
	}
	v := vs[0].Spec
	if v.Dev != "eth0" || unsafe.StringData(v.Dev) == unsafe.StringData(line) {
		t.Errorf("listed dev %q shares the caller's buffer: %v", v.Dev, unsafe.StringData(v.Dev) == unsafe.StringData(line))
	}
	got, ok := v.Classifier.(*Flower)
	if want := netip.MustParsePrefix("10.0.0.1/32"); !ok || got.DstIP == nil || *got.DstIP != want {
		t.Fatalf("listed classifier %#v, want dst_ip %v", v.Classifier, want)
	}
	if got.Indev != "lo" || unsafe.StringData(got.Indev) == unsafe.StringData(line[5:]) {
		t.Errorf("listed indev %q shares the caller's buffer", got.Indev)
	}
}
