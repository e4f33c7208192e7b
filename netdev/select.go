package netdev

import (
	"fmt"

	"netyard/pkt"
	"netyard/wire"
)

// TCMap maps packet priorities to traffic classes and traffic classes to
// ranges of TX queues, as a device's prio_tc_map and tc_to_txq do in the
// kernel (set there by mqprio or a driver; here by the mqprio qdisc).
type TCMap struct {
	NumTC  uint8
	PrioTC [16]uint8 // priority & 15 -> traffic class
	Offset [16]uint16
	Count  [16]uint16
}

// SetTC installs (or, with nil, removes) the device's traffic classes.
// The caller has checked m against the device's queues.
func (d *Device) SetTC(m *TCMap) { d.tc.Store(m) }

// TC returns the device's traffic classes, or nil.
func (d *Device) TC() *TCMap { return d.tc.Load() }

// SetXPS sets the queues that worker (CPU) cpu transmits on, as XPS's
// xps_cpus does; an empty list removes the entry.
func (d *Device) SetXPS(cpu int, queues []uint16) error {
	if cpu < 0 || cpu >= MaxXPSCPUs {
		return fmt.Errorf("%w: %s: xps cpu %d: must be 0..%d", ErrBadConfig, d.name, cpu, MaxXPSCPUs-1)
	}
	for _, q := range queues {
		if int(q) >= d.TxQueues() {
			return fmt.Errorf("%w: %s: xps queue %d: the device has %d", ErrBadConfig, d.name, q, d.TxQueues())
		}
	}
	var old [][]uint16
	if o := d.xps.Load(); o != nil {
		old = *o
	}
	m := make([][]uint16, max(cpu+1, len(old)))
	copy(m, old)
	m[cpu] = append([]uint16(nil), queues...)
	d.xps.Store(&m)
	return nil
}

// MaxXPSCPUs bounds the XPS map.
const MaxXPSCPUs = 1024

// PickTx chooses the TX queue for p on worker (CPU) cpu. It is the stack's
// policy, the same for every device (netdev_pick_tx without
// ndo_select_queue: there is no per-device callback that could override
// it):
//
//  1. a queue a rule set (skbedit queue_mapping) wins, capped to the
//     device's queues as netdev_cap_txqueue does;
//  2. otherwise the packet's priority picks a traffic class and so a range
//     of queues, when the device has traffic classes (mqprio);
//  3. within that range, the worker's XPS queues, when it has some there
//     (get_xps_queue), chosen among by the flow hash;
//  4. otherwise the flow hash over the range (skb_tx_hash), so that one
//     flow stays on one queue and keeps its order.
//
// The hash is deterministic for a seed, so replay and lab runs repeat.
func (d *Device) PickTx(p *pkt.Buffer, seed uint32, cpu int) int {
	n := int(d.txQueues.Load())
	if p.HasQueueMapping {
		if int(p.QueueMapping) < n {
			return int(p.QueueMapping)
		}
		return 0
	}
	if n == 1 {
		return 0
	}
	off, cnt := 0, n
	if m := d.tc.Load(); m != nil && m.NumTC > 0 {
		tc := m.PrioTC[p.Priority&15]
		off, cnt = int(m.Offset[tc]), int(m.Count[tc])
		if cnt == 0 {
			return off
		}
	}
	if !p.HashValid {
		p.Hash = FlowHash(&p.Hdr, seed)
		p.HashValid = true
	}
	if xp := d.xps.Load(); xp != nil && cpu >= 0 && cpu < len(*xp) && len((*xp)[cpu]) > 0 {
		qs := (*xp)[cpu]
		q := int(qs[reciprocalScale(p.Hash, len(qs))])
		if q >= off && q < off+cnt {
			return q
		}
	}
	return off + reciprocalScale(p.Hash, cnt)
}

// reciprocalScale maps a hash onto [0, n) with a multiply instead of a
// modulo, as the kernel's reciprocal_scale.
func reciprocalScale(h uint32, n int) int { return int(uint64(h) * uint64(n) >> 32) }

// FlowHash hashes a packet's flow (addresses, protocol, ports) with a seed.
// It is deterministic for a given seed, so replay and lab runs repeat
// exactly; the kernel seeds its flow dissector hash randomly at boot, which
// netyard's daemon does too by choosing a random seed.
//
// The mixing is a 32-bit murmur3 finalizer over the folded fields: cheap,
// allocation-free, and good enough to spread flows over queues (the
// kernel uses jhash for the same job).
func FlowHash(h *wire.Headers, seed uint32) uint32 {
	x := seed ^ uint32(h.EtherType)
	if h.IPVersion != 0 {
		s, d := h.SrcIP.As16(), h.DstIP.As16()
		for i := 0; i < 16; i += 4 {
			x = mix(x, uint32(s[i])<<24|uint32(s[i+1])<<16|uint32(s[i+2])<<8|uint32(s[i+3]))
			x = mix(x, uint32(d[i])<<24|uint32(d[i+1])<<16|uint32(d[i+2])<<8|uint32(d[i+3]))
		}
		x = mix(x, uint32(h.Proto)<<16|uint32(h.NumTags))
		x = mix(x, uint32(h.SrcPort)<<16|uint32(h.DstPort))
	} else {
		x = mix(x, uint32(h.SrcMAC[0])<<24|uint32(h.SrcMAC[1])<<16|uint32(h.SrcMAC[2])<<8|uint32(h.SrcMAC[3]))
		x = mix(x, uint32(h.SrcMAC[4])<<8|uint32(h.SrcMAC[5])|uint32(h.DstMAC[4])<<24|uint32(h.DstMAC[5])<<16)
	}
	x ^= x >> 16
	x *= 0x85ebca6b
	x ^= x >> 13
	x *= 0xc2b2ae35
	x ^= x >> 16
	return x
}

func mix(h, k uint32) uint32 {
	k *= 0xcc9e2d51
	k = k<<15 | k>>17
	k *= 0x1b873593
	h ^= k
	h = h<<13 | h>>19
	return h*5 + 0xe6546b64
}
