package tcsyntax

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// "link" is netyard's own object for what a tc batch file cannot otherwise
// say about a device: its transmit rate, so that queues form in lab and
// replay as they do behind a real bottleneck.
//
//	link set dev DEV [rate RATE] [txqueues N] [xps CPU QUEUE[,QUEUE...]]
//	link show [dev DEV]
//
// RATE is read as tc reads rates (10mbit, 1gbit, 100kbps; 0 for none);
// txqueues is ethtool -L's channel count; xps is the XPS map entry of one
// worker (CPU), as /sys/class/net/DEV/queues/tx-N/xps_cpus sets it.
//
// The name follows iproute2's "ip link set", which is where a Linux user
// sets device properties; tc has no device rate of its own.

// LinkView is a device as "link show" shows it.
type LinkView struct {
	Dev      string
	Rate     uint64 // bytes a second; 0: unlimited
	TxQueues int
	MTU      int
}

// LinkTarget is a Target with devices whose rate can be set.
type LinkTarget interface {
	SetLinkRate(dev string, bytesPerSec uint64) error
	SetTxQueues(dev string, n int) error
	SetXPS(dev string, cpu int, queues []uint16) error
	Links(dev string) ([]LinkView, error)
}

// LinkSet is what one "link set" changes.
type LinkSet struct {
	Rate      uint64
	HasRate   bool
	TxQueues  int // 0: unchanged
	XPSCPU    int
	XPSQueues []uint16
	HasXPS    bool
}

func parseLinkCmd(a *Args) (*Command, error) {
	verb, err := parseVerb(a, []verbRule{{"set", VerbChange}, {"show", VerbShow}, {"list", VerbShow}, {"ls", VerbShow}})
	if err != nil {
		return nil, err
	}
	c := &Command{Object: ObjLink, Verb: verb}
	for a.More() {
		w := a.Next()
		switch {
		case w == "dev":
			v, err := a.Value("dev", "a device name")
			if err != nil {
				return nil, err
			}
			c.Select.Dev = v
		case w == "rate" && verb == VerbChange:
			v, err := a.Value("rate", "a rate such as 10mbit (0 for none)")
			if err != nil {
				return nil, err
			}
			r := uint64(0)
			if v != "0" {
				if r, err = ParseRate(v); err != nil {
					return nil, syntaxErr("link", v, "%v", err)
				}
				// A rate is held in bytes a second: below 8bit it
				// would be 0, which means "none" (line speed).
				if r == 0 {
					return nil, syntaxErr("link", v, "rate below 8bit (1 byte a second), the smallest a device holds; 0 is none")
				}
			}
			c.Link.Rate, c.Link.HasRate = r, true
		case w == "txqueues" && verb == VerbChange:
			v, err := a.Value("txqueues", "a number of TX queues")
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 256 {
				return nil, syntaxErr("link", v, "txqueues: expected 1..256")
			}
			c.Link.TxQueues = n
		case w == "xps" && verb == VerbChange:
			cpu, err := a.Value("xps", "a worker (CPU) number")
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(cpu)
			if err != nil || n < 0 {
				return nil, syntaxErr("link", cpu, "xps: expected a worker (CPU) number")
			}
			list, err := a.Value("xps", "a list of TX queues such as 0,2")
			if err != nil {
				return nil, err
			}
			var qs []uint16
			for _, f := range strings.Split(list, ",") {
				q, err := strconv.ParseUint(f, 10, 16)
				if err != nil {
					return nil, syntaxErr("link", list, "xps: expected TX queue numbers separated by commas")
				}
				qs = append(qs, uint16(q))
			}
			c.Link.XPSCPU, c.Link.XPSQueues, c.Link.HasXPS = n, qs, true
		default:
			expected := []string{"dev"}
			if verb == VerbChange {
				expected = append(expected, "rate", "txqueues", "xps")
			}
			return nil, unknownWord("link", w, "word", expected)
		}
	}
	if verb == VerbChange {
		if c.Select.Dev == "" {
			return nil, syntaxErr("link", "", "link set needs dev DEV")
		}
		if !c.Link.HasRate && c.Link.TxQueues == 0 && !c.Link.HasXPS {
			return nil, syntaxErr("link", "", "link set needs something to set: rate RATE, txqueues N or xps CPU QUEUES")
		}
	}
	return c, nil
}

func execLink(t Target, cmd *Command, opts Options, out io.Writer) error {
	lt, ok := t.(LinkTarget)
	if !ok {
		return fmt.Errorf("this target has no settable links")
	}
	if cmd.Verb == VerbChange {
		l := cmd.Link
		if l.TxQueues != 0 {
			if err := lt.SetTxQueues(cmd.Select.Dev, l.TxQueues); err != nil {
				return err
			}
		}
		if l.HasXPS {
			if err := lt.SetXPS(cmd.Select.Dev, l.XPSCPU, l.XPSQueues); err != nil {
				return err
			}
		}
		if l.HasRate {
			return lt.SetLinkRate(cmd.Select.Dev, l.Rate)
		}
		return nil
	}
	views, err := lt.Links(cmd.Select.Dev)
	if err != nil {
		return err
	}
	p := &Printer{opts}
	w := p.writer()
	for _, v := range views {
		w.Open("")
		w.String(PrintAny, "dev", "dev %s ", v.Dev)
		// JSON's rate is always a number (bytes a second, as tc's
		// JSON gives rates), 0 for none; the text says "unlimited".
		if v.Rate == 0 {
			w.String(PrintText, "rate", "rate %s ", "unlimited")
			w.Uint(PrintJSON, "rate", "", 0)
		} else {
			w.Rate(PrintAny, "rate", "rate %s ", v.Rate, opts.IEC)
		}
		w.Uint(PrintAny, "txqueues", "txqueues %d ", uint64(v.TxQueues))
		w.Uint(PrintAny, "mtu", "mtu %d", uint64(v.MTU))
		w.NL()
		w.Close()
	}
	return p.flush(w, out)
}
