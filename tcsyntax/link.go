package tcsyntax

import (
	"fmt"
	"io"
)

// "link" is netyard's own object for what a tc batch file cannot otherwise
// say about a device: its transmit rate, so that queues form in lab and
// replay as they do behind a real bottleneck.
//
//	link set dev DEV rate RATE     (RATE as tc reads rates: 10mbit, 1gbit, 100kbps; 0 for none)
//	link show [dev DEV]
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
	Links(dev string) ([]LinkView, error)
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
			}
			c.LinkRate, c.HasLinkRate = r, true
		default:
			expected := []string{"dev"}
			if verb == VerbChange {
				expected = append(expected, "rate")
			}
			return nil, unknownWord("link", w, "word", expected)
		}
	}
	if verb == VerbChange {
		if c.Select.Dev == "" {
			return nil, syntaxErr("link", "", "link set needs dev DEV")
		}
		if !c.HasLinkRate {
			return nil, syntaxErr("link", "", "link set needs something to set: rate RATE")
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
		return lt.SetLinkRate(cmd.Select.Dev, cmd.LinkRate)
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
		if v.Rate == 0 {
			w.String(PrintAny, "rate", "rate %s ", "unlimited")
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
