package cbpf

import (
	"os/exec"
	"testing"
	"time"

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
		p, insns := tcpdumpProgram(b, bp.expr)
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

// BenchmarkVMRatio measures both VMs in alternating bursts of a pass over
// the corpus frames and keeps each one's fastest burst: on a loaded,
// shared machine the two then see the same load, and the minimum is the
// steadiest estimate of each one's own cost. It reports ns per frame for
// each and the ratio x/net/bpf / netyard (bench/bpf.sh prints them).
func BenchmarkVMRatio(b *testing.B) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		b.Skip("needs tcpdump for the programs")
	}
	frames := cbpftest.Frames()
	const passes = 200 // frames per burst: passes * len(frames)
	for _, bp := range benchPrograms {
		p, insns := tcpdumpProgram(b, bp.expr)
		vm := xnetVM(b, insns)
		b.Run(bp.name, func(b *testing.B) {
			bestNY, bestXN := time.Duration(1<<62), time.Duration(1<<62)
			acc := 0
			for b.Loop() {
				t0 := time.Now()
				for range passes {
					for _, f := range frames {
						acc += int(p.RunData(f))
					}
				}
				t1 := time.Now()
				for range passes {
					for _, f := range frames {
						n, _ := vm.Run(f)
						acc += n
					}
				}
				t2 := time.Now()
				bestNY, bestXN = min(bestNY, t1.Sub(t0)), min(bestXN, t2.Sub(t1))
			}
			_ = acc
			per := float64(passes * len(frames))
			b.ReportMetric(float64(bestNY.Nanoseconds())/per, "netyard-ns/frame")
			b.ReportMetric(float64(bestXN.Nanoseconds())/per, "xnet-ns/frame")
			b.ReportMetric(float64(bestXN)/float64(bestNY), "ratio")
		})
	}
}
