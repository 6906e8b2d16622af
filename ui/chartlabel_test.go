package ui_test

import (
	"flag"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

var (
	chartLabel  = regexp.MustCompile(`<text id="threshold-label" x="([^"]*)" y="([^"]*)" text-anchor="([^"]*)"[^>]*>([^<]*)</text>`)
	chartCircle = regexp.MustCompile(`<circle class="pt[^"]*" cx="([^"]*)" cy="([^"]*)" r="([^"]*)"`)
)

// cartSeries gives the cart entity's predictions the probabilities of f
// (k of n, in time order) and threshold thr.
func cartSeries(thr float64, f func(k, n int) float64) *api.MemBackend {
	b := apitest.Backend()
	var idx []int
	for i, p := range b.PredictionList {
		if p.Entity == apitest.CartEntity {
			idx = append(idx, i)
		}
	}
	for k, i := range idx {
		b.PredictionList[i].Probability = f(k, len(idx))
		b.PredictionList[i].Threshold = thr
	}
	return b
}

// peakSeries is a series on the x axis but for a peak near 100 % in its
// first half (as /tmp/q2's entity chart, threshold 0.035 %).
func peakSeries(k, n int) float64 {
	if k > n/5 && k < n/2 {
		return 0.97
	}
	return 0.00001
}

// TestChartThresholdLabelPlace: the threshold's label covers no point of
// the probability line. A threshold of 0.035 % on the 0–100 % axis of a
// series peaking near 100 % lies on the x axis, and its label, drawn over
// the line at the right, covered the points lying there; it goes over the
// plot. A threshold clear of the line keeps its label over the line, at
// the right.
func TestChartThresholdLabelPlace(t *testing.T) {
	const charW, ascent, desc = 6.6, 9, 2 // 11px text
	for _, tc := range []struct {
		name      string
		thr       float64
		f         func(k, n int) float64
		overLine  bool // the label is just over the threshold line, at the right
		overPlot  bool // the label is over the plot's top
		wantLabel string
	}{
		{"0.035% threshold under a peak near 100%", 0.00035, peakSeries, false, true, "threshold 0.035%"},
		// The axis clear at the right: the label stays by its line.
		{"0.035% threshold, near 100% at the end", 0.00035, func(k, n int) float64 { return map[bool]float64{true: 0.97, false: 0.00001}[k >= 3*n/4] }, true, false, "threshold 0.035%"},
		{"0.2-2% under a 1% threshold", 0.01, func(k, n int) float64 { return 0.002 + 0.018*float64(k)/float64(n-1) }, true, false, "threshold 1.00%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, cartSeries(tc.thr, tc.f))
			body := pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK, nil, nil)
			g := readChart(t, body)
			svg := chartSVG.FindString(body)
			m := chartLabel.FindStringSubmatch(svg)
			if m == nil {
				t.Fatalf("no threshold label:\n%s", svg)
			}
			x, _ := strconv.ParseFloat(m[1], 64)
			y, _ := strconv.ParseFloat(m[2], 64)
			if m[4] != tc.wantLabel {
				t.Errorf("label %q, want %q", m[4], tc.wantLabel)
			}
			w := charW * float64(len([]rune(m[4])))
			x0 := x
			switch m[3] {
			case "end":
				x0 -= w
			case "middle":
				x0 -= w / 2
			}
			x1, y0, y1 := x0+w, y-ascent, y+desc
			if y0 < 0 || x0 < 0 || x1 > 760 {
				t.Errorf("label box %v,%v–%v,%v outside the chart", x0, y0, x1, y1)
			}
			for _, c := range chartCircle.FindAllStringSubmatch(svg, -1) {
				cx, _ := strconv.ParseFloat(c[1], 64)
				cy, _ := strconv.ParseFloat(c[2], 64)
				r, _ := strconv.ParseFloat(c[3], 64)
				if cx+r > x0 && cx-r < x1 && cy+r > y0 && cy-r < y1 {
					t.Errorf("label box %.1f,%.1f–%.1f,%.1f covers the point at %v,%v (r %v)", x0, y0, x1, y1, cx, cy, r)
				}
			}
			pts := strings.Fields(chartLine.FindStringSubmatch(svg)[1])
			for _, p := range pts {
				sx, sy, _ := strings.Cut(p, ",")
				px, _ := strconv.ParseFloat(sx, 64)
				py, _ := strconv.ParseFloat(sy, 64)
				if px >= x0 && px <= x1 && py >= y0 && py <= y1 {
					t.Errorf("label box %.1f,%.1f–%.1f,%.1f covers the line's point %v,%v", x0, y0, x1, y1, px, py)
				}
			}
			if got := y1 <= g.top; got != tc.overPlot {
				t.Errorf("label at y %v over the plot's top %v: %v, want %v", y, g.top, got, tc.overPlot)
			}
			if got := m[3] == "end" && y == g.thresholdY-4; got != tc.overLine {
				t.Errorf("label at %v,%v (%s) just over the threshold line at y %v, at the right: %v, want %v", x, y, m[3], g.thresholdY, got, tc.overLine)
			}
		})
	}
}

// TestChartThresholdLabelPlaceInChromium: in Chromium, the label of a
// threshold on the x axis (TestChartThresholdLabelPlace's first case)
// overlaps no point of the line and stays inside the chart.
func TestChartThresholdLabelPlaceInChromium(t *testing.T) {
	ctx := cartChart(t, cartSeries(0.00035, peakSeries))
	type geometry struct {
		Label  box
		Points []box
	}
	g, err := chromedp.Run(ctx, chromedp.Evaluate[geometry](`(() => {
		const bb = e => { const b = e.getBBox(); return {X: b.x, Y: b.y, W: b.width, H: b.height}; };
		return {Label: bb(document.querySelector('#threshold-label')),
			Points: Array.from(document.querySelectorAll('#chart circle.pt')).map(bb)};
	})()`))
	if err != nil {
		t.Fatalf("read the chart: %v", err)
	}
	l := g.Label
	if l.W == 0 || l.X < 0 || l.Y < 0 || l.X+l.W > 760 {
		t.Errorf("threshold label %+v not inside the chart", l)
	}
	if len(g.Points) == 0 {
		t.Fatal("no points")
	}
	for _, p := range g.Points {
		if p.X+p.W > l.X && p.X < l.X+l.W && p.Y+p.H > l.Y && p.Y < l.Y+l.H {
			t.Errorf("threshold label %+v overlaps the point %+v", l, p)
			break
		}
	}
	if *chartLabelPNG != "" {
		png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#chart")))
		if err != nil {
			t.Fatalf("screenshot the chart: %v", err)
		}
		if err := os.WriteFile(*chartLabelPNG, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// chartLabelPNG, when set, is where TestChartThresholdLabelPlaceInChromium
// writes its screenshot of the chart, to look at.
var chartLabelPNG = flag.String("chart-label.png", "", "write TestChartThresholdLabelPlaceInChromium's screenshot of the chart to this PNG file")
