package tcsyntax

import (
	"strconv"

	"netyard/qdisc"
	"netyard/wifi"
)

// wifi is netyard's own kind: the 802.11 transmitter model (package wifi)
// as a device's root queue, so that a tc batch file can make a device
// behave like a Wi-Fi interface in lab and replay:
//
//	qdisc add dev wlan0 root wifi [ rate RATE ] [ noac | ac ] [ nofairness ] [ seed N ]
//
// rate is the PHY rate (default 54Mbit), "noac" puts every packet in best
// effort (the comparison the lab's wifi scenario makes), "nofairness"
// turns airtime fairness between stations off, seed fixes the EDCA backoff
// draws. Everything else is mac80211's default (wifi.Defaults).

func init() {
	RegisterQdisc(QdiscKind{Name: "wifi", Parse: parseWifi, Print: printWifi, Format: formatWifi})
}

func parseWifi(a *Args, dev string) (qdisc.Params, error) {
	p := wifi.Defaults()
	seen := map[string]bool{}
	for a.More() {
		w := a.Next()
		key := w
		if w == "noac" || w == "ac" {
			key = "ac"
		}
		if seen[key] {
			return nil, syntaxErr(a.Context, w, "given twice")
		}
		seen[key] = true
		switch w {
		case "rate":
			v, err := a.Value("rate", "a PHY rate such as 54mbit")
			if err != nil {
				return nil, err
			}
			r, err := ParseRate(v)
			if err != nil || r == 0 {
				return nil, badValue(a.Context, "rate", v, "expected a PHY rate such as 54mbit")
			}
			p.Rate = r * 8 // wifi.Params.Rate is in bits a second
		case "ac":
			p.ACSeparation = true
		case "noac":
			p.ACSeparation = false
		case "nofairness":
			p.AirtimeFairness = false
		case "seed":
			v, err := a.Value("seed", "a number")
			if err != nil {
				return nil, err
			}
			n, err := strconv.ParseUint(v, 0, 64)
			if err != nil {
				return nil, badValue(a.Context, "seed", v, "expected a number")
			}
			p.Seed = n
		default:
			return nil, unknownWord(a.Context, w, "parameter", []string{"rate", "ac", "noac", "nofairness", "seed"})
		}
	}
	return p, nil
}

func printWifi(w *Writer, q qdisc.Params) {
	p := q.(wifi.Params)
	w.Rate(PrintAny, "rate", "rate %s ", p.Rate/8, false)
	w.Bool(PrintAny, "ac_separation", "", p.ACSeparation)
	if p.ACSeparation {
		w.Text("ac ")
	} else {
		w.Text("noac ")
	}
	w.Bool(PrintAny, "airtime_fairness", "", p.AirtimeFairness)
	if !p.AirtimeFairness {
		w.Text("nofairness ")
	}
	w.Uint(PrintAny, "seed", "seed %d", p.Seed)
}

func formatWifi(q qdisc.Params) []string {
	p := q.(wifi.Params)
	words := []string{"rate", FormatRate(p.Rate/8, false)}
	if p.ACSeparation {
		words = append(words, "ac")
	} else {
		words = append(words, "noac")
	}
	if !p.AirtimeFairness {
		words = append(words, "nofairness")
	}
	return append(words, "seed", strconv.FormatUint(p.Seed, 10))
}
