package ebpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// MapType is the kernel's enum bpf_map_type (include/uapi/linux/bpf.h).
type MapType uint32

// The map types netyard runs, in the kernel's numbering.
const (
	MapHash          MapType = 1
	MapArray         MapType = 2
	MapProgArray     MapType = 3
	MapPerfEvent     MapType = 4
	MapPercpuHash    MapType = 5
	MapPercpuArray   MapType = 6
	MapLRUHash       MapType = 9
	MapLRUPercpuHash MapType = 10
	MapRingbuf       MapType = 27
)

func (t MapType) String() string {
	switch t {
	case MapHash:
		return "hash"
	case MapArray:
		return "array"
	case MapProgArray:
		return "prog_array"
	case MapPerfEvent:
		return "perf_event_array"
	case MapPercpuHash:
		return "percpu_hash"
	case MapPercpuArray:
		return "percpu_array"
	case MapLRUHash:
		return "lru_hash"
	case MapLRUPercpuHash:
		return "lru_percpu_hash"
	case MapRingbuf:
		return "ringbuf"
	}
	return fmt.Sprintf("type %d", uint32(t))
}

// Update flags, the kernel's BPF_ANY, BPF_NOEXIST and BPF_EXIST.
const (
	UpdateAny     = 0
	UpdateNoExist = 1
	UpdateExist   = 2
)

// Errors a map operation returns, as the kernel's errno values; the
// helpers hand them to the program negated (-EEXIST, ...).
var (
	ErrKeyExist    = errors.New("key already exists (EEXIST)")
	ErrKeyNotExist = errors.New("key does not exist (ENOENT)")
	ErrMapFull     = errors.New("map is full (E2BIG)")
	ErrInvalid     = errors.New("invalid argument (EINVAL)")
)

const (
	eNOENT     = 2
	eE2BIG     = 7
	eEXIST     = 17
	eINVAL     = 22
	eNOSPC     = 28
	eOPNOTSUPP = 95
)

func errno(err error) int64 {
	switch err {
	case nil:
		return 0
	case ErrKeyExist:
		return -eEXIST
	case ErrKeyNotExist:
		return -eNOENT
	case ErrMapFull:
		return -eE2BIG
	}
	return -eINVAL
}

// MapSpec describes a map: what an object file declares.
type MapSpec struct {
	Name       string
	Type       MapType
	KeySize    uint32
	ValueSize  uint32
	MaxEntries uint32
	Flags      uint32
	// Pinned says the map is shared by name in its namespace (tc's
	// PIN_GLOBAL_NS, libbpf's LIBBPF_PIN_BY_NAME).
	Pinned bool
	// Contents is the initial value of an array (a .data/.rodata/.bss
	// section): element 0's bytes.
	Contents []byte
}

// maxMapBytes bounds a map's storage: map value pointers carry a 32-bit
// offset into it (see the pointer encoding in vm.go).
const maxMapBytes = 1 << 31

// Map is a map's storage. Programs reach it through helpers and map value
// pointers; the daemon through Lookup, Update, Delete and Iterate with raw
// bytes (bpftool's words).
//
// Array values never move; hash elements live in preallocated slots (the
// kernel's default prealloc), so a value pointer stays in bounds even when
// its element is deleted and the slot reused, as in the kernel. Hash maps
// take a lock for changes and a read lock for lookups; values are read and
// written by programs without locks, as the kernel's are (programs use
// atomic instructions for shared counters).
type Map struct {
	spec MapSpec
	ncpu int
	id   uint32

	// values holds every value: element i of CPU c at
	// ((c*slots)+i)*ValueSize (c is 0 for maps that are not per-CPU).
	values []byte
	slots  int

	// hash maps: chains of preallocated elements. Lookups take no lock
	// (the kernel's htab uses RCU); changes are serialised by mu and
	// publish an element with an atomic store after writing it. A freed
	// element goes to the back of a FIFO, so that it is reused as late
	// as possible (the kernel's preallocated htab reuses at once).
	mu       sync.Mutex
	seed     maphash.Seed
	buckets  []atomic.Int32 // element index + 1, 0 = empty
	next     []atomic.Int32 // chain link, element index + 1
	hashes   []atomic.Uint32
	keys     []byte
	used     []bool
	free     []int32 // FIFO ring of free element indices
	freeHead int
	nfree    int
	count    int
	ref      []atomic.Uint32 // LRU: referenced since the clock hand passed
	hand     int

	// prog_array
	progs []atomic.Pointer[Program]

	// ringbuf and perf event array
	ring *ring
}

// NewMap makes a map from its spec, checking it as the kernel's
// map_alloc_check functions do.
func NewMap(spec MapSpec, ncpu int) (*Map, error) {
	if ncpu < 1 {
		ncpu = 1
	}
	m := &Map{spec: spec, ncpu: ncpu, id: mapIDs.Add(1)}
	s := &m.spec
	bad := func(why string) error {
		return fmt.Errorf("map %s (%s): %s", s.Name, s.Type, why)
	}
	if s.MaxEntries == 0 {
		return nil, bad("max_entries 0")
	}
	switch s.Type {
	case MapArray, MapPercpuArray:
		if s.KeySize != 4 {
			return nil, bad(fmt.Sprintf("key size %d, must be 4", s.KeySize))
		}
	case MapProgArray:
		if s.KeySize != 4 || s.ValueSize != 4 {
			return nil, bad("key and value size must be 4")
		}
		m.progs = make([]atomic.Pointer[Program], s.MaxEntries)
		return m, nil
	case MapPerfEvent:
		if s.KeySize != 4 || s.ValueSize != 4 {
			return nil, bad("key and value size must be 4")
		}
		m.ring = newRing(perfRingSize)
		return m, nil
	case MapRingbuf:
		if s.KeySize != 0 || s.ValueSize != 0 {
			return nil, bad("key and value size must be 0")
		}
		if s.MaxEntries&(s.MaxEntries-1) != 0 || s.MaxEntries < 4096 || s.MaxEntries > maxMapBytes/2 {
			return nil, bad(fmt.Sprintf("size %d: must be a power of 2 of at least a page", s.MaxEntries))
		}
		m.ring = newRing(int(s.MaxEntries))
		return m, nil
	case MapHash, MapPercpuHash, MapLRUHash, MapLRUPercpuHash:
		if s.KeySize == 0 || s.KeySize > 512 {
			return nil, bad(fmt.Sprintf("key size %d", s.KeySize))
		}
	default:
		return nil, bad("map type not supported")
	}
	if s.ValueSize == 0 || s.ValueSize > 1<<20 {
		return nil, bad(fmt.Sprintf("value size %d", s.ValueSize))
	}
	cpus := 1
	if m.percpu() {
		cpus = ncpu
		// The kernel rounds per-CPU values up to 8 bytes.
	}
	m.slots = int(s.MaxEntries)
	vs := uint64(s.ValueSize)
	if m.percpu() {
		vs = (vs + 7) &^ 7
	}
	if uint64(cpus)*uint64(m.slots)*vs > maxMapBytes {
		return nil, bad("too large (netyard keeps a map under 2 GiB)")
	}
	m.values = make([]byte, cpus*m.slots*int(vs))
	if m.isHash() {
		nb := 1 << bits.Len32(s.MaxEntries-1)
		if nb < 1 {
			nb = 1
		}
		m.seed = maphash.MakeSeed()
		m.buckets = make([]atomic.Int32, nb)
		m.next = make([]atomic.Int32, m.slots)
		m.hashes = make([]atomic.Uint32, m.slots)
		m.keys = make([]byte, m.slots*int(s.KeySize))
		m.used = make([]bool, m.slots)
		m.free = make([]int32, m.slots)
		for i := range m.free {
			m.free[i] = int32(i)
		}
		m.nfree = m.slots
		if m.lru() {
			m.ref = make([]atomic.Uint32, m.slots)
		}
	}
	if len(s.Contents) > 0 && (s.Type == MapArray) {
		copy(m.values, s.Contents)
	}
	return m, nil
}

// Spec returns the map's description.
func (m *Map) Spec() MapSpec { return m.spec }

// NCPU is the number of per-CPU copies a per-CPU map keeps.
func (m *Map) NCPU() int { return m.ncpu }

func (m *Map) percpu() bool {
	return m.spec.Type == MapPercpuArray || m.spec.Type == MapPercpuHash || m.spec.Type == MapLRUPercpuHash
}

func (m *Map) isHash() bool {
	switch m.spec.Type {
	case MapHash, MapPercpuHash, MapLRUHash, MapLRUPercpuHash:
		return true
	}
	return false
}

func (m *Map) lru() bool { return m.spec.Type == MapLRUHash || m.spec.Type == MapLRUPercpuHash }

// stride is the bytes one value takes in storage (per-CPU values are
// rounded to 8 as the kernel does).
func (m *Map) stride() int {
	if m.percpu() {
		return (int(m.spec.ValueSize) + 7) &^ 7
	}
	return int(m.spec.ValueSize)
}

// valueOff is the offset in m.values of element i's value for cpu.
func (m *Map) valueOff(i, cpu int) int {
	if m.percpu() {
		return (cpuSlot(cpu, m.ncpu)*m.slots + i) * m.stride()
	}
	return i * m.stride()
}

func (m *Map) hash(key []byte) uint32 {
	return uint32(maphash.Bytes(m.seed, key))
}

// find returns the element index of key, or -1. It takes no lock: a
// chain may change under it, so the walk is bounded (a concurrent
// delete and reuse can send it into another chain, as in the kernel a
// lookup racing with a delete may miss).
func (m *Map) find(key []byte, h uint32) int {
	ks := int(m.spec.KeySize)
	e := m.buckets[h&uint32(len(m.buckets)-1)].Load()
	for n := 0; e != 0 && n <= m.slots; n++ {
		i := int(e - 1)
		if m.hashes[i].Load() == h && string(m.keys[i*ks:i*ks+ks]) == string(key) {
			return i
		}
		e = m.next[i].Load()
	}
	return -1
}

// lookup is the program's map_lookup_elem: the element index whose value
// to point at, or -1.
func (m *Map) lookup(key []byte) int {
	switch m.spec.Type {
	case MapArray, MapPercpuArray:
		i := binary.LittleEndian.Uint32(key)
		if i >= m.spec.MaxEntries {
			return -1
		}
		return int(i)
	}
	if !m.isHash() {
		return -1
	}
	i := m.find(key, m.hash(key))
	if i >= 0 && m.ref != nil {
		if m.ref[i].Load() == 0 {
			m.ref[i].Store(1)
		}
	}
	return i
}

// update is map_update_elem from a program (cpu is the running CPU:
// a per-CPU map's other copies of a new element are zeroed, as the
// kernel's pcpu_init_value does) or, with cpu < 0, from outside with a
// value for every CPU.
func (m *Map) update(key, value []byte, flags uint64, cpu int) error {
	if flags&^3 != 0 || flags == 3 {
		return ErrInvalid
	}
	switch m.spec.Type {
	case MapArray, MapPercpuArray:
		i := binary.LittleEndian.Uint32(key)
		if i >= m.spec.MaxEntries {
			return ErrMapFull
		}
		if flags == UpdateNoExist {
			return ErrKeyExist
		}
		m.storeValue(int(i), value, cpu, false)
		return nil
	}
	if !m.isHash() {
		return ErrInvalid
	}
	h := m.hash(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(key, h)
	if i >= 0 {
		if flags == UpdateNoExist {
			return ErrKeyExist
		}
		m.storeValue(i, value, cpu, false)
		return nil
	}
	if flags == UpdateExist {
		return ErrKeyNotExist
	}
	if m.nfree == 0 {
		if !m.lru() {
			return ErrMapFull
		}
		m.evict()
	}
	i = int(m.free[m.freeHead])
	m.freeHead = (m.freeHead + 1) % m.slots
	m.nfree--
	ks := int(m.spec.KeySize)
	copy(m.keys[i*ks:i*ks+ks], key)
	m.hashes[i].Store(h)
	m.used[i] = true
	if m.ref != nil {
		m.ref[i].Store(0) // new elements are the first candidates until used
	}
	m.storeValue(i, value, cpu, true)
	b := h & uint32(len(m.buckets)-1)
	m.next[i].Store(m.buckets[b].Load())
	m.buckets[b].Store(int32(i + 1)) // publish
	m.count++
	return nil
}

// storeValue copies value into element i: for one CPU (cpu >= 0; fresh
// zeroes the other CPUs' copies) or for all (cpu < 0, value holds them
// one after another, each rounded to 8 bytes as the kernel's syscall
// takes them).
func (m *Map) storeValue(i int, value []byte, cpu int, fresh bool) {
	vs := int(m.spec.ValueSize)
	if !m.percpu() {
		o := m.valueOff(i, 0)
		copy(m.values[o:o+vs], value)
		return
	}
	if cpu < 0 {
		st := m.stride()
		for c := 0; c < m.ncpu; c++ {
			o := m.valueOff(i, c)
			copy(m.values[o:o+vs], value[c*st:c*st+vs])
		}
		return
	}
	for c := 0; c < m.ncpu; c++ {
		o := m.valueOff(i, c)
		if c == cpuSlot(cpu, m.ncpu) {
			copy(m.values[o:o+vs], value)
		} else if fresh {
			clear(m.values[o : o+vs])
		}
	}
}

// evict frees one element of an LRU map, the clock algorithm's victim
// (the kernel's LRU is approximate as well). Callers hold m.mu.
func (m *Map) evict() {
	for range 2*m.slots + 1 {
		i := m.hand
		m.hand = (m.hand + 1) % m.slots
		if !m.used[i] {
			continue
		}
		if m.ref[i].Load() != 0 {
			m.ref[i].Store(0)
			continue
		}
		m.unlink(i)
		return
	}
}

// unlink removes element i from its bucket and frees it. Callers hold m.mu.
func (m *Map) unlink(i int) {
	b := m.hashes[i].Load() & uint32(len(m.buckets)-1)
	p := &m.buckets[b]
	for e := p.Load(); e != 0; e = p.Load() {
		if int(e-1) == i {
			p.Store(m.next[i].Load())
			break
		}
		p = &m.next[e-1]
	}
	m.used[i] = false
	// m.next[i] stays: a lookup standing on i goes on along the chain
	m.free[(m.freeHead+m.nfree)%m.slots] = int32(i)
	m.nfree++
	m.count--
}

func (m *Map) delete(key []byte) error {
	switch m.spec.Type {
	case MapArray, MapPercpuArray:
		return ErrInvalid
	case MapProgArray:
		i := binary.LittleEndian.Uint32(key)
		if i >= m.spec.MaxEntries {
			return ErrInvalid
		}
		if m.progs[i].Swap(nil) == nil {
			return ErrKeyNotExist
		}
		return nil
	}
	if !m.isHash() {
		return ErrInvalid
	}
	h := m.hash(key)
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.find(key, h)
	if i < 0 {
		return ErrKeyNotExist
	}
	m.unlink(i)
	return nil
}

// --- access from outside (the daemon, tests) ---

func (m *Map) checkKey(key []byte) error {
	if len(key) != int(m.spec.KeySize) {
		return fmt.Errorf("map %s: key of %d bytes, want %d", m.spec.Name, len(key), m.spec.KeySize)
	}
	return nil
}

// ValueLen is the length of a value as Lookup returns it and Update takes
// it: ValueSize, or for a per-CPU map one 8-byte-rounded value per CPU.
func (m *Map) ValueLen() int {
	if m.percpu() {
		return m.stride() * m.ncpu
	}
	return int(m.spec.ValueSize)
}

func (m *Map) readValue(i int, out []byte) []byte {
	vs := int(m.spec.ValueSize)
	if !m.percpu() {
		o := m.valueOff(i, 0)
		return append(out, m.values[o:o+vs]...)
	}
	st := m.stride()
	for c := 0; c < m.ncpu; c++ {
		o := m.valueOff(i, c)
		out = append(out, m.values[o:o+vs]...)
		out = append(out, make([]byte, st-vs)...)
	}
	return out
}

// Lookup returns a copy of key's value (see ValueLen for per-CPU maps).
func (m *Map) Lookup(key []byte) ([]byte, error) {
	if err := m.checkKey(key); err != nil {
		return nil, err
	}
	switch m.spec.Type {
	case MapProgArray, MapRingbuf, MapPerfEvent:
		return nil, fmt.Errorf("map %s: %s has no values to look up: %w", m.spec.Name, m.spec.Type, ErrInvalid)
	}
	if m.isHash() {
		m.mu.Lock()
		defer m.mu.Unlock()
		i := m.find(key, m.hash(key))
		if i < 0 {
			return nil, ErrKeyNotExist
		}
		return m.readValue(i, nil), nil
	}
	i := m.lookup(key)
	if i < 0 {
		return nil, ErrKeyNotExist
	}
	return m.readValue(i, nil), nil
}

// Update sets key's value with the kernel's flags (UpdateAny, UpdateNoExist,
// UpdateExist). For a prog_array use SetProg.
func (m *Map) Update(key, value []byte, flags uint64) error {
	if err := m.checkKey(key); err != nil {
		return err
	}
	if len(value) != m.ValueLen() {
		return fmt.Errorf("map %s: value of %d bytes, want %d", m.spec.Name, len(value), m.ValueLen())
	}
	switch m.spec.Type {
	case MapProgArray, MapRingbuf, MapPerfEvent:
		return fmt.Errorf("map %s: %s is not updated with bytes: %w", m.spec.Name, m.spec.Type, ErrInvalid)
	}
	return m.update(key, value, flags, -1)
}

// Delete removes key.
func (m *Map) Delete(key []byte) error {
	if err := m.checkKey(key); err != nil {
		return err
	}
	return m.delete(key)
}

// SetProg puts a program in a prog_array slot (nil empties it).
func (m *Map) SetProg(index uint32, p *Program) error {
	if m.spec.Type != MapProgArray {
		return fmt.Errorf("map %s: not a prog_array", m.spec.Name)
	}
	if index >= m.spec.MaxEntries {
		return ErrMapFull
	}
	m.progs[index].Store(p)
	return nil
}

// Iterate calls fn with each key and a copy of its value (arrays: every
// index), stopping when fn returns false. Hash maps are read under their
// lock: fn must not change the map.
func (m *Map) Iterate(fn func(key, value []byte) bool) {
	var kb [4]byte
	switch {
	case m.spec.Type == MapArray || m.spec.Type == MapPercpuArray:
		for i := 0; i < m.slots; i++ {
			binary.LittleEndian.PutUint32(kb[:], uint32(i))
			if !fn(kb[:], m.readValue(i, nil)) {
				return
			}
		}
	case m.spec.Type == MapProgArray:
		for i := range m.progs {
			if p := m.progs[i].Load(); p != nil {
				binary.LittleEndian.PutUint32(kb[:], uint32(i))
				var v [4]byte
				binary.LittleEndian.PutUint32(v[:], p.id)
				if !fn(kb[:], v[:]) {
					return
				}
			}
		}
	case m.isHash():
		m.mu.Lock()
		defer m.mu.Unlock()
		ks := int(m.spec.KeySize)
		for i := 0; i < m.slots; i++ {
			if m.used[i] && !fn(m.keys[i*ks:i*ks+ks:i*ks+ks], m.readValue(i, nil)) {
				return
			}
		}
	}
}

// Len is the number of elements (a hash map's count, an array's size).
func (m *Map) Len() int {
	if m.isHash() {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.count
	}
	return m.slots
}
