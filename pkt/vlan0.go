package pkt

import "netyard/wire"

// Parse parses the frame into b.Hdr. Call it whenever the frame's layout
// changes; the datapath calls it at receive. On error b.Hdr holds the
// layers that did parse.
func (b *Buffer) Parse() error {
	return wire.Parse(b.buf[b.head:b.tail], &b.Hdr)
}

// maxPriorityTags bounds StripPriorityTags' work on a frame made of
// nothing but priority tags.
const maxPriorityTags = 4

// StripPriorityTags applies netyard's one VLAN 0 rule (docs/VLAN.md): a
// priority tag (VID 0) is not a VLAN. It is removed, and its PCP becomes the
// packet's priority, whatever VLANs are configured and wherever the tag sits
// among the first two (alone, or under an 802.1ad S-tag). When several are
// removed, the outermost one's PCP wins: it is the one the previous hop
// acted on. b.Hdr must be current (Parse); it is refreshed after a change.
//
// The kernel's behaviour here depended on whether the 8021q module was
// loaded and whether a VLAN 0 device existed (Netconf 2017, "VLAN 0
// inconsistencies"); netyard applies this rule at every receive: first
// receive, after a redirect to ingress, and after a vlan pop.
func (b *Buffer) StripPriorityTags() {
	stripped := false
	for range maxPriorityTags {
		h := &b.Hdr
		var i int
		switch {
		case h.NumTags >= 1 && h.Tags[0].VID() == 0:
			i = 0
		case h.NumTags >= 2 && h.Tags[1].VID() == 0:
			i = 1
		default:
			return
		}
		if !stripped {
			b.Priority = uint32(h.Tags[i].PCP())
			stripped = true
		}
		if b.RemoveTag(12+wire.VLANTagLen*i) != nil {
			return
		}
		_ = b.Parse()
	}
}
