package act

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"

	"netyard/pkt"
	"netyard/stats"
	"netyard/wire"
)

// vlan pushes, pops or rewrites the outermost VLAN tag (tcf_vlan_act,
// net/sched/act_vlan.c, with skb_vlan_pop and skb_vlan_push of
// net/core/skbuff.c). netyard keeps tags in the frame (no hardware-accel
// tag beside it), so the kernel's juggling between the accel tag and the
// payload reduces to inserting or removing four bytes after the MACs.
//
//   - pop on a frame whose outer EtherType is not 802.1Q/802.1ad does
//     nothing (skb_vlan_pop returns 0); a tag cut short is a drop. After
//     the pop, netyard's VLAN 0 rule runs (pkt.Buffer.StripPriorityTags):
//     a priority tag that the pop exposed is not a VLAN either.
//   - push inserts a tag with the configured TPID (802.1Q unless Proto
//     says 802.1ad) and PCP (0 unless given). VID 0 is allowed and sends
//     a priority tag: the VLAN 0 rule applies to received frames only.
//   - modify on an untagged frame does nothing ("No-op if no vlan tag");
//     otherwise it rewrites the VID, the PCP when one is given, and the
//     TPID, which becomes the configured protocol (802.1Q by default), as
//     the kernel puts the tag back with tcfv_push_proto.
//
// The frame is re-parsed after every change so that later filters and
// actions see the new layout. A push without headroom is a drop.
type vlan struct {
	cell stats.Cell
	p    atomic.Pointer[vlanParams]
}

type vlanParams struct {
	spec Vlan
	tpid uint16
	// tci is the whole TCI for push; for modify the VID and, when
	// setPCP, the PCP that replace the tag's.
	tci    uint16
	setPCP bool
}

var _ Action = (*vlan)(nil)

// maxVID is the largest VID a tag may carry: 4095 (0xfff) is reserved
// (IEEE 802.1Q table 9-2), and tcf_vlan_init refuses it with -ERANGE.
const maxVID = 4094

func newVlan(s *Vlan, cell stats.Cell) (*vlan, error) {
	prm, err := vlanConfig(s)
	if err != nil {
		return nil, err
	}
	v := &vlan{cell: cell}
	v.p.Store(prm)
	return v, nil
}

func vlanConfig(s *Vlan) (*vlanParams, error) {
	if err := checkControl("vlan", "control", s.C.Control); err != nil {
		return nil, err
	}
	c, err := copyCommon(s.C)
	if err != nil {
		return nil, fmt.Errorf("vlan: %w", err)
	}
	spec := *s
	spec.C = c
	prm := &vlanParams{spec: spec}
	switch s.Op {
	case VlanPop:
		// The kernel ignores the push parameters for pop.
		return prm, nil
	case VlanPush, VlanModify:
	default:
		return nil, fmt.Errorf("vlan: operation %d: must be pop, push or modify", s.Op)
	}
	if s.ID > maxVID {
		return nil, fmt.Errorf("vlan: id %d: must be 0..%d", s.ID, maxVID)
	}
	switch s.Proto {
	case 0:
		prm.tpid = wire.EtherTypeVLAN
	case wire.EtherTypeVLAN, wire.EtherTypeQinQ:
		prm.tpid = s.Proto
	default:
		return nil, fmt.Errorf("vlan: protocol %#04x: must be 802.1Q (0x8100) or 802.1ad (0x88a8)", s.Proto)
	}
	if s.HasPriority && s.Priority > 7 {
		return nil, fmt.Errorf("vlan: priority %d: must be 0..7", s.Priority)
	}
	prm.tci = s.ID
	// Push always writes a PCP (tcfv_push_prio_exists is forced for push).
	prm.setPCP = s.HasPriority || s.Op == VlanPush
	if prm.setPCP {
		prm.tci |= uint16(s.Priority) << 13
	}
	return prm, nil
}

func isVLAN(typ uint16) bool { return typ == wire.EtherTypeVLAN || typ == wire.EtherTypeQinQ }

// tagOff is where the outermost tag sits: right after the MAC addresses.
const tagOff = 12

func (v *vlan) Exec(c *Ctx, p *pkt.Buffer) Verdict {
	prm := v.p.Load()
	pk, by := p.WireLen() // a GSO frame counts as its segments
	v.cell.UseN(c.Worker, pk, by, c.Now)
	switch prm.spec.Op {
	case VlanPop:
		if !isVLAN(p.Hdr.OuterType) {
			break
		}
		// __skb_vlan_pop needs a whole tagged header (VLAN_ETH_HLEN):
		// a frame cut off in the tag or its EtherType is dropped, not
		// left as a runt without an EtherType.
		if p.Len() < tagOff+wire.VLANTagLen+2 || p.RemoveTag(tagOff) != nil {
			return v.drop(c)
		}
		// A parse error leaves in Hdr what did parse, as at receive;
		// the packet goes on like any other partly parsed packet.
		_ = p.Parse()
		p.StripPriorityTags()
	case VlanPush:
		if p.InsertTag(tagOff, prm.tpid, prm.tci) != nil {
			return v.drop(c)
		}
		_ = p.Parse()
	case VlanModify:
		if !isVLAN(p.Hdr.OuterType) {
			break
		}
		d := p.Data()
		if len(d) < tagOff+wire.VLANTagLen {
			return v.drop(c)
		}
		tci := binary.BigEndian.Uint16(d[tagOff+2:])&^0x0fff | prm.tci&0x0fff
		if prm.setPCP {
			tci = tci&^0xe000 | prm.tci&0xe000
		}
		binary.BigEndian.PutUint16(d[tagOff:], prm.tpid)
		binary.BigEndian.PutUint16(d[tagOff+2:], tci)
		_ = p.Parse()
	}
	return prm.spec.C.Control
}

func (v *vlan) drop(c *Ctx) Verdict {
	v.cell.Drop(c.Worker)
	return Shot
}

func (v *vlan) Spec() Spec { s := v.p.Load().spec; return cloneSpec(&s) }

// live is the running spec itself: shared, never to be changed.
func (v *vlan) live() Spec        { return &v.p.Load().spec }
func (v *vlan) Stats() stats.Cell { return v.cell }

func (v *vlan) replace(from Action, _ int64) error {
	f, ok := from.(*vlan)
	if !ok {
		return errKindChange("vlan", from)
	}
	v.p.Store(f.p.Load())
	return nil
}
