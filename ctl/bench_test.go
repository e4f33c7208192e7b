package ctl_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"runtime"
	"testing"

	"github.com/mdlayher/netlink"

	"netyard/ctl"
)

// seqTable is a table of n objects, keys 0..n-1 (8 bytes, big-endian),
// each with the same data: it costs nothing to walk, so benchmarks measure
// the protocol. It serves one connection at a time (key is shared).
type seqTable struct {
	n    uint64
	data []byte
	key  [8]byte
}

func (d *seqTable) Dump(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
	i := uint64(0)
	if q.After != nil { // always one of our 8-byte keys here
		i = binary.BigEndian.Uint64(q.After) + 1
	}
	for ; i < d.n; i++ {
		binary.BigEndian.PutUint64(d.key[:], i)
		if !yield(ctl.Object{Key: d.key[:], Gen: i + 1, Data: d.data}) {
			break
		}
	}
	return ctl.Gens{Struct: 1, Change: d.n}, nil
}

// attrPayload is 64 bytes of attributes, the size of a terse action's
// statistics: four 16-byte attributes.
func attrPayload() []byte {
	var b []byte
	for i := range 4 {
		b = append(b, nltestAttr(uint16(i+1), bytes.Repeat([]byte{byte(i)}, 12))...)
	}
	return b
}

func nltestAttr(typ uint16, data []byte) []byte {
	return attrs(netlink.Attribute{Type: typ, Data: data})
}

func dumpRequest(size uint32) []byte {
	return ctl.AppendMessage(nil, msg(ctl.MsgDump, netlink.Request|netlink.Dump, 1,
		attrs(str(ctl.AttrKind, "t"), u32(ctl.AttrMaxMsg, size))))
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// TestDumpAllocsPerObject: the server allocates nothing per object; what
// a dump allocates (the connection's buffers) does not grow with the
// table.
func TestDumpAllocsPerObject(t *testing.T) {
	allocs := func(n uint64) float64 {
		srv := ctl.NewServer(ctl.WithDumper("t", &seqTable{n: n, data: attrPayload()}))
		req := dumpRequest(ctl.MinMessageSize)
		r := bytes.NewReader(req)
		var w countWriter
		return testing.AllocsPerRun(5, func() {
			r.Reset(req)
			if err := ctl.ServeStream(srv, r, &w); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, large := allocs(1000), allocs(100000)
	if large > small {
		t.Errorf("a dump of 100,000 objects allocates %.0f times, one of 1,000 %.0f: allocations grow with the table", large, small)
	}
}

// BenchmarkServerDump encodes 1,000,000 objects with 64-byte payloads
// through the server's connection loop into a counting sink: the
// protocol's cost per object without a socket or a real table.
func BenchmarkServerDump(b *testing.B) {
	const n = 1_000_000
	for _, size := range []uint32{ctl.MinMessageSize, ctl.MaxMessageSize} {
		b.Run(fmt.Sprintf("msg=%dKiB", size>>10), func(b *testing.B) {
			srv := ctl.NewServer(ctl.WithDumper("t", &seqTable{n: n, data: attrPayload()}))
			req := dumpRequest(size)
			r := bytes.NewReader(req)
			var w countWriter
			b.ReportAllocs()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for b.Loop() {
				r.Reset(req)
				if err := ctl.ServeStream(srv, r, &w); err != nil {
					b.Fatal(err)
				}
			}
			runtime.ReadMemStats(&after)
			objs := float64(n) * float64(b.N)
			b.ReportMetric(objs/b.Elapsed().Seconds(), "objects/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/objs, "allocs/object")
			b.ReportMetric(float64(w.n)/objs, "bytes/object")
		})
	}
}

// BenchmarkDumpUnix runs 1,000,000 objects through a real unix socket,
// from the server's table to the client's callback: the whole path that
// `netyard tc -s actions ls` takes, less the printing.
func BenchmarkDumpUnix(b *testing.B) {
	const n = 1_000_000
	for _, size := range []int{ctl.MinMessageSize, 256 << 10, ctl.MaxMessageSize} {
		b.Run(fmt.Sprintf("msg=%dKiB", size>>10), func(b *testing.B) {
			srv := ctl.NewServer(ctl.WithDumper("t", &seqTable{n: n, data: attrPayload()}))
			path := b.TempDir() + "/ctl.sock"
			l, err := ctl.Listen(path, 0o600, -1)
			if err != nil {
				b.Fatal(err)
			}
			go srv.Serve(l)
			defer srv.Close()
			c, err := ctl.Dial(path)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var got uint64
			b.ReportAllocs()
			for b.Loop() {
				res, err := c.Dump(b.Context(), ctl.DumpRequest{Kind: "t", MaxMessage: size}, func(o ctl.Object) error {
					got += o.Gen
					return nil
				})
				if err != nil || res.Objects != n {
					b.Fatal(res, err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}
