package ui_test

import (
	"bytes"
	"context"
	"flag"
	"html"
	pngpkg "image/png"
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

// chartGeometry is what TestChartScale reads of the entity page's chart:
// the plot's top and bottom, the probability line's y coordinates, the
// threshold line's, and the y axis's tick labels (top to bottom).
type chartGeometry struct {
	top, bottom float64
	lineY       []float64
	thresholdY  float64
	threshold   string // its label
	ticks       []string
}

var (
	chartSVG      = regexp.MustCompile(`(?s)<svg id="chart".*?</svg>`)
	chartRect     = regexp.MustCompile(`<rect x="[^"]*" y="([^"]*)" width="[^"]*" height="([^"]*)"`)
	chartLine     = regexp.MustCompile(`<polyline id="prob-line" points="([^"]*)"`)
	chartThr      = regexp.MustCompile(`(?s)<line id="threshold" [^>]*y1="([^"]*)".*<text id="threshold-label"[^>]*>([^<]*)</text>`)
	chartTickText = regexp.MustCompile(`<line class="ytick"[^>]*/><text[^>]*>([^<]*)</text>`)
)

func readChart(t *testing.T, body string) chartGeometry {
	t.Helper()
	svg := chartSVG.FindString(body)
	if svg == "" {
		t.Fatalf("no chart:\n%.3000s", body)
	}
	num := func(s string) float64 {
		t.Helper()
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("chart coordinate %q: %v", s, err)
		}
		return v
	}
	var g chartGeometry
	r := chartRect.FindStringSubmatch(svg)
	l := chartLine.FindStringSubmatch(svg)
	th := chartThr.FindStringSubmatch(svg)
	if r == nil || l == nil || th == nil {
		t.Fatalf("chart lacks its plot, line or threshold:\n%s", svg)
	}
	g.top = num(r[1])
	g.bottom = g.top + num(r[2])
	for p := range strings.FieldsSeq(l[1]) {
		_, y, _ := strings.Cut(p, ",")
		g.lineY = append(g.lineY, num(y))
	}
	g.thresholdY, g.threshold = num(th[1]), html.UnescapeString(th[2])
	for _, m := range chartTickText.FindAllStringSubmatch(svg, -1) {
		g.ticks = append([]string{m[1]}, g.ticks...) // drawn bottom up
	}
	return g
}

// TestChartScale: a calibrated failure probability is mostly far below
// 1 %, and its threshold can be 0.05. On the chart's fixed 0–100 % axis a
// series of 0.2–2 % under a threshold of 1 % spanned 3 of its 190 pixels,
// and the threshold line lay on it. The axis now ends just over the
// highest of the series and the threshold, with round ticks labelled as
// small probabilities; a series reaching high probabilities keeps the
// whole 0–100 % axis.
func TestChartScale(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lo, hi   float64 // the series rises linearly from lo to hi
		thr      float64
		minSpan  float64 // of the line, a fraction of the plot's height
		thrAbove float64 // the threshold line's height over the bottom, at least (fraction)
		ticks    string
		thrLabel string
	}{
		{"0.2-2% under a 1% threshold", 0.002, 0.02, 0.01, 0.5, 0.3, "3% 2% 1% 0%", "threshold 1.00%"},
		{"0.1% under a 5% threshold", 0.001, 0.001, 0.05, 0, 0.75, "6% 4% 2% 0%", "threshold 5.00%"},
		{"0.002-0.02% under a 0.01% threshold", 0.00002, 0.0002, 0.0001, 0.5, 0.3, "0.03% 0.02% 0.01% 0%", "threshold 0.010%"},
		{"up to 99% over a 50% threshold", 0.1, 0.99, 0.5, 0.8, 0.45, "100% 75% 50% 25% 0%", "threshold 50.00%"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := apitest.Backend()
			var idx []int
			for i, p := range b.PredictionList {
				if p.Entity == apitest.CartEntity {
					idx = append(idx, i)
				}
			}
			for k, i := range idx {
				b.PredictionList[i].Probability = tc.lo + (tc.hi-tc.lo)*float64(k)/float64(len(idx)-1)
				b.PredictionList[i].Threshold = tc.thr
			}
			srv := newServer(t, b)
			body := pageHas(t, srv.URL, api.EntityUIPath(apitest.CartEntity), http.StatusOK, nil, nil)
			g := readChart(t, body)
			// The legend says the axis is not 0–100 %.
			if zoomed, said := tc.hi < 0.5, strings.Contains(body, `<span id="chart-scale">The axis ends at `); zoomed != said {
				t.Errorf("the legend says the axis ends under 100%%: %v, want %v:\n%s", said, zoomed, regexp.MustCompile(`<p class="muted" id="chart-legend">.*`).FindString(body))
			}
			h := g.bottom - g.top
			ymin, ymax := g.bottom, g.top
			for _, y := range g.lineY {
				if y < g.top-1e-9 || y > g.bottom+1e-9 {
					t.Errorf("line point at y %v, outside the plot [%v, %v]", y, g.top, g.bottom)
				}
				ymin, ymax = min(ymin, y), max(ymax, y)
			}
			if span := (ymax - ymin) / h; span < tc.minSpan {
				t.Errorf("the line spans %.1f%% of the plot's height (y %v–%v of %v–%v), want at least %.0f%%",
					100*span, ymin, ymax, g.top, g.bottom, 100*tc.minSpan)
			}
			above := (g.bottom - g.thresholdY) / h
			if above < tc.thrAbove || g.thresholdY < g.top+14 {
				t.Errorf("the threshold line at y %v is %.1f%% of the plot over its bottom (want at least %.0f%%) or too near its top %v for its label",
					g.thresholdY, 100*above, 100*tc.thrAbove, g.top)
			}
			if g.threshold != tc.thrLabel {
				t.Errorf("threshold labelled %q, want %q", g.threshold, tc.thrLabel)
			}
			if got := strings.Join(g.ticks, " "); got != tc.ticks {
				t.Errorf("y ticks %q, want %q", got, tc.ticks)
			}
			// Above the threshold from the series' 1 − thr/hi: the points
			// over it are drawn over the line, under it under.
			for k, y := range g.lineY {
				p := tc.lo + (tc.hi-tc.lo)*float64(k)/float64(len(g.lineY)-1)
				if p > tc.thr && y >= g.thresholdY || p < tc.thr && y <= g.thresholdY {
					t.Errorf("point %d (P %g) at y %v, on the wrong side of the threshold %g at y %v", k, p, y, tc.thr, g.thresholdY)
				}
			}
		})
	}
}

// chartPNG, when set, is where TestChartScaleInChromium writes its
// screenshot of the chart, to look at.
var chartPNG = flag.String("chart.png", "", "write TestChartScaleInChromium's screenshot of the chart to this PNG file")

// TestChartScaleInChromium renders the chart of TestChartScale's first
// case in Chromium: the line spans half the plot, the threshold line and
// its label are inside it, and no tick label is cut off at the left.
// box is an SVG element's bounding box (getBBox) in Chromium.
type box struct{ X, Y, W, H float64 }

// cartChart opens the cart entity's page of b in Chromium, its chart
// drawn.
func cartChart(t *testing.T, b api.Backend) context.Context {
	t.Helper()
	srv := newServer(t, b)
	ctx := browser(t)
	url := srv.URL + api.EntityUIPath(apitest.CartEntity)
	if err := chromedp.Do(ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#chart"))); err != nil {
		t.Fatalf("load %s in Chromium: %v", url, err)
	}
	return ctx
}

func TestChartScaleInChromium(t *testing.T) {
	b := apitest.Backend()
	var idx []int
	for i, p := range b.PredictionList {
		if p.Entity == apitest.CartEntity {
			idx = append(idx, i)
		}
	}
	for k, i := range idx {
		b.PredictionList[i].Probability = 0.002 + 0.018*float64(k)/float64(len(idx)-1)
		b.PredictionList[i].Threshold = 0.01
	}
	ctx := cartChart(t, b)
	type geometry struct {
		Plot, Line, Threshold, Label box
		Ticks                        []box
		LabelFill                    string
	}
	g, err := chromedp.Run(ctx, chromedp.Evaluate[geometry](`(() => {
		const bb = e => { const b = e.getBBox(); return {X: b.x, Y: b.y, W: b.width, H: b.height}; };
		const q = s => document.querySelector(s);
		const thr = q('#chart #threshold');
		return {Plot: bb(q('#chart rect')), Line: bb(q('#prob-line')), Threshold: bb(thr), Label: bb(q('#threshold-label')),
			Ticks: Array.from(document.querySelectorAll('#chart line.ytick + text')).map(bb),
			LabelFill: getComputedStyle(q('#threshold-label')).fill};
	})()`))
	if err != nil {
		t.Fatalf("read the chart: %v", err)
	}
	if g.Line.H < 0.5*g.Plot.H {
		t.Errorf("the line is %.1f px high in a plot of %.1f", g.Line.H, g.Plot.H)
	}
	if g.Threshold.Y < g.Plot.Y || g.Threshold.Y > g.Plot.Y+0.7*g.Plot.H {
		t.Errorf("the threshold line at y %.1f, plot %.1f–%.1f: not clear of the bottom", g.Threshold.Y, g.Plot.Y, g.Plot.Y+g.Plot.H)
	}
	if g.Label.Y < g.Plot.Y || g.Label.X < g.Plot.X || g.Label.W == 0 {
		t.Errorf("threshold label %+v outside the plot %+v", g.Label, g.Plot)
	}
	// The threshold's red, not the grey of the other texts (the CSS of
	// svg text overrode its fill attribute).
	if g.LabelFill != "rgb(200, 30, 40)" {
		t.Errorf("threshold label drawn in %s, not the threshold line's red", g.LabelFill)
	}
	if len(g.Ticks) < 3 {
		t.Errorf("%d y tick labels", len(g.Ticks))
	}
	for _, tk := range g.Ticks {
		if tk.X < 0 || tk.X+tk.W > g.Plot.X {
			t.Errorf("y tick label %+v not between the left edge and the plot at %.1f", tk, g.Plot.X)
		}
	}
	png, err := chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS("#chart")))
	if err != nil {
		t.Fatalf("screenshot the chart: %v", err)
	}
	img, err := pngpkg.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatalf("the chart's screenshot: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 700 || r.Dy() < 200 {
		t.Errorf("the chart's screenshot is %v", r)
	}
	if *chartPNG != "" {
		if err := os.WriteFile(*chartPNG, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
