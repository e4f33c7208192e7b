package lab

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"netyard/datapath"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wire"
)

// Host is a machine at the end of a cable to one netyard device. The cable
// has a one-way delay; what the host sends reaches the device after it, and
// what the device transmits reaches the host after it.
type Host struct {
	sim   *Sim
	Name  string
	MAC   wire.MAC
	IP    netip.Addr
	Dev   *datapath.Device // netyard's end of the cable
	end   *netdev.Device   // the host's end
	delay int64

	// Received counts every frame the host got, and Frames keeps the
	// first few of them whole (for scenarios that look at bytes).
	Received int
	Frames   []Arrival
	keep     int

	// OnFrame, when set, sees every frame that is not lab traffic.
	OnFrame func(h *Host, a Arrival)
	// echo makes the host answer lab requests (UDP port EchoPort).
	echo bool
	buf  []byte
}

// Arrival is a frame as a host received it.
type Arrival struct {
	Time     int64
	Frame    []byte
	Priority uint32
}

// AttachHost creates netyard device dev in the default namespace and a host
// called name behind it.
func (s *Sim) AttachHost(name string, ip string, dev string, delay time.Duration) (*Host, error) {
	return s.AttachHostNS(s.NS, name, ip, dev, delay)
}

// AttachHostNS is AttachHost for a device in namespace ns (a tenant).
func (s *Sim) AttachHostNS(ns *datapath.Namespace, name string, ip string, dev string, delay time.Duration) (*Host, error) {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return nil, fmt.Errorf("host %s: %w", name, err)
	}
	d, err := s.Engine.AddDevice(ns, netdev.Config{Name: dev})
	if err != nil {
		return nil, err
	}
	n := len(s.hosts) + 1
	h := &Host{sim: s, Name: name, IP: addr, Dev: d, delay: int64(delay),
		MAC: wire.MAC{0x02, 0x6e, 0x79, 0, 0, byte(n)}, keep: 16}
	h.end = netdev.NewEndpoint(name, netdev.EndpointFunc(h.arrive))
	if err := netdev.NewPair(d.Netdev(), h.end); err != nil {
		return nil, err
	}
	s.hosts = append(s.hosts, h)
	return h, nil
}

// SendFrame puts a frame on the host's cable now; it reaches netyard after
// the cable's delay.
func (h *Host) SendFrame(frame []byte) error {
	p, err := h.sim.Pool.Get()
	if err != nil {
		return err
	}
	if err := p.SetData(frame); err != nil {
		p.Release()
		return err
	}
	at := h.sim.Now() + h.delay
	h.sim.events.push(event{t: at, f: func() { h.Dev.Receive(p, at) }, cancel: p.Release}, &h.sim.seq)
	return nil
}

// arrive is the host's end of the cable: the frame lands after the delay.
func (h *Host) arrive(p *pkt.Buffer, now int64) {
	at := now + h.delay
	h.sim.events.push(event{t: at, f: func() { h.receive(p, at) }, cancel: p.Release}, &h.sim.seq)
}

func (h *Host) receive(p *pkt.Buffer, now int64) {
	defer p.Release()
	h.Received++
	a := Arrival{Time: now, Frame: p.Data(), Priority: p.Priority}
	if len(h.Frames) < h.keep {
		a.Frame = slices.Clone(a.Frame)
		h.Frames = append(h.Frames, a)
	}
	var hdr wire.Headers
	if wire.Parse(p.Data(), &hdr) == nil && hdr.Proto == wire.ProtoUDP && hdr.L4Off != 0 {
		payload := p.Data()[int(hdr.L4Off)+8:]
		if m, ok := readMarker(payload); ok {
			h.sim.flowArrived(h, m, now)
			return
		}
	}
	if h.OnFrame != nil {
		h.OnFrame(h, a)
	}
}

// marker is what lab traffic carries at the start of its UDP payload:
// which flow, which packet, when it was sent, and whether it is a reply.
type marker struct {
	flow  uint32
	seq   uint64
	sent  int64
	reply bool
}

const markerLen = 24

var markerMagic = [3]byte{'n', 'y', 'l'}

func (m marker) put(b []byte) {
	copy(b, markerMagic[:])
	b[3] = 0
	if m.reply {
		b[3] = 1
	}
	binary.BigEndian.PutUint32(b[4:], m.flow)
	binary.BigEndian.PutUint64(b[8:], m.seq)
	binary.BigEndian.PutUint64(b[16:], uint64(m.sent))
}

func readMarker(b []byte) (marker, bool) {
	if len(b) < markerLen || [3]byte(b[:3]) != markerMagic {
		return marker{}, false
	}
	return marker{
		reply: b[3] == 1,
		flow:  binary.BigEndian.Uint32(b[4:]),
		seq:   binary.BigEndian.Uint64(b[8:]),
		sent:  int64(binary.BigEndian.Uint64(b[16:])),
	}, true
}
