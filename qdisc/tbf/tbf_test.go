package tbf

import (
	"encoding/binary"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/qdisc/fifo"
)

const ms = int64(time.Millisecond)

// setup returns a leak-checked pool and a tbf with p, reset at cleanup
// before the leak check.
func setup(t testing.TB, p Params) (*pkt.Pool, *tbf) {
	t.Helper()
	pool := testutil.Pool(t, pkt.PoolConfig{})
	q, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Reset)
	return pool, q.(*tbf)
}

func get(t testing.TB, pool *pkt.Pool, n int) *pkt.Buffer {
	t.Helper()
	b, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Resize(n); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParams(t *testing.T) {
	base := Params{Rate: 125000, Burst: 10000, Limit: 30000}
	tests := []struct {
		name    string
		change  func(*Params)
		wantErr []string // substrings, all present
		want    Params
	}{
		{name: "rate, burst and limit", change: func(*Params) {}, want: base},
		{name: "no rate", change: func(p *Params) { p.Rate = 0 }, wantErr: []string{`tbf: rate 0: the "rate" parameter is required`}},
		{name: "nothing: every problem at once", change: func(p *Params) { *p = Params{} },
			wantErr: []string{`"rate" parameter`, `"burst" parameter`, `neither "limit" nor "latency"`}},
		{name: "limit and latency", change: func(p *Params) { p.Latency = time.Millisecond }, wantErr: []string{"give only one"}},
		{name: "negative latency", change: func(p *Params) { p.Limit, p.Latency = 0, -1 }, wantErr: []string{"latency -1ns: must be > 0"}},
		{name: "peakrate without mtu", change: func(p *Params) { p.PeakRate = 250000 }, wantErr: []string{`peakrate 250000 bytes/s: needs "mtu"`}},
		{name: "peakrate not above rate", change: func(p *Params) { p.PeakRate, p.MTU = 125000, 1514 },
			wantErr: []string{"peakrate 125000 bytes/s: must be above rate 125000 bytes/s"}},
		{name: "latency gives the limit tc computes", change: func(p *Params) { p.Limit, p.Latency = 0, 50*time.Millisecond },
			want: Params{Rate: 125000, Burst: 10000, Limit: 125000*50/1000 + 10000}},
		{name: "latency with a peak rate takes the smaller limit",
			change: func(p *Params) { p.Limit, p.Latency, p.PeakRate, p.MTU = 0, 50*time.Millisecond, 250000, 2000 },
			want:   Params{Rate: 125000, Burst: 10000, Limit: 250000*50/1000 + 2000, PeakRate: 250000, MTU: 2000}},
		{name: "latency making more than 4 GiB", change: func(p *Params) { p.Limit, p.Latency, p.Rate = 0, time.Hour, 1<<40 },
			wantErr: []string{"above 4 GiB"}},
		{name: "an mtu without peakrate is dropped, as tc does", change: func(p *Params) { p.MTU = 1514 }, want: base},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := base
			tt.change(&p)
			q, err := New(p)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("New accepted it")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Fatalf("error %q, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := q.Params(); got != tt.want || got.Kind() != "tbf" {
				t.Fatalf("Params() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// departures sends n packets of size bytes, all queued at 0, and returns
// when each leaves, driving the clock by NextReady as a virtual-time
// datapath would. It checks that Dequeue gives nothing before NextReady.
func departures(t *testing.T, q *tbf, pool *pkt.Pool, n, size int) []int64 {
	t.Helper()
	for range n {
		if !q.Enqueue(get(t, pool, size), 0) {
			t.Fatal("enqueue dropped")
		}
	}
	var at []int64
	now := int64(0)
	for len(at) < n {
		next := q.NextReady(now)
		if next < now || next == Never {
			t.Fatalf("at %v with %d queued: NextReady %d", time.Duration(now), q.Len(), next)
		}
		if next > now {
			if p := q.Dequeue(next - 1); p != nil {
				t.Fatalf("a packet left at %v, before NextReady %v", time.Duration(next-1), time.Duration(next))
			}
			now = next
		}
		p := q.Dequeue(now)
		if p == nil {
			t.Fatalf("nothing at %v, when NextReady said so", time.Duration(now))
		}
		p.Release()
		at = append(at, now)
	}
	if q.NextReady(now) != Never {
		t.Fatal("NextReady of an empty tbf is not Never")
	}
	return at
}

func TestRateAndBurst(t *testing.T) {
	tests := []struct {
		name string
		p    Params
		n    int
		size int
		// want is when packet i leaves.
		want func(i int) int64
	}{
		{
			// 8 Mbit/s: a 1000-byte packet costs 1 ms. The full
			// bucket of 10 packets goes at once, then one a ms.
			name: "burst of 10 packets, then 1 ms apart",
			p:    Params{Rate: 1e6, Burst: 10000, Limit: 100000},
			n:    30, size: 1000,
			want: func(i int) int64 { return max(0, int64(i-9)) * ms },
		},
		{
			// A burst that is not a whole number of packets: 2.5
			// packets' worth; the third waits for 0.5 ms of tokens.
			name: "a fractional burst",
			p:    Params{Rate: 1e6, Burst: 2500, Limit: 100000},
			n:    5, size: 1000,
			want: func(i int) int64 { return []int64{0, 0, ms / 2, 3 * ms / 2, 5 * ms / 2}[i] },
		},
		{
			// The peak bucket (one 1000-byte packet at 2e6 B/s: 0.5
			// ms) spaces the burst: packets leave 0.5 ms apart while
			// the rate bucket drains by 0.5 ms a packet, so 19 go
			// before it is empty (10 ms = 19 * 1 ms - 18 * 0.5 ms,
			// the 19th leaving at 9 ms); then the rate rules.
			name: "a peak rate spaces the burst",
			p:    Params{Rate: 1e6, Burst: 10000, Limit: 100000, PeakRate: 2e6, MTU: 1000},
			n:    25, size: 1000,
			want: func(i int) int64 {
				if i < 19 {
					return int64(i) * ms / 2
				}
				return 9*ms + int64(i-18)*ms
			},
		},
		{
			// 1 Mbit/s (tc's "1mbit"): 125000 B/s, 1500-byte packets
			// take 12 ms.
			name: "1mbit with full-size frames",
			p:    Params{Rate: 125000, Burst: 3000, Limit: 100000},
			n:    6, size: 1500,
			want: func(i int) int64 { return max(0, int64(i-1)) * 12 * ms },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, q := setup(t, tt.p)
			at := departures(t, q, pool, tt.n, tt.size)
			for i, got := range at {
				if want := tt.want(i); got != want {
					t.Fatalf("packet %d left at %v, want %v (all: %v)", i, time.Duration(got), time.Duration(want), at)
				}
			}
			st := q.Stats()
			if st.Packets != uint64(tt.n) || st.Bytes != uint64(tt.n*tt.size) || st.Qlen != 0 || st.Backlog != 0 || st.Drops != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestLongRun checks the TBF property itself: over any run the bytes sent
// never exceed burst + rate * time, and a backlogged tbf sends exactly
// that, to the packet.
func TestLongRun(t *testing.T) {
	const rate, burst, size = 300000, 4500, 1500 // 5 ms a packet
	pool, q := setup(t, Params{Rate: rate, Burst: burst, Limit: 1 << 30})
	for range 1000 {
		q.Enqueue(get(t, pool, size), 0)
	}
	sent := 0
	for now := int64(0); now <= 2*int64(time.Second); now += 100 * int64(time.Microsecond) {
		for p := q.Dequeue(now); p != nil; p = q.Dequeue(now) {
			sent += p.Len()
			p.Release()
		}
		allowed := burst + rate*now/int64(time.Second)
		if int64(sent) > allowed || int64(sent) <= allowed-size {
			t.Fatalf("at %v: sent %d bytes, burst + rate * t = %d", time.Duration(now), sent, allowed)
		}
	}
}

// TestRefill: an idle tbf fills its bucket up to the burst and no more.
func TestRefill(t *testing.T) {
	pool, q := setup(t, Params{Rate: 1e6, Burst: 3000, Limit: 100000})
	send := func(now int64, n int) int {
		for range n {
			q.Enqueue(get(t, pool, 1000), now)
		}
		got := 0
		for p := q.Dequeue(now); p != nil; p = q.Dequeue(now) {
			got++
			p.Release()
		}
		return got
	}
	steps := []struct {
		at        int64
		queue     int
		wantSent  int
		wantTotal uint64 // overlimits
	}{
		{0, 5, 3, 1},          // the full bucket: 3 packets
		{ms, 0, 1, 2},         // 1 ms refills one
		{3 * ms / 2, 0, 0, 3}, // half a packet's tokens
		{10 * time.Second.Nanoseconds(), 5, 3, 4}, // idle: full again, not more
	}
	for _, s := range steps {
		if got := send(s.at, s.queue); got != s.wantSent {
			t.Fatalf("at %v: sent %d, want %d", time.Duration(s.at), got, s.wantSent)
		}
		if st := q.Stats(); st.Overlimits != s.wantTotal {
			t.Fatalf("at %v: %d overlimits, want %d", time.Duration(s.at), st.Overlimits, s.wantTotal)
		}
	}
}

func TestEnqueueDrops(t *testing.T) {
	tests := []struct {
		name      string
		p         Params
		sizes     []int
		wantQueue int
	}{
		{"a packet above the burst can never leave", Params{Rate: 1e6, Burst: 1000, Limit: 10000}, []int{1000, 1001}, 1},
		{"with a peak rate, above the peak bucket's mtu", Params{Rate: 1e6, Burst: 3000, Limit: 10000, PeakRate: 2e6, MTU: 1500}, []int{1500, 1501}, 1},
		{"the bfifo holds limit bytes", Params{Rate: 1e6, Burst: 1000, Limit: 2500}, []int{1000, 1000, 1000, 500}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, q := setup(t, tt.p)
			for _, n := range tt.sizes {
				q.Enqueue(get(t, pool, n), 0)
			}
			st := q.Stats()
			if q.Len() != tt.wantQueue || int(st.Qlen) != tt.wantQueue || int(st.Drops) != len(tt.sizes)-tt.wantQueue {
				t.Fatalf("len %d, stats %+v; want %d queued", q.Len(), st, tt.wantQueue)
			}
		})
	}
}

// TestPeekedPacketCounts: a packet held for its tokens is still queued.
func TestPeekedPacketCounts(t *testing.T) {
	pool, q := setup(t, Params{Rate: 1e6, Burst: 1000, Limit: 10000})
	for range 2 {
		q.Enqueue(get(t, pool, 1000), 0)
	}
	q.Dequeue(0).Release()
	if q.Dequeue(0) != nil {
		t.Fatal("second packet left without tokens")
	}
	if st := q.Stats(); q.Len() != 1 || st.Qlen != 1 || st.Backlog != 1000 || st.Overlimits != 1 {
		t.Fatalf("len %d, stats %+v", q.Len(), st)
	}
	q.Reset()
	if st := q.Stats(); q.Len() != 0 || st.Qlen != 0 || st.Drops != 1 {
		t.Fatalf("after reset: len %d, stats %+v", q.Len(), st)
	}
	// Reset refilled the bucket.
	q.Enqueue(get(t, pool, 1000), 2*ms/10)
	if p := q.Dequeue(2 * ms / 10); p == nil {
		t.Fatal("no tokens after reset")
	} else {
		p.Release()
	}
}

func TestGraft(t *testing.T) {
	pool, q := setup(t, Params{Rate: 1e6, Burst: 1000, Limit: 10000})
	for range 3 {
		q.Enqueue(get(t, pool, 1000), 0)
	}
	q.Dequeue(0).Release()
	q.Dequeue(0) // holds the second for its tokens
	child, _ := fifo.New(fifo.Pfifo{Limit: 1}, 0)
	old, err := q.Graft(child)
	if err != nil {
		t.Fatal(err)
	}
	if old.Len() != 0 || q.Child() != child {
		t.Fatal("the old child kept packets, or the new one is not in place")
	}
	q.Enqueue(get(t, pool, 1000), ms)
	q.Enqueue(get(t, pool, 1000), ms) // over the pfifo's limit
	if st := q.Stats(); st.Drops != 3 || st.Qlen != 1 {
		// 2 lost to the graft, 1 to the new child's limit.
		t.Fatalf("stats %+v", st)
	}
	if _, err := q.Graft(nil); err == nil {
		t.Fatal("graft of nil accepted")
	}
}

// TestShaperChild: a tbf under a tbf reports its child's wake-up.
func TestShaperChild(t *testing.T) {
	pool, outer := setup(t, Params{Rate: 1e9, Burst: 100000, Limit: 100000})
	inner, _ := New(Params{Rate: 1e6, Burst: 1000, Limit: 10000})
	if _, err := outer.Graft(inner); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		outer.Enqueue(get(t, pool, 1000), 0)
	}
	outer.Dequeue(0).Release()
	if got := outer.NextReady(0); got != ms {
		t.Fatalf("NextReady %v, want the inner bucket's 1ms", time.Duration(got))
	}
}

func TestNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts mean nothing under the race detector")
	}
	pool, q := setup(t, Params{Rate: 1e6, Burst: 1000, Limit: 100000})
	p := get(t, pool, 1000)
	now := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		q.Enqueue(p, now)
		_ = q.NextReady(now)
		now += ms
		p = q.Dequeue(now)
	})
	p.Release()
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}

// TestGSOSegmented: a 20 KB TCP GSO frame above the burst, whose 1514-byte
// segments are not, is cut and queued as its segments (tbf_segment), which
// leave as ordinary frames at the rate; one whose segments exceed the
// burst is dropped.
func TestGSOSegmented(t *testing.T) {
	pool, q := setup(t, Params{Rate: 1e6, Burst: 2000, Limit: 100000})
	gso := func(gsoSize uint16) *pkt.Buffer {
		b, err := pool.GetBig()
		if err != nil {
			t.Fatal(err)
		}
		f := make([]byte, 14+20+20+20000)
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		f[14], f[23] = 0x45, 6
		f[34+12] = 5 << 4
		_ = b.SetData(f)
		b.GSOType, b.GSOSize, b.CsumPartial, b.CsumStart, b.CsumOffset = pkt.GSOTCPv4, gsoSize, true, 34, 16
		return b
	}
	if !q.Enqueue(gso(1460), 0) {
		t.Fatal("the GSO frame was not taken")
	}
	if q.Len() != 14 { // 13 x 1460 + 1020
		t.Fatalf("%d packets queued, want the 14 segments", q.Len())
	}
	got, bytes := 0, 0
	for now := int64(0); got < 14 && now < 100*ms; now += ms / 10 {
		for p := q.Dequeue(now); p != nil; p = q.Dequeue(now) {
			if p.GSOType != pkt.GSONone || p.Len() > 1514 {
				t.Errorf("dequeued a %d-byte frame of GSO type %d", p.Len(), p.GSOType)
			}
			got++
			bytes += p.Len()
			p.Release()
		}
	}
	if got != 14 || bytes != 20000+14*54 {
		t.Errorf("dequeued %d packets %d bytes, want 14, %d", got, bytes, 20000+14*54)
	}
	if q.Enqueue(gso(4000), 0) || q.Stats().Drops != 1 {
		t.Errorf("a GSO frame of 4054-byte segments over a 2000-byte burst: not dropped (%+v)", q.Stats())
	}
}

// TestOverheadATM: the buckets are charged for len+overhead, in ATM
// cells with linklayer atm (psched_l2t_ns); the burst is adjusted the
// same way (the kernel keeps l2t(burst)).
func TestOverheadATM(t *testing.T) {
	for _, c := range []struct {
		name     string
		overhead uint16
		atm      bool
		gap      int64 // ns between 1000-byte packets at 100000 bytes/s
	}{
		{"plain", 0, false, 10 * ms},
		{"overhead 1000", 1000, false, 20 * ms},
		{"atm", 0, true, int64((1000+47)/48*53) * 10_000},
	} {
		t.Run(c.name, func(t *testing.T) {
			pool, q := setup(t, Params{Rate: 100000, Burst: 1000, Limit: 100000, Overhead: c.overhead, ATM: c.atm})
			q.Enqueue(get(t, pool, 1000), 0)
			q.Enqueue(get(t, pool, 1000), 0)
			p := q.Dequeue(0)
			if p == nil {
				t.Fatal("a full bucket sent nothing")
			}
			p.Release()
			if got := q.NextReady(0); got != c.gap {
				t.Errorf("next packet at %d ns, want %d", got, c.gap)
			}
		})
	}
}
