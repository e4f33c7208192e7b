package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

// NeedRoot skips a test that needs root, except in CI (CI=true), which
// runs as root: there a skip would hide a broken test, so it fails.
func NeedRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI runs as root, and this test must run there (%s)", why)
	}
	tb.Skipf("needs root: %s", why)
}

// NeedTools skips a test whose programs (ip, ping, sysctl) are not
// installed, saying which and how to get them, except in CI (CI=true),
// where .ci/setup installs them: there a skip would hide a broken setup,
// so it fails. bash test.sh runs .ci/setup itself when root.
func NeedTools(tb testing.TB, tools ...string) {
	tb.Helper()
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s not installed (.ci/setup installs iproute2, iputils-ping and procps; bash test.sh runs it as root)", strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI must have every tool: %s", msg)
	} else {
		tb.Skipf("%s", msg)
	}
}

var netnsSeq atomic.Int32

// Netns is a network namespace a test made; it is deleted when the test
// ends, failed or not.
type Netns struct {
	Name string
	tb   testing.TB
}

// NewNetns makes a network namespace named after prefix, the process and
// a counter, with lo up and IPv6 off (no autoconfiguration chatter on the
// test's links).
func NewNetns(tb testing.TB, prefix string) *Netns {
	tb.Helper()
	NeedTools(tb, "ip", "sysctl")
	ns := &Netns{Name: fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), netnsSeq.Add(1)), tb: tb}
	Cmd(tb, "ip", "netns", "add", ns.Name)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.IP("link", "set", "lo", "up")
	ns.Exec("sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	return ns
}

// Exec runs a command in the namespace and fails the test if it fails.
func (ns *Netns) Exec(name string, args ...string) string {
	ns.tb.Helper()
	return Cmd(ns.tb, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// IP runs "ip -n NS ARGS..." (inside "ip netns exec", ip cannot name
// other namespaces: "netns X" fails there).
func (ns *Netns) IP(args ...string) string {
	ns.tb.Helper()
	return Cmd(ns.tb, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// Enter moves the calling goroutine's thread into the namespace, for
// sockets and devices made from it. The thread stays locked and never
// comes back: it ends with the goroutine, so no other goroutine runs in
// the namespace by accident. Call it on a goroutine of its own.
func (ns *Netns) Enter() error {
	runtime.LockOSThread()
	f, err := os.Open("/var/run/netns/" + ns.Name)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWNET)
}

// Do runs fn on a fresh goroutine whose thread has entered the
// namespace, and returns its error: sockets and files fn opens belong to
// the namespace. The namespace's file is closed before fn runs, so file
// descriptor counts taken in fn are exact.
func (ns *Netns) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		if err := ns.Enter(); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Cmd runs a command and fails the test if it fails; it returns the
// output.
func Cmd(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
