package tcsyntax

import (
	"testing"
	"time"
)

// The unit and handle parsers against the values iproute2's get_rate64,
// get_size, get_time, get_tc_classid and ll_proto_a2n give, and the
// printers against its sprint_* output.

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		want uint64 // bytes per second
	}{
		{"100", 12},              // bits, fraction of a byte dropped
		{"8bit", 1},              //
		{"1kbit", 125},           // SI
		{"10Mbit", 1250000},      // suffixes ignore case
		{"1Kibit", 128},          // IEC
		{"1mibit", 131072},       //
		{"1gbit", 125000000},     //
		{"1gibit", 134217728},    //
		{"1tbit", 125000000000},  //
		{"1bps", 1},              // bps is bytes per second
		{"1kbps", 1000},          //
		{"1KiBps", 1024},         //
		{"1mbps", 1000000},       //
		{"2.5mbit", 312500},      // fractions
		{"1e3kbit", 125000},      // exponents, as strtod
		{".5mbit", 62500},        //
		{"1TBps", 1000000000000}, //
		{"100gbit", 12500000000}, // beyond 32 bits (get_rate64)
		{"0bit", 0},              //
	}
	for _, tc := range tests {
		got, err := ParseRate(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "mbit", "-1mbit", "1 mbit", "1xbit", "1e", "inf", "nan", "0x10", "1mbitt", "1e30tbit"} {
		if got, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) = %d, want an error", bad, got)
		}
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		bytes uint64
		iec   bool
		want  string
	}{
		{125000, false, "1Mbit"},
		{1250000, false, "10Mbit"},
		{187500, false, "1500Kbit"}, // 1.5mbit: not a whole Mbit, below 1000 Mbit
		{8, false, "64bit"},
		{1, false, "8bit"},
		{125, false, "1Kbit"},
		{1000, false, "8Kbit"},
		{125000000000, false, "1Tbit"},
		{125000000000000, false, "1000Tbit"},
		{128, true, "1Kibit"},
		{125, true, "1000bit"}, // no "i" without a prefix
		{0, false, "0bit"},
	}
	for _, tc := range tests {
		if got := FormatRate(tc.bytes, tc.iec); got != tc.want {
			t.Errorf("FormatRate(%d, %v) = %q, want %q", tc.bytes, tc.iec, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"1500", 1500}, {"1500b", 1500}, {"10k", 10240}, {"10kb", 10240}, {"10K", 10240},
		{"1m", 1048576}, {"1MB", 1048576}, {"1g", 1073741824}, {"8kbit", 1024},
		{"1mbit", 131072}, {"1gbit", 134217728}, {"1.5k", 1536}, {"0", 0},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	// 1.5b is not a whole byte; 5g does not fit 32 bits.
	for _, bad := range []string{"", "k", "1.5b", "5g", "10kib", "-1k", "1 k", "0x10"} {
		if got, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
	if got, err := ParseSize64("5g"); err != nil || got != 5<<30 {
		t.Errorf("ParseSize64(5g) = %d, %v", got, err)
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{1500, "1500b"}, {1024, "1Kb"}, {10240, "10Kb"}, {1536, "1536b"},
		{1030, "1Kb"},       // within 16 bytes of 1Kb
		{1040, "1040b"},     // not
		{1048576, "1Mb"},    //
		{1049000, "1Mb"},    // within 1024 bytes of 1Mb
		{2040, "2Kb"},       // police's default mtu
		{4294967295, "4Gb"}, //
		{0, "0b"}, {10, "10b"},
		{1234567 * 1024 * 1024, "1.23457e+06Mb"}, // C's %g
	}
	for _, tc := range tests {
		if got := FormatSize(tc.in); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"5ms", 5 * time.Millisecond}, {"100", 100 * time.Microsecond}, {"1s", time.Second},
		{"1.5sec", 1500 * time.Millisecond}, {"250usecs", 250 * time.Microsecond},
		{"1MS", time.Millisecond}, {"2secs", 2 * time.Second}, {"0.5us", 0},
	}
	for _, tc := range tests {
		got, err := ParseTime(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "5ns", "5 ms", "5000s", "ms", "-1ms"} {
		if got, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}

func TestFormatTime(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{5 * time.Millisecond, "5ms"}, {100 * time.Millisecond, "100ms"}, {1500 * time.Millisecond, "1.5s"},
		{250 * time.Microsecond, "250us"}, {1234567 * time.Microsecond, "1.23s"}, {999 * time.Microsecond, "999us"},
		{0, "0us"}, {1000 * time.Second, "1e+03s"},
	}
	for _, tc := range tests {
		if got := FormatTime(tc.in); got != tc.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestClassID(t *testing.T) {
	tests := []struct {
		in    string
		want  uint32
		print string
	}{
		{"1:2", 0x10002, "1:2"}, {":5", 5, ":5"}, {"1:", 0x10000, "1:"},
		{"root", 0xffffffff, "root"}, {"none", 0, "none"},
		{"10", 0x10, ":10"}, // a bare number is not shifted
		{"ffff:fff1", 0xfffffff1, "ffff:fff1"}, {"0x1:0x2", 0x10002, "1:2"},
	}
	for _, tc := range tests {
		got, err := ParseClassID(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseClassID(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
		if s := FormatClassID(got); s != tc.print {
			t.Errorf("FormatClassID(%#x) = %q, want %q", got, s, tc.print)
		}
	}
	for _, bad := range []string{"1:2:3", "10000:1", "g:1", "1:10000", "", "1:x"} {
		if got, err := ParseClassID(bad); err == nil {
			t.Errorf("ParseClassID(%q) = %#x, want an error", bad, got)
		}
	}
}

func TestQdiscHandle(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"1:", 0x10000}, {"ffff:", 0xffff0000}, {"8001", 0x80010000}, {"1:5", 0x10000}, {"none", 0},
	}
	for _, tc := range tests {
		if got, err := ParseQdiscHandle(tc.in); err != nil || got != tc.want {
			t.Errorf("ParseQdiscHandle(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"10000:", "x:", "", ":"} {
		if got, err := ParseQdiscHandle(bad); err == nil {
			t.Errorf("ParseQdiscHandle(%q) = %#x, want an error", bad, got)
		}
	}
}

func TestProtocol(t *testing.T) {
	tests := []struct {
		in    string
		want  uint16
		print string
	}{
		{"ip", 0x0800, "ip"}, {"ipv4", 0x0800, "ip"}, {"IPv6", 0x86dd, "ipv6"},
		{"802.1q", 0x8100, "802.1Q"}, {"802.1AD", 0x88a8, "802.1ad"}, {"all", 3, "all"},
		{"arp", 0x0806, "arp"}, {"0x88cc", 0x88cc, "LLDP"}, {"2048", 0x0800, "ip"},
		{"0x1234", 0x1234, "[4660]"},
	}
	for _, tc := range tests {
		got, err := ParseProtocol(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseProtocol(%q) = %#x, %v; want %#x", tc.in, got, err, tc.want)
		}
		if s := FormatProtocol(got); s != tc.print {
			t.Errorf("FormatProtocol(%#x) = %q, want %q", got, s, tc.print)
		}
	}
	for _, bad := range []string{"ipx6", "0x10000", "", "-1"} {
		if got, err := ParseProtocol(bad); err == nil {
			t.Errorf("ParseProtocol(%q) = %#x, want an error", bad, got)
		}
	}
}

func TestMatches(t *testing.T) {
	tests := []struct {
		word, keyword string
		want          bool
	}{
		{"qd", "qdisc", true}, {"qdisc", "qdisc", true}, {"qdiscs", "qdisc", false},
		{"", "qdisc", false}, {"x", "qdisc", false}, {"Qd", "qdisc", false},
	}
	for _, tc := range tests {
		if got := matches(tc.word, tc.keyword); got != tc.want {
			t.Errorf("matches(%q, %q) = %v", tc.word, tc.keyword, got)
		}
	}
}

func TestParseUint(t *testing.T) {
	tests := []struct {
		in   string
		base int
		want uint64
		ok   bool
	}{
		{"010", 0, 8, true}, {"0x1f", 0, 31, true}, {"0X1F", 0, 31, true}, {"0", 0, 0, true},
		{"0x", 0, 0, false}, {"08", 0, 0, false}, {"+1", 10, 0, false}, {" 1", 10, 0, false},
		{"ff", 16, 255, true}, {"0xff", 16, 255, true}, {"4294967296", 10, 0, false},
		{"4294967295", 10, 4294967295, true}, {"", 10, 0, false},
	}
	for _, tc := range tests {
		got, ok := parseUint(tc.in, tc.base, 1<<32-1)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parseUint(%q, %d) = %d, %v; want %d, %v", tc.in, tc.base, got, ok, tc.want, tc.ok)
		}
	}
}
