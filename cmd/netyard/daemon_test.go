package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDaemonAndTC runs the daemon on a socket in a temp dir and drives it
// with `netyard tc`: a batch sent by the client, show with -s and -j,
// errors with tc's wording, and a clean stop.
func TestDaemonAndTC(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	rules := filepath.Join(dir, "rules.tc")
	os.WriteFile(rules, []byte("qdisc add dev eth0 clsact\n"), 0o644)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	cfg := daemonConfig{socket: sock, rules: rules, devs: nameList{"eth0", "eth1"}, workers: 2}
	go func() { done <- runDaemon(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v, want 0600", err, fi.Mode().Perm())
	}
	tc := func(args ...string) (string, string, int) {
		var out, errb strings.Builder
		code := run(append([]string{"tc", "--socket", sock}, args...), &out, &errb)
		return out.String(), errb.String(), code
	}
	batch := filepath.Join(dir, "b.tc")
	os.WriteFile(batch, []byte("filter add dev eth0 ingress protocol ip flower ip_proto udp dst_port 53 action mirred egress redirect dev eth1\nactions add action gact drop index 9\n"), 0o644)
	if _, e, code := tc("-b", batch); code != 0 {
		t.Fatalf("batch: exit %d: %s", code, e)
	}
	out, e, code := tc("-s", "filter", "show", "dev", "eth0", "ingress")
	if code != 0 || !strings.Contains(out, "mirred (Egress Redirect to device eth1) stolen") || !strings.Contains(out, "Action statistics") {
		t.Fatalf("filter show: exit %d\n%s%s", code, out, e)
	}
	out, _, code = tc("-j", "actions", "ls", "action", "gact")
	if code != 0 || !strings.Contains(out, `"index":9`) {
		t.Fatalf("actions ls -j: exit %d: %s", code, out)
	}
	// tc's exit statuses travel from the daemon (AttrExitStatus): 255
	// for a line tc's own grammar cannot parse and for refused action commands
	// (m_action.c returns -1), 2 for refused qdisc, class and filter
	// commands (rtnl_talk failed), 1 for "Cannot find device".
	for _, c := range []struct {
		args   string
		status int
		says   string
	}{
		{"filter add dev eth0 ingress pref many matchall", 255, "pref"},
		// A kind's own options: tc's "if (q->parse_fopt(...)) return 1".
		{"filter add dev eth0 ingress flower dst_prot 53", 1, "dst_prot"},
		{"qdisc add dev eth0 root frobnicate", 255, "frobnicate"},
		{"actions del action gact index 77", 255, "We have an error talking to the kernel"},
		{"actions add action gact drop index 9", 255, "Error"},
		{"qdisc add dev eth0 clsact", 2, "Error: Exclusivity flag on, cannot modify.\n"},
		{"qdisc del dev eth0 root", 2, "Error: Cannot delete qdisc with handle of zero.\n"},
		{"filter del dev eth0 ingress pref 7 handle 1 flower", 2, "We have an error talking to the kernel"},
		{"qdisc add dev nope root pfifo", 1, "Cannot find device \"nope\"\n"},
		{"qdisc show dev eth0", 0, ""},
	} {
		_, e, code := tc(strings.Fields(c.args)...)
		if code != c.status || !strings.Contains(e, c.says) {
			t.Errorf("tc %s: exit %d, stderr %q; want exit %d saying %q", c.args, code, e, c.status, c.says)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("daemon stopped with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("daemon did not stop")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Error("socket left behind")
	}
	if _, e, code := tc("qdisc", "show"); code == 0 || !strings.Contains(e, "daemon running") {
		t.Errorf("tc without a daemon: exit %d, stderr %q", code, e)
	}
}
