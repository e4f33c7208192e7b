package tcsyntax

import (
	"strings"
	"testing"
)

// TestObjectsListed: the usage and the "unknown object" and "missing
// object" errors name every object, netyard's own too (issue 15, item 13).
func TestObjectsListed(t *testing.T) {
	for _, args := range []string{"frobnicate show", "-s"} {
		var out, errs strings.Builder
		_ = Run(newFake(), strings.Fields(args), &out, &errs)
		text := out.String() + errs.String()
		for _, o := range []string{"qdisc", "class", "filter", "actions", "dev", "link", "loops"} {
			if !strings.Contains(text, o) {
				t.Errorf("tc %s: %q does not name %s", args, text, o)
			}
		}
	}
	if _, err := Parse(nil); err == nil || !strings.Contains(err.Error(), "dev, link, loops") {
		t.Errorf("missing object: %v", err)
	}
	if !IsHelp([]string{"-h"}) || !IsHelp([]string{"-s", "-j"}) || IsHelp([]string{"qdisc", "show"}) || IsHelp([]string{"-b", "f"}) || IsHelp([]string{"-x"}) {
		t.Error("IsHelp")
	}
}
