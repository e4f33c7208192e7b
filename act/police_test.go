package act_test

import (
	"encoding/binary"
	"testing"
	"time"

	"netyard/act"
	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

// TestPolice drives policers with a manual clock (Ctx.Now) and checks each
// packet's verdict and the counters, against act_police.c's arithmetic:
// buckets in time, a packet of n bytes costs n/rate seconds.
func TestPolice(t *testing.T) {
	const ms = int64(time.Millisecond)
	type step struct {
		at   int64 // ns
		size int   // frame bytes
		n    int   // packets sent back to back
		want act.Verdict
	}
	tests := []struct {
		name  string
		spec  act.Police
		steps []step
		// overlimits and drops at the end
		over, drops uint64
	}{
		{
			name: "committed bucket",
			spec: act.Police{C: act.Common{Control: act.OK}, Rate: 1000, Burst: 1000, Exceed: act.Shot},
			steps: []step{
				{0, 100, 10, act.OK},           // 1 s of tokens, 0.1 s each
				{0, 100, 1, act.Shot},          // empty
				{100 * ms, 100, 1, act.OK},     // 0.1 s refilled
				{100 * ms, 100, 1, act.Shot},   // and spent
				{150 * ms, 100, 1, act.Shot},   // 0.05 s is not enough
				{200 * ms, 100, 1, act.OK},     // tokens count from the last conforming packet
				{10_000 * ms, 100, 10, act.OK}, // long idle: the bucket holds the burst, no more
				{10_000 * ms, 100, 1, act.Shot},
			},
			over: 4, drops: 4,
		},
		{
			name: "peak bucket",
			spec: act.Police{C: act.Common{Control: act.OK}, Rate: 1000, Burst: 10000, PeakRate: 1000, MTU: 200, Exceed: act.Pipe},
			steps: []step{
				{0, 100, 2, act.OK}, // the peak bucket holds mtu/peakrate = 0.2 s
				{0, 100, 1, act.Pipe},
				{100 * ms, 100, 1, act.OK},
				{100 * ms, 100, 1, act.Pipe},
			},
			over: 2, drops: 0,
		},
		{
			name: "mtu",
			spec: act.Police{C: act.Common{Control: act.OK}, Rate: 1e6, Burst: 10000, MTU: 99, Exceed: act.Reclassify},
			steps: []step{
				{0, 99, 1, act.OK},
				{0, 100, 1, act.Reclassify}, // too big, tokens or not
			},
			over: 1, drops: 0,
		},
		{
			name: "default mtu is 2040",
			spec: act.Police{C: act.Common{Control: act.Pipe}, Rate: 1e9, Burst: 100000, Exceed: act.Shot},
			steps: []step{
				{0, 2040, 1, act.Pipe},
				{0, 2041, 1, act.Shot},
			},
			over: 1, drops: 1,
		},
		{
			name: "mtu only",
			spec: act.Police{C: act.Common{Control: act.Shot}, MTU: 100, Exceed: act.OK},
			steps: []step{
				{0, 100, 5, act.Shot}, // conforms without touching a bucket, and without a drop count
				{0, 101, 1, act.OK},
			},
			over: 1, drops: 0,
		},
		{
			name: "conform drop counts drops",
			spec: act.Police{C: act.Common{Control: act.Shot}, Rate: 1000, Burst: 100, Exceed: act.OK},
			steps: []step{
				{0, 100, 1, act.Shot},
				{0, 100, 1, act.OK},
			},
			over: 1, drops: 1,
		},
		{
			name: "clock stepping back",
			spec: act.Police{C: act.Common{Control: act.OK}, Rate: 1000, Burst: 100, Exceed: act.Shot},
			steps: []step{
				{500 * ms, 100, 1, act.OK},
				{100 * ms, 100, 1, act.Shot}, // no time passed, not negative time
				{600 * ms, 100, 1, act.OK},
			},
			over: 1, drops: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := testutil.Pool(t, pkt.PoolConfig{DataSize: 4000})
			e := newEnv()
			spec := tt.spec
			a := mustNew(t, &spec, e)
			total := 0
			for i, s := range tt.steps {
				fs := udp4()
				fs.MinLen = s.size
				frame := build(t, fs)
				if len(frame) != s.size {
					t.Fatalf("step %d: frame of %d bytes, want %d", i, len(frame), s.size)
				}
				for j := range s.n {
					p := packet(t, pool, frame)
					got := a.Exec(&act.Ctx{Now: s.at}, p)
					p.Release()
					total++
					if got != s.want {
						t.Fatalf("step %d packet %d at %v (%d bytes): %v, want %v", i, j, time.Duration(s.at), s.size, got, s.want)
					}
				}
			}
			st := a.Stats().Read()
			if st.Packets != uint64(total) || st.Overlimits != tt.over || st.Drops != tt.drops {
				t.Errorf("stats = %+v, want %d packets, %d overlimits, %d drops", st, total, tt.over, tt.drops)
			}
		})
	}
}

// TestPoliceReplaceRefills: replacing a policer's parameters fills its
// bucket again, as tcf_police_init resets tcfp_toks, and keeps its
// counters.
func TestPoliceReplaceRefills(t *testing.T) {
	pool := leakPool(t)
	e := newEnv()
	tab := act.NewTable(e)
	spec := &act.Police{C: act.Common{Control: act.OK}, Rate: 1000, Burst: 100, Exceed: act.Shot}
	a, err := tab.Add(spec, act.ModeAdd)
	if err != nil {
		t.Fatal(err)
	}
	frame := build(t, &wire.FrameSpec{Dst: macB, Src: macA, EtherType: wire.EtherTypeARP, MinLen: 100})
	run := func() act.Verdict {
		p := packet(t, pool, frame)
		defer p.Release()
		return a.Exec(&act.Ctx{Now: 0}, p)
	}
	if v := run(); v != act.OK {
		t.Fatalf("first packet: %v, want pass", v)
	}
	if v := run(); v != act.Shot {
		t.Fatalf("second packet: %v, want drop", v)
	}
	spec2 := &act.Police{C: act.Common{Index: spec.C.Index, Control: act.Pipe}, Rate: 1000, Burst: 200, Exceed: act.Shot}
	if _, err := tab.Add(spec2, act.ModeReplace); err != nil {
		t.Fatal(err)
	}
	if v := run(); v != act.Pipe {
		t.Fatalf("after replace: %v, want pipe (a full bucket, the new conform verdict)", v)
	}
	if s := a.Stats().Read(); s.Packets != 3 || s.Drops != 1 {
		t.Errorf("stats after replace = %+v, want the old counters kept: 3 packets, 1 drop", s)
	}
}

// TestPoliceGSO: a GSO frame is policed as its segments, as
// tcf_police_act does: each segment against the MTU (a 20 KB frame of
// 1514-byte segments conforms to an MTU of 1514), their bytes, headers
// repeated, against the rate, and it counts as its segments.
func TestPoliceGSO(t *testing.T) {
	pool := testutil.Pool(t, pkt.PoolConfig{})
	f := make([]byte, 14+20+20+20000)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14], f[23] = 0x45, 6
	f[34+12] = 5 << 4
	const segs, octets = 14, 20000 + 14*54 // 13 x 1460 + 1020
	for _, tc := range []struct {
		name string
		spec act.Police
		want act.Verdict
	}{
		{"segments fit the mtu", act.Police{C: act.Common{Control: act.OK}, MTU: 1514, Exceed: act.Shot}, act.OK},
		{"segments exceed the mtu", act.Police{C: act.Common{Control: act.OK}, MTU: 1513, Exceed: act.Shot}, act.Shot},
		{"the rate sees the segments' bytes", act.Police{C: act.Common{Control: act.OK}, Rate: 1e6, Burst: octets - 1, MTU: 1514, Exceed: act.Shot}, act.Shot},
		{"within the burst", act.Police{C: act.Common{Control: act.OK}, Rate: 1e6, Burst: octets, MTU: 1514, Exceed: act.Shot}, act.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			a := mustNew(t, &spec, newEnv())
			p, err := pool.GetBig()
			if err != nil {
				t.Fatal(err)
			}
			defer p.Release()
			_ = p.SetData(f)
			p.GSOType, p.GSOSize, p.CsumPartial, p.CsumStart, p.CsumOffset = pkt.GSOTCPv4, 1460, true, 34, 16
			if got := a.Exec(&act.Ctx{Now: 0}, p); got != tc.want {
				t.Errorf("%v, want %v", got, tc.want)
			}
			if st := a.Stats().Read(); st.Packets != segs || st.Bytes != octets {
				t.Errorf("counted %d packets %d bytes, want %d, %d", st.Packets, st.Bytes, segs, octets)
			}
		})
	}
}
