package wifi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"netyard/pkt"
	"netyard/qdisc"
	"netyard/qdisc/fqcodel"
	"netyard/wire"
)

// Never is what NextReady returns when nothing is queued.
const Never int64 = math.MaxInt64

// Device is a running wifi device model: a qdisc.Qdisc whose Dequeue
// follows the medium (see the package comment for how to drive it).
type Device interface {
	qdisc.Qdisc
	// NextReady returns the earliest time, at or after now, at which
	// Dequeue will return a packet given what is queued now; Never when
	// nothing is queued.
	NextReady(now int64) int64
	// XStats returns the per access category and per station counters.
	// It allocates (the station list); it is for reports, not the data
	// path.
	XStats() XStats
}

// XStats are the device's own counters.
type XStats struct {
	AC [NumACs]ACStats
	// Stations are in the order the device first saw them.
	Stations []StationStats
}

// ACStats are one access category's counters.
type ACStats struct {
	Packets, Bytes uint64 // sent
	// Drops counts the packets its queues dropped (CoDel, overflow,
	// Reset) and those the device refused (too many stations).
	Drops uint64
	// ECNMarks counts packets CoDel marked CE instead of dropping.
	ECNMarks uint64
	// Qlen is the packets queued now, HWQlen those of them in the
	// hardware queue.
	Qlen, HWQlen int
	// Airtime is the medium time of its frame exchanges.
	Airtime time.Duration
	// TXOPs counts the contentions it won; InternalCollisions those it
	// lost to a higher category that reached zero in the same slot.
	TXOPs, InternalCollisions uint64
	// Sojourn holds each sent packet's queueing delay: from Enqueue to
	// the start of its frame exchange.
	Sojourn Histogram
}

// StationStats are one destination's counters, indexed by AC.
type StationStats struct {
	MAC     wire.MAC
	Rate    uint64 // bits/s
	Airtime [NumACs]time.Duration
	Packets [NumACs]uint64
	Bytes   [NumACs]uint64
	// Deficit is the airtime fairness deficit now.
	Deficit [NumACs]time.Duration
}

// TotalAirtime is the station's airtime over all access categories.
func (s *StationStats) TotalAirtime() time.Duration {
	var t time.Duration
	for _, a := range s.Airtime {
		t += a
	}
	return t
}

// none ends a station list.
const none int32 = -1

// listLink links a station into an access category's active list.
type listLink struct {
	prev, next int32
	on         bool
}

// stationList is an active_txqs list: the stations with packets queued
// in one access category, in scheduling order, linked by index.
type stationList struct{ head, tail int32 }

// station is a destination with its queues: the txqs of one sta_info.
type station struct {
	mac  wire.MAC
	rate uint64
	// tins are the (station, AC) queues, made when first used.
	tins [NumACs]fqcodel.Qdisc
	// deficit is the airtime fairness deficit (airtime_info.deficit),
	// pending the airtime in the hardware queue (aql_tx_pending), in
	// nanoseconds.
	deficit [NumACs]int64
	pending [NumACs]int64
	link    [NumACs]listLink

	airtime [NumACs]int64
	packets [NumACs]uint64
	bytes   [NumACs]uint64
}

// hwFrame is a frame in a hardware queue.
type hwFrame struct {
	p     *pkt.Buffer
	sta   int32
	air   int64 // exchange airtime, ns
	ready int64 // when it entered the hardware queue
}

// acState is one access category: its EDCA state, active stations and
// hardware queue.
type acState struct {
	aifs         int64 // ns
	txop         int64 // ns, 0 for one exchange per access
	cwMin, cwMax uint16
	cw           uint16
	backoff      int64 // slots left

	active stationList
	swLen  int // packets in the stations' queues of this AC

	hw      []hwFrame // ring of HWQueue frames
	hwHead  int
	hwLen   int
	hwBytes uint64

	packets, bytes, drops uint64
	txops, collisions     uint64
	airtime               int64
	sojourn               Histogram
}

// radio implements Device.
type radio struct {
	params Params
	phy    phy
	rng    *rand.Rand
	fqSeed uint32
	// spare is the queue New made to check the configuration, kept for
	// the first station.
	spare  fqcodel.Qdisc
	fair   bool
	weight int64 // ns

	aqlLow, aqlHigh, aqlThreshold int64 // ns; aqlLow 0 is off

	rates    map[wire.MAC]uint64
	byMAC    map[wire.MAC]int32
	stations []station

	acs [NumACs]acState

	// busyUntil is when the current (or last) frame exchange ends: the
	// medium has been idle since then when it is in the past.
	busyUntil int64
	// txopOwner is the AC holding a TXOP (-1 for none) until txopEnd.
	txopOwner int
	txopEnd   int64
	// totalPending is the airtime in all hardware queues
	// (aql_total_pending_airtime).
	totalPending int64

	st qdisc.Stats // sent; Drops are the device's own
}

var _ Device = (*radio)(nil)

// New returns a wifi device with configuration p. The queues of each
// station are made on the first packet to it.
func New(p Params) (Device, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	p.Stations = append([]StationRate(nil), p.Stations...)
	// Check the queue configuration now rather than on the first packet;
	// fqcodel also applies the kernel's clamps, which Params then shows.
	fqSeed := uint32(p.Seed) ^ uint32(p.Seed>>32)
	q, err := fqcodel.New(p.Queue, fqSeed)
	if err != nil {
		return nil, fmt.Errorf("wifi: queue: %w", err)
	}
	spare, ok := q.(fqcodel.Qdisc)
	if !ok {
		return nil, fmt.Errorf("wifi: queue: fq_codel without per-flow statistics (%T)", q)
	}
	if qp, ok := q.Params().(fqcodel.Params); ok {
		p.Queue = qp
	}

	r := &radio{
		params:    p,
		phy:       newPHY(&p),
		rng:       rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15)),
		fqSeed:    fqSeed,
		spare:     spare,
		fair:      p.AirtimeFairness,
		weight:    int64(p.AirtimeWeight),
		rates:     make(map[wire.MAC]uint64, len(p.Stations)),
		byMAC:     make(map[wire.MAC]int32),
		txopOwner: -1,
	}
	if p.AQLLow > 0 {
		r.aqlLow, r.aqlHigh, r.aqlThreshold = int64(p.AQLLow), int64(p.AQLHigh), int64(p.AQLThreshold)
	}
	for _, s := range p.Stations {
		r.rates[s.MAC] = s.Rate
	}
	for i := range r.acs {
		a := &r.acs[i]
		e := p.EDCA[i]
		a.aifs = r.phy.aifs(e)
		a.txop = int64(e.TXOPLimit)
		a.cwMin, a.cwMax, a.cw = e.CWMin, e.CWMax, e.CWMin
		a.backoff = r.draw(a.cw)
		a.active = stationList{head: none, tail: none}
		a.hw = make([]hwFrame, p.HWQueue)
	}
	return r, nil
}

// draw returns a backoff of 0..cw slots.
func (r *radio) draw(cw uint16) int64 { return int64(r.rng.IntN(int(cw) + 1)) }

// station returns the index of the station for mac, making it if new, or
// none when MaxStations are in use.
func (r *radio) station(mac wire.MAC) int32 {
	if si, ok := r.byMAC[mac]; ok {
		return si
	}
	if len(r.stations) >= r.params.MaxStations {
		return none
	}
	rate, ok := r.rates[mac]
	if !ok {
		rate = r.params.Rate
	}
	s := station{mac: mac, rate: rate}
	for ac := range s.link {
		s.link[ac] = listLink{prev: none, next: none}
		// A new station starts with one quantum, as sta_info_alloc
		// gives it.
		s.deficit[ac] = r.weight
	}
	si := int32(len(r.stations))
	r.stations = append(r.stations, s)
	r.byMAC[mac] = si
	return si
}

// tin returns station si's queue for ac, making it on first use.
func (r *radio) tin(si int32, ac AC) (fqcodel.Qdisc, error) {
	s := &r.stations[si]
	if t := s.tins[ac]; t != nil {
		return t, nil
	}
	t := r.spare
	r.spare = nil
	if t == nil {
		q, err := fqcodel.New(r.params.Queue, r.fqSeed)
		if err != nil {
			return nil, err
		}
		var ok bool
		if t, ok = q.(fqcodel.Qdisc); !ok {
			return nil, fmt.Errorf("wifi: queue: fq_codel without per-flow statistics (%T)", q)
		}
	}
	s.tins[ac] = t
	return t, nil
}

// Enqueue implements qdisc.Qdisc: classify p, queue it at its station
// and access category, and let the driver pull what AQL allows into the
// hardware queue.
func (r *radio) Enqueue(p *pkt.Buffer, now int64) bool {
	ac := BE
	if r.params.ACSeparation {
		ac = ACFromUP(UPFromPacket(p))
	}
	a := &r.acs[ac]
	si := r.station(p.Hdr.DstMAC)
	var t fqcodel.Qdisc
	if si != none {
		t, _ = r.tin(si, ac) // the configuration was checked by New
	}
	if t == nil {
		a.drops++
		r.st.Drops++
		p.Release()
		return false
	}
	before := t.Len()
	ok := t.Enqueue(p, now)
	n := t.Len()
	a.swLen += n - before
	if n > 0 {
		r.schedule(si, ac)
	}
	r.refill(ac, now)
	return ok
}

// schedule puts an active station on its access category's list:
// __ieee80211_schedule_txq, at the front with airtime fairness (the
// deficit then decides when it moves back), else at the end.
func (r *radio) schedule(si int32, ac AC) {
	l := &r.stations[si].link[ac]
	if l.on {
		return
	}
	a := &r.acs[ac]
	l.on = true
	if r.fair {
		l.prev, l.next = none, a.active.head
		if a.active.head != none {
			r.stations[a.active.head].link[ac].prev = si
		} else {
			a.active.tail = si
		}
		a.active.head = si
		return
	}
	r.pushTail(ac, si)
}

func (r *radio) pushTail(ac AC, si int32) {
	a := &r.acs[ac]
	l := &r.stations[si].link[ac]
	l.prev, l.next = a.active.tail, none
	if a.active.tail != none {
		r.stations[a.active.tail].link[ac].next = si
	} else {
		a.active.head = si
	}
	a.active.tail = si
	l.on = true
}

func (r *radio) unlink(ac AC, si int32) {
	a := &r.acs[ac]
	l := &r.stations[si].link[ac]
	if l.prev != none {
		r.stations[l.prev].link[ac].next = l.next
	} else {
		a.active.head = l.next
	}
	if l.next != none {
		r.stations[l.next].link[ac].prev = l.prev
	} else {
		a.active.tail = l.prev
	}
	*l = listLink{prev: none, next: none}
}

// nextTxq is ieee80211_next_txq: the first station on ac's list that AQL
// lets send and whose deficit is not negative. A station with a negative
// deficit earns the weight and goes to the end, as does one AQL holds
// back; a whole pass without any station AQL lets through ends the
// search. The station returned is off the list until schedule puts it
// back.
func (r *radio) nextTxq(ac AC) int32 {
	a := &r.acs[ac]
	first, eligible := none, false
	for {
		si := a.active.head
		if si == none {
			return none
		}
		if si == first {
			if !eligible {
				return none
			}
			eligible = false
		}
		if first == none {
			first = si
		}
		s := &r.stations[si]
		aqlOK := r.aqlCheck(s, ac)
		if aqlOK {
			eligible = true
		}
		deficit := s.deficit[ac]
		if deficit < 0 {
			s.deficit[ac] += r.weight
		}
		if deficit < 0 || !aqlOK {
			r.unlink(ac, si)
			r.pushTail(ac, si)
			continue
		}
		r.unlink(ac, si)
		return si
	}
}

// aqlCheck is ieee80211_txq_airtime_check.
func (r *radio) aqlCheck(s *station, ac AC) bool {
	if r.aqlLow == 0 {
		return true
	}
	pending := s.pending[ac]
	return pending < r.aqlLow || r.totalPending < r.aqlThreshold && pending < r.aqlHigh
}

// refill is the driver's pull for ac (a schedule loop over
// ieee80211_next_txq and ieee80211_tx_dequeue, one frame per grant):
// frames move from the stations' queues, through CoDel, to the hardware
// queue until it is full or AQL holds every station back.
func (r *radio) refill(ac AC, now int64) {
	a := &r.acs[ac]
	for a.hwLen < len(a.hw) {
		si := r.nextTxq(ac)
		if si == none {
			return
		}
		s := &r.stations[si]
		t := s.tins[ac]
		before := t.Len()
		p := t.Dequeue(now)
		n := t.Len()
		a.swLen += n - before
		if p != nil {
			air := r.phy.exchange(p.Len(), s.rate)
			a.hw[(a.hwHead+a.hwLen)%len(a.hw)] = hwFrame{p: p, sta: si, air: air, ready: now}
			a.hwLen++
			a.hwBytes += uint64(p.Len())
			s.pending[ac] += air
			r.totalPending += air
		}
		if n > 0 {
			r.schedule(si, ac)
		}
	}
}

// next returns the access category whose frame exchange starts next,
// when, and whether it continues the current TXOP; -1 and Never when the
// hardware queues are empty. It changes nothing.
func (r *radio) next() (ac int, start int64, burst bool) {
	if o := r.txopOwner; o >= 0 && r.acs[o].hwLen > 0 {
		// Within a TXOP the owner sends again SIFS after the ACK, if
		// its next frame was there by then and the exchange fits.
		a := &r.acs[o]
		f := &a.hw[a.hwHead]
		t := r.busyUntil + r.phy.sifs
		if f.ready <= t && t+f.air <= r.txopEnd {
			return o, t, true
		}
	}
	ac, start = -1, Never
	for i := range r.acs {
		if r.acs[i].hwLen == 0 {
			continue
		}
		// Strictly earlier: of two equal times the higher priority
		// (lower index) wins.
		if t := r.accessTime(i); t < start {
			ac, start = i, t
		}
	}
	return ac, start, false
}

// accessTime is when AC i, which has a frame, gets the medium if nothing
// else does first: once the medium has been idle for its AIFS and its
// backoff slots, or when its frame arrives if the count ran out before.
func (r *radio) accessTime(i int) int64 {
	a := &r.acs[i]
	t := r.busyUntil + a.aifs + a.backoff*r.phy.slot
	return max(t, a.hw[a.hwHead].ready)
}

// NextReady implements Device.
func (r *radio) NextReady(now int64) int64 {
	_, start, _ := r.next()
	if start == Never {
		return Never
	}
	return max(start, now)
}

// Dequeue implements qdisc.Qdisc: the frame whose exchange starts at now,
// or nil while the medium is busy or no category has won it yet.
func (r *radio) Dequeue(now int64) *pkt.Buffer {
	w, start, burst := r.next()
	if w < 0 || start > now {
		return nil
	}
	if !burst {
		r.contend(w, start, now)
	}
	a := &r.acs[w]
	f := a.hw[a.hwHead]
	a.hw[a.hwHead] = hwFrame{}
	a.hwHead = (a.hwHead + 1) % len(a.hw)
	a.hwLen--
	n := uint64(f.p.Len())
	a.hwBytes -= n

	s := &r.stations[f.sta]
	s.pending[w] -= f.air
	r.totalPending -= f.air
	if r.fair {
		// ieee80211_sta_register_airtime.
		s.deficit[w] -= f.air
	}
	s.airtime[w] += f.air
	s.packets[w]++
	s.bytes[w] += n
	a.airtime += f.air
	a.packets++
	a.bytes += n
	a.sojourn.Record(time.Duration(now - f.p.EnqueueTime))
	r.st.Packets++
	r.st.Bytes += n
	r.busyUntil = now + f.air

	// The airtime released lets the driver pull again; the AQL
	// threshold is device-wide, so every category may.
	for ac := range r.acs {
		r.refill(AC(ac), now)
	}
	return f.p
}

// contend settles the contention AC w won at time tw, the exchange
// starting at now (>= tw).
func (r *radio) contend(w int, tw, now int64) {
	for i := range r.acs {
		if i == w {
			continue
		}
		a := &r.acs[i]
		if a.hwLen > 0 && r.accessTime(i) == tw {
			// Internal collision (802.11-2016 10.22.2, EDCA): the lower
			// category backs off as if its frame had collided.
			a.collisions++
			a.cw = min(2*a.cw+1, a.cwMax)
			a.backoff = r.draw(a.cw)
			continue
		}
		// The others keep the slots they counted down: those past
		// their AIFS before the medium went busy again. Every count
		// was above that, so none reaches zero here.
		if idle := tw - (r.busyUntil + a.aifs); idle > 0 {
			a.backoff = max(0, a.backoff-idle/r.phy.slot)
		}
	}
	a := &r.acs[w]
	a.txops++
	// Success: CW back to CWmin, and a new backoff at once.
	a.cw = a.cwMin
	a.backoff = r.draw(a.cw)
	if a.txop > 0 {
		r.txopOwner, r.txopEnd = w, now+a.txop
	} else {
		r.txopOwner = -1
	}
}

// Len implements qdisc.Qdisc: packets in the stations' queues and the
// hardware queues.
func (r *radio) Len() int {
	n := 0
	for i := range r.acs {
		n += r.acs[i].swLen + r.acs[i].hwLen
	}
	return n
}

// Stats implements qdisc.Qdisc: the device's counters with its queues'
// drops and backlog.
func (r *radio) Stats() qdisc.Stats {
	st := r.st
	for si := range r.stations {
		for _, t := range r.stations[si].tins {
			if t == nil {
				continue
			}
			ts := t.Stats()
			st.Drops += ts.Drops
			st.Backlog += ts.Backlog
		}
	}
	for i := range r.acs {
		st.Backlog += r.acs[i].hwBytes
	}
	st.Qlen = uint64(r.Len())
	return st
}

// Params implements qdisc.Qdisc.
func (r *radio) Params() qdisc.Params {
	p := r.params
	p.Stations = append([]StationRate(nil), p.Stations...)
	return p
}

// Reset implements qdisc.Qdisc: every queued packet, in the stations'
// queues and the hardware queues, is freed and counted as dropped. The
// medium and the EDCA state stay as they are: a frame on the air is
// still on the air.
func (r *radio) Reset() {
	for si := range r.stations {
		s := &r.stations[si]
		for ac, t := range s.tins {
			if t != nil {
				t.Reset()
			}
			s.link[ac] = listLink{prev: none, next: none}
			s.pending[ac] = 0
		}
	}
	for i := range r.acs {
		a := &r.acs[i]
		for a.hwLen > 0 {
			a.hw[a.hwHead].p.Release()
			a.hw[a.hwHead] = hwFrame{}
			a.hwHead = (a.hwHead + 1) % len(a.hw)
			a.hwLen--
			a.drops++
			r.st.Drops++
		}
		a.hwHead, a.hwBytes, a.swLen = 0, 0, 0
		a.active = stationList{head: none, tail: none}
	}
	r.totalPending = 0
	r.txopOwner = -1
}

// XStats implements Device.
func (r *radio) XStats() XStats {
	var x XStats
	for i := range r.acs {
		a := &r.acs[i]
		x.AC[i] = ACStats{
			Packets:            a.packets,
			Bytes:              a.bytes,
			Drops:              a.drops,
			Qlen:               a.swLen + a.hwLen,
			HWQlen:             a.hwLen,
			Airtime:            time.Duration(a.airtime),
			TXOPs:              a.txops,
			InternalCollisions: a.collisions,
			Sojourn:            a.sojourn,
		}
	}
	x.Stations = make([]StationStats, len(r.stations))
	for si := range r.stations {
		s := &r.stations[si]
		ss := &x.Stations[si]
		ss.MAC, ss.Rate = s.mac, s.rate
		for ac, t := range s.tins {
			ss.Airtime[ac] = time.Duration(s.airtime[ac])
			ss.Packets[ac] = s.packets[ac]
			ss.Bytes[ac] = s.bytes[ac]
			ss.Deficit[ac] = time.Duration(s.deficit[ac])
			if t == nil {
				continue
			}
			fx := t.XStats()
			x.AC[ac].Drops += t.Stats().Drops
			x.AC[ac].ECNMarks += uint64(fx.ECNMark) + uint64(fx.CEMark)
		}
	}
	return x
}
