package tcsyntax

import (
	"netyard/qdisc"
	"netyard/qdisc/fifo"
)

// pfifo and bfifo (tc/q_fifo.c), and the clsact and ingress pseudo-qdiscs
// (tc/q_clsact.c, tc/q_ingress.c), which have no parameters.

func init() {
	RegisterQdisc(QdiscKind{Name: "pfifo", Parse: parseFifo(false), Print: printFifo, Format: formatFifo})
	RegisterQdisc(QdiscKind{Name: "bfifo", Parse: parseFifo(true), Print: printFifo, Format: formatFifo})
	RegisterQdisc(QdiscKind{
		Name: "clsact", Parse: noParams(qdisc.Clsact{}), Print: func(*Writer, qdisc.Params) {},
		Parent: qdisc.HandleIngress, Handle: HandleClsact,
	})
	RegisterQdisc(QdiscKind{
		Name: "ingress", Parse: noParams(qdisc.Ingress{}), Print: printIngress,
		Parent: qdisc.HandleIngress, Handle: HandleClsact,
	})
}

// parseFifo reads "[limit N]". As in q_fifo.c both kinds read the limit
// with get_size, so "pfifo limit 1k" is 1024 packets.
func parseFifo(bytes bool) func(a *Args, dev string) (qdisc.Params, error) {
	return func(a *Args, dev string) (qdisc.Params, error) {
		var limit uint32
		set := false
		for a.More() {
			w := a.Next()
			if w != "limit" {
				return nil, unknownWord(a.Context, w, "parameter", []string{"limit"})
			}
			v, err := a.Value("limit", "a size")
			if err != nil {
				return nil, err
			}
			if set {
				return nil, duplicate(a.Context, "limit", v)
			}
			if limit, err = ParseSize(v); err != nil {
				return nil, badValue(a.Context, "limit", v, "illegal limit: expected a size")
			}
			set = true
		}
		if bytes {
			return fifo.Bfifo{Limit: limit}, nil
		}
		return fifo.Pfifo{Limit: limit}, nil
	}
}

// printFifo is q_fifo.c's fifo_print_opt: "limit 1000p", "limit 10Kb".
// A limit of 0 is the default the datapath has not filled in; for pfifo
// that is the device's txqueuelen, fifo.DefaultLimit.
func printFifo(w *Writer, p qdisc.Params) {
	switch p := p.(type) {
	case fifo.Pfifo:
		l := p.Limit
		if l == 0 {
			l = fifo.DefaultLimit
		}
		w.Uint(PrintAny, "limit", "limit %dp", uint64(l))
	case fifo.Bfifo:
		w.Size(PrintAny, "limit", "limit %s", uint64(p.Limit))
	}
}

// printIngress is q_ingress.c's ingress_print_opt: a row of dashes, in
// text only.
func printIngress(w *Writer, _ qdisc.Params) { w.Text("---------------- ") }

func formatFifo(p qdisc.Params) []string {
	var l uint32
	switch p := p.(type) {
	case fifo.Pfifo:
		l = p.Limit
	case fifo.Bfifo:
		l = p.Limit
	}
	if l == 0 {
		return nil
	}
	return []string{"limit", itoa(uint64(l))}
}
