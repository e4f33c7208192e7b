package air

import (
	"encoding/binary"
	"math"
	"net/netip"
	"time"

	"netyard/wifi/dot11"
	"netyard/wire"
)

// A station's states.
const (
	stAbsent   = iota // not arrived yet
	stScan            // scanning to join
	stConnect         // authenticating and (re)associating
	stAssoc           // associated: data, background scans, roaming, leaving
	stBgScan          // associated and scanning
	stRoamScan        // moved, scanning for a better AP
	stDown            // knocked off by a deauthentication, waiting to rescan
	stLeaving         // sending its goodbye
	stGone
)

// Steps of a planned exchange.
const (
	stepProbe = iota
	stepProbeResp
	stepAuth1
	stepAuth2
	stepAssocReq
	stepAssocResp
	stepReassocReq
	stepReassocResp
	stepDeauth
	stepDisassoc
	stepEAPOL1 // the 4-way handshake: messages 1 to 4 (802.11-2020 12.7.6)
	stepEAPOL2
	stepEAPOL3
	stepEAPOL4
)

type step struct {
	at   int64
	what uint8
	ap   uint8 // AP index
	ch   uint8
}

type station struct {
	mac       dot11.MAC
	addr      [4]byte
	x, y      float64
	shadow    float64
	state     uint8
	ap, oldAP int
	seq       uint16
	aid       uint16
	rate      uint16 // data rate, 500 kb/s units
	pn        uint64 // CCMP packet number of its last protected frame
	replay    uint64 // EAPOL-Key replay counter of its AP's last message
	next      int64
	// Timers while associated.
	nextData, scanAt, roamAt, leaveAt int64
	scanMean                          float64 // ns
	plan                              [maxPlan]step
	np, ip                            int
}

// Vendor OUIs for stations' addresses (phones and laptops' Wi-Fi chips),
// so that a report's top talkers look like a real site's.
var ouis = [][3]byte{{0xf0, 0x18, 0x98}, {0x8c, 0xf5, 0xa3}, {0x3c, 0xa9, 0xf4}, {0xa4, 0x83, 0xe7}, {0xdc, 0xa6, 0x32}, {0x70, 0x3a, 0x0e}}

func (a *Air) initStation(i int) {
	st := &a.stas[i]
	o := ouis[a.rng.IntN(len(ouis))]
	st.mac = dot11.MAC{o[0], o[1], o[2], byte(i >> 8), byte(i), byte(a.rng.IntN(256))}
	st.addr = [4]byte{10, 20, byte(i >> 8), byte(i)}
	st.x = a.cfg.StationX + a.cfg.Spread*a.rng.NormFloat64()
	st.y = a.cfg.StationY + a.cfg.Spread*a.rng.NormFloat64()
	st.shadow = 3 * a.rng.NormFloat64()
	st.ap, st.oldAP = -1, -1
	st.seq = uint16(a.rng.IntN(4096))
	st.state = stAbsent
	if a.rng.Float64() < a.cfg.Late {
		st.next = a.rng.Int64N(a.end)
	} else {
		st.next = a.rng.Int64N(int64(10 * time.Second))
	}
	never := int64(math.MaxInt64)
	st.roamAt, st.leaveAt = never, never
	if a.rng.Float64() < a.cfg.Roam {
		st.roamAt = st.next + a.rng.Int64N(max(1, a.end-st.next))
	}
	if a.rng.Float64() < a.cfg.Leave {
		st.leaveAt = st.next + a.rng.Int64N(max(1, a.end-st.next))
	}
	// Some stations scan much more often than others (a lognormal
	// spread around ScanEvery), as phones with their screens on do.
	st.scanMean = float64(a.cfg.ScanEvery) * math.Exp(1.2*a.rng.NormFloat64()-0.72)
}

func (st *station) nextSeq() uint16 {
	st.seq = (st.seq + 1) & 0xfff
	return st.seq
}

// exp draws an exponential time with the given mean (ns).
func (a *Air) exp(mean float64) int64 {
	if mean <= 0 {
		return math.MaxInt64 / 2
	}
	return int64(a.rng.ExpFloat64()*mean) + 1
}

// station runs station i's event at t: a frame of its plan, a data
// frame, or a change of state. It returns the station's next event (-1:
// never) and whether f holds a frame.
func (a *Air) station(i int, t int64, f *Frame) (int64, bool) {
	st := &a.stas[i]
	if st.ip < st.np {
		s := st.plan[st.ip]
		st.ip++
		a.stepFrame(st, &s, f)
		if st.ip < st.np {
			return st.plan[st.ip].at, true
		}
		return a.afterPlan(st, t), true
	}
	switch st.state {
	case stAbsent, stDown:
		a.planScan(st, t, stScan)
		return st.plan[0].at, false
	case stAssoc:
		return a.associated(st, t, f)
	}
	return -1, false
}

// associated handles the next timer of an associated station.
func (a *Air) associated(st *station, t int64, f *Frame) (int64, bool) {
	if a.attackOn(st.ap, t) {
		// A deauthentication in its AP's name reached it: it drops
		// the association and scans again after a moment.
		a.aps[st.ap].stations--
		st.state, st.ap = stDown, -1
		return t + int64(300*time.Millisecond) + a.rng.Int64N(int64(700*time.Millisecond)), false
	}
	switch next := min(st.nextData, st.scanAt, st.roamAt, st.leaveAt); {
	case t >= st.leaveAt:
		st.leaveAt = math.MaxInt64
		what := uint8(stepDeauth)
		if a.rng.IntN(2) == 0 {
			what = stepDisassoc
		}
		st.np, st.ip = 1, 0
		st.plan[0] = step{at: t, what: what, ap: uint8(st.ap)}
		st.state = stLeaving
		return t, false
	case t >= st.roamAt:
		st.roamAt = math.MaxInt64
		// It walks to another AP's cell.
		other := (st.ap + 1 + a.rng.IntN(max(1, len(a.aps)-1))) % len(a.aps)
		st.x = a.aps[other].X + 3*a.rng.NormFloat64()
		st.y = a.aps[other].Y + 3*a.rng.NormFloat64()
		a.planScan(st, t, stRoamScan)
		return st.plan[0].at, false
	case t >= st.scanAt:
		st.scanAt = t + a.exp(st.scanMean)
		a.planScan(st, t, stBgScan)
		return st.plan[0].at, false
	case t >= st.nextData:
		a.dataFrame(st, f)
		st.nextData = t + a.exp(float64(time.Second)/(2*a.cfg.DataRate))
		return min(st.nextData, st.scanAt, st.roamAt, st.leaveAt), true
	default:
		return next, false
	}
}

// planScan plans an active scan from t: on each channel of the band,
// probesPerChannel wildcard probe requests probeGap apart, each answered
// by every AP on the channel, dwell on each channel.
func (a *Air) planScan(st *station, t int64, state uint8) {
	st.state, st.np, st.ip = state, 0, 0
	for ci, ch := range a.chans {
		t0 := t + int64(ci)*int64(dwell)
		for k := range probesPerChannel {
			tp := t0 + int64(k)*int64(probeGap)
			st.add(step{at: tp, what: stepProbe, ch: ch})
			n := 0
			for j := range a.aps {
				if a.aps[j].Channel == ch {
					st.add(step{at: tp + int64(replyDelay) + int64(n)*int64(200*time.Microsecond), what: stepProbeResp, ap: uint8(j), ch: ch})
					n++
				}
			}
		}
	}
}

// add appends s to the plan; a full plan drops it (more APs on a
// channel than the plan holds answers for).
func (st *station) add(s step) {
	if st.np < maxPlan {
		st.plan[st.np] = s
		st.np++
	}
}

// afterPlan moves a station on when its plan's last frame is out, and
// returns its next event.
func (a *Air) afterPlan(st *station, t int64) int64 {
	st.np, st.ip = 0, 0
	switch st.state {
	case stScan, stRoamScan:
		best := a.bestAP(st)
		if st.state == stRoamScan && best == st.ap {
			st.state = stAssoc
			return a.resume(st, t)
		}
		a.planConnect(st, t, best)
		return st.plan[0].at
	case stConnect:
		if st.oldAP >= 0 {
			a.aps[st.oldAP].stations--
			st.oldAP = -1
		}
		a.aps[st.ap].stations++
		st.state = stAssoc
		st.rate = rateForSNR(a.pathSignal(st, &a.aps[st.ap]) - float64(a.noise))
		st.nextData = t + a.exp(float64(time.Second)/(2*a.cfg.DataRate))
		if st.scanAt <= t {
			st.scanAt = t + a.exp(st.scanMean)
		}
		return a.resume(st, t)
	case stBgScan:
		st.state = stAssoc
		return a.resume(st, t)
	case stLeaving:
		a.aps[st.ap].stations--
		st.state, st.ap = stGone, -1
		return -1
	}
	return -1
}

func (a *Air) resume(st *station, t int64) int64 {
	return max(t+1, min(st.nextData, st.scanAt, st.roamAt, st.leaveAt))
}

// bestAP is the AP with the strongest mean signal at the station.
func (a *Air) bestAP(st *station) int {
	best, bs := 0, math.Inf(-1)
	for j := range a.aps {
		if s := a.pathSignal(st, &a.aps[j]); s > bs {
			best, bs = j, s
		}
	}
	return best
}

// planConnect plans open-system authentication and association with AP
// j, or reassociation when the station is associated with another.
func (a *Air) planConnect(st *station, t int64, j int) {
	st.np, st.ip = 0, 0
	req, resp := uint8(stepAssocReq), uint8(stepAssocResp)
	if st.state == stRoamScan && st.ap >= 0 {
		req, resp = stepReassocReq, stepReassocResp
		st.oldAP = st.ap
	}
	ch := a.aps[j].Channel
	for k, w := range []uint8{stepAuth1, stepAuth2, req, resp, stepEAPOL1, stepEAPOL2, stepEAPOL3, stepEAPOL4} {
		st.add(step{at: t + int64(dwell) + int64(k+1)*int64(replyDelay), what: w, ap: uint8(j), ch: ch})
	}
	st.ap, st.state = j, stConnect
}

// rateForSNR picks an OFDM rate (500 kb/s units) a station's rate
// control would settle on at this SNR (dB): the usual minimum SNRs of
// 802.11a/g rates.
func rateForSNR(snr float64) uint16 {
	switch {
	case snr >= 25:
		return 108
	case snr >= 21:
		return 96
	case snr >= 18:
		return 72
	case snr >= 13:
		return 48
	case snr >= 9:
		return 24
	default:
		return 12
	}
}

// stepFrame builds the frame of a planned step.
func (a *Air) stepFrame(st *station, s *step, f *Frame) {
	ap := &a.aps[s.ap]
	a.buf = a.buf[:0]
	if s.what >= stepEAPOL1 {
		a.eapolFrame(st, ap, int(s.what-stepEAPOL1)+1, f)
		return
	}
	var h dot11.Header
	var m dot11.Mgmt
	fromAP := false
	dur := dot11.ACKDuration(a.mgmtRate)
	switch s.what {
	case stepProbe:
		h = dot11.Header{Kind: dot11.ProbeReq, Addr1: dot11.Broadcast, Addr2: st.mac, Addr3: dot11.Broadcast, Seq: st.nextSeq()}
	case stepProbeResp:
		h = dot11.Header{Kind: dot11.ProbeResp, Duration: dur, Addr1: st.mac, Addr2: ap.BSSID, Addr3: ap.BSSID, Seq: ap.nextSeq()}
		m = dot11.Mgmt{Timestamp: uint64(st.plan[st.ip-1].at / 1000), Interval: beaconTU, Capability: apCapability}
		fromAP = true
	case stepAuth1, stepAuth2:
		m = dot11.Mgmt{AuthAlgorithm: dot11.AuthOpen, AuthSeq: 1}
		if s.what == stepAuth2 {
			m.AuthSeq, fromAP = 2, true
		}
		h = dot11.Header{Kind: dot11.Auth}
	case stepAssocReq, stepReassocReq:
		h = dot11.Header{Kind: dot11.AssocReq}
		m = dot11.Mgmt{Capability: apCapability, ListenInterval: listenInterval}
		if s.what == stepReassocReq {
			h.Kind, m.CurrentAP = dot11.ReassocReq, a.aps[st.oldAP].BSSID
		}
	case stepAssocResp, stepReassocResp:
		h = dot11.Header{Kind: dot11.AssocResp}
		if s.what == stepReassocResp {
			h.Kind = dot11.ReassocResp
		}
		ap.aid = ap.aid%2007 + 1 // AIDs 1..2007
		st.aid = ap.aid
		m = dot11.Mgmt{Capability: apCapability, Status: dot11.StatusSuccess, AID: 0xc000 | st.aid}
		fromAP = true
	case stepDeauth:
		h, m = dot11.Header{Kind: dot11.Deauth}, dot11.Mgmt{Reason: dot11.ReasonDeauthLeaving}
	case stepDisassoc:
		h, m = dot11.Header{Kind: dot11.Disassoc}, dot11.Mgmt{Reason: dot11.ReasonDisassocLeave}
	}
	if h.Kind != dot11.ProbeReq && h.Kind != dot11.ProbeResp {
		h.Duration, h.Addr3 = dur, ap.BSSID
		if fromAP {
			h.Addr1, h.Addr2, h.Seq = st.mac, ap.BSSID, ap.nextSeq()
		} else {
			h.Addr1, h.Addr2, h.Seq = ap.BSSID, st.mac, st.nextSeq()
		}
	}
	a.buf = dot11.AppendHeader(a.buf, &h)
	a.buf = dot11.AppendMgmt(a.buf, h.Kind, &m)
	switch h.Kind {
	case dot11.ProbeReq:
		a.buf, _ = dot11.AppendSSID(a.buf, "")
		a.buf, _ = dot11.AppendRates(a.buf, a.rates())
		a.buf = dot11.AppendDSParams(a.buf, s.ch)
		a.buf = dot11.AppendHTCaps(a.buf, &htCaps)
	case dot11.ProbeResp:
		a.buf = a.appendAPIEs(a.buf, ap, false)
	case dot11.AssocReq, dot11.ReassocReq:
		a.buf, _ = dot11.AppendSSID(a.buf, ap.SSID)
		a.buf, _ = dot11.AppendRates(a.buf, a.rates())
		a.buf = dot11.AppendRSN(a.buf, &rsn)
		a.buf = dot11.AppendHTCaps(a.buf, &htCaps)
	case dot11.AssocResp, dot11.ReassocResp:
		a.buf, _ = dot11.AppendRates(a.buf, a.rates())
		a.buf = dot11.AppendHTCaps(a.buf, &htCaps)
	}
	a.buf = dot11.AppendFCS(a.buf, 0)
	f.Kind, f.Channel, f.Rate, f.Attack = h.Kind, s.ch, a.mgmtRate, false
	if s.what == stepProbe {
		f.Channel = s.ch
	} else {
		f.Channel = ap.Channel
	}
	f.Signal = a.txSignal(st, ap, fromAP)
}

// dataFrame builds a QoS data frame between an associated station and its
// AP, either way: an IPv4/UDP datagram (checksum 0: none, RFC 768) behind
// an RFC 1042 header.
func (a *Air) dataFrame(st *station, f *Frame) {
	ap := &a.aps[st.ap]
	up := a.rng.IntN(2) == 0
	tid := uint16(0)
	if a.rng.IntN(10) == 0 {
		tid = 6 // voice
	}
	h := dot11.Header{Kind: dot11.QoSData, Duration: dot11.ACKDuration(st.rate), QoS: tid}
	src, dst := netip.AddrFrom4(st.addr), netip.AddrFrom4([4]byte{192, 0, 2, 1})
	if up {
		h.Flags, h.Addr1, h.Addr2, h.Addr3, h.Seq = dot11.ToDS, ap.BSSID, st.mac, a.gateway, st.nextSeq()
	} else {
		h.Flags, h.Addr1, h.Addr2, h.Addr3, h.Seq = dot11.FromDS, st.mac, ap.BSSID, a.gateway, ap.nextSeq()
		src, dst = dst, src
	}
	n := 64 + a.rng.IntN(1337)
	h.Flags |= dot11.Protected
	a.buf = dot11.AppendHeader(a.buf[:0], &h)
	// The CCMP header: PN0, PN1, reserved, ExtIV and key 0, PN2..PN5
	// (802.11-2020 12.5.3.2). What follows is what CCMP would encrypt,
	// left in the clear (nobody decrypts it), and an 8-byte MIC.
	st.pn++
	pn := st.pn
	a.buf = append(a.buf, byte(pn), byte(pn>>8), 0, 0x20, byte(pn>>16), byte(pn>>24), byte(pn>>32), byte(pn>>40))
	a.buf = dot11.AppendSNAP(a.buf, wire.EtherTypeIPv4)
	ip := wire.IPv4Header{TotalLen: uint16(28 + n), TTL: 64, Proto: wire.ProtoUDP, Src: src, Dst: dst}
	a.buf, _ = ip.Append(a.buf)
	a.buf = (&wire.UDPHeader{SrcPort: 40000 + uint16(st.aid), DstPort: 443, Length: uint16(8 + n)}).Append(a.buf)
	at := len(a.buf)
	a.buf = a.buf[:at+n+8]
	clear(a.buf[at:])
	a.buf = dot11.AppendFCS(a.buf, 0)
	f.Kind, f.Channel, f.Rate, f.Attack = dot11.QoSData, ap.Channel, st.rate, false
	f.Signal = a.txSignal(st, ap, !up)
}

// txSignal is the signal at the sensor of a frame between st and ap, sent
// by the AP when fromAP.
func (a *Air) txSignal(st *station, ap *apState, fromAP bool) int8 {
	if fromAP {
		return a.signal(apPower, ap.X, ap.Y, ap.shadow)
	}
	return a.signal(stationPower, st.x, st.y, st.shadow)
}

// EAPOL-Key Key Information bits (802.11-2020 12.7.2).
const (
	keyInfoVersion2 = 0x0002 // HMAC-SHA1 MIC, AES key wrap
	keyInfoPairwise = 0x0008
	keyInfoInstall  = 0x0040
	keyInfoAck      = 0x0080
	keyInfoMIC      = 0x0100
	keyInfoSecure   = 0x0200
	keyInfoEncData  = 0x1000
	eapolKeyBodyLen = 95 // descriptor type to key data length
)

// eapolFrame builds message msg (1..4) of the 4-way handshake between st
// and ap: a QoS data frame (TID 7, unprotected) carrying an EAPOL-Key
// frame behind an RFC 1042 header with EtherType 0x888e. Nonces and MICs
// are random bytes; message 2 carries the station's RSN element, message
// 3 56 bytes of wrapped key data (the GTK's KDE, encrypted).
func (a *Air) eapolFrame(st *station, ap *apState, msg int, f *Frame) {
	fromAP := msg == 1 || msg == 3
	h := dot11.Header{Kind: dot11.QoSData, Duration: dot11.ACKDuration(a.mgmtRate), Addr3: ap.BSSID, QoS: 7}
	if fromAP {
		h.Flags, h.Addr1, h.Addr2, h.Seq = dot11.FromDS, st.mac, ap.BSSID, ap.nextSeq()
	} else {
		h.Flags, h.Addr1, h.Addr2, h.Seq = dot11.ToDS, ap.BSSID, st.mac, st.nextSeq()
	}
	a.buf = dot11.AppendHeader(a.buf[:0], &h)
	a.buf = dot11.AppendSNAP(a.buf, 0x888e)
	info, keyLen, dataLen := uint16(keyInfoVersion2|keyInfoPairwise), uint16(16), 0
	switch msg {
	case 1:
		info |= keyInfoAck
		st.replay++
	case 2:
		info |= keyInfoMIC
		keyLen, dataLen = 0, 2+int(rsnLen)
	case 3:
		info |= keyInfoInstall | keyInfoAck | keyInfoMIC | keyInfoSecure | keyInfoEncData
		st.replay++
		dataLen = 56
	case 4:
		info |= keyInfoMIC | keyInfoSecure
		keyLen = 0
	}
	body := eapolKeyBodyLen + dataLen
	a.buf = append(a.buf, 2, 3, byte(body>>8), byte(body), 2, byte(info>>8), byte(info), byte(keyLen>>8), byte(keyLen))
	a.buf = binary.BigEndian.AppendUint64(a.buf, st.replay)
	nonce := 0
	if msg != 4 {
		nonce = 32
	}
	a.appendRandom(nonce)
	a.buf = append(a.buf, make([]byte, 32-nonce+16+8+8)...) // rest of the nonce, IV, RSC, reserved
	if msg == 1 {
		a.buf = append(a.buf, make([]byte, 16)...)
	} else {
		a.appendRandom(16) // MIC
	}
	a.buf = binary.BigEndian.AppendUint16(a.buf, uint16(dataLen))
	switch msg {
	case 2:
		a.buf = dot11.AppendRSN(a.buf, &rsn)
	case 3:
		a.appendRandom(dataLen)
	}
	a.buf = dot11.AppendFCS(a.buf, 0)
	f.Kind, f.Channel, f.Rate, f.Attack = dot11.QoSData, ap.Channel, a.mgmtRate, false
	f.Signal = a.txSignal(st, ap, fromAP)
}

// rsnLen is the length of the RSN element's data the model sends.
const rsnLen = 20

// appendRandom appends n random bytes (n a multiple of 8).
func (a *Air) appendRandom(n int) {
	for range n / 8 {
		a.buf = binary.LittleEndian.AppendUint64(a.buf, a.rng.Uint64())
	}
}
