package cls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"netyard/act"
	"netyard/internal/nlattr"
)

// The dump encoding of a filter: netlink attributes (host byte order,
// 4-byte aligned), what a ctl.Object's Data holds for the table "filter".
// The numbering is netyard's; kind, statistics and times share act's
// numbers and layout:
//
//	attribute      nr  type      meaning
//	AttrKind        1  string    "flower", "matchall" (TCA_KIND)
//	AttrChain       2  u32       the chain (TCA_CHAIN)
//	AttrPrio        3  u32       the prio ("pref")
//	AttrHandle      4  u32       the handle
//	AttrProtocol    5  u32       the EtherType, host order (wire.EtherTypeAll for "all")
//	AttrClassID     6  u32       classid/flowid; absent when 0
//	AttrFlags       7  u32       1: skip_hw
//	act.AttrStats   8  4 x u64   the filter's counters (bytes, packets, drops, overlimits)
//	act.AttrTimes   9  3 x s64   ages in ns: installed, first used, last used; -1 never
//	AttrOptions    10  nested    flower's keys, below (TCA_OPTIONS)
//	AttrAction     11  nested    one bound action as act encodes it (act.AppendObject), repeated in order
//
//	flower: 1 indev string; 2 dst_mac, 3 src_mac: 12 bytes, address then
//	mask; 4 vlan_id, 5 vlan_prio, 6 vlan_ethtype, 7 cvlan_id, 8 cvlan_prio,
//	9 cvlan_ethtype, 10 ip_proto: u32; 11 src_ip, 12 dst_ip: the prefix
//	length (1 byte) then the address (4 or 16 bytes); 13 src_port, 14
//	dst_port: u32 min << 16 | max; 15 ip_tos, 16 ip_ttl: u32 value << 8 |
//	mask; 17 tcp_flags: u32 value << 16 | mask; 18 ip_flags: u64 value <<
//	32 | mask; 19 icmp_type, 20 icmp_code: u32.
//
//	bpf: 1 bytecode: 8 bytes per instruction (code u16, jt, jf, k u32, as
//	struct sock_filter); 2 name string (TCA_BPF_NAME); 3 flags u32 (1:
//	direct-action); 4 program id u32; 5 tag, 8 bytes; 6 program name
//	string; 7 object file, 8 section, 9 bytecode file: strings.
//
// The device and the hook are the dump's selection and are not repeated
// in every object.
const (
	AttrKind = iota + 1
	AttrChain
	AttrPrio
	AttrHandle
	AttrProtocol
	AttrClassID
	AttrFlags
	_ // act.AttrStats
	_ // act.AttrTimes
	AttrOptions
	AttrAction
)

const flagSkipHW = 1

// errAttr is the one error a malformed filter object gives.
var errAttr = errors.New("malformed filter attributes")

// appendObject appends f's attributes, its counters read now, and its
// actions' as the action table has them (each under the table's read
// lock). Under c.mu.
func (c *Chains) appendObject(b []byte, f *filter, terse bool, now int64) []byte {
	p := f.pos()
	b = nlattr.AppendStr(b, AttrKind, f.cls.kind.String())
	b = nlattr.AppendU32(b, AttrChain, p.Chain)
	b = nlattr.AppendU32(b, AttrPrio, uint32(p.Prio))
	b = nlattr.AppendU32(b, AttrHandle, f.handle)
	b = nlattr.AppendU32(b, AttrProtocol, uint32(f.protocol))
	if f.classID != 0 {
		b = nlattr.AppendU32(b, AttrClassID, f.classID)
	}
	if f.flags&flagSkipHW != 0 {
		b = nlattr.AppendU32(b, AttrFlags, flagSkipHW)
	}
	st := f.cell.Read()
	b = act.AppendCounters(b, &st, true, now)
	if f.cls.kind == kindFlower {
		var indev string
		if len(c.indev) > 0 {
			indev = c.indev[f]
		}
		f.cls.flower(&c.fl, &c.flv, indev)
		var at int
		b, at = nlattr.StartNest(b, AttrOptions)
		b = appendFlower(b, &c.fl)
		b = nlattr.EndNest(b, at)
	}
	if f.cls.kind == kindBpf {
		var at int
		b, at = nlattr.StartNest(b, AttrOptions)
		b = appendBpf(b, f.cls.bpf.spec)
		b = nlattr.EndNest(b, at)
	}
	for _, bd := range f.binds() {
		e, ok := c.table.Entry(bd.kindName(), bd.index)
		if !ok {
			continue // bound actions stay in the table; List panics on this bug
		}
		var at int
		b, at = nlattr.StartNest(b, AttrAction)
		b = act.AppendObject(b, e, terse, now)
		b = nlattr.EndNest(b, at)
	}
	return b
}

func appendFlower(b []byte, f *Flower) []byte {
	// One test per key, no tables of them: this runs for every filter of
	// a dump.
	if f.Indev != "" {
		b = nlattr.AppendStr(b, 1, f.Indev)
	}
	if f.DstMAC != nil {
		b = appendMAC(b, 2, f.DstMAC)
	}
	if f.SrcMAC != nil {
		b = appendMAC(b, 3, f.SrcMAC)
	}
	b = appendOpt16(b, 4, f.VlanID)
	b = appendOpt8(b, 5, f.VlanPrio)
	b = appendOpt16(b, 6, f.VlanEthType)
	b = appendOpt16(b, 7, f.CVlanID)
	b = appendOpt8(b, 8, f.CVlanPrio)
	b = appendOpt16(b, 9, f.CVlanEthType)
	b = appendOpt8(b, 10, f.IPProto)
	if f.SrcIP != nil {
		b = appendPrefix(b, 11, *f.SrcIP)
	}
	if f.DstIP != nil {
		b = appendPrefix(b, 12, *f.DstIP)
	}
	if r := f.SrcPort; r != nil {
		b = nlattr.AppendU32(b, 13, uint32(r.Min)<<16|uint32(r.Max))
	}
	if r := f.DstPort; r != nil {
		b = nlattr.AppendU32(b, 14, uint32(r.Min)<<16|uint32(r.Max))
	}
	if m := f.TOS; m != nil {
		b = nlattr.AppendU32(b, 15, uint32(m.Value)<<8|uint32(m.Mask))
	}
	if m := f.TTL; m != nil {
		b = nlattr.AppendU32(b, 16, uint32(m.Value)<<8|uint32(m.Mask))
	}
	if f.TCPFlags != nil {
		b = nlattr.AppendU32(b, 17, uint32(f.TCPFlags.Value)<<16|uint32(f.TCPFlags.Mask))
	}
	if f.IPFlags != nil {
		b = nlattr.AppendU64(b, 18, uint64(f.IPFlags.Value)<<32|uint64(f.IPFlags.Mask))
	}
	b = appendOpt8(b, 19, f.ICMPType)
	return appendOpt8(b, 20, f.ICMPCode)
}

func appendBpf(b []byte, s *Bpf) []byte {
	b = act.AppendBpfParams(b, s.Bytecode, s.Name, s.ProgID, s.ProgTag, s.ProgName, s.Object, s.Section, s.File)
	if s.DirectAction {
		b = nlattr.AppendU32(b, 3, 1)
	}
	return b
}

func decodeBpf(b []byte) (*Bpf, error) {
	var a act.Bpf
	flags, err := act.DecodeBpfParams(b, &a)
	if err != nil {
		return nil, err
	}
	return &Bpf{Bytecode: a.Bytecode, File: a.File, Object: a.Object, Section: a.Section, Name: a.Name,
		DirectAction: flags&1 != 0, ProgID: a.ProgID, ProgName: a.ProgName, ProgTag: a.ProgTag}, nil
}

func appendMAC(b []byte, typ uint16, m *MACMask) []byte {
	b = nlattr.AppendHdr(b, typ, 12)
	return append(append(b, m.Addr[:]...), m.Mask[:]...)
}

func appendOpt8(b []byte, typ uint16, v *uint8) []byte {
	if v == nil {
		return b
	}
	return nlattr.AppendU32(b, typ, uint32(*v))
}

func appendOpt16(b []byte, typ uint16, v *uint16) []byte {
	if v == nil {
		return b
	}
	return nlattr.AppendU32(b, typ, uint32(*v))
}

func appendPrefix(b []byte, typ uint16, p netip.Prefix) []byte {
	a := p.Addr()
	if a.Is4() {
		v := a.As4()
		b = nlattr.AppendHdr(b, typ, 5)
		return nlattr.Pad(append(append(b, byte(p.Bits())), v[:]...))
	}
	v := a.As16()
	b = nlattr.AppendHdr(b, typ, 17)
	return nlattr.Pad(append(append(b, byte(p.Bits())), v[:]...))
}

// Decoder turns dumped filter objects back into FilterViews. It reuses
// its storage as act.Decoder does: the flower specs (and their addresses)
// and the actions' specs of one batch (between two Resets) share it, so
// that a listing of a million filters does not allocate each anew; they
// are valid until the next Reset.
type Decoder struct {
	acts     act.Decoder
	names    map[string]string
	flowers  []Flower
	prefixes []netip.Prefix
}

// Reset starts a batch of at most n filters (of about one action each).
func (d *Decoder) Reset(n int) {
	d.acts.Reset(n)
	d.flowers = reserve(d.flowers, n)
	d.prefixes = reserve(d.prefixes, n)
}

func reserve[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s[:0]
}

// take returns a zeroed element at the end of *s (zeroed here: only what
// a batch uses is cleared, not the whole reserve); its address stays
// valid until Reset (more than Reset announced: a fresh array keeps the
// pointers handed out so far valid).
func take[T any](s *[]T) *T {
	if len(*s) == cap(*s) {
		*s = make([]T, 0, 2*cap(*s)+8)
	}
	*s = (*s)[:len(*s)+1]
	p := &(*s)[len(*s)-1]
	var zero T
	*p = zero
	return p
}

// Decode reads one object into v. The view's Dev and Parent are the
// dump's selection, which the caller knows.
func (d *Decoder) Decode(b []byte, v *FilterView) error {
	acts, specs := v.Actions[:0], v.Spec.Actions[:0]
	*v = FilterView{}
	var kind, opts []byte
	a := nlattr.Iter{B: b, Base: errAttr}
	for a.Next() {
		switch a.Typ {
		case AttrKind:
			kind = a.Str()
		case AttrChain:
			v.Spec.Chain = a.U32()
		case AttrPrio:
			v.Spec.Prio = uint16(a.U32())
		case AttrHandle:
			v.Spec.Handle = a.U32()
		case AttrProtocol:
			v.Spec.Protocol = uint16(a.U32())
		case AttrClassID:
			v.Spec.ClassID = a.U32()
		case AttrFlags:
			v.Spec.SkipHW = a.U32()&flagSkipHW != 0
		case act.AttrStats, act.AttrTimes:
			if err := act.DecodeCounter(a.Typ, a.Val, &v.Stats); err != nil {
				return err
			}
		case AttrOptions:
			opts = a.Val // read once the kind is known
		case AttrAction:
			acts = slices.Grow(acts, 1)[:len(acts)+1]
			if err := d.acts.Decode(a.Val, &acts[len(acts)-1]); err != nil {
				return fmt.Errorf("filter chain %d prio %d handle %#x: action %d: %w", v.Spec.Chain, v.Spec.Prio, v.Spec.Handle, len(acts), err)
			}
		}
	}
	if a.Err != nil {
		return a.Err
	}
	v.Actions = acts
	for i := range acts {
		specs = append(specs, acts[i].Spec)
	}
	v.Spec.Actions = specs
	switch string(kind) {
	case "flower":
		if opts == nil {
			v.Spec.Classifier = take(&d.flowers)
			break
		}
		f, err := d.decodeFlower(opts)
		if err != nil {
			return err
		}
		v.Spec.Classifier = f
	case "matchall":
		v.Spec.Classifier = &Matchall{}
	case "bpf":
		s, err := decodeBpf(opts)
		if err != nil {
			return err
		}
		v.Spec.Classifier = s
	default:
		return fmt.Errorf("%w: kind %q", errAttr, kind)
	}
	return nil
}

func (d *Decoder) decodeFlower(b []byte) (*Flower, error) {
	f := take(&d.flowers)
	a := nlattr.Iter{B: b, Base: errAttr}
	for a.Next() {
		switch a.Typ {
		case 1:
			s := a.Str()
			if v, ok := d.names[string(s)]; ok {
				f.Indev = v
			} else {
				if d.names == nil || len(d.names) > 1024 {
					d.names = make(map[string]string)
				}
				f.Indev = string(s)
				d.names[f.Indev] = f.Indev
			}
		case 2, 3:
			v := a.Fixed(12)
			if v == nil {
				break
			}
			m := &MACMask{}
			copy(m.Addr[:], v)
			copy(m.Mask[:], v[6:])
			if a.Typ == 2 {
				f.DstMAC = m
			} else {
				f.SrcMAC = m
			}
		case 4, 6, 7, 9:
			v := uint16(a.U32())
			switch a.Typ {
			case 4:
				f.VlanID = &v
			case 6:
				f.VlanEthType = &v
			case 7:
				f.CVlanID = &v
			case 9:
				f.CVlanEthType = &v
			}
		case 5, 8, 10, 19, 20:
			v := uint8(a.U32())
			switch a.Typ {
			case 5:
				f.VlanPrio = &v
			case 8:
				f.CVlanPrio = &v
			case 10:
				f.IPProto = &v
			case 19:
				f.ICMPType = &v
			case 20:
				f.ICMPCode = &v
			}
		case 11, 12:
			if len(a.Val) != 5 && len(a.Val) != 17 {
				return nil, fmt.Errorf("%w: flower address of %d bytes", errAttr, len(a.Val))
			}
			addr, _ := netip.AddrFromSlice(a.Val[1:])
			p := take(&d.prefixes)
			var err error
			if *p, err = addr.Prefix(int(a.Val[0])); err != nil {
				return nil, fmt.Errorf("%w: flower prefix: %v", errAttr, err)
			}
			if a.Typ == 11 {
				f.SrcIP = p
			} else {
				f.DstIP = p
			}
		case 13, 14:
			v := a.U32()
			r := &PortRange{Min: uint16(v >> 16), Max: uint16(v)}
			if a.Typ == 13 {
				f.SrcPort = r
			} else {
				f.DstPort = r
			}
		case 15, 16:
			v := a.U32()
			m := &Masked[uint8]{Value: uint8(v >> 8), Mask: uint8(v)}
			if a.Typ == 15 {
				f.TOS = m
			} else {
				f.TTL = m
			}
		case 17:
			v := a.U32()
			f.TCPFlags = &Masked[uint16]{Value: uint16(v >> 16), Mask: uint16(v)}
		case 18:
			v := a.U64()
			f.IPFlags = &Masked[uint32]{Value: uint32(v >> 32), Mask: uint32(v)}
		}
	}
	return f, a.Err
}

// DumpKey is a filter's key in a dump: chain, prio, handle, big-endian,
// so that keys sort as positions do.
func DumpKey(b []byte, p Pos) []byte {
	b = binary.BigEndian.AppendUint32(b, p.Chain)
	b = binary.BigEndian.AppendUint16(b, p.Prio)
	return binary.BigEndian.AppendUint32(b, p.Handle)
}

// ParseDumpKey reads a DumpKey.
func ParseDumpKey(b []byte) (Pos, error) {
	if len(b) != 10 {
		return Pos{}, fmt.Errorf("filter dump: resume key of %d bytes, want 10 (chain, prio, handle)", len(b))
	}
	return Pos{Chain: binary.BigEndian.Uint32(b), Prio: binary.BigEndian.Uint16(b[4:]), Handle: binary.BigEndian.Uint32(b[6:])}, nil
}
