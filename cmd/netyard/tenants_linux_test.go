package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"netyard/internal/testutil"
)

// TestTenantAuthority is the end-to-end test of issue 12's authority: a
// daemon whose socket every user may open (0666), two tenants with uids of
// their own, and `netyard tc` run as each of them (this test binary again,
// NY_RUN, with SysProcAttr.Credential): the kernel's SO_PEERCRED says who
// connects. Tenant A configures its namespace, then tries every way out
// that the control plane offers; each is refused with EPERM's "permission
// denied", and B's configuration is the same afterwards.
func TestTenantAuthority(t *testing.T) {
	testutil.NeedRoot(t, "runs netyard tc as uids 60001, 60002 and 60003")
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "netyard")
	copyFile(t, os.Args[0], bin)
	sock := filepath.Join(dir, "ctl.sock")
	runTestDaemon(t, daemonConfig{socket: sock, workers: 1, socketMode: 0o666})
	admin := tcOn(sock)
	setup := `netns add a
netns add b
tenant add a uid 60001
tenant add b uid 60002
dev add a0 type memory netns a
dev add a1 type memory netns a
dev add b0 type memory netns b
-n b actions add action gact drop index 1
-n b filter add dev b0 ingress matchall action gact index 1
`
	os.WriteFile(filepath.Join(dir, "setup.tc"), []byte(setup), 0o644)
	if _, e, code := admin("-b", filepath.Join(dir, "setup.tc")); code != 0 {
		t.Fatalf("setup: %s", e)
	}
	bBefore, _, _ := admin("save")
	os.WriteFile(filepath.Join(dir, "evil.tc"), []byte("qdisc show\n-n b filter del dev b0 ingress\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "evil2.tc"), []byte("filter del dev b0 ingress\n"), 0o644)
	as := func(uid uint32, args ...string) (string, string, int) { return asUID(t, bin, sock, uid, args...) }
	// A in its own namespace: with -n, and without (its only one).
	for _, args := range [][]string{
		{"-n", "a", "filter", "add", "dev", "a0", "ingress", "matchall", "action", "mirred", "egress", "redirect", "dev", "a1"},
		{"actions", "add", "action", "gact", "pass", "index", "7"},
		{"dev", "add", "m0", "type", "memory"},
		{"dev", "add", "p0", "type", "veth", "peer", "p1"},
	} {
		if _, e, code := as(60001, args...); code != 0 {
			t.Fatalf("tenant a: tc %v: exit %d: %s", args, code, e)
		}
	}
	if out, e, code := as(60001, "-s", "filter", "show", "dev", "a0", "ingress"); code != 0 || !strings.Contains(out, "a1") {
		t.Fatalf("tenant a lists its filters: exit %d %s%s", code, out, e)
	}
	if out, e, code := as(60001, "actions", "ls", "action", "gact"); code != 0 || !strings.Contains(out, "index 7") {
		t.Fatalf("tenant a dumps its actions: exit %d %s%s", code, out, e)
	}
	// The ways out.
	denied := []struct {
		name string
		uid  uint32
		args []string
	}{
		{"add to B's device", 60001, []string{"-n", "b", "filter", "add", "dev", "b0", "ingress", "matchall", "action", "drop"}},
		{"dump B's actions", 60001, []string{"-n", "b", "actions", "ls", "action", "gact"}},
		{"dump B's filters", 60001, []string{"-n", "b", "filter", "show", "dev", "b0", "ingress"}},
		{"get B's action", 60001, []string{"-n", "b", "actions", "get", "action", "gact", "index", "1"}},
		{"delete B's namespace", 60001, []string{"netns", "del", "b", "all"}},
		{"delete B's device", 60001, []string{"-n", "b", "dev", "del", "b0"}},
		{"a device in B's namespace", 60001, []string{"dev", "add", "z", "type", "memory", "netns", "b"}},
		{"a pair into B's namespace", 60001, []string{"dev", "add", "q0", "type", "veth", "peer", "q1", "netns", "b"}},
		{"the default namespace", 60001, []string{"-n", "default", "qdisc", "show"}},
		{"a host interface", 60001, []string{"dev", "add", "h", "type", "afpacket", "link", "lo"}},
		{"its own limits", 60001, []string{"netns", "set", "a", "quantum", "100000"}},
		{"a namespace of its own", 60001, []string{"netns", "add", "c"}},
		{"tenants", 60001, []string{"tenant", "add", "b", "uid", "60001"}},
		{"a batch line in B's namespace", 60001, []string{"-b", filepath.Join(dir, "evil.tc")}},
		{"a batch for B's namespace", 60001, []string{"-n", "b", "-b", filepath.Join(dir, "evil2.tc")}},
		{"a file the daemon would open", 60001, []string{"filter", "add", "dev", "a0", "ingress", "pref", "8", "bpf", "bytecode-file", "/etc/shadow"}},
		{"an object the daemon would open", 60001, []string{"filter", "add", "dev", "a0", "ingress", "pref", "8", "bpf", "object-file", "/etc/passwd", "da"}},
		{"a bpf action's file", 60001, []string{"actions", "add", "action", "bpf", "bcf", "/etc/shadow"}},
		{"no tenant at all", 60003, []string{"qdisc", "show"}},
		{"no tenant, dumps", 60003, []string{"actions", "ls", "action", "gact"}},
	}
	for _, d := range denied {
		out, e, code := as(d.uid, d.args...)
		if code == 0 || !strings.Contains(e, "permission denied") {
			t.Errorf("%s: tc %v as %d: exit %d, want a refusal: %s%s", d.name, d.args, d.uid, code, out, e)
		}
	}
	// A redirect to B's device names a device A's namespace lacks.
	if _, e, code := as(60001, "filter", "add", "dev", "a0", "ingress", "pref", "9", "matchall", "action", "mirred", "egress", "redirect", "dev", "b0"); code == 0 || !strings.Contains(e, "b0") {
		t.Errorf("a redirect to B's device: exit %d %s", code, e)
	}
	// What tenant a sees of the namespaces: its own.
	if out, e, code := as(60001, "netns", "show"); code != 0 || strings.Contains(out, "netns b") || !strings.Contains(out, "netns a") {
		t.Errorf("tenant a's netns show: exit %d %s%s", code, out, e)
	}
	bAfter, _, _ := admin("save")
	if got, want := section(bAfter, "-n b "), section(bBefore, "-n b "); got != want {
		t.Errorf("B's configuration changed:\n%s\n--- before:\n%s", got, want)
	}
	// B still works as itself.
	if out, e, code := as(60002, "actions", "ls", "action", "gact"); code != 0 || !strings.Contains(out, "index 1") {
		t.Errorf("tenant b: exit %d %s%s", code, out, e)
	}
}

func section(s, prefix string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		if strings.HasPrefix(l, prefix) {
			b.WriteString(l)
		}
	}
	return b.String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
