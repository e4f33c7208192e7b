package tcsyntax

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds command lines to the parser, seeded with every command
// the tests use. Whatever it is given, Parse must not panic; a command it
// accepts must survive Args and Parse unchanged, run against a Target,
// and print (in text and in valid JSON) without panicking.
func FuzzParse(f *testing.F) {
	for _, c := range goodCommands {
		f.Add(c.line)
	}
	for _, c := range badCommands {
		f.Add(c.line)
	}
	for _, script := range []string{goldenSetup, batchScript} {
		for c := range BatchLines([]byte(script)) {
			f.Add(strings.Join(c.Words, " "))
		}
	}
	for _, c := range execErrorCases {
		f.Add(c.args)
	}
	for _, s := range []string{
		"-s -j filter show dev eth0 ingress", "actions ls action police since 10",
		"class show dev eth0 root", "filter get dev eth0 ingress protocol ip pref 1 handle 1 flower",
		"filter add dev eth0 ingress bpf bytecode '4,40 0 0 12,21 0 1 2048,6 0 0 262144,6 0 0 0' da classid 1:1 action bpf bc '1,6 0 0 0' drop",
		"filter add dev eth0 egress bpf obj prog.o sec tc verbose direct-action",
		"qdisc add dev eth0 root handle 1: htb default 20 r2q 5 direct_qlen 10",
		"class add dev eth0 parent 1: classid 1:1 htb rate 10mbit ceil 20mbit burst 10k cburst 3200 prio 3 quantum 1500",
		"class replace dev eth0 root classid 1:7 htb rate 1gbit mtu 9000", "class del dev eth0 classid 1:7",
	} {
		f.Add(s)
	}
	// shared parses every input after the ones before, as a batch's
	// Parser does: its scratch must not carry anything over.
	var shared Parser
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil {
			return
		}
		cmd, err := Parse(words)
		reused, reusedErr := shared.Parse(words)
		if (err == nil) != (reusedErr == nil) || err != nil && err.Error() != reusedErr.Error() ||
			err == nil && !reflect.DeepEqual(reused, cmd) {
			t.Fatalf("%q: a reused Parser gives %v, %v; Parse %v, %v", line, reused, reusedErr, cmd, err)
		}
		if err != nil {
			return
		}
		again, err := Parse(cmd.Args())
		if err != nil {
			t.Fatalf("%q: Args %q does not parse: %v", line, cmd.Args(), err)
		}
		if !reflect.DeepEqual(again, cmd) {
			t.Fatalf("%q: Args %q parses to %s, not %s", line, cmd.Args(), dump(again), dump(cmd))
		}
		ft := newFake()
		_ = Exec(ft, cmd, Options{}, &bytes.Buffer{})
		for _, o := range []Options{{Stats: 1, Details: true, IEC: true, Now: ft.now}, {Stats: 1, JSON: true}, {JSON: true, Pretty: true}} {
			p := &Printer{o}
			var out bytes.Buffer
			for _, f := range ft.filters {
				views, _ := ft.Filters(f.spec.Dev, f.spec.Parent, nil)
				_ = p.Filters(&out, views, Selector{})
			}
			qv, _ := ft.Qdiscs("")
			_ = p.Qdiscs(&out, qv, Selector{})
			for kind := range ft.actions {
				av, _ := ft.Actions(kind)
				_ = p.Actions(&out, av, true)
			}
			if o.JSON {
				dec := json.NewDecoder(&out)
				for dec.More() {
					var v any
					if err := dec.Decode(&v); err != nil {
						t.Fatalf("%q: invalid JSON: %v", line, err)
					}
				}
			}
		}
	})
}

// FuzzBatchLines checks that no batch file makes the splitter panic and
// that line numbers only grow.
func FuzzBatchLines(f *testing.F) {
	f.Add([]byte(batchScript))
	f.Add([]byte(goldenSetup))
	f.Add([]byte("a \\\n b # c \\\n'd"))
	f.Fuzz(func(t *testing.T, data []byte) {
		last := 0
		for c := range BatchLines(data) {
			if c.Line <= last {
				t.Fatalf("line %d after %d", c.Line, last)
			}
			last = c.Line
		}
	})
}

// FuzzUnits checks that the unit parsers never panic and that what the
// printers write reads back to a value the printer prints the same way.
func FuzzUnits(f *testing.F) {
	for _, s := range []string{"1mbit", "10k", "5ms", "1.5sec", "1e3kbit", "0x10", "1Kibit", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if r, err := ParseRate(s); err == nil {
			if _, err := ParseRate(FormatRate(r, false)); err != nil {
				t.Errorf("FormatRate(%d) = %q does not parse", r, FormatRate(r, false))
			}
			if got := mustParseRate(exactRate(r)); got != r {
				t.Errorf("exactRate(%d) = %q reads back as %d", r, exactRate(r), got)
			}
		}
		if b, err := ParseSize64(s); err == nil {
			if got := mustParseSize(exactSize(b)); got != b {
				t.Errorf("exactSize(%d) = %q reads back as %d", b, exactSize(b), got)
			}
		}
		if d, err := ParseTime(s); err == nil {
			_ = FormatTime(d)
		}
		_, _ = ParseClassID(s)
		_, _ = ParseQdiscHandle(s)
		_, _ = ParseProtocol(s)
	})
}
