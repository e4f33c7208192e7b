package datapath

// 802.11 devices (docs/WIFI.md): frames are 802.11 MAC frames, their
// receive metadata (signal, channel, rate, TSFT: what a radiotap header or
// a driver's rx status says) in pkt.Meta.Radio. The receive path:
//
//	capture record (radiotap, link type 127; or bare 802.11, 105)
//	  -> InjectCapture: radiotap.Parse into Meta.Radio, header dropped
//	  -> RX ring -> receive80211:
//	       monitor listeners: each a copy with a fresh radiotap header
//	       ingress hook (filters see the bare 802.11 frame; bpf programs
//	         read Meta.Radio as context fields)
//	       kept (pass, no filter deciding): hook listeners, radiotap
//	         built now, for this frame only; shot: counted, released
//
// So the hook path costs what its filters cost: nothing is built or
// copied for a frame they reject, where a monitor interface builds a
// header and copies every frame before anyone looks at it.

import (
	"errors"
	"fmt"
	"sync/atomic"

	"netyard/act"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wifi/radiotap"
)

// pcap link types a device takes captures of (InjectCapture).
const (
	LinkTypeEthernet  = 1   // DLT_EN10MB
	LinkTypeIEEE80211 = 105 // DLT_IEEE802_11: bare 802.11 frames
	LinkTypeRadiotap  = 127 // DLT_IEEE802_11_RADIO: a radiotap header, then the frame
)

// DeviceLink is the device link layer that takes captures of pcap link
// type lt, or an error in words for one netyard cannot replay.
func DeviceLink(lt int) (netdev.Link, error) {
	switch lt {
	case LinkTypeEthernet:
		return netdev.LinkEthernet, nil
	case LinkTypeIEEE80211, LinkTypeRadiotap:
		return netdev.LinkIEEE80211, nil
	}
	return 0, fmt.Errorf("link type %d: netyard replays Ethernet (1), 802.11 (105) and radiotap (127) captures", lt)
}

// ErrLinkType is returned by InjectCapture for a capture whose link type
// the device does not take.
var ErrLinkType = errors.New("the capture's link type does not fit the device")

// InjectCapture receives one capture record of pcap link type lt on d at
// time t, as Inject does, after taking its link-layer framing apart: a
// radiotap header becomes the frame's receive metadata (Meta.Radio) and
// is not kept. A radiotap header that cannot be read (radiotap's
// ErrMalformed: cut short, a length beyond the record, fields past it) is
// counted (Counters.RadiotapErrors and RxErrors) and the record dropped
// with the error; one with a field netyard does not know is counted
// (RadiotapUnknown) and the frame passes with the fields before it.
func (d *Device) InjectCapture(lt int, data []byte, t int64) error {
	link := d.nd.Link()
	switch {
	case lt == LinkTypeEthernet && link == netdev.LinkEthernet:
		return d.Inject(data, t)
	case lt == LinkTypeIEEE80211 && link == netdev.LinkIEEE80211:
		return d.Inject80211(data, nil, t)
	case lt == LinkTypeRadiotap && link == netdev.LinkIEEE80211:
		var f radiotap.Fields
		n, err := radiotap.Parse(data, &f)
		if err != nil {
			if n == 0 {
				d.stats.radiotapErrors.Add(1)
				d.nd.Counters.RxErrors.Add(1)
				return err
			}
			d.stats.radiotapUnknown.Add(1)
		}
		return d.Inject80211(data[n:], &f, t)
	}
	return fmt.Errorf("%w: link type %d on %s device %s", ErrLinkType, lt, link, d.Name())
}

// Inject80211 receives an 802.11 frame on d, an 802.11 device, at time t,
// with f as its receive metadata (nil: none): what a driver hands up with
// its rx status. The frame is copied; a lab or a test builds frames
// with it, without a radiotap header.
func (d *Device) Inject80211(frame []byte, f *radiotap.Fields, t int64) error {
	if d.nd.Link() != netdev.LinkIEEE80211 {
		return fmt.Errorf("%w: an 802.11 frame on %s device %s", ErrLinkType, d.nd.Link(), d.Name())
	}
	p, err := d.copyIn(frame)
	if err != nil {
		return err
	}
	if f != nil {
		p.Radio = *f
	}
	p.Time = t
	p.TTL = d.e.cfg.RedirectTTL
	d.nd.Receive(p, t)
	return nil
}

// ListenMode says which frames of an 802.11 device a listener gets.
type ListenMode uint8

const (
	// ListenKept: the frames the ingress hook keeps (its verdict is
	// pass, or no filter decides), after the filters ran: the hook path.
	// A program's keep_len and the listener's snap length cut them.
	ListenKept ListenMode = iota
	// ListenMonitor: every frame the device receives, before the hook,
	// each a copy with a freshly built radiotap header: what a Linux
	// monitor interface gets.
	ListenMonitor
)

func (m ListenMode) String() string {
	if m == ListenMonitor {
		return "monitor"
	}
	return "kept"
}

// FrameListener receives an 802.11 device's frames with a radiotap header
// in front: a pcap record of link type 127. Frame runs on the device's
// worker and owns p (it releases it); origLen is the record's length
// before a snap length or keep_len cut it (radiotap header included), the
// pcap record's "len". It must not block: a slow consumer queues with a
// bound and drops.
type FrameListener interface {
	Frame(p *pkt.Buffer, origLen int, now int64)
}

// FrameListenerFunc adapts a function to FrameListener.
type FrameListenerFunc func(p *pkt.Buffer, origLen int, now int64)

// Frame implements FrameListener.
func (f FrameListenerFunc) Frame(p *pkt.Buffer, origLen int, now int64) { f(p, origLen, now) }

// Listener is a FrameListener attached to a device (Device.Listen).
type Listener struct {
	d    *Device
	mode ListenMode
	snap int
	fl   FrameListener
	// frames given to fl, and frames lost on the way (no buffer for a
	// copy, no headroom for the header).
	frames, drops atomic.Uint64
}

// Stats are a listener's counters: frames delivered and lost on the
// way (the device's ListenerDrops counts these too).
func (l *Listener) Stats() (frames, drops uint64) { return l.frames.Load(), l.drops.Load() }

// drop counts a frame lost on its way to l, in l and in its device.
func (l *Listener) drop() {
	l.drops.Add(1)
	l.d.stats.listenerDrops.Add(1)
}

// ListenerDrop releases p, a frame a FrameListener got but cannot keep
// (its bounded queue is full: a slow consumer), and counts it in the
// device's listener drops, where dev show -s and the metrics show it.
// Frame may call it (it owns p).
func (d *Device) ListenerDrop(p *pkt.Buffer) {
	d.stats.listenerDrops.Add(1)
	p.Release()
}

// MaxListeners bounds a device's frame listeners. Each monitor listener
// costs the device's worker a copy and a radiotap header per frame, and
// a daemon's capture session may hold up to its queue's length of pool
// buffers (cmd/netyard's captureQueue, 4096 of about 2 KiB: 8 MiB): eight
// are 64 MiB and eight copies a frame at worst, and more sessions than
// that on one device are a mistake or an attack on the worker.
const MaxListeners = 8

// ErrTooManyListeners is Listen's error when the device has MaxListeners
// listeners already.
var ErrTooManyListeners = errors.New("too many listeners")

// listenerCount is the number of listeners attached now.
func (d *Device) listenerCount() int {
	ls := d.listeners.Load()
	if ls == nil {
		return 0
	}
	return len(ls.kept) + len(ls.monitor)
}

// Mode is the listener's mode.
func (l *Listener) Mode() ListenMode { return l.mode }

// listeners is a device's listener set as the worker reads it: replaced
// whole (copy on write) under listenMu.
type listeners struct {
	kept, monitor []*Listener
}

// Listen attaches fl to d, an 802.11 device: mode picks the frames (the
// hook's kept ones, or all of them as a monitor interface), snap > 0 cuts
// each to its first snap bytes of 802.11 frame. The listener gets frames
// from the next one the worker receives; Close detaches it.
func (d *Device) Listen(mode ListenMode, snap int, fl FrameListener) (*Listener, error) {
	if d.nd.Link() != netdev.LinkIEEE80211 {
		return nil, fmt.Errorf("dev %s: not an 802.11 device (dev add %s type memory link ieee80211): no frames to listen to with radiotap", d.Name(), d.Name())
	}
	if snap < 0 {
		return nil, fmt.Errorf("dev %s: snap length %d: must be >= 0 (0: whole frames)", d.Name(), snap)
	}
	l := &Listener{d: d, mode: mode, snap: snap, fl: fl}
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	if n := d.listenerCount(); n >= MaxListeners {
		return nil, fmt.Errorf("dev %s: %w: %d are attached, at most %d a device; end one (a netyard capture) first", d.Name(), ErrTooManyListeners, n, MaxListeners)
	}
	old := d.listeners.Load()
	n := &listeners{}
	if old != nil {
		n.kept = append(n.kept, old.kept...)
		n.monitor = append(n.monitor, old.monitor...)
	}
	if mode == ListenMonitor {
		n.monitor = append(n.monitor, l)
	} else {
		n.kept = append(n.kept, l)
	}
	d.listeners.Store(n)
	return l, nil
}

// Close detaches l. When it returns, no frame is being handed to l and
// none will be: it waits for the workers' grace period, as a device's
// deletion does.
func (l *Listener) Close() {
	d := l.d
	defer d.e.gens.Grace()
	d.listenMu.Lock()
	defer d.listenMu.Unlock()
	old := d.listeners.Load()
	if old == nil {
		return
	}
	n := &listeners{}
	for _, x := range old.kept {
		if x != l {
			n.kept = append(n.kept, x)
		}
	}
	for _, x := range old.monitor {
		if x != l {
			n.monitor = append(n.monitor, x)
		}
	}
	if len(n.kept)+len(n.monitor) == 0 {
		n = nil
	}
	d.listeners.Store(n)
}

// receive80211 is the receive path of an 802.11 device: monitor copies,
// then the ingress hook on the bare frame, then the kept frames to the
// hook's listeners. There is no Ethernet header to parse and no VLAN
// rule: flower's keys match nothing here (matchall and bpf do).
func (d *Device) receive80211(w *worker, p *pkt.Buffer) {
	p.KeepLen = 0
	ls := d.listeners.Load()
	if ls != nil {
		for _, l := range ls.monitor {
			c, err := p.Clone()
			if err != nil {
				l.drop()
				continue
			}
			l.deliver(c)
		}
	}
	v := act.Unspec
	if blk := d.ingress.Load(); blk != nil {
		w.ctx.Ingress = true
		v = blk.Classify(&w.ctx, p).Verdict
	}
	// The device's counters have one writer, the device's worker (only
	// it runs the receive path): an increment without a locked
	// instruction, which BenchmarkWifiMgmt's hook-rejected showed is a
	// tenth of the hook's own cost. Readers load them atomically.
	switch v {
	case act.Consumed:
		// mirred took it
	case act.Shot:
		inc(&d.stats.ingressDrops)
		p.Release()
	case act.Stolen, act.Queued, act.Trap:
		p.Release()
	default:
		inc(&d.stats.delivered)
		if ls == nil || len(ls.kept) == 0 {
			p.Release()
			return
		}
		last := len(ls.kept) - 1
		for i, l := range ls.kept {
			q := p
			if i < last {
				var err error
				if q, err = p.Clone(); err != nil {
					l.drop()
					continue
				}
			}
			l.deliver(q)
		}
	}
}

// inc adds one to a counter that only the caller's goroutine writes.
func inc(c *atomic.Uint64) { c.Store(c.Load() + 1) }

// deliver cuts p to the program's keep_len and the listener's snap
// length, builds its radiotap header in p's headroom and hands it over.
func (l *Listener) deliver(p *pkt.Buffer) {
	n := p.Len()
	keep := n
	if k := int(p.KeepLen); k > 0 && k < keep {
		keep = k
	}
	if l.snap > 0 && l.snap < keep {
		keep = l.snap
	}
	h := radiotap.Len(&p.Radio)
	if keep < n {
		_ = p.Resize(keep) // shorter: always fits
	}
	b, err := p.Push(h)
	if err != nil {
		l.drop()
		p.Release()
		return
	}
	radiotap.Put(b, &p.Radio)
	inc(&l.frames)
	l.fl.Frame(p, n+h, p.Time)
}
