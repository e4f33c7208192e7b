package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"netyard/datapath"
	"netyard/link"
	"netyard/metrics"
	"netyard/netdev"
	"netyard/replay"
	"netyard/tcsyntax"
)

// daemonTarget is the daemon's tc Target: the default namespace, plus
// devices with real backends ("dev add NAME type afpacket link IFNAME",
// "type xdp", "type tap").
// The namespace does the tc work; this adds what only a daemon has.
type daemonTarget struct {
	*datapath.Namespace
	log *slog.Logger

	mu    sync.Mutex
	devs  []tcsyntax.DevSpec
	ports map[string]*link.Port
	// players are the pcap devices' players (replay.Player), each in a
	// goroutine of its own until its capture is played or the daemon
	// stops.
	players map[string]*pcapPlay
}

// pcapPlay is a pcap device's player and its goroutine.
type pcapPlay struct {
	p      *replay.Player
	cancel context.CancelFunc
	done   chan struct{}
	err    error // set before done closes
}

func newDaemonTarget(ns *datapath.Namespace, log *slog.Logger) *daemonTarget {
	return &daemonTarget{Namespace: ns, log: log, ports: make(map[string]*link.Port), players: make(map[string]*pcapPlay)}
}

var _ tcsyntax.DevTarget = (*daemonTarget)(nil)

// AddDev creates a device and attaches its backend before the workers can
// see it; the backend's receive goroutines start once it is in place.
func (t *daemonTarget) AddDev(s tcsyntax.DevSpec) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.Engine()
	if s.MTU == 0 && (s.Type == "afpacket" || s.Type == "xdp") {
		// The device takes the interface's MTU: what the link carries
		// must fit the device (a 9000-byte link's frames would be
		// dropped by a 1500-byte device). An error here is Open's to
		// report.
		if mtu, err := link.MTU(s.Link); err == nil {
			s.MTU = mtu
		}
	}
	cfg := netdev.Config{Name: s.Name, TxQueues: max(s.Queues, 1), MTU: s.MTU}
	if s.LinkLayer == netdev.LinkIEEE80211.String() {
		cfg.Link = netdev.LinkIEEE80211
	}
	if s.Type == "pcap" {
		// The device's link layer is the capture's; the capture is
		// opened (and its link type checked) before the device exists.
		l, err := replay.CheckCapture(s.File)
		if err != nil {
			return fmt.Errorf("dev %s: type pcap: %w", s.Name, err)
		}
		if s.LinkLayer != "" && l != cfg.Link {
			return fmt.Errorf("dev %s: type pcap: %s is an %s capture, not %s", s.Name, s.File, l, s.LinkLayer)
		}
		cfg.Link = l
		s.LinkLayer = l.String()
	}
	if s.Type != "memory" {
		// A backend hands over a whole TPACKET block (some 800 small
		// frames) at a time: the device's ring must take a few blocks
		// while its worker is busy, or it drops what the kernel's ring
		// would have held (bench/forward.sh saw 1-7% lost with 1024).
		cfg.RxRing = backendRxRing
	}
	var port *link.Port
	attach := func(nd *netdev.Device) error {
		if s.Type == "memory" || s.Type == "pcap" {
			return nil
		}
		var err error
		spec := link.Spec{Kind: link.Kind(s.Type), Link: s.Link, Queues: s.Queues,
			XDPMode: link.XDPMode(s.Mode), ZeroCopy: s.ZeroCopy, Shed: link.ShedMode(s.Shed)}
		port, err = link.Open(nd, spec, link.Options{Pool: e.Pool(), Now: e.Clock().Now, Logger: t.log, Polled: true})
		if errors.Is(err, link.ErrNotSupported) {
			return fmt.Errorf("dev %s: type %s: %w on this system", s.Name, s.Type, err)
		}
		return err
	}
	d, err := e.AddDevice(t.Namespace, cfg, attach)
	if err != nil {
		if port != nil {
			port.Close()
		}
		return err
	}
	if s.Type == "pcap" {
		t.startPlayer(s, d)
	}
	if port != nil {
		port.Start()
		t.ports[s.Name] = port
	}
	t.devs = append(t.devs, s)
	t.log.Info("device added", "dev", s.Name, "type", s.Type, "link", s.Link, "queues", cfg.TxQueues, "backend", backendOf(s, port))
	return nil
}

// startPlayer plays a pcap device's capture in a goroutine of its own
// (replay.Player), stamping records with the datapath's clock.
func (t *daemonTarget) startPlayer(s tcsyntax.DevSpec, d *datapath.Device) {
	ctx, cancel := context.WithCancel(context.Background())
	pp := &pcapPlay{p: &replay.Player{Path: s.File, Speed: s.Speed, Rate: s.Rate, TopSpeed: s.TopSpeed, Loop: s.Loop,
		Stamp: t.Engine().Clock().Now}, cancel: cancel, done: make(chan struct{})}
	t.players[s.Name] = pp
	go func() {
		defer close(pp.done)
		err := pp.p.Play(ctx, d)
		if err != nil && ctx.Err() == nil {
			pp.err = err
			t.log.Warn("pcap device stopped", "dev", s.Name, "file", s.File, "err", err)
			return
		}
		n, loops := pp.p.Stats()
		t.log.Info("pcap device played its capture", "dev", s.Name, "file", s.File, "packets", n, "loops", loops)
	}()
}

// backendOf says how an xdp device runs ("native copy"), or that it fell
// back to afpacket; for afpacket, the XDP hook of its load shedding
// ("shed native"); "" for the other types, whose type says it all.
func backendOf(s tcsyntax.DevSpec, p *link.Port) string {
	if p != nil && p.Kind() == link.KindAFPacket && p.Shed() != "" {
		if s.Type == string(link.KindXDP) {
			return "afpacket shed " + p.Shed()
		}
		return "shed " + p.Shed()
	}
	if s.Type != string(link.KindXDP) || p == nil {
		return ""
	}
	if p.Kind() != link.KindXDP {
		return string(p.Kind())
	}
	return p.XDPMode()
}

// backendRxRing is the RX ring of a device with a backend: 16 TPACKET
// blocks of small frames.
const backendRxRing = 16384

// Devs lists the devices added with "dev add" (or --dev), with their
// backends' counters.
func (t *daemonTarget) Devs(name string) ([]tcsyntax.DevView, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []tcsyntax.DevView
	for _, s := range t.devs {
		if name != "" && s.Name != name {
			continue
		}
		v := tcsyntax.DevView{DevSpec: s}
		// Every loss on the device's way counts: the backend's (and
		// the kernel ring's), the device's RX ring, its backlogs. What
		// filters drop on purpose is in their own statistics.
		if d, err := t.Device(s.Name); err == nil {
			c := d.Counters()
			v.RxPackets, v.RxBytes, v.RxDropped = c.RxPackets, c.RxBytes, c.RxDropped+c.BacklogDrops
			v.RxErrors = c.RxErrors
			v.TxPackets, v.TxBytes, v.TxDropped = c.TxPackets, c.TxBytes, c.TxDropped
			v.Listeners, v.ListenerDrops = c.Listeners, c.ListenerDrops
		}
		if pp := t.players[s.Name]; pp != nil {
			v.Played, v.Loops = pp.p.Stats()
			select {
			case <-pp.done:
				if pp.err != nil {
					v.PlayErr = pp.err.Error()
				}
			default:
			}
		}
		if p := t.ports[s.Name]; p != nil {
			v.Backend = backendOf(s, p)
			st := p.Stats()
			v.RxDropped += st.RxDropped + st.RxKernelDrops + st.RxShed
			v.TxDropped += st.TxDropped + st.TxErrors
		}
		out = append(out, v)
	}
	if name != "" && len(out) == 0 {
		return nil, fmt.Errorf("dev %s: %w", name, tcsyntax.ErrNotFound)
	}
	return out, nil
}

// backendDrops appends the namespace's devices' backend drops.
func (t *daemonTarget) backendDrops(out []metrics.BackendDrops, netns string) []metrics.BackendDrops {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.devs {
		if p := t.ports[s.Name]; p != nil {
			st := p.Stats()
			out = append(out, metrics.BackendDrops{Namespace: netns, Device: s.Name, Kernel: st.RxKernelDrops, Shed: st.RxShed, Backend: st.RxDropped})
		}
	}
	return out
}

// close stops the backends: after the workers, which transmit on them.
func (t *daemonTarget) close() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, p := range t.ports {
		if err := p.Close(); err != nil {
			t.log.Warn("closing device", "dev", name, "err", err)
		}
	}
	t.ports = map[string]*link.Port{}
	for _, pp := range t.players {
		pp.cancel()
		<-pp.done
	}
	t.players = map[string]*pcapPlay{}
}
