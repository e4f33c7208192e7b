package tcsyntax

import (
	"testing"

	"netyard/qdisc"
	"netyard/qdisc/fifo"
	"netyard/qdisc/prio"
)

func pmap(bands int, head ...uint8) prio.Params {
	p := prio.Params{Bands: bands, Priomap: prio.DefaultPriomap}
	copy(p.Priomap[:], head)
	return p
}

func init() {
	const add = "qdisc add dev eth0 root "
	addQdiscCases([]qdiscGoodCase{
		{"prio defaults are tc's", add + "handle 1: prio", 0x10000, prio.Defaults()},
		{"prio bands and a full priomap", add + "prio bands 4 priomap 3 3 2 2 1 1 0 0 3 3 3 3 3 3 3 3", 0,
			prio.Params{Bands: 4, Priomap: [16]uint8{3, 3, 2, 2, 1, 1, 0, 0, 3, 3, 3, 3, 3, 3, 3, 3}}},
		// Entries not given keep tc's defaults, not best effort's band.
		{"prio short priomap keeps the defaults", add + "prio bands 5 priomap 4 4", 0, pmap(5, 4, 4)},
		// tc checks each entry against the bands known so far: 3 before
		// "bands"; printing it back must keep the order readable.
		{"prio priomap before bands", add + "prio priomap 0 1 3 bands 8", 0, pmap(8, 0, 1, 3)},
		{"prio one band keeps default entries", add + "prio bands 1 priomap 0", 0, pmap(1, 0)},
		// tc lets band == bands through; prio.New refuses it.
		{"prio entry equal to bands passes", add + "prio bands 2 priomap 2 1 0", 0, pmap(2, 2, 1, 0)},
	}, []struct{ name, line, word, why string }{
		{"prio bad bands", add + "prio bands many", "bands", `"many": illegal "bands": expected a number of bands (2..16)`},
		{"prio bands twice", add + "prio bands 3 bands 4", "bands", "given twice"},
		{"prio number without priomap", add + "prio 1 2", "1", "unknown parameter; expected one of bands, priomap"},
		{"prio priomap twice", add + "prio priomap 0 priomap 1", "priomap", "duplicate priomap"},
		{"prio element out of bands", add + "prio priomap 4", "4", `"priomap" element is out of bands (bands 3)`},
		{"prio element not a number", add + "prio priomap 1 x", "x", `illegal "priomap" element`},
		{"prio element in hex", add + "prio priomap 0x1", "0x1", `illegal "priomap" element`},
		{"prio seventeen entries", add + "prio priomap 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1", "1", `"priomap" index > TC_PRIO_MAX=15`},
		{"prio multiqueue", add + "prio multiqueue", "multiqueue", "not supported"},
		{"prio bands needs a value", add + "prio bands", "bands", "needs a number of bands"},
	})
}

// TestPrioShow follows "tc qdisc add" to "tc qdisc show".
func TestPrioShow(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "qdisc add dev eth0 root handle 1: prio\nqdisc add dev eth1 root prio bands 4 priomap 3 3 2 2 1 1 0 0")
	tests := []struct{ args, want string }{
		{"qdisc show dev eth0", "qdisc prio 1: root refcnt 2 bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1\n"},
		{"-j qdisc show dev eth0", `[{"kind":"prio","handle":"1:","root":true,"refcnt":2,"options":{"bands":3,"priomap":[1,2,2,2,1,2,0,0,1,1,1,1,1,1,1,1]}}]` + "\n"},
		{"qdisc show dev eth1", "qdisc prio 8001: root refcnt 2 bands 4 priomap 3 3 2 2 1 1 0 0 1 1 1 1 1 1 1 1\n"},
	}
	for _, tc := range tests {
		if got := tcOut(t, ft, tc.args); got != tc.want {
			t.Errorf("tc %s:\n got %q\nwant %q", tc.args, got, tc.want)
		}
	}
}

// TestPrioGolden prints a prio and a child in its band, and the bands as
// classes: each with its child's counters and the child as leaf.
func TestPrioGolden(t *testing.T) {
	const h = 0x10000
	qs := []QdiscView{
		{Spec: qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot, Handle: h, Params: pmap(4, 3, 3, 2, 2)},
			Stats: qdisc.Stats{Bytes: 4500, Packets: 3, Drops: 1, Backlog: 1500, Qlen: 1}},
		{Spec: qdisc.Spec{Dev: "eth0", Parent: 0x10002, Handle: 0x200000, Params: fifo.Pfifo{Limit: 50}}},
	}
	golden(t, "qdisc_prio_s.txt", printQdiscs(t, Options{Stats: 1}, qs, Selector{Dev: "eth0"}))
	golden(t, "qdisc_prio_pj.json", printQdiscs(t, Options{JSON: true, Pretty: true}, qs, Selector{Dev: "eth0"}))
	var cs []ClassView
	for i, st := range []qdisc.Stats{{Bytes: 3000, Packets: 2}, {Drops: 1, Backlog: 1500, Qlen: 1}, {Bytes: 1500, Packets: 1}, {}} {
		leaf := uint32(0)
		if i == 1 {
			leaf = 0x200000
		}
		cs = append(cs, PrioClassView("eth0", h, prio.ClassStats{Minor: uint32(i + 1), Stats: st}, leaf))
	}
	golden(t, "class_prio_s.txt", printClasses(t, Options{Stats: 1}, cs, Selector{Dev: "eth0"}))
	golden(t, "class_prio_j.json", printClasses(t, Options{JSON: true}, cs, Selector{Dev: "eth0"}))
}
