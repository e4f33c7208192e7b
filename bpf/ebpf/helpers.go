package ebpf

import (
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"netyard/bpf"
)

// Helper ids, the kernel's enum bpf_func_id (include/uapi/linux/bpf.h).
const (
	helperMapLookup       = 1
	helperMapUpdate       = 2
	helperMapDelete       = 3
	helperKtimeGetNs      = 5
	helperTracePrintk     = 6
	helperPrandomU32      = 7
	helperSmpProcessorID  = 8
	helperSkbStoreBytes   = 9
	helperL3CsumReplace   = 10
	helperL4CsumReplace   = 11
	helperTailCall        = 12
	helperCloneRedirect   = 13
	helperSkbVlanPush     = 18
	helperSkbVlanPop      = 19
	helperRedirect        = 23
	helperPerfEventOutput = 25
	helperSkbLoadBytes    = 26
	helperRingbufOutput   = 130
	helperRingbufReserve  = 131
	helperRingbufSubmit   = 132
	helperRingbufDiscard  = 133
)

type helper struct {
	name  string
	nargs int
}

var helpers = map[int32]*helper{
	helperMapLookup:       {"map_lookup_elem", 2},
	helperMapUpdate:       {"map_update_elem", 4},
	helperMapDelete:       {"map_delete_elem", 2},
	helperKtimeGetNs:      {"ktime_get_ns", 0},
	helperTracePrintk:     {"trace_printk", 2},
	helperPrandomU32:      {"get_prandom_u32", 0},
	helperSmpProcessorID:  {"get_smp_processor_id", 0},
	helperSkbStoreBytes:   {"skb_store_bytes", 5},
	helperL3CsumReplace:   {"l3_csum_replace", 5},
	helperL4CsumReplace:   {"l4_csum_replace", 5},
	helperTailCall:        {"tail_call", 3},
	helperCloneRedirect:   {"clone_redirect", 3},
	helperSkbVlanPush:     {"skb_vlan_push", 3},
	helperSkbVlanPop:      {"skb_vlan_pop", 1},
	helperRedirect:        {"redirect", 2},
	helperPerfEventOutput: {"perf_event_output", 5},
	helperSkbLoadBytes:    {"skb_load_bytes", 4},
	helperRingbufOutput:   {"ringbuf_output", 4},
	helperRingbufReserve:  {"ringbuf_reserve", 3},
	helperRingbufSubmit:   {"ringbuf_submit", 2},
	helperRingbufDiscard:  {"ringbuf_discard", 2},
}

func helperByID(id int32) *helper { return helpers[id] }

// kernelHelperNames names some helpers netyard does not have, so that the
// load error says which one a program wanted.
var kernelHelperNames = map[int32]string{
	4: "probe_read", 14: "get_current_pid_tgid", 15: "get_current_uid_gid", 16: "get_current_comm",
	17: "get_cgroup_classid", 20: "skb_get_tunnel_key", 21: "skb_set_tunnel_key", 22: "perf_event_read",
	24: "get_route_realm", 27: "get_stackid", 28: "csum_diff", 29: "skb_get_tunnel_opt",
	30: "skb_set_tunnel_opt", 31: "skb_change_proto", 32: "skb_change_type", 33: "skb_under_cgroup",
	34: "get_hash_recalc", 35: "get_current_task", 36: "probe_write_user", 38: "skb_change_tail",
	39: "skb_pull_data", 40: "csum_update", 41: "set_hash_invalid", 42: "get_numa_node_id",
	43: "skb_change_head", 44: "xdp_adjust_head", 50: "skb_adjust_room", 51: "redirect_map",
	52: "sk_redirect_map", 69: "fib_lookup", 112: "probe_read_kernel", 113: "probe_read_user",
	114: "probe_read_kernel_str", 115: "probe_read_user_str", 125: "ktime_get_boot_ns",
	134: "ringbuf_query", 135: "csum_level", 141: "skc_to_tcp6_sock", 152: "redirect_neigh",
	155: "redirect_peer", 165: "snprintf", 181: "loop", 190: "ktime_get_tai_ns",
}

func helperName(id int32) string {
	if n, ok := kernelHelperNames[id]; ok {
		return " (bpf_" + n + ", not supported by netyard)"
	}
	return ""
}

// TC verdicts the helpers return (include/uapi/linux/pkt_cls.h).
const (
	tcActShot     = 2
	tcActRedirect = 7
)

const (
	eFAULT  = 14
	eNOMEM  = 12
	eAGAIN  = 11
	fIngres = 1 // BPF_F_INGRESS
)

func neg(e int) uint64 { return uint64(-int64(e)) }

// mapArg is the map a helper's map argument points at.
func (s *state) mapArg(v uint64) *Map {
	m, _ := s.mapArgIndex(v)
	return m
}

// mapArgIndex is mapArg with the map's index in the program.
func (s *state) mapArgIndex(v uint64) (*Map, int) {
	t := v >> 32
	if t < tagMapPtr || t >= tagMapPtr+maxMaps || uint32(v) != 0 {
		return nil, 0
	}
	i := int(t - tagMapPtr)
	if i >= len(s.prog.maps) {
		return nil, 0
	}
	return s.prog.maps[i], i
}

// found is map_lookup_elem's result for element i of m (the program's
// map mi): a pointer to its value (this CPU's for a per-CPU map), which
// later accesses reach without a search, or NULL when i < 0.
func (s *state) found(m *Map, mi, i int) uint64 {
	if i < 0 {
		return 0
	}
	off := m.valueOff(i, s.env.CPU)
	s.setVal(tagMapVal+uint64(mi), uint64(off), uint64(off)+uint64(m.spec.ValueSize), m.values)
	return mkptr(s.valTag, uint32(off))
}

// setVal makes [off, end) of mem, a value with tag, the one later
// accesses reach first, in the interpreter's cache and the machine
// code's (jitState).
func (s *state) setVal(tag, off, end uint64, mem []byte) {
	s.valTag, s.valOff, s.valEnd, s.valMem = tag, off, end, mem
	s.j.valTag, s.j.valOff, s.j.valEnd = tag, off, end
	s.j.valBase = uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
}

// lookupArray is map_lookup_elem on a plain array with its key on the
// stack, the common case (a config or counter table), without the
// general path's region switch and type switches; false: take that path
// (which also gives the faults).
func (s *state) lookupArray(r *[16]uint64) (uint64, bool) {
	m, mi := s.mapArgIndex(r[1])
	if m == nil || m.spec.Type != MapArray {
		return 0, false
	}
	a := r[2]
	o := uint64(uint32(a))
	if a>>32 != tagStack || o+4 > uint64(len(s.stack)) {
		return 0, false
	}
	i := binary.LittleEndian.Uint32(s.stack[o:])
	if i >= m.spec.MaxEntries {
		return 0, true
	}
	off := uint64(i) * uint64(m.spec.ValueSize)
	s.setVal(tagMapVal+uint64(mi), off, off+uint64(m.spec.ValueSize), m.values)
	return mkptr(s.valTag, uint32(off)), true
}

// call runs helper id with r1..r5 and returns r0.
func (s *state) call(id int32, r *[16]uint64, pc int) (uint64, *bpf.Fault) {
	if id == helperMapLookup {
		if v, ok := s.lookupArray(r); ok {
			return v, nil
		}
	}
	switch id {
	case helperMapLookup, helperMapUpdate, helperMapDelete:
		m, mi := s.mapArgIndex(r[1])
		if m == nil {
			return 0, fault(pc, "helper's first argument is not a map")
		}
		if m.ring != nil || m.progs != nil {
			return 0, fault(pc, "map "+m.spec.Name+" ("+m.spec.Type.String()+") has no elements to look up or change from a program")
		}
		key := s.mem(r[2], int(m.spec.KeySize))
		if key == nil {
			return 0, fault(pc, "map key outside the program's memory")
		}
		switch id {
		case helperMapLookup:
			return s.found(m, mi, m.lookup(key)), nil
		case helperMapUpdate:
			val := s.mem(r[3], int(m.spec.ValueSize))
			if val == nil {
				return 0, fault(pc, "map value outside the program's memory")
			}
			return uint64(errno(m.update(key, val, r[4], s.env.CPU))), nil
		default:
			return uint64(errno(m.delete(key))), nil
		}
	case helperKtimeGetNs:
		return uint64(s.env.Now), nil
	case helperPrandomU32:
		return uint64(bpf.Rand32(s.env.Rand)), nil
	case helperSmpProcessorID:
		return uint64(s.env.CPU), nil
	case helperTracePrintk:
		return s.tracePrintk(r), nil
	case helperSkbLoadBytes:
		n := int(uint32(r[4]))
		to := s.mem(r[3], n)
		if to == nil || n == 0 {
			return 0, fault(pc, "skb_load_bytes: destination outside the program's memory")
		}
		off := r[2]
		if off > 0x7fffffff || off+uint64(n) > uint64(len(s.pkt)) {
			clear(to)
			return neg(eFAULT), nil
		}
		copy(to, s.pkt[off:])
		return 0, nil
	case helperSkbStoreBytes:
		n := int(uint32(r[4]))
		from := s.mem(r[3], n)
		if from == nil || n == 0 {
			return 0, fault(pc, "skb_store_bytes: source outside the program's memory")
		}
		if r[5]&^3 != 0 {
			return neg(eINVAL), nil
		}
		off := r[2]
		if off > 0x7fffffff {
			return neg(eFAULT), nil
		}
		if off+uint64(n) > uint64(len(s.pkt)) {
			return neg(eFAULT), nil // bpf_try_make_writable's failure, as the kernel reports it
		}
		copy(s.pkt[off:], from)
		if r[5]&2 != 0 { // BPF_F_INVALIDATE_HASH
			s.buf.HashValid, s.buf.Hash = false, 0
		}
		return 0, nil
	case helperL3CsumReplace, helperL4CsumReplace:
		return s.csumReplace(id == helperL4CsumReplace, r), nil
	case helperRedirect:
		if r[2]&^fIngres != 0 {
			return tcActShot, nil
		}
		s.env.RedirectIfindex = int32(uint32(r[1]))
		s.env.RedirectFlags = r[2]
		return tcActRedirect, nil
	case helperCloneRedirect:
		if r[3]&^fIngres != 0 {
			return neg(eINVAL), nil
		}
		if s.env.CloneRedirect == nil {
			return neg(eOPNOTSUPP), nil
		}
		return uint64(s.env.CloneRedirect(s.buf, int32(uint32(r[2])), r[3])), nil
	case helperSkbVlanPush:
		proto := uint16(r[2])
		proto = proto>>8 | proto<<8 // the program passes it in network order
		if proto != 0x8100 && proto != 0x88a8 {
			proto = 0x8100
		}
		if err := s.buf.InsertTag(12, proto, uint16(r[3])); err != nil {
			return neg(eNOMEM), nil
		}
		s.pkt = s.buf.Data()
		return 0, nil
	case helperSkbVlanPop:
		if len(s.pkt) >= 18 {
			if t := binary.BigEndian.Uint16(s.pkt[12:]); t == 0x8100 || t == 0x88a8 {
				if err := s.buf.RemoveTag(12); err != nil {
					return neg(eNOMEM), nil
				}
				s.pkt = s.buf.Data()
			}
		}
		return 0, nil
	case helperPerfEventOutput:
		m := s.mapArg(r[2])
		if m == nil || m.spec.Type != MapPerfEvent {
			return 0, fault(pc, "perf_event_output: not a perf_event_array")
		}
		n := int(uint32(r[5]))
		data := s.mem(r[4], n)
		if data == nil && n != 0 {
			return 0, fault(pc, "perf_event_output: data outside the program's memory")
		}
		flags := r[3]
		if flags&^(0xfffff<<32|0xffffffff) != 0 {
			return neg(eINVAL), nil
		}
		idx, ctxLen := uint32(flags), int(flags>>32&0xfffff)
		if idx != 0xffffffff && idx >= m.spec.MaxEntries {
			return neg(eE2BIG), nil
		}
		if ctxLen > len(s.pkt) {
			return neg(eFAULT), nil
		}
		off := m.ring.reserve(n + ctxLen)
		if off < 0 {
			return neg(eNOSPC), nil
		}
		copy(m.ring.data[off:], data)
		copy(m.ring.data[off+n:], s.pkt[:ctxLen])
		m.ring.commit(off, false)
		return 0, nil
	case helperRingbufOutput:
		m := s.mapArg(r[1])
		if m == nil || m.spec.Type != MapRingbuf {
			return 0, fault(pc, "ringbuf_output: not a ringbuf")
		}
		n := int(uint32(r[3]))
		data := s.mem(r[2], n)
		if data == nil {
			return 0, fault(pc, "ringbuf_output: data outside the program's memory")
		}
		if r[4]&^3 != 0 {
			return neg(eINVAL), nil
		}
		if !m.ring.output(data) {
			return neg(eAGAIN), nil
		}
		return 0, nil
	case helperRingbufReserve:
		m := s.mapArg(r[1])
		if m == nil || m.spec.Type != MapRingbuf {
			return 0, fault(pc, "ringbuf_reserve: not a ringbuf")
		}
		if r[3] != 0 || s.nres == len(s.reserve) {
			return 0, nil
		}
		n := int(uint32(r[2]))
		if uint64(n) != r[2] {
			return 0, nil
		}
		off := m.ring.reserve(n)
		if off < 0 {
			return 0, nil
		}
		s.reserve[s.nres] = ringRes{m: m, off: off, n: n}
		s.nres++
		// the record is what the program writes next: the last-value
		// cache serves it without walking the reservations
		s.setVal(tagMapVal+uint64(s.mapIndex(m)), uint64(off), uint64(off+n), m.ring.data)
		return mkptr(s.valTag, uint32(off)), nil
	case helperRingbufSubmit, helperRingbufDiscard:
		v := r[1]
		for k := 0; k < s.nres; k++ {
			rs := s.reserve[k]
			if v>>32 == tagMapVal+uint64(s.mapIndex(rs.m)) && uint32(v) == uint32(rs.off) {
				rs.m.ring.commit(rs.off, id == helperRingbufDiscard)
				if s.valTag == v>>32 && s.valOff == uint64(rs.off) {
					s.valTag = 0 // the record is the consumer's now
				}
				if s.j.valTag == v>>32 && s.j.valOff == uint64(rs.off) {
					s.j.valTag = 0
				}
				s.nres--
				s.reserve[k] = s.reserve[s.nres]
				s.reserve[s.nres] = ringRes{}
				return 0, nil
			}
		}
		return 0, fault(pc, "ringbuf submit/discard of a pointer that is not a reserved record")
	}
	return 0, fault(pc, "helper "+strconv.Itoa(int(id))+" not implemented")
}

func (s *state) mapIndex(m *Map) int {
	for i, x := range s.prog.maps {
		if x == m {
			return i
		}
	}
	return -1
}

// tailTarget is the program in prog_array map mv at index idx, or nil.
func (s *state) tailTarget(mv, idx uint64) *Program {
	m := s.mapArg(mv)
	if m == nil || m.progs == nil || uint32(idx) >= m.spec.MaxEntries || idx>>32 != 0 {
		return nil
	}
	return m.progs[uint32(idx)].Load()
}

// Checksum arithmetic of include/net/checksum.h, on values in the byte
// order they have in memory (ones' complement sums do not care which).
func csumAdd(a, b uint32) uint32 {
	s := a + b
	if s < b {
		s++
	}
	return s
}

func csumSub(a, b uint32) uint32 { return csumAdd(a, ^b) }

func csumFold(c uint32) uint16 {
	c = (c & 0xffff) + c>>16
	c = (c & 0xffff) + c>>16
	return ^uint16(c)
}

// csumReplace is bpf_l3_csum_replace and bpf_l4_csum_replace
// (net/core/filter.c): flags carry the field size (0: from/to is a
// checksum diff, 2 or 4), and for L4 BPF_F_PSEUDO_HDR (0x10),
// BPF_F_MARK_MANGLED_0 (0x20), BPF_F_MARK_ENFORCE (0x40), BPF_F_IPV6 (0x80).
func (s *state) csumReplace(l4 bool, r *[16]uint64) uint64 {
	off, from, to, flags := r[2], r[3], r[4], r[5]
	allowed := uint64(0xf)
	if l4 {
		allowed |= 0x10 | 0x20 | 0x40 | 0x80
	}
	if flags&^allowed != 0 {
		return neg(eINVAL)
	}
	if off > 0xffff || off&1 != 0 || off+2 > uint64(len(s.pkt)) {
		return neg(eFAULT)
	}
	p := s.pkt[off : off+2]
	sum := binary.LittleEndian.Uint16(p)
	pseudo := l4 && flags&0x10 != 0
	mmzero := l4 && flags&0x20 != 0
	if mmzero && sum == 0 {
		return 0
	}
	partial := l4 && s.buf.CsumPartial
	var out uint16
	switch flags & 0xf {
	case 0:
		d := uint32(to)
		if partial && pseudo {
			out = ^csumFold(csumAdd(d, uint32(sum)))
		} else if partial {
			out = sum
		} else {
			out = csumFold(csumAdd(d, ^uint32(sum)))
		}
	case 2:
		if !l4 {
			// csum_replace2: ~csum16_add(csum16_sub(~sum, old), new)
			x := csum16Add(csum16Add(^sum, ^uint16(from)), uint16(to))
			out = ^x
			break
		}
		out = l4replace4(sum, uint32(uint16(from)), uint32(uint16(to)), partial, pseudo)
	case 4:
		if !l4 {
			out = csumFold(csumAdd(csumSub(^uint32(sum), uint32(from)), uint32(to)))
			break
		}
		out = l4replace4(sum, uint32(from), uint32(to), partial, pseudo)
	default:
		return neg(eINVAL)
	}
	if mmzero && out == 0 {
		out = 0xffff // CSUM_MANGLED_0
	}
	binary.LittleEndian.PutUint16(p, out)
	return 0
}

func csum16Add(c, a uint16) uint16 {
	r := c + a
	if r < a {
		r++
	}
	return r
}

// l4replace4 is inet_proto_csum_replace4: with CHECKSUM_PARTIAL the field
// holds the pseudo-header sum, which only a pseudo-header change touches.
func l4replace4(sum uint16, from, to uint32, partial, pseudo bool) uint16 {
	if !partial {
		return csumFold(csumAdd(csumSub(^uint32(sum), from), to))
	}
	if pseudo {
		return ^csumFold(csumAdd(csumSub(uint32(sum), from), to))
	}
	return sum
}

// rateLimit lets a few trace_printk lines a second through, by the
// datapath's clock.
type rateLimit struct {
	sec     atomic.Int64
	n       atomic.Int32
	dropped atomic.Int64
}

const printkPerSecond = 10

func (rl *rateLimit) allow(now int64) bool {
	sec := now / 1e9
	if old := rl.sec.Load(); old != sec && rl.sec.CompareAndSwap(old, sec) {
		rl.n.Store(0)
	}
	if rl.n.Add(1) > printkPerSecond {
		rl.dropped.Add(1)
		return false
	}
	return true
}

// tracePrintk is bpf_trace_printk(fmt, fmt_size, a, b, c): the line goes
// to slog (rate-limited), and the helper returns its length as the kernel
// does.
func (s *state) tracePrintk(r *[16]uint64) uint64 {
	n := int(uint32(r[2]))
	f := s.mem(r[1], n)
	if f == nil || n == 0 {
		return neg(eINVAL)
	}
	if i := strings.IndexByte(string(f), 0); i >= 0 {
		f = f[:i]
	}
	if !s.prog.printk.allow(s.env.Now) {
		return uint64(len(f))
	}
	msg := s.format(string(f), [3]uint64{r[3], r[4], r[5]})
	if n := s.prog.printk.dropped.Swap(0); n > 0 {
		slog.Info("bpf_trace_printk", "prog", s.prog.name, "msg", strings.TrimRight(msg, "\n"), "suppressed_before", n)
	} else {
		slog.Info("bpf_trace_printk", "prog", s.prog.name, "msg", strings.TrimRight(msg, "\n"))
	}
	return uint64(len(msg))
}

// format applies the kernel's bpf_trace_printk conversions (%d %i %u %x
// %X %c %s %p with l/ll) to up to three arguments.
func (s *state) format(f string, args [3]uint64) string {
	var b strings.Builder
	ai := 0
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' || i+1 >= len(f) {
			b.WriteByte(c)
			continue
		}
		i++
		if f[i] == '%' {
			b.WriteByte('%')
			continue
		}
		long := 0
		for i < len(f) && f[i] == 'l' {
			long++
			i++
		}
		if i >= len(f) || ai >= 3 {
			break
		}
		a := args[ai]
		ai++
		switch f[i] {
		case 'd', 'i':
			if long == 0 {
				b.WriteString(strconv.FormatInt(int64(int32(a)), 10))
			} else {
				b.WriteString(strconv.FormatInt(int64(a), 10))
			}
		case 'u':
			if long == 0 {
				a = uint64(uint32(a))
			}
			b.WriteString(strconv.FormatUint(a, 10))
		case 'x', 'X':
			if long == 0 {
				a = uint64(uint32(a))
			}
			h := strconv.FormatUint(a, 16)
			if f[i] == 'X' {
				h = strings.ToUpper(h)
			}
			b.WriteString(h)
		case 'c':
			b.WriteByte(byte(a))
		case 'p':
			fmt.Fprintf(&b, "%#x", a)
		case 's':
			for k := 0; k < 64; k++ {
				m := s.mem(a+uint64(k), 1)
				if m == nil || m[0] == 0 {
					break
				}
				b.WriteByte(m[0])
			}
		default:
			b.WriteByte('%')
			b.WriteByte(f[i])
		}
	}
	return b.String()
}
