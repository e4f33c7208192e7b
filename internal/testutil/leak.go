// Package testutil holds helpers shared by netyard's tests: leak checks for
// packet buffers, and (in netns_linux.go) network namespaces.
package testutil

import (
	"strings"
	"testing"

	"netyard/pkt"
)

// Pool returns a leak-checking pool and fails the test at cleanup if any
// buffer from it is still live, listing where each leaked buffer was taken.
func Pool(tb testing.TB, cfg pkt.PoolConfig) *pkt.Pool {
	tb.Helper()
	cfg.LeakCheck = true
	p := pkt.NewPool(cfg)
	tb.Cleanup(func() { CheckLeaks(tb, p) })
	return p
}

// CheckLeaks fails tb if p has live buffers.
func CheckLeaks(tb testing.TB, p *pkt.Pool) {
	tb.Helper()
	if leaks := p.Leaks(); len(leaks) > 0 {
		if len(leaks) > 5 {
			leaks = append(leaks[:5], "...")
		}
		tb.Errorf("%d packet buffer(s) leaked:\n%s", p.Stats().Live, strings.Join(leaks, "\n"))
	}
}
