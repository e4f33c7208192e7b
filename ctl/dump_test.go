package ctl_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"

	"netyard/ctl"
	"netyard/ctl/ctltest"
)

// fill puts n objects with keys 0..n-1 and dataLen bytes of data (terse:
// 4 bytes).
func fill(tbl *ctltest.Table, n, dataLen int) {
	for i := range n {
		data := bytes.Repeat([]byte{byte(i)}, dataLen)
		tbl.Put(ctltest.Key(uint64(i)), data, data[:min(4, dataLen)])
	}
}

// rawDump sends one dump request straight to a server and returns the
// replies, for tests that look at each message.
func rawDump(t *testing.T, srv *ctl.Server, kind string, a ...netlink.Attribute) []netlink.Message {
	t.Helper()
	req := msg(ctl.MsgDump, netlink.Request|netlink.Dump, 1, attrs(append([]netlink.Attribute{str(ctl.AttrKind, kind)}, a...)...))
	replies, err := serve(t, srv, ctl.AppendMessage(nil, req))
	if err != nil {
		t.Fatal(err)
	}
	return replies
}

// collect dumps through a Client and returns the keys (as indices) and
// the result.
func collect(t *testing.T, c *ctl.Client, req ctl.DumpRequest) ([]uint64, ctl.DumpResult, error) {
	t.Helper()
	var keys []uint64
	res, err := c.Dump(t.Context(), req, func(o ctl.Object) error {
		keys = append(keys, ctltest.KeyIndex(o.Key))
		return nil
	})
	return keys, res, err
}

func dialServer(t *testing.T, srv *ctl.Server, opts ...ctl.ClientOption) *ctl.Client {
	t.Helper()
	c, err := ctl.Dial("", append([]ctl.ClientOption{ctl.WithTestDial(ctl.ServeFunc(srv))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestDumpMultipart: a table larger than a message comes in many messages,
// each within the client's size and counting its own objects (as
// TCA_ROOT_COUNT does), and the counts add up to the total in NLMSG_DONE.
func TestDumpMultipart(t *testing.T) {
	tbl := &ctltest.Table{}
	fill(tbl, 5000, 64)
	srv := ctl.NewServer(ctl.WithDumper("action/gact", tbl))
	tests := []struct {
		name     string
		size     uint32
		messages int // at least
	}{
		{name: "32 KiB", size: 32 << 10, messages: 14}, // 96 bytes an object: 340 a message
		{name: "1 MiB", size: 1 << 20, messages: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			replies := rawDump(t, srv, "action/gact", u32(ctl.AttrMaxMsg, tt.size))
			var sum uint64
			next := uint64(0)
			for i, m := range replies[:len(replies)-1] {
				if m.Header.Type != ctl.MsgObjects || m.Header.Flags != netlink.Multi {
					t.Fatalf("message %d: %+v", i, m.Header)
				}
				if m.Header.Length > tt.size {
					t.Errorf("message %d: %d bytes, over %d", i, m.Header.Length, tt.size)
				}
				count, _, objs, ok := ctl.DecodeObjects(m)
				if !ok || int(count) != len(objs) || count == 0 {
					t.Fatalf("message %d: count %d, %d objects", i, count, len(objs))
				}
				for _, o := range objs {
					if k := ctltest.KeyIndex(o.Key); k != next {
						t.Fatalf("key %d, want %d", k, next)
					}
					next++
				}
				sum += uint64(count)
				// Full messages leave less room than one more object.
				if i < len(replies)-2 && int(m.Header.Length)+100 <= int(tt.size) {
					t.Errorf("message %d holds %d bytes of %d: not full", i, m.Header.Length, tt.size)
				}
			}
			if got := len(replies) - 1; got < tt.messages {
				t.Errorf("%d messages, want at least %d", got, tt.messages)
			}
			d, err := ctl.ParseDone(replies[len(replies)-1])
			if err != nil || d.Err != nil || d.Total != sum || sum != 5000 {
				t.Errorf("NLMSG_DONE %+v %v; counts add up to %d", d, err, sum)
			}
		})
	}
}

// TestDumpResumeByKey: adds and deletes between batches, at the cursor
// itself and on both sides of it, neither skip nor repeat any object that
// existed throughout the dump. A position cursor (tcf_dump_walker's
// cb->args[0]) would skip one object for every deletion before it.
func TestDumpResumeByKey(t *testing.T) {
	const n = 3000
	tbl := &ctltest.Table{}
	fill(tbl, n, 200) // about 150 objects a message: 20 batches
	deleted := map[uint64]bool{}
	var addedBefore, addedAfter []uint64
	next := uint64(1 << 20)
	del := func(k uint64) {
		if tbl.Delete(ctltest.Key(k)) {
			deleted[k] = true
		}
	}
	mutating := ctl.DumperFunc(func(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
		if q.After != nil {
			cur := ctltest.KeyIndex(q.After)
			del(cur)     // the cursor itself
			del(cur - 7) // already sent
			del(cur + 1) // the next one
			// A key before the cursor is not sent; one after it is.
			tbl.Put(ctltest.Key(cur-3+next), nil, nil) // sorts after everything: seen
			addedAfter = append(addedAfter, cur-3+next)
			tbl.Put(ctltest.Key(cur), nil, nil) // the cursor again, re-added: not seen
			addedBefore = append(addedBefore, cur)
			delete(deleted, cur)
		}
		return tbl.Dump(q, yield)
	})
	c := dialServer(t, ctl.NewServer(ctl.WithDumper("t", mutating)))
	keys, res, err := collect(t, c, ctl.DumpRequest{Kind: "t"})
	if !errors.Is(err, ctl.ErrDumpInconsistent) || !res.Inconsistent {
		t.Errorf("Dump = %v, %+v; want ErrDumpInconsistent", err, res)
	}
	if res.Messages < 15 {
		t.Fatalf("%d messages: too few batches to test resumption", res.Messages)
	}
	seen := map[uint64]int{}
	for _, k := range keys {
		seen[k]++
	}
	for k := range uint64(n) {
		if !deleted[k] && !slices.Contains(addedBefore, k) && seen[k] != 1 {
			t.Errorf("object %d existed throughout and was seen %d times", k, seen[k])
		}
	}
	for _, k := range addedAfter {
		if seen[k] != 1 {
			t.Errorf("object %d added after the cursor was seen %d times, want 1", k, seen[k])
		}
	}
	for k, times := range seen {
		if times > 1 {
			t.Errorf("object %d seen %d times", k, times)
		}
	}
	if !slices.IsSorted(keys) {
		t.Error("keys out of order")
	}
}

// TestDumpSince: a dump since generation G returns exactly the objects
// changed or added after G, and a change made while a dump runs, behind
// its cursor, is not lost: the next dump reports it.
func TestDumpSince(t *testing.T) {
	tbl := &ctltest.Table{}
	fill(tbl, 1000, 64)
	c := dialServer(t, ctl.NewServer(ctl.WithDumper("t", tbl)))

	all, res, err := collect(t, c, ctl.DumpRequest{Kind: "t"})
	if err != nil || len(all) != 1000 {
		t.Fatalf("full dump: %d objects, %v", len(all), err)
	}
	if want := tbl.Gens().Change; res.NextSince != want {
		t.Errorf("NextSince %d, want the change generation %d", res.NextSince, want)
	}

	var want []uint64
	for k := uint64(3); k < 1000; k += 27 {
		tbl.Use(ctltest.Key(k))
		want = append(want, k)
	}
	for _, k := range []uint64{1000, 1001, 1002} {
		tbl.Put(ctltest.Key(k), nil, nil)
		want = append(want, k)
	}
	tbl.Delete(ctltest.Key(500))
	tbl.Delete(ctltest.Key(3)) // changed, then deleted: gone
	want = slices.DeleteFunc(want, func(k uint64) bool { return k == 3 })

	got, _, err := collect(t, c, ctl.DumpRequest{Kind: "t", Since: res.NextSince})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("since %d: %v\nwant %v", res.NextSince, got, want)
	}

	// A change behind the cursor during a (full, multi-batch) dump.
	batches := 0
	tbl.BeforeBatch = func(int) {
		if batches++; batches == 2 {
			tbl.Use(ctltest.Key(0))
		}
	}
	_, res3, err := collect(t, c, ctl.DumpRequest{Kind: "t"})
	tbl.BeforeBatch = nil
	if err != nil || res3.Messages < 2 {
		t.Fatalf("full dump: %d messages, %v", res3.Messages, err)
	}
	got, _, err = collect(t, c, ctl.DumpRequest{Kind: "t", Since: res3.NextSince})
	if err != nil || !slices.Equal(got, []uint64{0}) {
		t.Errorf("after a change during the previous dump: %v (%v), want [0]", got, err)
	}
}

// TestDumpInterrupted: NLM_F_DUMP_INTR is set exactly when objects were
// added or deleted between the batches of a dump, on every message from
// the first batch that saw it and on NLMSG_DONE. A change of counters is
// not structural and does not set it.
func TestDumpInterrupted(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(tbl *ctltest.Table)
		intr   bool
	}{
		{name: "quiet", mutate: func(*ctltest.Table) {}},
		{name: "counters change", mutate: func(tbl *ctltest.Table) { tbl.Use(ctltest.Key(1)) }},
		{name: "add", mutate: func(tbl *ctltest.Table) { tbl.Put(ctltest.Key(5000), nil, nil) }, intr: true},
		{name: "delete", mutate: func(tbl *ctltest.Table) { tbl.Delete(ctltest.Key(1)) }, intr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := &ctltest.Table{}
			fill(tbl, 2000, 64)
			tbl.BeforeBatch = func(call int) {
				if call == 2 {
					tt.mutate(tbl)
				}
			}
			replies := rawDump(t, ctl.NewServer(ctl.WithDumper("t", tbl)), "t")
			if len(replies) < 5 {
				t.Fatalf("%d replies", len(replies))
			}
			for i, m := range replies {
				flagged := m.Header.Flags&netlink.DumpInterrupted != 0
				// Batches 0 and 1 ran before the change.
				if want := tt.intr && i >= 2; flagged != want {
					t.Errorf("reply %d (%s): DUMP_INTR %t, want %t", i, m.Header.Type, flagged, want)
				}
			}
			_, gen0, _, _ := ctl.DecodeObjects(replies[0])
			d, _ := ctl.ParseDone(replies[len(replies)-1])
			if moved := d.StructGen != gen0; moved != tt.intr {
				t.Errorf("structural generation %d -> %d", gen0, d.StructGen)
			}
		})
	}
}

// TestDumpRetry: with WithDumpRetries, an inconsistent dump is restarted
// (OnRestart announces it) until one comes back consistent, or the
// retries run out.
func TestDumpRetry(t *testing.T) {
	tests := []struct {
		name      string
		retries   int
		mutations int // dumps during which an object is added
		restarts  int
		wantErr   error
	}{
		{name: "no retries", retries: 0, mutations: 1, wantErr: ctl.ErrDumpInconsistent},
		{name: "second try consistent", retries: 2, mutations: 1, restarts: 1},
		{name: "retries exhausted", retries: 2, mutations: 10, restarts: 2, wantErr: ctl.ErrDumpInconsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl := &ctltest.Table{}
			fill(tbl, 1500, 64)
			dumps := 0
			tbl.BeforeBatch = func(call int) {
				// Each dump here takes 5 batches; mutate in the second.
				if call%5 == 1 && dumps < tt.mutations {
					dumps++
					tbl.Put(ctltest.Key(uint64(100000+call)), nil, nil)
				}
			}
			c := dialServer(t, ctl.NewServer(ctl.WithDumper("t", tbl)), ctl.WithDumpRetries(tt.retries))
			restarts := 0
			var keys []uint64
			res, err := c.Dump(t.Context(), ctl.DumpRequest{Kind: "t", OnRestart: func() error {
				restarts++
				keys = keys[:0]
				return nil
			}}, func(o ctl.Object) error {
				keys = append(keys, ctltest.KeyIndex(o.Key))
				return nil
			})
			if !errors.Is(err, tt.wantErr) || err != nil && tt.wantErr == nil {
				t.Fatalf("Dump = %v, want %v", err, tt.wantErr)
			}
			if res.Restarts != tt.restarts || restarts != tt.restarts {
				t.Errorf("restarts %d (OnRestart %d), want %d", res.Restarts, restarts, tt.restarts)
			}
			if tt.wantErr == nil && (len(keys) != len(tbl.Keys()) || res.Inconsistent) {
				t.Errorf("the consistent dump delivered %d of %d objects, inconsistent %t", len(keys), len(tbl.Keys()), res.Inconsistent)
			}
		})
	}
}

// TestDumpFilters: terse mode, tc's since MSECS and a resume key reach the
// Dumper and select what they should.
func TestDumpFilters(t *testing.T) {
	tbl := &ctltest.Table{}
	// Object i is last used at i seconds; the clock stands at 10 s.
	for i := range 10 {
		tbl.Put(ctltest.Key(uint64(i)), bytes.Repeat([]byte{1}, 40), []byte{2, 2, 2, 2})
		tbl.Advance(time.Second)
	}
	c := dialServer(t, ctl.NewServer(ctl.WithDumper("t", tbl)))
	tests := []struct {
		name     string
		req      ctl.DumpRequest
		keys     []uint64
		dataSize int
	}{
		{name: "all", req: ctl.DumpRequest{}, keys: []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, dataSize: 40},
		{name: "terse", req: ctl.DumpRequest{Terse: true}, keys: []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, dataSize: 4},
		// Used at 7, 8 and 9 s: within 3 s of 10 s (used exactly at
		// the boundary counts, as in tcf_dump_walker).
		{name: "since 3000 ms", req: ctl.DumpRequest{UsedWithin: 3 * time.Second}, keys: []uint64{7, 8, 9}, dataSize: 40},
		{name: "since 2500 ms", req: ctl.DumpRequest{UsedWithin: 2500 * time.Millisecond}, keys: []uint64{8, 9}, dataSize: 40},
		{name: "after key 6", req: ctl.DumpRequest{After: ctltest.Key(6)}, keys: []uint64{7, 8, 9}, dataSize: 40},
		{name: "after a missing key", req: ctl.DumpRequest{After: append(ctltest.Key(6), 0)}, keys: []uint64{7, 8, 9}, dataSize: 40},
		{name: "after and since", req: ctl.DumpRequest{After: ctltest.Key(7), UsedWithin: 5 * time.Second}, keys: []uint64{8, 9}, dataSize: 40},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Kind = "t"
			var keys []uint64
			_, err := c.Dump(t.Context(), tt.req, func(o ctl.Object) error {
				keys = append(keys, ctltest.KeyIndex(o.Key[:8]))
				if len(o.Data) != tt.dataSize {
					t.Errorf("object %x: %d bytes of data, want %d", o.Key, len(o.Data), tt.dataSize)
				}
				return nil
			})
			if err != nil || !slices.Equal(keys, tt.keys) {
				t.Errorf("keys %v (%v), want %v", keys, err, tt.keys)
			}
		})
	}
}

// TestDumpSelect: selector words reach the Dumper in order.
func TestDumpSelect(t *testing.T) {
	var got []string
	d := ctl.DumperFunc(func(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
		got = q.Select
		return ctl.Gens{}, nil
	})
	c := dialServer(t, ctl.NewServer(ctl.WithDumper("filter", d)))
	want := []string{"dev", "eth0", "ingress", ""}
	if _, err := c.Dump(t.Context(), ctl.DumpRequest{Kind: "filter", Select: want}, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("Select %q, want %q", got, want)
	}
}

// TestDumperContract: a Dumper's error, or a Dumper that breaks the
// contract, ends the dump with an errno in NLMSG_DONE, and no object is
// ever sent twice or out of order.
func TestDumperContract(t *testing.T) {
	big := make([]byte, 40<<10)
	tests := []struct {
		name  string
		yield func(yield func(ctl.Object) bool) error
		errno syscall.Errno
		frag  string
	}{
		{name: "error", yield: func(func(ctl.Object) bool) error {
			return fmt.Errorf("device eth9: %w", fs.ErrNotExist)
		}, errno: syscall.ENOENT, frag: "ctl: dump t: device eth9: file does not exist"},
		{name: "keys out of order", yield: func(y func(ctl.Object) bool) error {
			y(ctl.Object{Key: []byte{2}})
			y(ctl.Object{Key: []byte{1}})
			return nil
		}, errno: syscall.EIO, frag: "dumper yielded key 01 after 02"},
		{name: "key repeated", yield: func(y func(ctl.Object) bool) error {
			y(ctl.Object{Key: []byte{2}})
			y(ctl.Object{Key: []byte{2}})
			return nil
		}, errno: syscall.EIO, frag: "keys must increase"},
		{name: "empty key", yield: func(y func(ctl.Object) bool) error {
			y(ctl.Object{})
			return nil
		}, errno: syscall.EIO, frag: "key of 0 bytes"},
		{name: "object larger than a message", yield: func(y func(ctl.Object) bool) error {
			y(ctl.Object{Key: []byte{1}, Data: big})
			return nil
		}, errno: syscall.EMSGSIZE, frag: "do not fit a 32768-byte message"},
		{name: "object larger than an attribute", yield: func(y func(ctl.Object) bool) error {
			y(ctl.Object{Key: []byte{1}, Data: make([]byte, 70000)})
			return nil
		}, errno: syscall.EMSGSIZE, frag: "do not fit a netlink attribute"},
		{name: "yield after false", yield: func(y func(ctl.Object) bool) error {
			for i := range 2000 {
				y(ctl.Object{Key: []byte{byte(i >> 8), byte(i)}, Data: make([]byte, 64)}) // ignores false
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ctl.DumperFunc(func(q ctl.DumpQuery, yield func(ctl.Object) bool) (ctl.Gens, error) {
				if q.After != nil {
					return ctl.Gens{}, nil // one batch is enough
				}
				return ctl.Gens{}, tt.yield(yield)
			})
			c := dialServer(t, ctl.NewServer(ctl.WithDumper("t", d)))
			var keys [][]byte
			res, err := c.Dump(t.Context(), ctl.DumpRequest{Kind: "t"}, func(o ctl.Object) error {
				keys = append(keys, bytes.Clone(o.Key))
				return nil
			})
			if tt.errno == 0 {
				// The objects after yield said stop were refused:
				// one message's worth arrived, then nothing.
				if err != nil || res.Objects == 0 || res.Objects >= 2000 || res.Messages != 1 {
					t.Errorf("Dump: %+v %v", res, err)
				}
				return
			}
			var e *ctl.Error
			if !errors.As(err, &e) || e.Errno != tt.errno || !strings.Contains(e.Msg, tt.frag) {
				t.Errorf("Dump = %v, want errno %d with %q", err, tt.errno, tt.frag)
			}
			if len(keys) != 0 {
				t.Errorf("the failed batch's objects were delivered: %x", keys)
			}
		})
	}
}

// TestDumpCallbackError: the caller's error stops the dump and the client
// stays usable.
func TestDumpCallbackError(t *testing.T) {
	tbl := &ctltest.Table{}
	fill(tbl, 100, 8)
	c := dialServer(t, ctl.NewServer(ctl.WithDumper("t", tbl)))
	stop := errors.New("enough")
	n := 0
	_, err := c.Dump(t.Context(), ctl.DumpRequest{Kind: "t"}, func(ctl.Object) error {
		if n++; n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Errorf("Dump = %v after %d objects, want %v after 10", err, n, stop)
	}
	if keys, _, err := collect(t, c, ctl.DumpRequest{Kind: "t"}); err != nil || len(keys) != 100 {
		t.Errorf("next dump: %d objects, %v", len(keys), err)
	}
}
