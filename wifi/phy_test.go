package wifi

import (
	"testing"
	"time"
)

// TestExchangeAirtime checks frame exchange times against TXTIME of
// 802.11-2016 17.4.3 worked by hand: preamble + SIGNAL (20 us), then
// ceil((16 + 8*MPDU + 6) / Ndbps) symbols of 4 us, SIFS, and the 14-byte
// ACK at the control rate.
func TestExchangeAirtime(t *testing.T) {
	p := Defaults()
	ph := newPHY(&p)
	us := func(n int64) int64 { return n * int64(time.Microsecond) }
	// ACK at 24 Mb/s (Ndbps 96): ceil(134/96) = 2 symbols, 20+8 = 28 us.
	const ack = 16 + 28
	for _, tc := range []struct {
		name  string
		frame int
		rate  uint64
		want  int64
	}{
		// MPDU 1500+24 = 1524 bytes: 12214 bits / 216 = 56.5 -> 57
		// symbols: 20 + 228 = 248 us.
		{"1500 bytes at 54 Mb/s", 1500, 54_000_000, us(248 + ack)},
		// 12214 bits / 24 = 508.9 -> 509 symbols: 20 + 2036 us.
		{"1500 bytes at 6 Mb/s", 1500, 6_000_000, us(2056 + ack)},
		// MPDU 224 bytes: 1814 bits / 216 = 8.4 -> 9 symbols: 56 us.
		{"200 bytes at 54 Mb/s", 200, 54_000_000, us(56 + ack)},
		// A runt frame is padded up to its Ethernet header: MPDU 38
		// bytes, 326 bits / 216 -> 2 symbols: 28 us.
		{"runt at 54 Mb/s", 3, 54_000_000, us(28 + ack)},
		// 6.5 Mb/s (HT MCS0) is 26 bits a symbol: 12214/26 = 469.8
		// -> 470 symbols: 20 + 1880 us.
		{"1500 bytes at 6.5 Mb/s", 1500, 6_500_000, us(1900 + ack)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ph.exchange(tc.frame, tc.rate); got != tc.want {
				t.Errorf("exchange(%d, %d) = %v, want %v", tc.frame, tc.rate, time.Duration(got), time.Duration(tc.want))
			}
		})
	}
}

// TestAIFS checks AIFS[AC] = SIFS + AIFSN * slot for the default set.
func TestAIFS(t *testing.T) {
	p := Defaults()
	ph := newPHY(&p)
	for _, tc := range []struct {
		ac   AC
		want time.Duration
	}{
		{VO, 34 * time.Microsecond}, // 16 + 2*9
		{VI, 34 * time.Microsecond},
		{BE, 43 * time.Microsecond}, // 16 + 3*9
		{BK, 79 * time.Microsecond}, // 16 + 7*9
	} {
		if got := time.Duration(ph.aifs(p.EDCA[tc.ac])); got != tc.want {
			t.Errorf("AIFS[%v] = %v, want %v", tc.ac, got, tc.want)
		}
	}
}
