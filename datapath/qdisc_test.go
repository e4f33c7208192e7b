package datapath

import (
	"netyard/qdisc"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"netyard/tcsyntax"
)

func (r *rig) tc(line string) (string, error) {
	var out, errb strings.Builder
	err := tcsyntax.Run(r.ns, strings.Fields(line), &out, &errb)
	return out.String(), err
}

func (r *rig) mustTC(line string) string {
	r.t.Helper()
	out, err := r.tc(line)
	if err != nil {
		r.t.Fatalf("tc %s: %v", line, err)
	}
	return out
}

// TestMQPrioQueueSelection: with mqprio on a 4-queue device, a packet's
// priority picks its traffic class's queues, the packet is queued in that
// queue's child qdisc, and tc shows the queues and classes.
func TestMQPrioQueueSelection(t *testing.T) {
	r := newRig(t, "eth0", "out")
	r.mustTC("link set dev out txqueues 4")
	// Priorities 0-5 -> tc 0 (queues 0-2), 6-7 -> tc 1 (queue 3).
	r.mustTC("qdisc add dev out root handle 1: mqprio num_tc 2 map 0 0 0 0 0 0 1 1 0 0 0 0 0 0 0 0 queues 3@0 1@3 hw 0")
	r.mustTC("qdisc add dev out parent 1:4 handle 40: fq_codel")
	r.mustTC("filter add dev eth0 ingress pref 1 protocol ip flower ip_proto udp dst_port 53 action skbedit priority 6 pipe action mirred egress redirect dev out")
	r.mustTC("filter add dev eth0 ingress pref 2 protocol ip matchall action mirred egress redirect dev out")
	r.inject("eth0", udpFrameTo(t, 53))
	r.inject("eth0", udpFrameTo(t, 80))
	if len(r.sent["out"]) != 2 {
		t.Fatalf("out sent %d frames, want 2", len(r.sent["out"]))
	}
	qs := r.mustTC("-s qdisc show dev out")
	if !strings.Contains(qs, "qdisc mqprio 1: root") || !strings.Contains(qs, "qdisc fq_codel 40: parent 1:4") {
		t.Fatalf("qdisc show:\n%s", qs)
	}
	// The priority-6 packet went through queue 3's fq_codel.
	fq := qs[strings.Index(qs, "qdisc fq_codel 40:"):]
	if !strings.Contains(fq, "Sent 82 bytes 1 pkt") {
		t.Errorf("queue 3's fq_codel did not see the priority-6 packet:\n%s", fq)
	}
	cs := r.mustTC("class show dev out")
	for _, want := range []string{"class mqprio 1:ffe0 root", "class mqprio 1:ffe1 root", "class mqprio 1:4 parent 1:ffe1 leaf 40:"} {
		if !strings.Contains(cs, want) {
			t.Errorf("class show lacks %q:\n%s", want, cs)
		}
	}
	if _, err := r.tc("link set dev out txqueues 2"); err == nil {
		t.Error("changing txqueues under an mqprio root: no error")
	}
	if _, err := r.tc("qdisc add dev out parent 1:9 pfifo"); err == nil {
		t.Error("graft onto a queue the device lacks: no error")
	}
	r.mustTC("qdisc del dev out root")
	r.mustTC("link set dev out txqueues 2")
}

// TestFQCodelRootStats: fq_codel as a root qdisc through tc, with its
// statistics and flows (classes) shown as tc shows them.
func TestFQCodelRootStats(t *testing.T) {
	r := newRig(t, "eth0", "out")
	r.mustTC("qdisc replace dev out root handle 1: fq_codel")
	r.mustTC("link set dev out rate 1mbit")
	r.mustTC("filter add dev eth0 ingress matchall action mirred egress redirect dev out")
	for range 5 {
		r.inject("eth0", udpFrame(t))
	}
	// The link is slow: most of the burst is still queued.
	qs := r.mustTC("-s qdisc show dev out")
	if !strings.Contains(qs, "qdisc fq_codel 1: root") || !strings.Contains(qs, "new_flow_count 1") || !strings.Contains(qs, "backlog") {
		t.Fatalf("qdisc show:\n%s", qs)
	}
	cs := r.mustTC("-s class show dev out")
	if !strings.Contains(cs, "class fq_codel 1:") || !strings.Contains(cs, "deficit") {
		t.Fatalf("class show:\n%s", cs)
	}
	// Let the link drain in virtual time.
	for w := r.e.NextWake(); w > 0; w = r.e.NextWake() {
		r.clk.Set(w)
		r.e.Run()
	}
	if len(r.sent["out"]) != 5 {
		t.Fatalf("sent %d, want 5 once the link drained", len(r.sent["out"]))
	}
	lk := r.mustTC("link show dev out")
	if !strings.Contains(lk, "rate 1Mbit") {
		t.Errorf("link show: %q", lk)
	}
}

// TestTBFShapes: tbf as the root holds packets back; NextWake tells a
// virtual-time driver when to come back, and they leave at the rate.
func TestTBFShapes(t *testing.T) {
	r := newRig(t, "eth0", "out")
	r.mustTC("qdisc add dev out root handle 1: tbf rate 1mbit burst 1600 limit 100kb")
	r.mustTC("qdisc add dev out parent 1:1 handle 10: pfifo limit 50")
	r.mustTC("filter add dev eth0 ingress matchall action mirred egress redirect dev out")
	big := append(udpFrame(t), make([]byte, 1000-len(udpFrame(t)))...) // 1000 bytes, padded after the IP packet
	for range 4 {
		r.inject("eth0", big)
	}
	if n := len(r.sent["out"]); n != 1 {
		t.Fatalf("%d sent at once, want 1 (the burst holds one frame)", n)
	}
	start := r.clk.Now()
	for w := r.e.NextWake(); w > 0; w = r.e.NextWake() {
		r.clk.Set(w)
		r.e.Run()
	}
	s := r.sent["out"]
	if len(s) != 4 {
		t.Fatalf("%d sent, want 4", len(s))
	}
	// 1000-byte frames at 125000 bytes/s take 8 ms of tokens each. The
	// first leaves on the 1600-byte bucket, which keeps 600: the second
	// waits for 400 more (3.2 ms), the others 8 ms each.
	for i, want := range []int64{0, 3_200_000, 8_000_000, 8_000_000} {
		if i == 0 {
			continue
		}
		if gap := s[i].time - s[i-1].time; gap != want {
			t.Errorf("frame %d left %d ns after the one before, want %d", i, gap, want)
		}
	}
	if s[3].time-start != 19_200_000 {
		t.Errorf("last frame at +%d ns, want +19.2 ms", s[3].time-start)
	}
	if qs := r.mustTC("qdisc show dev out"); !strings.Contains(qs, "qdisc pfifo 10: parent 1:1") {
		t.Errorf("grafted child not shown:\n%s", qs)
	}
}

// TestQdiscDeleteSelectors: deleting under a class gives the class its
// default child back and leaves the root; a handle that is not the root's
// deletes nothing; replacing the root forgets the old root's children.
func TestQdiscDeleteSelectors(t *testing.T) {
	r := newRig(t, "out")
	r.mustTC("qdisc add dev out root handle 1: prio")
	r.mustTC("qdisc add dev out parent 1:3 handle 30: tbf rate 1mbit burst 10kb latency 50ms")
	if _, err := r.tc("qdisc del dev out root handle 77:"); err == nil {
		t.Error("del root with another handle: no error")
	}
	r.mustTC("qdisc del dev out parent 1:3")
	qs := r.mustTC("qdisc show dev out")
	if !strings.Contains(qs, "qdisc prio 1: root") || strings.Contains(qs, "tbf") {
		t.Fatalf("after deleting the band's child:\n%s", qs)
	}
	if _, err := r.tc("qdisc del dev out parent 1:3"); err == nil {
		t.Error("deleting a band's default child: no error")
	}
	r.mustTC("qdisc add dev out parent 1:2 handle 20: pfifo limit 5")
	r.mustTC("qdisc replace dev out root handle 1: prio bands 4")
	if qs := r.mustTC("qdisc show dev out"); strings.Contains(qs, "20:") {
		t.Fatalf("a replaced root's child is still listed:\n%s", qs)
	}
}

// TestSetRateEndsOldFrame: raising a link's rate does not keep it busy for
// the time the old, slow rate gave the frame on the wire.
func TestSetRateEndsOldFrame(t *testing.T) {
	r := newRig(t, "eth0", "out")
	r.mustTC("link set dev out rate 8bit") // 1 byte a second
	r.mustTC("filter add dev eth0 ingress matchall action mirred egress redirect dev out")
	r.inject("eth0", udpFrame(t))
	r.inject("eth0", udpFrame(t))
	if len(r.sent["out"]) != 1 {
		t.Fatalf("sent %d, want 1 while the slow link is busy", len(r.sent["out"]))
	}
	r.mustTC("link set dev out rate 1gbit")
	now := r.clk.Now()
	r.inject("eth0", udpFrame(t))
	for w := r.e.NextWake(); w > 0; w = r.e.NextWake() {
		r.clk.Set(w)
		r.e.Run()
	}
	s := r.sent["out"]
	if len(s) != 3 {
		t.Fatalf("sent %d, want 3", len(s))
	}
	// Two 82-byte frames at 1 Gbit/s: 656 ns each, not the 82 s the old
	// rate had given the frame on the wire.
	if d := s[2].time - now; d > 2000 {
		t.Fatalf("the last frame left %d ns after the rate went up, want ~1.3 µs", d)
	}
}

// TestAddQdiscNoKind: a qdisc without a kind is an error, not a panic.
func TestAddQdiscNoKind(t *testing.T) {
	r := newRig(t, "eth0")
	if err := r.ns.AddQdisc(&qdisc.Spec{Dev: "eth0", Parent: qdisc.HandleRoot}, tcsyntax.ModeAdd); err == nil {
		t.Fatal("no error")
	}
	if err := r.ns.AddQdisc(nil, tcsyntax.ModeAdd); err == nil {
		t.Fatal("nil spec: no error")
	}
}

// TestMQNextReadyUnshapedChild: under mq, a queue without a shaper that
// holds packets is ready now, whatever a shaped sibling waits for.
func TestMQNextReadyUnshapedChild(t *testing.T) {
	r := newRig(t, "out")
	r.mustTC("link set dev out txqueues 2")
	r.mustTC("qdisc add dev out root handle 1: mq")
	r.mustTC("qdisc add dev out parent 1:1 handle 10: tbf rate 8bit burst 2000 limit 100kb")
	d, _ := r.ns.Device("out")
	d.txMu.Lock()
	root := d.qdisc.(*mqRoot)
	p, _ := r.pool.Get()
	_ = p.SetData(udpFrame(t))
	p.QueueMapping = 1
	root.Enqueue(p, r.clk.Now())
	got := root.NextReady(r.clk.Now())
	d.txMu.Unlock()
	if got != r.clk.Now() {
		t.Fatalf("NextReady %d, want now (%d): the pfifo queue holds a packet", got, r.clk.Now())
	}
	r.e.Run()
	if len(r.sent["out"]) != 1 {
		t.Fatalf("sent %d, want 1", len(r.sent["out"]))
	}
}

// TestHTBShapes: htb as the root shapes in virtual time through NextWake:
// two leaves of 1 Mbit/s under a 3 Mbit/s class, one of them (prio 0)
// allowed to borrow up to 2 Mbit/s, the other (prio 1) capped at its
// rate; unclassified traffic goes to the default class. Over a second of
// backlog the first gets 2 Mbit/s and the second 1, and "tc -s class
// show" counts the borrowing.
func TestHTBShapes(t *testing.T) {
	r := newRig(t, "eth0", "out")
	r.mustTC("qdisc add dev out root handle 1: htb default 11")
	r.mustTC("class add dev out parent 1: classid 1:1 htb rate 3mbit")
	r.mustTC("class add dev out parent 1:1 classid 1:10 htb rate 1mbit ceil 2mbit prio 0")
	r.mustTC("class add dev out parent 1:1 classid 1:11 htb rate 1mbit prio 1")
	r.mustTC("filter add dev eth0 ingress pref 1 protocol ip flower ip_tos 0x10 action skbedit priority 1:10 pipe action mirred egress redirect dev out")
	r.mustTC("filter add dev eth0 ingress pref 2 matchall action mirred egress redirect dev out")
	base := udpFrame(t)
	frame := func(tos byte) []byte {
		f := append(append([]byte(nil), base...), make([]byte, 1000-len(base))...)
		f[15] = tos // the IPv4 TOS byte after a 14-byte Ethernet header
		return f
	}
	// 300 frames of 1000 bytes each way: more than a second's worth.
	for range 300 {
		r.inject("eth0", frame(0x10))
		r.inject("eth0", frame(0))
	}
	start := r.clk.Now()
	end := start + 1_000_000_000
	for w := r.e.NextWake(); w > 0 && w < end; w = r.e.NextWake() {
		r.clk.Set(w)
		r.e.Run()
	}
	var hi, lo int
	for _, s := range r.sent["out"] {
		if s.time <= end && s.time > start+100_000_000 {
			if s.priority == 0x10010 {
				hi++
			} else {
				lo++
			}
		}
	}
	// 0.9 s at 2 and 1 Mbit/s of 1000-byte frames: 225 and 112.5.
	if hi < 222 || hi > 228 || lo < 110 || lo > 115 {
		t.Errorf("in 0.9 s: %d frames of 1:10 (want 225), %d of 1:11 (want 112)", hi, lo)
	}
	out := r.mustTC("-s class show dev out classid 1:10")
	if !strings.Contains(out, "class htb 1:10 parent 1:1 prio 0 rate 1Mbit ceil 2Mbit burst 1600b cburst 1600b") ||
		strings.Contains(out, "borrowed: 0 ") {
		t.Errorf("class show:\n%s", out)
	}
	r.mustTC("qdisc del dev out root") // drops what is still queued
}

// TestClassfulFilters: filters attached to a prio or htb root (parent
// 1:) choose the class by classid/flowid; a packet no filter matches
// takes the kernel's fallback (prio's priomap, htb's default class); a
// priority naming a class skips the filters (prio_classify,
// htb_classify); a filter's drop counts on the qdisc.
func TestClassfulFilters(t *testing.T) {
	for _, c := range []struct {
		name  string
		setup []string
		// classOf is the class each kind of frame must be counted in.
		udp, tcpTOS, other, prio7 string
	}{
		{
			name: "prio",
			setup: []string{
				"qdisc add dev out root handle 1: prio",
				"filter add dev out parent 1: pref 1 protocol ip flower ip_proto udp classid 1:3",
				"filter add dev out parent 1: pref 2 protocol ip flower ip_tos 0x10 flowid 1:1",
			},
			// Unmatched priority 0 -> priomap[0] = band 1 (1:2); a
			// priority 1:1 picks band 0 before any filter.
			udp: "1:3", tcpTOS: "1:1", other: "1:2", prio7: "1:1",
		},
		{
			name: "htb",
			setup: []string{
				"qdisc add dev out root handle 1: htb default 30",
				"class add dev out parent 1: classid 1:1 htb rate 100mbit",
				"class add dev out parent 1:1 classid 1:10 htb rate 10mbit",
				"class add dev out parent 1:1 classid 1:20 htb rate 10mbit",
				"class add dev out parent 1:1 classid 1:30 htb rate 10mbit",
				"filter add dev out parent 1: pref 1 protocol ip flower ip_proto udp classid 1:20",
				"filter add dev out parent 1: pref 2 protocol ip flower ip_tos 0x10 flowid 1:10",
			},
			// A priority naming the inner class 1:1 runs its
			// filters (none) and falls to the default.
			udp: "1:20", tcpTOS: "1:10", other: "1:30", prio7: "1:30",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newRig(t, "eth0", "out")
			for _, l := range c.setup {
				r.mustTC(l)
			}
			r.mustTC("filter add dev eth0 ingress pref 1 protocol ip flower ip_tos 0x20 action skbedit priority 1:1 pipe action mirred egress redirect dev out")
			r.mustTC("filter add dev eth0 ingress pref 2 matchall action mirred egress redirect dev out")
			udp := udpFrame(t)
			tcp := append([]byte(nil), udp...)
			tcp[23] = 6 // ip_proto tcp
			tcp[15] = 0x10
			other := append([]byte(nil), tcp...)
			other[15] = 0
			prio := append([]byte(nil), tcp...)
			prio[15] = 0x20
			want := map[string]int{}
			for _, f := range []struct {
				frame []byte
				class string
			}{{udp, c.udp}, {tcp, c.tcpTOS}, {tcp, c.tcpTOS}, {other, c.other}, {other, c.other}, {other, c.other}, {prio, c.prio7}} {
				r.inject("eth0", f.frame)
				want[f.class]++
			}
			for w := r.e.NextWake(); w > 0; w = r.e.NextWake() {
				r.clk.Set(w)
				r.e.Run()
			}
			out := r.mustTC("-s class show dev out")
			for class, n := range want {
				if !regexp.MustCompile(`class ` + c.name + ` ` + class + ` [^\n]*\n Sent \d+ bytes ` + strconv.Itoa(n) + ` pkt`).MatchString(out) {
					t.Errorf("class %s should have sent %d packets:\n%s", class, n, out)
				}
			}
			// The filters are the qdisc's: listed under parent 1:, and
			// gone with the qdisc.
			if fs := r.mustTC("filter show dev out parent 1:"); !strings.Contains(fs, "pref 2 flower") {
				t.Errorf("filter show dev out parent 1::\n%s", fs)
			}
			r.mustTC("filter add dev out parent 1: pref 9 matchall action drop")
			r.inject("eth0", other)
			r.e.Run()
			if qs := r.mustTC("-s qdisc show dev out"); !strings.Contains(qs, "dropped 1,") {
				t.Errorf("a filter's drop is not counted:\n%s", qs)
			}
			r.mustTC("qdisc del dev out root")
			if fs, err := r.tc("filter show dev out parent 1:"); err == nil && fs != "" {
				t.Errorf("filters outlive their qdisc: %q", fs)
			}
		})
	}
}

// TestReplaceCountsBacklog: the packets a replaced or deleted qdisc still
// held are dropped, as the kernel's qdisc_reset drops them, and counted
// in the device's TX drops rather than vanishing with the old qdisc's
// counters.
func TestReplaceCountsBacklog(t *testing.T) {
	r := newRig(t, "eth0", "out")
	r.mustTC("qdisc replace dev out root handle 1: fq_codel")
	r.mustTC("link set dev out rate 1mbit")
	r.mustTC("filter add dev eth0 ingress matchall action mirred egress redirect dev out")
	out, err := r.ns.Device("out")
	if err != nil {
		t.Fatal(err)
	}
	backlog := func() uint64 {
		out.txMu.Lock()
		defer out.txMu.Unlock()
		return out.qdisc.Stats().Qlen
	}
	for range 5 {
		r.inject("eth0", udpFrame(t))
	}
	q1 := backlog()
	if q1 == 0 {
		t.Fatal("nothing queued behind the slow link")
	}
	r.mustTC("qdisc replace dev out root handle 2: pfifo")
	if got := out.Netdev().Counters.TxDropped.Load(); got != q1 {
		t.Fatalf("TX dropped %d after the replace, want the %d queued", got, q1)
	}
	for range 3 {
		r.inject("eth0", udpFrame(t))
	}
	q2 := backlog()
	r.mustTC("qdisc del dev out root")
	if got := out.Netdev().Counters.TxDropped.Load(); got != q1+q2 {
		t.Fatalf("TX dropped %d after the delete, want %d", got, q1+q2)
	}
}
