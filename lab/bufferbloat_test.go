package lab

import (
	"testing"
)

// TestBufferbloatScenario checks the targets on one run of both
// qdiscs: with fq_codel the VoIP flow's p99 one-way delay is at most
// 15 ms while the bulk flows keep >= 90% of the link; with pfifo the same
// p99 is at least 10 times higher. It also checks how each qdisc gets
// there: pfifo by dropping from a full queue, fq_codel by marking ECN
// (every mark reaching a receiver) without dropping, and with the link
// shared fairly.
func TestBufferbloatScenario(t *testing.T) {
	r, err := runBufferbloat(nil)
	if err != nil {
		t.Fatal(err)
	}
	pf := r.Data["pfifo"].(*bufferbloatRun)
	fq := r.Data["fq_codel"].(*bufferbloatRun)
	p99 := r.Data["voip_p99_ms"].(map[string]float64)
	util := r.Data["bulk_utilization"].(map[string]float64)
	ratio := r.Data["p99_ratio"].(float64)
	t.Logf("VoIP p50/p99: pfifo %.1f/%.1f ms, fq_codel %.1f/%.1f ms (x%.0f); utilization pfifo %.1f%%, fq_codel %.1f%%",
		pf.VoIPP50ms, pf.VoIPP99ms, fq.VoIPP50ms, fq.VoIPP99ms, ratio, 100*util["pfifo"], 100*util["fq_codel"])

	if p99["fq_codel"] > bbTargetFQP99ms || p99["fq_codel"] <= 0 {
		t.Errorf("fq_codel VoIP p99 %.1f ms, want (0, %.0f] ms", p99["fq_codel"], bbTargetFQP99ms)
	}
	if util["fq_codel"] < bbTargetUtilization {
		t.Errorf("fq_codel bulk utilization %.3f, want >= %.2f", util["fq_codel"], bbTargetUtilization)
	}
	if ratio < bbTargetRatio || ratio != p99["pfifo"]/p99["fq_codel"] {
		t.Errorf("p99 ratio %.1f (pfifo %.1f ms), want >= %.0f", ratio, p99["pfifo"], bbTargetRatio)
	}
	if r.Data["targets_met"] != true {
		t.Errorf("targets_met %v with the figures above", r.Data["targets_met"])
	}
	// The one-way delay cannot be below the two 5 ms cables.
	if fq.VoIPP50ms < 10 || pf.VoIPP50ms < 10 {
		t.Errorf("VoIP p50 %.1f / %.1f ms: below the 10 ms of cable", pf.VoIPP50ms, fq.VoIPP50ms)
	}
	// Goodput cannot exceed what 1514-byte frames carry of a 10 Mbit/s link.
	for _, run := range []*bufferbloatRun{pf, fq} {
		if run.BulkUtilization > 1448.0/1514 {
			t.Errorf("%s: utilization %.3f above the payload's share of the link", run.Qdisc, run.BulkUtilization)
		}
		if run.PoolLive != 0 {
			t.Errorf("%s: %d packet buffers live after the run", run.Qdisc, run.PoolLive)
		}
	}
	if pf.Drops == 0 || pf.ECNMarks != 0 {
		t.Errorf("pfifo: %d drops, %d marks: want drops and no marks", pf.Drops, pf.ECNMarks)
	}
	if fq.Drops != 0 || fq.ECNMarks == 0 || fq.ECNMarks != fq.CEReceived || fq.Retransmits != 0 {
		t.Errorf("fq_codel: %d drops, %d marks, %d CE at the receivers, %d retransmits: want marks only, all received",
			fq.Drops, fq.ECNMarks, fq.CEReceived, fq.Retransmits)
	}
	if fq.JainFairness < 0.99 || fq.VoIPLossPct != 0 {
		t.Errorf("fq_codel: fairness %.3f, VoIP loss %.2f%%: want >= 0.99 and none", fq.JainFairness, fq.VoIPLossPct)
	}
	if len(Plots(r)) == 0 {
		t.Error("no plots for the report")
	}
}
