package tcsyntax

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"netyard/cls"
)

// TestBpfFilterGrammar: f_bpf's words, and the errors for what netyard
// does not do.
func TestBpfFilterGrammar(t *testing.T) {
	file := filepath.Join(t.TempDir(), "port80.txt")
	// tcpdump -ddd's form: the count, then one instruction per line.
	if err := os.WriteFile(file, []byte("4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, cmd string
		check     func(*cls.Bpf, *cls.Filter) bool
		err       string
	}{
		{"bytecode", `filter add dev eth0 ingress bpf bytecode 2,6|0|0|0,6|0|0|1 classid 1:2`, func(b *cls.Bpf, f *cls.Filter) bool {
			return len(b.Bytecode) == 2 && b.Bytecode[1].K == 1 && f.ClassID == 0x10002 && !b.DirectAction
		}, ""},
		{"bc, da, run", `filter add dev eth0 egress pref 3 protocol ip bpf run bc 1,6|0|0|0 da skip_hw`, func(b *cls.Bpf, f *cls.Filter) bool {
			return len(b.Bytecode) == 1 && b.DirectAction && f.SkipHW && f.Prio == 3
		}, ""},
		{"bytecode-file", "filter add dev eth0 ingress bpf bcf " + file + " action drop", func(b *cls.Bpf, f *cls.Filter) bool {
			return len(b.Bytecode) == 4 && b.File == file && len(f.Actions) == 1
		}, ""},
		{"object-file, default section", "filter add dev eth0 ingress bpf obj prog.o direct-action", func(b *cls.Bpf, f *cls.Filter) bool {
			return b.Object == "prog.o" && b.Section == "classifier" && b.Name == "prog.o:[classifier]" && b.DirectAction
		}, ""},
		{"object-file, sec", "filter add dev eth0 ingress bpf object-file /x/prog.o sec tc verbose da", func(b *cls.Bpf, f *cls.Filter) bool {
			return b.Section == "tc" && b.Name == "prog.o:[tc]"
		}, ""},
		{"no program", "filter add dev eth0 ingress bpf da", nil, "no program"},
		{"bad bytecode names the instruction", "filter add dev eth0 ingress bpf bytecode 2,6|0|0|0,6|0|0", nil, "instruction 1"},
		{"missing file", "filter add dev eth0 ingress bpf bytecode-file /nonexistent/x", nil, "no such file"},
		{"pinned", "filter add dev eth0 ingress bpf pinned /sys/fs/bpf/x", nil, "no bpffs"},
		{"skip_sw", "filter add dev eth0 ingress bpf bc 1,6|0|0|0 skip_sw", nil, "software only"},
		{"police", "filter add dev eth0 ingress bpf bc 1,6|0|0|0 police rate 1mbit", nil, "action police"},
		{"two programs", "filter add dev eth0 ingress bpf bc 1,6|0|0|0 bc 1,6|0|0|0", nil, "bc"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			words := strings.Fields(tt.cmd)
			for i := range words {
				words[i] = strings.ReplaceAll(words[i], "|", " ")
			}
			cmd, err := Parse(words)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse = %v; want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, ok := cmd.Filter.Classifier.(*cls.Bpf)
			if !ok || !tt.check(b, cmd.Filter) {
				t.Fatalf("parsed %+v / %+v", cmd.Filter, cmd.Filter.Classifier)
			}
			// format gives words that parse back to the same program.
			again, err := Parse(append([]string{"filter", "add", "dev", "eth0", "ingress"}, formatBpf(cmd.Filter)...))
			if err != nil {
				t.Fatalf("formatBpf %q: %v", formatBpf(cmd.Filter), err)
			}
			if a := again.Filter.Classifier.(*cls.Bpf); len(a.Bytecode) != len(b.Bytecode) || a.Object != b.Object || a.DirectAction != b.DirectAction {
				t.Fatalf("formatBpf %q parses to %+v", formatBpf(cmd.Filter), a)
			}
		})
	}
}

// TestBpfFilterPrint: tc's text for a classic filter (bpf_print_opt,
// bpf_print_ops) and its JSON.
func TestBpfFilterPrint(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "filter add dev eth0 ingress pref 1 protocol all bpf bytecode \"2,40 0 0 12,6 0 0 0\" classid 1:1\n")
	out := tcOut(t, ft, "filter show dev eth0 ingress")
	want := "filter protocol all pref 1 bpf chain 0 handle 0x1 flowid 1:1 not_in_hw bytecode '2,40 0 0 12,6 0 0 0' "
	if !strings.Contains(out, want) {
		t.Fatalf("show printed\n%s\nwant a line with\n%s", out, want)
	}
	js := tcOut(t, ft, "-j filter show dev eth0 ingress")
	for _, w := range []string{`"kind":"bpf"`, `"flowid":"1:1"`, `"bytecode":{"length":2,"insns":[{"code":40,"jt":0,"jf":0,"k":12},{"code":6,"jt":0,"jf":0,"k":0}]}`} {
		if !strings.Contains(js, w) {
			t.Fatalf("-j printed\n%s\nwant %s", js, w)
		}
	}
}

// TestBpfActionPrint: m_bpf's words and print_bpf's text.
func TestBpfActionPrint(t *testing.T) {
	ft := newFake()
	runLines(t, ft, "filter add dev eth0 ingress pref 1 matchall action bpf bytecode \"1,6 0 0 0\" index 4\n"+
		"actions add action bpf run obj prog.o sec act drop\n")
	out := tcOut(t, ft, "filter show dev eth0 ingress")
	want := "action order 1: bpf bytecode '1,6 0 0 0' default-action pipe\n\t index 4 ref 1 bind 1"
	if !strings.Contains(out, want) {
		t.Fatalf("show printed\n%s\nwant\n%s", out, want)
	}
	out = tcOut(t, ft, "actions list action bpf")
	want = "bpf prog.o:[act] id 0 tag 0000000000000000 default-action drop\n"
	if !strings.Contains(out, want) {
		t.Fatalf("actions list printed\n%s\nwant\n%s", out, want)
	}
	for _, bad := range []string{"actions add action bpf", "actions add action bpf bytecode 1,6|0|0", "actions add action bpf fd 3"} {
		words := strings.Fields(bad)
		for i := range words {
			words[i] = strings.ReplaceAll(words[i], "|", " ")
		}
		if _, err := Parse(words); err == nil {
			t.Errorf("%s: parsed", bad)
		}
	}
}
