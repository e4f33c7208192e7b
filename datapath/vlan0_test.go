package datapath

import (
	"bytes"
	"fmt"
	"testing"

	"netyard/act"
	"netyard/cls"
	"netyard/wire"
)

// TestVLAN0Table tests every row of docs/VLAN.md's table: where a frame
// goes, what is transmitted, and the packet's priority.
func TestVLAN0Table(t *testing.T) {
	u16 := func(v uint16) *uint16 { return &v }
	// base forwards by what the frame is after the rule: IPv4 to ipout,
	// 802.1ad to sout, 802.1Q to cout.
	base := func(r *rig) {
		r.filter(cls.Filter{Dev: "eth0", Prio: 10, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Matchall{}, Actions: []act.Spec{redirect("ipout")}})
		r.filter(cls.Filter{Dev: "eth0", Prio: 20, Protocol: wire.EtherTypeQinQ, Classifier: &cls.Matchall{}, Actions: []act.Spec{redirect("sout")}})
		r.filter(cls.Filter{Dev: "eth0", Prio: 30, Protocol: wire.EtherTypeVLAN, Classifier: &cls.Matchall{}, Actions: []act.Spec{redirect("cout")}})
	}
	vid0Rules := func(r *rig) {
		base(r)
		drop := func() []act.Spec { return []act.Spec{&act.Gact{C: act.Common{Control: act.Shot}}} }
		r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: wire.EtherTypeVLAN, Classifier: &cls.Flower{VlanID: u16(0)}, Actions: drop()})
		r.filter(cls.Filter{Dev: "eth0", Prio: 2, Protocol: wire.EtherTypeQinQ, Classifier: &cls.Flower{VlanID: u16(0)}, Actions: drop()})
	}
	type row struct {
		n        int
		name     string
		in       []wire.Tag
		rules    func(*rig)
		out      string
		sentTags []wire.Tag
		priority uint32
	}
	rows := []row{
		{1, "untagged", nil, base, "ipout", nil, 0},
		{2, "802.1Q VID 0", []wire.Tag{ctag(5, 0)}, base, "ipout", nil, 5},
		{3, "802.1ad VID 0", []wire.Tag{stag(3, 0)}, base, "ipout", nil, 3},
		{4, "S-tag over priority tag", []wire.Tag{stag(1, 100), ctag(6, 0)}, base, "sout", []wire.Tag{stag(1, 100)}, 6},
		{5, "priority tag over VLAN", []wire.Tag{ctag(4, 0), ctag(0, 10)}, base, "cout", []wire.Tag{ctag(0, 10)}, 4},
		{6, "two priority tags", []wire.Tag{ctag(2, 0), ctag(7, 0)}, base, "ipout", nil, 2},
		{7, "VLAN 10", []wire.Tag{ctag(0, 10)}, base, "cout", []wire.Tag{ctag(0, 10)}, 0},
	}
	// Row 8: rows 2-6 again with filters for vlan_id 0 installed.
	for _, r := range rows[1:6] {
		rows = append(rows, row{8, r.name + " with vlan_id 0 filters", r.in, vid0Rules, r.out, r.sentTags, r.priority})
	}
	rows = append(rows,
		row{9, "pushed priority tag, then ingress redirect", nil, func(r *rig) {
			r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Matchall{}, Actions: []act.Spec{
				&act.Vlan{Op: act.VlanPush, ID: 0, Priority: 5, HasPriority: true, C: act.Common{Control: act.Pipe}},
				&act.Mirred{Dev: "eth9", Ingress: true, C: act.Common{Control: act.Stolen}},
			}})
			r.filter(cls.Filter{Dev: "eth9", Prio: 1, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Matchall{}, Actions: []act.Spec{redirect("ipout")}})
		}, "ipout", nil, 5},
		row{10, "vlan pop exposes a priority tag", []wire.Tag{ctag(0, 100), ctag(0, 200), ctag(5, 0)}, func(r *rig) {
			r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: wire.EtherTypeVLAN, Classifier: &cls.Flower{VlanID: u16(100)}, Actions: []act.Spec{
				&act.Vlan{Op: act.VlanPop, C: act.Common{Control: act.Pipe}},
				redirect("cout"),
			}})
		}, "cout", []wire.Tag{ctag(0, 200)}, 5},
		row{11, "explicit push of a priority tag at egress", nil, func(r *rig) {
			r.filter(cls.Filter{Dev: "eth0", Prio: 1, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Matchall{}, Actions: []act.Spec{redirect("pushout")}})
			r.filter(cls.Filter{Dev: "pushout", Parent: ParentEgress, Prio: 1, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Matchall{}, Actions: []act.Spec{
				&act.Vlan{Op: act.VlanPush, ID: 0, Priority: 3, HasPriority: true, C: act.Common{Control: act.Pipe}},
			}})
		}, "pushout", []wire.Tag{ctag(3, 0)}, 0},
	)
	for _, tt := range rows {
		t.Run(fmt.Sprintf("%d/%s", tt.n, tt.name), func(t *testing.T) {
			r := newRig(t, "eth0", "eth9", "ipout", "sout", "cout", "pushout")
			tt.rules(r)
			r.inject("eth0", udpFrame(t, tt.in...))
			if len(r.order) != 1 || r.order[0] != tt.out {
				t.Fatalf("transmitted on %v, want exactly once on %s", r.order, tt.out)
			}
			got := r.sent[tt.out][0]
			want := udpFrame(t, tt.sentTags...)
			if !bytes.Equal(got.frame, want) {
				t.Errorf("transmitted\n % x\nwant\n % x", got.frame, want)
			}
			if got.priority != tt.priority {
				t.Errorf("priority %d, want %d", got.priority, tt.priority)
			}
		})
	}
}
