package lab

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// svgXMLNS is the one URL a report may contain: the SVG namespace, a name
// that is never fetched.
const svgXMLNS = `xmlns="http://www.w3.org/2000/svg"`

var svgRE = regexp.MustCompile(`(?s)<svg.*?</svg>`)

// checkXML reports whether s is well-formed XML.
func checkXML(s string) error {
	d := xml.NewDecoder(strings.NewReader(s))
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// offlinePage checks that an HTML page parses and loads nothing from
// elsewhere: no script, no external style sheet, image, frame or object,
// no URL but the SVG namespace, no url() but references to its own ids,
// and SVG that is well-formed XML. It returns what is wrong, and the
// number of <svg> and <table> elements.
func offlinePage(page string) (problems []string, svgs, tables int) {
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	if strings.Contains(strings.ReplaceAll(page, svgXMLNS, ""), "http://") ||
		strings.Contains(page, "https://") {
		bad("refers to a URL")
	}
	for _, u := range regexp.MustCompile(`url\(([^)]*)\)`).FindAllStringSubmatch(page, -1) {
		if !strings.HasPrefix(u[1], "#") {
			bad("url(%s)", u[1])
		}
	}
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		bad("parse: %v", err)
		return problems, 0, 0
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.Data {
			case "script", "link", "img", "iframe", "object", "embed", "image", "use":
				bad("<%s> element", n.Data)
			case "svg":
				svgs++
			case "table":
				tables++
			}
			for _, a := range n.Attr {
				switch a.Key {
				case "src", "srcset", "xlink:href":
					bad("<%s %s=%q>", n.Data, a.Key, a.Val)
				case "href":
					if strings.Contains(a.Val, ":") || strings.HasPrefix(a.Val, "//") {
						bad("<%s href=%q> leaves the report", n.Data, a.Val)
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	for i, svg := range svgRE.FindAllString(page, -1) {
		if err := checkXML(svg); err != nil {
			bad("svg %d is not well-formed XML: %v", i+1, err)
		}
	}
	return problems, svgs, tables
}

// TestOfflineCheck: the check above finds each way a page could reach out.
func TestOfflineCheck(t *testing.T) {
	for _, tc := range []struct {
		name, page string
	}{
		{"script", `<html><body><script>x()</script></body></html>`},
		{"style sheet", `<html><head><link rel="stylesheet" href="s.css"></head></html>`},
		{"image", `<html><body><img src="a.png"></body></html>`},
		{"font", `<html><head><style>@font-face { src: url(f.woff) }</style></head></html>`},
		{"link out", `<html><body><a href="https://example.org/">x</a></body></html>`},
		{"svg image", `<html><body><svg xmlns="http://www.w3.org/2000/svg"><image xlink:href="a.png"/></svg></body></html>`},
		{"broken svg", `<html><body><svg><g></svg></body></html>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if problems, _, _ := offlinePage(tc.page); len(problems) == 0 {
				t.Error("not caught")
			}
		})
	}
	ok := `<html><body><a href="b.html">b</a><svg xmlns="http://www.w3.org/2000/svg"><g clip-path="url(#c)"></g></svg></body></html>`
	if problems, svgs, _ := offlinePage(ok); len(problems) != 0 || svgs != 1 {
		t.Errorf("a clean page: %v, %d svgs", problems, svgs)
	}
}

// TestWriteHTML writes the report of two scenarios, one with plots and one
// with tables only, and checks that every page opens offline and holds
// what its report has.
func TestWriteHTML(t *testing.T) {
	bb, err := runBufferbloat(nil)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := runRedirect(nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "report")
	if err := WriteHTML(dir, []*Report{bb, rd}); err != nil {
		t.Fatal(err)
	}
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	index := read("index.html")
	if problems, _, _ := offlinePage(index); len(problems) > 0 {
		t.Errorf("index.html: %v", problems)
	}
	for _, r := range []*Report{bb, rd} {
		file := pageName(r.Scenario)
		if !strings.Contains(index, `href="`+file+`"`) {
			t.Errorf("index.html does not link %s", file)
		}
		page := read(file)
		problems, svgs, tables := offlinePage(page)
		if len(problems) > 0 {
			t.Errorf("%s: %v", file, problems)
		}
		if svgs != len(Plots(r)) || tables != len(r.Tables) {
			t.Errorf("%s: %d plots, %d tables; the report has %d and %d", file, svgs, tables, len(Plots(r)), len(r.Tables))
		}
		if !strings.Contains(page, html.EscapeString(r.Summary)) {
			t.Errorf("%s: summary missing", file)
		}
		for _, p := range Plots(r) {
			if !strings.Contains(page, html.EscapeString(p.Title)) {
				t.Errorf("%s: plot %q missing", file, p.Title)
			}
		}
	}
	if len(Plots(bb)) < 3 || len(Plots(rd)) != 0 {
		t.Errorf("plots: bufferbloat %d, redirect %d", len(Plots(bb)), len(Plots(rd)))
	}
	// The data block is the report's JSON without the plots.
	if !strings.Contains(read(pageName("bufferbloat")), "voip_p99_ms") {
		t.Error("bufferbloat page: no voip_p99_ms in its data")
	}
}

// TestPlotSVG draws awkward plots: each must be well-formed XML, escape
// its text, and draw what can be drawn.
func TestPlotSVG(t *testing.T) {
	nan := math.NaN()
	for _, tc := range []struct {
		name  string
		plot  Plot
		lines int // polylines drawn
		dots  int // lone points
		has   []string
	}{
		{"no series", Plot{Title: "empty"}, 0, 0, []string{"no data"}},
		{"empty series", Plot{Title: "e", Series: []Series{{Name: "a"}}}, 0, 0, []string{"no data", ">a</text>"}},
		{"two series", Plot{Title: "t", Series: []Series{
			{Name: "a", X: []float64{0, 1, 2}, Y: []float64{1, 4, 9}},
			{Name: "b", X: []float64{0, 1, 2}, Y: []float64{2, 3, 4}, Dashed: true},
		}}, 2, 0, []string{`stroke-dasharray="6 4"`, plotPalette[0], plotPalette[1]}},
		{"log axes skip what they cannot show", Plot{Title: "log", XLog: true, YLog: true, Series: []Series{
			{Name: "a", X: []float64{1, 10, 0, 100, 1000}, Y: []float64{5, 50, 5, -1, 500}},
		}}, 1, 1, []string{">1000</text>", ">10</text>"}},
		{"NaN breaks the line", Plot{Title: "nan", Series: []Series{
			{Name: "a", X: []float64{0, 1, 2, 3, 4}, Y: []float64{1, 2, nan, 3, 4}},
		}}, 2, 0, nil},
		{"a constant", Plot{Title: "flat", Series: []Series{{Name: "a", X: []float64{5, 5}, Y: []float64{3, 3}}}}, 1, 0, nil},
		{"mismatched lengths", Plot{Title: "short", Series: []Series{{Name: "a", X: []float64{0, 1, 2}, Y: []float64{1}}}}, 0, 1, nil},
		{"text is escaped", Plot{Title: `<b>&"x"`, XLabel: "a<b", YLabel: "c&d", Series: []Series{
			{Name: "</svg>", X: []float64{0, 1}, Y: []float64{0, 1}},
		}}, 1, 0, []string{"&lt;b&gt;&amp;", "a&lt;b", "c&amp;d", "&lt;/svg&gt;"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := tc.plot.WriteSVG(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if err := checkXML(out); err != nil {
				t.Fatalf("not well-formed: %v\n%s", err, out)
			}
			if n := strings.Count(out, "<polyline"); n != tc.lines {
				t.Errorf("%d polylines, want %d", n, tc.lines)
			}
			if n := strings.Count(out, "<circle"); n != tc.dots {
				t.Errorf("%d dots, want %d", n, tc.dots)
			}
			for _, s := range tc.has {
				if !strings.Contains(out, s) {
					t.Errorf("no %q in\n%s", s, out)
				}
			}
		})
	}
}

// TestAxisTicks: linear axes get 1-2-5 steps that cover the data and read
// cleanly; log axes whole decades.
func TestAxisTicks(t *testing.T) {
	labels := func(a axis) []string {
		var out []string
		for _, v := range a.ticks {
			out = append(out, a.label(v))
		}
		return out
	}
	for _, tc := range []struct {
		name string
		vals []float64
		log  bool
		zero bool
		want []string
	}{
		{"fractions", []float64{0.03, 0.97}, false, false, []string{"0.0", "0.2", "0.4", "0.6", "0.8", "1.0"}},
		{"from zero", []float64{2.2, 2.5}, false, true, []string{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5"}},
		{"seconds", []float64{0, 31}, false, false, []string{"0", "10", "20", "30", "40"}},
		{"seconds, 30 at most", []float64{0, 30}, false, false, []string{"0", "5", "10", "15", "20", "25", "30"}},
		{"negative", []float64{-3, 2}, false, false, []string{"-3", "-2", "-1", "0", "1", "2"}},
		{"decades", []float64{3, 1500}, true, false, []string{"1", "10", "100", "1000", "10000"}},
		{"below one", []float64{0.002, 0.5}, true, false, []string{"0.001", "0.01", "0.1", "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAxis(tc.vals, tc.log, tc.zero, 0, 100)
			if got := labels(a); !slices.Equal(got, tc.want) {
				t.Errorf("ticks %v, want %v", got, tc.want)
			}
			for _, v := range tc.vals {
				if p := a.pos(v); p < -1e-9 || p > 100+1e-9 {
					t.Errorf("%v at %.2f: outside the axis", v, p)
				}
			}
		})
	}
}

// TestCDF: sorted values, fractions rising to 1, at most maxPoints plus
// the last.
func TestCDF(t *testing.T) {
	var vals []float64
	for i := range 1000 {
		vals = append(vals, float64((i*7919)%1000)) // a permutation of 0..999
	}
	s := CDF("x", vals, 100)
	if len(s.X) > 101 || len(s.X) < 90 {
		t.Errorf("%d points, want about 100", len(s.X))
	}
	if !slices.IsSorted(s.X) || !slices.IsSorted(s.Y) || s.Y[len(s.Y)-1] != 1 || s.X[len(s.X)-1] != 999 || s.X[0] != 0 {
		t.Errorf("not a CDF of 0..999: X %v..%v Y %v..%v", s.X[0], s.X[len(s.X)-1], s.Y[0], s.Y[len(s.Y)-1])
	}
	// The value at fraction 0.5 is the median.
	for i, y := range s.Y {
		if y >= 0.5 {
			if math.Abs(s.X[i]-499) > 10 {
				t.Errorf("median %v, want 499", s.X[i])
			}
			break
		}
	}
	if e := CDF("none", nil, 10); len(e.X) != 0 {
		t.Errorf("CDF of nothing has %d points", len(e.X))
	}
}

// TestThin keeps each run's extremes, so a spike survives.
func TestThin(t *testing.T) {
	s := Series{Name: "d"}
	for i := range 10000 {
		s.X = append(s.X, float64(i))
		y := 10.0
		if i == 4321 {
			y = 900 // one spike
		}
		s.Y = append(s.Y, y)
	}
	th := Thin(s, 500)
	if len(th.X) > 520 || len(th.X) != len(th.Y) {
		t.Errorf("%d points, want about 500", len(th.X))
	}
	if slices.Max(th.Y) != 900 || !slices.IsSorted(th.X) {
		t.Errorf("spike lost or points out of order")
	}
	if small := Thin(Series{X: []float64{1}, Y: []float64{2}}, 500); len(small.X) != 1 {
		t.Errorf("a short series changed")
	}
}

// TestPlotsJSON: in the JSON of a report, series are named and counted,
// not listed point by point.
func TestPlotsJSON(t *testing.T) {
	p := []Plot{{Title: "t", Series: []Series{{Name: "a", X: []float64{1, 2, 3}, Y: []float64{4, 5, 6}}}}}
	b, err := json.Marshal(map[string]any{PlotsKey: p})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"plots":[{"title":"t","x_label":"","y_label":"","series":[{"name":"a","points":3}]}]}`
	if string(b) != want {
		t.Errorf("json %s\nwant %s", b, want)
	}
}
