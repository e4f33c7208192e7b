package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestGenFlags: gen's one parser refuses bad input with a message that
// names the flag, and fills in the bounds and defaults.
func TestGenFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string // in the error; "" for success
	}{
		{[]string{}, "give the interface"},
		{[]string{"-i", "eth0", "extra"}, "unexpected argument"},
		{[]string{"-i", "a/b"}, "interface name"},
		{[]string{"-i", "eth0", "--count-rx", "eth1"}, "one or the other"},
		{[]string{"--count-rx", "eth1", "--rate", "1000"}, "--rate is for sending"},
		{[]string{"--count-rx", "eth1", "--duration", "0s"}, "--duration 0s"},
		{[]string{"--count-rx", "eth1", "--wait", "-1s"}, "--wait"},
		{[]string{"-i", "eth0", "--wait", "1s"}, "--wait is for --count-rx"},
		{[]string{"-i", "eth0", "--dst-mac", "zz"}, "--dst-mac"},
		{[]string{"-i", "eth0", "--src-mac", "01:02:03:04:05:06:07:08"}, "--src-mac"},
		{[]string{"-i", "eth0", "--src-ip", "::1"}, "not an IPv4 address"},
		{[]string{"-i", "eth0", "--dst-ip", "300.1.1.1"}, "--dst-ip"},
		{[]string{"-i", "eth0", "--sport", "70000"}, "ports are 0..65535"},
		{[]string{"-i", "eth0", "--sport", "65535", "--flows", "2"}, "--flows 2"},
		{[]string{"-i", "eth0", "--flows", "0"}, "--flows 0"},
		{[]string{"-i", "eth0", "--size", "41"}, "--size 41"},
		{[]string{"-i", "eth0", "--size", "10000"}, "--size 10000"},
		{[]string{"-i", "eth0", "--rate", "fast"}, "--rate \"fast\""},
		{[]string{"-i", "eth0", "--rate", "-5"}, "--rate"},
		{[]string{"-i", "eth0", "--count", "1.5"}, "not a whole number"},
		{[]string{"-i", "eth0", "--count", "1e30"}, "--count"},
		{[]string{"-i", "eth0", "--duration", "0s"}, "--duration 0s"},
		{[]string{"-i", "eth0", "--duration", "-1s"}, "--duration"},
		{[]string{"-i", "eth0", "--batch", "0"}, "--batch 0"},
		{[]string{"-i", "eth0", "--batch", "5000"}, "--batch 5000"},
		{[]string{"-i", "eth0", "--pcap", "x.pcap", "--size", "100"}, "with --pcap"},
		{[]string{"-i", "eth0", "--nosuchflag"}, "flag provided but not defined"},
		{[]string{"-i", "eth0"}, ""},
		{[]string{"--count-rx", "eth0"}, ""},
	} {
		_, err := parseGen(tc.args, io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("gen %q: %v", tc.args, err)
		case tc.want != "" && err == nil:
			t.Errorf("gen %q: no error, want one with %q", tc.args, tc.want)
		case tc.want != "" && !strings.Contains(err.Error(), tc.want):
			t.Errorf("gen %q: %v, want %q in it", tc.args, err, tc.want)
		}
	}
	// Usage errors exit 2 with a message.
	var out, errb strings.Builder
	if code := run([]string{"gen", "-i", "eth0", "--size", "1"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--size 1") {
		t.Errorf("netyard gen --size 1: exit %d, stderr %q", code, errb.String())
	}

	c, err := parseGen([]string{"-i", "eth0", "--rate", "1.2M", "--count", "800k", "--flows", "4"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.rate != 1.2e6 || c.count != 800000 || c.duration != 0 || c.flows != 4 || c.size != 60 || c.batch != 64 {
		t.Errorf("parsed %+v", c)
	}
	// Always bounded: neither --count nor --duration means 10 s.
	if c, err := parseGen([]string{"-i", "eth0"}, io.Discard); err != nil || c.duration != 10*time.Second {
		t.Errorf("default bound: %v, %v; want --duration 10s", c.duration, err)
	}
}

// TestGenFrames: the template is UDP/IPv4 over Ethernet, of the size
// asked, one frame per flow with consecutive source ports.
func TestGenFrames(t *testing.T) {
	c, err := parseGen([]string{"-i", "eth0", "--src-mac", "02:00:00:00:00:01", "--dst-mac", "02:00:00:00:00:02",
		"--size", "128", "--flows", "3", "--sport", "1000", "--dport", "7"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	frames, err := genFrames(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 3 {
		t.Fatalf("%d frames for 3 flows", len(frames))
	}
	for i, f := range frames {
		if len(f) != 128 {
			t.Errorf("frame %d: %d bytes, want 128", i, len(f))
		}
		if sport := int(f[34])<<8 | int(f[35]); sport != 1000+i {
			t.Errorf("frame %d: source port %d, want %d", i, sport, 1000+i)
		}
	}
}

// FuzzGenFlags: no argument list makes gen's parser panic, and what it
// accepts is within gen's bounds.
func FuzzGenFlags(f *testing.F) {
	for _, s := range []string{"-i eth0 --rate 1.2M --count 800k", "--count-rx eth0 --wait 1s", "-i eth0 --size 9216 --flows 65536 --sport 0", "-i x --rate 1e3k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := parseGen(strings.Fields(s), io.Discard)
		if err != nil || c.countRx != "" {
			return
		}
		if c.size < genMinSize || c.size > genMaxSize || c.batch < 1 || c.batch > genMaxBatch || c.flows < 1 ||
			int(c.sport)+c.flows-1 > 0xffff || (c.count == 0 && c.duration <= 0) || c.rate < 0 {
			t.Fatalf("accepted %q as %+v", s, c)
		}
	})
}
