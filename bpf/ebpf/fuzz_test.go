package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"netyard/bpf"
)

// FuzzLoadObject: any bytes as an object file load or fail with an
// error, and what loads runs on a packet without a panic.
func FuzzLoadObject(f *testing.F) {
	raw, err := os.ReadFile("../../examples/bpf/sampler.o")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add(raw[:len(raw)/3])
	f.Add([]byte("\x7fELF\x02\x01\x01"))
	pk := corpus()[0].data
	f.Fuzz(func(t *testing.T, obj []byte) {
		l := NewLoader(1)
		p, err := l.Load("f", bytes.NewReader(obj), "")
		if err != nil {
			return
		}
		b := newBuf(t, pk)
		_, err = p.Run(b, &bpf.Env{})
		var fl *bpf.Fault
		if err != nil && !errors.As(err, &fl) {
			t.Fatalf("run: %v", err)
		}
		if _, _, rec := p.Stats(); rec != 0 {
			t.Fatal("a panic was recovered")
		}
	})
}

// FuzzProgram: any instruction bytes are checked and decoded or refused
// with a *LoadError; what loads runs on short and long packets without a
// panic (a Fault at most), whatever it does with its registers.
func FuzzProgram(f *testing.F) {
	f.Add([]byte{0xb7, 0, 0, 0, 1, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x61, 0x21, 76, 0, 0, 0, 0, 0, 0x71, 0x02, 5, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0xb7, 0, 0, 0, 0, 0, 0, 0, 0x05, 0, 0xff, 0xff, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0})
	m, _ := NewMap(MapSpec{Name: "m", Type: MapHash, KeySize: 4, ValueSize: 8, MaxEntries: 4}, 1)
	a, _ := NewMap(MapSpec{Name: "a", Type: MapArray, KeySize: 4, ValueSize: 8, MaxEntries: 4}, 1)
	rb, _ := NewMap(MapSpec{Name: "r", Type: MapRingbuf, MaxEntries: 4096}, 1)
	pks := [][]byte{corpus()[0].data[:15], corpus()[0].data}
	f.Fuzz(func(t *testing.T, code []byte) {
		raw := rawFromBytes(code)
		p, err := NewProgram("fuzz", raw, []*Map{m, a, rb}, 1)
		if err != nil {
			var le *LoadError
			if !errors.As(err, &le) {
				t.Fatalf("not a LoadError: %v", err)
			}
			return
		}
		for _, pk := range pks {
			b := newBuf(t, pk)
			_, err := p.Run(b, &bpf.Env{})
			var fl *bpf.Fault
			if err != nil && !errors.As(err, &fl) {
				t.Fatalf("run: %v", err)
			}
		}
		if _, _, rec := p.Stats(); rec != 0 {
			t.Fatal("a panic was recovered")
		}
	})
}

// rawFromBytes decodes instruction bytes as the kernel lays them out
// (8 bytes each, little-endian; a partial last one is dropped).
func rawFromBytes(code []byte) []RawInsn {
	raw := make([]RawInsn, len(code)/8)
	for i := range raw {
		x := code[i*8:]
		raw[i] = RawInsn{Op: x[0], Dst: x[1] & 0xf, Src: x[1] >> 4, Off: int16(binary.LittleEndian.Uint16(x[2:])), Imm: int32(binary.LittleEndian.Uint32(x[4:]))}
	}
	return raw
}
