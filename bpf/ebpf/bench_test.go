package ebpf

import (
	"bytes"
	"os"
	"testing"

	"netyard/bpf"
	"netyard/pkt"
)

// benchPrograms are the programs bench/ebpf.sh measures.
var benchPrograms = []string{"flow_counter", "dscp_classifier", "sampler"}

func loadExample(tb testing.TB, name string) *Program {
	tb.Helper()
	raw, err := os.ReadFile("../../examples/bpf/" + name + ".o")
	if err != nil {
		tb.Fatal(err)
	}
	p, err := NewLoader(1).Load("bench", bytes.NewReader(raw), "")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// benchPackets are the frames the benchmarks cycle through: IPv4 and IPv6
// TCP and UDP, one VLAN-tagged (a few flows, so the counter updates
// existing keys after the first round).
func benchPackets(tb testing.TB) []*pkt.Buffer {
	c := corpus()
	var out []*pkt.Buffer
	for _, i := range []int{0, 1, 2, 15, 16} {
		b, err := testPool.Get()
		if err != nil {
			tb.Fatal(err)
		}
		if err := b.SetData(c[i].data); err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestRunAllocs: a run allocates nothing, with map lookups and updates of
// existing keys (flow counter), array lookups and context writes (DSCP),
// and ring buffer records (sampler).
func TestRunAllocs(t *testing.T) {
	pks := benchPackets(t)
	for _, name := range benchPrograms {
		p := loadExample(t, name)
		env := &bpf.Env{Ifindex: 1, Scratch: NewScratch()}
		for _, b := range pks { // first packets create the flows
			if _, err := p.Run(b, env); err != nil {
				t.Fatal(err)
			}
		}
		i := 0
		a := testing.AllocsPerRun(1000, func() {
			if _, err := p.Run(pks[i%len(pks)], env); err != nil {
				t.Fatal(err)
			}
			i++
			if name == "sampler" && i%100 == 0 {
				p.maps[mustIdx(t, p, "samples")].ReadRecords(func([]byte) {})
			}
		})
		if a != 0 {
			t.Errorf("%s: %.1f allocations per run", name, a)
		}
	}
}

func mustIdx(t testing.TB, p *Program, name string) int {
	i, ok := p.mapByName(name)
	if !ok {
		t.Fatalf("no map %s", name)
	}
	return i
}

// BenchmarkRun is netyard's time per packet for the example programs
// (bench/ebpf.sh sets it against the kernel's JIT).
func BenchmarkRun(b *testing.B) {
	for _, name := range benchPrograms {
		b.Run(name, func(b *testing.B) {
			p := loadExample(b, name)
			pks := benchPackets(b)
			env := &bpf.Env{Ifindex: 1, Scratch: NewScratch()}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := p.Run(pks[i%len(pks)], env); err != nil {
					b.Fatal(err)
				}
				i++
				if i%1024 == 0 && name == "sampler" {
					p.maps[mustIdx(b, p, "samples")].ReadRecords(func([]byte) {})
				}
			}
		})
	}
}

// mapByName is the index of the program's map called name.
func (p *Program) mapByName(name string) (int, bool) {
	for i, m := range p.maps {
		if m.spec.Name == name {
			return i, true
		}
	}
	return 0, false
}
