package lab

// HTML reports of lab runs: one page per scenario with its tables, its
// plots as inline SVG drawn here, and its machine-readable data, and an
// index page. Everything is in the files: no script, style sheet, font or
// image is fetched, so a report opens offline and can be attached to an
// issue as it is.
//
// A scenario offers plots by leaving a []Plot in Report.Data under
// PlotsKey. Plot and Series are generic line charts (linear or log axes,
// several series, a legend), meant for any scenario's curves: latency
// CDFs, delay or throughput over time.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// PlotsKey is the Report.Data key under which a scenario leaves its
// []Plot for the HTML report.
const PlotsKey = "plots"

// Plot is a line chart: several series against shared axes.
type Plot struct {
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	XLog   bool     `json:"x_log,omitempty"`
	YLog   bool     `json:"y_log,omitempty"`
	Series []Series `json:"series"`
	// YZero makes a linear Y axis start at 0 even when the data do not
	// reach it (throughputs, fractions).
	YZero bool `json:"-"`
	// ID names the plot's SVG elements; plots inlined in one page need
	// different ones. Empty: made from the title.
	ID string `json:"-"`
}

// Series is one line of a plot: points (X[i], Y[i]) joined in order.
// Points that a log axis cannot show (<= 0) or that are not finite break
// the line.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool
}

// MarshalJSON writes a series' name and size only: the points are for the
// drawing, and the numbers they summarise are in the report's data.
func (s Series) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name   string `json:"name"`
		Points int    `json:"points"`
	}{s.Name, min(len(s.X), len(s.Y))})
}

// CDF is the empirical distribution of vals as a step line: for each
// value, the fraction of vals at or below it. At most maxPoints points are
// kept (evenly spaced in rank, the extremes always), which is plenty for a
// plot of a few hundred pixels.
func CDF(name string, vals []float64, maxPoints int) Series {
	v := slices.Clone(vals)
	slices.Sort(v)
	s := Series{Name: name}
	n := len(v)
	if n == 0 {
		return s
	}
	step := 1
	if maxPoints > 1 && n > maxPoints {
		step = (n + maxPoints - 2) / (maxPoints - 1)
	}
	for i := 0; i < n; i += step {
		s.X = append(s.X, v[i])
		s.Y = append(s.Y, float64(i+1)/float64(n))
	}
	if s.Y[len(s.Y)-1] != 1 {
		s.X = append(s.X, v[n-1])
		s.Y = append(s.Y, 1)
	}
	return s
}

// Thin reduces s to about maxPoints points by keeping, of each run of
// consecutive points, the lowest and the highest: spikes stay visible,
// which plain decimation would hide.
func Thin(s Series, maxPoints int) Series {
	n := min(len(s.X), len(s.Y))
	if maxPoints < 2 || n <= maxPoints {
		return s
	}
	out := Series{Name: s.Name, Dashed: s.Dashed}
	per := (2*n + maxPoints - 1) / maxPoints
	for i := 0; i < n; i += per {
		j := min(i+per, n)
		lo, hi := i, i
		for k := i; k < j; k++ {
			if s.Y[k] < s.Y[lo] {
				lo = k
			}
			if s.Y[k] > s.Y[hi] {
				hi = k
			}
		}
		a, b := min(lo, hi), max(lo, hi)
		out.X = append(out.X, s.X[a])
		out.Y = append(out.Y, s.Y[a])
		if b != a {
			out.X = append(out.X, s.X[b])
			out.Y = append(out.Y, s.Y[b])
		}
	}
	return out
}

// Plots returns the plots a report carries, if any.
func Plots(r *Report) []Plot {
	p, _ := r.Data[PlotsKey].([]Plot)
	return p
}

// plotPalette is Okabe and Ito's colour-blind safe palette, without its
// yellow, which does not show on white.
var plotPalette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"}

// Chart geometry, in SVG user units (pixels at 100%).
const (
	plotW, plotH   = 760, 380
	plotLeft       = 72
	plotRight      = 200 // room for the legend
	plotTop        = 34
	plotBottom     = 52
	plotTickLen    = 5
	plotMaxTicks   = 7
	plotLegendLine = 18
)

// axis maps data values to pixels along one direction.
type axis struct {
	log      bool
	decimals int     // for tick labels of a linear axis: enough for its step
	lo, hi   float64 // data range after rounding to ticks (log: exponents)
	p0, p1   float64 // pixels of lo and hi
	ticks    []float64
	minor    []float64
	fallback bool // no usable data: an arbitrary range
}

// newAxis fits an axis to vals. A log axis spans whole decades; a linear
// one is rounded to "nice" ticks (1, 2, 5 times a power of ten).
func newAxis(vals []float64, log, zero bool, p0, p1 float64) axis {
	a := axis{log: log, p0: p0, p1: p1}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, v := range vals {
		if !usable(v, log) {
			continue
		}
		if log {
			v = math.Log10(v)
		}
		lo, hi = min(lo, v), max(hi, v)
	}
	if lo > hi {
		a.fallback = true
		lo, hi = 0, 1
	}
	if zero && !log {
		lo, hi = min(lo, 0), max(hi, 0)
	}
	if log {
		lo, hi = math.Floor(lo), math.Ceil(hi)
		if hi == lo {
			hi = lo + 1
		}
		step := math.Ceil((hi - lo) / plotMaxTicks)
		for e := lo; e <= hi+1e-9; e += step {
			a.ticks = append(a.ticks, math.Pow(10, e))
		}
		if hi-lo <= 3 {
			for e := lo; e < hi; e++ {
				for _, m := range []float64{2, 5} {
					a.minor = append(a.minor, m*math.Pow(10, e))
				}
			}
		}
		a.lo, a.hi = lo, hi
		return a
	}
	if hi == lo {
		d := math.Max(math.Abs(lo)*0.1, 1)
		lo, hi = lo-d, hi+d
	}
	step := niceStep((hi - lo) / (plotMaxTicks - 1))
	lo = math.Floor(lo/step+1e-9) * step
	hi = math.Ceil(hi/step-1e-9) * step
	for i := 0; lo+float64(i)*step <= hi+step*1e-6; i++ {
		a.ticks = append(a.ticks, lo+float64(i)*step)
	}
	a.decimals = max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	a.lo, a.hi = lo, hi
	return a
}

// niceStep rounds a raw tick spacing up to 1, 2 or 5 times a power of 10.
func niceStep(raw float64) float64 {
	if raw <= 0 || math.IsInf(raw, 0) || math.IsNaN(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

func usable(v float64, log bool) bool {
	return !math.IsNaN(v) && !math.IsInf(v, 0) && (!log || v > 0)
}

// pos is the pixel of value v.
func (a *axis) pos(v float64) float64 {
	if a.log {
		v = math.Log10(v)
	}
	return a.p0 + (v-a.lo)/(a.hi-a.lo)*(a.p1-a.p0)
}

// label prints a tick value short: 0.5, 20, 1500, 2e+06; a linear axis
// with the decimals of its step, so that 3 * 0.2 reads 0.6.
func (a *axis) label(v float64) string {
	av := math.Abs(v)
	if av != 0 && (av >= 1e6 || av < 1e-3) {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	if a.log {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	if math.Abs(v) < math.Pow(10, -float64(a.decimals))/2 {
		v = 0 // not "-0"
	}
	return strconv.FormatFloat(v, 'f', a.decimals, 64)
}

// WriteSVG draws p as a standalone SVG document (it can be inlined in
// HTML as it is).
func (p *Plot) WriteSVG(w io.Writer) error {
	var b bytes.Buffer
	x0, x1 := float64(plotLeft), float64(plotW-plotRight)
	y0, y1 := float64(plotH-plotBottom), float64(plotTop)
	var xs, ys []float64
	for _, s := range p.Series {
		n := min(len(s.X), len(s.Y))
		xs = append(xs, s.X[:n]...)
		ys = append(ys, s.Y[:n]...)
	}
	ax := newAxis(xs, p.XLog, false, x0, x1)
	ay := newAxis(ys, p.YLog, p.YZero, y0, y1)

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s">`+"\n",
		plotW, plotH, plotW, plotH, esc(p.Title))
	fmt.Fprintf(&b, `<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%g" y="20" text-anchor="middle" font-size="15" font-weight="bold">%s</text>`+"\n", (x0+x1)/2, esc(p.Title))

	// Grid and ticks.
	b.WriteString(`<g stroke="#e4e4e4" stroke-width="1">` + "\n")
	for _, t := range ax.minor {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g" stroke="#f2f2f2"/>`+"\n", ax.pos(t), y0, ax.pos(t), y1)
	}
	for _, t := range ay.minor {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f" stroke="#f2f2f2"/>`+"\n", x0, ay.pos(t), x1, ay.pos(t))
	}
	for _, t := range ax.ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g"/>`+"\n", ax.pos(t), y0, ax.pos(t), y1)
	}
	for _, t := range ay.ticks {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`+"\n", x0, ay.pos(t), x1, ay.pos(t))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<g stroke="#333333" stroke-width="1"><line x1="%g" y1="%g" x2="%g" y2="%g"/><line x1="%g" y1="%g" x2="%g" y2="%g"/>`+"\n",
		x0, y0, x1, y0, x0, y0, x0, y1)
	for _, t := range ax.ticks {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%g" x2="%.1f" y2="%g"/>`+"\n", ax.pos(t), y0, ax.pos(t), y0+plotTickLen)
	}
	for _, t := range ay.ticks {
		fmt.Fprintf(&b, `<line x1="%g" y1="%.1f" x2="%g" y2="%.1f"/>`+"\n", x0-plotTickLen, ay.pos(t), x0, ay.pos(t))
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g font-size="11" fill="#333333">` + "\n")
	for _, t := range ax.ticks {
		fmt.Fprintf(&b, `<text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n", ax.pos(t), y0+plotTickLen+13, ax.label(t))
	}
	for _, t := range ay.ticks {
		fmt.Fprintf(&b, `<text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-plotTickLen-3, ay.pos(t)+4, ay.label(t))
	}
	b.WriteString("</g>\n")
	fmt.Fprintf(&b, `<text x="%g" y="%d" text-anchor="middle" font-size="12">%s</text>`+"\n", (x0+x1)/2, plotH-12, esc(p.XLabel))
	fmt.Fprintf(&b, `<text x="16" y="%g" text-anchor="middle" font-size="12" transform="rotate(-90 16 %g)">%s</text>`+"\n",
		(y0+y1)/2, (y0+y1)/2, esc(p.YLabel))
	if ax.fallback || ay.fallback {
		fmt.Fprintf(&b, `<text x="%g" y="%g" text-anchor="middle" font-size="13" fill="#888888">no data</text>`+"\n", (x0+x1)/2, (y0+y1)/2)
	}

	// Series, clipped to the plot area.
	fmt.Fprintf(&b, `<clipPath id="%s"><rect x="%g" y="%g" width="%g" height="%g"/></clipPath>`+"\n",
		plotClipID(p), x0, y1, x1-x0, y0-y1)
	fmt.Fprintf(&b, `<g fill="none" stroke-width="1.6" stroke-linejoin="round" clip-path="url(#%s)">`+"\n", plotClipID(p))
	for i, s := range p.Series {
		color := plotPalette[i%len(plotPalette)]
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		n := min(len(s.X), len(s.Y))
		var pts []string
		flush := func() {
			if len(pts) > 0 {
				fmt.Fprintf(&b, `<polyline stroke="%s"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for k := range n {
			if !usable(s.X[k], p.XLog) || !usable(s.Y[k], p.YLog) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", ax.pos(s.X[k]), ay.pos(s.Y[k])))
		}
		if len(pts) == 1 { // a lone point: draw it as a dot
			fmt.Fprintf(&b, `<circle cx="%s" r="2" fill="%s"/>`+"\n", strings.Replace(pts[0], ",", `" cy="`, 1), color)
			pts = pts[:0]
		}
		flush()
	}
	b.WriteString("</g>\n")

	// Legend, right of the plot area.
	b.WriteString(`<g font-size="12" fill="#222222">` + "\n")
	lx := x1 + 14
	for i, s := range p.Series {
		y := y1 + 8 + float64(i)*plotLegendLine
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 4"`
		}
		fmt.Fprintf(&b, `<line x1="%g" y1="%g" x2="%g" y2="%g" stroke="%s" stroke-width="2.5"%s/>`+"\n",
			lx, y, lx+22, y, plotPalette[i%len(plotPalette)], dash)
		fmt.Fprintf(&b, `<text x="%g" y="%g">%s</text>`+"\n", lx+28, y+4, esc(s.Name))
	}
	b.WriteString("</g>\n</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// plotClipID names a plot's clip path, from its ID or title.
func plotClipID(p *Plot) string {
	var b strings.Builder
	b.WriteString("clip-")
	name := p.ID
	if name == "" {
		name = p.Title
	}
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

// esc escapes text for XML and HTML alike.
func esc(s string) string { return template.HTMLEscapeString(s) }

// pageName is a scenario's page in the report directory.
func pageName(scenario string) string {
	var b strings.Builder
	for _, r := range scenario {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		b.WriteString("scenario")
	}
	return b.String() + ".html"
}

// reportCSS is the pages' only style, inline.
const reportCSS = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 980px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.summary { background: #f6f8fa; border-left: 4px solid #0072B2; padding: 0.5em 0.8em; }
svg.plot { display: block; margin: 1em 0; max-width: 100%; height: auto; border: 1px solid #eee; }
.wide { overflow-x: auto; }
pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
nav { font-size: 0.9em; }
`

var reportTemplates = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>netyard lab report</title>
<style>{{.CSS}}</style>
</head>
<body>
<h1>netyard lab report</h1>
<p>Scenarios run in virtual time by <code>netyard lab</code>; each page has its tables, plots and data.</p>
<table>
<tr><th>scenario</th><th>summary</th><th>plots</th></tr>
{{range .Pages}}<tr><td><a href="{{.File}}">{{.Scenario}}</a></td><td>{{.Summary}}</td><td class="num">{{len .Plots}}</td></tr>
{{end}}</table>
</body>
</html>
`))

var scenarioTemplate = template.Must(template.New("scenario").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>netyard lab: {{.Scenario}}</title>
<style>{{.CSS}}</style>
</head>
<body>
<nav><a href="index.html">all scenarios</a></nav>
<h1>{{.Scenario}}</h1>
<p class="summary">{{.Summary}}</p>
{{range .Tables}}<h2>{{.Title}}</h2>
<div class="wide"><table>
<tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table></div>
{{end}}{{if .Plots}}<h2>plots</h2>
{{range .Plots}}{{.}}{{end}}{{end}}<h2>data</h2>
<pre>{{.JSON}}</pre>
</body>
</html>
`))

type reportPage struct {
	CSS      template.CSS
	File     string
	Scenario string
	Summary  string
	Tables   []Table
	Plots    []template.HTML
	JSON     string
}

// WriteHTML writes dir/index.html and a page per report, creating dir.
func WriteHTML(dir string, reports []*Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	var pages []reportPage
	for _, r := range reports {
		pg := reportPage{CSS: template.CSS(reportCSS), File: pageName(r.Scenario), Scenario: r.Scenario,
			Summary: r.Summary, Tables: r.Tables}
		for i, p := range Plots(r) {
			if p.ID == "" {
				p.ID = fmt.Sprintf("plot%d", i+1)
			}
			var b bytes.Buffer
			if err := p.WriteSVG(&b); err != nil {
				return err
			}
			// The SVG is built here with every text escaped (esc).
			pg.Plots = append(pg.Plots, template.HTML(b.String()))
		}
		data := make(map[string]any, len(r.Data))
		for k, v := range r.Data {
			if k != PlotsKey {
				data[k] = v
			}
		}
		js, err := json.MarshalIndent(data, "", "  ")
		if err != nil {
			return fmt.Errorf("report %s: %w", r.Scenario, err)
		}
		pg.JSON = string(js)
		var b bytes.Buffer
		if err := scenarioTemplate.Execute(&b, pg); err != nil {
			return fmt.Errorf("report %s: %w", r.Scenario, err)
		}
		if err := os.WriteFile(filepath.Join(dir, pg.File), b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		pages = append(pages, pg)
	}
	var b bytes.Buffer
	if err := reportTemplates.Execute(&b, struct {
		CSS   template.CSS
		Pages []reportPage
	}{template.CSS(reportCSS), pages}); err != nil {
		return fmt.Errorf("report index: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}
