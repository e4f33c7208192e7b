package main

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"netyard/datapath"
	"netyard/link"
	"netyard/metrics"
	"netyard/netdev"
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
}

func newDaemonTarget(ns *datapath.Namespace, log *slog.Logger) *daemonTarget {
	return &daemonTarget{Namespace: ns, log: log, ports: make(map[string]*link.Port)}
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
	if s.Type != "memory" {
		// A backend hands over a whole TPACKET block (some 800 small
		// frames) at a time: the device's ring must take a few blocks
		// while its worker is busy, or it drops what the kernel's ring
		// would have held (bench/forward.sh saw 1-7% lost with 1024).
		cfg.RxRing = backendRxRing
	}
	var port *link.Port
	attach := func(nd *netdev.Device) error {
		if s.Type == "memory" {
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
	if _, err := e.AddDevice(t.Namespace, cfg, attach); err != nil {
		if port != nil {
			port.Close()
		}
		return err
	}
	if port != nil {
		port.Start()
		t.ports[s.Name] = port
	}
	t.devs = append(t.devs, s)
	t.log.Info("device added", "dev", s.Name, "type", s.Type, "link", s.Link, "queues", cfg.TxQueues, "backend", backendOf(s, port))
	return nil
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
}
