package netdev

import (
	"netyard/pkt"
	"netyard/wire"
)

// PickTx chooses the TX queue for p. It is the stack's policy, the same for
// every device (netdev_pick_tx without ndo_select_queue): a queue a rule
// set (skbedit queue_mapping) wins, capped to the device's queues as
// netdev_cap_txqueue does; otherwise the flow hash picks one (skb_tx_hash),
// so that one flow stays on one queue and keeps its order.
func (d *Device) PickTx(p *pkt.Buffer, seed uint32) int {
	n := d.txQueues
	if n == 1 {
		return 0
	}
	if p.HasQueueMapping {
		if int(p.QueueMapping) < n {
			return int(p.QueueMapping)
		}
		return 0
	}
	if !p.HashValid {
		p.Hash = FlowHash(&p.Hdr, seed)
		p.HashValid = true
	}
	// reciprocal_scale, as skb_tx_hash: a multiply instead of a modulo.
	return int(uint64(p.Hash) * uint64(n) >> 32)
}

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
