package tcsyntax

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// linkFake is fakeTarget with links: a rate per device, as the datapath's
// Namespace holds it (bytes a second, 0 for none).
type linkFake struct {
	*fakeTarget
	rates map[string]uint64
}

func (l *linkFake) SetLinkRate(dev string, r uint64) error { l.rates[dev] = r; return nil }
func (l *linkFake) SetTxQueues(string, int) error          { return nil }
func (l *linkFake) SetXPS(string, int, []uint16) error     { return nil }
func (l *linkFake) Links(dev string) ([]LinkView, error) {
	var out []LinkView
	for _, d := range []string{"eth0", "eth1"} {
		if dev == "" || dev == d {
			out = append(out, LinkView{Dev: d, Rate: l.rates[d], TxQueues: 1, MTU: 1500})
		}
	}
	return out, nil
}

func runLink(t *testing.T, l *linkFake, args string) (string, string, error) {
	t.Helper()
	var out, errs bytes.Buffer
	err := Run(l, strings.Fields(args), &out, &errs)
	return out.String(), errs.String(), err
}

// TestLinkRateTooSmall: a rate of 1..7 bits a second is 0 bytes a second,
// which is "none": it must be refused, not become line speed (issue 15,
// item 1). 8bit is the smallest rate a device holds.
func TestLinkRateTooSmall(t *testing.T) {
	for _, tc := range []struct {
		rate string
		want uint64 // bytes a second; 0 with ok false: refused
		ok   bool
	}{
		{"1bit", 0, false},
		{"7bit", 0, false},
		{"0.5", 0, false},
		{"0.9bps", 0, false},
		{"8bit", 1, true},
		{"1bps", 1, true},
		{"0", 0, true},
		{"10mbit", 1250000, true},
	} {
		l := &linkFake{fakeTarget: newFake(), rates: map[string]uint64{"eth1": 99}}
		_, stderr, err := runLink(t, l, "link set dev eth1 rate "+tc.rate)
		if !tc.ok {
			if err == nil {
				t.Errorf("rate %s: accepted as %d bytes/s", tc.rate, l.rates["eth1"])
			} else if !strings.Contains(stderr, "below 8bit") {
				t.Errorf("rate %s: %q does not say why", tc.rate, stderr)
			}
			if l.rates["eth1"] != 99 {
				t.Errorf("rate %s: refused but the rate changed to %d", tc.rate, l.rates["eth1"])
			}
			continue
		}
		if err != nil {
			t.Errorf("rate %s: %v %s", tc.rate, err, stderr)
		} else if l.rates["eth1"] != tc.want {
			t.Errorf("rate %s: %d bytes/s, want %d", tc.rate, l.rates["eth1"], tc.want)
		}
	}
}

// TestLinkShowJSONRate: -j link show gives rate one JSON type, a number
// (bytes a second as tc's JSON gives rates, 0 for none), for a limited and
// an unlimited device alike (issue 15, item 9); the text still says
// "unlimited".
func TestLinkShowJSONRate(t *testing.T) {
	l := &linkFake{fakeTarget: newFake(), rates: map[string]uint64{"eth1": 1250000}}
	out, stderr, err := runLink(t, l, "-j link show")
	if err != nil {
		t.Fatalf("%v %s", err, stderr)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(got) != 2 {
		t.Fatalf("%d links: %s", len(got), out)
	}
	want := map[string]float64{"eth0": 0, "eth1": 1250000}
	for _, o := range got {
		r, ok := o["rate"].(float64)
		if !ok {
			t.Errorf("%v: rate %#v is not a number: %s", o["dev"], o["rate"], out)
			continue
		}
		if w := want[o["dev"].(string)]; r != w {
			t.Errorf("%v: rate %v, want %v", o["dev"], r, w)
		}
	}
	text, _, err := runLink(t, l, "link show")
	if err != nil {
		t.Fatal(err)
	}
	if wantText := "dev eth0 rate unlimited txqueues 1 mtu 1500\ndev eth1 rate 10Mbit txqueues 1 mtu 1500\n"; text != wantText {
		t.Errorf("text:\n%s\nwant:\n%s", text, wantText)
	}
}
