// Package wifi models an 802.11 transmitter in virtual time, queueing as
// Linux's mac80211 does, so that netyard can show what the wireless stack
// does with a backed-up best-effort queue: voice gets through because the
// stack itself separates access categories and controls its queues (the
// Netconf 2017 point behind "Removing ndo_select_queue()"), not because a
// queue-selection hook picked a TX queue.
//
// # The packet's way
//
//	Enqueue ─ classify: UPFromPacket, ACFromUP          (wme.c, util.c)
//	   │       (everything BE when ACSeparation is off)
//	   ▼
//	(station, AC) queue: an fq_codel per destination   (mac80211 txq: fq + CoDel,
//	   │                 and access category            tx.c, fq_impl.h)
//	   ▼
//	driver pull, per AC: airtime deficit round robin   (ieee80211_next_txq,
//	   │   over stations, each allowed a bounded         ieee80211_txq_airtime_check)
//	   │   airtime in the hardware queue (AQL)
//	   ▼
//	hardware queue per AC, FIFO (HWQueue frames at most)
//	   │
//	   ▼
//	EDCA: the four ACs contend for the medium          (802.11-2016 10.22.2)
//	   │   AIFS + backoff slots; TXOP bursts
//	   ▼
//	Dequeue returns the frame whose exchange starts now; the medium is
//	busy for its airtime (data PPDU, SIFS, ACK) until NextReady.
//
// # Driving it
//
// The device is a qdisc.Qdisc, so a datapath can put it where a TX queue's
// root qdisc goes. Unlike a wired queue it does not give a packet whenever
// asked: the medium is free only at certain times. A virtual-time driver
// (a lab) runs:
//
//	for {
//		tx := d.NextReady(now)
//		if arrival := nextArrival(); arrival <= tx {
//			now = arrival
//			d.Enqueue(p, now)        // may bring tx forward
//			continue
//		}
//		if tx == wifi.Never {
//			break                    // idle until the next arrival
//		}
//		now = tx
//		transmit(d.Dequeue(now), now) // on the air from now
//	}
//
// NextReady is the time the next frame exchange can start given what is
// queued now: the end of the current exchange (plus SIFS within a TXOP),
// or the moment an access category wins the contention that follows.
// Packets enqueued since can only bring it forward, so a driver asks
// again after each Enqueue. Dequeue at or after that time returns a
// packet (a late call starts the exchange late, at the time given);
// before it, nil. Every decision uses the times passed in and the seeded
// generator only: the same inputs give the same schedule.
//
// # Following mac80211
//
//   - Queues: mac80211 keeps a txq per (station, TID), each a tin of one
//     fq with CoDel per flow; here each (station, AC) gets an fq_codel
//     (qdisc/fqcodel) with mac80211's parameters (Defaults): quantum 300,
//     target 20 ms, interval 100 ms, ECN, 8192 packets, 16 MiB. A station
//     is a destination MAC address; a group address is one too, where
//     mac80211 queues group traffic on the interface's own txq.
//   - Airtime fairness: mac80211's deficit round robin in airtime
//     (ieee80211_next_txq since "wifi: mac80211: switch airtime fairness
//     back to deficit round-robin scheduling", 2022). Per station and AC
//     a deficit starts at the weight (256 us) and pays each transmitted
//     frame's airtime; a station whose deficit is negative earns the
//     weight back and goes to the end of the list, and a station that
//     becomes active goes to the front. The station served stays in
//     front until its deficit runs out, so each station gets its share
//     of airtime, not of packets: a slow station cannot hog the medium.
//   - AQL: a station may have AQLHigh of estimated airtime in the
//     hardware queue per AC while the device has less than AQLThreshold
//     pending in all, else AQLLow. That bounds the hardware queue in
//     time, which is what keeps the latency of everything behind it low.
//   - EDCA: each AC waits AIFS[AC] = SIFS + AIFSN*slot of idle medium,
//     then counts down a backoff drawn from 0..CW; the first at zero
//     sends. The others keep their progress and resume after the next
//     busy period. Two ACs of the device reaching zero in the same slot
//     is an internal collision: the higher priority sends, the other
//     doubles its CW and draws again. After a successful exchange the
//     winner resets CW to CWmin and draws a new backoff at once
//     (post-backoff), counted down while the medium is idle, so a frame
//     arriving after a long idle period goes out after AIFS. A winner
//     may send further frames of its AC, SIFS apart, while they fit in
//     its TXOP limit. Precedence is thus statistical, not strict: BE and
//     BK get turns while VI is busy, through their counters' progress.
//
// # Simplified, on purpose
//
//   - One transmitter and a perfect channel: the device is the only one
//     on the medium, so there are no collisions with other stations, no
//     losses, no retries, no rate control (each station has a fixed
//     rate), no RTS/CTS and no power save.
//   - No aggregation: each frame is its own PPDU with its own ACK, so a
//     TXOP limit of 0 (BE, BK) means one frame per access. A-MPDU would
//     make BE's accesses more efficient and longer (a few milliseconds,
//     which a VO frame arriving meanwhile waits out).
//   - Queues are per access category, not per TID: the two UPs of an
//     AC share a station's queue.
//   - Airtime is charged when a frame goes on the air, from the PHY rate
//     (ppduTime), where mac80211 charges the driver's tx status; AQL's
//     pending airtime is released at the same moment, one exchange
//     earlier than at tx completion.
//   - The fq and its limits are per (station, AC) queue, where mac80211
//     shares one fq (4096 flows, one packet and memory limit) across all
//     its txqs; the per-PHY AQL limit ("wifi: mac80211: add a per-PHY AQL
//     limit to improve fairness", 2022) is left out.
//   - CoDel parameters are the same for every station, as in mac80211
//     since commit 4876376988081 (2025) reverted the slow-station ones
//     (50 ms / 300 ms), which all but disabled CoDel.
//   - Timing is OFDM's (slot 9 us, SIFS 16 us, a 20 us preamble) at a
//     configured rate per station; no security headers, no MAC padding.
package wifi
