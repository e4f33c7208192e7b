package datapath

import (
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"netyard/bpf"
	"netyard/bpf/cbpf"
	"netyard/bpf/ebpf"
	"netyard/netdev"
	"netyard/pkt"
	"netyard/wifi/radiotap"
)

// classicProbes is wifi_probes.c's test in classic BPF, for direct
// action: frames of at least a management header whose frame control is
// a probe request's (0x40) and whose sender's OUI is watchedOUI return
// TC_ACT_OK (0), others TC_ACT_SHOT (2). (tcpdump -y IEEE802_11 'type mgt
// subtype probe-req and wlan[10:2] = 0x001b and wlan[12] = 0x63' says the
// same with tcpdump's return values, which are not verdicts.)
const classicProbes = "10,128 0 0 0,53 0 7 24,48 0 0 0,21 0 5 64,40 0 0 10,21 0 3 27,48 0 0 12,21 0 1 99,6 0 0 0,6 0 0 2"

// wifiRules are the rules of the benchmark (and of TestWifiHook, which
// checks that both keep the same frames): the same test as an eBPF program (the example)
// and as a classic one, each at the hook in direct-action mode.
var wifiRules = map[string]string{
	"ebpf":    "qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress bpf da obj " + examplesObj("wifi_probes.o") + " sec netyard/wifi\n",
	"classic": "qdisc add dev wlan0 clsact\nfilter add dev wlan0 ingress bpf da bytecode \"" + classicProbes + "\"\n",
}

// BenchmarkWifiMgmt is the figure (bench/wifi_mgmt.sh): per frame
// of one realistic stream (wifiStream: 1% probe requests from the
// watched OUI, beacons, data, other management frames), for the program
// as eBPF (the example) and as classic BPF, the cost of
//
//   - hook: the 802.11 receive path with the program at the ingress
//     hook; a radiotap header is built, in the buffer's headroom, for
//     the 1% kept only, and those go to a listener in another goroutine;
//   - monitor: the same path with no filter at the hook and a monitor
//     listener: every frame is copied with a fresh radiotap header and
//     handed to the listener's goroutine, which reads the radiotap
//     header (as a sniffer on a monitor interface must, to know the
//     signal and channel) and runs the same program on the frame,
//     keeping what it keeps;
//   - monitor-inline: the monitor's copy and header, with the program run
//     on the worker before any hand-over (the kernel's socket filter on
//     a monitor interface);
//   - program: the program alone, on the same frames;
//
// and, on the frames the program rejects only, hook-rejected against
// program-rejected (the hook's own cost beside the program's), and
// no-hook-rejected: the same frames through the receive path without a
// hook or a listener (what every received frame costs there, the
// benchmark's hold on the buffer included), so that hook-rejected less
// no-hook-rejected is what the hook adds.
//
// Listeners get frames through a ring their goroutine polls (a
// TPACKET_V3 reader's way: no wake-up per frame). The frames are in
// buffers made once (the driver's receive, the same for every path, is
// left out): each is held before the receive path runs, so that its
// release does not return it to the pool, and reused once every
// reference to it is gone. A listener's hand-over waits rather than
// drops here (the daemon's drops when its queue is full), so that every
// path does all its work; the time includes the listener draining its
// ring. Each reports wall time (ns/op) and the process's CPU time per
// frame (cpu-ns/frame: the worker's and the listener's goroutines
// together, which a loaded machine disturbs less).
func BenchmarkWifiMgmt(b *testing.B) {
	// 10,000 frames (20 MB of buffers): a kept frame's buffer comes
	// round again only after the listener's goroutine has polled.
	stream := wifiStream(10000)
	var rejected []wifiFrame
	for _, f := range stream {
		if f.kind != "probe" {
			rejected = append(rejected, f)
		}
	}
	for _, kind := range []string{"ebpf", "classic"} {
		b.Run(kind, func(b *testing.B) { benchWifi(b, wifiRules[kind], stream, rejected) })
	}
}

func benchWifi(b *testing.B, rules string, stream, rejected []wifiFrame) {
	setup := func(b *testing.B, rules string, frames []wifiFrame) (*Device, *worker, []*pkt.Buffer, bpf.Program) {
		e, d, pool := wifiEngine(b, rules, pkt.NewPool(pkt.PoolConfig{}))
		bufs := make([]*pkt.Buffer, len(frames))
		for i, f := range frames {
			p, err := pool.Get()
			if err != nil {
				b.Fatal(err)
			}
			p.SetData(f.data)
			p.Radio = f.rx
			p.Time = int64(i + 1)
			bufs[i] = p
		}
		w := e.workers[0]
		w.ctx.Dev, w.ctx.BPF.Link, w.ctx.Now, w.ctx.Ingress = d.nd.Index(), bpf.LinkIEEE80211, 1, true
		w.ctx.BPF.Ifindex, w.ctx.BPF.Ingress = d.nd.Index(), true
		return d, w, bufs, progOf(b, e, rules)
	}
	run := func(b *testing.B, d *Device, w *worker, bufs []*pkt.Buffer) {
		for i := 0; i < b.N; i++ {
			p := bufs[i%len(bufs)]
			for p.Refs() != 1 { // a listener still has it
				runtime.Gosched()
			}
			p.Hold()
			d.receive(w, p)
		}
	}
	// listener hands frames to a goroutine through a ring that the
	// goroutine polls: it reads the radiotap header, runs filter (nil:
	// none) on the frame after it and releases it; wait returns once it
	// has drained the ring, with what filter kept.
	listener := func(env bpf.Env, filter bpf.Program) (FrameListener, func() int) {
		r := netdev.NewRing(4096)
		var stop atomic.Bool
		done := make(chan int)
		env.Scratch = nil // the program's own per-CPU scratch
		env.CPU = 1
		go func() {
			kept := 0
			var rx radiotap.Fields
			for {
				p := r.Pop()
				if p == nil {
					if stop.Load() && r.Len() == 0 {
						break
					}
					time.Sleep(200 * time.Microsecond)
					continue
				}
				n, _ := radiotap.Parse(p.Data(), &rx)
				_ = p.Pull(n)
				if filter == nil {
					kept++
				} else if v, err := filter.Run(p, &env); err == nil && v == 0 {
					kept++
				}
				p.Release()
			}
			done <- kept
		}()
		push := FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) {
			for !r.Push(p) {
				runtime.Gosched()
			}
		})
		return push, func() int {
			stop.Store(true)
			return <-done
		}
	}
	// timed runs body as the measured part: wall time and CPU time.
	timed := func(b *testing.B, body func()) {
		b.ReportAllocs()
		b.ResetTimer()
		t0 := cpuTime()
		body()
		b.ReportMetric(float64(cpuTime()-t0)/float64(b.N), "cpu-ns/frame")
	}
	cpu := func(f func(b *testing.B)) func(b *testing.B) { return f }
	hook := func(frames []wifiFrame) func(b *testing.B) {
		return func(b *testing.B) {
			d, w, bufs, _ := setup(b, rules, frames)
			l, wait := listener(w.ctx.BPF, nil)
			if _, err := d.Listen(ListenKept, 0, l); err != nil {
				b.Fatal(err)
			}
			timed(b, func() {
				run(b, d, w, bufs)
				wait()
			})
		}
	}
	program := func(frames []wifiFrame) func(b *testing.B) {
		return func(b *testing.B) {
			_, w, bufs, prog := setup(b, rules, frames)
			timed(b, func() {
				for i := 0; i < b.N; i++ {
					_, _ = prog.Run(bufs[i%len(bufs)], &w.ctx.BPF)
				}
			})
		}
	}
	b.Run("hook", cpu(hook(stream)))
	b.Run("monitor", cpu(func(b *testing.B) {
		// No filter at the hook: the program runs in the listener.
		d, w, bufs, _ := setup(b, "", stream)
		_, _, _, prog := setup(b, rules, stream[:1])
		l, wait := listener(w.ctx.BPF, prog)
		if _, err := d.Listen(ListenMonitor, 0, l); err != nil {
			b.Fatal(err)
		}
		kept := 0
		timed(b, func() {
			run(b, d, w, bufs)
			kept = wait()
		})
		if b.N >= len(bufs) && kept == 0 {
			b.Fatal("the monitor's filter kept nothing")
		}
	}))
	b.Run("monitor-inline", cpu(func(b *testing.B) {
		d, w, bufs, _ := setup(b, "", stream)
		_, _, _, prog := setup(b, rules, stream[:1])
		env := w.ctx.BPF
		if _, err := d.Listen(ListenMonitor, 0, FrameListenerFunc(func(p *pkt.Buffer, _ int, _ int64) {
			_ = p.Pull(radiotap.Len(&p.Radio))
			_, _ = prog.Run(p, &env)
			p.Release()
		})); err != nil {
			b.Fatal(err)
		}
		timed(b, func() { run(b, d, w, bufs) })
	}))
	b.Run("program", cpu(program(stream)))
	b.Run("hook-rejected", cpu(hook(rejected)))
	b.Run("program-rejected", cpu(program(rejected)))
	// What any receive costs these frames without a hook (the frame
	// delivered and released; the benchmark's hold): hook-rejected
	// less this is what the hook adds.
	b.Run("no-hook-rejected", cpu(func(b *testing.B) {
		d, w, bufs, _ := setup(b, "", rejected)
		timed(b, func() { run(b, d, w, bufs) })
	}))
}

// progOf is the program of the rules' filter, loaded once more (the
// engine's loader for an object, cbpf for bytecode; an eBPF object's
// wifi_watch set to the watched OUI): what runs alone and in a
// monitor's listener.
func progOf(tb testing.TB, e *Engine, rules string) bpf.Program {
	if strings.Contains(rules, "bytecode") {
		insns, err := cbpf.Parse(classicProbes)
		if err != nil {
			tb.Fatal(err)
		}
		p, err := cbpf.Load(insns, "bytecode")
		if err != nil {
			tb.Fatal(err)
		}
		return p
	}
	p, err := e.LoadObject(e.Default().Name(), examplesObj("wifi_probes.o"), "netyard/wifi")
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range p.(*ebpf.Program).Maps() {
		if m.Spec().Name == "wifi_watch" {
			_ = m.Update([]byte{0, 0, 0, 0}, []byte{watchedOUI[0], watchedOUI[1], watchedOUI[2], 0}, 0)
		}
	}
	return p
}

// cpuTime is the process's CPU time (user and system) in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
