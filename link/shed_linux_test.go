package link

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	ebpflink "github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"netyard/pkt"
)

// TestShedProgram runs the admission program in the kernel
// (BPF_PROG_TEST_RUN) at drop levels 0, all and half: it passes every
// frame, drops every frame, drops about half of them (the kernel's
// bpf_get_prandom_u32 decides), and counts each drop once.
func TestShedProgram(t *testing.T) {
	needRoot(t)
	ns := newNS(t)
	ns.veth(t, "nyp0", "nyp1")
	var s *shedder
	if err := ns.do(func() (err error) {
		s, err = openShedder("nyp0", ifindex(t, "nyp0"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer s.unmap()
	defer s.close()
	frame := udpFrame(1, 1)
	const runs = 4000
	for _, tc := range []struct {
		level    uint32
		min, max uint64 // drops of runs
	}{
		{0, 0, 0},
		{shedAll, runs, runs},
		{shedAll + 5, runs, runs}, // above all is all
		{shedAll / 2, runs * 4 / 10, runs * 6 / 10},
		{1, 0, 2}, // 1 in 65536
		{0, 0, 0},
	} {
		s.set(tc.level)
		before := s.dropped()
		var drops uint64
		for range runs {
			ret, err := s.prog.Run(&ebpf.RunOptions{Data: frame})
			if err != nil {
				t.Fatalf("BPF_PROG_TEST_RUN: %v", err)
			}
			switch ret {
			case xdpDrop:
				drops++
			case xdpPass:
			default:
				t.Fatalf("level %d: verdict %d", tc.level, ret)
			}
		}
		if drops < tc.min || drops > tc.max {
			t.Errorf("level %d: %d of %d frames dropped, want %d..%d", tc.level, drops, runs, tc.min, tc.max)
		}
		if n := s.dropped() - before; n != drops {
			t.Errorf("level %d: %d drops counted, %d seen", tc.level, n, drops)
		}
	}
}

// TestShedLevel checks RED's ramp and the watermarks for every ring size
// the backend makes (rxGeometry: 16 blocks and up).
func TestShedLevel(t *testing.T) {
	for _, blocks := range []int{16, 17, 32, 64, 128} {
		high, low := shedWatermarks(blocks)
		if !(0 < low && low < high && high < blocks) {
			t.Fatalf("%d blocks: watermarks low %d, high %d", blocks, low, high)
		}
		prev := uint32(0)
		for u := 0; u <= blocks; u++ {
			l := shedLevel(u, low, high)
			switch {
			case u <= low && l != 0:
				t.Errorf("%d blocks, %d unread (low %d): level %d, want 0", blocks, u, low, l)
			case u >= high && l != shedAll:
				t.Errorf("%d blocks, %d unread (high %d): level %d, want all", blocks, u, high, l)
			case l < prev:
				t.Errorf("%d blocks, %d unread: level %d below the previous %d", blocks, u, l, prev)
			}
			prev = l
		}
	}
}

func ifindex(tb testing.TB, name string) int {
	tb.Helper()
	ifi, err := unix.NewIfreq(name)
	if err != nil {
		tb.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifi); err != nil {
		tb.Fatal(err)
	}
	return int(ifi.Uint32())
}

// TestShedOverload offers an AF_PACKET port far more than its reader can
// take, in the configuration that made netyard collapse (issue 16): the
// kernel's receive processing of the port's veth steered by RPS to the
// reader's CPU, so that every offered frame costs that CPU the kernel's
// work whether or not the reader then takes it. The reader does a fixed
// amount of work on each frame, as a forwarder would. Its capacity is
// measured by the test itself: the rate at which it empties a full ring
// while nothing arrives (nothing else on its CPU but the machine's other
// jobs). Offered several times that, what it takes must stay near that
// capacity, the excess dropped by the shedding program (RxShed) on the
// sender's CPU rather than in the kernel's ring on the reader's. The two
// phases alternate, so that the machine's load lands on both alike.
//
// NETYARD_SHED=off runs the same with the program off, to see the
// collapse the test guards against (it then fails).
func TestShedOverload(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs: the sender's and the reader's")
	}
	ns := newNS(t)
	ns.veth(t, "nyo0", "nyo1")
	const senderCPU, readerCPU = 0, 1
	// The reader and the sender each hold a P the whole time: more Ps
	// than that, so that the rest (the receive and shed goroutines,
	// the test) never has to take the reader's.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	// The veth's receive processing on the reader's CPU (the kernel's
	// default for a veth is the sender's).
	run(t, "ip", "netns", "exec", ns.name, "sh", "-c",
		fmt.Sprintf("echo %x > /sys/class/net/nyo1/queues/rx-0/rps_cpus", 1<<readerCPU))
	pool := testPool(t)
	td := newTestDev(t, "eth0", 1)
	mode := ShedOn
	if os.Getenv("NETYARD_SHED") == "off" {
		mode = ShedOff
	}
	p := ns.open(t, td.Device, Spec{Kind: KindAFPacket, Link: "nyo1", Shed: mode}, Options{Pool: pool, Polled: true})
	a := p.b.(*afpacket)
	if a.shed != nil {
		a.shed.hold = 300 * time.Millisecond
	}
	p.Start()
	poller := td.RxPoller()

	// The reader: pinned to its CPU, it polls and works on each frame
	// for about perFrame (a forwarder's classification and
	// transmission): a fixed amount of work, not of time, so that the
	// kernel's work on the CPU slows it down as it slows a forwarder.
	const perFrame = 20 * time.Microsecond
	iters := calibrate(perFrame)
	var taken atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		pin(t, readerCPU)
		// As bench/forward.sh runs the daemon: at nice -10, so that
		// other jobs on a shared machine take less of its CPU.
		_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), -10)
		var buf [64]*pkt.Buffer
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := poller.PollRx(buf[:], 0)
			for i := range n {
				work(iters)
				buf[i].Release()
				buf[i] = nil
			}
			taken.Add(int64(n))
			if n == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	defer func() {
		close(stop)
		wg.Wait()
	}()

	snd := newSender(t, ns, "nyo0", senderCPU)
	defer snd.close()
	rate := func(f func()) float64 {
		t0, n0 := time.Now(), taken.Load()
		f()
		return float64(taken.Load()-n0) / time.Since(t0).Seconds()
	}
	// Each round measures the capacity and then the overload, and
	// their ratio; the test takes the median round, so that a round
	// in which other jobs took the reader's CPU in one phase and not
	// the other does not decide.
	const rounds = 7
	var ratios, caps, offers []float64
	for range rounds {
		// Capacity: fill the ring (more than the reader takes in the
		// window), then let the reader empty it with nothing arriving.
		// The sender keeps its CPU busy meanwhile (sending nothing),
		// so that the scheduler places the machine's other jobs as in
		// the overload phase.
		snd.send(400e3, 40*time.Millisecond)
		c := rate(func() { snd.send(0, 150*time.Millisecond) })
		// Overload.
		var sent int
		el := time.Now()
		o := rate(func() { sent = snd.send(400e3, 200*time.Millisecond) })
		offers = append(offers, float64(sent)/time.Since(el).Seconds()/c)
		caps = append(caps, c)
		ratios = append(ratios, o/c)
	}
	slices.Sort(ratios)
	slices.Sort(offers)
	slices.Sort(caps)
	ratio, offered, capacity := ratios[rounds/2], offers[rounds/2], caps[rounds/2]
	st := p.Stats()
	t.Logf("capacity %.0f frames/s (median round); offered %.1fx, taken %.2f of capacity (medians; rounds %.2f); shed %d, kernel ring drops %d",
		capacity, offered, ratio, ratios, st.RxShed, st.RxKernelDrops)
	if offered < 3 {
		t.Fatalf("the sender offered only %.1fx the capacity: no overload to test", offered)
	}
	if ratio < 0.75 {
		t.Errorf("overloaded at %.1fx, the reader took %.2f of its capacity (want >= 0.75)", offered, ratio)
	}
	if st.RxShed == 0 || st.RxShed < st.RxKernelDrops {
		t.Errorf("the excess was dropped in the kernel's ring (%d), not by the shedding program (%d)", st.RxKernelDrops, st.RxShed)
	}
	if a.shed == nil {
		return
	}
	if a.shed.attaches.Load() == 0 {
		t.Error("the shedding program was never attached")
	}
	// Once the ring is below the low watermark for the hold time, the
	// program goes: the veth's peer has its offloads back.
	deadline := time.Now().Add(a.shed.hold + 2*time.Second)
	for a.shed.isAttached() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if a.shed.isAttached() {
		t.Errorf("the program is still attached %v after the overload", a.shed.hold+2*time.Second)
	}
}

// sink keeps work's result alive.
var sink uint64

// work does n rounds of xorshift: a fixed amount of CPU work.
func work(n int) {
	x := sink | 1
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	sink = x
}

// calibrate returns the rounds of work that take about d, from the
// fastest of a few tries (the others were interrupted).
func calibrate(d time.Duration) int {
	const n = 1 << 16
	best := time.Duration(1 << 62)
	for range 5 {
		t0 := time.Now()
		work(n)
		best = min(best, time.Since(t0))
	}
	return max(1, int(float64(n)*float64(d)/float64(best)))
}

// pin moves the calling OS thread to cpu.
func pin(tb testing.TB, cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		tb.Errorf("sched_setaffinity: %v", err)
	}
}

// sender offers UDP frames on a link from a thread pinned to a CPU, with
// sendmmsg (qdisc bypassed, as netyard gen does), paced to a rate.
type sender struct {
	fd   int
	cpu  int
	msgs []mmsghdr
	iov  []unix.Iovec
}

// mmsghdr is struct mmsghdr (x/sys/unix has no sendmmsg).
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
	_   [4]byte
}

func newSender(tb testing.TB, ns *testNS, ifname string, cpu int) *sender {
	tb.Helper()
	s := &sender{fd: -1, cpu: cpu}
	err := ns.do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		s.fd = fd
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifindex(tb, ifname)})
	})
	if err != nil {
		tb.Fatalf("sender on %s: %v", ifname, err)
	}
	const batch = 32
	s.msgs, s.iov = make([]mmsghdr, batch), make([]unix.Iovec, batch)
	for i := range batch {
		f := udpFrame(uint16(1000+i), uint32(i))
		s.iov[i].Base = &f[0]
		s.iov[i].SetLen(len(f))
		s.msgs[i].hdr.Iov = &s.iov[i]
		s.msgs[i].hdr.Iovlen = 1
	}
	return s
}

// send offers rate frames/s for d from the sender's CPU and returns how
// many the kernel took (refused frames, a full queue, are not counted).
func (s *sender) send(rate float64, d time.Duration) (sent int) {
	done := make(chan int)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var set unix.CPUSet
		set.Set(s.cpu)
		_ = unix.SchedSetaffinity(0, &set)
		n := 0
		start := time.Now()
		for {
			el := time.Since(start)
			if el >= d {
				break
			}
			due := int(rate*el.Seconds()) - n
			if due <= 0 {
				// Ahead: spin rather than sleep, so that the
				// sender's CPU is as busy at every rate and the
				// scheduler moves other jobs alike in each phase.
				continue
			}
			k, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd), uintptr(unsafe.Pointer(&s.msgs[0])), uintptr(min(due, len(s.msgs))), 0, 0, 0)
			if e == 0 {
				n += int(k)
			} else {
				n++ // refused: the pace moves on
				sent--
			}
		}
		done <- n
	}()
	return sent + <-done
}

func (s *sender) close() { unix.Close(s.fd) }

// TestShedUnavailable: on an interface that already has an XDP program
// (another user's), an afpacket port works without shedding and the log
// says why; with shed on, Open fails and says so; with shed off it does
// not try.
func TestShedUnavailable(t *testing.T) {
	ns := newNS(t)
	ns.veth(t, "nyu0", "nyu1")
	other, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.XDP,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, xdpPass), asm.Return()},
		License:      "Dual MIT/GPL",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var l ebpflink.Link
	if err := ns.do(func() (err error) {
		l, err = ebpflink.AttachXDP(ebpflink.XDPOptions{Program: other, Interface: ifindex(t, "nyu0"), Flags: ebpflink.XDPGenericMode})
		return err
	}); err != nil {
		t.Fatalf("attaching another XDP program: %v", err)
	}
	defer l.Close()
	pool := testPool(t)

	var logs logBuffer
	p := ns.open(t, newTestDev(t, "eth0", 1).Device, Spec{Kind: KindAFPacket, Link: "nyu0"},
		Options{Pool: pool, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if p.Shed() != "" || !strings.Contains(logs.String(), "no load shedding") {
		t.Errorf("shed %q, log %q: want none, and the reason logged", p.Shed(), logs.String())
	}

	err = ns.do(func() error {
		p, err := Open(newTestDev(t, "eth1", 1).Device, Spec{Kind: KindAFPacket, Link: "nyu0", Shed: ShedOn}, Options{Pool: pool})
		if err == nil {
			p.Close()
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "shed on") {
		t.Errorf("shed on with another XDP program attached: %v, want an error", err)
	}

	logs = logBuffer{}
	p = ns.open(t, newTestDev(t, "eth2", 1).Device, Spec{Kind: KindAFPacket, Link: "nyu1", Shed: ShedOff},
		Options{Pool: pool, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if p.Shed() != "" || logs.String() != "" {
		t.Errorf("shed off: shed %q, log %q: want neither", p.Shed(), logs.String())
	}
}

// TestAdmitCountsUnreadBlocks: a queue's level is RED's ramp on the length
// of the run of blocks retired to the user from its next block, wherever
// the run starts and ends in the ring, and the port's level is the highest
// queue's.
func TestAdmitCountsUnreadBlocks(t *testing.T) {
	const blocks, blkSize = 64, 64
	var flag uint32
	a := &afpacket{shed: &shedder{flag: &flag, kick: make(chan struct{}, 1)}, levels: make([]atomic.Uint32, 2)}
	a.shedHigh, a.shedLow = shedWatermarks(blocks)
	q := &afQueue{a: a, rx: make([]byte, blocks*blkSize), blocks: blocks, blkSize: blkSize}
	status := func(k int) *uint32 {
		h := (*unix.TpacketHdrV1)(unsafe.Pointer(&q.rx[k*blkSize+blockHdrOff]))
		return &h.Block_status
	}
	for _, next := range []int{0, 5, blocks - 1} {
		for unread := 0; unread <= blocks; unread++ {
			for k := range blocks {
				*status(k) = unix.TP_STATUS_KERNEL
			}
			for k := range unread {
				*status((next + k) % blocks) = unix.TP_STATUS_USER
			}
			q.next = next
			q.admit()
			if want := shedLevel(unread, a.shedLow, a.shedHigh); q.shedLevel != want || flag != want {
				t.Errorf("next %d, %d unread: queue level %d, port level %d, want %d", next, unread, q.shedLevel, flag, want)
			}
		}
	}
	// This queue falling to 0 does not lower the port's level while
	// queue 1 is at all.
	a.levels[1].Store(shedAll)
	q.next = 0
	for k := range blocks {
		*status(k) = unix.TP_STATUS_KERNEL
	}
	q.admit()
	if flag != shedAll {
		t.Errorf("port level %d with queue 1 at all, want %d", flag, shedAll)
	}
}
