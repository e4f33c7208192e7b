package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pcapOneFrame is a pcap file (microseconds, Ethernet) with one 60-byte
// frame: what tcpdump -w writes.
func pcapOneFrame() []byte {
	b := []byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0}
	b = append(b, 1, 0, 0, 0, 0, 0, 0, 0, 60, 0, 0, 0, 60, 0, 0, 0)
	frame := make([]byte, 60)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x00})
	return append(b, frame...)
}

// TestReplayCommandChecks: netyard replay refuses device names the kernel
// would refuse, before anything runs (issue 15, item 8); a cut capture
// fails with a message saying where, unless --accept-truncated (item 4);
// show commands in the rules print on stderr (item 5); the summary lists
// each device's qdiscs (item 2).
func TestReplayCommandChecks(t *testing.T) {
	dir := t.TempDir()
	in, cut, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "cut.pcap"), filepath.Join(dir, "r.tc")
	whole := pcapOneFrame()
	os.WriteFile(in, whole, 0o644)
	os.WriteFile(cut, whole[:len(whole)-1], 0o644)
	os.WriteFile(rules, []byte("filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\nqdisc show dev eth1\n"), 0o644)
	out := filepath.Join(dir, "out.pcap")
	for _, c := range []struct {
		name   string
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{"dev with a space", []string{"--dev", "bad name", "--in", "eth0=" + in}, 2, `"bad name"`, ""},
		{"dev with a colon", []string{"--dev", "eth0:1", "--in", "eth0=" + in}, 2, `"eth0:1"`, ""},
		{"in dev too long", []string{"--in", "sixteen-bytes-xx=" + in}, 2, "at most 15", ""},
		{"out dev dot", []string{"--in", "eth0=" + in, "--out", "..=" + out}, 2, `".."`, ""},
		{"two outs one file", []string{"-c", rules, "--in", "eth0=" + in, "--dev", "eth1", "--out", "eth1=" + out, "--out", "eth0=" + out}, 1, "name one file", ""},
		{"cut", []string{"-c", rules, "--in", "eth0=" + cut, "--out", "eth1=" + out}, 1, "cut short: 0 whole records replayed; record 1 starts at byte 24", "in  eth0"},
		{"cut accepted", []string{"-c", rules, "--in", "eth0=" + cut, "--out", "eth1=" + out, "--accept-truncated"}, 0, "cut short", "in  eth0"},
		{"show", []string{"-c", rules, "--in", "eth0=" + in, "--out", "eth1=" + out}, 0, "qdisc pfifo 0: root", "qdisc pfifo 0: root: sent 1 packets (dropped 0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			os.Remove(out)
			var stdout, stderr strings.Builder
			code := run(append([]string{"replay"}, c.args...), &stdout, &stderr)
			if code != c.code || !strings.Contains(stderr.String(), c.stderr) || !strings.Contains(stdout.String(), c.stdout) {
				t.Errorf("exit %d (want %d)\nstdout %q (want %q)\nstderr %q (want %q)", code, c.code, stdout.String(), c.stdout, stderr.String(), c.stderr)
			}
			if _, err := os.Stat(out); err == nil && code == 2 || c.name == "two outs one file" && err == nil {
				t.Errorf("%s left behind", out)
			}
		})
	}
}
