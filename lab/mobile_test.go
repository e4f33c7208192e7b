package lab

import (
	"math"
	"reflect"
	"testing"
)

// TestMobileScenario checks the mobile scenario's voice flow against the
// definition of the netem it crosses: the Gilbert model's loss rate
// p/(p+r) within three standard errors of a two-state chain's loss rate
// (its correlation makes the error larger than a Bernoulli rate's), its
// mean burst 1/r within three standard errors, and the one-way delay's
// median and 90th percentile where the paretonormal table puts them (the
// share of delays at or below each within three standard errors and the
// table's resolution). A second run must report the same.
func TestMobileScenario(t *testing.T) {
	r, err := runMobile(nil)
	if err != nil {
		t.Fatal(err)
	}
	v := r.Data["voice"].(mobileResult)
	n := float64(mobileTime.Seconds() * mobileVoice)
	p, q := mobileP, mobileR
	loss := p / (p + q)
	lambda := 1 - p - q
	// Var of the loss indicator plus twice its autocovariances,
	// π_G π_B λ^k for a chain that loses every packet in the bad state.
	variance := loss*(1-loss) + 2*loss*(1-loss)*lambda/(1-lambda)
	if tol := 3 * math.Sqrt(variance/n); math.Abs(v.LossPct-v.WantLossPct) > 100*tol {
		t.Errorf("loss %.3f%%, definition %.3f%% ± %.3f%%", v.LossPct, v.WantLossPct, 100*tol)
	}
	sdBurst := math.Sqrt(1-q) / q
	if tol := 3 * sdBurst / math.Sqrt(float64(v.Bursts)); math.Abs(v.MeanBurst-v.WantMeanBurst) > tol {
		t.Errorf("mean burst %.3f, definition %.3f ± %.3f", v.MeanBurst, v.WantMeanBurst, tol)
	}
	got := n * (1 - v.LossPct/100)
	for _, c := range []struct {
		q, share float64
	}{{0.5, v.Share50}, {0.9, v.Share90}} {
		if tol := 3*math.Sqrt(c.q*(1-c.q)/got) + 2.0/4096; math.Abs(c.share-c.q) > tol {
			t.Errorf("%.0f%% of delays at or below the definition's p%.0f, want %.0f%% ± %.2f%%", 100*c.share, 100*c.q, 100*c.q, 100*tol)
		}
	}
	if v.Reordered == 0 {
		t.Error("no reordering with a jitter above the packets' spacing")
	}
	if len(Plots(r)) != 2 {
		t.Errorf("%d plots, want 2", len(Plots(r)))
	}
	again, err := runMobile(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Data["voice"], r.Data["voice"]) || !reflect.DeepEqual(again.Data["flows"], r.Data["flows"]) {
		t.Errorf("a second run differs: %+v, then %+v", r.Data["voice"], again.Data["voice"])
	}
	t.Logf("%s", r.Summary)
}
