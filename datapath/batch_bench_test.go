package datapath

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"netyard/tcsyntax"
)

// BenchmarkBatchApply is the daemon's side of `tc -b`: parsing and
// applying n keyed flower filter adds, each with its own gact, as one
// batch. Per-line costs outside cls show in its profile (see
// docs/PERFORMANCE.md, "filters: install").
func BenchmarkBatchApply(b *testing.B) {
	for _, n := range []int{1_000, 20_000} {
		var in bytes.Buffer
		for i := range n {
			fmt.Fprintf(&in, "filter add dev D ingress prio 1 protocol ip flower dst_ip 10.%d.%d.%d action gact drop\n", i>>16&255, i>>8&255, i&255)
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				r := newRig(b, "D")
				b.StartTimer()
				cli := tcsyntax.CLI{Target: r.ns, Stdout: io.Discard, Stderr: io.Discard, Stdin: bytes.NewReader(in.Bytes())}
				if err := cli.Run([]string{"-b", "-"}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
		})
	}
}
