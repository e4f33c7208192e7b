package datapath

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"netyard/act"
	"netyard/cls"
	"netyard/ctl"
	"netyard/netdev"
	"netyard/tcsyntax"
	"netyard/wire"
)

// TestDumpStress is the dump protocol's promise under load: clients add,
// delete and replace actions and traffic runs through bound ones while
// another client dumps again and again in small messages. Every action
// that existed throughout a dump appears exactly once; no counter goes
// backwards from one dump to the next; a dump that saw an action added
// after its first batch, or missed one deleted after it, is flagged
// (NLM_F_DUMP_INTR). Events are ordered by one sequence counter: an add
// that ended after the first message arrived happened after the first
// walk.
func TestDumpStress(t *testing.T) {
	const (
		stable  = 2000 // indices 1..stable: replaced, never deleted
		bound   = 8    // of which 1..bound are bound to a filter and see traffic
		churnLo = 10001
		churnN  = 1500 // indices churnLo..: added and deleted
		dumps   = 60
	)
	e := New(Config{Workers: 2, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ns := e.Default()
	dev, err := e.AddDevice(ns, netdev.Config{Name: "eth0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tcsyntax.Run(ns, []string{"qdisc", "add", "dev", "eth0", "clsact"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	specs := make([]act.Spec, 0, stable)
	for i := 1; i <= stable; i++ {
		specs = append(specs, &act.Gact{C: act.Common{Index: uint32(i), Control: act.OK}})
	}
	if err := ns.AddActions(specs, tcsyntax.ModeAdd); err != nil {
		t.Fatal(err)
	}
	var refs []act.Spec
	for i := 1; i <= bound; i++ {
		refs = append(refs, &act.Ref{ActKind: "gact", C: act.Common{Index: uint32(i)}})
	}
	if err := ns.AddFilter(&cls.Filter{Dev: "eth0", Parent: ParentIngress, Protocol: wire.EtherTypeIPv4, Classifier: &cls.Matchall{}, Actions: refs}, tcsyntax.ModeAdd); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	l, err := ctl.Listen(sock, 0o600, -1)
	if err != nil {
		t.Fatal(err)
	}
	var sopts []ctl.ServerOption
	for k, d := range ns.ActionDumpers() {
		sopts = append(sopts, ctl.WithDumper(k, d))
	}
	srv := ctl.NewServer(sopts...)
	go srv.Serve(l)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	wait := e.Start(ctx)
	defer func() { cancel(); wait() }()

	var seq atomic.Uint64
	// The lives of each churned index, written by its one mutator under
	// mu, read by the checks after each dump.
	type life struct{ addStart, addEnd, delStart, delEnd uint64 }
	var mu sync.Mutex
	lives := make(map[uint32][]life)
	var stop atomic.Bool
	var wg sync.WaitGroup
	frame, err := wire.AppendFrame(nil, &wire.FrameSpec{SrcIP: netip.MustParseAddr("192.0.2.1"), DstIP: netip.MustParseAddr("192.0.2.2"), Proto: wire.ProtoUDP, SrcPort: 9, DstPort: 9})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { // traffic, bounded by the ring and paced
		for !stop.Load() {
			for range 32 {
				_ = dev.Inject(frame, e.clock.Now())
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	for m := range 2 { // mutators on disjoint index ranges
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(m), 7))
			live := map[uint32]bool{}
			for !stop.Load() {
				idx := uint32(churnLo + m*churnN + r.IntN(churnN))
				switch {
				case r.IntN(4) == 0: // replace a stable one
					s := &act.Gact{C: act.Common{Index: uint32(1 + r.IntN(stable)), Control: act.Pipe}}
					if err := ns.AddActions([]act.Spec{s}, tcsyntax.ModeReplace); err != nil {
						t.Error(err)
						return
					}
				case live[idx]:
					// The start is on record before the delete begins,
					// so a check never takes a deleted action for one
					// that existed throughout.
					mu.Lock()
					l := lives[idx]
					l[len(l)-1].delStart = seq.Add(1)
					mu.Unlock()
					if err := ns.DelAction("gact", idx); err != nil {
						t.Error(err)
						return
					}
					end := seq.Add(1)
					mu.Lock()
					l[len(l)-1].delEnd = end
					mu.Unlock()
					live[idx] = false
				default:
					// The cookie names the life: a dump tells which
					// one it saw.
					start := seq.Add(1)
					cookie := binary.BigEndian.AppendUint64(nil, start)
					if err := ns.AddActions([]act.Spec{&act.Gact{C: act.Common{Index: idx, Control: act.OK, Cookie: cookie}}}, tcsyntax.ModeAdd); err != nil {
						t.Error(err)
						return
					}
					end := seq.Add(1)
					mu.Lock()
					lives[idx] = append(lives[idx], life{addStart: start, addEnd: end})
					mu.Unlock()
					live[idx] = true
				}
			}
		})
	}

	c, err := ctl.Dial(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// fail stops the clients first: they must not outlive the test.
	fail := func(format string, args ...any) {
		t.Helper()
		stop.Store(true)
		wg.Wait()
		t.Fatalf(format, args...)
	}
	prev := make(map[uint32]uint64)
	flagged := 0
	for d := 0; d < dumps; d++ {
		seen := make(map[uint32]int)
		seenLife := make(map[uint32]uint64) // the churned action's cookie
		packets := make(map[uint32]uint64)
		var firstMsg uint64
		reqSeq := seq.Add(1)
		var dec act.Decoder
		var v act.View
		res, err := c.Dump(ctx, ctl.DumpRequest{Kind: "action/gact", MaxMessage: ctl.MinMessageSize,
			OnMessage: func(n int) error {
				if firstMsg == 0 {
					firstMsg = seq.Add(1)
				}
				dec.Reset(n)
				return nil
			}}, func(o ctl.Object) error {
			idx := binary.BigEndian.Uint32(o.Key)
			if err := dec.Decode(o.Data, &v); err != nil {
				return err
			}
			if v.Spec.Common().Index != idx {
				return fmt.Errorf("key %d holds index %d", idx, v.Spec.Common().Index)
			}
			seen[idx]++
			if c := v.Spec.Common().Cookie; len(c) == 8 {
				seenLife[idx] = binary.BigEndian.Uint64(c)
			}
			packets[idx] = v.Stats.Packets
			return nil
		})
		doneSeq := seq.Add(1)
		if err != nil && err != ctl.ErrDumpInconsistent {
			fail("dump %d: %v", d, err)
		}
		if res.Inconsistent {
			flagged++
		}
		if res.Messages < 3 {
			fail("dump %d: %d messages; the test needs several batches", d, res.Messages)
		}
		for i := uint32(1); i <= stable; i++ {
			if seen[i] != 1 {
				fail("dump %d: stable action %d seen %d times", d, i, seen[i])
			}
		}
		for i := uint32(1); i <= bound; i++ {
			if packets[i] < prev[i] {
				fail("dump %d: action %d went back from %d to %d packets", d, i, prev[i], packets[i])
			}
			prev[i] = packets[i]
		}
		var bad []string
		mu.Lock()
		for idx, ls := range lives {
			n := seen[idx]
			if n > 1 {
				bad = append(bad, fmt.Sprintf("dump %d: action %d seen %d times", d, idx, n))
			}
			for _, l := range ls {
				saw := n == 1 && seenLife[idx] == l.addStart
				throughout := l.addEnd < reqSeq && (l.delStart == 0 || l.delStart > doneSeq)
				if throughout && !saw {
					bad = append(bad, fmt.Sprintf("dump %d: action %d existed throughout (added %d-%d, request %d, done %d, deleted from %d) and was not seen (%d times, life %d)", d, idx, l.addStart, l.addEnd, reqSeq, doneSeq, l.delStart, n, seenLife[idx]))
				}
				// An add that began after the first message arrived
				// happened after the first walk: a later walk saw it.
				if saw && l.addStart > firstMsg && !res.Inconsistent {
					bad = append(bad, fmt.Sprintf("dump %d: action %d added after the first batch (%d > %d) and seen, but the dump is not flagged", d, idx, l.addStart, firstMsg))
				}
				// A delete that began after the first message and
				// ended before the last one, of an action that existed
				// at the first walk: if it was missed, a later walk
				// found it gone.
				if !saw && l.addEnd < reqSeq && l.delStart > firstMsg && l.delEnd != 0 && l.delEnd < doneSeq && !res.Inconsistent {
					bad = append(bad, fmt.Sprintf("dump %d: action %d deleted after the first batch and missed, but the dump is not flagged", d, idx))
				}
			}
		}
		mu.Unlock()
		if len(bad) > 0 {
			fail("%d violations, the first: %s", len(bad), bad[0])
		}
	}
	stop.Store(true)
	wg.Wait()
	if flagged == 0 {
		t.Errorf("no dump of %d was flagged although actions were added and deleted throughout", dumps)
	}
	if prev[1] == 0 {
		t.Errorf("no traffic was counted")
	}
	// With nothing changing, a dump is consistent and complete.
	res, err := c.Dump(ctx, ctl.DumpRequest{Kind: "action/gact", MaxMessage: ctl.MinMessageSize}, nil)
	if err != nil || res.Inconsistent {
		t.Fatalf("quiet dump: %v, inconsistent %v", err, res.Inconsistent)
	}
	if want := uint64(ns.actions.Len("gact")); res.Objects != want {
		t.Fatalf("quiet dump: %d objects, table holds %d", res.Objects, want)
	}
	t.Logf("%d dumps, %d flagged; action 1 counted %d packets", dumps, flagged, prev[1])
}
