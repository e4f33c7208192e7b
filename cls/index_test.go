package cls

import (
	"math/rand/v2"
	"net/netip"
	"strconv"
	"sync"
	"testing"

	"netyard/act"
	"netyard/internal/testutil"
	"netyard/pkt"
	"netyard/stats"
	"netyard/wire"
)

// referenceClassify is the simple walk the index replaces, kept as the
// reference: every filter of the chain in prio, then handle order, one
// compare loop each (the Classify of before the index, verbatim but for
// where the list comes from).
func referenceClassify(ch *Chains, c *act.Ctx, p *pkt.Buffer) Result {
	ch.mu.Lock()
	defer ch.mu.Unlock()
	list := func(index uint32) []*filter {
		var out []*filter
		ch.walkLocked(nil, Select{Chain: &index}, func(f *filter) bool { out = append(out, f); return true })
		return out
	}
	var (
		key   flowKey
		fresh bool
		loops int
	)
	filters := list(0)
restart:
	for _, f := range filters {
		if f.protocol != wire.EtherTypeAll && f.protocol != p.Hdr.OuterType {
			continue
		}
		if !fresh {
			key.fill(p)
			fresh = true
		}
		if !f.cls.match(&key) {
			continue
		}
		v := act.Exec(c, p, f.actions())
		if len(f.actions()) > 0 {
			fresh = false
		}
		if next, ok := restartAt(v); ok {
			if loops >= maxReclassifyLoop {
				return Result{Verdict: act.Shot, ClassID: f.classID, Matched: true}
			}
			loops++
			filters = list(next)
			goto restart
		}
		if v >= 0 {
			return Result{Verdict: v, ClassID: f.classID, Matched: true}
		}
	}
	return Result{Verdict: act.Unspec}
}

// testEnv is a minimal act.Env.
type testEnv struct{ cells *stats.Set }

// DeviceIndex knows one device, lo (1).
func (*testEnv) DeviceIndex(name string) (int32, bool) { return 1, name == "lo" }
func (e *testEnv) Counters() *stats.Set                { return e.cells }
func (*testEnv) Now() int64                            { return 1 }

func newTestChains() *Chains {
	e := &testEnv{cells: stats.NewSet(stats.NewDomain(1))}
	return NewChains(act.NewTable(e), e)
}

// chooser is where the random filter sets and packets come from: a PRNG
// for the differential test, the fuzzer's bytes for the fuzz target.
type chooser interface{ IntN(n int) int }

type byteChooser struct{ b []byte }

func (c *byteChooser) IntN(n int) int {
	if len(c.b) == 0 {
		return 0
	}
	v := int(c.b[0])
	c.b = c.b[1:]
	return v % n
}

func (c *byteChooser) done() bool { return len(c.b) == 0 }

// The domains are small so that filters overlap and packets match often.
var (
	diffVerdicts = []act.Verdict{act.OK, act.Shot, act.Unspec, act.Unspec, act.Pipe, act.Reclassify, act.GotoChain(1), act.GotoChain(2)}
	diffPrios    = []uint16{1, 2, 3, 7}
)

func diffAddr(r chooser, base byte) netip.Addr {
	return netip.AddrFrom4([4]byte{10, base, 0, byte(r.IntN(8))})
}

func diffPorts(r chooser) *PortRange {
	lo := uint16(1 + r.IntN(4))
	if r.IntN(2) == 0 {
		return &PortRange{Min: lo, Max: lo}
	}
	return &PortRange{Min: lo, Max: lo + uint16(r.IntN(3))}
}

// randomFilter makes a filter for chain 0..2, of a prio whose kind and
// protocol are kept consistent by kinds.
func randomFilter(r chooser, id int, kinds map[[2]uint32]bool) *Filter {
	chain := uint32(r.IntN(3))
	prio := diffPrios[r.IntN(len(diffPrios))]
	k := [2]uint32{chain, uint32(prio)}
	matchall, seen := kinds[k]
	if !seen {
		matchall = r.IntN(6) == 0
		kinds[k] = matchall
	}
	f := &Filter{Chain: chain, Prio: prio, Protocol: wire.EtherTypeIPv4, ClassID: uint32(id),
		Actions: []act.Spec{&act.Gact{C: act.Common{Control: diffVerdicts[r.IntN(len(diffVerdicts))]}}}}
	if matchall {
		f.Protocol = wire.EtherTypeAll
		f.Classifier = &Matchall{}
		return f
	}
	fl := &Flower{}
	if r.IntN(2) == 0 {
		p := []uint8{wire.ProtoTCP, wire.ProtoUDP}[r.IntN(2)]
		fl.IPProto = &p
		if r.IntN(2) == 0 {
			fl.DstPort = diffPorts(r)
		}
		if r.IntN(3) == 0 {
			fl.SrcPort = diffPorts(r)
		}
	}
	if r.IntN(3) != 0 {
		p := netip.PrefixFrom(diffAddr(r, 0), []int{32, 31, 30, 24}[r.IntN(4)]).Masked()
		fl.DstIP = &p
	}
	if r.IntN(3) == 0 {
		p := netip.PrefixFrom(diffAddr(r, 1), []int{32, 30}[r.IntN(2)]).Masked()
		fl.SrcIP = &p
	}
	if r.IntN(4) == 0 {
		fl.TOS = &Masked[uint8]{Value: uint8(r.IntN(4)) << 2, Mask: 0x0c}
	}
	f.Classifier = fl
	return f
}

// randomPacket sets p's headers (Classify reads only those, the ingress
// index and the length).
func randomPacket(r chooser, p *pkt.Buffer) {
	h := &p.Hdr
	*h = wire.Headers{}
	h.OuterType, h.EtherType = wire.EtherTypeIPv4, wire.EtherTypeIPv4
	if r.IntN(8) == 0 {
		h.OuterType, h.EtherType = wire.EtherTypeARP, wire.EtherTypeARP
		return
	}
	h.IPVersion = 4
	h.L3Off = 14
	h.SrcIP, h.DstIP = diffAddr(r, 1), diffAddr(r, 0)
	h.TOS = uint8(r.IntN(4)) << 2
	h.Proto = []uint8{wire.ProtoTCP, wire.ProtoUDP, wire.ProtoICMP}[r.IntN(3)]
	h.L4Off = 34
	h.SrcPort, h.DstPort = uint16(1+r.IntN(6)), uint16(1+r.IntN(6))
}

// mutate adds, replaces or deletes one filter, the way a user would;
// errors (same keys, matchall prio taken, no such filter) are part of it.
func mutate(r chooser, ch *Chains, id int, kinds map[[2]uint32]bool) {
	switch r.IntN(8) {
	case 0: // delete one filter
		vs := ch.List(nil)
		if len(vs) > 0 {
			v := vs[r.IntN(len(vs))].Spec
			_ = ch.Delete(&Filter{Chain: v.Chain, Prio: v.Prio, Handle: v.Handle})
		}
	case 1: // replace one filter
		vs := ch.List(nil)
		if len(vs) > 0 {
			v := vs[r.IntN(len(vs))].Spec
			f := randomFilter(r, id, kinds)
			f.Chain, f.Prio, f.Handle, f.Protocol = v.Chain, v.Prio, v.Handle, 0
			if _, ok := v.Classifier.(*Matchall); ok {
				f.Classifier = &Matchall{}
			} else if _, ok := f.Classifier.(*Matchall); ok {
				f.Classifier = &Flower{}
			}
			_ = ch.Add(f, act.ModeReplace)
		}
	case 2:
		if r.IntN(4) == 0 { // delete a whole prio
			_ = ch.Delete(&Filter{Chain: uint32(r.IntN(3)), Prio: diffPrios[r.IntN(len(diffPrios))]})
			return
		}
		fallthrough
	default:
		_ = ch.Add(randomFilter(r, id, kinds), act.ModeAdd)
	}
}

func compareOne(t *testing.T, ch *Chains, p *pkt.Buffer) Result {
	t.Helper()
	c := &act.Ctx{}
	got := ch.Block().Classify(c, p)
	want := referenceClassify(ch, c, p)
	if got != want {
		t.Fatalf("packet %+v: index %+v, list walk %+v\nfilters: %+v", p.Hdr, got, want, dumpSpecs(ch))
	}
	return got
}

func dumpSpecs(ch *Chains) []string {
	var out []string
	for _, v := range ch.List(nil) {
		out = append(out, filterString(&v.Spec))
	}
	return out
}

func filterString(f *Filter) string {
	s := ""
	switch c := f.Classifier.(type) {
	case *Matchall:
		s = "matchall"
	case *Flower:
		s = "flower"
		if c.IPProto != nil {
			s += " ip_proto " + itoa(int(*c.IPProto))
		}
		if c.DstIP != nil {
			s += " dst_ip " + c.DstIP.String()
		}
		if c.SrcIP != nil {
			s += " src_ip " + c.SrcIP.String()
		}
		if c.DstPort != nil {
			s += " dst_port " + itoa(int(c.DstPort.Min)) + "-" + itoa(int(c.DstPort.Max))
		}
		if c.SrcPort != nil {
			s += " src_port " + itoa(int(c.SrcPort.Min)) + "-" + itoa(int(c.SrcPort.Max))
		}
		if c.TOS != nil {
			s += " tos " + itoa(int(c.TOS.Value))
		}
	}
	return "chain " + itoa(int(f.Chain)) + " prio " + itoa(int(f.Prio)) + " handle " + itoa(int(f.Handle)) + " classid " + itoa(int(f.ClassID)) + " " + s
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestIndexMatchesListWalk is the differential test: random filter sets
// (overlapping keys, several masks per prio, port ranges, matchall, every
// verdict including continue, reclassify and goto chain), changed by
// random adds, replaces and deletes, and random packets: the indexed
// Classify and the list walk agree on every packet.
func TestIndexMatchesListWalk(t *testing.T) {
	pool := pkt.NewPool(pkt.PoolConfig{})
	p, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	_ = p.SetData(make([]byte, 60))
	rounds, steps, packets := 200, 60, 40
	if testing.Short() || testutil.RaceEnabled {
		rounds = 40 // the race detector makes a round 30 times slower
	}
	verdicts := map[act.Verdict]int{}
	matched, total, masks := 0, 0, 0
	for round := range rounds {
		r := rand.New(rand.NewPCG(uint64(round), 14))
		ch := newTestChains()
		kinds := map[[2]uint32]bool{}
		for step := range steps {
			mutate(r, ch, step+1, kinds)
			for range packets {
				randomPacket(r, p)
				res := compareOne(t, ch, p)
				verdicts[res.Verdict]++
				total++
				if res.Matched {
					matched++
				}
			}
		}
		for _, c := range *ch.block.chains.Load() {
			for _, g := range *c.groups.Load() {
				masks = max(masks, len(*g.masks.Load()))
			}
		}
		ch.mu.Lock()
		n := ch.n
		ch.mu.Unlock()
		if got := len(ch.List(nil)); got != n {
			t.Fatalf("round %d: %d filters listed, count says %d", round, got, n)
		}
	}
	// The test is only worth something if the sets overlap: most packets
	// match, every ending verdict occurs, prios have many masks.
	t.Logf("%d packets, %d matched, verdicts %v, up to %d masks in a prio", total, matched, verdicts, masks)
	if matched < total/3 || len(verdicts) < 4 || masks < 5 {
		t.Errorf("random sets too tame: %d of %d packets matched, verdicts %v, up to %d masks", matched, total, verdicts, masks)
	}
}

// FuzzIndexMatchesListWalk drives the same comparison from the fuzzer's
// bytes: each byte chooses the next operation or field.
func FuzzIndexMatchesListWalk(f *testing.F) {
	for i := range 8 {
		r := rand.New(rand.NewPCG(uint64(i), 0))
		seed := make([]byte, 400)
		for j := range seed {
			seed[j] = byte(r.UintN(256))
		}
		f.Add(seed)
	}
	pool := pkt.NewPool(pkt.PoolConfig{})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := pool.Get()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Release()
		_ = p.SetData(make([]byte, 60))
		r := &byteChooser{b: data}
		ch := newTestChains()
		kinds := map[[2]uint32]bool{}
		for id := 1; !r.done(); id++ {
			if r.IntN(3) == 0 {
				randomPacket(r, p)
				compareOne(t, ch, p)
			} else {
				mutate(r, ch, id, kinds)
			}
		}
	})
}

// TestConcurrentUpdates: writers adding, replacing and deleting filters of
// one hook while readers classify through its Block (run it with -race):
// the readers never see a torn index, and afterwards the hook holds what
// the writers' successful calls say it should.
func TestConcurrentUpdates(t *testing.T) {
	ch := newTestChains()
	pool := pkt.NewPool(pkt.PoolConfig{})
	stop := make(chan struct{})
	var readers, writers sync.WaitGroup
	for w := range 2 {
		readers.Go(func() {
			p, err := pool.Get()
			if err != nil {
				t.Error(err)
				return
			}
			defer p.Release()
			_ = p.SetData(make([]byte, 60))
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				randomPacket(r, p)
				res := ch.Block().Classify(&act.Ctx{Worker: w}, p)
				if res.Matched && res.ClassID == 0 {
					t.Errorf("matched a filter without classid: %+v", res)
				}
			}
		})
	}
	const perWriter = 300
	live := make([]int, 4)
	for w := range 4 {
		writers.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			// Each writer owns the handles w*1000+1.. of prio 1, so
			// that it knows which of its filters exist.
			have := map[uint32]bool{}
			for i := range perWriter {
				h := uint32(w*1000 + 1 + r.IntN(50))
				dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, byte(w), byte(h)}), 32)
				switch {
				case have[h] && r.IntN(3) == 0:
					if err := ch.Delete(&Filter{Prio: 1, Handle: h}); err != nil {
						t.Errorf("delete %d: %v", h, err)
					}
					delete(have, h)
				default:
					f := &Filter{Prio: 1, Handle: h, Protocol: wire.EtherTypeIPv4, ClassID: uint32(i + 1),
						Classifier: &Flower{DstIP: &dst}, Actions: []act.Spec{&act.Gact{C: act.Common{Control: act.OK}}}}
					if err := ch.Add(f, act.ModeReplace); err != nil {
						t.Errorf("replace %d: %v", h, err)
					}
					have[h] = true
				}
				ch.ReleaseDead()
			}
			live[w] = len(have)
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	want := 0
	for _, n := range live {
		want += n
	}
	if got := len(ch.List(nil)); got != want || ch.Len() != want {
		t.Errorf("%d filters listed, Len %d, writers left %d", got, ch.Len(), want)
	}
}
