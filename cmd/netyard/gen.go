package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"netyard/wire"
)

// netyard gen: a traffic generator for finding a forwarder's limit, and a
// receive counter for the far side. It sends frames built from a template
// (UDP over IPv4 over Ethernet) or read from a capture through an AF_PACKET
// socket (sendmmsg, qdisc bypassed), at a given rate or as fast as the
// kernel takes them, and is always bounded: by a count, a duration, or
// both (default: 10 s). Like trafgen or tcpreplay --topspeed, but with the
// counts a benchmark needs: frames sent, frames the kernel refused
// (ENOBUFS: the device's queue was full), and the achieved rate.

// genConfig is what `netyard gen` runs with.
type genConfig struct {
	dev      string // send on this interface
	countRx  string // count what this interface receives instead
	srcMAC   net.HardwareAddr
	dstMAC   net.HardwareAddr
	srcIP    netip.Addr
	dstIP    netip.Addr
	sport    uint16
	dport    uint16
	size     int // frame length without FCS
	flows    int // source ports sport .. sport+flows-1
	pcap     string
	rate     float64 // frames a second; 0 as fast as possible
	count    uint64  // 0: no limit by count
	duration time.Duration
	wait     time.Duration // count-rx: wait this long before counting
	batch    int
}

// genResult is what a send run did.
type genResult struct {
	sent, refused, bytes uint64
	elapsed              time.Duration
}

// rxResult is what a count-rx run saw.
type rxResult struct {
	packets, bytes, dropped uint64
	elapsed                 time.Duration
}

// Limits on gen's flags: the frame must fit an AF_PACKET send of one
// jumbo frame, a pcap is loaded whole and so is bounded.
const (
	genMinSize    = 42 // Ethernet + IPv4 + UDP headers, no payload
	genMaxSize    = 9216
	genMaxBatch   = 1024
	genMaxFlows   = 65536
	genMaxPcap    = 1 << 20 // frames loaded from a capture
	genDefaultDur = 10 * time.Second
)

func cmdGen(args []string, stdout, stderr io.Writer) error {
	c, err := parseGen(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if c.countRx != "" {
		r, err := countRx(c)
		if err != nil {
			return err
		}
		secs := r.elapsed.Seconds()
		fmt.Fprintf(stdout, "rx %s: %d packets %d bytes in %.3f s: %.0f pps; dropped %d\n",
			c.countRx, r.packets, r.bytes, secs, float64(r.packets)/secs, r.dropped)
		return nil
	}
	frames, err := genFrames(c)
	if err != nil {
		return err
	}
	r, err := sendFrames(c, frames)
	if err != nil {
		return err
	}
	secs := r.elapsed.Seconds()
	fmt.Fprintf(stdout, "sent %d frames %d bytes in %.3f s: %.0f pps; refused %d\n",
		r.sent, r.bytes, secs, float64(r.sent)/secs, r.refused)
	return nil
}

// parseGen is gen's one flag parser: every check of the arguments is here,
// before anything is opened.
func parseGen(args []string, stderr io.Writer) (genConfig, error) {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c genConfig
	var srcMAC, dstMAC, srcIP, dstIP, rate, count string
	var sport, dport, size, flows, batch int
	fs.StringVar(&c.dev, "i", "", "send on interface `IF` (AF_PACKET, qdisc bypassed)")
	fs.StringVar(&c.countRx, "count-rx", "", "count what interface `IF` receives (its kernel counters) instead of sending")
	fs.StringVar(&srcMAC, "src-mac", "", "source `MAC` (default: the interface's)")
	fs.StringVar(&dstMAC, "dst-mac", "ff:ff:ff:ff:ff:ff", "destination `MAC`")
	fs.StringVar(&srcIP, "src-ip", "198.18.0.1", "source IPv4 `ADDR` (default from RFC 2544's benchmark range)")
	fs.StringVar(&dstIP, "dst-ip", "198.18.0.2", "destination IPv4 `ADDR`")
	fs.IntVar(&sport, "sport", 9, "UDP source `PORT` (the first of --flows)")
	fs.IntVar(&dport, "dport", 9, "UDP destination `PORT`")
	fs.IntVar(&size, "size", wire.MinFrameLen, "frame length in `BYTES`, without the FCS (60 is a 64-byte frame on the wire)")
	fs.IntVar(&flows, "flows", 1, "`N` flows: source ports sport..sport+N-1, sent in turn")
	fs.StringVar(&c.pcap, "pcap", "", "send the frames of capture `FILE` in a loop instead of a template")
	fs.StringVar(&rate, "rate", "0", "frames a second (`PPS`, k and M suffixes; 0: as fast as the kernel takes them)")
	fs.StringVar(&count, "count", "0", "stop after `N` frames (k and M suffixes; 0: no count limit)")
	fs.DurationVar(&c.duration, "duration", 0, "stop after `D` (e.g. 5s; default 10s when --count is not given)")
	fs.DurationVar(&c.wait, "wait", 0, "--count-rx: wait `D` before counting")
	fs.IntVar(&batch, "batch", 64, "frames per sendmmsg (`N`, 1.."+strconv.Itoa(genMaxBatch)+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, `usage: netyard gen -i IF [--dst-mac MAC] [--src-mac MAC] [--src-ip A] [--dst-ip A]
                  [--sport P] [--dport P] [--size BYTES] [--flows N] [--pcap FILE]
                  [--rate PPS] [--count N] [--duration D] [--batch N]
       netyard gen --count-rx IF [--duration D] [--wait D]

Sends UDP/IPv4 frames (or a capture's frames) on IF and reports the frames
sent, the frames the kernel refused, and the rate achieved. Always bounded:
--count, --duration or both (default --duration 10s). --count-rx counts
what IF receives over --duration (its kernel counters: no per-packet cost).`)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return c, err
		}
		return c, fmt.Errorf("%w: %v", errUsage, err)
	}
	bad := func(format string, a ...any) (genConfig, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{errUsage}, a...)...)
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if c.countRx != "" {
		if c.dev != "" {
			return bad("-i and --count-rx: one or the other")
		}
		for _, f := range []string{"src-mac", "dst-mac", "src-ip", "dst-ip", "sport", "dport", "size", "flows", "pcap", "rate", "count", "batch"} {
			if set[f] {
				return bad("--%s is for sending; --count-rx only takes --duration and --wait", f)
			}
		}
		if err := checkIfName(c.countRx); err != nil {
			return bad("--count-rx: %v", err)
		}
		if c.duration <= 0 {
			if set["duration"] {
				return bad("--duration %v: must be > 0", c.duration)
			}
			c.duration = genDefaultDur
		}
		if c.wait < 0 {
			return bad("--wait %v: must be >= 0", c.wait)
		}
		return c, nil
	}
	if c.dev == "" {
		return bad("give the interface to send on (-i IF) or to count on (--count-rx IF)")
	}
	if err := checkIfName(c.dev); err != nil {
		return bad("-i: %v", err)
	}
	if set["wait"] {
		return bad("--wait is for --count-rx")
	}
	if c.pcap != "" {
		for _, f := range []string{"src-mac", "dst-mac", "src-ip", "dst-ip", "sport", "dport", "size", "flows"} {
			if set[f] {
				return bad("--%s shapes the template; with --pcap the capture's frames are sent as they are", f)
			}
		}
	}
	var err error
	if srcMAC != "" {
		if c.srcMAC, err = parseMAC(srcMAC); err != nil {
			return bad("--src-mac: %v", err)
		}
	}
	if c.dstMAC, err = parseMAC(dstMAC); err != nil {
		return bad("--dst-mac: %v", err)
	}
	if c.srcIP, err = parseIPv4(srcIP); err != nil {
		return bad("--src-ip: %v", err)
	}
	if c.dstIP, err = parseIPv4(dstIP); err != nil {
		return bad("--dst-ip: %v", err)
	}
	if sport < 0 || sport > 0xffff || dport < 0 || dport > 0xffff {
		return bad("--sport %d, --dport %d: ports are 0..65535", sport, dport)
	}
	c.sport, c.dport = uint16(sport), uint16(dport)
	if flows < 1 || flows > genMaxFlows || sport+flows-1 > 0xffff {
		return bad("--flows %d: must be 1..%d, and --sport + flows - 1 at most 65535", flows, genMaxFlows)
	}
	c.flows = flows
	if size < genMinSize || size > genMaxSize {
		return bad("--size %d: must be %d..%d bytes (Ethernet, IPv4 and UDP headers at least)", size, genMinSize, genMaxSize)
	}
	c.size = size
	r, err := parseCount(rate)
	if err != nil {
		return bad("--rate %q: %v", rate, err)
	}
	c.rate = float64(r)
	if c.count, err = parseCount(count); err != nil {
		return bad("--count %q: %v", count, err)
	}
	if c.duration < 0 || (set["duration"] && c.duration == 0) {
		return bad("--duration %v: must be > 0", c.duration)
	}
	if c.count == 0 && c.duration == 0 {
		c.duration = genDefaultDur
	}
	if batch < 1 || batch > genMaxBatch {
		return bad("--batch %d: must be 1..%d", batch, genMaxBatch)
	}
	c.batch = batch
	return c, nil
}

// checkIfName applies the kernel's dev_valid_name rules.
func checkIfName(s string) error {
	if s == "" || len(s) > 15 || strings.ContainsAny(s, "/ \t\n:") || s == "." || s == ".." {
		return fmt.Errorf("interface name %q: must be 1..15 bytes without '/', ':' or spaces", s)
	}
	return nil
}

func parseMAC(s string) (net.HardwareAddr, error) {
	m, err := net.ParseMAC(s)
	if err != nil || len(m) != 6 {
		return nil, fmt.Errorf("%q is not an Ethernet address (aa:bb:cc:dd:ee:ff)", s)
	}
	return m, nil
}

func parseIPv4(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return a, fmt.Errorf("%q is not an IPv4 address", s)
	}
	return a, nil
}

// parseCount reads a whole number with an optional k (1000) or M
// (1000000) suffix: 800k, 1.2M.
func parseCount(s string) (uint64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"), strings.HasSuffix(s, "K"):
		mult, s = 1e3, s[:len(s)-1]
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, s[:len(s)-1]
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v*mult > 1e15 || v != v {
		return 0, errors.New("want a number >= 0, with k or M for thousands or millions")
	}
	n := v * mult
	if n != float64(uint64(n)) {
		return 0, errors.New("not a whole number")
	}
	return uint64(n), nil
}

// genFrames builds the frames to send: one per flow from the template, or
// the capture's.
func genFrames(c genConfig) ([][]byte, error) {
	if c.pcap != "" {
		return readPcapFrames(c.pcap)
	}
	src := c.srcMAC
	if src == nil {
		ifi, err := net.InterfaceByName(c.dev)
		if err != nil {
			return nil, fmt.Errorf("-i %s: %v", c.dev, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			return nil, fmt.Errorf("-i %s: not an Ethernet interface (give --src-mac)", c.dev)
		}
		src = ifi.HardwareAddr
	}
	payload := make([]byte, c.size-genMinSize)
	frames := make([][]byte, 0, c.flows)
	for i := range c.flows {
		s := wire.FrameSpec{
			SrcIP: c.srcIP, DstIP: c.dstIP, Proto: wire.ProtoUDP,
			SrcPort: c.sport + uint16(i), DstPort: c.dport, Payload: payload,
		}
		copy(s.Dst[:], c.dstMAC)
		copy(s.Src[:], src)
		f, err := wire.AppendFrame(make([]byte, 0, c.size), &s)
		if err != nil {
			return nil, fmt.Errorf("template: %v", err)
		}
		frames = append(frames, f)
	}
	return frames, nil
}

// readPcapFrames loads an Ethernet capture (pcap or pcapng) whole: the
// frames are sent in a loop, so they are read once.
func readPcapFrames(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var next func() ([]byte, int, error)
	var link layers.LinkType
	if r, err := pcapgo.NewReader(f); err == nil {
		link = r.LinkType()
		next = func() ([]byte, int, error) {
			d, ci, err := r.ReadPacketData()
			return d, ci.Length, err
		}
	} else {
		if _, serr := f.Seek(0, io.SeekStart); serr != nil {
			return nil, serr
		}
		ng, ngerr := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
		if ngerr != nil {
			return nil, fmt.Errorf("%s: not a pcap or pcapng capture: %v", path, err)
		}
		link = ng.LinkType()
		next = func() ([]byte, int, error) {
			d, ci, err := ng.ReadPacketData()
			return d, ci.Length, err
		}
	}
	if link != layers.LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %v: gen sends Ethernet frames only", path, link)
	}
	var frames [][]byte
	for n := 1; ; n++ {
		d, orig, err := next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: frame %d: %v", path, n, err)
		}
		if len(d) < wire.EthHeaderLen || len(d) > genMaxSize {
			return nil, fmt.Errorf("%s: frame %d: %d bytes: must be %d..%d", path, n, len(d), wire.EthHeaderLen, genMaxSize)
		}
		if len(d) < orig {
			return nil, fmt.Errorf("%s: frame %d: captured %d of its %d bytes (snaplen): gen would send it cut short", path, n, len(d), orig)
		}
		if len(frames) == genMaxPcap {
			return nil, fmt.Errorf("%s: more than %d frames: gen loads a capture whole; cut it (editcap -r)", path, genMaxPcap)
		}
		frames = append(frames, append([]byte(nil), d...))
	}
	if len(frames) == 0 {
		return nil, fmt.Errorf("%s: no frames", path)
	}
	return frames, nil
}
