package testutil

import (
	"fmt"
	"strings"
	"testing"
)

// recordTB notes how a helper ended a test instead of ending it.
type recordTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordTB) Helper() {}
func (r *recordTB) Skipf(f string, a ...any) {
	r.skipped = fmt.Sprintf(f, a...)
}
func (r *recordTB) Fatalf(f string, a ...any) {
	r.failed = fmt.Sprintf(f, a...)
}

// TestNeedTools: a missing tool skips the test with a message saying
// which and how to get it, but fails it under CI=true (the README's test
// command on a fresh machine: issue 15's proof).
func TestNeedTools(t *testing.T) {
	for _, ci := range []string{"", "true"} {
		t.Setenv("CI", ci)
		r := &recordTB{TB: t}
		NeedTools(r, "sh", "netyard-no-such-tool")
		msg := r.skipped
		if ci == "true" {
			msg = r.failed
			if r.skipped != "" {
				t.Errorf("CI=true: skipped: %s", r.skipped)
			}
		} else if r.failed != "" {
			t.Errorf("outside CI: failed: %s", r.failed)
		}
		if !strings.Contains(msg, "netyard-no-such-tool not installed") || !strings.Contains(msg, ".ci/setup") || strings.Contains(msg, "sh,") {
			t.Errorf("CI=%q: message %q", ci, msg)
		}
	}
	r := &recordTB{TB: t}
	NeedTools(r, "sh")
	if r.skipped != "" || r.failed != "" {
		t.Errorf("all tools there: %+v", r)
	}
}
