package pkt

import (
	"encoding/binary"
	"errors"
	"fmt"

	"netyard/wifi/radiotap"
	"netyard/wire"
)

// Headroom is the space kept in front of a received frame for pushed headers.
// 64 bytes hold two VLAN tags and any encapsulation netyard builds, with room
// to spare; the kernel's NET_SKB_PAD is 64 on most architectures for the same
// reason.
const Headroom = 64

// DefaultDataSize is the largest frame a default pool's buffer holds: a
// 1500-byte MTU plus Ethernet header, two VLAN tags and FCS-free slack,
// rounded so that Headroom+DefaultDataSize is 2 KiB (one page holds two).
const DefaultDataSize = 2048 - Headroom

// GSODataSize is the largest frame a big buffer (Pool.GetBig) holds: an
// IP packet of 65535 bytes, the most a GSO super-frame carries (the
// kernel's GSO_LEGACY_MAX_SIZE), with its Ethernet header and two VLAN
// tags, rounded so that a big buffer with Headroom is 68 KiB.
const GSODataSize = 68<<10 - Headroom

// GSO types, the kernel's SKB_GSO_* / VIRTIO_NET_HDR_GSO_* in netyard's own
// numbering (Meta.GSOType).
const (
	GSONone  = 0
	GSOTCPv4 = 1
	GSOTCPv6 = 2
	GSOUDPL4 = 3
)

// DefaultTTL is the redirect budget a packet gets when it enters netyard.
// Each mirred redirect or mirror takes one. See datapath's documentation for
// the bound on transmissions this gives.
const DefaultTTL = 4

// Meta is the per-packet metadata the stack keeps next to the frame, the
// part of the kernel's sk_buff that tc reads and writes.
type Meta struct {
	// Ingress is the index of the device that received the packet, 0 for a
	// locally generated one (skb->skb_iif).
	Ingress int32
	// KeepLen is what a program at the 802.11 hook wrote to keep_len:
	// a listener gets the frame's first KeepLen bytes (0: all). Beside
	// Ingress, which the receive path writes anyway: the hook resets it
	// without touching another cache line (BenchmarkWifiMgmt).
	KeepLen uint32
	// Priority is skb->priority: set from a VLAN priority tag's PCP at
	// receive, by skbedit, or by the sender.
	Priority uint32
	// Mark is skb->mark.
	Mark uint32
	// QueueMapping is the TX queue a rule chose (skbedit queue_mapping);
	// valid when HasQueueMapping.
	QueueMapping    uint16
	HasQueueMapping bool
	// Hash is the flow hash (skb->hash); valid when HashValid.
	Hash      uint32
	HashValid bool
	// TTL is the redirect budget (see DefaultTTL). The kernel dropped its
	// two-bit tc_verd TTL in 2017; netyard keeps one per packet.
	TTL uint8
	// Time is the packet's arrival time in nanoseconds (virtual or real).
	Time int64
	// EnqueueTime is set by a qdisc on enqueue, for sojourn times.
	EnqueueTime int64

	// Offload state, as the kernel's skb_shared_info and csum_start/
	// csum_offset carry it and a virtio_net_hdr hands it over (AF_PACKET
	// with PACKET_VNET_HDR). A GSO frame (GSOType != 0) is one
	// super-frame of up to 64 KiB that stands for several segments of
	// GSOSize payload bytes each; whoever transmits it segments it or has
	// the kernel do so. CsumPartial says the transport checksum holds only
	// the pseudo-header sum: the sum from CsumStart (from the start of
	// the frame) is to be stored at CsumStart+CsumOffset. All zero for an
	// ordinary frame, so they cost a received packet nothing.
	GSOType     uint8
	CsumPartial bool
	GSOSize     uint16
	CsumStart   uint16
	CsumOffset  uint16

	// Radio is the receive metadata of a frame from an 802.11 device:
	// what its radiotap header (or driver) said of it, signal, channel,
	// rate, TSFT; zero for other frames. The radiotap header itself is
	// not kept: one is built from Radio only for a frame a listener
	// takes (docs/WIFI.md).
	Radio radiotap.Fields
	// hops are the devices the packet was last redirected from (a ring
	// of four: RecordHop, Hops), so that a loop drop can name the loop.
	hops  [4]int32
	nhops uint8
}

// Buffer is one packet. Its zero value is not usable: get one from a Pool.
//
// Data is buf[head:tail]. The metadata and the parsed headers sit beside
// the bytes; Hdr is valid after the datapath has parsed the frame and is
// refreshed whenever an action changes the frame's layout.
type Buffer struct {
	Meta
	Hdr wire.Headers

	// Next links buffers in intrusive queues (qdiscs, backlogs) so that
	// queueing a packet never allocates. A queue owns the field while the
	// buffer is in it.
	Next *Buffer

	buf        []byte
	head, tail int
	refs       refcount
	pool       *Pool
	size       int64 // bytes charged to the pool's memory account
}

// Data is the frame. The slice is valid until the buffer is released or its
// layout changes (Push, Pull, InsertTag, RemoveTag).
func (b *Buffer) Data() []byte { return b.buf[b.head:b.tail] }

// Len is the frame length in bytes.
func (b *Buffer) Len() int { return b.tail - b.head }

// Headroom is the free space in front of the frame.
func (b *Buffer) Headroom() int { return b.head }

// Tailroom is the free space after the frame.
func (b *Buffer) Tailroom() int { return len(b.buf) - b.tail }

// ErrNoRoom is returned when a frame does not fit its buffer.
var ErrNoRoom = errors.New("pkt: no room in buffer")

// SetData replaces the frame with a copy of p, placed after the headroom.
func (b *Buffer) SetData(p []byte) error {
	if len(p) > len(b.buf)-Headroom {
		return fmt.Errorf("%w: frame of %d bytes, buffer holds %d", ErrNoRoom, len(p), len(b.buf)-Headroom)
	}
	b.head = Headroom
	b.tail = Headroom + copy(b.buf[Headroom:], p)
	return nil
}

// Resize sets the frame length to n bytes from its start, for callers that
// write into Data directly (receive paths). It fails if n exceeds the room.
func (b *Buffer) Resize(n int) error {
	if n < 0 || b.head+n > len(b.buf) {
		return fmt.Errorf("%w: %d bytes after %d of headroom, buffer holds %d", ErrNoRoom, n, b.head, len(b.buf))
	}
	b.tail = b.head + n
	return nil
}

// Push prepends n bytes and returns them.
func (b *Buffer) Push(n int) ([]byte, error) {
	if n > b.head {
		return nil, fmt.Errorf("%w: push of %d bytes with %d of headroom", ErrNoRoom, n, b.head)
	}
	b.head -= n
	return b.buf[b.head : b.head+n], nil
}

// Pull removes n bytes from the front of the frame (skb_pull): the
// undoing of a Push.
func (b *Buffer) Pull(n int) error {
	if n < 0 || n > b.Len() {
		return fmt.Errorf("pkt: pull of %d bytes from a %d-byte frame", n, b.Len())
	}
	b.head += n
	return nil
}

// InsertTag inserts a VLAN tag at byte offset off (12 for the outermost
// position, right after the MAC addresses). The bytes before off move into
// the headroom; nothing after off is copied.
func (b *Buffer) InsertTag(off int, tpid, tci uint16) error {
	if off < 12 || off > b.Len() {
		return fmt.Errorf("pkt: tag insert at %d in a %d-byte frame", off, b.Len())
	}
	if b.head < wire.VLANTagLen {
		return fmt.Errorf("%w: tag insert needs %d bytes of headroom, have %d", ErrNoRoom, wire.VLANTagLen, b.head)
	}
	b.head -= wire.VLANTagLen
	d := b.buf[b.head:b.tail]
	copy(d, d[wire.VLANTagLen:wire.VLANTagLen+off])
	binary.BigEndian.PutUint16(d[off:], tpid)
	binary.BigEndian.PutUint16(d[off+2:], tci)
	if b.CsumPartial && int(b.CsumStart) >= off {
		// csum_start counts from the frame's start (the kernel's
		// from skb->head, which a tag push does not move).
		b.CsumStart += wire.VLANTagLen
	}
	return nil
}

// RemoveTag removes the 4-byte VLAN tag at byte offset off.
func (b *Buffer) RemoveTag(off int) error {
	if off < 12 || off+wire.VLANTagLen > b.Len() {
		return fmt.Errorf("pkt: tag removal at %d in a %d-byte frame", off, b.Len())
	}
	d := b.buf[b.head:b.tail]
	copy(d[wire.VLANTagLen:], d[:off])
	b.head += wire.VLANTagLen
	if b.CsumPartial && int(b.CsumStart) >= off+wire.VLANTagLen {
		b.CsumStart -= wire.VLANTagLen
	}
	return nil
}

// Refs is the current reference count, for tests and debugging.
func (b *Buffer) Refs() int32 { return b.refs.load() }

// Hold takes another reference (skb_get). A hold on a released buffer is a
// use-after-free: it is reported and the buffer is saturated (never reused).
func (b *Buffer) Hold() {
	if f, ok := b.refs.inc(); !ok {
		b.pool.fault(f, b)
	}
}

// Release drops a reference (kfree_skb). The last one returns the buffer to
// its pool. A release of a buffer that has none left is reported and the
// buffer saturated.
func (b *Buffer) Release() {
	last, f, ok := b.refs.dec()
	if !ok {
		b.pool.fault(f, b)
		return
	}
	if last {
		b.pool.put(b)
	}
}

// Clone returns a new buffer with a copy of the frame, the metadata and the
// parsed headers (pskb_copy: netyard never shares frame bytes between
// packets, so a mirror copy can be changed freely).
func (b *Buffer) Clone() (*Buffer, error) {
	c, err := b.pool.get(len(b.buf) > b.pool.bufSize)
	if err != nil {
		return nil, err
	}
	c.Meta = b.Meta
	c.Hdr = b.Hdr
	c.head = b.head
	c.tail = b.head + copy(c.buf[b.head:], b.buf[b.head:b.tail])
	return c, nil
}

// Pool returns the pool the buffer belongs to.
func (b *Buffer) Pool() *Pool { return b.pool }

var wireHeadersZero wire.Headers

// RecordHop notes that the packet was redirected from device index dev, for
// loop reports. The last len(Meta.Hops) hops are kept.
func (b *Buffer) RecordHop(dev int32) {
	b.hops[b.nhops%uint8(len(b.hops))] = dev
	b.nhops++
}

// Hops returns the devices the packet was redirected from, oldest first
// (at most the last four).
func (b *Buffer) Hops() []int32 {
	n := int(b.nhops)
	if n <= len(b.hops) {
		return b.hops[:n:n]
	}
	out := make([]int32, 0, len(b.hops))
	for i := n - len(b.hops); i < n; i++ {
		out = append(out, b.hops[i%len(b.hops)])
	}
	return out
}

// Scrub resets what a packet loses when it crosses an in-memory pair (as
// veth's dev_forward_skb within one netns): the receive device, queue
// mapping and hash go; priority, mark, the redirect TTL and the hop record
// stay, so that a loop through pairs stays bounded and reportable.
func (m *Meta) Scrub(now int64) {
	*m = Meta{Priority: m.Priority, Mark: m.Mark, TTL: m.TTL, hops: m.hops, nhops: m.nhops, Time: now}
}
