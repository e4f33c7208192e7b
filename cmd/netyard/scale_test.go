package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// The kernel's tdc scale scenarios (tc-testing's "Add 1M flower filters
// with 10 parallel tc instances", "Replace/Delete filters concurrently",
// "Add 1M filters with the same action"), scaled down for CI: bench/filters.sh
// runs them at a million.

// scaleN is the filters each scenario installs.
func scaleN() int {
	if testing.Short() {
		return 2_000
	}
	return 10_000
}

type scaleDaemon struct {
	t    *testing.T
	sock string
}

func newScaleDaemon(t *testing.T) *scaleDaemon {
	sock := t.TempDir() + "/ctl.sock"
	startDaemon(t, daemonConfig{socket: sock, devs: nameList{"eth0"}, workers: 1})
	return &scaleDaemon{t, sock}
}

// tc runs netyard tc with stdin; a batch's failures are in stderr.
func (d *scaleDaemon) tc(stdin []byte, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	err := cmdTC(append([]string{"--socket", d.sock}, args...), bytes.NewReader(stdin), &out, &errb)
	return out.String(), errb.String(), err
}

func (d *scaleDaemon) must(stdin []byte, args ...string) string {
	d.t.Helper()
	out, e, err := d.tc(stdin, args...)
	if err != nil {
		d.t.Fatalf("tc %q: %v\n%s", args, err, e)
	}
	return out
}

// parallel runs 10 batches at once, client k's made by mk(k).
func (d *scaleDaemon) parallel(force bool, mk func(k int) []byte) []string {
	var wg sync.WaitGroup
	errs := make([]string, 10)
	for k := range 10 {
		wg.Go(func() {
			args := []string{"-b", "-"}
			if force {
				args = append([]string{"-force"}, args...)
			}
			if _, e, err := d.tc(mk(k), args...); err != nil {
				errs[k] = fmt.Sprintf("%v: %s", err, e)
			}
		})
	}
	wg.Wait()
	return errs
}

func flowerLine(verb string, i int, action string) string {
	return fmt.Sprintf("filter %s dev eth0 ingress prio 1 handle %d protocol ip flower dst_ip 10.%d.%d.%d action %s\n",
		verb, i+1, i>>16&255, i>>8&255, i&255, action)
}

// filters lists the hook's filters by handle, with their gact indexes.
func (d *scaleDaemon) filters() map[string]string {
	out := d.must(nil, "filter", "show", "dev", "eth0", "ingress")
	got := map[string]string{}
	re := regexp.MustCompile(`(?s)handle (0x[0-9a-f]+).*?index (\d+)`)
	for _, part := range strings.Split(out, "filter protocol")[1:] {
		if m := re.FindStringSubmatch(part); m != nil {
			got[m[1]] = m[2]
		}
	}
	return got
}

// TestScaleParallelAddDelete: 10 clients add a tenth of the filters each,
// at once; all are there; 10 clients delete them, at once; none remain,
// nor any of their actions.
func TestScaleParallelAddDelete(t *testing.T) {
	n := scaleN()
	d := newScaleDaemon(t)
	errs := d.parallel(false, func(k int) []byte {
		var b bytes.Buffer
		for i := k; i < n; i += 10 {
			b.WriteString(flowerLine("add", i, "gact drop"))
		}
		return b.Bytes()
	})
	for k, e := range errs {
		if e != "" {
			t.Fatalf("client %d: %s", k, e)
		}
	}
	if got := len(d.filters()); got != n {
		t.Fatalf("%d filters after 10 clients added %d", got, n)
	}
	errs = d.parallel(false, func(k int) []byte {
		var b bytes.Buffer
		for i := k; i < n; i += 10 {
			fmt.Fprintf(&b, "filter del dev eth0 ingress prio 1 handle %d flower\n", i+1)
		}
		return b.Bytes()
	})
	for k, e := range errs {
		if e != "" {
			t.Fatalf("client %d deleting: %s", k, e)
		}
	}
	if got := len(d.filters()); got != 0 {
		t.Fatalf("%d filters after all were deleted", got)
	}
	if out := d.must(nil, "actions", "ls", "action", "gact"); strings.Contains(out, "index") {
		t.Fatalf("actions left after their filters were deleted:\n%.500s", out)
	}
}

// TestScaleConcurrentReplaceDelete: 10 clients replace and delete the
// same range at once (with -force: a delete of a filter another client
// deleted fails, as in tdc). The end state is consistent: every filter
// left has its own gact, and no gact is left without a filter.
func TestScaleConcurrentReplaceDelete(t *testing.T) {
	n := scaleN() / 4
	d := newScaleDaemon(t)
	d.parallel(true, func(k int) []byte {
		var b bytes.Buffer
		for i := range n {
			if (i+k)%3 == 0 {
				fmt.Fprintf(&b, "filter del dev eth0 ingress prio 1 handle %d flower\n", i+1)
			} else {
				b.WriteString(flowerLine("replace", i, "gact drop"))
			}
		}
		return b.Bytes()
	})
	fs := d.filters()
	acts := map[string]bool{}
	for _, idx := range fs {
		if acts[idx] {
			t.Fatalf("gact index %s bound by two filters", idx)
		}
		acts[idx] = true
	}
	out := d.must(nil, "actions", "ls", "action", "gact")
	listed := regexp.MustCompile(`index (\d+) ref 1 bind 1`).FindAllStringSubmatch(out, -1)
	if len(listed) != len(fs) || strings.Count(out, "index ") != len(fs) {
		t.Fatalf("%d filters but %d gact actions (%d bound once)", len(fs), strings.Count(out, "index "), len(listed))
	}
	for _, m := range listed {
		if !acts[m[1]] {
			t.Fatalf("gact index %s bound, but no filter has it", m[1])
		}
	}
	if len(fs) == 0 || len(fs) == n {
		t.Logf("%d of %d filters left", len(fs), n)
	}
}

// TestScaleSharedAction: n filters bind one action index; its bind count
// is n, and deleting the filters brings it back to 0.
func TestScaleSharedAction(t *testing.T) {
	n := scaleN()
	d := newScaleDaemon(t)
	d.must(nil, "actions", "add", "action", "gact", "drop", "index", "7")
	var b bytes.Buffer
	for i := range n {
		b.WriteString(flowerLine("add", i, "gact index 7"))
	}
	d.must(b.Bytes(), "-b", "-")
	if out := d.must(nil, "actions", "get", "action", "gact", "index", "7"); !strings.Contains(out, fmt.Sprintf("ref %d bind %d", n+1, n)) {
		t.Fatalf("shared action after %d filters bound it:\n%s", n, out)
	}
	d.must(nil, "filter", "del", "dev", "eth0", "ingress")
	if out := d.must(nil, "actions", "get", "action", "gact", "index", "7"); !strings.Contains(out, "ref 1 bind 0") {
		t.Fatalf("shared action after its filters were deleted:\n%s", out)
	}
}
