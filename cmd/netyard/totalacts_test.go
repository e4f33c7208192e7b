package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"netyard/ctl"
	"netyard/tcsyntax"
)

// The two ways an action listing is printed, as docs/TC.md states them.
const (
	docInProcess = "run in-process (`netyard replay` and `netyard lab` rules files, and the commands of a batch the daemon runs) prints all actions under one `total acts N`"
	docDump      = "`netyard tc actions ls` prints the daemon's dump as tc prints the kernel's: one `total acts N` per message"
)

// TestTotalActsAsDocumented: docs/TC.md and the output agree about
// "total acts N" (issue 15, item 14): a listing run in-process has one
// count for all the actions; `netyard tc actions ls` (a dump) has one per
// message, the counts summing to all the actions, each message's actions
// numbered from 0.
func TestTotalActsAsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/TC.md")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(string(doc)), " ")
	for _, s := range []string{docInProcess, docDump} {
		if !strings.Contains(flat, s) {
			t.Errorf("docs/TC.md does not say: %s", s)
		}
	}

	const n = 3000
	r := newDumpRig(t)
	var batch strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&batch, "actions add action gact pass index %d\n", i)
	}
	var errb bytes.Buffer
	if err := (&tcsyntax.CLI{Target: r.ns, Stdout: &errb, Stderr: &errb, Stdin: strings.NewReader(batch.String())}).Run([]string{"-b", "-"}); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	totals := regexp.MustCompile(`(?m)^total acts (\d+)$`)
	count := func(out string) (lines, sum int) {
		for _, m := range totals.FindAllStringSubmatch(out, -1) {
			v, _ := strconv.Atoi(m[1])
			lines, sum = lines+1, sum+v
		}
		return
	}
	if lines, sum := count(r.exec(t, "actions", "ls", "action", "gact")); lines != 1 || sum != n {
		t.Errorf("in-process: %d total lines summing to %d, want 1 of %d", lines, sum, n)
	}
	opts, _, cmd, err := tcsyntax.ParseLine([]string{"actions", "ls", "action", "gact"})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := dumpActions(context.Background(), r.c, opts, cmd, &tcFlags{msgSize: ctl.MinMessageSize}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	lines, sum := count(out.String())
	if lines < 2 || sum != n {
		t.Errorf("dump in 32 KiB messages: %d total lines summing to %d, want several summing to %d", lines, sum, n)
	}
	if orders := strings.Count(out.String(), "action order 0:"); orders != lines {
		t.Errorf("%d messages but %d listings starting at order 0", lines, orders)
	}
	// JSON: the same pair, {"total acts":N} then the actions, per message.
	opts.JSON = true
	out.Reset()
	if err := dumpActions(context.Background(), r.c, opts, cmd, &tcFlags{msgSize: ctl.MinMessageSize}, &out, &errb); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if got := strings.Count(out.String(), `{"total acts":`); got != lines {
		t.Errorf("JSON: %d counts, want one per message (%d)", got, lines)
	}
}
