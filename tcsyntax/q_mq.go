package tcsyntax

import (
	"strconv"
	"strings"

	"netyard/qdisc"
	"netyard/qdisc/mq"
)

// mq and mqprio (tc/q_mqprio.c; tc has no q_mq.c, so mq takes no
// options and prints none). Both belong at the root of a multiqueue
// device, which the kernel checks, not tc: here the datapath does
// (mq.MQ.Validate, mq.MQPrio.Validate).
//
// "mqprio [num_tc N] [map P0 P1 ... P15] [queues COUNT@OFFSET ...] [hw
// 1|0]" starts from tc's defaults (mq.Defaults: 8 traffic classes, hw
// 1). As in tc, "map" and "queues" read values until a word that is not
// one, map entries not given are 0, and more queue pairs than num_tc is
// an error. Unlike tc, a keyword given twice is an error (there the
// second overwrites). The hardware options (mode, shaper, min_rate,
// max_rate, fp) are refused.
//
// Their classes are ClassViews the datapath builds: for mq, one per TX
// queue, mq.QueueClass(handle, queue) at the root with the queue's qdisc
// as leaf; for mqprio also one per traffic class, mq.TCClass(handle, tc)
// at the root without leaf, each queue class then having its traffic
// class as parent (mqprio_dump_class). tc prints no class options and
// neither kind has xstats.

func init() {
	RegisterQdisc(QdiscKind{Name: "mq", Parse: parseMQ, Print: func(*Writer, qdisc.Params) {}})
	RegisterQdisc(QdiscKind{Name: "mqprio", Parse: parseMQPrio, Print: printMQPrio, Format: formatMQPrio})
}

// parseMQ is tc's parse_noqopt for a kind it has no file for.
func parseMQ(a *Args, dev string) (qdisc.Params, error) {
	if a.More() {
		w := a.Next()
		return nil, syntaxErr(a.Context, w, "unknown word; mq takes no parameters")
	}
	return mq.MQ{}, nil
}

func parseMQPrio(a *Args, dev string) (qdisc.Params, error) {
	m := mq.Defaults()
	pairs := 0
	seen := map[string]bool{}
	for a.More() {
		w := a.Next()
		if seen[w] {
			return nil, duplicate(a.Context, w, a.Peek())
		}
		seen[w] = true
		switch w {
		case "num_tc", "hw":
			v, err := a.Value(w, "a number")
			if err != nil {
				return nil, err
			}
			n, ok := getU8(v, 10)
			if !ok {
				return nil, syntaxErr(a.Context, w, "%q: illegal %q: expected a number (0..255)", v, w)
			}
			if w == "num_tc" {
				m.NumTC = n
			} else {
				m.HW = n
			}
		case "map":
			i := 0
			for ; i < len(m.Map) && a.More(); i++ {
				tc, ok := getU8(a.Peek(), 10)
				if !ok {
					break
				}
				a.Next()
				m.Map[i] = tc
			}
			for ; i < len(m.Map); i++ {
				m.Map[i] = 0
			}
		case "queues":
			for i := 0; i < mq.MaxTC && a.More(); i++ {
				count, offset, ok := parseQueuePair(a.Peek())
				if !ok {
					break
				}
				a.Next()
				m.Count[i], m.Offset[i] = count, offset
				pairs++
			}
		case "mode", "shaper", "min_rate", "max_rate", "fp":
			return nil, syntaxErr(a.Context, w, "not supported by netyard (mqprio hardware offload)")
		case "help":
			return nil, syntaxErr(a.Context, w, "usage: mqprio [num_tc NUMBER] [map P0 P1 ...] [queues count1@offset1 count2@offset2 ...] [hw 1|0]")
		default:
			return nil, unknownWord(a.Context, w, "argument", []string{"num_tc", "map", "queues", "hw"})
		}
	}
	if pairs > int(m.NumTC) {
		return nil, syntaxErr(a.Context, "queues", "queues count/offset pair count %d can not be higher than given num_tc %d", pairs, m.NumTC)
	}
	return m, nil
}

// parseQueuePair reads "COUNT@OFFSET" as tc does (strtok on "@", get_u16
// base 10 for each).
func parseQueuePair(s string) (count, offset uint16, ok bool) {
	c, o, found := strings.Cut(s, "@")
	if !found {
		return 0, 0, false
	}
	count, ok1 := getU16(c, 10)
	offset, ok2 := getU16(o, 10)
	return count, offset, ok1 && ok2
}

// printMQPrio is mqprio_print_opt as iproute2 6.1 prints what a current
// kernel dumps: "tc 3 map 2 2 1 0 2 2 2 2 2 2 2 2 2 2 2 2 ", then on
// indented lines "queues:(0:0) (1:1) (2:3) " (first and last queue of
// each traffic class), "mode:dcb" and "shaper:dcb". The last two appear
// because the kernel (since 6.3) always appends attributes after
// struct tc_mqprio_qopt; netyard has neither channel mode nor a shaper.
func printMQPrio(w *Writer, params qdisc.Params) {
	m, ok := params.(mq.MQPrio)
	if !ok {
		return
	}
	const indent = "\n             "
	w.Uint(PrintAny, "tc", "tc %d ", uint64(m.NumTC))
	w.Text("map ")
	w.OpenArray("map")
	for _, tc := range m.Map {
		w.Uint(PrintAny, "", "%d ", uint64(tc))
	}
	w.CloseArray()
	w.Text(indent + "queues:")
	w.OpenArray("queues")
	for i := 0; i < int(m.NumTC) && i < mq.MaxTC; i++ {
		w.OpenArray("")
		w.Uint(PrintAny, "", "(%d:", uint64(m.Offset[i]))
		// Computed as C's int and printed as %u.
		w.Uint(PrintAny, "", "%d) ", uint64(uint32(int32(m.Offset[i])+int32(m.Count[i])-1)))
		w.CloseArray()
	}
	w.CloseArray()
	w.String(PrintAny, "mode", indent+"mode:%s", "dcb")
	w.String(PrintAny, "shaper", indent+"shaper:%s", "dcb")
}

func formatMQPrio(params qdisc.Params) []string {
	m, ok := params.(mq.MQPrio)
	if !ok {
		return nil
	}
	d := mq.Defaults()
	var words []string
	if m.NumTC != d.NumTC {
		words = append(words, "num_tc", strconv.Itoa(int(m.NumTC)))
	}
	if m.Map != d.Map {
		words = append(words, "map")
		for _, tc := range m.Map {
			words = append(words, strconv.Itoa(int(tc)))
		}
	}
	last := -1
	for i := range m.Count {
		if m.Count[i] != 0 || m.Offset[i] != 0 {
			last = i
		}
	}
	if last >= 0 {
		words = append(words, "queues")
		for i := 0; i <= last; i++ {
			words = append(words, strconv.Itoa(int(m.Count[i]))+"@"+strconv.Itoa(int(m.Offset[i])))
		}
	}
	if m.HW != d.HW {
		words = append(words, "hw", strconv.Itoa(int(m.HW)))
	}
	return words
}
