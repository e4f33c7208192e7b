package datapath

import (
	"errors"
	"strings"
	"testing"

	"netyard/pkt"
)

// TestListenerCapAndDrops: a device takes at most MaxListeners listeners,
// the next gets ErrTooManyListeners with a message that says what to do,
// and closing one makes room; frames a listener cannot keep
// (Device.ListenerDrop: its queue is full) are counted in the device's
// ListenerDrops, with the listeners attached in Listeners.
func TestListenerCapAndDrops(t *testing.T) {
	e, d, _ := wifiEngine(t, "", nil)
	release := FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) { p.Release() })
	var ls []*Listener
	for i := range MaxListeners {
		mode := ListenKept
		if i%2 == 1 {
			mode = ListenMonitor
		}
		l, err := d.Listen(mode, 0, release)
		if err != nil {
			t.Fatalf("listener %d: %v", i+1, err)
		}
		ls = append(ls, l)
	}
	if c := d.Counters(); c.Listeners != MaxListeners {
		t.Fatalf("%d listeners counted, want %d", c.Listeners, MaxListeners)
	}
	for _, mode := range []ListenMode{ListenKept, ListenMonitor} {
		_, err := d.Listen(mode, 0, release)
		if !errors.Is(err, ErrTooManyListeners) || !strings.Contains(err.Error(), "dev wlan0") || !strings.Contains(err.Error(), "at most 8") {
			t.Fatalf("listener %d (%v): %v; want ErrTooManyListeners naming the device and the cap", MaxListeners+1, mode, err)
		}
	}
	ls[0].Close()
	ls[1].Close()
	if c := d.Counters(); c.Listeners != MaxListeners-2 {
		t.Fatalf("%d listeners after closing two, want %d", c.Listeners, MaxListeners-2)
	}
	for _, l := range ls[2:] {
		l.Close()
	}

	// a slow consumer: every other frame finds its queue full
	n := 0
	l, err := d.Listen(ListenMonitor, 0, FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) {
		if n++; n%2 == 0 {
			d.ListenerDrop(p)
			return
		}
		p.Release()
	}))
	if err != nil {
		t.Fatal(err)
	}
	stream := wifiStream(10)
	for i := range stream {
		if err := d.Inject80211(stream[i].data, &stream[i].rx, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	e.Run()
	if c := d.Counters(); c.ListenerDrops != uint64(len(stream)/2) || c.Listeners != 1 {
		t.Fatalf("listener drops %d, listeners %d; want %d and 1", c.ListenerDrops, c.Listeners, len(stream)/2)
	}
	if frames, drops := l.Stats(); frames != uint64(len(stream)) || drops != 0 {
		t.Fatalf("listener stats %d frames %d drops: want every frame handed over", frames, drops)
	}
	l.Close()
	if c := d.Counters(); c.Listeners != 0 {
		t.Fatalf("%d listeners after closing all", c.Listeners)
	}
}
