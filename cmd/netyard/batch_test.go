package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"netyard/ctl"
)

// batchLines is n filter adds, one a line, each with its own dst_ip
// (padded with a comment so that the batch is large).
func batchLines(n int, bad map[int]bool) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		if bad[i] {
			fmt.Fprintf(&b, "filter add dev eth0 ingress prio 1 protocol ip flower dst_ip 10.%d.%d.%d action nosuchaction\n", i>>16&255, i>>8&255, i&255)
			continue
		}
		fmt.Fprintf(&b, "filter add dev eth0 ingress prio 1 protocol ip flower dst_ip 10.%d.%d.%d action gact drop # %s\n", i>>16&255, i>>8&255, i&255, strings.Repeat("x", 400))
	}
	return b.Bytes()
}

// TestBatchStreams: a batch several times the request limit streams in
// chunks and applies fully; an error in a later chunk stops it at exactly
// that line with the count applied before it; -force goes on and reports
// every failure; a line over the chunk limit is named; stdin works.
func TestBatchStreams(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	startDaemon(t, daemonConfig{socket: sock, devs: nameList{"eth0"}, workers: 1})
	tc := func(stdin []byte, args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		err := cmdTC(append([]string{"--socket", sock}, args...), bytes.NewReader(stdin), &out, &errb)
		code := 0
		if err != nil {
			code = 1
			if err != errReported {
				errb.WriteString(err.Error())
			}
		}
		return out.String(), errb.String(), code
	}
	count := func() int {
		out, e, code := tc(nil, "filter", "show", "dev", "eth0", "ingress")
		if code != 0 {
			t.Fatalf("filter show: %s", e)
		}
		return strings.Count(out, "dst_ip")
	}
	flush := func() {
		if _, e, code := tc(nil, "filter", "del", "dev", "eth0", "ingress"); code != 0 {
			t.Fatal(e)
		}
	}
	// Lines are about 470 bytes: 10k of them are 4.7 MiB, 18 chunks.
	// (Few lines: until cls.Chains adds in O(1) each add costs the
	// filters already there.)
	n := 10_000
	if testing.Short() {
		n = 3_000 // still over the 1 MiB request limit
	}
	data := batchLines(n, nil)
	if len(data) <= ctl.DefaultMaxRequest || !testing.Short() && len(data) <= 4<<20 {
		t.Fatalf("batch of %d bytes: not over the request limit", len(data))
	}
	file := filepath.Join(dir, "big.tc")
	os.WriteFile(file, data, 0o644)
	if _, e, code := tc(nil, "-b", file); code != 0 {
		t.Fatalf("batch of %d bytes: exit %d: %s", len(data), code, e)
	}
	if got := count(); got != n {
		t.Fatalf("%d filters after a batch of %d", got, n)
	}
	flush()

	// An error in the third chunk: lines before it applied, none after.
	perChunk := ctl.MaxBatchChunk / (len(data) / n)
	bad := 2*perChunk + 100
	file = filepath.Join(dir, "bad.tc")
	os.WriteFile(file, batchLines(n, map[int]bool{bad: true, bad + 50: true}), 0o644)
	_, e, code := tc(nil, "-b", file)
	// tc's do_batch line, then netyard's count; exit 1 as tc.
	want := fmt.Sprintf("Command failed %s:%d\n(%d commands applied before it; nothing after it)", file, bad, bad-1)
	if code != 1 || !strings.Contains(e, want) || !strings.Contains(e, fmt.Sprintf("line %d:", bad)) || strings.Contains(e, fmt.Sprintf("line %d:", bad+50)) {
		t.Fatalf("batch with an error at line %d: exit %d, stderr:\n%s\nwant %q", bad, code, e, want)
	}
	if got := count(); got != bad-1 {
		t.Fatalf("%d filters after a batch that failed at line %d, want %d", got, bad, bad-1)
	}
	flush()

	// -force: every good line applied, each bad one reported.
	_, e, code = tc(nil, "-force", "-b", file)
	if code != 1 || !strings.Contains(e, fmt.Sprintf("line %d:", bad)) || !strings.Contains(e, fmt.Sprintf("line %d:", bad+50)) ||
		!strings.Contains(e, fmt.Sprintf("2 of %d commands failed", n)) {
		t.Fatalf("-force batch: exit %d, stderr:\n%s", code, e)
	}
	if got := count(); got != n-2 {
		t.Fatalf("%d filters after a -force batch with 2 bad lines, want %d", got, n-2)
	}
	flush()

	// A line longer than a chunk.
	long := "filter add dev eth0 ingress prio 1 protocol ip flower dst_ip 10.0.0.1 action gact drop\n" +
		"filter add dev eth0 ingress prio 1 protocol ip flower dst_ip 10.0.0.2 action gact drop # " + strings.Repeat("y", ctl.MaxBatchChunk) + "\n"
	_, e, code = tc([]byte(long), "-b", "-")
	if code == 0 || !strings.Contains(e, "line 2: line too long") {
		t.Fatalf("line over the limit: exit %d, stderr %q", code, e)
	}

	// stdin.
	if _, e, code := tc(batchLines(3000, nil), "-b", "-"); code != 0 {
		t.Fatalf("batch on stdin: exit %d: %s", code, e)
	}
	if got := count(); got != 3000 {
		t.Fatalf("%d filters after a batch of 3000 on stdin", got)
	}
}

// TestBatchWithCommand: a batch with a command after it is refused as tc
// refuses it, even when the file is empty.
func TestBatchWithCommand(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	startDaemon(t, daemonConfig{socket: sock, devs: nameList{"eth0"}, workers: 1})
	empty := filepath.Join(dir, "empty.tc")
	os.WriteFile(empty, nil, 0o644)
	var out, errb bytes.Buffer
	err := cmdTC([]string{"--socket", sock, "-b", empty, "qdisc", "show"}, nil, &out, &errb)
	if err == nil || !strings.Contains(errb.String(), "a batch takes no command") {
		t.Fatalf("batch with a command: %v, stderr %q", err, errb.String())
	}
	// An empty batch is fine.
	if err := cmdTC([]string{"--socket", sock, "-b", empty}, nil, &out, &errb); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}
