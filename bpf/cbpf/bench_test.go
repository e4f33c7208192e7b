package cbpf

import (
	"os/exec"
	"testing"

	"netyard/bpf/cbpf/cbpftest"
)

// benchPrograms are the three tcpdump expressions.
var benchPrograms = []struct{ name, expr string }{
	{"port80", "ip and tcp dst port 80"},
	{"vlan-udp", "vlan and udp"},
	{"hosts20", cbpftest.HostsOr(20)},
}

// BenchmarkVM runs each program over the corpus's frames in netyard's VM
// and in x/net/bpf's: bench/bpf.sh prints the ratio.
func BenchmarkVM(b *testing.B) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		b.Skip("needs tcpdump for the programs")
	}
	frames := cbpftest.Frames()
	for _, bp := range benchPrograms {
		bc, err := cbpftest.Bytecode(bp.expr)
		if err != nil {
			b.Fatal(err)
		}
		insns, err := Parse(bc)
		if err != nil {
			b.Fatal(err)
		}
		p, err := Load(insns, "bench")
		if err != nil {
			b.Fatal(err)
		}
		vm := xnetVM(b, insns)
		b.Run(bp.name+"/netyard", func(b *testing.B) {
			b.ReportAllocs()
			i, acc := 0, uint32(0)
			for b.Loop() {
				acc += p.RunData(frames[i])
				if i++; i == len(frames) {
					i = 0
				}
			}
			_ = acc
		})
		b.Run(bp.name+"/xnet", func(b *testing.B) {
			b.ReportAllocs()
			i, acc := 0, 0
			for b.Loop() {
				n, _ := vm.Run(frames[i])
				acc += n
				if i++; i == len(frames) {
					i = 0
				}
			}
			_ = acc
		})
	}
}
