package replay

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

// netemInput writes n UDP frames of 500 bytes, one a millisecond.
func netemInput(t *testing.T, path string, n int) time.Time {
	base := time.Unix(1700000000, 0)
	var in []capFrame
	for i := range n {
		payload := bytes.Repeat([]byte{byte(i)}, 500-14-20-8)
		in = append(in, capFrame{base.Add(time.Duration(i) * time.Millisecond),
			frame(t, wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: uint16(1000 + i), DstPort: 53, Payload: payload})})
	}
	writePcap(t, path, in)
	return base
}

// TestReplayNetemReproducible: a seeded netem replayed twice writes the
// same capture, byte for byte (frames, corruption, timestamps), and the
// same statistics; the counts add up: what left is what came in, less the
// losses, plus the duplicates.
func TestReplayNetemReproducible(t *testing.T) {
	dir := t.TempDir()
	inPath, rules := filepath.Join(dir, "in.pcap"), filepath.Join(dir, "r.tc")
	netemInput(t, inPath, 2000)
	os.WriteFile(rules, []byte("qdisc add dev eth1 root handle 1: netem delay 20ms 5ms distribution normal loss 2% duplicate 1% corrupt 1% reorder 5% seed 7\nqdisc show dev eth1\n"+
		"filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"), 0o644)
	type result struct {
		pcap, stats []byte
		sum         Summary
		show        string
	}
	once := func(name string) result {
		out, stats := filepath.Join(dir, name+".pcap"), filepath.Join(dir, name+".json")
		pool := testutil.Pool(t, pkt.PoolConfig{})
		var show strings.Builder
		sum, err := Run(Config{Rules: rules, In: []Port{{"eth0", inPath}}, Out: []Port{{"eth1", out}}, Stats: stats, Pool: pool, Show: &show})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := os.ReadFile(out)
		s, _ := os.ReadFile(stats)
		return result{p, s, *sum, show.String()}
	}
	a, b := once("a"), once("b")
	if !bytes.Equal(a.pcap, b.pcap) {
		t.Fatal("two replays of a seeded netem wrote different captures")
	}
	if !bytes.Equal(a.stats, b.stats) {
		t.Fatalf("two replays of a seeded netem have different statistics:\n%s\n%s", a.stats, b.stats)
	}
	var st struct {
		Devices map[string]struct {
			Qdiscs []struct {
				Kind                     string
				Packets, Drops, Requeues uint64
				Delayed, Dropped         uint64
				Duplicated, Reordered    uint64
				Corrupted                uint64
			}
		}
	}
	if err := json.Unmarshal(a.stats, &st); err != nil {
		t.Fatal(err)
	}
	q := st.Devices["eth1"].Qdiscs[0]
	written := a.sum.Written["eth1"]
	if q.Kind != "netem" || uint64(written) != q.Packets || written != 2000-int(q.Dropped)+int(q.Duplicated) ||
		q.Drops != q.Dropped || q.Requeues != q.Reordered || q.Dropped == 0 || q.Duplicated == 0 || q.Corrupted == 0 || q.Reordered == 0 {
		t.Errorf("written %d, netem %+v", written, q)
	}
	frames := readPcap(t, filepath.Join(dir, "a.pcap"))
	late := 0
	for i := 1; i < len(frames); i++ {
		if frames[i].ts.Before(frames[i-1].ts) {
			t.Fatalf("frame %d leaves before frame %d", i, i-1)
		}
	}
	for _, f := range frames {
		// The source port says when the frame came in.
		if d := f.ts.Sub(time.Unix(1700000000, 0).Add(time.Duration(int(f.frame[34])<<8|int(f.frame[35])-1000) * time.Millisecond)); d > 40*time.Millisecond {
			late++
		}
	}
	if late > 0 {
		t.Errorf("%d frames left more than 40 ms (delay + 4 jitters) after they came", late)
	}
	if want := "qdisc netem 1: root refcnt 2 limit 1000 delay 20ms  5ms loss 2% duplicate 1% reorder 5% corrupt 1% seed 7 gap 1\n"; a.show != want {
		t.Errorf("qdisc show:\n got %q\nwant %q", a.show, want)
	}
	t.Logf("%d frames, netem %+v", len(frames), q)
}

// TestReplayNetemTree: a tbf under netem (parent 1:1) paces what netem
// delays; a netem under a prio band delays that band.
func TestReplayNetemTree(t *testing.T) {
	dir := t.TempDir()
	inPath := filepath.Join(dir, "in.pcap")
	base := time.Unix(1700000000, 0)
	var in []capFrame
	for i := range 10 {
		in = append(in, capFrame{base, frame(t, wire.FrameSpec{Proto: wire.ProtoUDP, SrcPort: uint16(i), DstPort: 53,
			Payload: bytes.Repeat([]byte{'x'}, 1250-14-20-8)})})
	}
	writePcap(t, inPath, in)
	tests := []struct {
		name, rules string
		at          func(i int) time.Duration
	}{
		{"tbf under netem", "qdisc add dev eth1 root handle 1: netem delay 10ms seed 1\n" +
			"qdisc add dev eth1 parent 1:1 handle 2: tbf rate 10mbit burst 1250 limit 100k\n",
			// netem holds all for 10 ms; then tbf sends one per ms
			// (1250 bytes at 10 Mbit/s), the first from its full bucket.
			func(i int) time.Duration { return 10*time.Millisecond + time.Duration(i)*time.Millisecond }},
		{"netem under prio", "qdisc add dev eth1 root handle 1: prio\n" +
			"qdisc add dev eth1 parent 1:2 handle 2: netem delay 5ms rate 10mbit seed 1\n",
			func(i int) time.Duration { return 5*time.Millisecond + time.Duration(i+1)*time.Millisecond }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, out := filepath.Join(dir, "r.tc"), filepath.Join(dir, "out.pcap")
			os.WriteFile(rules, []byte(tc.rules+"filter add dev eth0 ingress matchall action mirred egress redirect dev eth1\n"+
				"qdisc show dev eth1\nclass show dev eth1\n"), 0o644)
			var show strings.Builder
			pool := testutil.Pool(t, pkt.PoolConfig{})
			if _, err := Run(Config{Rules: rules, In: []Port{{"eth0", inPath}}, Out: []Port{{"eth1", out}}, Pool: pool, Show: &show}); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s", show.String())
			got := readPcap(t, out)
			if len(got) != 10 {
				t.Fatalf("%d frames out, want 10", len(got))
			}
			for i, f := range got {
				if d := f.ts.Sub(base); d != tc.at(i) {
					t.Errorf("frame %d left at +%v, want +%v", i, d, tc.at(i))
				}
			}
		})
	}
}
