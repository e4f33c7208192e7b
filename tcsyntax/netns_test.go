package tcsyntax

import (
	"reflect"
	"strings"
	"testing"
)

// netnsLines are the new grammar's commands (issue 12) with what each
// must parse to or the word its error must name.
var netnsLines = []struct {
	line string
	ok   bool
	want string // in the error, or in Args' output
}{
	{"netns add a", true, "netns add a"},
	{"netns del a all", true, "netns delete a all"},
	{"netns delete a", true, "netns delete a"},
	{"netns set t-1 quantum 8 backlog 64k", true, "netns change t-1 quantum 8 backlog 65536"},
	{"netns change a backlog 0", true, "netns change a backlog 0"},
	{"netns show", true, "netns show"},
	{"netns ls x", true, "netns show x"},
	{"netns set a", false, "quantum"},
	{"netns set a quantum 0", false, "quantum"},
	{"netns add -x", false, "namespace name"},
	{"netns add a/b", false, "namespace name"},
	{"netns add " + strings.Repeat("n", 65), false, "namespace name"},
	{"netns del a some", false, "some"},
	{"netns add", false, "namespace"},
	{"tenant add a uid 60001", true, "tenant add a uid 60001"},
	{"tenant del a gid 0", true, "tenant delete a gid 0"},
	{"tenant show", true, "tenant show"},
	{"tenant add a", false, "uid"},
	{"tenant add a uid -1", false, "uid"},
	{"tenant add a pid 3", false, "pid"},
	{"tenant add a uid 1 extra", false, "extra"},
	{"dev del eth0", true, "dev delete dev eth0"},
	{"dev del dev eth0", true, "dev delete dev eth0"},
	{"dev del", false, "device name"},
	{"dev del eth0 eth1", false, "eth1"},
	{"dev add x type memory netns a", true, "dev add x type memory netns a"},
	{"dev add va type veth peer vb", true, "dev add va type veth peer vb"},
	{"dev add va type veth peer name vb netns b", true, "dev add va type veth peer vb netns b"},
	{"dev add va type veth netns a peer vb netns b", true, "dev add va type veth netns a peer vb netns b"},
	{"dev add va type veth", false, "peer"},
	{"dev add va type veth peer va", false, "va"},
	{"dev add va type memory peer vb", false, "peer"},
	{"dev add va type veth link eth0 peer vb", false, "link"},
}

// TestNetnsGrammar: each line parses, or fails naming what is wrong; what
// parses prints (Args) as the canonical line and parses back the same.
func TestNetnsGrammar(t *testing.T) {
	for _, c := range netnsLines {
		t.Run(c.line, func(t *testing.T) {
			words, _ := splitWords(c.line)
			cmd, err := Parse(words)
			if !c.ok {
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("error %v, want one naming %q", err, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			args := cmd.Args()
			if got := strings.Join(args, " "); got != c.want {
				t.Fatalf("Args %q, want %q", got, c.want)
			}
			back, err := Parse(args)
			if err != nil || !reflect.DeepEqual(back, cmd) {
				t.Fatalf("Args do not parse back: %v\n%+v\n%+v", err, back, cmd)
			}
		})
	}
}

// TestNetnsOption: -n NAME on the command line and at the start of a
// batch line picks the Target by Resolve; without Resolve it is an
// error.
func TestNetnsOption(t *testing.T) {
	var asked []string
	c := &CLI{Resolve: func(n string) (Target, error) { asked = append(asked, n); return newFake(), nil },
		Stdout: new(strings.Builder), Stderr: new(strings.Builder)}
	if err := c.Run([]string{"-n", "a", "actions", "add", "action", "gact", "drop"}); err != nil {
		t.Fatal(err)
	}
	c.Stdin = strings.NewReader("actions add action gact drop\n-n b actions add action gact drop\n-netns b actions add action gact pass\n")
	c.resolved = false
	if err := c.Run([]string{"-b", "-"}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "", "b"}; !reflect.DeepEqual(asked, want) {
		t.Fatalf("resolved %q, want %q (one answer per run of lines)", asked, want)
	}
}

// FuzzNetnsGrammar: any line of the new objects parses or fails with an
// error, never a panic; what parses survives Args and Parse.
func FuzzNetnsGrammar(f *testing.F) {
	for _, c := range netnsLines {
		f.Add(c.line)
	}
	f.Add("-n a dev add x type memory")
	f.Fuzz(func(t *testing.T, line string) {
		words, err := splitWords(line)
		if err != nil || len(words) == 0 {
			return
		}
		c := &CLI{Resolve: func(string) (Target, error) { return newFake(), nil },
			Stdout: new(strings.Builder), Stderr: new(strings.Builder)}
		_ = c.Run(words)
		cmd, err := Parse(words)
		if err != nil {
			return
		}
		back, err := Parse(cmd.Args())
		if err != nil {
			t.Fatalf("%q: Args %q do not parse: %v", line, cmd.Args(), err)
		}
		if !reflect.DeepEqual(back.Args(), cmd.Args()) {
			t.Fatalf("%q: Args %q then %q", line, cmd.Args(), back.Args())
		}
	})
}
