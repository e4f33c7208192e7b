package tcsyntax

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkBatchParse is the tc side of applying a batch, without the
// Target: chunking, splitting lines into words and parsing 1,000,000
// keyed flower filter adds with gact (docs/PERFORMANCE.md, "filters:
// install").
func BenchmarkBatchParse(b *testing.B) {
	const n = 1_000_000
	var in bytes.Buffer
	for i := range n {
		fmt.Fprintf(&in, "filter add dev D ingress prio 1 protocol ip flower dst_ip 10.%d.%d.%d action gact drop\n", i>>16&255, i>>8&255, i&255)
	}
	b.ReportAllocs()
	var p Parser // as CLI.runBatch
	var cpu int64
	for b.Loop() {
		cpu0 := cpuTime()
		for ch, err := range BatchChunks(bytes.NewReader(in.Bytes()), 256<<10) {
			if err != nil {
				b.Fatal(err)
			}
			for c := range BatchLines(ch.Data) {
				if _, err := p.Parse(c.Words); err != nil {
					b.Fatal(err)
				}
			}
		}
		cpu += cpuTime() - cpu0
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/line")
	if cpu >= 0 {
		b.ReportMetric(float64(cpu)/float64(b.N*n), "cpu-ns/line")
	}
}
