package lab

import (
	"fmt"
	"reflect"
	"testing"

	"netyard/wifi/dot11"
)

// TestAirtimeScenario is the proof: wifi_monitor at the 802.11
// hook flags the deauthentication flood within 1 s of virtual time of
// its first frame (the model's ground truth), with an event naming the
// attacked BSSID, and never without a flood. Also: the program's probe
// counts per MAC are what the model sent, for every MAC; the frames it
// keeps are exactly the deauthentications and disassociations; the
// report has its two plots; a second run reports the same.
func TestAirtimeScenario(t *testing.T) {
	rep, err := runAirtime(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rep.Data["run"].(*airtimeRun)
	checkFlagged(t, r)
	checkCounts(t, r)
	if len(Plots(rep)) != 2 {
		t.Errorf("%d plots, want 2", len(Plots(rep)))
	}
	if r.Cost.Frames == 0 || r.Cost.HookNs <= 0 || r.Cost.MonitorNs <= 0 {
		t.Errorf("costs not measured: %+v", r.Cost)
	}
	again, err := airtimeOnce(nil, airtimeSeed, true, false)
	if err != nil {
		t.Fatal(err)
	}
	again.Cost = r.Cost // wall-clock figures differ from run to run
	if !reflect.DeepEqual(again, r) {
		t.Errorf("a second run differs:\n%+v\n%+v", r, again)
	}
	t.Log(rep.Summary)
}

// TestAirtimeSeeds: other seeds with the attacker are flagged within 1 s
// too; runs without it, never.
func TestAirtimeSeeds(t *testing.T) {
	for _, c := range []struct {
		seed   uint64
		attack bool
	}{{1, false}, {2, false}, {3, false}, {7, true}, {8, true}} {
		t.Run(fmt.Sprintf("seed %d attack %v", c.seed, c.attack), func(t *testing.T) {
			t.Parallel()
			r, err := airtimeOnce(nil, c.seed, c.attack, false)
			if err != nil {
				t.Fatal(err)
			}
			checkCounts(t, r)
			if !c.attack {
				if r.ByKind[dot11.Deauth.String()]+r.ByKind[dot11.Disassoc.String()] == 0 {
					t.Error("no station said goodbye: nothing to tell a flood from")
				}
				if r.Events != 0 || r.FlaggedS >= 0 || r.FloodStartS >= 0 {
					t.Errorf("no attacker, yet %d events, the first at %.3f s: %+v", r.Events, r.FlaggedS, r.FirstEvents)
				}
				return
			}
			checkFlagged(t, r)
		})
	}
}

func checkFlagged(t *testing.T, r *airtimeRun) {
	t.Helper()
	if r.FloodStartS < 0 {
		t.Fatal("the attacker sent nothing")
	}
	if r.FlaggedS < r.FloodStartS || r.FlaggedS > r.FloodStartS+1 {
		t.Errorf("flood began at %.3f s, flagged at %.3f s: want within 1 s after", r.FloodStartS, r.FlaggedS)
	}
	for _, e := range r.FirstEvents {
		if e.BSSID != airtimeAPs[0].BSSID.String() || e.TimeS < r.FloodStartS || e.Count <= e.Threshold {
			t.Errorf("event %+v: not the attacked BSSID's, before the flood or under the threshold", e)
		}
	}
	// One event a window at most while the flood lasts.
	if max := int(airtimeFloodLen.Seconds()) + 2; r.Events > max {
		t.Errorf("%d events for a flood of %v", r.Events, airtimeFloodLen)
	}
}

func checkCounts(t *testing.T, r *airtimeRun) {
	t.Helper()
	if len(r.probes) == 0 || len(r.probeCounts) != len(r.probes) {
		t.Errorf("wifi_probes has %d MACs, the model sent probes from %d", len(r.probeCounts), len(r.probes))
	}
	for m, n := range r.probes {
		if got := r.probeCounts[m]; got != uint64(n) {
			t.Errorf("%v: wifi_probes counts %d, the model sent %d", m, got, n)
		}
	}
	if want := r.ByKind[dot11.Deauth.String()] + r.ByKind[dot11.Disassoc.String()]; r.Delivered != want {
		t.Errorf("%d frames delivered, want the %d deauthentications and disassociations", r.Delivered, want)
	}
}
