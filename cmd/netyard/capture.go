package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"time"

	"netyard/ctl"
	"netyard/datapath"
	"netyard/pkt"
)

// `netyard capture` streams an 802.11 device's frames from a running
// daemon as a radiotap pcap (docs/WIFI.md):
//
//	netyard capture [--socket PATH] [-n NETNS] dev NAME [monitor] [snap N] [count N] [file F|-]
//
// Without monitor it gets the frames the device's ingress hook keeps
// (the hook path: a radiotap header is built for those frames only);
// with monitor every frame the device receives, each a copy with a
// fresh radiotap header, as a Linux monitor interface. snap cuts each
// frame to its first N bytes of 802.11 frame; count stops after N frames;
// the pcap goes to file F, or to stdout with "file -" or when stdout is
// not a terminal. Interrupting (^C) ends the capture with whole records.
// The words travel to the daemon as an exec request whose first word is
// "capture"; the answer is the pcap byte stream.
const captureUsage = "usage: netyard capture [--socket PATH] [-n NETNS] dev NAME [monitor] [snap N] [count N] [file F|-]"

func cmdCapture(args []string, stdout, stderr io.Writer) error {
	f := tcFlags{socket: ctl.SocketPath()}
	args, err := f.parse(args)
	if err != nil {
		return err
	}
	file := ""
	var words []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-h", "--help", "help":
			fmt.Fprintln(stdout, captureUsage)
			return nil
		case "file":
			if i+1 >= len(args) {
				return fmt.Errorf("%w: file needs a path (or - for stdout)\n%s", errUsage, captureUsage)
			}
			file = args[i+1]
			i++
		default:
			words = append(words, args[i])
		}
	}
	if _, err := parseCapture(words); err != nil {
		return fmt.Errorf("%w: %v\n%s", errUsage, err, captureUsage)
	}
	out := stdout
	switch file {
	case "", "-":
		if file == "" && isTerminal(stdout) {
			return fmt.Errorf("%w: a pcap is not for a terminal: give file F, or pipe it (| tcpdump -r -)", errUsage)
		}
	default:
		fh, err := os.Create(file)
		if err != nil {
			return err
		}
		defer fh.Close()
		out = fh
	}
	c, err := ctl.Dial(f.socket)
	if err != nil {
		return dialError(f.socket, err)
	}
	defer c.Close()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var errb bytes.Buffer
	err = c.Exec(ctx, ctl.ExecRequest{Words: append([]string{"capture"}, words...)}, out, io.MultiWriter(stderr, &errb))
	if ctx.Err() != nil {
		return nil // interrupted: what arrived is written
	}
	if err != nil && errb.Len() > 0 {
		return errReported
	}
	return err
}

// captureReq is a parsed capture request.
type captureReq struct {
	netns, dev  string
	mode        datapath.ListenMode
	snap, count int
}

func parseCapture(words []string) (captureReq, error) {
	var r captureReq
	num := func(i int, what string) (int, error) {
		if i+1 >= len(words) {
			return 0, fmt.Errorf("%s needs a number", what)
		}
		n, err := strconv.Atoi(words[i+1])
		if err != nil || n < 0 || n > 1<<30 {
			return 0, fmt.Errorf("%s %q: expected a number >= 0", what, words[i+1])
		}
		return n, nil
	}
	for i := 0; i < len(words); i++ {
		var err error
		switch w := words[i]; w {
		case "-n", "netns", "dev":
			if i+1 >= len(words) {
				return r, fmt.Errorf("%s needs a name", w)
			}
			if w == "dev" {
				r.dev = words[i+1]
			} else {
				r.netns = words[i+1]
			}
			i++
		case "monitor":
			r.mode = datapath.ListenMonitor
		case "snap":
			r.snap, err = num(i, w)
			i++
		case "count":
			r.count, err = num(i, w)
			i++
		default:
			return r, fmt.Errorf("%q: unknown word; expected dev, monitor, snap, count, file, -n", w)
		}
		if err != nil {
			return r, err
		}
	}
	if r.dev == "" {
		return r, errors.New("capture needs dev NAME")
	}
	return r, nil
}

func isCaptureExec(words []string) bool { return len(words) > 0 && words[0] == "capture" }

// captureQueue bounds the frames waiting for the stream: beyond it the
// listener drops (and counts, in the session's summary and in the
// device's listener drops), so that a slow client never holds up the
// device's worker.
const captureQueue = 4096

type captureRec struct {
	p       *pkt.Buffer
	origLen int
	now     int64
}

// runCapture serves a capture request: it attaches a listener to the
// device and writes a pcap of link type 127 (nanosecond timestamps) to
// stdout, flushing after each batch of records, until count frames,
// the request's context ends, or a write fails (the client went away).
func runCapture(ctx context.Context, d *daemon, w *who, words []string, stdout, stderr io.Writer) error {
	fail := func(err error) error {
		fmt.Fprintf(stderr, "capture: %v\n", err)
		return err
	}
	req, err := parseCapture(words[1:])
	if err != nil {
		return fail(err)
	}
	t, err := d.resolve(w, req.netns)
	if err != nil {
		return fail(err)
	}
	nt, ok := t.(interface {
		Device(string) (*datapath.Device, error)
	})
	if !ok {
		return fail(fmt.Errorf("namespace %q has no devices", req.netns))
	}
	dev, err := nt.Device(req.dev)
	if err != nil {
		return fail(fmt.Errorf("dev %s: %w", req.dev, err))
	}
	ch := make(chan captureRec, captureQueue)
	var drops atomic.Uint64
	l, err := dev.Listen(req.mode, req.snap, datapath.FrameListenerFunc(func(p *pkt.Buffer, origLen int, now int64) {
		select {
		case ch <- captureRec{p, origLen, now}:
		default:
			// counted here for this session's summary, and in the
			// device for dev show -s and the metrics
			drops.Add(1)
			dev.ListenerDrop(p)
		}
	}))
	if err != nil {
		return fail(err)
	}
	// Frames are stamped with the datapath's clock; the pcap wants wall
	// time.
	base := time.Now().UnixNano() - d.e.Clock().Now()
	var n int
	defer func() {
		l.Close() // after it, nothing more enters ch
		for {
			select {
			case r := <-ch:
				r.p.Release()
			default:
				_, ld := l.Stats()
				fmt.Fprintf(stderr, "capture: %d frames written, %d dropped (queue full %d, listener %d)\n", n, drops.Load()+ld, drops.Load(), ld)
				return
			}
		}
	}()
	var buf bytes.Buffer
	hdr := make([]byte, 24)
	binary.LittleEndian.PutUint32(hdr[0:], 0xa1b23c4d) // nanosecond pcap
	binary.LittleEndian.PutUint16(hdr[4:], 2)
	binary.LittleEndian.PutUint16(hdr[6:], 4)
	binary.LittleEndian.PutUint32(hdr[16:], 65535)
	binary.LittleEndian.PutUint32(hdr[20:], datapath.LinkTypeRadiotap)
	buf.Write(hdr)
	flush := func() error {
		if _, err := stdout.Write(buf.Bytes()); err != nil {
			return err
		}
		buf.Reset()
		if f, ok := stdout.(interface{ Flush() error }); ok {
			return f.Flush()
		}
		return nil
	}
	if err := flush(); err != nil {
		return nil
	}
	var rec [16]byte
	for req.count == 0 || n < req.count {
		select {
		case <-ctx.Done():
			return nil
		case r := <-ch:
			for more := true; more; {
				ts := base + r.now
				data := r.p.Data()
				binary.LittleEndian.PutUint32(rec[0:], uint32(ts/1e9))
				binary.LittleEndian.PutUint32(rec[4:], uint32(ts%1e9))
				binary.LittleEndian.PutUint32(rec[8:], uint32(len(data)))
				binary.LittleEndian.PutUint32(rec[12:], uint32(max(r.origLen, len(data))))
				buf.Write(rec[:])
				buf.Write(data)
				r.p.Release()
				n++
				if req.count > 0 && n >= req.count {
					break
				}
				select {
				case r = <-ch:
				default:
					more = false
				}
			}
			if err := flush(); err != nil {
				return nil // the client went away
			}
		}
	}
	return nil
}
