package lab

import (
	"fmt"
	"log/slog"
	"time"
)

func init() {
	register(Scenario{
		Name:        "redirect",
		Description: "flower filters redirect and mirror UDP between three hosts; a request/response flow comes back the other way",
		Run:         runRedirect,
	})
}

// The redirect scenario: h1 behind eth0, h2 behind eth1, a monitor behind
// eth2. Voice-like and bulk UDP go from h1 to h2 by mirred egress redirect;
// requests to h2's echo port are mirrored to the monitor as well, and the
// replies come back by a redirect on eth1's ingress. Everything else that
// h1 sends (port 9, "discard") is dropped by a gact filter.
const redirectRules = `
qdisc add dev eth0 clsact
qdisc add dev eth1 clsact
filter add dev eth0 ingress protocol ip pref 10 flower ip_proto udp dst_port 5001-5002 action mirred egress redirect dev eth1
filter add dev eth0 ingress protocol ip pref 20 flower ip_proto udp dst_port 7 action mirred egress mirror dev eth2 action mirred egress redirect dev eth1
filter add dev eth0 ingress protocol ip pref 30 flower ip_proto udp dst_port 9 action drop
filter add dev eth1 ingress protocol ip pref 10 flower ip_proto udp src_port 7 action mirred egress redirect dev eth0
`

// cableDelay is each host's one-way cable delay in the built-in scenarios.
const cableDelay = 50 * time.Microsecond

func runRedirect(log *slog.Logger) (*Report, error) {
	s := NewSim(log)
	defer s.Close()
	h1, err := s.AttachHost("h1", "192.0.2.1", "eth0", cableDelay)
	if err != nil {
		return nil, err
	}
	h2, err := s.AttachHost("h2", "192.0.2.2", "eth1", cableDelay)
	if err != nil {
		return nil, err
	}
	mon, err := s.AttachHost("mon", "192.0.2.3", "eth2", cableDelay)
	if err != nil {
		return nil, err
	}
	if err := s.Apply(redirectRules); err != nil {
		return nil, err
	}
	const dur = 2 * time.Second
	voice := &Flow{Name: "voice h1->h2 :5001", From: h1, To: h2, SrcPort: 40000, DstPort: 5001, Size: 160}
	bulk := &Flow{Name: "bulk h1->h2 :5002", From: h1, To: h2, SrcPort: 40001, DstPort: 5002, Size: 1400}
	rr := &Flow{Name: "request/response h1<->h2 :7", From: h1, To: h2, SrcPort: 40002, DstPort: 7, Size: 64}
	discard := &Flow{Name: "discard h1->h2 :9", From: h1, To: h2, SrcPort: 40003, DstPort: 9, Size: 64}
	for _, g := range []error{
		s.CBR(voice, 50, 0, dur),
		s.CBR(bulk, 20000, 0, dur),
		s.RequestResponse(rr, 10*time.Millisecond, 0, dur),
		s.CBR(discard, 100, 0, dur),
	} {
		if g != nil {
			return nil, g
		}
	}
	s.RunUntil(s.Now() + int64(dur+time.Second))
	if err := s.Err(); err != nil {
		return nil, err
	}
	flows, results := flowTable("flows", []*Flow{voice, bulk, rr, discard})
	acts, actData, err := actionTable(s)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Scenario: "redirect",
		Summary: fmt.Sprintf("%d of %d requests mirrored to the monitor; discard traffic dropped by gact (%d of %d delivered)",
			mon.Received, rr.Sent, discard.Received, discard.Sent),
		Tables: []Table{flows, acts},
		Data: map[string]any{
			"flows":            results,
			"monitor_received": mon.Received,
			"actions":          actData,
			"pool_live":        s.Pool.Stats().Live,
		},
	}
	return r, nil
}
