package ebpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	cebpf "github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"netyard/bpf"
	"netyard/internal/testutil"
)

// The kernel is the oracle: the same object runs in the kernel
// (BPF_PROG_TEST_RUN through cilium/ebpf's Program.Run, the kernel's
// verifier and JIT) and in netyard, packet by packet, and must give the
// same return value, the same packet bytes, the same __sk_buff fields the
// kernel hands back, and in the end the same map contents.

// ctxIn is the __sk_buff BPF_PROG_TEST_RUN starts from: the fields it
// takes from user space (mark, priority, ingress_ifindex, ifindex, cb,
// tstamp, ...). ifindex 1 is lo, which test_run's skb belongs to.
type ctxIn struct {
	mark, priority, ingress uint32
	cb                      [5]uint32
}

func (c ctxIn) bytes() []byte {
	b := make([]byte, skbSize)
	binary.LittleEndian.PutUint32(b[skbMark:], c.mark)
	binary.LittleEndian.PutUint32(b[skbPriority:], c.priority)
	binary.LittleEndian.PutUint32(b[skbIngressIfindex:], c.ingress)
	binary.LittleEndian.PutUint32(b[skbIfindex:], 1)
	for i, v := range c.cb {
		binary.LittleEndian.PutUint32(b[skbCB+4*i:], v)
	}
	return b
}

type runResult struct {
	ret      uint32
	data     []byte
	mark     uint32
	priority uint32
	cb       [5]uint32
}

func (r runResult) String() string {
	return fmt.Sprintf("ret %d mark %#x priority %d cb %v data %x", int32(r.ret), r.mark, r.priority, r.cb, r.data)
}

func needKernelBPF(t testing.TB) {
	testutil.NeedRoot(t, "BPF_PROG_TEST_RUN needs CAP_BPF and CAP_NET_ADMIN")
	if err := rlimit.RemoveMemlock(); err != nil {
		t.Fatalf("rlimit: %v", err)
	}
}

// kernelCollection loads an object into the kernel, pinning nothing.
func kernelCollection(t testing.TB, path string) *cebpf.Collection {
	spec, err := cebpf.LoadCollectionSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = cebpf.PinNone
		m.Extra = nil
	}
	coll, err := cebpf.NewCollection(spec)
	if err != nil {
		var ve *cebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("kernel verifier: %+v", ve)
		}
		t.Fatal(err)
	}
	t.Cleanup(func() { coll.Close() })
	return coll
}

// runKernel runs p in the kernel. BPF_PROG_TEST_RUN refuses (EINVAL) a
// frame whose EtherType is IPv4 or IPv6 without a whole IP header behind
// it; ok is false then.
func runKernel(t testing.TB, p *cebpf.Program, data []byte, in ctxIn) (r runResult, ok bool) {
	out := make([]byte, len(data)+256)
	ctxOut := make([]byte, skbSize)
	opts := &cebpf.RunOptions{Data: data, DataOut: out, Context: in.bytes(), ContextOut: ctxOut}
	ret, err := p.Run(opts)
	if errors.Is(err, unix.EINVAL) && ipTooShort(data) {
		return r, false
	}
	if err != nil {
		t.Fatalf("kernel test run (%d bytes, %+v): %v", len(data), in, err)
	}
	// cilium/ebpf trims opts.DataOut to the output size
	r = runResult{ret: ret, data: opts.DataOut,
		mark: binary.LittleEndian.Uint32(ctxOut[skbMark:]), priority: binary.LittleEndian.Uint32(ctxOut[skbPriority:])}
	for i := range r.cb {
		r.cb[i] = binary.LittleEndian.Uint32(ctxOut[skbCB+4*i:])
	}
	return r, true
}

func ipTooShort(d []byte) bool {
	switch ethProtocol(d) {
	case 0x0800:
		return len(d) < 14+20
	case 0x86dd:
		return len(d) < 14+40
	}
	return false
}

// runNetyard runs p as the harness runs it in the kernel: the device is
// lo (ifindex 1), the packet's metadata from the same __sk_buff input.
func runNetyard(t testing.TB, p *Program, data []byte, in ctxIn) (runResult, error) {
	b, err := testPool.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Release()
	if err := b.SetData(data); err != nil {
		t.Fatal(err)
	}
	b.Mark, b.Priority, b.Ingress = in.mark, in.priority, int32(in.ingress)
	env := &bpf.Env{Ifindex: 1, Ingress: true}
	var x skbExtra
	for i, v := range in.cb {
		binary.LittleEndian.PutUint32(x.cb[4*i:], v)
	}
	ret, err := p.runWith(b, env, &x)
	r := runResult{ret: uint32(ret), data: append([]byte(nil), b.Data()...), mark: b.Mark, priority: b.Priority}
	for i := range r.cb {
		r.cb[i] = binary.LittleEndian.Uint32(x.cb[4*i:])
	}
	return r, err
}

func mapEntries(t testing.TB, km *cebpf.Map, m *Map) (kernel, ours map[string]string) {
	kernel, ours = map[string]string{}, map[string]string{}
	if m.spec.Type == MapRingbuf || m.spec.Type == MapProgArray || m.spec.Type == MapPerfEvent {
		return
	}
	if m.percpu() {
		// sum per-CPU u64 counters: the kernel ran on some CPU, netyard on 0
		it := km.Iterate()
		var k []byte
		var vs [][]byte
		for it.Next(&k, &vs) {
			kernel[fmt.Sprintf("%x", k)] = fmt.Sprintf("%x", sumPerCPU(vs))
		}
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		m.Iterate(func(k, v []byte) bool {
			var vs [][]byte
			st := m.stride()
			for c := 0; c < m.ncpu; c++ {
				vs = append(vs, v[c*st:c*st+int(m.spec.ValueSize)])
			}
			ours[fmt.Sprintf("%x", k)] = fmt.Sprintf("%x", sumPerCPU(vs))
			return true
		})
		return
	}
	it := km.Iterate()
	var k, v []byte
	for it.Next(&k, &v) {
		kernel[fmt.Sprintf("%x", k)] = fmt.Sprintf("%x", v)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	m.Iterate(func(k, v []byte) bool {
		ours[fmt.Sprintf("%x", k)] = fmt.Sprintf("%x", v)
		return true
	})
	return
}

func sumPerCPU(vs [][]byte) []byte {
	if len(vs) == 0 {
		return nil
	}
	out := make([]byte, len(vs[0]))
	for off := 0; off+8 <= len(out); off += 8 {
		var s uint64
		for _, v := range vs {
			s += binary.LittleEndian.Uint64(v[off:])
		}
		binary.LittleEndian.PutUint64(out[off:], s)
	}
	return out
}

func diffMaps(t testing.TB, name string, kernel, ours map[string]string) {
	t.Helper()
	var keys []string
	for k := range kernel {
		keys = append(keys, k)
	}
	for k := range ours {
		if _, ok := kernel[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bad := 0
	for _, k := range keys {
		if kernel[k] != ours[k] {
			bad++
			if bad <= 5 {
				t.Errorf("map %s key %s: kernel %q, netyard %q", name, k, kernel[k], ours[k])
			}
		}
	}
	if bad > 5 {
		t.Errorf("map %s: %d keys differ", name, bad)
	}
}

func ringRecords(t testing.TB, km *cebpf.Map, m *Map) (kernel, ours []string) {
	rd, err := ringbuf.NewReader(km)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	for rd.AvailableBytes() > 0 {
		rec, err := rd.Read()
		if err != nil {
			t.Fatal(err)
		}
		kernel = append(kernel, fmt.Sprintf("%x", rec.RawSample))
	}
	m.ReadRecords(func(rec []byte) { ours = append(ours, fmt.Sprintf("%x", rec)) })
	return
}

// differential runs every program of the object at path over the corpus
// in the kernel and in netyard and compares.
func differential(t *testing.T, path string, only map[string]bool) {
	needKernelBPF(t)
	spec, err := cebpf.LoadCollectionSpec(path)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n, ps := range spec.Programs {
		if ps.Type == cebpf.SchedCLS && (only == nil || only[n]) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	inputs := []ctxIn{{}, {mark: 0x2a, priority: 5, ingress: 1, cb: [5]uint32{1, 2, 3, 4, 5}}}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			coll := kernelCollection(t, path)
			kp := coll.Programs[name]
			l := NewLoader(1)
			p, err := l.Load("test", bytes.NewReader(raw), name)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			var refused []corpusPacket
			for _, pk := range corpus() {
				for _, in := range inputs {
					k, ok := runKernel(t, kp, pk.data, in)
					if !ok {
						refused = append(refused, pk)
						continue
					}
					o, err := runNetyard(t, p, pk.data, in)
					if err != nil {
						t.Errorf("%s: netyard faulted: %v (kernel: %v)", pk.name, err, k)
						continue
					}
					if k.String() != o.String() {
						t.Errorf("%s %+v:\n kernel  %v\n netyard %v", pk.name, in, k, o)
					}
					n++
				}
			}
			for mn, km := range coll.Maps {
				i, ok := p.mapByName(mn)
				if !ok {
					continue
				}
				m := p.maps[i]
				if m.spec.Type == MapRingbuf {
					kr, or := ringRecords(t, km, m)
					if fmt.Sprint(kr) != fmt.Sprint(or) {
						t.Errorf("ringbuf %s: kernel %d records, netyard %d\n kernel  %v\n netyard %v", mn, len(kr), len(or), kr, or)
					}
					continue
				}
				ke, oe := mapEntries(t, km, m)
				diffMaps(t, mn, ke, oe)
			}
			// after the map comparison: frames the kernel cannot run must
			// not stop netyard's program either
			for _, pk := range refused {
				if _, err := runNetyard(t, p, pk.data, ctxIn{}); err != nil {
					t.Errorf("%s: netyard faulted: %v", pk.name, err)
				}
			}
			t.Logf("%d runs agree; %d frames the kernel's test run refuses (IP header cut) ran in netyard only", n, len(refused))
		})
	}
}

func TestKernelExamples(t *testing.T) {
	for _, ex := range []string{"flow_counter", "dscp_classifier", "sampler"} {
		t.Run(ex, func(t *testing.T) {
			differential(t, "../../examples/bpf/"+ex+".o", nil)
		})
	}
}

// TestKernelPrograms runs the test programs of testdata/progs.c: the
// context's fields, the ALU, loops, bpf-to-bpf calls, atomics, map
// helpers and their errors, packet rewriting with checksum helpers,
// redirect, legacy packet loads, tail calls.
func TestKernelPrograms(t *testing.T) {
	differential(t, "testdata/progs.o", nil)
}

// kernelProgram loads raw instructions into the kernel, or returns nil
// when its verifier rejects them.
func kernelProgram(t testing.TB, raw []RawInsn) *cebpf.Program {
	var b bytes.Buffer
	for _, r := range raw {
		var x [8]byte
		x[0], x[1] = r.Op, r.Dst|r.Src<<4
		binary.LittleEndian.PutUint16(x[2:], uint16(r.Off))
		binary.LittleEndian.PutUint32(x[4:], uint32(r.Imm))
		b.Write(x[:])
	}
	var insns asm.Instructions
	for b.Len() > 0 {
		var ins asm.Instruction
		if err := ins.Unmarshal(&b, binary.LittleEndian, "linux"); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		insns = append(insns, ins)
	}
	p, err := cebpf.NewProgram(&cebpf.ProgramSpec{Type: cebpf.SchedCLS, Instructions: insns, License: "GPL"})
	if err != nil {
		return nil
	}
	return p
}

// compareRandom generates a program from seed, and if the kernel's
// verifier accepts it, compares the two on the corpus. It reports whether
// the kernel accepted it.
func compareRandom(t testing.TB, seed uint64, pkts []corpusPacket) bool {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	raw := randProgram(rng, 8+rng.IntN(40))
	kp := kernelProgram(t, raw)
	p, err := NewProgram("random", raw, nil, 1)
	if kp == nil {
		return false
	}
	defer kp.Close()
	if err != nil {
		t.Fatalf("seed %d: the kernel accepts it, netyard does not: %v", seed, err)
	}
	in := ctxIn{mark: 0x2a, priority: 5, ingress: 1, cb: [5]uint32{1, 2, 3, 4, 5}}
	for _, pk := range pkts {
		k, ok := runKernel(t, kp, pk.data, in)
		if !ok {
			continue
		}
		o, err := runNetyard(t, p, pk.data, in)
		if err != nil {
			t.Fatalf("seed %d %s: netyard faulted: %v", seed, pk.name, err)
		}
		if k.String() != o.String() {
			t.Fatalf("seed %d %s:\n kernel  %v\n netyard %v\nprogram:\n%s", seed, pk.name, k, o, dump(raw))
		}
	}
	return true
}

func dump(raw []RawInsn) string {
	var b strings.Builder
	for i, r := range raw {
		fmt.Fprintf(&b, "%3d: op %#02x dst r%d src r%d off %d imm %d\n", i, r.Op, r.Dst, r.Src, r.Off, r.Imm)
	}
	return b.String()
}

// TestKernelRandomPrograms compares random programs (randProgram) that
// the kernel's verifier accepts. NETYARD_BPF_RANDOM=N runs N instead of
// 300.
func TestKernelRandomPrograms(t *testing.T) {
	needKernelBPF(t)
	n := 300
	if v, err := strconv.Atoi(os.Getenv("NETYARD_BPF_RANDOM")); err == nil {
		n = v
	}
	pkts := corpus()
	pkts = []corpusPacket{pkts[0], pkts[2], pkts[15], pkts[len(pkts)-1], pkts[len(pkts)/2]}
	accepted := 0
	for seed := uint64(0); seed < uint64(n); seed++ {
		if compareRandom(t, seed, pkts) {
			accepted++
		}
	}
	t.Logf("%d of %d random programs accepted by the kernel's verifier, all agree", accepted, n)
	if accepted < n/4 {
		t.Errorf("only %d of %d programs accepted: the generator no longer exercises much", accepted, n)
	}
}

// FuzzKernelRandom is TestKernelRandomPrograms as a fuzz target over the
// generator's seed.
func FuzzKernelRandom(f *testing.F) {
	f.Add(uint64(1))
	f.Add(uint64(42))
	pkts := corpus()
	pkts = []corpusPacket{pkts[0], pkts[2], pkts[15]}
	f.Fuzz(func(t *testing.T, seed uint64) {
		needKernelBPF(t)
		compareRandom(t, seed, pkts)
	})
}

// TestBenchKernelRatio measures, for the example programs on the same
// packets, the kernel JIT's time per run (BPF_PROG_TEST_RUN with repeat,
// the kernel's own average) and netyard's, and prints the ratio. It is
// bench/ebpf.sh's engine: NETYARD_BPF_BENCH=1 runs it.
//
// Both sides do the same work. The sampler shows why that needs care:
// nobody reads the kernel's ring buffer during a test run, so after
// 1,724 records (256 KiB) it is full and the kernel's runs return at the
// failed reservation (TestBenchSamplerKernelRingFills); netyard's rings
// are not read during its runs either. The sampler is measured twice:
// sampling 1 packet in 1,024 (sampler_cfg[0] = 1024 on both sides: fewer
// records than the ring holds, so every sampled packet is written in
// full), and sampling every packet with the ring full (the kernel's
// state in its test run, and netyard's).
func TestBenchKernelRatio(t *testing.T) {
	if os.Getenv("NETYARD_BPF_BENCH") == "" {
		t.Skip("a benchmark: NETYARD_BPF_BENCH=1 (bench/ebpf.sh) runs it")
	}
	needKernelBPF(t)
	const repeat = 200000
	for _, c := range []struct {
		label, name string
		every       uint32
	}{
		{"flow_counter", "flow_counter", 0},
		{"dscp_classifier", "dscp_classifier", 0},
		{"sampler_1in1024", "sampler", 1024},
		{"sampler_ringfull", "sampler", 0},
	} {
		path := "../../examples/bpf/" + c.name + ".o"
		coll := kernelCollection(t, path)
		kp := coll.Programs[c.name]
		p := loadExample(t, c.name)
		if c.every != 0 {
			if err := coll.Maps["sampler_cfg"].Put(uint32(0), c.every); err != nil {
				t.Fatal(err)
			}
			if err := p.maps[mustIdx(t, p, "sampler_cfg")].Update(u32(0), u32(c.every), 0); err != nil {
				t.Fatal(err)
			}
		}
		pks := benchPackets(t)
		env := &bpf.Env{Ifindex: 1, Scratch: NewScratch()}
		var kernelNs, ourNs float64
		for _, b := range pks {
			data := append([]byte(nil), b.Data()...)
			_, d, err := kp.Benchmark(data, repeat, nil)
			if err != nil {
				t.Fatal(err)
			}
			kernelNs += float64(d.Nanoseconds())
			for range 1000 { // warm the caches and the map as the kernel's first run does
				_, _ = p.Run(b, env)
			}
			// thread CPU time, as the kernel's test run leaves out the time
			// it was rescheduled (bpf_test_timer_continue): the machine is
			// shared
			runtime.LockOSThread()
			start := threadCPU()
			for i := 0; i < repeat; i++ {
				if _, err := p.Run(b, env); err != nil {
					t.Fatal(err)
				}
			}
			ourNs += float64(threadCPU()-start) / repeat
			runtime.UnlockOSThread()
		}
		kernelNs /= float64(len(pks))
		ourNs /= float64(len(pks))
		fmt.Printf("%-17s kernel JIT %6.1f ns/packet   netyard %6.1f ns/packet   ratio %.2fx\n", c.label, kernelNs, ourNs, ourNs/kernelNs)
	}
}

// TestBenchSamplerKernelRingFills: the kernel's sampler, sampling every
// packet in a test run of 200,000 repeats, leaves its 256 KiB ring full
// (1,724 records of 152 bytes) — so most of its runs returned at the
// failed reservation, which is why TestBenchKernelRatio does not compare
// that with netyard sampling every packet into a ring it drains.
func TestBenchSamplerKernelRingFills(t *testing.T) {
	needKernelBPF(t)
	coll := kernelCollection(t, "../../examples/bpf/sampler.o")
	data := append([]byte(nil), benchPackets(t)[0].Data()...)
	if _, _, err := coll.Programs["sampler"].Benchmark(data, 200000, nil); err != nil {
		t.Fatal(err)
	}
	rd, err := ringbuf.NewReader(coll.Maps["samples"])
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	n := 0
	for {
		rd.SetDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := rd.Read(); err != nil {
			break
		}
		n++
	}
	if want := (256 << 10) / (8 + 144); n != want {
		t.Fatalf("%d records in the kernel's ring after 200,000 runs, want it full (%d)", n, want)
	}
}

func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}
