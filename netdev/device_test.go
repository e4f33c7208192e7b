package netdev

import (
	"bytes"
	"strings"
	"testing"

	"netyard/internal/testutil"
	"netyard/pkt"
)

// TestValidName: device names are refused as the kernel's dev_valid_name
// refuses interface names (issue 15, item 8: --dev "bad name" was
// accepted).
func TestValidName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"eth0", true},
		{"a", true},
		{"veth-m0.100", true},
		{"fifteen-bytes-x", true},
		{"sixteen-bytes-xx", false},
		{"", false},
		{".", false},
		{"..", false},
		{"...", true},
		{"bad name", false},
		{"tab\tname", false},
		{"new\nline", false},
		{"eth0:1", false},
		{"a/b", false},
		{"nul\x00", false},
	} {
		err := ValidName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidName(%q) = %v, want ok %v", tc.name, err, tc.ok)
		}
		_, nerr := New(1, Config{Name: tc.name})
		if (nerr == nil) != tc.ok {
			t.Errorf("New(%q) = %v, want ok %v", tc.name, nerr, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "name") {
			t.Errorf("ValidName(%q): %q does not say what is wrong", tc.name, err)
		}
	}
}

// TestReceiveShortFrame: frames shorter than an Ethernet header (0, 3 and
// 13 bytes) are counted as RX errors and dropped on receive, on a ring
// device and on an endpoint; 14 bytes and more are received (issue 15,
// item 6).
func TestReceiveShortFrame(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	ring, _ := New(1, Config{Name: "eth0"})
	var got int
	ep := NewEndpoint("host", EndpointFunc(func(p *pkt.Buffer, _ int64) { got++; p.Release() }))
	for _, n := range []int{0, 3, 13, 14, 60} {
		for _, d := range []*Device{ring, ep} {
			p, err := pool.Get()
			if err != nil {
				t.Fatal(err)
			}
			if err := p.SetData(bytes.Repeat([]byte{0xff}, n)); err != nil {
				t.Fatal(err)
			}
			d.Receive(p, 1)
		}
	}
	for _, d := range []*Device{ring, ep} {
		if e := d.Counters.RxErrors.Load(); e != 3 {
			t.Errorf("%s: %d rx errors, want 3", d.Name(), e)
		}
		if dr := d.Counters.RxDropped.Load(); dr != 0 {
			t.Errorf("%s: %d rx drops, want 0 (short frames are errors)", d.Name(), dr)
		}
	}
	if got != 2 {
		t.Errorf("endpoint received %d frames, want 2", got)
	}
	n := 0
	for p := ring.RxRing().Pop(); p != nil; p = ring.RxRing().Pop() {
		if p.Len() < MinFrame {
			t.Errorf("a %d-byte frame reached the RX ring", p.Len())
		}
		p.Release()
		n++
	}
	if n != 2 {
		t.Errorf("%d frames on the RX ring, want 2", n)
	}
	// The buffers come first: the test pool's leak bookkeeping allocates.
	bufs := make([]*pkt.Buffer, 101)
	for i := range bufs {
		bufs[i], _ = pool.Get()
		_ = bufs[i].SetData([]byte{1, 2, 3})
	}
	if a := testing.AllocsPerRun(100, func() {
		ring.Receive(bufs[0], 1)
		bufs = bufs[1:]
	}); a != 0 {
		t.Errorf("dropping a short frame allocates %v times", a)
	}
}
