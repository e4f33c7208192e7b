package datapath

import (
	"io"
	"log/slog"
	"testing"

	"netyard/act"
	"netyard/ctl"
	"netyard/tcsyntax"
)

// BenchmarkActionDump is the daemon's side of `netyard tc -s actions ls
// action gact` over a table of a million actions: the walk, reading each
// action's counters, and encoding it, without the socket (ctl's own
// benchmarks measure that). ns/op is per action.
func BenchmarkActionDump(b *testing.B) {
	const n = 1 << 20
	e := New(Config{Workers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ns := e.Default()
	specs := make([]act.Spec, 0, 1024)
	for i := 1; i <= n; i++ {
		specs = append(specs, &act.Gact{C: act.Common{Index: uint32(i), Control: act.OK}})
		if len(specs) == cap(specs) {
			if err := ns.AddActions(specs, tcsyntax.ModeAdd); err != nil {
				b.Fatal(err)
			}
			specs = specs[:0]
		}
	}
	d := ns.ActionDumpers()["action/gact"]
	var bytes int
	b.ReportAllocs()
	b.ResetTimer()
	objects := 0
	for objects < b.N {
		var memo any
		_, err := d.Dump(ctl.DumpQuery{Memo: &memo}, func(o ctl.Object) bool {
			bytes += len(o.Data)
			objects++
			return objects < b.N
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(bytes)/float64(objects), "B/object")
}

// BenchmarkActionDumpSince is a "since gen G" dump of the 1,000 actions
// that changed among 1,048,576: ns/op is per dump, to compare with
// BenchmarkActionDump's per-action cost times the table.
func BenchmarkActionDumpSince(b *testing.B) {
	const n = 1 << 20
	e := New(Config{Workers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ns := e.Default()
	specs := make([]act.Spec, 0, 1024)
	for i := 1; i <= n; i++ {
		specs = append(specs, &act.Gact{C: act.Common{Index: uint32(i), Control: act.OK}})
		if len(specs) == cap(specs) {
			if err := ns.AddActions(specs, tcsyntax.ModeAdd); err != nil {
				b.Fatal(err)
			}
			specs = specs[:0]
		}
	}
	g := e.Gens().Advance()
	for i := 1; i <= n; i += n / 1000 {
		if err := ns.AddActions([]act.Spec{&act.Gact{C: act.Common{Index: uint32(i), Control: act.Pipe}}}, tcsyntax.ModeReplace); err != nil {
			b.Fatal(err)
		}
	}
	d := ns.ActionDumpers()["action/gact"]
	b.ReportAllocs()
	for b.Loop() {
		var memo any
		got := 0
		if _, err := d.Dump(ctl.DumpQuery{Since: g, Memo: &memo}, func(ctl.Object) bool { got++; return true }); err != nil {
			b.Fatal(err)
		}
		if got != 1000 && got != 1001 {
			b.Fatalf("%d actions changed since %d, want 1000", got, g)
		}
	}
}
