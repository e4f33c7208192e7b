// Package ebpf runs extended BPF programs compiled by clang
// (`clang -O2 -target bpf -c prog.c`) for tc's bpf classifier and action,
// in Go, without the kernel.
//
// The object file is read with cilium/ebpf's ELF loader (programs, legacy
// and BTF-defined maps, relocations, bpf-to-bpf calls; no kernel needed).
// Its instructions are checked the way the kernel's verifier checks the
// structure of a program (opcodes, jumps, calls, register use before
// write, constant stack offsets, division by a constant zero) and decoded
// once into a compact form that an interpreter runs. The verifier's value
// tracking (bounds of pointers, which it proves at load time) is replaced
// by a check on every memory access at run time: a register holds a
// tagged pointer (region and offset) or a scalar, and an access outside
// its region stops the program with a *bpf.Fault. See docs/BPF.md (its extended part) for
// what is supported and every difference from the kernel.
package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"netyard/bpf"
)

// NewProgram checks and decodes raw (see RawInsn for how map references
// are encoded) into a program using maps. ncpu sizes the per-CPU scratch
// (the datapath's worker count; 0: runtime.NumCPU).
func NewProgram(name string, raw []RawInsn, maps []*Map, ncpu int) (*Program, error) {
	return newProgram(name, raw, maps, ncpu, false)
}

// newProgram is NewProgram for a context of either kind (wifi: struct
// netyard_wifi_md), compiled once for it.
func newProgram(name string, raw []RawInsn, maps []*Map, ncpu int, wifi bool) (*Program, error) {
	if len(maps) > maxMaps {
		return nil, &LoadError{Prog: name, PC: -1, Reason: "too many maps"}
	}
	valueOK := func(m int, off uint32) bool {
		mp := maps[m]
		return mp.spec.Type == MapArray && off < mp.spec.ValueSize
	}
	code, entries, err := decode(name, raw, len(maps), valueOK)
	if err != nil {
		return nil, err
	}
	if ncpu <= 0 {
		ncpu = runtime.NumCPU()
	}
	p := &Program{name: name, code: code, entries: entries, maps: maps, scratch: make([]state, ncpu), wifi: wifi}
	p.id = bpf.NewID() // one numbering with classic programs: tc's "id N"
	p.info = bpf.Info{Kind: "extended", Name: name, Tag: tag(raw), ID: p.id, Insns: len(raw)}
	p.compileJIT()
	return p, nil
}

// tag is bpf_prog_calc_tag: bpf.Tag (the first 8 bytes of the SHA-1) of
// the instructions with map references' immediates zeroed (kernels before
// 6.18; newer ones hash with SHA-256).
func tag(raw []RawInsn) [8]byte {
	b := make([]byte, 8*len(raw))
	ldMap := false
	for i, r := range raw {
		imm := r.Imm
		if ldMap {
			imm, ldMap = 0, false
		} else if r.Op == 0x18 && (r.Src == pseudoMapFD || r.Src == pseudoMapValue) {
			imm, ldMap = 0, true
		}
		x := b[8*i:]
		x[0] = r.Op
		x[1] = r.Dst | r.Src<<4
		binary.LittleEndian.PutUint16(x[2:], uint16(r.Off))
		binary.LittleEndian.PutUint32(x[4:], uint32(imm))
	}
	return bpf.Tag(b)
}

// FromAsm turns cilium/ebpf instructions (a ProgramSpec's, with its
// subprograms appended as LoadCollectionSpec leaves them) into raw
// instructions; mapIndex gives the index of a referenced map by name.
func FromAsm(insns asm.Instructions, mapIndex func(name string) (int, error)) ([]RawInsn, error) {
	insns = append(asm.Instructions(nil), insns...)
	for i := range insns {
		ins := &insns[i]
		if !ins.IsLoadFromMap() {
			continue
		}
		ref := ins.Reference()
		if ref == "" {
			return nil, fmt.Errorf("insn %d: map load without a map reference", i)
		}
		idx, err := mapIndex(ref)
		if err != nil {
			return nil, fmt.Errorf("insn %d: %w", i, err)
		}
		if ins.Src == asm.PseudoMapFD {
			ins.Constant = int64(idx)
		} else {
			ins.Constant = int64(uint64(ins.Constant)&^0xffffffff | uint64(uint32(idx)))
		}
		*ins = ins.WithReference("")
	}
	var buf bytes.Buffer
	if err := insns.Marshal(&buf, binary.LittleEndian); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	raw := make([]RawInsn, len(b)/8)
	for i := range raw {
		x := b[i*8:]
		raw[i] = RawInsn{Op: x[0], Dst: x[1] & 0xf, Src: x[1] >> 4, Off: int16(binary.LittleEndian.Uint16(x[2:])), Imm: int32(binary.LittleEndian.Uint32(x[4:]))}
	}
	return raw, nil
}

// Loader loads object files for the datapath: the function behind the
// engine's LoadObject hook. Maps that an object pins (tc's PIN_GLOBAL_NS,
// libbpf's LIBBPF_PIN_BY_NAME) are shared by name among the programs of
// a namespace, as tc shares them under /sys/fs/bpf/tc/globals.
type Loader struct {
	// NCPU is the number of per-CPU copies of per-CPU maps and of run
	// scratch areas: the datapath's worker count. 0: runtime.NumCPU.
	NCPU int

	mu     sync.Mutex
	pinned map[string]map[string]*Map // namespace -> name -> map
	progs  map[uint32]*Program

	// stats is kernel.bpf_stats_enabled for this loader's programs:
	// while it is set, every run's time is added to its program's
	// run_time_ns (SetStats).
	stats atomic.Bool
}

// NewLoader returns a loader for ncpu workers.
func NewLoader(ncpu int) *Loader {
	if ncpu <= 0 {
		ncpu = runtime.NumCPU()
	}
	return &Loader{NCPU: ncpu, pinned: map[string]map[string]*Map{}, progs: map[uint32]*Program{}}
}

// LoadObject loads the program in section (its ELF section or function
// name; empty: tc's default "classifier", else the object's first
// program) of the object file at path, for namespace ns.
func (l *Loader) LoadObject(ns, path, section string) (bpf.Program, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ebpf: %w", err)
	}
	defer f.Close()
	p, err := l.Load(ns, f, section)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Load is LoadObject from a reader.
func (l *Loader) Load(ns string, rd io.ReaderAt, section string) (p *Program, err error) {
	defer func() {
		// cilium/ebpf's ELF reader is not ours to trust with a hostile
		// file; a panic in it is a load error, not a crash.
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("ebpf: reading the object: %v", r)
		}
	}()
	spec, err := cebpf.LoadCollectionSpecFromReader(rd)
	if err != nil {
		return nil, fmt.Errorf("ebpf: reading the object: %w", err)
	}
	obj, err := l.instantiate(ns, spec)
	if err != nil {
		return nil, err
	}
	ps := pickProgram(spec, section)
	if ps == nil {
		return nil, fmt.Errorf("ebpf: no program in section %q (the object has %s)", section, strings.Join(progNames(spec), ", "))
	}
	p, err = obj.program(ps)
	if err != nil {
		return nil, err
	}
	if err := obj.fillProgArrays(spec); err != nil {
		return nil, err
	}
	l.mu.Lock()
	for _, q := range obj.progs {
		q.ns, q.timing, q.loader = ns, &l.stats, l
	}
	l.progs[p.id] = p
	l.mu.Unlock()
	return p, nil
}

func progNames(spec *cebpf.CollectionSpec) []string {
	var out []string
	for n, ps := range spec.Programs {
		out = append(out, fmt.Sprintf("%s (section %s)", n, ps.SectionName))
	}
	sort.Strings(out)
	if len(out) == 0 {
		return []string{"no programs"}
	}
	return out
}

func pickProgram(spec *cebpf.CollectionSpec, section string) *cebpf.ProgramSpec {
	names := make([]string, 0, len(spec.Programs))
	for n := range spec.Programs {
		names = append(names, n)
	}
	sort.Strings(names)
	want := section
	if want == "" {
		want = "classifier"
	}
	for _, n := range names {
		ps := spec.Programs[n]
		if ps.SectionName == want || n == want {
			return ps
		}
	}
	if section == "" && len(names) > 0 {
		return spec.Programs[names[0]]
	}
	return nil
}

// object is one loaded object: its maps by name.
type object struct {
	l     *Loader
	name  map[string]int
	maps  []*Map
	byID  map[uint32]*Map // legacy bpf_elf_map ids (tail call sections "id/key")
	progs map[string]*Program
	spec  *cebpf.CollectionSpec
}

func (l *Loader) instantiate(ns string, spec *cebpf.CollectionSpec) (*object, error) {
	obj := &object{l: l, name: map[string]int{}, byID: map[uint32]*Map{}, progs: map[string]*Program{}, spec: spec}
	names := make([]string, 0, len(spec.Maps))
	for n := range spec.Maps {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ms := spec.Maps[n]
		s, id, err := convertSpec(ms)
		if err != nil {
			return nil, fmt.Errorf("ebpf: map %s: %w", n, err)
		}
		var m *Map
		if s.Pinned {
			m, err = l.pin(ns, s)
		} else {
			m, err = NewMap(s, l.NCPU)
		}
		if err != nil {
			return nil, fmt.Errorf("ebpf: %w", err)
		}
		obj.name[n] = len(obj.maps)
		obj.maps = append(obj.maps, m)
		if id != 0 {
			obj.byID[id] = m
		}
	}
	return obj, nil
}

// pin returns the namespace's map of s.Name, making it if it is new, or
// an error if the existing one differs (as tc refuses a pinned map whose
// spec changed).
func (l *Loader) pin(ns string, s MapSpec) (*Map, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	byName := l.pinned[ns]
	if byName == nil {
		byName = map[string]*Map{}
		l.pinned[ns] = byName
	}
	if m, ok := byName[s.Name]; ok {
		o := m.spec
		if o.Type != s.Type || o.KeySize != s.KeySize || o.ValueSize != s.ValueSize || o.MaxEntries != s.MaxEntries {
			return nil, fmt.Errorf("pinned map %s exists with a different spec (%s key %d value %d max %d)", s.Name, o.Type, o.KeySize, o.ValueSize, o.MaxEntries)
		}
		return m, nil
	}
	m, err := NewMap(s, l.NCPU)
	if err != nil {
		return nil, err
	}
	byName[s.Name] = m
	return m, nil
}

// PinnedMaps returns namespace ns's pinned maps by name.
func (l *Loader) PinnedMaps(ns string) map[string]*Map {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]*Map{}
	for n, m := range l.pinned[ns] {
		out[n] = m
	}
	return out
}

// Programs returns the programs loaded so far, by id.
func (l *Loader) Programs() []*Program {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*Program, 0, len(l.progs))
	for _, p := range l.progs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// Forget drops a program from Programs (when its filter or action is
// deleted). Its maps live on while another program or a pin holds them.
func (l *Loader) Forget(id uint32) {
	l.mu.Lock()
	delete(l.progs, id)
	l.mu.Unlock()
}

// convertSpec turns a cilium/ebpf MapSpec into netyard's, with the legacy
// map's id (iproute2's struct bpf_elf_map: type, key, value, max, flags,
// id, pinning, ...), 0 if none.
func convertSpec(ms *cebpf.MapSpec) (MapSpec, uint32, error) {
	s := MapSpec{Name: ms.Name, Type: MapType(ms.Type), KeySize: ms.KeySize, ValueSize: ms.ValueSize,
		MaxEntries: ms.MaxEntries, Flags: ms.Flags, Pinned: ms.Pinning == cebpf.PinByName}
	var id uint32
	if ms.Extra != nil {
		var ext [2]uint32
		r := *ms.Extra
		if binary.Read(&r, binary.LittleEndian, &ext) == nil {
			id = ext[0]
			if ext[1] == 2 { // PIN_GLOBAL_NS
				s.Pinned = true
			}
		}
	}
	if ms.Type == cebpf.PerfEventArray && s.MaxEntries == 0 {
		s.MaxEntries = uint32(runtime.NumCPU())
	}
	switch ms.Type {
	case cebpf.Array:
		for _, kv := range ms.Contents {
			if b, ok := kv.Value.([]byte); ok {
				if k, ok := kv.Key.(uint32); ok && k == 0 {
					s.Contents = b
					continue
				}
			}
			return s, 0, fmt.Errorf("initial contents other than a data section are not supported")
		}
	case cebpf.ProgramArray:
	default:
		if len(ms.Contents) > 0 {
			return s, 0, fmt.Errorf("initial contents are not supported for %s", MapType(ms.Type))
		}
	}
	if ms.InnerMap != nil {
		return s, 0, fmt.Errorf("maps of maps are not supported")
	}
	return s, id, nil
}

// program loads one program of the object (and remembers it, for prog
// arrays that name it).
func (obj *object) program(ps *cebpf.ProgramSpec) (*Program, error) {
	if p, ok := obj.progs[ps.Name]; ok {
		return p, nil
	}
	raw, err := FromAsm(ps.Instructions, func(name string) (int, error) {
		i, ok := obj.name[name]
		if !ok {
			return 0, fmt.Errorf("reference to unknown map %q", name)
		}
		return i, nil
	})
	if err != nil {
		return nil, fmt.Errorf("ebpf: program %s: %w", ps.Name, err)
	}
	p, err := newProgram(ps.Name, raw, obj.maps, obj.l.NCPU, IsWifiSection(ps.SectionName))
	if err != nil {
		return nil, err
	}
	obj.progs[ps.Name] = p
	return p, nil
}

// fillProgArrays fills the object's prog_array maps: BTF-defined ones with
// initial values naming programs, and legacy ones (iproute2's
// convention) from sections named "ID/KEY" (the map's id, the slot).
func (obj *object) fillProgArrays(spec *cebpf.CollectionSpec) error {
	for n, ms := range spec.Maps {
		if ms.Type != cebpf.ProgramArray {
			continue
		}
		m := obj.maps[obj.name[n]]
		for _, kv := range ms.Contents {
			k, _ := kv.Key.(uint32)
			pn, ok := kv.Value.(string)
			if !ok || spec.Programs[pn] == nil {
				return fmt.Errorf("ebpf: prog_array %s: slot %d: unknown program %v", n, k, kv.Value)
			}
			p, err := obj.program(spec.Programs[pn])
			if err != nil {
				return err
			}
			if err := m.SetProg(k, p); err != nil {
				return fmt.Errorf("ebpf: prog_array %s: slot %d: %w", n, k, err)
			}
		}
	}
	for _, ps := range spec.Programs {
		a, b, ok := strings.Cut(ps.SectionName, "/")
		if !ok {
			continue
		}
		id, err1 := strconv.ParseUint(a, 10, 32)
		key, err2 := strconv.ParseUint(b, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		m := obj.byID[uint32(id)]
		if m == nil || m.spec.Type != MapProgArray {
			continue
		}
		p, err := obj.program(ps)
		if err != nil {
			return err
		}
		if err := m.SetProg(uint32(key), p); err != nil {
			return fmt.Errorf("ebpf: section %s: %w", ps.SectionName, err)
		}
	}
	return nil
}

// ErrNotFound is returned for a map or program that does not exist.
var ErrNotFound = errors.New("not found")
