package wifi

import (
	"fmt"
	"time"

	"netyard/qdisc/fqcodel"
	"netyard/wire"
)

// Defaults taken from mac80211 and the 802.11 PHY; each names its source.
const (
	// DefaultRate is 54 Mb/s, the top OFDM rate of 802.11a/g.
	DefaultRate = 54_000_000
	// DefaultControlRate is 24 Mb/s, the highest mandatory OFDM rate,
	// at which ACKs answer data sent at 24 Mb/s or more.
	DefaultControlRate = 24_000_000

	// DefaultAirtimeWeight is the airtime quantum a station's deficit
	// gains per round: IEEE80211_DEFAULT_AIRTIME_WEIGHT (256, in
	// microseconds, include/net/cfg80211.h).
	DefaultAirtimeWeight = 256 * time.Microsecond

	// Airtime Queue Limits, IEEE80211_DEFAULT_AQL_TXQ_LIMIT_L/_H and
	// IEEE80211_AQL_THRESHOLD (include/net/cfg80211.h, mac80211.h): a
	// station may have DefaultAQLHigh of estimated airtime queued in
	// the hardware per access category while the whole device has less
	// than DefaultAQLThreshold pending, else DefaultAQLLow.
	DefaultAQLLow       = 5 * time.Millisecond
	DefaultAQLHigh      = 12 * time.Millisecond
	DefaultAQLThreshold = 24 * time.Millisecond

	// DefaultHWQueue bounds each access category's hardware queue in
	// frames, for when AQL is off: ath9k's ATH_MAX_QDEPTH (ATH_TXBUF /
	// 4 = 128). With AQL on, the airtime limit is what binds.
	DefaultHWQueue = 128

	// DefaultMaxStations bounds the stations (destination addresses)
	// the device keeps queues for; packets to more are dropped. Each
	// active (station, AC) pair holds an fq_codel, about 70 KiB with
	// 1024 flows.
	DefaultMaxStations = 256

	// MaxRate bounds Rate and station rates (802.11be tops out near
	// 46 Gb/s).
	MaxRate = 100_000_000_000
	// MaxHWQueue bounds HWQueue.
	MaxHWQueue = 4096
	// MaxStations bounds MaxStations (a station index is an int32, and
	// an 802.11 AID is below 2008 anyway).
	MaxStations = 1 << 16
)

// Params is the wifi device's configuration. Its Kind is "wifi": netyard's
// own, since Linux has no qdisc for this (mac80211 queues inside the
// wireless stack, below the root qdisc, which is usually noqueue). Start
// from Defaults; every field is explicit.
type Params struct {
	// Rate is the PHY data rate, in bits/s, to destinations not listed
	// in Stations.
	Rate uint64
	// ControlRate is the rate of ACKs, in bits/s.
	ControlRate uint64
	// Stations sets the rate of given destinations: a fast and a slow
	// client, say.
	Stations []StationRate

	// ACSeparation classifies packets into the four access categories
	// (UPFromPacket, ACFromUP). Off, every packet is best effort, as
	// mac80211 does for a station without QoS (WMM): the "without AC
	// separation" half of a comparison.
	ACSeparation bool
	// AirtimeFairness turns on mac80211's airtime deficit round robin
	// between stations (see the package comment). Off, stations are
	// served in plain round robin, a frame each (airtime_flags 0).
	AirtimeFairness bool
	// AirtimeWeight is the deficit quantum of airtime fairness.
	AirtimeWeight time.Duration

	// AQLLow, AQLHigh and AQLThreshold are the Airtime Queue Limits
	// (ieee80211_txq_airtime_check). AQLLow 0 turns AQL off: the
	// hardware queues then fill to HWQueue frames.
	AQLLow, AQLHigh, AQLThreshold time.Duration
	// HWQueue is the most frames an access category's hardware queue
	// holds.
	HWQueue int
	// MaxStations bounds the destinations with queues.
	MaxStations int

	// EDCA are the channel access parameters, indexed by AC.
	EDCA [NumACs]EDCA
	// Slot, SIFS and Preamble are the PHY's timing (see DefaultSlot).
	Slot, SIFS, Preamble time.Duration

	// Queue configures the fq_codel of each (station, AC) queue: the
	// txq of mac80211, whose parameters Defaults copies.
	Queue fqcodel.Params

	// Seed keys the backoff draws and the flow hash: the same seed and
	// the same packets at the same times give the same schedule.
	Seed uint64
}

// StationRate is one destination's PHY data rate.
type StationRate struct {
	MAC  wire.MAC
	Rate uint64 // bits/s
}

// Kind implements qdisc.Params.
func (Params) Kind() string { return "wifi" }

// Defaults returns a device as mac80211 sets one up on an 802.11a radio
// at 54 Mb/s: access categories separated, airtime fairness and AQL on.
//
// Queue is mac80211's fq and CoDel setup (ieee80211_txq_setup_flows in
// net/mac80211/tx.c, fq_init in include/net/fq_impl.h): quantum 300
// bytes, limit 8192 packets, memory 16 MiB, CoDel target 20 ms, interval
// 100 ms, ECN on. DropBatch is 1, since fq_tin_enqueue drops one packet
// from the fattest flow per packet over the limit. Flows is 1024 per
// queue: mac80211 shares 4096 flows among all its txqs (a packet whose
// flow belongs to another txq falls back to the txq's default flow),
// while each netyard queue is an fq_codel with its own table.
func Defaults() Params {
	return Params{
		Rate:            DefaultRate,
		ControlRate:     DefaultControlRate,
		ACSeparation:    true,
		AirtimeFairness: true,
		AirtimeWeight:   DefaultAirtimeWeight,
		AQLLow:          DefaultAQLLow,
		AQLHigh:         DefaultAQLHigh,
		AQLThreshold:    DefaultAQLThreshold,
		HWQueue:         DefaultHWQueue,
		MaxStations:     DefaultMaxStations,
		EDCA:            DefaultEDCA(),
		Slot:            DefaultSlot,
		SIFS:            DefaultSIFS,
		Preamble:        DefaultPreamble,
		Queue: fqcodel.Params{
			Limit:       8192,
			Flows:       fqcodel.DefaultFlows,
			Quantum:     300,
			Target:      20 * time.Millisecond,
			Interval:    100 * time.Millisecond,
			MemoryLimit: 16 << 20,
			DropBatch:   1,
			ECN:         true,
		},
	}
}

// validate checks p. The fq_codel parameters are checked by fqcodel.New.
func (p *Params) validate() error {
	checkRate := func(what string, r uint64) error {
		if r == 0 || r > MaxRate {
			return fmt.Errorf("wifi: %s %d b/s: must be 1..%d", what, r, uint64(MaxRate))
		}
		return nil
	}
	if err := checkRate("rate", p.Rate); err != nil {
		return err
	}
	if err := checkRate("control rate", p.ControlRate); err != nil {
		return err
	}
	seen := make(map[wire.MAC]bool, len(p.Stations))
	for _, s := range p.Stations {
		if err := checkRate("station "+s.MAC.String()+" rate", s.Rate); err != nil {
			return err
		}
		if seen[s.MAC] {
			return fmt.Errorf("wifi: station %v listed twice", s.MAC)
		}
		seen[s.MAC] = true
	}
	if p.AirtimeFairness && p.AirtimeWeight < time.Microsecond {
		return fmt.Errorf("wifi: airtime weight %v: must be at least 1us with airtime fairness on", p.AirtimeWeight)
	}
	switch {
	case p.AQLLow < 0 || p.AQLHigh < 0 || p.AQLThreshold < 0:
		return fmt.Errorf("wifi: AQL limits %v/%v/%v: must not be negative", p.AQLLow, p.AQLHigh, p.AQLThreshold)
	case p.AQLLow > 0 && p.AQLHigh < p.AQLLow:
		return fmt.Errorf("wifi: AQL high limit %v: must be at least the low limit %v", p.AQLHigh, p.AQLLow)
	}
	if p.HWQueue < 1 || p.HWQueue > MaxHWQueue {
		return fmt.Errorf("wifi: hardware queue of %d frames: must be 1..%d", p.HWQueue, MaxHWQueue)
	}
	if p.MaxStations < 1 || p.MaxStations > MaxStations {
		return fmt.Errorf("wifi: max stations %d: must be 1..%d", p.MaxStations, MaxStations)
	}
	if len(p.Stations) > p.MaxStations {
		return fmt.Errorf("wifi: %d stations listed, max stations is %d", len(p.Stations), p.MaxStations)
	}
	for ac, e := range p.EDCA {
		isCW := func(cw uint16) bool { return cw&(cw+1) == 0 && cw <= maxCW }
		switch {
		case e.AIFSN < 1 || e.AIFSN > maxAIFSN:
			return fmt.Errorf("wifi: %v AIFSN %d: must be 1..%d", AC(ac), e.AIFSN, maxAIFSN)
		case !isCW(e.CWMin) || !isCW(e.CWMax):
			return fmt.Errorf("wifi: %v CW %d..%d: each must be 2^n-1, at most %d", AC(ac), e.CWMin, e.CWMax, maxCW)
		case e.CWMin > e.CWMax:
			return fmt.Errorf("wifi: %v CWmin %d above CWmax %d", AC(ac), e.CWMin, e.CWMax)
		case e.TXOPLimit < 0 || e.TXOPLimit > MaxTXOPLimit:
			return fmt.Errorf("wifi: %v TXOP limit %v: must be 0..%v", AC(ac), e.TXOPLimit, MaxTXOPLimit)
		}
	}
	switch {
	case p.Slot < time.Microsecond || p.Slot > time.Millisecond:
		return fmt.Errorf("wifi: slot %v: must be 1us..1ms", p.Slot)
	case p.SIFS < time.Microsecond || p.SIFS > time.Millisecond:
		return fmt.Errorf("wifi: SIFS %v: must be 1us..1ms", p.SIFS)
	case p.Preamble < 0 || p.Preamble > time.Millisecond:
		return fmt.Errorf("wifi: preamble %v: must be 0..1ms", p.Preamble)
	}
	return nil
}
