package lab

import (
	"testing"
)

// TestRedirectScenario checks what the redirect scenario reports against
// what its rules must do.
func TestRedirectScenario(t *testing.T) {
	r, err := runRedirect(nil)
	if err != nil {
		t.Fatal(err)
	}
	flows := r.Data["flows"].([]FlowResult)
	byName := map[string]FlowResult{}
	for _, f := range flows {
		byName[f.Name] = f
	}
	for _, name := range []string{"voice h1->h2 :5001", "bulk h1->h2 :5002", "request/response h1<->h2 :7"} {
		f := byName[name]
		if f.Sent == 0 || f.LossPct != 0 {
			t.Errorf("%s: sent %d, loss %.2f%%; want traffic and no loss", name, f.Sent, f.LossPct)
		}
	}
	// Two cable delays one way, four for a round trip; netyard itself
	// takes no virtual time without a link rate.
	if f := byName["voice h1->h2 :5001"]; f.DelayP99us != 100 {
		t.Errorf("voice p99 %.0fµs, want 100", f.DelayP99us)
	}
	if f := byName["request/response h1<->h2 :7"]; f.DelayP50us != 200 || f.Replies != f.Sent {
		t.Errorf("rtt p50 %.0fµs with %d of %d replies, want 200µs and all", f.DelayP50us, f.Replies, f.Sent)
	}
	if f := byName["discard h1->h2 :9"]; f.Received != 0 || f.Sent == 0 {
		t.Errorf("discard flow: %d of %d delivered, want none", f.Received, f.Sent)
	}
	rr := byName["request/response h1<->h2 :7"]
	if got := r.Data["monitor_received"].(int); got != rr.Sent {
		t.Errorf("monitor got %d copies, want %d", got, rr.Sent)
	}
	if live := r.Data["pool_live"].(int64); live != 0 {
		t.Errorf("%d packet buffers still live after the run", live)
	}
}

func TestVLAN0Scenario(t *testing.T) {
	r, err := runVLAN0(nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Data["consistent"] != true {
		t.Fatalf("vlan0 not consistent across configurations: %+v", r.Data["outcomes"])
	}
	for _, o := range r.Data["outcomes"].([]vlan0Outcome) {
		if o.Out == "dropped" {
			t.Errorf("%s (%s): dropped", o.Case, o.Config)
		}
	}
}

func TestLookup(t *testing.T) {
	if _, err := Lookup("redirect"); err != nil {
		t.Error(err)
	}
	if _, err := Lookup("nope"); err == nil {
		t.Error("unknown scenario: no error")
	}
}

// TestLoopsScenario: tenant A's loops end by the TTL and are counted;
// tenant B keeps at least 95% of its rate (the victim_ratio).
func TestLoopsScenario(t *testing.T) {
	r, err := runLoops(nil)
	if err != nil {
		t.Fatal(err)
	}
	ratio := r.Data["victim_ratio"].(float64)
	if ratio < 0.95 {
		t.Errorf("victim_ratio %.3f, want >= 0.95", ratio)
	}
	with := r.Data["with"].(loopsRun)
	without := r.Data["without"].(loopsRun)
	if with.ALoopDrops == 0 || with.AInjected == 0 {
		t.Errorf("A injected %d packets and lost %d to the TTL: want both > 0", with.AInjected, with.ALoopDrops)
	}
	if without.ALoopDrops != 0 || without.B.LossPct != 0 {
		t.Errorf("without A's loops: %+v", without)
	}
}
