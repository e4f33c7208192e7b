package lab

import "testing"

// TestWifiScenario: voice gets through while best effort saturates the
// medium, by the device model's flow control (access categories), and not
// without it. The figure: VO p99 <= 10 ms.
func TestWifiScenario(t *testing.T) {
	r, err := runWifi(nil)
	if err != nil {
		t.Fatal(err)
	}
	with, without := r.Data["vo_p99_ms"].(float64), r.Data["vo_p99_ms_noac"].(float64)
	if with > 10 {
		t.Errorf("voice p99 %.2f ms with AC separation, want <= 10 ms", with)
	}
	if without < 5*with {
		t.Errorf("voice p99 without AC separation %.2f ms is not clearly worse than with (%.2f ms)", without, with)
	}
	ac := r.Data["ac"].(wifiRun)
	if ac.Voice.LossPct != 0 || ac.BEMbps < 20 {
		t.Errorf("with AC separation: voice loss %.2f%%, best effort %.1f Mbit/s: want no loss and a saturated link", ac.Voice.LossPct, ac.BEMbps)
	}
}
