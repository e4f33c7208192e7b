package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The kernel's tc selftests (tools/testing/selftests/tc-testing, "tdc")
// for the kinds netyard implements, run against `netyard tc` as tdc runs
// them against tc: per case a fresh daemon (tdc's namespace), the setup
// commands (each must exit with 0 or an allowed status), the command
// under test (its exit status must be expExitCode), then the verify
// command, whose output (stdout, or stderr when it failed) must match
// matchPattern exactly matchCount times. The cases come unchanged from
// Linux 6.1's tc-testing (testdata/tdc, GPL-2.0 test data, see its
// README); the cases netyard is known to fail are listed with the
// reason in testdata/tdc/expected-failures.txt and docs/TC.md, so the
// test fails on a regression and on an unexpected pass alike.
//
// tdc's variables: $TC is `netyard tc`, $DUMMY dummy1, $DEV1 v0p1, $DEV2
// v0p2, $ETH eth0 (its TX queues set by tdc's netdevsim "echo" lines),
// lo exists. $IP commands (dummy devices and their txqueuelen) succeed
// without effect: the daemon's devices are there from the start. The
// few shell forms the cases use are interpreted: "|| /bin/true", a
// leading "sleep N;", "| grep WORD", and bash loops that build one
// action command of 32 actions.

type tdcCase struct {
	ID           string   `json:"id"`
	Name         string   `json:"name"`
	Category     []string `json:"category"`
	Setup        []any    `json:"setup"`
	CmdUnderTest string   `json:"cmdUnderTest"`
	ExpExitCode  string   `json:"expExitCode"`
	VerifyCmd    string   `json:"verifyCmd"`
	MatchPattern string   `json:"matchPattern"`
	MatchCount   string   `json:"matchCount"`
	file         string
}

var tdcNames = map[string]string{
	"$TC": "tc", "$IP": "ip", "$DUMMY": "dummy1", "$DEV0": "v0p0", "$DEV1": "v0p1", "$DEV2": "v0p2", "$ETH": "eth0",
	"$BATCH_FILE": "batch.txt",
}

func TestTDC(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" {
		// About 250 daemons: a few seconds; -short keeps the quick loop quick.
		t.Skip("-short")
	}
	files, _ := filepath.Glob("testdata/tdc/*.json")
	var cases []tdcCase
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cs []tdcCase
		if err := json.Unmarshal(data, &cs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range cs {
			cs[i].file = filepath.Base(f)
		}
		cases = append(cases, cs...)
	}
	expected := readExpectedFailures(t, "testdata/tdc/expected-failures.txt")
	type tally struct{ pass, total int }
	perKind := map[string]*tally{}
	var kinds []string
	var unexpected []string
	for _, c := range cases {
		kind := c.Category[len(c.Category)-1]
		if perKind[kind] == nil {
			perKind[kind] = &tally{}
			kinds = append(kinds, kind)
		}
		why := runTDCCase(t, c)
		perKind[kind].total++
		if why == "" {
			perKind[kind].pass++
		}
		_, known := expected[c.ID]
		switch {
		case why != "" && !known:
			unexpected = append(unexpected, fmt.Sprintf("%s %s (%s): FAILS: %s", c.ID, c.Name, c.file, why))
		case why == "" && known:
			unexpected = append(unexpected, fmt.Sprintf("%s %s (%s): PASSES but is listed in expected-failures.txt", c.ID, c.Name, c.file))
		}
		if os.Getenv("TDC_VERBOSE") != "" && why != "" {
			t.Logf("%s %s: %s", c.ID, c.Name, why)
		}
	}
	slices.Sort(kinds)
	pass, total := 0, 0
	var report strings.Builder
	for _, k := range kinds {
		p := perKind[k]
		pass += p.pass
		total += p.total
		fmt.Fprintf(&report, "%-10s %3d/%3d %5.1f%%\n", k, p.pass, p.total, 100*float64(p.pass)/float64(p.total))
	}
	fmt.Fprintf(&report, "%-10s %3d/%3d %5.1f%%\n", "all", pass, total, 100*float64(pass)/float64(total))
	t.Logf("tdc behaviours passed, per kind:\n%s", report.String())
	for _, u := range unexpected {
		t.Error(u)
	}
}

func readExpectedFailures(t *testing.T, path string) map[string]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		id, why, _ := strings.Cut(l, " ")
		out[id] = strings.TrimSpace(why)
	}
	return out
}

// runTDCCase runs one case on a fresh daemon and says why it failed ("" if
// it passed).
func runTDCCase(t *testing.T, c tdcCase) string {
	dir, err := os.MkdirTemp("", "tdc")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "s")
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	cfg := daemonConfig{socket: sock, devs: nameList{"dummy1", "v0p0", "v0p1", "v0p2", "eth0", "lo"}, workers: 1}
	go func() { done <- runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	defer func() {
		cancel()
		<-done
	}()
	sh := &tdcShell{sock: sock, dir: dir}
	for i, s := range c.Setup {
		cmd, allowed := "", []int{0}
		switch s := s.(type) {
		case string:
			cmd = s
		case []any:
			if len(s) > 0 {
				cmd, _ = s[0].(string)
			}
			allowed = nil
			for _, a := range s[1:] {
				if f, ok := a.(float64); ok {
					allowed = append(allowed, int(f))
				}
			}
		}
		_, _, code := sh.run(cmd)
		if !slices.Contains(allowed, code) {
			return fmt.Sprintf("setup %d %q: exit %d", i, cmd, code)
		}
	}
	_, stderr, code := sh.run(c.CmdUnderTest)
	if want, _ := strconv.Atoi(c.ExpExitCode); code != want {
		return fmt.Sprintf("%q: exit %d, want %s (%s)", c.CmdUnderTest, code, c.ExpExitCode, strings.TrimSpace(stderr))
	}
	out, stderr, code := sh.run(c.VerifyCmd)
	if code != 0 && stderr != "" {
		out = stderr
	}
	// tdc compiles with re.DOTALL | re.MULTILINE.
	re, err := regexp.Compile("(?sm)" + c.MatchPattern)
	if err != nil {
		return fmt.Sprintf("pattern %q: %v", c.MatchPattern, err)
	}
	want, _ := strconv.Atoi(c.MatchCount)
	if n := len(re.FindAllStringIndex(out, -1)); n != want {
		return fmt.Sprintf("%q printed %q: %d matches of %q, want %d", c.VerifyCmd, out, n, c.MatchPattern, want)
	}
	return ""
}

// tdcShell interprets the shell forms tdc's cases use.
type tdcShell struct {
	sock, dir string
}

var (
	tdcLoop      = regexp.MustCompile(`^bash -c "for i in \\?` + "`" + `seq 1 (\d+)\\?` + "`" + `; do cmd=\\"(.*?)\\"; args=\\?"?\\\$args\\\$cmd\\?"?; done && \$TC actions (\w+) \\\$args"$`)
	tdcNetdevsim = regexp.MustCompile(`^echo "1 1 ?(\d*)" > /sys/bus/netdevsim/new_device$`)
	tdcSleep     = regexp.MustCompile(`^sleep \d+; *`)
)

func (sh *tdcShell) run(cmd string) (stdout, stderr string, code int) {
	for k, v := range tdcNames {
		if k != "$TC" && k != "$IP" {
			cmd = strings.ReplaceAll(cmd, k, v)
		}
	}
	cmd = strings.TrimSpace(tdcSleep.ReplaceAllString(strings.TrimSpace(cmd), ""))
	orTrue := false
	if c, ok := strings.CutSuffix(cmd, "|| /bin/true"); ok {
		cmd, orTrue = strings.TrimSpace(c), true
	}
	defer func() {
		if orTrue {
			code = 0
		}
	}()
	if m := tdcLoop.FindStringSubmatch(cmd); m != nil {
		n, _ := strconv.Atoi(m[1])
		words := []string{"actions", m[3]}
		for i := 1; i <= n; i++ {
			words = append(words, strings.Fields(strings.ReplaceAll(m[2], `\$i`, strconv.Itoa(i)))...)
		}
		return sh.tc(words)
	}
	if m := tdcNetdevsim.FindStringSubmatch(cmd); m != nil {
		q := m[1]
		if q == "" {
			q = "1"
		}
		return sh.tc([]string{"link", "set", "dev", "eth0", "txqueues", q})
	}
	var grep string
	if c, g, ok := strings.Cut(cmd, "| grep "); ok {
		cmd, grep = strings.TrimSpace(c), strings.TrimSpace(g)
	}
	switch {
	case cmd == "":
		return "", "", 0
	case strings.HasPrefix(cmd, "$IP ") || strings.HasPrefix(cmd, `echo "1" > /sys/bus/netdevsim/del_device`):
		return "", "", 0
	case strings.HasPrefix(cmd, "$TC "):
		words, err := splitShellWords(strings.TrimPrefix(cmd, "$TC "))
		if err != nil {
			return "", err.Error(), 2
		}
		stdout, stderr, code = sh.tc(words)
		if grep != "" {
			var kept []string
			for _, l := range strings.SplitAfter(stdout, "\n") {
				if strings.Contains(l, grep) {
					kept = append(kept, l)
				}
			}
			stdout = strings.Join(kept, "")
			if len(kept) == 0 {
				code = 1
			}
		}
		return stdout, stderr, code
	}
	f, _, _ := strings.Cut(cmd, " ")
	return "", fmt.Sprintf("sh: %s: not interpreted by the conformance test\n", f), 127
}

func (sh *tdcShell) tc(words []string) (string, string, int) {
	var out, errb strings.Builder
	code := run(append([]string{"tc", "--socket", sh.sock}, words...), &out, &errb)
	return out.String(), errb.String(), code
}

// splitShellWords splits a command as sh does for the quoting tdc's
// commands use: single and double quotes, backslash escapes outside
// single quotes.
func splitShellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated '")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			in = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated \"")
			}
			in = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}
