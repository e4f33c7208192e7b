package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"netyard/bpf"
)

func u32(v uint32) []byte { b := make([]byte, 4); binary.LittleEndian.PutUint32(b, v); return b }
func u64(v uint64) []byte { b := make([]byte, 8); binary.LittleEndian.PutUint64(b, v); return b }

// TestMapUpdateFlags: BPF_ANY, BPF_NOEXIST and BPF_EXIST with the
// kernel's errors (the kernel tests check the same through helpers).
func TestMapUpdateFlags(t *testing.T) {
	for _, typ := range []MapType{MapHash, MapPercpuHash, MapLRUHash} {
		t.Run(typ.String(), func(t *testing.T) {
			m, err := NewMap(MapSpec{Name: "m", Type: typ, KeySize: 4, ValueSize: 8, MaxEntries: 2}, 2)
			if err != nil {
				t.Fatal(err)
			}
			v := make([]byte, m.ValueLen())
			steps := []struct {
				op    string
				key   uint32
				flags uint64
				want  error
			}{
				{"update", 1, UpdateExist, ErrKeyNotExist},
				{"update", 1, UpdateNoExist, nil},
				{"update", 1, UpdateNoExist, ErrKeyExist},
				{"update", 1, UpdateExist, nil},
				{"update", 2, UpdateAny, nil},
				{"update", 1, 3, ErrInvalid},
				{"delete", 3, 0, ErrKeyNotExist},
				{"delete", 2, 0, nil},
				{"update", 2, UpdateAny, nil},
			}
			if typ != MapLRUHash {
				steps = append(steps, struct {
					op    string
					key   uint32
					flags uint64
					want  error
				}{"update", 3, UpdateAny, ErrMapFull})
			}
			for i, s := range steps {
				var err error
				if s.op == "update" {
					err = m.Update(u32(s.key), v, s.flags)
				} else {
					err = m.Delete(u32(s.key))
				}
				if !errors.Is(err, s.want) {
					t.Fatalf("step %d (%s %d flags %d): got %v, want %v", i, s.op, s.key, s.flags, err, s.want)
				}
			}
			if m.Len() != 2 {
				t.Fatalf("len %d", m.Len())
			}
		})
	}
	a, _ := NewMap(MapSpec{Name: "a", Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 4}, 1)
	if err := a.Update(u32(4), u64(1), UpdateAny); !errors.Is(err, ErrMapFull) {
		t.Errorf("array index 4 of 4: %v", err)
	}
	if err := a.Update(u32(1), u64(1), UpdateNoExist); !errors.Is(err, ErrKeyExist) {
		t.Errorf("array NOEXIST: %v", err)
	}
	if err := a.Delete(u32(1)); !errors.Is(err, ErrInvalid) {
		t.Errorf("array delete: %v", err)
	}
	if err := a.Update(u32(1), u64(1), UpdateAny); err != nil {
		t.Error(err)
	}
	if v, err := a.Lookup(u32(1)); err != nil || binary.LittleEndian.Uint64(v) != 1 {
		t.Errorf("lookup: %x %v", v, err)
	}
	if _, err := a.Lookup([]byte{1}); err == nil {
		t.Error("short key accepted")
	}
	if err := a.Update(u32(1), u64(1)[:4], UpdateAny); err == nil {
		t.Error("short value accepted")
	}
}

// TestLRUEvicts: a full LRU map makes room, evicting an element that
// was not used since the clock last passed.
func TestLRUEvicts(t *testing.T) {
	m, _ := NewMap(MapSpec{Name: "l", Type: MapLRUHash, KeySize: 4, ValueSize: 4, MaxEntries: 8}, 1)
	for i := uint32(0); i < 100; i++ {
		if err := m.Update(u32(i), u32(i), UpdateAny); err != nil {
			t.Fatal(err)
		}
		m.lookup(u32(0)) // keep 0 hot
	}
	if m.Len() != 8 {
		t.Fatalf("len %d", m.Len())
	}
	if _, err := m.Lookup(u32(99)); err != nil {
		t.Errorf("newest key evicted: %v", err)
	}
	if _, err := m.Lookup(u32(0)); err != nil {
		t.Errorf("hot key evicted: %v", err)
	}
	n := 0
	m.Iterate(func(k, v []byte) bool {
		if !bytes.Equal(k, v) {
			t.Errorf("key %x value %x", k, v)
		}
		n++
		return true
	})
	if n != 8 {
		t.Errorf("iterate saw %d", n)
	}
}

// TestPinnedMaps: maps pinned by name are shared by the programs of one
// namespace and not across namespaces; a different spec is refused.
func TestPinnedMaps(t *testing.T) {
	raw, err := os.ReadFile("../../examples/bpf/flow_counter.o")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(1)
	p1, err := l.Load("a", bytes.NewReader(raw), "tc")
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := l.Load("a", bytes.NewReader(raw), "tc")
	p3, _ := l.Load("b", bytes.NewReader(raw), "tc")
	if p1.maps[0] != p2.maps[0] || p1.maps[0] == p3.maps[0] {
		t.Fatalf("pinning: same ns shared %v, other ns shared %v", p1.maps[0] == p2.maps[0], p1.maps[0] == p3.maps[0])
	}
	if got := l.PinnedMaps("a"); got["flows"] != p1.maps[0] {
		t.Fatalf("PinnedMaps: %v", got)
	}
	if _, err := l.pin("a", MapSpec{Name: "flows", Type: MapHash, KeySize: 4, ValueSize: 4, MaxEntries: 1}); err == nil {
		t.Fatal("a pinned map with another spec was accepted")
	}
	if len(l.Programs()) != 3 {
		t.Fatalf("programs: %d", len(l.Programs()))
	}
}

// TestRing: records come out in order, discarded ones do not, a record
// that does not fit before the end wraps, a full ring refuses and counts.
func TestRing(t *testing.T) {
	r := newRing(4096)
	a := r.reserve(100)
	b := r.reserve(200)
	copy(r.data[a:], "first")
	copy(r.data[b:], "second")
	r.commit(b, false)
	var got []string
	r.read(0, func(p []byte) { got = append(got, string(p[:6])) })
	if len(got) != 0 {
		t.Fatalf("read past a busy record: %q", got)
	}
	r.commit(a, false)
	r.read(0, func(p []byte) { got = append(got, string(bytes.TrimRight(p[:6], "\x00"))) })
	if fmt.Sprint(got) != "[first second]" {
		t.Fatalf("got %q", got)
	}
	c := r.reserve(10)
	r.commit(c, true)
	for i := 0; i < 40; i++ {
		if !r.output(bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Fatalf("output %d refused", i)
		}
		n := 0
		r.read(0, func(p []byte) {
			if len(p) != 100 || p[0] != byte(i) {
				t.Fatalf("record %d: %d bytes, first %d", i, len(p), p[0])
			}
			n++
		})
		if n != 1 {
			t.Fatalf("record %d: read %d", i, n)
		}
	}
	for r.output(make([]byte, 1000)) {
	}
	if r.lost == 0 {
		t.Fatal("a full ring lost nothing")
	}
}

// TestConcurrentWorkers: workers running the flow counter at once count
// every packet (the race detector runs this with -race).
func TestConcurrentWorkers(t *testing.T) {
	raw, err := os.ReadFile("../../examples/bpf/flow_counter.o")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(4)
	p, err := l.Load("ns", bytes.NewReader(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	pk := corpus()[0].data
	// create the flow first: concurrent first packets of a flow race in
	// the kernel as well (one update wins)
	b := newBuf(t, pk)
	if _, err := p.Run(b, &bpf.Env{}); err != nil {
		t.Fatal(err)
	}
	const per = 500
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(cpu int) {
			defer wg.Done()
			b, _ := testPool.Get()
			defer b.Release()
			_ = b.SetData(pk)
			env := &bpf.Env{CPU: cpu}
			for i := 0; i < per; i++ {
				if _, err := p.Run(b, env); err != nil {
					t.Error(err)
					return
				}
			}
		}(w)
	}
	wg.Wait()
	m := p.maps[0]
	var packets uint64
	m.Iterate(func(k, v []byte) bool { packets += binary.LittleEndian.Uint64(v); return true })
	if packets != 4*per+1 {
		t.Fatalf("counted %d packets, want %d", packets, 4*per+1)
	}
}
