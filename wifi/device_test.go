package wifi

import (
	"slices"
	"strings"
	"testing"
	"time"

	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fqcodel"
)

// bulk returns n flows of 1500-byte frames to dst with priority prio, a
// frame every interval each: together well above what the medium carries
// at 54 Mb/s, so their queue stays backed up.
func bulk(dst [6]byte, firstPort uint16, prio uint32, n int, interval time.Duration) []flow {
	var fs []flow
	for i := range n {
		fs = append(fs, flow{name: "bulk", dst: dst, sport: firstPort + uint16(i), prio: prio, size: 1500, interval: interval})
	}
	return fs
}

// voice is a G.711-like flow: 200-byte frames every 20 ms at UP 6.
func voice(dst [6]byte, port uint16) flow {
	return flow{name: "voice", dst: dst, sport: port, prio: 6, size: 200, interval: 20 * time.Millisecond, start: time.Millisecond}
}

// checkCounters checks that the qdisc counters, the per-AC counters and
// Len agree.
func checkCounters(t *testing.T, d Device) {
	t.Helper()
	st, x := d.Stats(), d.XStats()
	var qlen int
	var packets, drops uint64
	for _, a := range x.AC {
		qlen += a.Qlen
		packets += a.Packets
		drops += a.Drops
	}
	if d.Len() != qlen || st.Qlen != uint64(qlen) {
		t.Errorf("Len() = %d, Stats().Qlen = %d, per-AC Qlen sum %d: want all equal", d.Len(), st.Qlen, qlen)
	}
	if st.Packets != packets || st.Drops != drops {
		t.Errorf("Stats() packets %d drops %d, per-AC sums %d and %d", st.Packets, st.Drops, packets, drops)
	}
	var stationPackets uint64
	for _, s := range x.Stations {
		for _, n := range s.Packets {
			stationPackets += n
		}
	}
	if stationPackets != packets {
		t.Errorf("stations sent %d packets, ACs %d", stationPackets, packets)
	}
}

// TestVoiceThroughBackedUpBE is the scenario: bulk traffic keeps
// best effort backed up towards a station while a voice flow (UP 6)
// goes to the same station. With access categories separated, voice has
// its own hardware queue and wins the medium within one exchange; without,
// it shares the best-effort hardware queue, which AQL keeps filled with
// AQLHigh of airtime, and waits behind all of it. fq_codel does not save it
// there: it puts the sparse voice flow first in the station's queue, but
// the wait is in the hardware queue below.
func TestVoiceThroughBackedUpBE(t *testing.T) {
	const (
		end    = 4 * time.Second
		budget = 10 * time.Millisecond // one-way queueing budget for voice
	)
	run := func(t *testing.T, separate bool) (flowResult, XStats) {
		p := Defaults()
		p.ACSeparation = separate
		d := mustNew(t, p)
		flows := append([]flow{voice(staA, 5000)}, bulk(staA, 6000, 0, 4, 800*time.Microsecond)...)
		flows[1].tos = ect0 // one bulk flow is ECN-capable: CoDel marks it
		s := newSimulation(t, d, flows)
		s.run(end)
		checkCounters(t, d)
		x := d.XStats()
		if x.AC[BE].Drops == 0 || x.AC[BE].HWQlen == 0 {
			t.Fatalf("best effort is not backed up: %d drops, %d frames in its hardware queue", x.AC[BE].Drops, x.AC[BE].HWQlen)
		}
		if x.AC[BE].ECNMarks == 0 {
			t.Errorf("no ECN marks on the ECN-capable bulk flow, sojourn p50 %v", x.AC[BE].Sojourn.Quantile(.5))
		}
		return s.results[0], x
	}
	on, xon := run(t, true)
	off, xoff := run(t, false)
	want := int(end / (20 * time.Millisecond))
	if on.sent < want-1 || off.sent < want-1 {
		t.Fatalf("voice packets sent: %d with separation, %d without; want %d each", on.sent, off.sent, want)
	}
	t.Logf("voice queueing delay with AC separation:    p50 %v p99 %v max %v", on.quantile(.5), on.quantile(.99), on.quantile(1))
	t.Logf("voice queueing delay without AC separation: p50 %v p99 %v max %v", off.quantile(.5), off.quantile(.99), off.quantile(1))
	t.Logf("best effort (bulk) sojourn p50: %v / %v", xon.AC[BE].Sojourn.Quantile(.5), xoff.AC[BE].Sojourn.Quantile(.5))

	// With separation, voice waits at most for the exchange on the air
	// (a 1500-byte BE frame), then VO's AIFS and largest backoff.
	p := Defaults()
	ph := newPHY(&p)
	bound := time.Duration(ph.exchange(1500, p.Rate) + ph.aifs(p.EDCA[VO]) + int64(p.EDCA[VO].CWMax)*ph.slot)
	if got := on.quantile(1); got > bound {
		t.Errorf("with separation, voice waited up to %v, above one BE exchange and VO's access, %v", got, bound)
	}
	if got := on.quantile(.99); got > budget {
		t.Errorf("with separation, voice p99 %v above the %v budget", got, budget)
	}
	// The device's own VO histogram saw the same packets: it keeps
	// whole microseconds, in buckets within 1/16 of their value.
	if h, exact := xon.AC[VO].Sojourn.Quantile(.99), on.quantile(.99); h < exact.Truncate(time.Microsecond) || h > exact+exact/16+time.Microsecond {
		t.Errorf("VO sojourn p99 from XStats %v, measured %v", h, exact)
	}
	if xoff.AC[VO].Packets != 0 {
		t.Errorf("without separation %d packets went as VO", xoff.AC[VO].Packets)
	}
	// Without, voice sits behind the best-effort hardware queue: at
	// least AQLLow of airtime, and well over the budget.
	if got := off.quantile(.5); got < p.AQLLow {
		t.Errorf("without separation, voice p50 %v below AQL's low limit %v: is the hardware queue modelled?", got, p.AQLLow)
	}
	if got := off.quantile(.99); got <= budget || got < 10*on.quantile(.99) {
		t.Errorf("without separation, voice p99 %v: want above the %v budget and 10x the %v with separation", got, budget, on.quantile(.99))
	}
}

// TestEDCAIsNotStrictPriority checks that EDCA gives the medium by
// chance weighted by AIFS and CW, not by strict priority: a lower
// category with traffic gets turns while a higher one is backed up.
func TestEDCAIsNotStrictPriority(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flows []flow
		// minShare is, per AC, the least share of the airtime the
		// category must get; -1 for "not checked".
		minShare [NumACs]float64
		// order lists ACs whose airtime must decrease in this order.
		order []AC
	}{
		{
			// Strict priority would give BK nothing while BE always
			// has a frame ready.
			name: "BE backed up, BK gets turns",
			flows: slices.Concat(
				[]flow{voice(staA, 5000)},
				[]flow{{name: "video", dst: staA, sport: 5001, prio: 5, size: 1500, interval: 2 * time.Millisecond}},
				bulk(staA, 6000, 0, 2, 400*time.Microsecond),
				bulk(staA, 7000, 1, 2, 400*time.Microsecond),
			),
			minShare: [NumACs]float64{VO: 0.004, VI: 0.1, BE: 0.3, BK: 0.05},
			order:    []AC{BE, BK},
		},
		{
			// VI bursts up to its 3 ms TXOP and mostly wins, but BE's
			// counter keeps its progress and gets through.
			name: "VI backed up, BE gets turns",
			flows: slices.Concat(
				[]flow{voice(staA, 5000)},
				bulk(staA, 5100, 5, 2, 400*time.Microsecond),
				bulk(staA, 6000, 0, 2, 400*time.Microsecond),
			),
			minShare: [NumACs]float64{VO: 0.004, VI: 0.5, BE: 0.005, BK: -1},
			order:    []AC{VI, BE},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustNew(t, Defaults())
			s := newSimulation(t, d, tc.flows)
			s.run(3 * time.Second)
			checkCounters(t, d)
			x := d.XStats()
			var total time.Duration
			for _, a := range x.AC {
				total += a.Airtime
			}
			for ac, a := range x.AC {
				share := float64(a.Airtime) / float64(total)
				t.Logf("%v: airtime %v (%.1f%%), %d TXOPs, %d internal collisions", AC(ac), a.Airtime, 100*share, a.TXOPs, a.InternalCollisions)
				if min := tc.minShare[ac]; min >= 0 && share < min {
					t.Errorf("%v got %.2f%% of the airtime, want at least %.2f%%", AC(ac), 100*share, 100*min)
				}
			}
			for i := 1; i < len(tc.order); i++ {
				hi, lo := tc.order[i-1], tc.order[i]
				if x.AC[hi].Airtime <= x.AC[lo].Airtime {
					t.Errorf("%v airtime %v not above %v's %v", hi, x.AC[hi].Airtime, lo, x.AC[lo].Airtime)
				}
			}
		})
	}
}

// TestAirtimeFairness saturates a fast (54 Mb/s) and a slow (6 Mb/s)
// station. Served a frame each in turn, the slow one takes 9 times the
// airtime of the fast one; mac80211's airtime deficit round robin, and
// AQL's per-station airtime bound on its own, share the airtime equally
// instead.
func TestAirtimeFairness(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fairness bool
		aql      bool
		fair     bool
	}{
		{"deficit round robin and AQL", true, true, true},
		{"deficit round robin alone", true, false, true},
		{"AQL alone", false, true, true},
		{"neither: packet round robin", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Defaults()
			p.AirtimeFairness = tc.fairness
			if !tc.aql {
				p.AQLLow = 0
			}
			p.Stations = []StationRate{{staA, 54_000_000}, {staB, 6_000_000}}
			d := mustNew(t, p)
			s := newSimulation(t, d, slices.Concat(
				bulk(staA, 5000, 0, 1, 250*time.Microsecond),
				bulk(staB, 6000, 0, 1, 250*time.Microsecond),
			))
			s.run(3 * time.Second)
			checkCounters(t, d)
			x := d.XStats()
			if len(x.Stations) != 2 {
				t.Fatalf("%d stations, want 2", len(x.Stations))
			}
			fast, slow := x.Stations[0], x.Stations[1]
			if fast.MAC != staA || slow.MAC != staB || fast.Rate != 54_000_000 || slow.Rate != 6_000_000 {
				t.Fatalf("stations %v@%d, %v@%d", fast.MAC, fast.Rate, slow.MAC, slow.Rate)
			}
			share := float64(slow.TotalAirtime()) / float64(slow.TotalAirtime()+fast.TotalAirtime())
			t.Logf("slow station: %.1f%% of the airtime, %d packets; fast: %d packets", 100*share, slow.Packets[BE], fast.Packets[BE])
			if fair := share > 0.4 && share < 0.6; fair != tc.fair {
				t.Errorf("slow station's airtime share %.1f%%: fair = %v, want %v", 100*share, fair, tc.fair)
			}
		})
	}
}

// TestTXOPBurst checks EDCA's TXOP (802.11-2016 10.22.2): a VO winner sends its queued frames SIFS
// apart while they fit in its 1.504 ms TXOP, then contends again; BE,
// with no TXOP, contends for every frame.
func TestTXOPBurst(t *testing.T) {
	p := Defaults()
	ph := newPHY(&p)
	for _, tc := range []struct {
		name string
		prio uint32
		ac   AC
	}{
		{"VO", 6, VO},
		{"BE", 0, BE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mustNew(t, p)
			pool := testutil.Pool(t, pkt.PoolConfig{})
			t.Cleanup(d.Reset)
			f := flow{name: tc.name, dst: staA, sport: 1, prio: tc.prio, size: 1000}
			frame := f.frame(t)
			const n = 12
			for range n {
				d.Enqueue(newPacket(t, pool, frame, tc.prio, 0), 0)
			}
			var starts []int64
			for now := d.NextReady(0); now != Never; now = d.NextReady(now) {
				q := d.Dequeue(now)
				if q == nil {
					t.Fatalf("nothing dequeued at NextReady %d", now)
				}
				q.Release()
				starts = append(starts, now)
			}
			if len(starts) != n {
				t.Fatalf("%d frames sent, want %d", len(starts), n)
			}
			e := ph.exchange(f.size, p.Rate)
			txop := int64(p.EDCA[tc.ac].TXOPLimit)
			// Frames per burst: the first, then those whose exchange
			// ends within the TXOP.
			perBurst := 1
			for int64(perBurst)*(e+ph.sifs)+e <= txop {
				perBurst++
			}
			burstStart := starts[0]
			for i := 1; i < n; i++ {
				gap := starts[i] - (starts[i-1] + e)
				if i%perBurst != 0 {
					if gap != ph.sifs {
						t.Errorf("frame %d: %v after the previous exchange, want SIFS within the TXOP", i, time.Duration(gap))
					}
					if starts[i]+e > burstStart+txop {
						t.Errorf("frame %d ends %v after its TXOP began, beyond %v", i, time.Duration(starts[i]+e-burstStart), p.EDCA[tc.ac].TXOPLimit)
					}
					continue
				}
				if aifs := ph.aifs(p.EDCA[tc.ac]); gap < aifs {
					t.Errorf("frame %d: new access %v after the previous exchange, below AIFS %v", i, time.Duration(gap), time.Duration(aifs))
				}
				burstStart = starts[i]
			}
			if x := d.XStats(); x.AC[tc.ac].TXOPs != uint64((n+perBurst-1)/perBurst) {
				t.Errorf("%d TXOPs, want %d", x.AC[tc.ac].TXOPs, (n+perBurst-1)/perBurst)
			}
		})
	}
}

// TestAccessAfterIdle checks EDCA's post-backoff (802.11-2016 10.22.2): after a long idle
// medium the backoff has run out, so a frame goes out on arrival; right
// after an exchange, the next waits at least AIFS.
func TestAccessAfterIdle(t *testing.T) {
	p := Defaults()
	ph := newPHY(&p)
	d := mustNew(t, p)
	pool := testutil.Pool(t, pkt.PoolConfig{})
	t.Cleanup(d.Reset)
	f := flow{name: "be", dst: staA, sport: 1, size: 1500}
	frame := f.frame(t)
	if got := d.NextReady(0); got != Never {
		t.Fatalf("NextReady on an empty device = %d, want Never", got)
	}
	idle := int64(time.Second)
	d.Enqueue(newPacket(t, pool, frame, 0, idle), idle)
	d.Enqueue(newPacket(t, pool, frame, 0, idle), idle)
	if got := d.NextReady(idle); got != idle {
		t.Fatalf("after an idle second, NextReady = %v, want the arrival time %v", time.Duration(got), time.Duration(idle))
	}
	if q := d.Dequeue(idle - 1); q != nil {
		t.Fatal("Dequeue before NextReady returned a packet")
	}
	q := d.Dequeue(idle)
	if q == nil {
		t.Fatal("Dequeue at NextReady returned nothing")
	}
	q.Release()
	end := idle + ph.exchange(1500, p.Rate)
	next := d.NextReady(idle)
	if min := end + ph.aifs(p.EDCA[BE]); next < min {
		t.Errorf("second frame at %v, before the exchange's end plus AIFS %v", time.Duration(next), time.Duration(min))
	}
	if max := end + ph.aifs(p.EDCA[BE]) + int64(p.EDCA[BE].CWMin)*ph.slot; next > max {
		t.Errorf("second frame at %v, after AIFS and CWmin slots %v", time.Duration(next), time.Duration(max))
	}
	if q := d.Dequeue(next - 1); q != nil {
		t.Fatal("Dequeue before NextReady returned a packet")
	}
	if q := d.Dequeue(next); q == nil {
		t.Fatal("Dequeue at NextReady returned nothing")
	} else {
		q.Release()
	}
}

// TestDeterministic checks that a seed fixes the schedule.
func TestDeterministic(t *testing.T) {
	run := func(seed uint64) ([]int64, XStats) {
		p := Defaults()
		p.Seed = seed
		d := mustNew(t, p)
		s := newSimulation(t, d, slices.Concat(
			[]flow{voice(staA, 5000)},
			bulk(staA, 6000, 0, 2, 500*time.Microsecond),
			bulk(staB, 7000, 1, 2, 500*time.Microsecond),
			bulk(staB, 8000, 5, 1, 2*time.Millisecond),
		))
		s.record = true
		s.run(500 * time.Millisecond)
		return s.starts, d.XStats()
	}
	a, xa := run(7)
	b, xb := run(7)
	c, _ := run(8)
	if !slices.Equal(a, b) {
		t.Error("two runs with seed 7 sent at different times")
	}
	for ac := range xa.AC {
		if xa.AC[ac] != xb.AC[ac] {
			t.Errorf("%v counters differ between runs with seed 7", AC(ac))
		}
	}
	if slices.Equal(a, c) {
		t.Error("seeds 7 and 8 gave the same schedule: is the backoff drawn from the seed?")
	}
}

// TestReset fills the station and hardware queues of several stations
// and categories, resets, and checks every packet is back in the pool
// (the pool's leak check runs at cleanup) and counted as dropped.
func TestReset(t *testing.T) {
	p := Defaults()
	p.AQLLow = 0
	p.HWQueue = 8 // some packets in the hardware queues, more behind
	d := mustNew(t, p)
	pool := testutil.Pool(t, pkt.PoolConfig{})
	t.Cleanup(d.Reset)
	queued := 0
	for i, f := range []flow{
		{name: "a-be", dst: staA, sport: 1, size: 1500},
		{name: "a-vo", dst: staA, sport: 2, prio: 6, size: 200},
		{name: "b-bk", dst: staB, sport: 3, prio: 1, size: 700},
		{name: "b-vi", dst: staB, sport: 4, tos: tos(dscpAF41), size: 1200},
	} {
		frame := f.frame(t)
		for j := range 20 {
			now := int64(i*20 + j)
			if d.Enqueue(newPacket(t, pool, frame, f.prio, now), now) {
				queued++
			}
		}
	}
	x := d.XStats()
	for ac, a := range x.AC {
		if a.HWQlen != p.HWQueue || a.Qlen != 20 {
			t.Fatalf("%v: %d queued, %d in hardware; want 20 and %d", AC(ac), a.Qlen, a.HWQlen, p.HWQueue)
		}
	}
	before := d.Stats()
	if before.Qlen != uint64(queued) || before.Backlog != 20*(1500+200+700+1200) {
		t.Fatalf("before Reset: %+v, want %d packets", before, queued)
	}
	d.Reset()
	after := d.Stats()
	if d.Len() != 0 || after.Qlen != 0 || after.Backlog != 0 {
		t.Errorf("after Reset: Len %d, %+v", d.Len(), after)
	}
	if after.Drops != before.Drops+uint64(queued) {
		t.Errorf("after Reset: %d drops, want %d", after.Drops, before.Drops+uint64(queued))
	}
	if got := d.NextReady(0); got != Never {
		t.Errorf("after Reset NextReady = %d, want Never", got)
	}
	checkCounters(t, d)
	// The device works on after a reset.
	f := flow{name: "again", dst: staA, sport: 9, prio: 6, size: 300}
	if !d.Enqueue(newPacket(t, pool, f.frame(t), 6, 1000), 1000) {
		t.Fatal("Enqueue after Reset refused")
	}
	now := d.NextReady(1000)
	if q := d.Dequeue(now); q == nil {
		t.Fatal("nothing dequeued after Reset")
	} else {
		q.Release()
	}
}

// TestMaxStations checks that packets to one destination too many are
// dropped and counted, not queued and not a panic.
func TestMaxStations(t *testing.T) {
	p := Defaults()
	p.MaxStations = 1
	d := mustNew(t, p)
	pool := testutil.Pool(t, pkt.PoolConfig{})
	t.Cleanup(d.Reset)
	a := flow{name: "a", dst: staA, sport: 1, size: 100}
	b := flow{name: "b", dst: staB, sport: 2, prio: 6, size: 100}
	if !d.Enqueue(newPacket(t, pool, a.frame(t), 0, 0), 0) {
		t.Fatal("first station refused")
	}
	if d.Enqueue(newPacket(t, pool, b.frame(t), 6, 0), 0) {
		t.Fatal("second station accepted with MaxStations 1")
	}
	if st, x := d.Stats(), d.XStats(); st.Drops != 1 || x.AC[VO].Drops != 1 || d.Len() != 1 {
		t.Errorf("drops %d (VO %d), Len %d: want 1, 1, 1", st.Drops, x.AC[VO].Drops, d.Len())
	}
	checkCounters(t, d)
}

// TestNoAllocs checks that the per-packet path, Enqueue, NextReady and
// Dequeue with the station's queues in place, allocates nothing.
func TestNoAllocs(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under the race detector")
	}
	d := mustNew(t, Defaults())
	pool := pkt.NewPool(pkt.PoolConfig{})
	be := flow{name: "be", dst: staA, sport: 1, size: 1500}
	vo := flow{name: "vo", dst: staA, sport: 2, prio: 6, size: 200}
	frames := [][]byte{be.frame(t), vo.frame(t)}
	prios := []uint32{0, 6}
	packets := make([]*pkt.Buffer, 0, 64)
	var now int64
	i := 0
	// Each step sends one packet in and, at NextReady, one out, which
	// goes back to the spares: the queues stay as they are.
	step := func() {
		p := packets[len(packets)-1]
		packets = packets[:len(packets)-1]
		k := i % 2
		i++
		if err := p.SetData(frames[k]); err != nil {
			t.Fatal(err)
		}
		if err := p.Parse(); err != nil {
			t.Fatal(err)
		}
		p.Priority = prios[k]
		d.Enqueue(p, now)
		now = d.NextReady(now)
		if q := d.Dequeue(now); q != nil {
			packets = append(packets, q)
		}
	}
	for range 64 {
		p, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		packets = append(packets, p)
	}
	for range 1000 { // warm up: stations, queues, hardware rings
		step()
	}
	if n := testing.AllocsPerRun(1000, step); n != 0 {
		t.Errorf("%v allocations per packet", n)
	}
	d.Reset()
	for _, p := range packets {
		p.Release()
	}
}

// TestParams checks New's validation and what Params reports.
func TestParams(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Params)
		err    string // "" for valid
	}{
		{"defaults", func(*Params) {}, ""},
		{"zero rate", func(p *Params) { p.Rate = 0 }, "rate 0"},
		{"rate too high", func(p *Params) { p.Rate = MaxRate + 1 }, "rate"},
		{"zero control rate", func(p *Params) { p.ControlRate = 0 }, "control rate"},
		{"station without rate", func(p *Params) { p.Stations = []StationRate{{MAC: staA}} }, "station 02:00:00:00:00:0a rate"},
		{"station twice", func(p *Params) { p.Stations = []StationRate{{staA, 1e6}, {staA, 2e6}} }, "listed twice"},
		{"no airtime weight", func(p *Params) { p.AirtimeWeight = 0 }, "airtime weight"},
		{"no weight without fairness", func(p *Params) { p.AirtimeWeight, p.AirtimeFairness = 0, false }, ""},
		{"AQL high below low", func(p *Params) { p.AQLHigh = time.Millisecond }, "AQL high limit"},
		{"AQL negative", func(p *Params) { p.AQLThreshold = -1 }, "must not be negative"},
		{"AQL off", func(p *Params) { p.AQLLow, p.AQLHigh, p.AQLThreshold = 0, 0, 0 }, ""},
		{"no hardware queue", func(p *Params) { p.HWQueue = 0 }, "hardware queue"},
		{"no stations", func(p *Params) { p.MaxStations = 0 }, "max stations"},
		{"more stations listed than allowed", func(p *Params) {
			p.MaxStations = 1
			p.Stations = []StationRate{{staA, 1e6}, {staB, 1e6}}
		}, "2 stations listed"},
		{"AIFSN 0", func(p *Params) { p.EDCA[VO].AIFSN = 0 }, "VO AIFSN 0"},
		{"CW not 2^n-1", func(p *Params) { p.EDCA[BE].CWMin = 10 }, "BE CW"},
		{"CWmin above CWmax", func(p *Params) { p.EDCA[BK].CWMin = 2047 }, "BK CWmin"},
		{"TXOP too long", func(p *Params) { p.EDCA[VI].TXOPLimit = 9 * time.Millisecond }, "VI TXOP"},
		{"zero slot", func(p *Params) { p.Slot = 0 }, "slot"},
		{"zero SIFS", func(p *Params) { p.SIFS = 0 }, "SIFS"},
		{"negative preamble", func(p *Params) { p.Preamble = -1 }, "preamble"},
		{"bad queue", func(p *Params) { p.Queue.Target = 0 }, "queue: fq_codel: target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := Defaults()
			tc.change(&p)
			d, err := New(p)
			if tc.err == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New: error %v, want one containing %q", err, tc.err)
			}
			if d != nil {
				t.Error("New returned a device with its error")
			}
		})
	}

	p := Defaults()
	p.Stations = []StationRate{{staA, 6e6}}
	p.Queue.Quantum = 100 // fq_codel raises it to its minimum
	d, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	var qp qdisc.Params = d.Params()
	got, ok := qp.(Params)
	if !ok || got.Kind() != "wifi" {
		t.Fatalf("Params() = %T %v", qp, qp)
	}
	if got.Queue.Quantum != fqcodel.MinQuantum {
		t.Errorf("queue quantum %d, want the clamped %d", got.Queue.Quantum, fqcodel.MinQuantum)
	}
	p.Stations[0].Rate = 1
	if got.Stations[0].Rate != 6e6 {
		t.Error("Params shares the caller's station list")
	}
}

func BenchmarkEnqueueDequeue(b *testing.B) {
	d, err := New(Defaults())
	if err != nil {
		b.Fatal(err)
	}
	pool := pkt.NewPool(pkt.PoolConfig{})
	f := flow{name: "be", dst: staA, sport: 1, size: 1500}
	frame := f.frame(b)
	var now int64
	b.ReportAllocs()
	for b.Loop() {
		p, err := pool.Get()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.SetData(frame); err != nil {
			b.Fatal(err)
		}
		if err := p.Parse(); err != nil {
			b.Fatal(err)
		}
		d.Enqueue(p, now)
		now = d.NextReady(now)
		if q := d.Dequeue(now); q != nil {
			q.Release()
		}
	}
	d.Reset()
}
