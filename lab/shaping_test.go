package lab

import (
	"math"
	"reflect"
	"testing"
	"time"
)

// TestShapingScenario checks the shaping scenario's steady states against
// htb's definition: each class's throughput (from htb's counters and at
// the receiver) within 1% of what shapingWant gives (assured rate, then
// the spare by prio and quantum up to ceil and demand); the packets sent
// on the class's own rate (lended) and on borrowed tokens add up to what
// it sent, the first at the assured rate and the second the rest; the
// root lends exactly what the leaves borrow; bulk alone stops at its
// ceil; with interactive, the borrowed bytes split as the quanta htb
// reports (rate/r2q); voice, prio 0 under its rate, never borrows, loses
// nothing and waits at most for two frames on the 12 Mbit/s link. A
// second run reports the same.
func TestShapingScenario(t *testing.T) {
	r, err := runShaping(nil)
	if err != nil {
		t.Fatal(err)
	}
	figs := r.Data["figures"].([]shapingFigure)
	quanta := r.Data["quanta"].(map[string]uint32)
	within := func(what string, got, want, rel float64) {
		t.Helper()
		if math.Abs(got-want) > rel*want+1e-9 {
			t.Errorf("%s: %.4f, want %.4f ± %.1f%%", what, got, want, 100*rel)
		}
	}
	byPhase := map[[2]int]shapingFigure{}
	for _, f := range figs {
		ci := -1
		for i, c := range shapingClasses {
			if c.Name == f.Class {
				ci = i
			}
		}
		byPhase[[2]int{f.Phase, ci}] = f
		c := shapingClasses[ci]
		name := f.Class + " phase " + string(rune('0'+f.Phase))
		if f.DemandMbps == 0 {
			if f.HtbMbps != 0 {
				t.Errorf("%s: sent %.3f Mbit/s without traffic", name, f.HtbMbps)
			}
			continue
		}
		within(name+" sent (htb)", f.HtbMbps, f.WantMbps, 0.01)
		within(name+" received", f.RecvMbps, f.WantMbps, 0.01)
		within(name+" lended+borrowed", f.LendedMbps+f.BorrowMbps, f.HtbMbps, 0.01)
		within(name+" lended (own rate)", f.LendedMbps, min(f.DemandMbps, c.Rate/1e6), 0.01)
		if want := f.WantMbps - c.Rate/1e6; want > 0 {
			within(name+" borrowed", f.BorrowMbps, want, 0.02)
		} else if f.BorrowMbps != 0 {
			t.Errorf("%s: borrowed %.3f Mbit/s within its rate", name, f.BorrowMbps)
		}
	}
	for p := 1; p <= len(shapingDemand); p++ {
		var borrowed float64
		for i, c := range shapingClasses {
			borrowed += byPhase[[2]int{p, i}].BorrowMbps * 1e6 * (shapingPhase - shapingSettle).Seconds() / 8 / float64(c.Frame)
		}
		if lends := float64(byPhase[[2]int{p, 0}].RootLends); math.Abs(lends-borrowed) > 0.5 {
			t.Errorf("phase %d: root lent %.0f packets, leaves borrowed %.0f", p, lends, borrowed)
		}
	}
	bulk1 := byPhase[[2]int{1, 2}]
	within("bulk alone at its ceil", bulk1.HtbMbps, shapingClasses[2].Ceil/1e6, 0.01)
	i2, b2 := byPhase[[2]int{2, 1}], byPhase[[2]int{2, 2}]
	within("phase 2 borrowed interactive:bulk", i2.BorrowMbps/b2.BorrowMbps, float64(quanta["1:20"])/float64(quanta["1:30"]), 0.02)
	if i3, b3 := byPhase[[2]int{3, 1}], byPhase[[2]int{3, 2}]; i3.HtbMbps >= i2.HtbMbps || b3.HtbMbps <= b2.HtbMbps {
		t.Errorf("interactive's lower demand did not move the share: %.3f->%.3f, bulk %.3f->%.3f", i2.HtbMbps, i3.HtbMbps, b2.HtbMbps, b3.HtbMbps)
	}
	frame := float64(shapingClasses[2].Frame*8) / 12e6 * 1e3 // ms on the link
	for p := 1; p <= len(shapingDemand); p++ {
		v := byPhase[[2]int{p, 0}]
		if max := 2*float64(cableDelay)/1e6 + 2*frame; v.P99ms > max || v.DelaySample == 0 {
			t.Errorf("phase %d: voice p99 %.3f ms over %d packets, want <= %.3f ms", p, v.P99ms, v.DelaySample, max)
		}
	}
	for _, f := range r.Data["flows"].([]FlowResult) {
		if f.Name == "voice 0.08 Mbit/s" && (f.LossPct != 0 || f.Sent != int(3*shapingPhase/time.Second)*50) {
			t.Errorf("voice: sent %d, lost %.2f%%", f.Sent, f.LossPct)
		}
	}
	if len(Plots(r)) != 2 {
		t.Errorf("%d plots, want 2", len(Plots(r)))
	}
	again, err := runShaping(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Data["figures"], r.Data["figures"]) || !reflect.DeepEqual(again.Data["flows"], r.Data["flows"]) {
		t.Errorf("a second run differs")
	}
	t.Logf("%s", r.Summary)
}
