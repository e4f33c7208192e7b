package tcsyntax

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestBatchLines checks the splitting rules of iproute2's getcmdline and
// makeargs, and the line each command is reported at.
func TestBatchLines(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []BatchCommand // Err compared by text
	}{
		{"comments and blank lines", "# setup\n\nqdisc show # all of them\n   \n",
			[]BatchCommand{{Line: 1}, {Line: 2}, {Line: 3, Words: []string{"qdisc", "show"}}, {Line: 4}}},
		{"continuation joins lines and keeps the first line number", "filter add dev eth0 \\\n  ingress matchall \\\n action drop\nqdisc show\n",
			[]BatchCommand{{Line: 1, Words: strings.Fields("filter add dev eth0 ingress matchall action drop")}, {Line: 4, Words: []string{"qdisc", "show"}}}},
		{"a comment after a backslash ends the command", "qdisc show \\ # note\ndev eth0\n",
			[]BatchCommand{{Line: 1, Words: []string{"qdisc", "show", "\\"}}, {Line: 2, Words: []string{"dev", "eth0"}}}},
		{"a backslash glued to the next line", "qdisc sh\\\now\n",
			[]BatchCommand{{Line: 1, Words: []string{"qdisc", "show"}}}},
		{"quotes", `filter add dev "my dev" ingress 'a b' "c"` + "\n",
			[]BatchCommand{{Line: 1, Words: []string{"filter", "add", "dev", "my dev", "ingress", "a b", "c"}}}},
		{"the character after a closing quote separates, as in makeargs", `'a b'xc`,
			[]BatchCommand{{Line: 1, Words: []string{"a b", "c"}}}},
		{"tabs and CRLF", "qdisc\tshow\r\n",
			[]BatchCommand{{Line: 1, Words: []string{"qdisc", "show"}}}},
		{"no final newline", "qdisc show",
			[]BatchCommand{{Line: 1, Words: []string{"qdisc", "show"}}}},
		{"missing continuation line", "qdisc show \\\n",
			[]BatchCommand{{Line: 1, Err: errors.New("missing continuation line")}}},
		{"unterminated quote", "qdisc show dev 'eth0\nqdisc show\n",
			[]BatchCommand{{Line: 1, Err: errors.New("unterminated quoted string")}, {Line: 2, Words: []string{"qdisc", "show"}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []BatchCommand
			for c := range BatchLines([]byte(tc.in)) {
				c.Words = slices.Clone(c.Words) // BatchLines reuses the slice
				got = append(got, c)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d commands %+v, want %+v", len(got), got, tc.want)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Line != w.Line || !reflect.DeepEqual(g.Words, w.Words) || (g.Err == nil) != (w.Err == nil) ||
					g.Err != nil && g.Err.Error() != w.Err.Error() {
					t.Errorf("command %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

const batchScript = `# a batch with a bad command on line 5
qdisc add dev eth0 root pfifo
qdisc add dev eth0 clsact

filter add dev eth0 ingress flower dst_port 80 \
	action drop
qdisc show dev eth0
`

// TestBatchStopsAtFirstError checks that a batch stops at the first
// failing command and names its line; output before it is printed.
func TestBatchStopsAtFirstError(t *testing.T) {
	ft := newFake()
	var out, errs bytes.Buffer
	c := &CLI{Target: ft, Stdout: &out, Stderr: &errs, Stdin: strings.NewReader(batchScript)}
	err := c.Run([]string{"-b", "-"})
	if err == nil || !strings.HasPrefix(err.Error(), "line 5: flower: \"dst_port\"") {
		t.Fatalf("err = %v, want one for line 5", err)
	}
	if errs.String() != "Error: "+err.Error()+"\n" {
		t.Errorf("stderr = %q", errs.String())
	}
	if out.Len() != 0 {
		t.Errorf("the show after the error ran: %q", out.String())
	}
	if q, _ := ft.Qdiscs("eth0"); len(q) != 2 {
		t.Errorf("the commands before the error did not run: %+v", q)
	}
}

// TestBatchForce checks that -force goes on after errors, reports each,
// and still fails overall.
func TestBatchForce(t *testing.T) {
	ft := newFake()
	dir := t.TempDir()
	path := filepath.Join(dir, "setup.tc")
	script := batchScript + "qdisc add dev eth0 root pfifo\nfrob\n"
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	err := Run(ft, []string{"-force", "-batch", path}, &out, &errs)
	if err == nil || !strings.HasPrefix(err.Error(), "3 of 6 commands failed; first: line 5:") {
		t.Fatalf("err = %v", err)
	}
	lines := strings.Split(strings.TrimSpace(errs.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "Error: line 8: qdisc add: ") ||
		!strings.HasPrefix(lines[2], `Error: line 9: tc: "frob": unknown object`) {
		t.Errorf("stderr:\n%s", errs.String())
	}
	if want := "qdisc pfifo 8001: root refcnt 2 limit 1000p\nqdisc clsact ffff: parent ffff:fff1 \n"; out.String() != want {
		t.Errorf("stdout = %q, want %q", out.String(), want)
	}
}

// TestBatchJSONPerCommand checks that each show in a JSON batch prints a
// whole JSON document, as tc does.
func TestBatchJSONPerCommand(t *testing.T) {
	ft := newFake()
	var out bytes.Buffer
	c := &CLI{Target: ft, Stdout: &out, Stderr: &out, Stdin: strings.NewReader("qdisc add dev eth0 root pfifo\nqdisc show\nactions ls action gact\n")}
	if err := c.Run([]string{"-j", "-b", "-"}); err != nil {
		t.Fatal(err)
	}
	want := `[{"kind":"pfifo","handle":"8001:","dev":"eth0","root":true,"refcnt":2,"options":{"limit":1000}}]` + "\n[]\n"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

func TestBatchMissingFile(t *testing.T) {
	var errs bytes.Buffer
	err := Run(newFake(), []string{"-b", filepath.Join(t.TempDir(), "nope")}, &bytes.Buffer{}, &errs)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(errs.String(), "cannot read batch") {
		t.Errorf("err = %v, stderr %q", err, errs.String())
	}
}
