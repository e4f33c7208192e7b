package tcsyntax

import (
	"reflect"
	"strings"
	"testing"
	"unsafe"
)

// TestParserReuse checks what a Parser promises a batch: parsing the next
// line leaves the filter of the previous one as it was (only the Command
// is reused), each line gives the same result as a fresh Parse, and a
// kept filter holds no substring of its line (which would keep a whole
// chunk of the batch alive).
func TestParserReuse(t *testing.T) {
	lines := []string{
		"filter add dev eth0 ingress prio 1 protocol ip flower dst_ip 10.1.2.3 action gact drop",
		"filter add dev eth1 egress prio 2 protocol ip flower src_ip 10.0.0.0/8 ip_proto tcp dst_port 80 indev lo action pass action drop",
		"filter add dev eth0 ingress protocol ipv6 flower dst_ip 2001:db8::1/64 action drop classid 1:1",
		"filter add dev eth0 ingress matchall action drop",
		"filter del dev eth0 ingress pref 1",
		"qdisc add dev eth0 root pfifo",
		"filter add dev eth0 ingress flower dst_ip 10.1.2.3 action drop", // error: protocol all
	}
	var p Parser
	var kept []*Command
	var want []string
	for _, l := range lines {
		buf := []byte(l + " ") // the line's own memory, to check nothing points into it
		words := strings.Fields(unsafe.String(&buf[0], len(buf)))
		cmd, err := p.Parse(words)
		fresh, ferr := Parse(strings.Fields(l))
		if (err == nil) != (ferr == nil) || err != nil && err.Error() != ferr.Error() {
			t.Fatalf("%q: Parser says %v, Parse %v", l, err, ferr)
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(cmd, fresh) {
			t.Fatalf("%q: Parser gives %s, Parse %s", l, dump(cmd), dump(fresh))
		}
		if f := cmd.Filter; f != nil {
			lo, hi := uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&buf[0]))+uintptr(len(buf))
			if d := uintptr(unsafe.Pointer(unsafe.StringData(f.Dev))); d >= lo && d < hi {
				t.Errorf("%q: the filter's device name points into the line", l)
			}
		}
		c := *cmd
		kept = append(kept, &c)
		want = append(want, dump(fresh))
		for i := range buf {
			buf[i] = 'x' // the next chunk overwrites the line
		}
	}
	for i, c := range kept {
		if got := dump(c); got != want[i] {
			t.Errorf("command %d changed after later lines: %s, want %s", i, got, want[i])
		}
	}
}

// TestParseIPv4 is get_addr_ipv4's rules: one to four dot-separated
// parts, each a C number in base 0 and at most 255, missing parts zero.
// (The same table passes on the strings.Split version it replaced.)
func TestParseIPv4(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" for an error
	}{
		{"10.1.2.3", "10.1.2.3"},
		{"10", "10.0.0.0"},
		{"10.1", "10.1.0.0"},
		{"0x0a.1", "10.1.0.0"},
		{"010.1.1.1", "8.1.1.1"},
		{"255.255.255.255", "255.255.255.255"},
		{"256.1.1.1", ""},
		{"1.2.3.4.5", ""},
		{"1.2.3.4.", ""},
		{"1..2", ""},
		{".1", ""},
		{"", ""},
		{"1.2.3.x", ""},
		{"08.1.1.1", ""},
	}
	for _, tc := range tests {
		a, ok := parseIPv4(tc.in)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tc.want {
			t.Errorf("parseIPv4(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
