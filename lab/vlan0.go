package lab

import (
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"netyard/wire"
)

func init() {
	register(Scenario{
		Name:        "vlan0",
		Description: "priority-tagged frames (VID 0) are handled as untagged, with or without VLAN rules",
		Run:         runVLAN0,
	})
}

// vlan0Rules forwards by what a frame is after the VLAN 0 rule: plain IPv4
// to eth1, S-VLAN 100 to eth2, C-VLAN 10 to eth3.
const vlan0Rules = `
qdisc add dev eth0 clsact
filter add dev eth0 ingress protocol ip pref 10 flower ip_proto udp action mirred egress redirect dev eth1
filter add dev eth0 ingress protocol 802.1ad pref 20 flower vlan_id 100 action mirred egress redirect dev eth2
filter add dev eth0 ingress protocol 802.1Q pref 30 flower vlan_id 10 action mirred egress redirect dev eth3
`

// vlan0Extra is "VLAN 0 configured": a rule for VID 0 itself, which in the
// kernel could change what happens to priority-tagged frames. In netyard
// it never matches: no frame carries VID 0 past receive.
const vlan0Extra = `
filter add dev eth0 ingress protocol 802.1Q pref 5 flower vlan_id 0 action drop
filter add dev eth0 ingress protocol 802.1ad pref 6 flower vlan_id 0 action drop
`

type vlan0Case struct {
	name string
	tags []wire.Tag
}

func tag(tpid uint16, pcp uint8, vid uint16) wire.Tag {
	return wire.Tag{TPID: tpid, TCI: uint16(pcp)<<13 | vid}
}

var vlan0Cases = []vlan0Case{
	{"untagged", nil},
	{"802.1Q VID 0 PCP 5", []wire.Tag{tag(wire.EtherTypeVLAN, 5, 0)}},
	{"802.1ad VID 0 PCP 3", []wire.Tag{tag(wire.EtherTypeQinQ, 3, 0)}},
	{"802.1ad VID 100 / 802.1Q VID 0 PCP 6", []wire.Tag{tag(wire.EtherTypeQinQ, 0, 100), tag(wire.EtherTypeVLAN, 6, 0)}},
	{"802.1Q VID 10", []wire.Tag{tag(wire.EtherTypeVLAN, 0, 10)}},
	{"802.1Q VID 0 PCP 4 / 802.1Q VID 10", []wire.Tag{tag(wire.EtherTypeVLAN, 4, 0), tag(wire.EtherTypeVLAN, 0, 10)}},
}

// vlan0Outcome is what happened to one frame.
type vlan0Outcome struct {
	Case     string `json:"case"`
	Config   string `json:"config"`
	Out      string `json:"out"`      // host that got it, or "dropped"
	SentAs   string `json:"sent_as"`  // its tags as transmitted
	Priority uint32 `json:"priority"` // the packet's priority on arrival
}

func runVLAN0(log *slog.Logger) (*Report, error) {
	configs := []struct{ name, rules string }{
		{"plain", vlan0Rules},
		{"with VID 0 rules", vlan0Rules + vlan0Extra},
	}
	var all []vlan0Outcome
	byCase := map[string][]vlan0Outcome{}
	for _, c := range configs {
		outs, err := vlan0Run(log, c.name, c.rules)
		if err != nil {
			return nil, err
		}
		for _, o := range outs {
			byCase[o.Case] = append(byCase[o.Case], o)
		}
		all = append(all, outs...)
	}
	t := Table{Title: "where each frame went (plain config | with VID 0 rules)",
		Header: []string{"frame from h1", "out", "transmitted as", "priority", "same in both"}}
	same := 0
	for _, vc := range vlan0Cases {
		o := byCase[vc.name]
		eq := len(o) == 2 && o[0].Out == o[1].Out && o[0].SentAs == o[1].SentAs && o[0].Priority == o[1].Priority
		if eq {
			same++
		}
		t.Rows = append(t.Rows, []string{vc.name, o[0].Out + " | " + o[1].Out, o[0].SentAs + " | " + o[1].SentAs,
			fmt.Sprintf("%d | %d", o[0].Priority, o[1].Priority), yesNo(eq)})
	}
	return &Report{
		Scenario: "vlan0",
		Summary:  fmt.Sprintf("%d of %d frame kinds handled the same with and without VID 0 rules", same, len(vlan0Cases)),
		Tables:   []Table{t},
		Data:     map[string]any{"outcomes": all, "consistent": same == len(vlan0Cases)},
	}, nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func vlan0Run(log *slog.Logger, config, rules string) ([]vlan0Outcome, error) {
	s := NewSim(log)
	defer s.Close()
	h1, err := s.AttachHost("h1", "198.51.100.1", "eth0", cableDelay)
	if err != nil {
		return nil, err
	}
	outs := []*Host{}
	for i, n := range []string{"ip", "svlan100", "cvlan10"} {
		h, err := s.AttachHost(n, fmt.Sprintf("198.51.100.%d", 10+i), fmt.Sprintf("eth%d", i+1), cableDelay)
		if err != nil {
			return nil, err
		}
		outs = append(outs, h)
	}
	if err := s.Apply(rules); err != nil {
		return nil, err
	}
	var res []vlan0Outcome
	buf := make([]byte, 0, 256)
	for _, vc := range vlan0Cases {
		before := make([]int, len(outs))
		for i, h := range outs {
			before[i] = h.Received
		}
		spec := wire.FrameSpec{Dst: outs[0].MAC, Src: h1.MAC, Tags: vc.tags,
			SrcIP: h1.IP, DstIP: netip.MustParseAddr("198.51.100.10"), Proto: wire.ProtoUDP,
			SrcPort: 1000, DstPort: 2000, Payload: []byte("vlan0"), MinLen: wire.MinFrameLen}
		frame, err := wire.AppendFrame(buf[:0], &spec)
		if err != nil {
			return nil, err
		}
		if err := h1.SendFrame(frame); err != nil {
			return nil, err
		}
		s.RunUntil(s.Now() + int64(time.Millisecond))
		o := vlan0Outcome{Case: vc.name, Config: config, Out: "dropped"}
		for i, h := range outs {
			if h.Received > before[i] {
				a := h.Frames[len(h.Frames)-1]
				o.Out, o.Priority, o.SentAs = h.Name, a.Priority, describeTags(a.Frame)
			}
		}
		res = append(res, o)
	}
	return res, s.Err()
}

// describeTags writes a frame's VLAN tags the way the tables show them.
func describeTags(frame []byte) string {
	var h wire.Headers
	_ = wire.Parse(frame, &h)
	if h.NumTags == 0 {
		return "untagged"
	}
	var parts []string
	for _, t := range h.Tags[:h.NumTags] {
		kind := "802.1Q"
		if t.TPID == wire.EtherTypeQinQ {
			kind = "802.1ad"
		}
		parts = append(parts, fmt.Sprintf("%s VID %d PCP %d", kind, t.VID(), t.PCP()))
	}
	return strings.Join(parts, " / ")
}
