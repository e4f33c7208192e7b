package tcsyntax

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// "dev" is netyard's object for the devices themselves: which real
// interface a datapath device moves frames through. A daemon's
// configuration starts with them, and `netyard tc dev add` adds one while
// it runs:
//
//	dev add NAME type afpacket link IFNAME [queues N] [mtu N] [shed on|off]
//	dev add NAME type xdp link IFNAME [queues N] [mode native|generic] [zerocopy] [mtu N]
//	dev add NAME type tap [link TAPNAME] [queues N] [mtu N]
//	dev add NAME type memory [link ethernet|ieee80211] [queues N] [mtu N]
//	dev add NAME type pcap file CAPTURE [speed N|rate PPS|topspeed] [loop N] [link ethernet|ieee80211] [queues N] [mtu N]
//	dev show [dev NAME]
//
// afpacket attaches to an existing interface (one end of a veth pair, a
// NIC) with AF_PACKET sockets and memory-mapped TPACKET_V3 rings; tap
// creates a TAP device (TAPNAME, default NAME) that the host's stack sees;
// xdp attaches to an existing interface with AF_XDP sockets and an XDP
// program (mode picks the driver's hook or the generic one, default: the
// driver's where it has one; zerocopy asks the driver to move frames in
// and out of netyard's memory itself), falling back to afpacket, with a
// logged reason, where the kernel or the driver does not allow AF_XDP;
// memory is a device with no wire, as `netyard daemon --dev NAME` makes;
// its link is its link layer, Ethernet unless "link ieee80211" makes it an
// 802.11 device (docs/WIFI.md). pcap is a memory device whose wire plays
// a capture in real time, as tcpreplay does: at the capture's pace, speed
// N times faster, rate PPS packets a second, or topspeed; loop N times (0:
// for ever); its link layer is the capture's.
// queues is the number of backend queues, which is also the device's TX
// queue count: the stack's TX queue q is the backend's queue q (AF_PACKET
// socket q, TAP file q with IFF_MULTI_QUEUE). shed is afpacket's load
// shedding: an XDP program that drops frames before the kernel works on
// them while netyard's receive ring is nearly full; by default it is
// attached where XDP can be (a logged reason elsewhere), "shed on" makes
// that an error, "shed off" leaves the interface alone.

// DevSpec is what "dev add" asks for.
type DevSpec struct {
	Name string
	// Type is "afpacket", "xdp", "tap" or "memory".
	Type string
	// Link is the interface afpacket or xdp attaches to, or the TAP's
	// name.
	Link string
	// Queues is the backend's (and the device's TX) queue count; 0
	// means 1.
	Queues int
	// MTU is the device's MTU; 0 means the attached interface's
	// (afpacket, xdp) or 1500.
	MTU int
	// Mode is xdp's XDP hook: "native", "generic", or "" for the
	// driver's where it has one.
	Mode string
	// ZeroCopy asks xdp for AF_XDP zero-copy.
	ZeroCopy bool
	// Shed is afpacket's load shedding: "on", "off", or "" for on where
	// XDP can be attached.
	Shed string
	// Netns is the namespace the device goes to ("netns NAME"; "" is
	// the command's own namespace).
	Netns string
	// Peer is a veth's other end ("type veth peer NAME [netns OTHER]"),
	// PeerNetns the namespace it goes to ("" is the device's own).
	Peer, PeerNetns string
	// LinkLayer is a memory or pcap device's link layer ("link
	// ethernet|ieee80211"; "" is Ethernet, or a pcap device's capture's).
	LinkLayer string
	// File is a pcap device's capture; Speed (a multiplier), Rate
	// (packets a second) or TopSpeed its pace (none: the capture's
	// own); Loop how many times it plays (0: once, -1: for ever).
	File     string
	Speed    float64
	Rate     float64
	TopSpeed bool
	Loop     int
}

// LinkLayers are the values of a memory or pcap device's link.
var LinkLayers = []string{"ethernet", "ieee80211"}

// DevView is a device as "dev show" shows it.
type DevView struct {
	DevSpec
	// Counters from the backend: frames handed in and out, and what it
	// dropped (including the kernel's ring drops).
	RxPackets, RxBytes, RxDropped uint64
	// RxErrors counts frames dropped as malformed on receive (shorter
	// than an Ethernet header).
	RxErrors                      uint64
	TxPackets, TxBytes, TxDropped uint64
	// Backend says how an xdp device runs: its XDP hook and copy or
	// zero-copy ("native copy"), or "afpacket" where it fell back.
	Backend string
	// Played is a pcap device's progress: packets injected, loops done,
	// and the error that stopped it ("" while it plays or when done).
	Played, Loops uint64
	PlayErr       string
	// Listeners are an 802.11 device's frame listeners (netyard capture
	// sessions) now; ListenerDrops the frames they lost (a slow client's
	// full queue, no buffer for a copy).
	Listeners, ListenerDrops uint64
}

// DevTarget is a Target that adds devices with backends (the daemon).
type DevTarget interface {
	AddDev(s DevSpec) error
	Devs(name string) ([]DevView, error)
}

// DevTypes are the device types "dev add" knows.
var DevTypes = []string{"afpacket", "xdp", "tap", "memory", "veth", "pcap"}

// XDPModes are the values of xdp's mode.
var XDPModes = []string{"native", "generic"}

func parseDevCmd(a *Args) (*Command, error) {
	verb, err := parseVerb(a, []verbRule{{"add", VerbAdd}, {"delete", VerbDelete}, {"show", VerbShow}, {"list", VerbShow}, {"ls", VerbShow}})
	if err != nil {
		return nil, err
	}
	c := &Command{Object: ObjDev, Verb: verb}
	if verb == VerbDelete {
		// "dev del NAME", or "dev del dev NAME" as show spells it.
		if a.Peek() == "dev" {
			a.Next()
		}
		v, err := a.Value("dev del", "a device name")
		if err != nil {
			return nil, err
		}
		if len(v) > 15 {
			return nil, badValue("dev", "del", v, "a device name is 1..15 bytes (IFNAMSIZ)")
		}
		c.Select.Dev = v
		if a.More() {
			return nil, syntaxErr("dev", a.Peek(), "unexpected word (one command a line)")
		}
		return c, nil
	}
	if verb == VerbShow {
		if a.More() {
			if w := a.Next(); w != "dev" {
				return nil, unknownWord("dev", w, "word", []string{"dev"})
			}
			v, err := a.Value("dev", "a device name")
			if err != nil {
				return nil, err
			}
			c.Select.Dev = v
		}
		if a.More() {
			return nil, syntaxErr("dev", a.Peek(), "unexpected word (one command a line)")
		}
		return c, nil
	}
	s := &DevSpec{}
	name, err := a.Value("dev add", "a device name")
	if err != nil {
		return nil, err
	}
	if len(name) > 15 {
		return nil, badValue("dev", "add", name, "a device name is 1..15 bytes (IFNAMSIZ)")
	}
	s.Name = name
	for a.More() {
		w := a.Next()
		switch w {
		case "type":
			v, err := a.Value("type", "a device type")
			if err != nil {
				return nil, err
			}
			known := false
			for _, t := range DevTypes {
				known = known || v == t
			}
			if !known {
				return nil, unknownWord("dev", v, "device type", DevTypes)
			}
			s.Type = v
		case "link":
			v, err := a.Value("link", "an interface name")
			if err != nil {
				return nil, err
			}
			if len(v) > 15 {
				return nil, badValue("dev", "link", v, "an interface name is 1..15 bytes (IFNAMSIZ)")
			}
			s.Link = v
		case "queues", "txqueues":
			v, err := a.Value(w, "a number of queues")
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return nil, badValue("dev", w, v, "expected 1..256")
			}
			s.Queues = n
		case "mtu":
			v, err := a.Value("mtu", "an MTU")
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 68 || n > 65535 {
				return nil, badValue("dev", "mtu", v, "expected 68..65535")
			}
			s.MTU = n
		case "mode":
			v, err := a.Value("mode", "an XDP mode")
			if err != nil {
				return nil, err
			}
			if v != XDPModes[0] && v != XDPModes[1] {
				return nil, unknownWord("dev", v, "XDP mode", XDPModes)
			}
			s.Mode = v
		case "zerocopy":
			s.ZeroCopy = true
		case "file":
			v, err := a.Value("file", "a capture file")
			if err != nil {
				return nil, err
			}
			s.File = v
		case "speed", "rate":
			v, err := a.Value(w, map[string]string{"speed": "a speed multiplier", "rate": "packets a second"}[w])
			if err != nil {
				return nil, err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || !(f > 0) || f > 1e9 {
				return nil, badValue("dev", w, v, "expected a number > 0")
			}
			if w == "speed" {
				s.Speed = f
			} else {
				s.Rate = f
			}
		case "topspeed":
			s.TopSpeed = true
		case "loop":
			v, err := a.Value("loop", "a loop count")
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > 1<<30 {
				return nil, badValue("dev", "loop", v, "expected 0 (for ever) or a count of plays")
			}
			s.Loop = n
			if n == 0 {
				s.Loop = -1
			}
		case "shed":
			v, err := a.Value("shed", "on or off")
			if err != nil {
				return nil, err
			}
			if v != "on" && v != "off" {
				return nil, unknownWord("dev", v, "shed value", []string{"on", "off"})
			}
			s.Shed = v
		case "netns":
			v, err := netnsName(a, w)
			if err != nil {
				return nil, err
			}
			if s.Peer != "" {
				s.PeerNetns = v
			} else {
				s.Netns = v
			}
		case "peer":
			if a.Peek() == "name" { // ip link's "peer name B"
				a.Next()
			}
			v, err := a.Value("peer", "a device name")
			if err != nil {
				return nil, err
			}
			if len(v) > 15 {
				return nil, badValue("dev", "peer", v, "a device name is 1..15 bytes (IFNAMSIZ)")
			}
			s.Peer = v
		default:
			return nil, unknownWord("dev", w, "word", []string{"type", "link", "queues", "mtu", "mode", "zerocopy", "shed", "netns", "peer", "file", "speed", "rate", "topspeed", "loop"})
		}
	}
	if s.Type == "memory" || s.Type == "pcap" {
		// A device with no interface: its link is its link layer.
		if s.Link != "" && s.Link != LinkLayers[0] && s.Link != LinkLayers[1] {
			return nil, unknownWord("dev", s.Link, "link layer (a "+s.Type+" device has no interface to attach to)", LinkLayers)
		}
		s.LinkLayer, s.Link = s.Link, ""
		if s.LinkLayer == "ethernet" && s.Type == "memory" {
			s.LinkLayer = ""
		}
	}
	paced := 0
	for _, b := range []bool{s.Speed > 0, s.Rate > 0, s.TopSpeed} {
		if b {
			paced++
		}
	}
	switch {
	case s.Type == "":
		return nil, syntaxErr("dev", "", "dev add needs type %v", DevTypes)
	case (s.Type == "afpacket" || s.Type == "xdp") && s.Link == "":
		return nil, syntaxErr("dev", "", "type %s needs link IFNAME: the interface to attach to", s.Type)
	case s.Type != "xdp" && s.Mode != "":
		return nil, syntaxErr("dev", "mode", "mode is for type xdp")
	case s.Type != "xdp" && s.ZeroCopy:
		return nil, syntaxErr("dev", "zerocopy", "zerocopy is for type xdp")
	case s.Type != "afpacket" && s.Shed != "":
		return nil, syntaxErr("dev", "shed", "shed is for type afpacket")
	case s.ZeroCopy && s.Mode == "generic":
		return nil, syntaxErr("dev", "zerocopy", "zerocopy needs the driver's XDP hook: not with mode generic")
	case s.Type == "veth" && s.Link != "":
		return nil, syntaxErr("dev", "link", "a %s device has no link", s.Type)
	case s.Type == "pcap" && s.File == "":
		return nil, syntaxErr("dev", "", "type pcap needs file CAPTURE: the capture it plays")
	case s.Type != "pcap" && (s.File != "" || paced > 0 || s.Loop != 0):
		return nil, syntaxErr("dev", pcapWords(s)[0], "file, speed, rate, topspeed and loop are for type pcap")
	case paced > 1:
		return nil, syntaxErr("dev", pcapWords(s)[2], "give one of speed, rate and topspeed: they are three paces")
	case s.Type == "veth" && s.Peer == "":
		return nil, syntaxErr("dev", "", "type veth needs peer NAME")
	case s.Type != "veth" && s.Peer != "":
		return nil, syntaxErr("dev", "peer", "peer is for type veth")
	case s.Peer == s.Name && s.PeerNetns == s.Netns:
		return nil, syntaxErr("dev", s.Peer, "a veth's peer needs a name of its own")
	}
	c.Dev = s
	return c, nil
}

func formatDev(s *DevSpec) []string {
	w := []string{s.Name, "type", s.Type}
	if s.Link != "" {
		w = append(w, "link", s.Link)
	}
	w = append(w, pcapWords(s)...)
	if s.LinkLayer != "" {
		w = append(w, "link", s.LinkLayer)
	}
	if s.Queues != 0 {
		w = append(w, "queues", itoa(uint64(s.Queues)))
	}
	if s.Mode != "" {
		w = append(w, "mode", s.Mode)
	}
	if s.ZeroCopy {
		w = append(w, "zerocopy")
	}
	if s.MTU != 0 {
		w = append(w, "mtu", itoa(uint64(s.MTU)))
	}
	if s.Shed != "" {
		w = append(w, "shed", s.Shed)
	}
	if s.Netns != "" {
		w = append(w, "netns", s.Netns)
	}
	if s.Peer != "" {
		w = append(w, "peer", s.Peer)
		if s.PeerNetns != "" {
			w = append(w, "netns", s.PeerNetns)
		}
	}
	return w
}

// pcapWords are a pcap device's words: file, pace, loop.
func pcapWords(s *DevSpec) []string {
	var w []string
	if s.File != "" {
		w = append(w, "file", s.File)
	}
	switch {
	case s.Speed > 0:
		w = append(w, "speed", strconv.FormatFloat(s.Speed, 'g', -1, 64))
	case s.Rate > 0:
		w = append(w, "rate", strconv.FormatFloat(s.Rate, 'g', -1, 64))
	case s.TopSpeed:
		w = append(w, "topspeed")
	}
	switch {
	case s.Loop < 0:
		w = append(w, "loop", "0")
	case s.Loop > 0:
		w = append(w, "loop", strconv.Itoa(s.Loop))
	}
	return w
}

func execDev(t Target, cmd *Command, opts Options, out io.Writer) error {
	dt, ok := t.(DevTarget)
	if !ok {
		return fmt.Errorf("dev: this target adds no devices (the daemon does; replay and the lab make their own)")
	}
	switch cmd.Verb {
	case VerbAdd:
		return dt.AddDev(*cmd.Dev)
	case VerbDelete:
		dd, ok := t.(DevDeleter)
		if !ok {
			return fmt.Errorf("dev: this target deletes no devices")
		}
		return dd.DelDev(cmd.Select.Dev)
	}
	views, err := dt.Devs(cmd.Select.Dev)
	if err != nil {
		return err
	}
	p := &Printer{opts}
	w := p.writer()
	for _, v := range views {
		w.Open("")
		w.String(PrintAny, "dev", "dev %s ", v.Name)
		w.String(PrintAny, "type", "type %s ", v.Type)
		if v.Link != "" {
			w.String(PrintAny, "link", "link %s ", v.Link)
		}
		if v.File != "" {
			w.String(PrintAny, "file", "file %s ", v.File)
			if pw := pcapWords(&v.DevSpec)[2:]; len(pw) > 0 {
				w.String(PrintText, "", "%s ", strings.Join(pw, " "))
			}
			w.Float(PrintJSON, "speed", "", v.Speed)
			w.Float(PrintJSON, "rate", "", v.Rate)
			w.Bool(PrintJSON, "topspeed", "", v.TopSpeed)
			// loop as the grammar says it: 0 for ever, else plays
			loop := int64(max(v.Loop, 1))
			if v.Loop < 0 {
				loop = 0
			}
			w.Int(PrintJSON, "loop", "", loop)
		}
		if v.LinkLayer != "" {
			w.String(PrintAny, "link_layer", "link %s ", v.LinkLayer)
		}
		w.Uint(PrintAny, "queues", "queues %d", uint64(max(v.Queues, 1)))
		if v.Mode != "" {
			w.String(PrintAny, "mode", " mode %s", v.Mode)
		}
		if v.ZeroCopy {
			w.Bool(PrintAny, "zerocopy", " zerocopy", true)
		}
		if v.MTU != 0 {
			w.Uint(PrintAny, "mtu", " mtu %d", uint64(v.MTU))
		}
		if v.Shed != "" {
			w.String(PrintAny, "shed", " shed %s", v.Shed)
		}
		if v.Backend != "" {
			w.String(PrintAny, "backend", " backend %s", v.Backend)
		}
		if v.Peer != "" {
			w.String(PrintAny, "peer", " peer %s", v.Peer)
			if v.PeerNetns != "" {
				w.String(PrintAny, "peer_netns", " netns %s", v.PeerNetns)
			}
		}
		w.NL()
		if opts.Stats > 0 {
			w.Open("stats")
			w.Uint(PrintAny, "rx_packets", "    RX: %d packets", v.RxPackets)
			w.Uint(PrintAny, "rx_bytes", " %d bytes", v.RxBytes)
			w.Uint(PrintAny, "rx_dropped", " %d dropped", v.RxDropped)
			w.Uint(PrintAny, "rx_errors", " %d errors", v.RxErrors)
			w.NL()
			w.Uint(PrintAny, "tx_packets", "    TX: %d packets", v.TxPackets)
			w.Uint(PrintAny, "tx_bytes", " %d bytes", v.TxBytes)
			w.Uint(PrintAny, "tx_dropped", " %d dropped", v.TxDropped)
			w.NL()
			if v.Listeners+v.ListenerDrops > 0 || v.LinkLayer == "ieee80211" {
				w.Uint(PrintAny, "listeners", "    listeners: %d", v.Listeners)
				w.Uint(PrintAny, "listener_drops", " %d frames dropped", v.ListenerDrops)
				w.NL()
			}
			if v.File != "" {
				w.Uint(PrintAny, "played", "    played: %d packets", v.Played)
				w.Uint(PrintAny, "loops", " %d loops done", v.Loops)
				if v.PlayErr != "" {
					w.String(PrintAny, "error", " stopped: %s", v.PlayErr)
				}
				w.NL()
			}
			w.Close()
		}
		w.Close()
	}
	return p.flush(w, out)
}
