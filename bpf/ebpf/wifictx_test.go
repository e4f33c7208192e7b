package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"netyard/bpf"
	"netyard/wifi/radiotap"
)

func loadWifiTest(t *testing.T, section string) (*Program, *Loader) {
	t.Helper()
	raw, err := os.ReadFile("testdata/wifi.o")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(1)
	p, err := l.Load("wifi", bytes.NewReader(raw), section)
	if err != nil {
		t.Fatal(err)
	}
	return p, l
}

// TestWifiContext: a "netyard/wifi" program reads every field of struct
// netyard_wifi_md from the frame's receive metadata (netyard_wifi.h's
// layout, compiled by clang), reaches the bare 802.11 frame through
// data/data_end and bpf_skb_load_bytes, and writes mark and keep_len; a
// read the layout does not allow faults; a tc program at the same hook
// gets __sk_buff.
func TestWifiContext(t *testing.T) {
	p, _ := loadWifiTest(t, "netyard/wifi")
	if !p.WifiContext() {
		t.Fatal("a netyard/wifi section did not give the 802.11 context")
	}
	b, err := testPool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	frame := []byte{0x40, 0x07, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x1b, 0x63, 1, 2, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	b.SetData(frame)
	b.Time = 0x1122334455
	b.Mark = 7
	b.Radio = radiotap.Fields{Present: radiotap.Kept, TSFT: 0xabcdef0123, Flags: radiotap.FlagFCS, Rate: 0, Freq: 5180,
		ChanFlags: radiotap.Chan5GHz | radiotap.ChanOFDM, Signal: -61, Noise: -93, Antenna: 2,
		MCSKnown: 7, MCSFlags: 1, MCSIndex: 15, VHTKnown: 0x44, VHTFlags: 4, VHTBandwidth: 4, VHTMCSNSS: [4]uint8{0x91, 0x22, 0, 0}}
	env := &bpf.Env{Ifindex: 9, Link: bpf.LinkIEEE80211, Ingress: true, Scratch: NewScratch()}
	ret, err := p.Run(b, env)
	if err != nil || ret != 0 {
		t.Fatalf("run: %d %v", ret, err)
	}
	m := p.Maps()[0]
	want := []struct {
		name string
		v    uint64
	}{
		{"len", uint64(len(frame))}, {"ifindex", 9}, {"present", radiotap.Kept}, {"flags", radiotap.FlagFCS},
		{"signal", uint64(0xffffffffffffffc3)}, {"noise", uint64(0xffffffffffffffa3)},
		{"rate (HT MCS 15, 40 MHz)", 270000}, {"freq", 5180}, {"chan_flags", radiotap.Chan5GHz | radiotap.ChanOFDM},
		{"band", radiotap.Band5GHz}, {"antenna", 2}, {"mcs", 7 | 1<<8 | 15<<16}, {"vht", 0x44 | 4<<16 | 4<<24},
		{"vht_mcs_nss", 0x2291}, {"tsft", 0xabcdef0123}, {"tstamp", 0x1122334455}, {"mark", 7},
		{"data_end - data", uint64(len(frame))}, {"data[0]", 0x40}, {"skb_load_bytes", 0x07}, {"narrow load", 5180 & 0xff},
	}
	for i, w := range want {
		var k [4]byte
		binary.LittleEndian.PutUint32(k[:], uint32(i))
		v, err := m.Lookup(k[:])
		if err != nil {
			t.Fatal(err)
		}
		if got := binary.LittleEndian.Uint64(v); got != w.v {
			t.Errorf("%s: %#x, want %#x", w.name, got, w.v)
		}
	}
	if b.Mark != 0x1234 || b.KeepLen != 30 {
		t.Errorf("mark %#x keep_len %d after the run, want 0x1234 30", b.Mark, b.KeepLen)
	}

	bad, _ := loadWifiTest(t, "netyard/wifi/bad")
	var f *bpf.Fault
	if _, err := bad.Run(b, env); !errors.As(err, &f) {
		t.Errorf("a 4-byte load of tsft's high half: %v, want a fault", err)
	}
	// A 4-byte store at __sk_buff's priority offset is rate's here: a
	// read-only field, so the store faults and writes nothing.
	st, err := NewProgram("store_rate", []RawInsn{
		{Op: 0x62, Dst: 1, Off: wifiRate, Imm: 5}, // *(u32 *)(r1 + rate) = 5
		{Op: 0xb7}, {Op: 0x95},
	}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	st.SetWifiContext(true)
	b.Priority = 0
	if _, err := st.Run(b, env); !errors.As(err, &f) || b.Priority != 0 {
		t.Errorf("a store to rate: %v, priority %d; want a fault and priority untouched", err, b.Priority)
	}
	skb, _ := loadWifiTest(t, "tc")
	if skb.WifiContext() {
		t.Error("a tc section got the 802.11 context")
	}
	if ret, err := skb.Run(b, env); err != nil || ret != uint64(len(frame)) {
		t.Errorf("tc program at the 802.11 hook: %d %v, want skb->len %d", ret, err, len(frame))
	}
	if n := testing.AllocsPerRun(100, func() { p.Run(b, env) }); n != 0 {
		t.Errorf("%v allocations a run", n)
	}
}
