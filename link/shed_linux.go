package link

// Load shedding for the AF_PACKET backend (issue 16): an XDP program on
// the attached interface that drops a share of the frames, rising with
// the unread part of netyard's receive ring, so that an overloaded
// netyard does not pay the kernel for frames it cannot forward.
//
//	sender's CPU: veth NAPI (native XDP) --> shed? --yes--> XDP_DROP (counted per CPU)
//	                                           |no
//	                                           v
//	              RPS --> netyard's CPU: backlog, __netif_receive_skb, tpacket_rcv --> ring
//
// Why: the kernel spends 0.5-1.9 us on the receiving CPU for every frame
// it offers an AF_PACKET socket (the RPS IPI, the backlog, the protocol
// taps, the copy into the ring or the drop at a full one), in softirq,
// ahead of any process. When the frames arrive faster than netyard
// forwards, that work for frames the full ring then drops takes the CPU
// netyard needed, and what it delivers falls with the offered load:
// delivered(k x)/capacity = (1 - kCs)/(1 - Cs), 0.35 at 3x on the
// project's machine (docs/PERFORMANCE.md). A NIC or a veth runs native
// XDP in its NAPI poll, on the CPU that took the interrupt (for a veth,
// the sender's), before RPS steers anything to netyard's CPU: a frame
// dropped there costs netyard's CPU nothing. Generic XDP (drivers without
// a native hook) runs after RPS, in __netif_receive_skb_core, and saves
// only the taps and the ring.
//
// The control: the program reads one u32 in a one-element array map that
// netyard has mapped into its memory (BPF_F_MMAPABLE), the drop level: the
// share of frames to drop, in 65536ths (shedAll drops every frame, 0
// none), the highest of the port's queues' levels. A queue's level rises
// linearly with the unread blocks of its ring, from 0 at shedLow to all at
// shedHigh: RED's ramp (Floyd and Jacobson, 1993) on the ring's occupancy,
// so that the admitted rate settles where netyard's CPU keeps up, the ring
// part full. An earlier on/off control (shed everything from shedHigh
// blocks until the ring was back to half) alternated between draining the
// ring and admitting everything: in the admitting half the kernel's work
// for every offered frame was back on netyard's CPU (the livelock the
// program is there to prevent) until the ring was full again: in
// TestShedOverload the kernel still dropped 11-13 thousand frames at the
// full ring, 1-6 thousand with the ramp (docs/PERFORMANCE.md). The level
// is computed where the ring is read
// (pull): one atomic load per batch while the ring is below shedLow, a
// binary search over the blocks (the kernel retires them in ring order)
// above it; a change is one atomic store to the shared page, no system
// call. A ring below shedLow (three quarters full) sheds nothing, so
// what the ring absorbed before (a worker descheduled for a while) it
// still absorbs.
//
// The program is attached only while it is needed: when a queue starts
// shedding, the port's shed goroutine attaches it (native, else generic),
// and detaches it once no queue has shed for shedHold. Attached natively
// to a veth, a program turns software GSO off on the peer (veth_xdp_set:
// the peer's TCP then sends MTU-sized segments, and a GSO frame netyard
// sends into the veth is refused), and veth copies every frame whose
// headroom is short of XDP's into a page of its own before running it,
// on the sender's CPU: a price worth paying while overloaded, not while
// forwarding at ease. Open attaches and detaches it once, so that a link
// that cannot have it is reported when the device is added.
//
// Drops are counted by the program in a per-CPU array (no shared cache
// line between the CPUs that drop), read with the port's statistics:
// Stats.RxShed, part of `dev show`'s RX dropped.

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// XDP verdicts (include/uapi/linux/bpf.h, enum xdp_action).
const (
	xdpDrop = 1
)

// shedHold is how long the drop level must have been 0 before the program
// is detached: long enough that a sustained overload, whose level may
// touch 0 now and then (the ring drained below shedLow for a moment),
// keeps it attached.
const shedHold = 2 * time.Second

// shedTick is how often the shed goroutine looks at the flag while the
// program is attached.
const shedTick = 100 * time.Millisecond

// shedder is a port's admission program, its maps and its attachment.
type shedder struct {
	ctl     *ebpf.Map // array, 1 x u32, mmapable: the drop level, in 65536ths
	drops   *ebpf.Map // per-CPU array, 1 x u64: frames dropped
	prog    *ebpf.Program
	ifindex int
	// netns is the network namespace Open ran in (ifindex is its): the
	// shed goroutine attaches from there.
	netns int
	mode  XDPMode // the hook Open's probe attached to
	mem   []byte  // ctl's mapping
	flag  *uint32 // the u32 the program reads

	// kick asks the shed goroutine to attach the program; attached
	// says it is (or is being) attached, so that the readers kick once.
	kick     chan struct{}
	attached atomic.Bool

	mu    sync.Mutex // xlink, final, closed
	xlink ebpflink.Link
	// final is the drop count read at close, after which the maps are
	// gone.
	final  uint64
	closed bool
	// attaches counts the attachments (tests).
	attaches atomic.Int32
	// hold is shedHold (tests shorten it).
	hold time.Duration
}

// shedWatermarks returns a ring's shedding thresholds in unread blocks:
// the ramp starts at three quarters (below it nothing is dropped: the
// ring absorbs what it absorbed before, a worker descheduled for a
// while) and drops every frame at all but two blocks (two blocks of room,
// ~400 small frames with 32 KiB blocks, for what is in flight when the
// level goes up).
func shedWatermarks(blocks int) (high, low int) {
	high = max(blocks-2, 2)
	return high, min(max(blocks*3/4, 1), high-1)
}

// shedAll is the drop level at which the program drops every frame: the
// program drops a frame when the top 16 bits of bpf_get_prandom_u32 are
// below the level.
const shedAll = 1 << 16

// shedLevel is RED's ramp: the drop level for a ring with unread blocks
// unread, 0 up to low, shedAll from high.
func shedLevel(unread, low, high int) uint32 {
	switch {
	case unread <= low:
		return 0
	case unread >= high:
		return shedAll
	}
	return uint32(shedAll * (unread - low) / (high - low))
}

// openShedder loads the program and maps, and attaches the program to
// the interface ifindex and detaches it again, to find the hook it will
// use: native where the driver has one, else generic. It fails (and
// leaves nothing behind) where XDP cannot be had: no BPF, no privileges,
// another XDP program on the interface.
func openShedder(link string, ifindex int) (_ *shedder, err error) {
	s := &shedder{ifindex: ifindex, netns: -1, kick: make(chan struct{}, 1), hold: shedHold}
	defer func() {
		if err != nil {
			s.close()
			s.unmap()
		}
	}()
	// The calling thread is in the link's namespace (Open's contract).
	if s.netns, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("network namespace: %w", err)
	}
	s.ctl, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "netyard_shed",
		Type:       ebpf.Array,
		KeySize:    4,
		ValueSize:  4,
		MaxEntries: 1,
		Flags:      unix.BPF_F_MMAPABLE,
	})
	if err != nil {
		return nil, fmt.Errorf("shed map: %w%s", err, privHint(err))
	}
	s.drops, err = ebpf.NewMap(&ebpf.MapSpec{
		Name:       "netyard_shed_n",
		Type:       ebpf.PerCPUArray,
		KeySize:    4,
		ValueSize:  8,
		MaxEntries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("shed counter map: %w", err)
	}
	s.mem, err = unix.Mmap(s.ctl.FD(), 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap of the shed map (Linux 5.5): %w", err)
	}
	s.flag = (*uint32)(unsafe.Pointer(&s.mem[0]))
	s.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "netyard_shed",
		Type:         ebpf.XDP,
		Instructions: shedProgram(s.ctl.FD(), s.drops.FD()),
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("shed program: %w%s", err, privHint(err))
	}
	var errs []error
	for _, m := range []XDPMode{XDPModeNative, XDPModeGeneric} {
		l, err := s.attachAt(m)
		if err == nil {
			s.mode = m
			return s, l.Close()
		}
		errs = append(errs, fmt.Errorf("%s: %w%s%s", m, err, privHint(err), attachHint(err)))
	}
	return nil, fmt.Errorf("attaching the shed program to %s: %w", link, errors.Join(errs...))
}

func (s *shedder) attachAt(m XDPMode) (ebpflink.Link, error) {
	flags := ebpflink.XDPGenericMode
	if m == XDPModeNative {
		flags = ebpflink.XDPDriverMode
	}
	return ebpflink.AttachXDP(ebpflink.XDPOptions{Program: s.prog, Interface: s.ifindex, Flags: flags})
}

// want is a reader's call when one of its queues starts shedding: the
// program is attached if it is not.
func (s *shedder) want() {
	if s.attached.Load() {
		return
	}
	s.attached.Store(true)
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// routineShed attaches the program when a queue asks (want) and detaches
// it once the flag has been 0 for shedHold, until done is closed. An
// attachment that fails (another program took the interface since Open)
// is logged and not retried for shedHold. wg is the port's.
func (s *shedder) routineShed(wg *sync.WaitGroup, done <-chan struct{}, log *slog.Logger, dev, link string) {
	defer wg.Done()
	// An XDP attachment names the interface by its index in the
	// caller's namespace: this goroutine's thread moves to the link's
	// and stays locked, so the runtime discards the thread when the
	// goroutine ends rather than reuse it elsewhere.
	runtime.LockOSThread()
	if err := unix.Setns(s.netns, unix.CLONE_NEWNET); err != nil {
		log.Warn("afpacket: no load shedding: cannot enter the link's network namespace", "dev", dev, "link", link, "err", err)
		<-done
		return
	}
	tick := time.NewTicker(shedTick)
	tick.Stop()
	defer tick.Stop()
	var quiet time.Duration
	for {
		select {
		case <-done:
			return
		case <-s.kick:
			s.mu.Lock()
			var err error
			if !s.closed && s.xlink == nil {
				s.xlink, err = s.attachAt(s.mode)
				if err == nil {
					s.attaches.Add(1)
				} else {
					s.xlink = nil
				}
			}
			s.mu.Unlock()
			if err != nil {
				log.Warn("afpacket: could not attach the load-shedding XDP program; overload drops stay in the kernel's ring",
					"dev", dev, "link", link, "mode", s.mode, "err", err)
				select {
				case <-done:
					return
				case <-time.After(s.hold):
				}
				s.attached.Store(false)
				// The queues ask only while attached is false; if the
				// level is still up, try again (at most once a hold).
				if atomic.LoadUint32(s.flag) != 0 {
					s.want()
				}
				continue
			}
			quiet = 0
			tick.Reset(shedTick)
		case <-tick.C:
			if atomic.LoadUint32(s.flag) != 0 {
				quiet = 0
				continue
			}
			if quiet += shedTick; quiet < s.hold {
				continue
			}
			tick.Stop()
			s.mu.Lock()
			if s.xlink != nil {
				_ = s.xlink.Close()
				s.xlink = nil
			}
			s.mu.Unlock()
			s.attached.Store(false)
			// A queue that raised its level between the last look
			// and the detach finds attached false only at its next
			// change of level: look once more.
			if atomic.LoadUint32(s.flag) != 0 {
				s.want()
			}
		}
	}
}

// isAttached reports whether the program is attached now.
func (s *shedder) isAttached() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.xlink != nil
}

// shedProgram is the admission program:
//
//	r1 = &ctl[0]                  // direct value access, no helper call
//	r6 = *(u32 *)r1               // the drop level
//	if r6 == 0 goto pass
//	if r6 >= shedAll goto count
//	r0 = bpf_get_prandom_u32()
//	r0 >>= 16
//	if r0 >= r6 goto pass
//	count: *(u32 *)(r10 - 4) = 0
//	r0 = bpf_map_lookup_elem(&drops, r10 - 4)   // this CPU's counter
//	if r0 == 0 goto drop
//	*(u64 *)r0 += 1               // per CPU: no other writer
//	drop: return XDP_DROP
//	pass: return XDP_PASS
func shedProgram(ctlFD, dropsFD int) asm.Instructions {
	return asm.Instructions{
		asm.LoadMapValue(asm.R1, ctlFD, 0),
		asm.LoadMem(asm.R6, asm.R1, 0, asm.Word),
		asm.JEq.Imm(asm.R6, 0, "pass"),
		asm.JGE.Imm(asm.R6, shedAll, "count"),
		asm.FnGetPrandomU32.Call(),
		asm.RSh.Imm(asm.R0, 16),
		asm.JGE.Reg(asm.R0, asm.R6, "pass"),
		asm.StoreImm(asm.R10, -4, 0, asm.Word).WithSymbol("count"),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.LoadMapPtr(asm.R1, dropsFD),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "drop"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("drop"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
}

// set publishes the drop level the program reads.
func (s *shedder) set(level uint32) { atomic.StoreUint32(s.flag, level) }

// dropped is the program's drop count, summed over the CPUs.
func (s *shedder) dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count()
}

// count is dropped under s.mu.
func (s *shedder) count() uint64 {
	if s.drops == nil {
		return s.final
	}
	var per []uint64
	if err := s.drops.Lookup(uint32(0), &per); err != nil {
		return s.final
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n
}

// close detaches the program (frames pass again at once) and frees the
// maps, keeping the drop count. The shed goroutine may still run: it
// attaches nothing after this. The flag stays mapped (the readers may
// still set levels) until unmap.
func (s *shedder) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.xlink != nil {
		_ = s.xlink.Close()
		s.xlink = nil
	}
	if s.drops != nil {
		s.final = s.count()
	}
	if s.prog != nil {
		_ = s.prog.Close()
		s.prog = nil
	}
	for _, m := range []**ebpf.Map{&s.ctl, &s.drops} {
		if *m != nil {
			_ = (*m).Close()
			*m = nil
		}
	}
}

// unmap releases the flag's mapping, once no reader can set it: after the
// port's rings are unmapped.
func (s *shedder) unmap() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.netns >= 0 {
		_ = unix.Close(s.netns)
		s.netns = -1
	}
	if s.mem != nil {
		_ = unix.Munmap(s.mem)
		s.mem, s.flag = nil, nil
	}
}
