package tcsyntax

import (
	"math"
	"slices"
	"strconv"

	"netyard/qdisc"
	"netyard/qdisc/prio"
)

// prio (tc/q_prio.c): "prio [bands N] [priomap P0 P1 ... P15]".
//
// As in tc, the priomap words follow "priomap" until the end of the line
// (or "bands"); entries not given keep tc's default map, which is not
// fitted to the number of bands: "prio bands 2" alone maps priorities to
// band 2 and is refused by the kernel (here by prio.New). tc lets an
// entry equal to the number of bands through, and so does the parser;
// prio.New refuses it as prio_tune does. "multiqueue" (bands per TX
// queue) is refused: prio.Params has no such mode, mqprio does it.
//
// prio keeps no statistics of its own and tc prints no class options:
// its classes (bands) are ClassViews with the band child's counters, see
// PrioClassView.

func init() {
	RegisterQdisc(QdiscKind{Name: "prio", Parse: parsePrio, Print: printPrio, Format: formatPrio})
}

func parsePrio(a *Args, dev string) (qdisc.Params, error) {
	p := prio.Defaults()
	pmap, bandsSet := false, false
	idx := 0
	for a.More() {
		w := a.Next()
		switch w {
		case "bands":
			v, err := a.Value(w, "a number of bands")
			if err != nil {
				return nil, err
			}
			if bandsSet {
				return nil, duplicate(a.Context, w, v)
			}
			// get_integer(..., 10); netyard reads no sign.
			n, ok := parseUint(v, 10, math.MaxInt32)
			if !ok {
				return nil, syntaxErr(a.Context, w, "%q: illegal \"bands\": expected a number of bands (%d..%d)", v, prio.MinBands, prio.MaxBands)
			}
			p.Bands, bandsSet = int(n), true
		case "priomap":
			if pmap {
				return nil, syntaxErr(a.Context, w, "duplicate priomap")
			}
			pmap = true
		case "multiqueue":
			return nil, syntaxErr(a.Context, w, "not supported by netyard (mqprio maps traffic classes to TX queues)")
		case "help":
			return nil, syntaxErr(a.Context, w, "usage: prio bands NUMBER priomap P1 P2 ...")
		default:
			if !pmap {
				return nil, unknownWord(a.Context, w, "parameter", []string{"bands", "priomap"})
			}
			band, ok := getU32(w, 10)
			switch {
			case !ok:
				return nil, syntaxErr(a.Context, w, "illegal \"priomap\" element: expected a band number")
			case int64(band) > int64(p.Bands):
				return nil, syntaxErr(a.Context, w, "\"priomap\" element is out of bands (bands %d)", p.Bands)
			case idx > prio.PrioMax:
				return nil, syntaxErr(a.Context, w, "\"priomap\" index > TC_PRIO_MAX=%d", prio.PrioMax)
			}
			p.Priomap[idx] = uint8(band)
			idx++
		}
	}
	return p, nil
}

// printPrio is prio_print_opt: "bands 3 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1
// 1 1 1", the map a JSON array.
func printPrio(w *Writer, params qdisc.Params) {
	p, ok := params.(prio.Params)
	if !ok {
		return
	}
	w.Uint(PrintAny, "bands", "bands %d ", uint64(p.Bands))
	w.Text("priomap")
	w.OpenArray("priomap")
	for _, b := range p.Priomap {
		w.Uint(PrintAny, "", " %d", uint64(b))
	}
	w.CloseArray()
}

func formatPrio(params qdisc.Params) []string {
	p, ok := params.(prio.Params)
	if !ok {
		return nil
	}
	var bands, pmap []string
	if p.Bands != prio.DefaultBands {
		bands = []string{"bands", strconv.Itoa(p.Bands)}
	}
	if p.Priomap != prio.DefaultPriomap {
		pmap = []string{"priomap"}
		for _, b := range p.Priomap {
			pmap = append(pmap, strconv.Itoa(int(b)))
		}
	}
	// The parser checks each entry against the bands known when it reads
	// it, 3 until "bands" is read. Entries above a smaller band count
	// can only be tc's defaults (at most 2), kept from "prio bands 1
	// priomap 0": they read back only before "bands".
	if slices.Max(p.Priomap[:]) > uint8(min(max(p.Bands, 0), 255)) {
		return append(pmap, bands...)
	}
	return append(bands, pmap...)
}

// PrioClassView returns band c of the prio with handle h on dev as "tc
// class show" lists it (prio_dump_class, prio_dump_class_stats): class
// h:band+1 under the qdisc, leaf the band's qdisc (leaf, its handle; 0
// prints none), with that qdisc's counters.
func PrioClassView(dev string, h uint32, c prio.ClassStats, leaf uint32) ClassView {
	return ClassView{
		Dev: dev, Kind: "prio", Handle: h&0xffff0000 | c.Minor&0xffff, Parent: h & 0xffff0000,
		Leaf: leaf, Stats: c.Stats,
	}
}
