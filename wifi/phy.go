package wifi

import (
	"time"

	"netyard/wire"
)

// EDCA is one access category's channel access parameters: a row of the
// EDCA Parameter Set element (802.11-2016 9.4.2.29), what mac80211 keeps
// in struct ieee80211_tx_queue_params.
type EDCA struct {
	// AIFSN is how many slots, after SIFS, the medium must stay idle
	// before the category may count down its backoff: AIFS = SIFS +
	// AIFSN * Slot (802.11-2016 10.22.2).
	AIFSN uint8
	// CWMin and CWMax bound the contention window, from which a backoff
	// of 0..CW slots is drawn; each is 2^n - 1.
	CWMin, CWMax uint16
	// TXOPLimit is how long one access may keep the medium for a burst
	// of frame exchanges separated by SIFS; 0 allows one
	// exchange per access.
	TXOPLimit time.Duration
}

// Bounds the EDCA Parameter Set element can express.
const (
	maxAIFSN = 15 // 4-bit AIFSN field
	maxCW    = 32767
	// MaxTXOPLimit is the largest TXOP limit the 8-bit field holds, in
	// units of 32 us.
	MaxTXOPLimit = 255 * 32 * time.Microsecond
)

// DefaultEDCA returns the default EDCA parameter set for an OFDM PHY
// (aCWmin 15, aCWmax 1023) as ieee80211_set_wmm_default
// (net/mac80211/util.c) installs it until the AP advertises its own: the
// non-AP station values of 802.11-2016's default EDCA Parameter Set
// (dot11EDCATable). An AP uses AIFSN 1 for VO and VI itself; netyard's
// device keeps the station values, as mac80211 does until told otherwise.
func DefaultEDCA() [NumACs]EDCA {
	return [NumACs]EDCA{
		VO: {AIFSN: 2, CWMin: 3, CWMax: 7, TXOPLimit: 1504 * time.Microsecond},
		VI: {AIFSN: 2, CWMin: 7, CWMax: 15, TXOPLimit: 3008 * time.Microsecond},
		BE: {AIFSN: 3, CWMin: 15, CWMax: 1023},
		BK: {AIFSN: 7, CWMin: 15, CWMax: 1023},
	}
}

// OFDM timing of the 5 GHz PHY (802.11-2016 clause 17), the one
// mac80211's defaults above assume.
const (
	DefaultSlot = 9 * time.Microsecond  // aSlotTime
	DefaultSIFS = 16 * time.Microsecond // aSIFSTime
	// DefaultPreamble is the PLCP preamble (16 us) and SIGNAL field
	// (4 us) in front of every OFDM PPDU. An HT or VHT PPDU
	// has a longer one (36 us and more); set Params.Preamble for them.
	DefaultPreamble = 20 * time.Microsecond
	// symbolTime is the OFDM symbol with its guard interval.
	symbolTime = 4 * time.Microsecond
)

// Frame overheads, in bytes. An Ethernet frame becomes an 802.11 QoS data
// frame as ieee80211_build_hdr (net/mac80211/tx.c) builds it: the 14-byte
// Ethernet header gives way to a 26-byte QoS data header (frame control,
// duration, three addresses, sequence control, QoS control), an 8-byte
// RFC 1042 LLC/SNAP header carries the EtherType, and a 4-byte FCS
// follows. Security headers (CCMP adds 16) are not counted.
const (
	qosDataHeaderLen = 26
	llcSNAPLen       = 8
	fcsLen           = 4
	// mpduOverhead is what the MPDU adds to the Ethernet frame.
	mpduOverhead = qosDataHeaderLen + llcSNAPLen + fcsLen - wire.EthHeaderLen
	// ackLen is the ACK control frame: frame control, duration, RA, FCS.
	ackLen = 14
)

// ppduTime is TXTIME of an OFDM PPDU carrying n bytes at rate bits/s
// (802.11-2016 17.4.3): preamble and SIGNAL, then the 16-bit SERVICE
// field, the data and 6 tail bits in whole symbols of rate*4us bits each.
// It is in nanoseconds. A rate that is not an OFDM rate gives the time
// the same PHY would take at that many data bits per symbol, which is how
// HT/VHT rates are used here too (with their own Preamble).
func ppduTime(preamble int64, n int, rate uint64) int64 {
	bits := uint64(16 + 8*n + 6)
	// Data bits per symbol are rate * 4 us = rate / 250000.
	symbols := (bits*250_000 + rate - 1) / rate
	return preamble + int64(symbols)*int64(symbolTime)
}

// phy holds the timing the device works with, in nanoseconds.
type phy struct {
	slot, sifs, preamble int64
	controlRate          uint64
	ackTime              int64 // SIFS + ACK after every data frame
}

func newPHY(p *Params) phy {
	ph := phy{
		slot:        int64(p.Slot),
		sifs:        int64(p.SIFS),
		preamble:    int64(p.Preamble),
		controlRate: p.ControlRate,
	}
	ph.ackTime = ph.sifs + ppduTime(ph.preamble, ackLen, ph.controlRate)
	return ph
}

// exchange is the medium time of one frame exchange: the data PPDU for an
// Ethernet frame of frameLen bytes at rate, SIFS, and the ACK at the
// control rate (802.11 sends the ACK at the highest basic rate not above
// the data rate; netyard takes one configured control rate). This is the
// airtime charged to the station and its access category.
func (ph *phy) exchange(frameLen int, rate uint64) int64 {
	mpdu := max(frameLen, wire.EthHeaderLen) + mpduOverhead
	return ppduTime(ph.preamble, mpdu, rate) + ph.ackTime
}

// aifs is AIFS[AC] = SIFS + AIFSN * slot.
func (ph *phy) aifs(e EDCA) int64 { return ph.sifs + int64(e.AIFSN)*ph.slot }
