package act_test

import (
	"sync"
	"testing"

	"netyard/act"
)

// TestConcurrentReplace: workers run shared actions while the control
// plane replaces their parameters; run with -race. Every packet is counted
// once, and every verdict is one of the two configurations'.
func TestConcurrentReplace(t *testing.T) {
	pool := leakPool(t)
	e := newEnv()
	tab := act.NewTable(e)
	pol, err := tab.Add(&act.Police{C: act.Common{Index: 1, Control: act.OK}, Rate: 1e6, Burst: 1500, Exceed: act.Shot}, act.ModeAdd)
	if err != nil {
		t.Fatal(err)
	}
	g, err := tab.Add(&act.Gact{C: act.Common{Index: 1, Control: act.Pipe}}, act.ModeAdd)
	if err != nil {
		t.Fatal(err)
	}
	list := []act.Action{g, pol}
	frame := build(t, udp4())
	const workers, perWorker = 2, 500
	var wg sync.WaitGroup
	for w := range workers {
		p := packet(t, pool, frame)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer p.Release()
			c := &act.Ctx{Worker: w}
			for i := range perWorker {
				c.Now = int64(i) * 1000
				switch v := act.Exec(c, p, list); v {
				case act.OK, act.Shot, act.Pipe, act.Trap:
				default:
					t.Errorf("verdict %v", v)
					return
				}
			}
		}()
	}
	for i := range 50 {
		ctl := act.Pipe
		if i%2 == 1 {
			ctl = act.OK
		}
		if _, err := tab.Add(&act.Gact{C: act.Common{Index: 1, Control: ctl}}, act.ModeReplace); err != nil {
			t.Error(err)
		}
		if _, err := tab.Add(&act.Police{C: act.Common{Index: 1, Control: act.Trap}, Rate: 1e6, Burst: 1500, Exceed: act.Shot}, act.ModeReplace); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
	if n := g.Stats().Read().Packets; n != workers*perWorker {
		t.Errorf("gact counted %d packets, want %d", n, workers*perWorker)
	}
}
