package ebpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/cilium/ebpf/asm"

	"netyard/bpf"
	"netyard/pkt"
)

// progWithMaps assembles insns whose map loads name maps by their index
// in maps ("m0", "m1", ...).
func progWithMaps(t *testing.T, insns asm.Instructions, maps ...*Map) *Program {
	t.Helper()
	raw, err := FromAsm(insns, func(name string) (int, error) {
		var i int
		_, err := fmt.Sscanf(name, "m%d", &i)
		return i, err
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewProgram("t", raw, maps, 1)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestHelpersEnv: ktime_get_ns is the datapath's clock, get_prandom_u32
// the worker's seeded generator (replays repeat), get_smp_processor_id
// the worker.
func TestHelpersEnv(t *testing.T) {
	run := func(id asm.BuiltinFunc, env *bpf.Env) uint64 {
		p := progWithMaps(t, asm.Instructions{id.Call(), asm.Return()})
		r, err := p.Run(newBuf(t, corpus()[0].data), env)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if got := run(asm.FnKtimeGetNs, &bpf.Env{Now: 12345}); got != 12345 {
		t.Errorf("ktime_get_ns = %d", got)
	}
	if got := run(asm.FnGetSmpProcessorId, &bpf.Env{CPU: 3}); got != 3 {
		t.Errorf("get_smp_processor_id = %d", got)
	}
	seed1, seed2 := uint64(7), uint64(7)
	a, b := run(asm.FnGetPrandomU32, &bpf.Env{Rand: &seed1}), run(asm.FnGetPrandomU32, &bpf.Env{Rand: &seed2})
	if a != b || seed1 == 7 {
		t.Errorf("prandom not repeatable from a seed: %d %d (state %d)", a, b, seed1)
	}
}

// TestTracePrintk: the line goes to slog with the kernel's conversions,
// at most printkPerSecond a second of the datapath's clock.
func TestTracePrintk(t *testing.T) {
	var logs bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))
	defer slog.SetDefault(old)
	m, _ := NewMap(MapSpec{Name: ".rodata", Type: MapArray, KeySize: 4, ValueSize: 32, MaxEntries: 1,
		Contents: []byte("len %d proto %x s %s\n\x00")}, 1)
	p := progWithMaps(t, asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -8, 0x00697878, asm.Word), // "xxi"
		asm.LoadMapValue(asm.R1, 0, 0).WithReference("m0"),
		asm.Mov.Imm(asm.R2, 23),
		asm.LoadMem(asm.R3, asm.R6, skbLen, asm.Word),
		asm.LoadMem(asm.R4, asm.R6, skbProtocol, asm.Word),
		asm.Mov.Reg(asm.R5, asm.RFP), asm.Add.Imm(asm.R5, -8),
		asm.FnTracePrintk.Call(),
		asm.Return(),
	}, m)
	env := &bpf.Env{}
	for range 2 * printkPerSecond {
		if _, err := p.Run(newBuf(t, corpus()[0].data), env); err != nil {
			t.Fatal(err)
		}
	}
	want := fmt.Sprintf("len %d proto 8 s xxi", len(corpus()[0].data))
	if n := strings.Count(logs.String(), want); n != printkPerSecond {
		t.Fatalf("%d lines %q (want %d):\n%s", n, want, printkPerSecond, logs.String())
	}
}

// TestPerfAndRingbuf: perf_event_output and ringbuf_output records are
// readable by a client; a reserved record the program neither submits
// nor discards is discarded when it ends.
func TestPerfAndRingbuf(t *testing.T) {
	perf, _ := NewMap(MapSpec{Name: "events", Type: MapPerfEvent, KeySize: 4, ValueSize: 4, MaxEntries: 4}, 1)
	rb, _ := NewMap(MapSpec{Name: "rb", Type: MapRingbuf, MaxEntries: 4096}, 1)
	p := progWithMaps(t, asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.StoreImm(asm.RFP, -8, 0x11223344, asm.Word),
		asm.StoreImm(asm.RFP, -4, 0x55667788, asm.Word),
		// perf_event_output(ctx, events, BPF_F_CURRENT_CPU | 14 bytes of packet << 32, fp-8, 8)
		asm.Mov.Reg(asm.R1, asm.R6),
		asm.LoadMapPtr(asm.R2, 0).WithReference("m0"),
		asm.LoadImm(asm.R3, 14<<32|0xffffffff, asm.DWord),
		asm.Mov.Reg(asm.R4, asm.RFP), asm.Add.Imm(asm.R4, -8),
		asm.Mov.Imm(asm.R5, 8),
		asm.FnPerfEventOutput.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		// ringbuf_output(rb, fp-8, 8, 0)
		asm.LoadMapPtr(asm.R1, 0).WithReference("m1"),
		asm.Mov.Reg(asm.R2, asm.RFP), asm.Add.Imm(asm.R2, -8),
		asm.Mov.Imm(asm.R3, 8), asm.Mov.Imm(asm.R4, 0),
		asm.FnRingbufOutput.Call(),
		asm.Add.Reg(asm.R7, asm.R0),
		// reserve 16 bytes and forget it
		asm.LoadMapPtr(asm.R1, 0).WithReference("m1"),
		asm.Mov.Imm(asm.R2, 16), asm.Mov.Imm(asm.R3, 0),
		asm.FnRingbufReserve.Call(),
		asm.Mov.Reg(asm.R0, asm.R7),
		asm.Return(),
	}, perf, rb)
	pk := corpus()[0].data
	r, err := p.Run(newBuf(t, pk), &bpf.Env{})
	if err != nil || r != 0 {
		t.Fatalf("r0 %d err %v", r, err)
	}
	var recs []string
	perf.ReadRecords(func(b []byte) { recs = append(recs, fmt.Sprintf("%x", b)) })
	if want := fmt.Sprintf("4433221188776655%x", pk[:14]); len(recs) != 1 || recs[0] != want {
		t.Errorf("perf records %q, want [%s]", recs, want)
	}
	recs = nil
	rb.ReadRecords(func(b []byte) { recs = append(recs, fmt.Sprintf("%x", b)) })
	if len(recs) != 1 || recs[0] != "4433221188776655" {
		t.Errorf("ringbuf records %q", recs)
	}
	// the forgotten reservation did not block the ring
	if !rb.ring.output([]byte{1}) || rb.ReadRecords(func([]byte) {}) != 1 {
		t.Error("ring blocked by a record the program did not submit")
	}
}

// TestCloneRedirect: the helper hands the packet as it is at the call to
// the datapath's callback, and checks flags as the kernel does.
func TestCloneRedirect(t *testing.T) {
	p := progWithMaps(t, asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		asm.Mov.Imm(asm.R2, 4), asm.Mov.Imm(asm.R3, 1),
		asm.FnCloneRedirect.Call(),
		asm.Mov.Reg(asm.R7, asm.R0),
		asm.Mov.Reg(asm.R1, asm.R6), asm.Mov.Imm(asm.R2, 4), asm.Mov.Imm(asm.R3, 2),
		asm.FnCloneRedirect.Call(),
		asm.Add.Reg(asm.R0, asm.R7),
		asm.Return(),
	})
	var got []string
	env := &bpf.Env{CloneRedirect: func(b *pkt.Buffer, ifindex int32, flags uint64) int64 {
		got = append(got, fmt.Sprintf("%d %d %d", b.Len(), ifindex, flags))
		return 0
	}}
	r, err := p.Run(newBuf(t, corpus()[0].data), env)
	if err != nil {
		t.Fatal(err)
	}
	if int64(r) != -eINVAL || fmt.Sprint(got) != fmt.Sprintf("[%d 4 1]", len(corpus()[0].data)) {
		t.Fatalf("r0 %d, calls %q", int64(r), got)
	}
	r, _ = p.Run(newBuf(t, corpus()[0].data), &bpf.Env{})
	if int64(r) != -eOPNOTSUPP-eINVAL {
		t.Fatalf("without a callback: %d", int64(r))
	}
}

// TestL4CsumPartial: with CHECKSUM_PARTIAL (an offloaded checksum) only
// pseudo-header changes touch the field, as inet_proto_csum_replace4.
func TestL4CsumPartial(t *testing.T) {
	p := progWithMaps(t, asm.Instructions{
		asm.Mov.Imm(asm.R2, 50), asm.Mov.Imm(asm.R3, 0x01020304), asm.Mov.Imm(asm.R4, 0x05060708),
		asm.Mov.Imm(asm.R5, 4|0x10),
		asm.FnL4CsumReplace.Call(),
		asm.Return(),
	})
	b := newBuf(t, corpus()[0].data)
	b.CsumPartial = true
	before := binary.LittleEndian.Uint16(b.Data()[50:])
	if _, err := p.Run(b, &bpf.Env{}); err != nil {
		t.Fatal(err)
	}
	after := binary.LittleEndian.Uint16(b.Data()[50:])
	want := ^csumFold(csumAdd(csumSub(uint32(before), 0x01020304), 0x05060708))
	if after != want {
		t.Fatalf("partial pseudo-header update: %#x, want %#x", after, want)
	}
}
