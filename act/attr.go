package act

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"netyard/bpf/cbpf"
	"netyard/internal/nlattr"
	"netyard/stats"
)

// The dump encoding of an action: netlink attributes (struct nlattr, host
// byte order, 4-byte aligned), what a ctl.Object's Data holds for the
// tables "action/KIND". The numbering is netyard's and mirrors the
// kernel's TCA_ACT_* and each kind's TCA_*_PARMS:
//
//	attribute        nr  type      meaning
//	AttrKind          1  string    "gact", "mirred", ... (TCA_ACT_KIND)
//	AttrIndex         2  u32       the index (TCA_ACT_INDEX)
//	AttrRefs          3  u32       tc's "ref"
//	AttrBinds         4  u32       tc's "bind"
//	AttrControl       5  u32       the control verdict (tc_gen's action)
//	AttrParams        6  nested    the kind's parameters, below (TCA_ACT_OPTIONS)
//	AttrCookie        7  bytes     the cookie (TCA_ACT_COOKIE)
//	AttrStats         8  4 x u64   bytes, packets, drops, overlimits (gnet_stats_basic + queue)
//	AttrTimes         9  3 x s64   ages in ns at the walk: installed, first used, last used; -1: never used (tcf_t)
//	AttrFlags        10  u32       TCA_ACT_FLAGS' value (no_percpu, skip_hw, skip_sw); absent when 0
//
//	gact:    1 random type u32, 2 random verdict u32, 3 random val u32 (only with a random type)
//	mirred:  1 dev string, 2 flags u32 (1 ingress, 2 mirror)
//	vlan:    1 op u32, 2 id u32, 3 proto u32, 4 priority u32 (absent: none)
//	skbedit: 1 priority u32, 2 mark u32, 3 mask u32 (with mark), 4 queue_mapping u32, 5 ptype u32,
//	         6 inheritdsfield u32 (1); each only if set
//	police:  1 rate u64, 2 burst u32, 3 peakrate u64, 4 mtu u32, 5 exceed u32, 6 overhead u32, 7 atm u32 (1),
//	         8 pkts_rate u64, 9 pkts_burst u64
//	bpf:     AppendBpfParams's
//
// A terse object (TCA_ACT_FLAG_TERSE_DUMP) has only kind, index and the
// statistics. The encoder is hand-written: it appends into the dump
// message with no allocation, where netlink.AttributeEncoder allocates
// its own buffer for every object (BenchmarkAppendObject against
// BenchmarkAppendObjectEncoder).
const (
	AttrKind = iota + 1
	AttrIndex
	AttrRefs
	AttrBinds
	AttrControl
	AttrParams
	AttrCookie
	AttrStats
	AttrTimes
	AttrFlags
)

// Entry is what Table.Walk shows of an action: enough to encode it
// without copying its Spec.
type Entry struct {
	Index       uint32
	Action      Action
	Refs, Binds int
	// Cell is the action's counters (Action.Stats()).
	Cell stats.Cell
}

// AppendObject appends e's attributes to b, with its counters as read
// now. Times travel as ages at now on the datapath's clock, as the kernel's
// tcf_tm_dump sends them, so that a client prints "installed 5 sec"
// without knowing the daemon's clock.
func AppendObject(b []byte, e Entry, terse bool, now int64) []byte {
	sp := e.Action.(liver).live()
	b = nlattr.AppendStr(b, AttrKind, sp.Kind())
	b = nlattr.AppendU32(b, AttrIndex, e.Index)
	st := e.Cell.Read()
	if !terse {
		c := sp.Common()
		b = nlattr.AppendU32(b, AttrRefs, uint32(e.Refs))
		b = nlattr.AppendU32(b, AttrBinds, uint32(e.Binds))
		b = nlattr.AppendU32(b, AttrControl, uint32(c.Control))
		if g, isGact := sp.(*Gact); !isGact || g.Random != RandomNone {
			at := len(b)
			b = nlattr.AppendHdr(b, AttrParams|nlattr.Nested, 0)
			b = appendParams(b, sp)
			binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
		}
		if len(c.Cookie) > 0 {
			b = nlattr.AppendBytes(b, AttrCookie, c.Cookie)
		}
		if c.Flags != 0 {
			b = nlattr.AppendU32(b, AttrFlags, c.Flags)
		}
	}
	return AppendCounters(b, &st, !terse, now)
}

// AppendCounters appends a snapshot as AttrStats and, with times,
// AttrTimes (ages at now): the counters of an action, and of a filter in
// a filter dump, which uses the same two attributes.
func AppendCounters(b []byte, st *stats.Snapshot, times bool, now int64) []byte {
	b = nlattr.AppendHdr(b, AttrStats, 32)
	b = binary.NativeEndian.AppendUint64(b, st.Bytes)
	b = binary.NativeEndian.AppendUint64(b, st.Packets)
	b = binary.NativeEndian.AppendUint64(b, st.Drops)
	b = binary.NativeEndian.AppendUint64(b, st.Overlimits)
	if times {
		b = nlattr.AppendHdr(b, AttrTimes, 24)
		b = binary.NativeEndian.AppendUint64(b, uint64(age(now, st.Installed)))
		b = binary.NativeEndian.AppendUint64(b, uint64(age(now, st.FirstUsed)))
		b = binary.NativeEndian.AppendUint64(b, uint64(age(now, st.LastUsed)))
	}
	return b
}

// DecodeCounter reads an AttrStats or AttrTimes value into st.
func DecodeCounter(typ uint16, val []byte, st *stats.Snapshot) error {
	switch typ {
	case AttrStats:
		if len(val) != 32 {
			return fmt.Errorf("%w: statistics of %d bytes, want 32", errAttr, len(val))
		}
		st.Bytes = binary.NativeEndian.Uint64(val)
		st.Packets = binary.NativeEndian.Uint64(val[8:])
		st.Drops = binary.NativeEndian.Uint64(val[16:])
		st.Overlimits = binary.NativeEndian.Uint64(val[24:])
	case AttrTimes:
		if len(val) != 24 {
			return fmt.Errorf("%w: times of %d bytes, want 24", errAttr, len(val))
		}
		st.Installed = unage(int64(binary.NativeEndian.Uint64(val)))
		st.FirstUsed = unage(int64(binary.NativeEndian.Uint64(val[8:])))
		st.LastUsed = unage(int64(binary.NativeEndian.Uint64(val[16:])))
	}
	return nil
}

type liver interface{ live() Spec }

// age is how long before now t was; -1 for never (t == 0).
func age(now, t int64) int64 {
	if t == 0 {
		return -1
	}
	return max(now-t, 0)
}

// DecodeNow is the clock reading a Decoder turns ages back into times
// against: Views' Installed, FirstUsed and LastUsed are DecodeNow minus
// the ages, so a printer given DecodeNow as "now" prints the ages.
const DecodeNow = int64(1) << 62

func unage(a int64) int64 {
	if a < 0 {
		return 0
	}
	return DecodeNow - min(a, DecodeNow-1)
}

// appendParams appends the kind's parameters (gact has none).
func appendParams(b []byte, sp Spec) []byte {
	switch s := sp.(type) {
	case *Gact:
		b = nlattr.AppendU32(b, 1, uint32(s.Random))
		b = nlattr.AppendU32(b, 2, uint32(s.RandomAction))
		b = nlattr.AppendU32(b, 3, uint32(s.RandomVal))
		return b
	case *Mirred:
		b = nlattr.AppendStr(b, 1, s.Dev)
		var f uint32
		if s.Ingress {
			f |= 1
		}
		if s.Mirror {
			f |= 2
		}
		return nlattr.AppendU32(b, 2, f)
	case *Vlan:
		b = nlattr.AppendU32(b, 1, uint32(s.Op))
		b = nlattr.AppendU32(b, 2, uint32(s.ID))
		b = nlattr.AppendU32(b, 3, uint32(s.Proto))
		if s.HasPriority {
			b = nlattr.AppendU32(b, 4, uint32(s.Priority))
		}
		return b
	case *Skbedit:
		if s.HasPriority {
			b = nlattr.AppendU32(b, 1, s.Priority)
		}
		if s.HasMark {
			b = nlattr.AppendU32(b, 2, s.Mark)
			b = nlattr.AppendU32(b, 3, s.MarkMask)
		}
		if s.HasQueueMapping {
			b = nlattr.AppendU32(b, 4, uint32(s.QueueMapping))
		}
		if s.HasPType {
			b = nlattr.AppendU32(b, 5, uint32(s.PType))
		}
		if s.InheritDS {
			b = nlattr.AppendU32(b, 6, 1)
		}
		return b
	case *Police:
		b = nlattr.AppendU64(b, 1, s.Rate)
		b = nlattr.AppendU32(b, 2, s.Burst)
		b = nlattr.AppendU64(b, 3, s.PeakRate)
		b = nlattr.AppendU32(b, 4, s.MTU)
		b = nlattr.AppendU32(b, 5, uint32(s.Exceed))
		if s.Overhead != 0 {
			b = nlattr.AppendU32(b, 6, uint32(s.Overhead))
		}
		if s.ATM {
			b = nlattr.AppendU32(b, 7, 1)
		}
		if s.PktsRate != 0 {
			b = nlattr.AppendU64(b, 8, s.PktsRate)
			b = nlattr.AppendU64(b, 9, s.PktsBurst)
		}
		return b
	case *Bpf:
		return AppendBpfParams(b, s.Bytecode, s.Name, s.ProgID, s.ProgTag, s.ProgName, s.Object, s.Section, s.File)
	}
	return b
}

// AppendBpfParams appends a bpf program's attributes, the bpf
// classifier's and action's alike: 1 bytecode, 8 bytes per instruction
// (code u16, jt, jf, k u32, as struct sock_filter); 2 name string; 4
// program id u32; 5 tag, 8 bytes; 6 program name, 7 object file, 8
// section, 9 bytecode file: strings. (3 is the classifier's flags.)
func AppendBpfParams(b []byte, code []cbpf.Insn, name string, id uint32, tag [8]byte, progName, object, section, file string) []byte {
	if len(code) > 0 {
		b = nlattr.AppendHdr(b, 1, 8*len(code))
		for _, in := range code {
			b = binary.NativeEndian.AppendUint16(b, in.Code)
			b = append(b, in.Jt, in.Jf)
			b = binary.NativeEndian.AppendUint32(b, in.K)
		}
	}
	if name != "" {
		b = nlattr.AppendStr(b, 2, name)
	}
	b = nlattr.AppendU32(b, 4, id)
	b = nlattr.AppendBytes(b, 5, tag[:])
	for _, a := range []struct {
		typ uint16
		s   string
	}{{6, progName}, {7, object}, {8, section}, {9, file}} {
		if a.s != "" {
			b = nlattr.AppendStr(b, a.typ, a.s)
		}
	}
	return b
}

// DecodeBpfParams reads what AppendBpfParams wrote into s; flags is
// attribute 3 (the classifier's), 0 when absent.
func DecodeBpfParams(b []byte, s *Bpf) (flags uint32, err error) {
	a := nlattr.Iter{B: b, Base: errAttr}
	for a.Next() {
		switch a.Typ {
		case 1:
			if len(a.Val)%8 != 0 {
				return 0, fmt.Errorf("%w: bpf bytecode of %d bytes", errAttr, len(a.Val))
			}
			for v := a.Val; len(v) >= 8; v = v[8:] {
				s.Bytecode = append(s.Bytecode, cbpf.Insn{Code: binary.NativeEndian.Uint16(v), Jt: v[2], Jf: v[3], K: binary.NativeEndian.Uint32(v[4:])})
			}
		case 2:
			s.Name = string(a.Str())
		case 3:
			flags = a.U32()
		case 4:
			s.ProgID = a.U32()
		case 5:
			if v := a.Fixed(8); v != nil {
				copy(s.ProgTag[:], v)
			}
		case 6:
			s.ProgName = string(a.Str())
		case 7:
			s.Object = string(a.Str())
		case 8:
			s.Section = string(a.Str())
		case 9:
			s.File = string(a.Str())
		}
	}
	return flags, a.Err
}

// errAttr is the one error a malformed object gives; the message says
// where.
var errAttr = errors.New("malformed action attributes")

// Decoder turns dumped objects back into Views. It reuses its storage:
// the Views of one batch (between two Resets) share it, so decoding
// allocates nothing per object once the batch sizes settle, and the Specs
// it returns are valid until the next Reset.
type Decoder struct {
	gact    []Gact
	mirred  []Mirred
	vlan    []Vlan
	skbedit []Skbedit
	police  []Police
	ref     []Ref
	names   map[string]string
}

// Reset starts a batch of at most n objects.
func (d *Decoder) Reset(n int) {
	d.gact = reserve(d.gact, n)
	d.mirred = reserve(d.mirred, n)
	d.vlan = reserve(d.vlan, n)
	d.skbedit = reserve(d.skbedit, n)
	d.police = reserve(d.police, n)
	d.ref = reserve(d.ref, n)
}

func reserve[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, 0, n)
	}
	return s[:0]
}

// take returns a zeroed element at the end of *s; its address stays
// valid until Reset because Reset reserved room for the batch.
func take[T any](s *[]T) *T {
	var zero T
	if len(*s) == cap(*s) {
		// More objects than Reset announced: a fresh array keeps the
		// pointers handed out so far valid.
		*s = make([]T, 0, 2*cap(*s)+8)
	}
	*s = append(*s, zero)
	return &(*s)[len(*s)-1]
}

// Decode reads one object's attributes into v; nothing in v points into
// b. A terse object decodes to a *Ref with the kind and index.
func (d *Decoder) Decode(b []byte, v *View) error {
	*v = View{}
	var (
		kind     []byte
		index    uint32
		control  uint32
		hasCtl   bool
		params   []byte
		cookie   []byte
		flags    uint32
		haveKind bool
	)
	a := nlattr.Iter{B: b, Base: errAttr}
	for a.Next() {
		switch a.Typ {
		case AttrKind:
			kind, haveKind = a.Str(), true
		case AttrIndex:
			index = a.U32()
		case AttrRefs:
			v.Refs = int(a.U32())
		case AttrBinds:
			v.Binds = int(a.U32())
		case AttrControl:
			control, hasCtl = a.U32(), true
		case AttrParams:
			params = a.Val
		case AttrCookie:
			cookie = bytes.Clone(a.Val) // rare; the message buffer is reused
		case AttrFlags:
			flags = a.U32()
		case AttrStats, AttrTimes:
			if err := DecodeCounter(a.Typ, a.Val, &v.Stats); err != nil {
				return err
			}
		}
	}
	if a.Err != nil {
		return a.Err
	}
	if !haveKind {
		return fmt.Errorf("%w: no kind", errAttr)
	}
	c := Common{Index: index, Control: Verdict(control), Cookie: cookie, Flags: flags}
	if !hasCtl {
		r := take(&d.ref)
		r.ActKind, r.C = d.intern(kind), c
		v.Spec = r
		return nil
	}
	p := nlattr.Iter{B: params, Base: errAttr}
	switch string(kind) {
	case "gact":
		g := take(&d.gact)
		g.C = c
		for p.Next() {
			switch p.Typ {
			case 1:
				g.Random = uint16(p.U32())
			case 2:
				g.RandomAction = Verdict(p.U32())
			case 3:
				g.RandomVal = uint16(p.U32())
			}
		}
		v.Spec = g
	case "mirred":
		m := take(&d.mirred)
		m.C = c
		for p.Next() {
			switch p.Typ {
			case 1:
				m.Dev = d.intern(p.Str())
			case 2:
				f := p.U32()
				m.Ingress, m.Mirror = f&1 != 0, f&2 != 0
			}
		}
		v.Spec = m
	case "vlan":
		x := take(&d.vlan)
		x.C = c
		for p.Next() {
			switch p.Typ {
			case 1:
				x.Op = VlanOp(p.U32())
			case 2:
				x.ID = uint16(p.U32())
			case 3:
				x.Proto = uint16(p.U32())
			case 4:
				x.Priority, x.HasPriority = uint8(p.U32()), true
			}
		}
		v.Spec = x
	case "skbedit":
		x := take(&d.skbedit)
		x.C = c
		for p.Next() {
			switch p.Typ {
			case 1:
				x.Priority, x.HasPriority = p.U32(), true
			case 2:
				x.Mark, x.HasMark = p.U32(), true
			case 3:
				x.MarkMask = p.U32()
			case 4:
				x.QueueMapping, x.HasQueueMapping = uint16(p.U32()), true
			case 5:
				x.PType, x.HasPType = uint16(p.U32()), true
			case 6:
				x.InheritDS = p.U32() != 0
			}
		}
		v.Spec = x
	case "bpf":
		x := &Bpf{C: c}
		if _, err := DecodeBpfParams(params, x); err != nil {
			return err
		}
		v.Spec = x
	case "police":
		x := take(&d.police)
		x.C = c
		for p.Next() {
			switch p.Typ {
			case 1:
				x.Rate = p.U64()
			case 2:
				x.Burst = p.U32()
			case 3:
				x.PeakRate = p.U64()
			case 4:
				x.MTU = p.U32()
			case 5:
				x.Exceed = Verdict(p.U32())
			case 6:
				x.Overhead = uint16(p.U32())
			case 7:
				x.ATM = p.U32() != 0
			case 8:
				x.PktsRate = p.U64()
			case 9:
				x.PktsBurst = p.U64()
			}
		}
		v.Spec = x
	default:
		return fmt.Errorf("%w: unknown kind %q", errAttr, kind)
	}
	return p.Err
}

// intern returns s as a string, allocated once per distinct value.
func (d *Decoder) intern(s []byte) string {
	if v, ok := d.names[string(s)]; ok {
		return v
	}
	if d.names == nil {
		d.names = make(map[string]string)
	}
	if len(d.names) > 1024 {
		clear(d.names)
	}
	v := string(s)
	d.names[v] = v
	return v
}

// Walk calls fn for kind's actions with an index above after, in index
// order, under the table's read lock, until fn returns false. It returns
// the table's structural generation as that walk saw it. fn must not call
// into the table.
//
// The walk goes in runs of walkRun entries: it first reads every action of
// the run (its counters' handle), then calls fn for each. The actions are
// objects of their own on the heap; read one at a time, each costs a full
// memory latency (about 100 ns a dump of 6,000,000 gact actions measured),
// read as a run the loads overlap (BenchmarkActionDump in datapath).
func (t *Table) Walk(kind string, after uint32, fn func(Entry) bool) (uint64, error) {
	id := kindID(kind)
	if id < 0 {
		return 0, fmt.Errorf("action kind %q: not supported (have %v)", kind, Kinds)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	if k := t.kinds[id]; k != nil {
		var run [walkRun]Entry
		n := 0
		stopped := false
		flush := func() bool {
			for i := range run[:n] {
				run[i].Cell = run[i].Action.Stats()
			}
			for i := range run[:n] {
				if !fn(run[i]) {
					stopped = true
					break
				}
			}
			clear(run[:n])
			n = 0
			return !stopped
		}
		k.walk(after, func(index uint32, e *entry) bool {
			run[n] = Entry{Index: index, Action: e.a, Refs: int(e.refs), Binds: int(e.binds)}
			if n++; n == walkRun {
				return flush()
			}
			return true
		})
		if !stopped && n > 0 {
			flush()
		}
	}
	return t.structGen, nil
}

// walkRun is how many actions Walk reads ahead.
const walkRun = 32

// WalkIndices is Walk over the given indices only (sorted, without
// duplicates): those above after that still exist.
func (t *Table) WalkIndices(kind string, indices []uint32, after uint32, fn func(Entry) bool) (uint64, error) {
	id := kindID(kind)
	if id < 0 {
		return 0, fmt.Errorf("action kind %q: not supported (have %v)", kind, Kinds)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	k := t.kinds[id]
	if k == nil {
		return t.structGen, nil
	}
	// Each batch of a dump resumes here: a search, not a walk from the
	// first index.
	i, found := slices.BinarySearch(indices, after)
	if found {
		i++
	}
	for _, index := range indices[i:] {
		if e := k.get(index); e != nil {
			if !fn(Entry{Index: index, Action: e.a, Refs: int(e.refs), Binds: int(e.binds), Cell: e.a.Stats()}) {
				break
			}
		}
	}
	return t.structGen, nil
}

// ChangedSince returns the indices of kind's actions changed after
// generation since (created, replaced, or counted), sorted, from the
// counters' change logs: the cost is in proportion to what changed. ok is
// false when the logs no longer reach back to since; then the caller walks
// and compares each action's generation (Snapshot.Gen). Call it after
// closing a generation (stats.Domain.Advance).
func (t *Table) ChangedSince(kind string, since uint64) (indices []uint32, ok bool) {
	id := kindID(kind)
	if id < 0 {
		return nil, true
	}
	want := uint64(id+1) << 32
	ok = t.cells.Changes(since, func(slot uint32) {
		c, live := t.cells.Cell(slot)
		if tg := c.Tag(); live && tg&^0xffffffff == want {
			indices = append(indices, uint32(tg))
		}
	})
	if !ok {
		return nil, false
	}
	slicesSortCompact(&indices)
	return indices, true
}

// Entry returns what Walk would show of one action (a filter dump encodes
// the actions a filter binds this way). It takes the table's read lock.
func (t *Table) Entry(kind string, index uint32) (Entry, bool) {
	id := kindID(kind)
	if id < 0 {
		return Entry{}, false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	k := t.kinds[id]
	if k == nil {
		return Entry{}, false
	}
	e := k.get(index)
	if e == nil {
		return Entry{}, false
	}
	return Entry{Index: index, Action: e.a, Refs: int(e.refs), Binds: int(e.binds), Cell: e.a.Stats()}, true
}
