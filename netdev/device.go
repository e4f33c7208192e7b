// Package netdev holds netyard's network devices: a name, an index, an MTU,
// a number of TX queues, counters, and a backend that moves frames. The
// in-memory pair (NewPair) behaves like a veth pair: what one end
// transmits, the other end receives. Real backends (TAP, AF_PACKET) live in
// _linux.go files.
package netdev

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"netyard/pkt"
)

// DefaultRxRing is a device's receive ring size in packets: the kernel's
// default netdev_max_backlog is 1000; a power of two above it.
const DefaultRxRing = 1024

// MaxRxRing bounds a device's receive ring.
const MaxRxRing = 1 << 20

// DefaultMTU is the MTU of a new device.
const DefaultMTU = 1500

// MaxTxQueues bounds a device's TX queue count (the kernel allows 4096 for
// real devices; netyard has no use for more than it has cores times a few).
const MaxTxQueues = 256

// Endpoint receives frames that are not for the datapath: the far end of a
// pair in a lab, a capture writer in replay. It takes ownership of p.
type Endpoint interface {
	Receive(p *pkt.Buffer, now int64)
}

// EndpointFunc adapts a function to Endpoint.
type EndpointFunc func(p *pkt.Buffer, now int64)

// Receive implements Endpoint.
func (f EndpointFunc) Receive(p *pkt.Buffer, now int64) { f(p, now) }

// TxPort is the transmit side of a backend with queues of its own: a TAP
// device opened with IFF_MULTI_QUEUE (one file per queue), AF_PACKET
// sockets. The datapath picks the TX queue (PickTx) and the port sends on
// the backend queue of the same number, so queue selection stays the
// stack's, as the Netconf discussion of ndo_select_queue wanted.
//
// Transmit takes ownership of p and may hold it until Flush: a port
// batches (fills a ring, a sendmmsg vector) and Flush hands the batch to
// the kernel with one system call. The worker that owns the device is the
// only caller, so a port needs no lock per queue beyond what its own
// goroutines need.
type TxPort interface {
	Transmit(q int, p *pkt.Buffer, now int64)
	Flush(q int)
}

// GSOPort is a TxPort that takes GSO super-frames (pkt.Meta.GSOType)
// whole and has the kernel segment them: AF_PACKET with PACKET_VNET_HDR.
// The device segments in software (pkt.Segmenter) what it sends to any
// other port or transmit Endpoint.
type GSOPort interface {
	TakesGSO() bool
}

// RxPoller is a backend whose received frames the device's worker takes
// itself, NAPI-style, instead of a goroutine of the backend pushing them
// onto the RX ring: the worker pulls at most a budget of frames per round
// (PollRx fills dst and returns how many), so a backend never does work
// for a frame the worker has no time for. What the worker cannot take
// waits in the backend's own ring (an AF_PACKET ring in kernel memory) and,
// when that is full, is dropped by the kernel before netyard spends
// anything on it. The backend calls Device.Notify when frames arrive while
// the worker may be asleep. The worker that owns the device is the only
// caller.
type RxPoller interface {
	PollRx(dst []*pkt.Buffer, now int64) int
}

// Config describes a device.
type Config struct {
	Name     string
	MTU      int // 0 means DefaultMTU
	TxQueues int // 0 means 1
	RxRing   int // 0 means DefaultRxRing
	// Link is the device's link layer: LinkEthernet (the zero value) or
	// LinkIEEE80211 (frames are 802.11 MAC frames, with their receive
	// metadata in pkt.Meta.Radio; docs/WIFI.md).
	Link Link
}

// Link is a device's link layer.
type Link uint8

const (
	LinkEthernet  Link = 0
	LinkIEEE80211 Link = 1
)

// String is the link layer's name in the dev grammar: "ethernet",
// "ieee80211".
func (l Link) String() string {
	if l == LinkIEEE80211 {
		return "ieee80211"
	}
	return "ethernet"
}

// MinFrame80211 is the shortest 802.11 frame: an ACK or CTS (frame
// control, duration, receiver address) without its FCS.
const MinFrame80211 = 10

// Device is one network device.
//
// A device's frames arrive in one of two ways. A datapath device has an RX
// ring that its worker polls; an endpoint device hands what it receives to
// its Endpoint at once. Transmit on a device delivers to its peer (if
// paired) or to its transmit Endpoint (if set), else counts a tx drop.
type Device struct {
	name     string
	index    int32
	mtu      int
	txQueues atomic.Int32
	link     Link
	minFrame int

	rx       *Ring
	endpoint Endpoint // receive side, for endpoint devices
	txSink   Endpoint // transmit side, when there is no peer
	port     TxPort   // transmit side of a real backend (TAP, AF_PACKET)
	poller   RxPoller // receive side of a polled backend, beside rx
	peer     *Device
	notify   func()
	// portGSO: the port takes GSO frames whole (GSOPort). gso is the
	// software GSO of frames it does not, used by the owning worker
	// only; gsoDrops counts GSO frames that could not be cut.
	portGSO bool
	gso     pkt.Segmenter
	gsoWarn sync.Once

	// Queue selection configuration (select.go): traffic classes and
	// the XPS map, read lock-free by PickTx.
	tc  atomic.Pointer[TCMap]
	xps atomic.Pointer[[][]uint16]

	Counters Counters
}

// Counters are a device's interface statistics (ip -s link).
type Counters struct {
	RxPackets, RxBytes, RxDropped atomic.Uint64
	TxPackets, TxBytes, TxDropped atomic.Uint64
	// RxErrors counts frames dropped on receive as malformed: shorter
	// than an Ethernet header (a NIC's runts, the kernel's
	// eth_type_trans refusing them).
	RxErrors atomic.Uint64
}

// MinFrame is the shortest frame a device receives: an Ethernet header.
const MinFrame = 14

// ValidName reports whether name is an interface name the kernel accepts
// (net/core/dev.c dev_valid_name): 1..15 bytes (IFNAMSIZ with its NUL),
// not "." or "..", and no '/', ':', whitespace or NUL, which would make
// it an unusable path in /sys/class/net or an alias ("eth0:1").
func ValidName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("name is empty")
	case len(name) > 15:
		return fmt.Errorf("name %q: %d bytes, at most 15 (IFNAMSIZ)", name, len(name))
	case name == "." || name == "..":
		return fmt.Errorf("name %q is not a name", name)
	}
	for _, c := range []byte(name) {
		switch c {
		case '/', ':', ' ', '\t', '\n', '\v', '\f', '\r', 0:
			return fmt.Errorf("name %q: %q is not allowed in an interface name (nor '/', ':' or white space)", name, c)
		}
	}
	return nil
}

// ErrBadConfig is wrapped by configuration errors.
var ErrBadConfig = errors.New("netdev: bad configuration")

// New returns a datapath device with an RX ring.
func New(index int32, c Config) (*Device, error) {
	if err := ValidName(c.Name); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < 68 || c.MTU > 65535 {
		return nil, fmt.Errorf("%w: %s: mtu %d: must be 68..65535", ErrBadConfig, c.Name, c.MTU)
	}
	if c.TxQueues == 0 {
		c.TxQueues = 1
	}
	if c.TxQueues < 1 || c.TxQueues > MaxTxQueues {
		return nil, fmt.Errorf("%w: %s: %d tx queues: must be 1..%d", ErrBadConfig, c.Name, c.TxQueues, MaxTxQueues)
	}
	if c.RxRing == 0 {
		c.RxRing = DefaultRxRing
	}
	if c.RxRing < 2 || c.RxRing > MaxRxRing {
		return nil, fmt.Errorf("%w: %s: rx ring of %d: must be 2..%d", ErrBadConfig, c.Name, c.RxRing, MaxRxRing)
	}
	if c.Link > LinkIEEE80211 {
		return nil, fmt.Errorf("%w: %s: link layer %d unknown", ErrBadConfig, c.Name, c.Link)
	}
	d := &Device{name: c.Name, index: index, mtu: c.MTU, rx: NewRing(c.RxRing), link: c.Link, minFrame: MinFrame}
	if c.Link == LinkIEEE80211 {
		d.minFrame = MinFrame80211
	}
	d.txQueues.Store(int32(c.TxQueues))
	return d, nil
}

// NewEndpoint returns a device whose received frames go to e (a host in a
// lab, say). It has no RX ring.
func NewEndpoint(name string, e Endpoint) *Device {
	d := &Device{name: name, mtu: DefaultMTU, endpoint: e, minFrame: MinFrame}
	d.txQueues.Store(1)
	return d
}

// NewPair connects a and b like a veth pair. Pairs, sinks and notify
// hooks are set up before the datapath's workers start (Engine.Start): the
// workers read them without a lock.
func NewPair(a, b *Device) error {
	if a.peer != nil || b.peer != nil {
		return fmt.Errorf("%w: %s or %s is already paired", ErrBadConfig, a.name, b.name)
	}
	a.peer, b.peer = b, a
	return nil
}

// SetTxSink makes e receive what the device transmits when it has no peer.
func (d *Device) SetTxSink(e Endpoint) { d.txSink = e }

// SetTxPort makes a backend send what the device transmits. Like pairs and
// sinks it is set before the workers start sending on the device.
func (d *Device) SetTxPort(p TxPort) {
	d.port = p
	g, ok := p.(GSOPort)
	d.portGSO = ok && g.TakesGSO()
}

func (d *Device) Name() string  { return d.name }
func (d *Device) Index() int32  { return d.index }
func (d *Device) MTU() int      { return d.mtu }
func (d *Device) TxQueues() int { return int(d.txQueues.Load()) }

// Link is the device's link layer.
func (d *Device) Link() Link { return d.link }

// SetTxQueues changes the number of TX queues (ethtool -L). The caller
// makes sure nothing depends on the old number (an mq root, XPS entries).
func (d *Device) SetTxQueues(n int) error {
	if n < 1 || n > MaxTxQueues {
		return fmt.Errorf("%w: %s: %d tx queues: must be 1..%d", ErrBadConfig, d.name, n, MaxTxQueues)
	}
	d.txQueues.Store(int32(n))
	d.xps.Store(nil)
	return nil
}
func (d *Device) Peer() *Device { return d.peer }

// RxRing is the ring the datapath polls; nil for an endpoint device.
func (d *Device) RxRing() *Ring { return d.rx }

// Receive delivers a frame to the device as if it came off the wire: onto
// its RX ring (counted as an rx drop when the ring is full) or to its
// endpoint. It takes ownership of p. A frame shorter than an Ethernet
// header (on an 802.11 device: than an ACK, MinFrame80211) is counted as
// an RX error and dropped here, before anything reads its header.
func (d *Device) Receive(p *pkt.Buffer, now int64) {
	if p.Len() < d.minFrame {
		d.Counters.RxErrors.Add(1)
		p.Release()
		return
	}
	if d.endpoint != nil {
		d.Counters.RxPackets.Add(1)
		d.Counters.RxBytes.Add(uint64(p.Len()))
		d.endpoint.Receive(p, now)
		return
	}
	if p.Time == 0 {
		p.Time = now
	}
	if !d.rx.Push(p) {
		d.Counters.RxDropped.Add(1)
		p.Release()
		return
	}
	if d.notify != nil {
		d.notify()
	}
}

// SetRxPoller makes the device's worker poll p for received frames
// (RxPoller). Like SetTxPort it is set before the workers see the device.
func (d *Device) SetRxPoller(p RxPoller) { d.poller = p }

// RxPoller is the polled backend, or nil.
func (d *Device) RxPoller() RxPoller { return d.poller }

// Notify wakes the device's worker (the SetNotify hook): a polled backend
// calls it when frames arrive. It never blocks.
func (d *Device) Notify() {
	if d.notify != nil {
		d.notify()
	}
}

// SetNotify makes the device call f after a frame lands on its RX ring,
// so that the worker polling it wakes (a pair crossing from another
// worker's device). f must not block.
func (d *Device) SetNotify(f func()) { d.notify = f }

// Transmit sends p on TX queue q. It takes ownership of p.
func (d *Device) Transmit(q int, p *pkt.Buffer, now int64) {
	if d.port != nil {
		pk, by := p.WireLen()
		d.Counters.TxPackets.Add(uint64(pk))
		d.Counters.TxBytes.Add(uint64(by))
		d.portTransmit(q, p, now)
		d.port.Flush(q)
		return
	}
	if d.peer == nil && d.txSink == nil {
		d.Counters.TxDropped.Add(1)
		p.Release()
		return
	}
	pk, by := p.WireLen()
	d.Counters.TxPackets.Add(uint64(pk))
	d.Counters.TxBytes.Add(uint64(by))
	d.transmit(q, p, now)
}

// portTransmit hands p to the port, cut into segments first if it is a
// GSO frame the port cannot take whole.
func (d *Device) portTransmit(q int, p *pkt.Buffer, now int64) {
	if p.GSOType == pkt.GSONone || d.portGSO {
		d.port.Transmit(q, p, now)
		return
	}
	d.segment(q, p, now)
}

// segment sends p's segments (software GSO) on the port or the transmit
// Endpoint: what the kernel's validate_xmit_skb does for a device without
// TSO. A frame that cannot be cut (its headers are not what its metadata
// says, or the pool is out of memory) is dropped and counted; the first
// is logged, with the fix.
func (d *Device) segment(q int, p *pkt.Buffer, now int64) {
	err := d.gso.Cut(p, func(seg *pkt.Buffer) {
		if d.port != nil {
			d.port.Transmit(q, seg, now)
		} else {
			d.txSink.Receive(seg, now)
		}
	})
	if err != nil {
		d.gsoFail(p, err)
	}
	p.Release()
}

func (d *Device) gsoFail(p *pkt.Buffer, err error) {
	d.Counters.TxDropped.Add(1)
	d.gsoWarn.Do(func() {
		slog.Warn("netdev: dropping GSO frames that cannot be segmented; turn off gso on the sending interface or use afpacket both ways",
			"dev", d.name, "len", p.Len(), "gso_type", p.GSOType, "gso_size", p.GSOSize, "err", err)
	})
}

// TransmitBatch sends the packets of ps on TX queue q, in order, and
// counts them once for the batch (each count is a locked instruction). It
// takes ownership of the packets; ps itself stays the caller's.
func (d *Device) TransmitBatch(q int, ps []*pkt.Buffer, now int64) {
	if len(ps) == 0 {
		return
	}
	if d.port != nil {
		var k, n uint64
		for _, p := range ps {
			pk, by := p.WireLen()
			k += uint64(pk)
			n += uint64(by)
			d.portTransmit(q, p, now)
		}
		d.port.Flush(q)
		d.Counters.TxPackets.Add(k)
		d.Counters.TxBytes.Add(n)
		return
	}
	if d.peer == nil && d.txSink == nil {
		d.Counters.TxDropped.Add(uint64(len(ps)))
		for _, p := range ps {
			p.Release()
		}
		return
	}
	var k, n uint64
	for _, p := range ps {
		pk, by := p.WireLen()
		k += uint64(pk)
		n += uint64(by)
		d.transmit(q, p, now)
	}
	d.Counters.TxPackets.Add(k)
	d.Counters.TxBytes.Add(n)
}

func (d *Device) transmit(q int, p *pkt.Buffer, now int64) {
	switch {
	case d.peer != nil:
		// A frame crossing a pair starts a new life on the other side,
		// as with veth's dev_forward_skb within one netns: the queue
		// mapping and hash go, priority and mark stay. The redirect
		// TTL stays too, so that a loop through pairs stays bounded.
		p.Meta.Scrub(now)
		d.peer.Receive(p, now)
	case p.GSOType != pkt.GSONone:
		// A transmit Endpoint (a pcap writer, a test's sink) sees
		// frames as a wire would; a pair's peer takes GSO frames
		// whole, as a veth does.
		d.segment(q, p, now)
	default:
		d.txSink.Receive(p, now)
	}
}
