package act_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"netyard/act"
	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/wire"
)

// TestGact: gact returns its verdict, counts every packet, and a drop only
// for "drop" (tcf_gact_act).
func TestGact(t *testing.T) {
	pool := leakPool(t)
	frame := build(t, udp4())
	for _, v := range []act.Verdict{act.OK, act.Shot, act.Pipe, act.Unspec, act.Reclassify,
		act.Stolen, act.Trap, act.Queued, act.GotoChain(7), act.Jump(2)} {
		t.Run(v.String(), func(t *testing.T) {
			a := mustNew(t, gact(v), newEnv())
			p := packet(t, pool, frame)
			defer p.Release()
			c := &act.Ctx{Worker: 1, Now: 50}
			if got := a.Exec(c, p); got != v {
				t.Errorf("Exec = %v, want %v", got, v)
			}
			s := a.Stats().Read()
			wantDrops := uint64(0)
			if v == act.Shot {
				wantDrops = 1
			}
			if s.Packets != 1 || s.Bytes != uint64(len(frame)) || s.Drops != wantDrops || s.LastUsed != 50 {
				t.Errorf("stats = %+v, want 1 packet of %d bytes, %d drops, last used 50", s, len(frame), wantDrops)
			}
		})
	}
}

// TestNewErrors: bad parameters are refused with an error that names what
// to fix, never a panic.
func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		spec act.Spec
		want string
	}{
		{"nil", nil, "no configuration"},
		{"repeat control", gact(act.Repeat), "not a verdict"},
		{"consumed control", gact(act.Consumed), "not a verdict"},
		{"redirect control", gact(act.Redirect), "not a verdict"},
		{"odd control", gact(act.Verdict(42)), "not a tc verdict"},
		{"jump 0", gact(act.Jump(0)), "jump 0: must be 1..511"},
		{"long cookie", &act.Gact{C: act.Common{Cookie: make([]byte, 17)}}, "at most 16"},
		{"mirred no dev", &act.Mirred{C: act.Common{Control: act.Stolen}}, "no target device"},
		{"mirred unknown dev", &act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "nope0"}, `device "nope0": no such device`},
		{"vlan id 5000", &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPush, ID: 5000}, "vlan: id 5000: must be 0..4094"},
		{"vlan id 4095", &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanModify, ID: 4095}, "vlan: id 4095: must be 0..4094"},
		{"vlan proto", &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPush, ID: 1, Proto: 0x9100}, "protocol 0x9100"},
		{"vlan prio", &act.Vlan{C: act.Common{Control: act.Pipe}, Op: act.VlanPush, ID: 1, Priority: 8, HasPriority: true}, "priority 8: must be 0..7"},
		{"vlan op", &act.Vlan{C: act.Common{Control: act.Pipe}}, "operation 0"},
		{"skbedit nothing", &act.Skbedit{C: act.Common{Control: act.Pipe}}, "nothing to set"},
		{"police nothing", &act.Police{Exceed: act.Shot}, "no rate and no mtu"},
		{"police no burst", &act.Police{Rate: 1000, Exceed: act.Shot}, "needs a burst"},
		{"police peak no rate", &act.Police{MTU: 1500, PeakRate: 1000, Exceed: act.Shot}, "peakrate 1000 bytes/s: needs a rate"},
		{"police peak no mtu", &act.Police{Rate: 100, Burst: 1000, PeakRate: 1000, Exceed: act.Shot}, "needs an mtu"},
		{"police conform goto", &act.Police{C: act.Common{Control: act.GotoChain(1)}, Rate: 100, Burst: 100}, "goto chain is allowed only as the exceed verdict"},
		{"police exceed repeat", &act.Police{Rate: 100, Burst: 100, Exceed: act.Repeat}, "exceed verdict"},
		{"ref", &act.Ref{ActKind: "gact", C: act.Common{Index: 3}}, "gact index 3: a reference"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := act.New(tt.spec, newEnv())
			if err == nil {
				t.Fatalf("New = %v, want an error containing %q", a, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestMirred covers who owns the packet after each way mirred can go:
// the original either goes to the target (Consumed) or stays with the
// caller, and exactly one of them releases it. Every case runs on a
// leak-checking pool.
func TestMirred(t *testing.T) {
	errFull := errors.New("backlog full")
	tests := []struct {
		name    string
		spec    act.Mirred
		ttl     uint8
		outErr  error
		want    act.Verdict
		wantTo  int    // packets the target got
		wantTTL uint8  // the sent packet's TTL after the datapath's decrement
		stats   [3]int // packets, drops, overlimits
	}{
		{"redirect stolen", act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}, 4, nil, act.Consumed, 1, 3, [3]int{1, 0, 0}},
		{"redirect drop hands over too", act.Mirred{C: act.Common{Control: act.Shot}, Dev: "eth1"}, 4, nil, act.Consumed, 1, 3, [3]int{1, 0, 0}},
		{"redirect ingress", act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "veth9", Ingress: true}, 2, nil, act.Consumed, 1, 1, [3]int{1, 0, 0}},
		{"redirect loop", act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}, 0, nil, act.Consumed, 0, 0, [3]int{1, 0, 1}},
		{"redirect backlog full", act.Mirred{C: act.Common{Control: act.Stolen}, Dev: "eth1"}, 4, errFull, act.Consumed, 0, 0, [3]int{1, 0, 1}},
		{"redirect pipe sends a copy", act.Mirred{C: act.Common{Control: act.Pipe}, Dev: "eth1"}, 4, nil, act.Pipe, 1, 3, [3]int{1, 0, 0}},
		{"redirect pass copy fails", act.Mirred{C: act.Common{Control: act.OK}, Dev: "eth1"}, 4, errFull, act.Shot, 0, 0, [3]int{1, 0, 1}},
		{"mirror", act.Mirred{C: act.Common{Control: act.Pipe}, Dev: "eth1", Mirror: true}, 4, nil, act.Pipe, 1, 3, [3]int{1, 0, 0}},
		{"mirror pass", act.Mirred{C: act.Common{Control: act.OK}, Dev: "eth0", Mirror: true, Ingress: true}, 4, nil, act.OK, 1, 3, [3]int{1, 0, 0}},
		{"mirror loop", act.Mirred{C: act.Common{Control: act.Pipe}, Dev: "eth1", Mirror: true}, 0, nil, act.Pipe, 0, 0, [3]int{1, 0, 1}},
		{"mirror backlog full", act.Mirred{C: act.Common{Control: act.Pipe}, Dev: "eth1", Mirror: true}, 4, errFull, act.Pipe, 0, 0, [3]int{1, 0, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := leakPool(t)
			e := newEnv()
			spec := tt.spec
			a := mustNew(t, &spec, e)
			frame := build(t, udp4())
			p := packet(t, pool, frame)
			p.TTL = tt.ttl
			out := &redirector{err: tt.outErr}
			got := a.Exec(&act.Ctx{Out: out}, p)
			if got != tt.want {
				t.Errorf("Exec = %v, want %v", got, tt.want)
			}
			if got != act.Consumed {
				// A copy costs the original one unit of TTL too
				// (the fan-out bound, docs/LOOPS.md); a failed
				// redirect leaves it as it was.
				want := tt.ttl
				if want > 0 && got != act.Shot {
					want--
				}
				if p.TTL != want {
					t.Errorf("original's TTL = %d, want %d", p.TTL, want)
				}
				p.Release()
			}
			if len(out.got) != tt.wantTo {
				t.Fatalf("target got %d packets, want %d", len(out.got), tt.wantTo)
			}
			if tt.wantTo == 1 {
				s := out.got[0]
				dev, _ := e.DeviceIndex(spec.Dev)
				if s.dev != dev || s.ingress != spec.Ingress || s.ttl != tt.wantTTL || string(s.frame) != string(frame) {
					t.Errorf("target got %+v, want dev %d ingress %v ttl %d and the frame", s, dev, spec.Ingress, tt.wantTTL)
				}
			}
			st := a.Stats().Read()
			if got := [3]int{int(st.Packets), int(st.Drops), int(st.Overlimits)}; got != tt.stats {
				t.Errorf("stats packets/drops/overlimits = %v, want %v", got, tt.stats)
			}
		})
	}
}

// TestMirredCloneFails: when the pool cannot make the copy, a mirror
// counts a drop and lets the original go on; a redirect that needed a copy
// turns into drop, as the kernel's failed redirect does.
func TestMirredCloneFails(t *testing.T) {
	for _, tt := range []struct {
		name   string
		mirror bool
		want   act.Verdict
	}{
		{"mirror", true, act.Pipe},
		{"redirect pipe", false, act.Shot},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// Room for exactly one buffer: the original.
			pool := testutil.Pool(t, pkt.PoolConfig{Limit: pkt.Headroom + pkt.DefaultDataSize})
			a := mustNew(t, &act.Mirred{C: act.Common{Control: act.Pipe}, Dev: "eth1", Mirror: tt.mirror}, newEnv())
			p := packet(t, pool, build(t, udp4()))
			defer p.Release()
			out := &redirector{}
			if got := a.Exec(&act.Ctx{Out: out}, p); got != tt.want {
				t.Errorf("Exec = %v, want %v", got, tt.want)
			}
			if len(out.got) != 0 {
				t.Errorf("target got %d packets, want none", len(out.got))
			}
			if s := a.Stats().Read(); s.Drops != 1 {
				t.Errorf("drops = %d, want 1", s.Drops)
			}
		})
	}
}

// TestVlan checks each operation against the frame it must produce, and
// the headers re-parsed after it.
func TestVlan(t *testing.T) {
	c8100 := func(vid uint16, pcp uint8) wire.Tag {
		return wire.Tag{TPID: wire.EtherTypeVLAN, TCI: uint16(pcp)<<13 | vid}
	}
	s88a8 := func(vid uint16, pcp uint8) wire.Tag {
		return wire.Tag{TPID: wire.EtherTypeQinQ, TCI: uint16(pcp)<<13 | vid}
	}
	tests := []struct {
		name     string
		spec     act.Vlan
		in, want []wire.Tag
		wantPrio uint32 // packet priority afterwards (set by the VLAN 0 rule)
	}{
		{"push", act.Vlan{Op: act.VlanPush, ID: 5, Priority: 3, HasPriority: true}, nil, []wire.Tag{c8100(5, 3)}, 0},
		{"push default pcp 0", act.Vlan{Op: act.VlanPush, ID: 4094}, nil, []wire.Tag{c8100(4094, 0)}, 0},
		{"push 802.1ad over a C-tag", act.Vlan{Op: act.VlanPush, ID: 100, Proto: wire.EtherTypeQinQ}, []wire.Tag{c8100(10, 1)}, []wire.Tag{s88a8(100, 0), c8100(10, 1)}, 0},
		{"push id 0 sends a priority tag", act.Vlan{Op: act.VlanPush, ID: 0, Priority: 5, HasPriority: true}, nil, []wire.Tag{c8100(0, 5)}, 0},
		{"pop", act.Vlan{Op: act.VlanPop}, []wire.Tag{c8100(7, 2)}, nil, 0},
		{"pop outer of two", act.Vlan{Op: act.VlanPop}, []wire.Tag{s88a8(100, 0), c8100(10, 1)}, []wire.Tag{c8100(10, 1)}, 0},
		{"pop exposes a priority tag", act.Vlan{Op: act.VlanPop}, []wire.Tag{s88a8(100, 0), c8100(0, 5)}, nil, 5},
		{"pop untagged does nothing", act.Vlan{Op: act.VlanPop}, nil, nil, 0},
		{"modify id keeps pcp", act.Vlan{Op: act.VlanModify, ID: 20}, []wire.Tag{c8100(7, 3)}, []wire.Tag{c8100(20, 3)}, 0},
		{"modify id and pcp", act.Vlan{Op: act.VlanModify, ID: 20, Priority: 6, HasPriority: true}, []wire.Tag{c8100(7, 3)}, []wire.Tag{c8100(20, 6)}, 0},
		{"modify sets the protocol", act.Vlan{Op: act.VlanModify, ID: 30}, []wire.Tag{s88a8(7, 3), c8100(8, 0)}, []wire.Tag{c8100(30, 3), c8100(8, 0)}, 0},
		{"modify 802.1ad", act.Vlan{Op: act.VlanModify, ID: 30, Proto: wire.EtherTypeQinQ}, []wire.Tag{c8100(7, 3)}, []wire.Tag{s88a8(30, 3)}, 0},
		{"modify untagged does nothing", act.Vlan{Op: act.VlanModify, ID: 30}, nil, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool := leakPool(t)
			spec := tt.spec
			spec.C.Control = act.Pipe
			a := mustNew(t, &spec, newEnv())
			p := packet(t, pool, build(t, udp4(tt.in...)))
			defer p.Release()
			if got := a.Exec(&act.Ctx{}, p); got != act.Pipe {
				t.Errorf("Exec = %v, want pipe", got)
			}
			want := build(t, udp4(tt.want...))
			if string(p.Data()) != string(want) {
				t.Errorf("frame\n got %x\nwant %x", p.Data(), want)
			}
			var h wire.Headers
			_ = wire.Parse(want, &h)
			if p.Hdr != h {
				t.Errorf("headers not re-parsed:\n got %+v\nwant %+v", p.Hdr, h)
			}
			if p.Priority != tt.wantPrio {
				t.Errorf("priority = %d, want %d", p.Priority, tt.wantPrio)
			}
		})
	}
}

// TestVlanDrops: a pop of a tag cut short and a push without headroom drop
// the packet and count it.
func TestVlanDrops(t *testing.T) {
	pool := leakPool(t)
	short := append(build(t, &wire.FrameSpec{Dst: macB, Src: macA, EtherType: wire.EtherTypeVLAN})[:14], 0x00)
	for _, tt := range []struct {
		name  string
		spec  act.Vlan
		frame []byte
		prep  func(*pkt.Buffer)
	}{
		{"pop short tag", act.Vlan{Op: act.VlanPop}, short, nil},
		{"modify short tag", act.Vlan{Op: act.VlanModify, ID: 3}, short, nil},
		{"push without headroom", act.Vlan{Op: act.VlanPush, ID: 3}, build(t, udp4()), func(p *pkt.Buffer) {
			if _, err := p.Push(pkt.Headroom - 2); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.C.Control = act.Pipe
			a := mustNew(t, &spec, newEnv())
			p := packet(t, pool, tt.frame)
			defer p.Release()
			if tt.prep != nil {
				tt.prep(p)
			}
			if got := a.Exec(&act.Ctx{}, p); got != act.Shot {
				t.Errorf("Exec = %v, want drop", got)
			}
			if s := a.Stats().Read(); s.Drops != 1 || s.Packets != 1 {
				t.Errorf("stats = %+v, want 1 packet, 1 drop", s)
			}
		})
	}
}

// TestSkbedit: each field is set only when asked, the mark under its mask.
func TestSkbedit(t *testing.T) {
	pool := leakPool(t)
	tests := []struct {
		name string
		spec act.Skbedit
		want pkt.Meta
	}{
		{"priority", act.Skbedit{Priority: 0x10003, HasPriority: true}, pkt.Meta{Priority: 0x10003, Mark: 0xabcd00ff}},
		{"mark all bits", act.Skbedit{Mark: 0x12, HasMark: true}, pkt.Meta{Priority: 7, Mark: 0x12}},
		{"mark under mask", act.Skbedit{Mark: 0x12, MarkMask: 0xff, HasMark: true}, pkt.Meta{Priority: 7, Mark: 0xabcd0012}},
		{"queue mapping", act.Skbedit{QueueMapping: 3, HasQueueMapping: true}, pkt.Meta{Priority: 7, Mark: 0xabcd00ff, QueueMapping: 3, HasQueueMapping: true}},
		// The frame's TOS is 0xb8 (DSCP 46, EF): the priority becomes
		// 0xb8 >> 2, and a priority given too wins (applied after).
		{"inheritdsfield", act.Skbedit{InheritDS: true}, pkt.Meta{Priority: 46, Mark: 0xabcd00ff}},
		{"inheritdsfield then priority", act.Skbedit{InheritDS: true, Priority: 5, HasPriority: true}, pkt.Meta{Priority: 5, Mark: 0xabcd00ff}},
		{"ptype changes no metadata netyard has", act.Skbedit{PType: 3, HasPType: true}, pkt.Meta{Priority: 7, Mark: 0xabcd00ff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := tt.spec
			spec.C.Control = act.Pipe
			a := mustNew(t, &spec, newEnv())
			spec4 := udp4()
			spec4.TOS = 0xb8
			p := packet(t, pool, build(t, spec4))
			defer p.Release()
			p.Meta = pkt.Meta{Priority: 7, Mark: 0xabcd00ff}
			if got := a.Exec(&act.Ctx{}, p); got != act.Pipe {
				t.Errorf("Exec = %v, want pipe", got)
			}
			if p.Meta != tt.want {
				t.Errorf("meta = %+v, want %+v", p.Meta, tt.want)
			}
		})
	}
}

// TestGactRandom: determ gives the random verdict to every VAL-th packet
// (gact_determ), netrand to about one in VAL (gact_net_rand); goto chain
// is refused as the fallback, as tcf_gact_init refuses it.
func TestGactRandom(t *testing.T) {
	pool := leakPool(t)
	p := packet(t, pool, build(t, udp4()))
	defer p.Release()
	count := func(spec *act.Gact, n int) int {
		a := mustNew(t, spec, newEnv())
		drops := 0
		for range n {
			if a.Exec(&act.Ctx{}, p) == act.Shot {
				drops++
			}
		}
		return drops
	}
	if got := count(&act.Gact{C: act.Common{Control: act.OK}, Random: act.RandomDeterm, RandomAction: act.Shot, RandomVal: 4}, 400); got != 100 {
		t.Errorf("determ 4: %d of 400 dropped, want 100", got)
	}
	// 1/10 of 100000: 10000, standard error 95; 5 of them either way.
	if got := count(&act.Gact{C: act.Common{Control: act.OK}, Random: act.RandomNetrand, RandomAction: act.Shot, RandomVal: 10}, 100000); got < 9525 || got > 10475 {
		t.Errorf("netrand 10: %d of 100000 dropped, want about 10000", got)
	}
	if _, err := act.New(&act.Gact{C: act.Common{Control: act.OK}, Random: act.RandomDeterm, RandomAction: act.GotoChain(1), RandomVal: 2}, newEnv()); err == nil {
		t.Error("goto chain as the random verdict accepted")
	}
}

// TestGactNetrandSeeded: netrand draws from the worker's seeded
// generator (Ctx.BPF.Rand), so the same seed gives the same verdicts,
// packet for packet, and another seed others; and with a fixed seed it
// still gives the random verdict to one packet in VAL, within four
// standard errors (binomial), for small and large VALs.
func TestGactNetrandSeeded(t *testing.T) {
	pool := leakPool(t)
	p := packet(t, pool, build(t, udp4()))
	defer p.Release()
	spec := func(val uint16) *act.Gact {
		return &act.Gact{C: act.Common{Control: act.OK}, Random: act.RandomNetrand, RandomAction: act.Shot, RandomVal: val}
	}
	run := func(seed uint64, val uint16, n int) (verdicts []bool, drops int) {
		a := mustNew(t, spec(val), newEnv())
		c := &act.Ctx{}
		c.BPF.Rand = &seed
		verdicts = make([]bool, n)
		for i := range n {
			verdicts[i] = a.Exec(c, p) == act.Shot
			if verdicts[i] {
				drops++
			}
		}
		if st := a.Stats().Read(); st.Drops != uint64(drops) || st.Packets != uint64(n) {
			t.Fatalf("counters %+v, want %d packets, %d drops", st, n, drops)
		}
		return verdicts, drops
	}
	a, _ := run(0x6e657479, 2, 4096)
	b, _ := run(0x6e657479, 2, 4096)
	c, _ := run(0x6e65747a, 2, 4096)
	if !slices.Equal(a, b) {
		t.Fatal("two runs with the same seed gave different verdicts")
	}
	if slices.Equal(a, c) {
		t.Fatal("two seeds gave the same 4096 verdicts: the seed is not used")
	}
	const n = 200000
	for _, val := range []uint16{2, 3, 10, 100, 1000, 10000} {
		q := 1 / float64(val)
		want, sigma := n*q, math.Sqrt(n*q*(1-q))
		for _, seed := range []uint64{1, 0x6e657479} {
			if _, got := run(seed, val, n); math.Abs(float64(got)-want) > 4*sigma {
				t.Errorf("netrand %d, seed %#x: %d of %d, want %.0f ± %.0f", val, seed, got, n, want, 4*sigma)
			}
		}
	}
	// no allocation, with or without a generator
	seed := uint64(1)
	g := mustNew(t, spec(3), newEnv())
	c1, c2 := &act.Ctx{}, &act.Ctx{}
	c1.BPF.Rand = &seed
	if n := testing.AllocsPerRun(100, func() { g.Exec(c1, p); g.Exec(c2, p) }); n != 0 {
		t.Fatalf("%v allocations per run", n)
	}
}

// TestPoliceOverheadATM: overhead is added to each packet and ATM counts
// 53-byte cells of 48 bytes (psched_l2t_ns): a 1000-byte bucket passes
// 1000/(len+overhead) packets, or 1000/(cells*53).
func TestPoliceOverheadATM(t *testing.T) {
	pool := leakPool(t)
	frame := build(t, udp4()) // 60 bytes on the wire here
	n := len(frame)
	for _, c := range []struct {
		name     string
		overhead uint16
		atm      bool
		per      int // bytes charged a packet
	}{
		{"plain", 0, false, n},
		{"overhead 100", 100, false, n + 100},
		{"atm", 0, true, (n + 47) / 48 * 53},
		{"atm with overhead", 40, true, (n + 40 + 47) / 48 * 53},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := mustNew(t, &act.Police{C: act.Common{Control: act.OK}, Exceed: act.Shot, Rate: 1000, Burst: 1000,
				Overhead: c.overhead, ATM: c.atm}, newEnv())
			p := packet(t, pool, frame)
			defer p.Release()
			passed := 0
			for range 100 {
				if a.Exec(&act.Ctx{}, p) == act.OK {
					passed++
				}
			}
			if want := 1000 / c.per; passed != want {
				t.Errorf("%d packets passed a 1000-byte bucket, want %d (%d bytes each)", passed, want, c.per)
			}
		})
	}
}

// TestPolicePacketRate: pkts_rate 1000 pkts_burst 200 passes 200 packets
// at once, then one a millisecond (tcf_police_act's packet bucket).
func TestPolicePacketRate(t *testing.T) {
	pool := leakPool(t)
	a := mustNew(t, &act.Police{C: act.Common{Control: act.OK}, Exceed: act.Shot, PktsRate: 1000, PktsBurst: 200}, newEnv())
	p := packet(t, pool, build(t, udp4()))
	defer p.Release()
	passed := 0
	for range 300 {
		if a.Exec(&act.Ctx{}, p) == act.OK {
			passed++
		}
	}
	if passed != 200 {
		t.Errorf("%d of 300 passed at once, want the burst of 200", passed)
	}
	if v := a.Exec(&act.Ctx{Now: 1_000_000}, p); v != act.OK {
		t.Errorf("a millisecond later: %v, want pass", v)
	}
	if _, err := act.New(&act.Police{C: act.Common{Control: act.OK}, PktsRate: 1000}, newEnv()); err == nil {
		t.Error("pkts_rate without pkts_burst accepted")
	}
}
