package ui

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
)

// Plot geometry in SVG user units.
const (
	wfLabelW = 260.0
	// wfMaxBars is the number of groups drawn as their own bar (largest
	// |φ| first); the rest are summed into one "others" bar.
	wfMaxBars = 12
	// wfMaxName is the longest name drawn whole (in runes); longer ones
	// are cut with an ellipsis, the full name in the bar's tooltip.
	wfMaxName = 40
	wfPlotW   = 440.0
	wfRowH    = 22.0
	wfTop     = 28.0
	// The narrow waterfall (phone width): each group's name above its
	// bar, 340 units wide, drawn at about 1:1 in a 390 px viewport.
	wfNarrowPlotX = 50.0
	wfNarrowPlotW = 225.0
	wfNarrowRowH  = 34.0
)

// wfGeom is a waterfall's layout: the plot's left edge and width, the
// margin right of it (for the φ of a bar ending there), the height of a
// row and whether a group's name is drawn above its bar (else left of
// the plot).
type wfGeom struct {
	plotX, plotW, right, rowH float64
	nameAbove                 bool
	// ticks is about how many ticks the axis gets.
	ticks int
}

// waterfall is a SHAP waterfall plot: one bar per group, largest |φ| on
// top, stacked from the baseline (bottom) to f(x) (top).
type waterfall struct {
	Bars             []wfBar
	Baseline, Value  float64
	BaseX, ValueX    float64
	Width, Height    float64
	PlotX, PlotRight float64
	AxisY            float64
	Ticks            []tick
	Method           string
	// NameX and NameAnchor place the groups' names: right-aligned left of
	// the plot, or left-aligned above each bar (the narrow layout).
	NameX      float64
	NameAnchor string
	// Narrow is the same waterfall laid out for a phone's width (nil in
	// Narrow itself): the pages show it instead below 640 px.
	Narrow *waterfall
	// ValueText and BaseText place the titles "f(x) = …" and
	// "E[f(X)] = …" (the narrow layout's: inside its width).
	ValueText, BaseText textPos
}

// textPos is where a text is drawn: x and its text-anchor.
type textPos struct {
	X      float64
	Anchor string
}

// titleCharW is the width of a character of a bold 11px title, about.
const titleCharW = 7.0

// inside places a title of n characters centred on x, or against the
// edge of [0, width] it would cross.
func inside(x float64, n int, width float64) textPos {
	half := float64(n) * titleCharW / 2
	switch {
	case x-half < 2:
		return textPos{2, "start"}
	case x+half > width-2:
		return textPos{width - 2, "end"}
	}
	return textPos{x, "middle"}
}

type wfBar struct {
	Name, Kind string
	// Label is Name, cut to wfMaxName runes with an ellipsis.
	Label string
	// Others is the number of groups an "others" bar sums (0 otherwise).
	Others       int
	Phi, Share   float64
	Start, End   float64 // cumulative prediction before and after the group
	X, Y, W, H   float64
	TextX, TextY float64
	TextAnchor   string
	Positive     bool
	LabelY       float64
}

type tick struct {
	X     float64
	Label string
}

// buildWaterfall lays out the waterfall of a, and its narrow layout.
func buildWaterfall(a explain.Attribution) waterfall {
	w := layoutWaterfall(a, wfGeom{plotX: wfLabelW, plotW: wfPlotW, right: 90, rowH: wfRowH, ticks: 6})
	n := layoutWaterfall(a, wfGeom{plotX: wfNarrowPlotX, plotW: wfNarrowPlotW, right: 65, rowH: wfNarrowRowH, nameAbove: true, ticks: 5})
	w.Narrow = &n
	return w
}

// layoutWaterfall lays out the waterfall of a in geometry g.
func layoutWaterfall(a explain.Attribution, g wfGeom) waterfall {
	gs := append([]explain.GroupAttribution(nil), a.Groups...)
	sort.SliceStable(gs, func(i, j int) bool { return math.Abs(gs[i].Phi) > math.Abs(gs[j].Phi) })
	others := 0
	if len(gs) > wfMaxBars+1 {
		// One bar for the rest keeps Σφ = f(x) − baseline.
		rest := explain.GroupAttribution{Kind: "others"}
		for _, g := range gs[wfMaxBars:] {
			rest.Phi += g.Phi
			rest.Share += g.Share
		}
		others = len(gs) - wfMaxBars
		rest.Name = fmt.Sprintf("others (%d groups)", others)
		gs = append(gs[:wfMaxBars:wfMaxBars], rest)
	}
	w := waterfall{Baseline: a.Baseline, Value: a.Value, Method: a.Method, Width: g.plotX + g.plotW + g.right, PlotX: g.plotX, PlotRight: g.plotX + g.plotW,
		NameX: g.plotX - 6, NameAnchor: "end"}
	if g.nameAbove {
		w.NameX, w.NameAnchor = 4, "start"
	}
	// Top bar ends at f(x); walking down, each bar starts where the one
	// below ends, and the bottom one starts at the baseline.
	ends := make([]float64, len(gs))
	cur := a.Value
	lo, hi := math.Min(a.Baseline, a.Value), math.Max(a.Baseline, a.Value)
	for i, g := range gs {
		ends[i] = cur
		cur -= g.Phi
		lo, hi = math.Min(lo, cur), math.Max(hi, cur)
	}
	if hi-lo < 1e-12 {
		lo, hi = lo-0.5, hi+0.5
	}
	pad := 0.06 * (hi - lo)
	lo, hi = lo-pad, hi+pad
	sx := func(v float64) float64 { return g.plotX + g.plotW*(v-lo)/(hi-lo) }
	for i, ga := range gs {
		end := ends[i]
		start := end - ga.Phi
		x0, x1 := sx(math.Min(start, end)), sx(math.Max(start, end))
		y := wfTop + float64(i)*g.rowH
		b := wfBar{Name: ga.Name, Label: cutName(ga.Name, wfMaxName), Kind: ga.Kind, Phi: ga.Phi, Share: ga.Share, Start: start, End: end,
			X: x0, Y: y + 3, W: math.Max(x1-x0, 1), H: g.rowH - 6, Positive: ga.Phi >= 0, LabelY: y + g.rowH/2 + 4}
		b.TextY = b.LabelY
		if g.nameAbove {
			// The name on the row's first line, the bar and its φ
			// on the second.
			b.LabelY, b.Y, b.H = y+11, y+15, g.rowH-20
			b.TextY = b.Y + b.H/2 + 4
		}
		// The number goes right of the bar: left of a negative bar it
		// would collide with the group names.
		b.TextX, b.TextAnchor = x0+b.W+4, "start"
		if i == len(gs)-1 {
			b.Others = others
		}
		w.Bars = append(w.Bars, b)
	}
	w.BaseX, w.ValueX = sx(a.Baseline), sx(a.Value)
	w.ValueText, w.BaseText = textPos{w.ValueX, "middle"}, textPos{w.BaseX, "middle"}
	if g.nameAbove {
		w.ValueText = inside(w.ValueX, utf8.RuneCountInString("f(x) = "+api.ProbText(a.Value, 4)), w.Width)
		w.BaseText = inside(w.BaseX, utf8.RuneCountInString("E[f(X)] = "+api.ProbText(a.Baseline, 4)), w.Width)
	}
	w.AxisY = wfTop + float64(len(gs))*g.rowH + 4
	w.Height = w.AxisY + 36
	ticks := niceTicks(lo, hi, g.ticks)
	for _, v := range ticks {
		w.Ticks = append(w.Ticks, tick{X: sx(v), Label: tickLabel(v, ticks)})
	}
	return w
}

// cutName returns s cut to n runes, the last an ellipsis.
func cutName(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// niceTicks returns about n round values in [lo, hi].
func niceTicks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if span <= 0 || n < 1 {
		return nil
	}
	raw := span / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		out = append(out, math.Round(v/step)*step)
	}
	return out
}

// tickLabel renders the tick v of ticks (niceTicks' evenly spaced round
// values) with the decimals their step needs, trailing zeros trimmed, or
// in scientific notation for a step below 1e-6: the axis of a waterfall
// between 6.3e-07 and 5.4e-05 read 0 at every tick with 4 decimals.
func tickLabel(v float64, ticks []float64) string {
	if len(ticks) < 2 {
		return trimFloat(v)
	}
	step := math.Abs(ticks[1] - ticks[0])
	d := max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	if d > 6 {
		if math.Abs(v) < step/2 {
			return "0"
		}
		// As many mantissa decimals as the step needs at v's magnitude.
		e := int(math.Floor(math.Log10(math.Abs(v)) + 1e-9))
		return strconv.FormatFloat(v, 'e', max(0, e+d), 64)
	}
	s := strconv.FormatFloat(v, 'f', d, 64)
	if d > 0 {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return s
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.4f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

// heatmap is the overview's entities × groups grid.
type heatmap struct {
	Columns       []heatCol
	Rows          []heatRowView
	Width, Height float64
	// Header is the height of the column names' band: tall enough for the
	// longest name, rotated (−60°), up to hmMaxName runes.
	Header float64
	// NameX is the right edge of the entity names (drawn right-aligned
	// from 0): as wide as the longest name shown, hmNameMin to hmNameMax
	// px, so that short names leave a phone's first screen to the cells
	// (a fixed 296 px showed a 390 px screen names and P(failure) only).
	NameX float64
	// ProbX is the left edge of the P(failure) bars, PX the right edge of
	// their title.
	ProbX, PX float64
	MaxAbs    float64
}

type heatRow struct {
	Prediction api.Prediction
	Groups     []explain.GroupAttribution
	Explained  bool
	// ExplainedID is the prediction the explanation is of (the latest, or
	// the one an alert fired on).
	ExplainedID string
	// ExplainedT is the time (ms) of the prediction explained: older than
	// the latest prediction when the explanation is an alert's.
	ExplainedT int64
	// ExplainedAlert is the fingerprint of the alert the explanation was
	// made for, when known (the alert is listed); "" else: an
	// explanation stored under a prediction id alone may be an alert's
	// no longer listed or an explain-now's.
	ExplainedAlert string
}

type heatCol struct {
	Name string
	// Label is Name, cut to hmMaxName runes with an ellipsis (the full
	// name in its tooltip).
	Label string
	X     float64 // centre
}

type heatRowView struct {
	Prediction api.Prediction
	// Label is the entity's name, cut to hmNameChars runes with an
	// ellipsis (Cut: the full name in its tooltip).
	Label       string
	Cut         bool
	Explained   bool
	ExplainedID string
	ExplainedT  int64
	// ExplainedAlert: heatRow.ExplainedAlert.
	ExplainedAlert string
	// AgeMs is how much older than the row's prediction the explanation
	// is (0: the explanation is of the latest prediction).
	AgeMs     int64
	AsOfX     float64
	Y         float64
	ProbColor string
	Cells     []heatCell
}

type heatCell struct {
	Group string
	Phi   float64
	Has   bool
	X, Y  float64
	Color string
}

const (
	// hmProbW is from the entity names' right edge to the first cell:
	// hmNameGap, the P(failure) bar (50 px at most) and 4 px.
	hmProbW  = 60.0
	hmCell   = 22.0
	hmHeader = 120.0
	// hmCharW is the width of a character of the column names (11px
	// system-ui), a little over the average so that names fit.
	hmCharW = 6.6
	// hmMaxName is the longest column name drawn whole.
	hmMaxName = 60
	// hmNameMin and hmNameMax bound the width of the entity names' column
	// (hmCharW a character, the same 11px font); hmNameChars is the
	// longest entity name drawn whole in hmNameMax.
	hmNameMin   = 60.0
	hmNameMax   = 296.0
	hmNameChars = 44 // hmNameMax / hmCharW, rounded down
	// hmNameGap is the space between the names and the P(failure) bars.
	hmNameGap = 6.0
)

func buildHeatmap(rows []heatRow, maxCols int) heatmap {
	total := map[string]float64{}
	first := map[string]int{}
	maxAbs := 0.0
	for _, r := range rows {
		for _, g := range r.Groups {
			if _, ok := first[g.Name]; !ok {
				first[g.Name] = len(first)
			}
			total[g.Name] += math.Abs(g.Phi)
			maxAbs = math.Max(maxAbs, math.Abs(g.Phi))
		}
	}
	names := make([]string, 0, len(total))
	for n := range total {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if total[names[i]] != total[names[j]] {
			return total[names[i]] > total[names[j]]
		}
		return first[names[i]] < first[names[j]]
	})
	if len(names) > maxCols {
		names = names[:maxCols]
	}
	h := heatmap{MaxAbs: maxAbs, Header: hmHeader}
	longestEntity := 0
	for _, r := range rows {
		longestEntity = max(longestEntity, min(hmNameChars, len([]rune(r.Prediction.Entity))))
	}
	h.NameX = math.Min(hmNameMax, math.Max(hmNameMin, math.Ceil(float64(longestEntity)*hmCharW)))
	h.ProbX = h.NameX + hmNameGap
	x0 := h.NameX + hmProbW
	h.PX = x0 - 6
	longest := 0
	for i, n := range names {
		c := heatCol{Name: n, Label: cutName(n, hmMaxName), X: x0 + float64(i)*hmCell + hmCell/2}
		longest = max(longest, len([]rune(c.Label)))
		h.Columns = append(h.Columns, c)
	}
	// Rotated −60°, a name of n characters rises n·w·sin 60° and runs
	// n·w·cos 60° to the right of its column.
	h.Header = math.Max(hmHeader, math.Ceil(float64(longest)*hmCharW*math.Sin(math.Pi/3))+12)
	for i, r := range rows {
		y := h.Header + float64(i)*hmCell
		label := cutName(r.Prediction.Entity, hmNameChars)
		v := heatRowView{Prediction: r.Prediction, Label: label, Cut: label != r.Prediction.Entity, Explained: r.Explained, ExplainedID: r.ExplainedID, ExplainedT: r.ExplainedT,
			ExplainedAlert: r.ExplainedAlert,
			AsOfX:          x0 + float64(len(names))*hmCell + 6, Y: y, ProbColor: probColor(r.Prediction.Probability, r.Prediction.Threshold)}
		if r.Explained && r.ExplainedT < r.Prediction.T {
			v.AgeMs = r.Prediction.T - r.ExplainedT
		}
		phi := map[string]float64{}
		for _, g := range r.Groups {
			phi[g.Name] = g.Phi
		}
		for j, n := range names {
			p, ok := phi[n]
			c := heatCell{Group: n, Phi: p, Has: ok, X: x0 + float64(j)*hmCell, Y: y, Color: "#eeeeee"}
			if ok {
				c.Color = divergingColor(p, maxAbs)
			}
			v.Cells = append(v.Cells, c)
		}
		h.Rows = append(h.Rows, v)
	}
	// Room for the last rotated column name and the rows' "as of".
	h.Width = x0 + float64(len(names))*hmCell + math.Max(190, math.Ceil(float64(longest)*hmCharW/2)+12)
	h.Height = h.Header + float64(len(rows))*hmCell + 6
	return h
}

// divergingColor maps φ to white→red (positive, toward failure) or
// white→blue (negative).
func divergingColor(phi, maxAbs float64) string {
	if maxAbs <= 0 || math.IsNaN(phi) {
		return "#ffffff"
	}
	t := math.Min(1, math.Abs(phi)/maxAbs)
	t = math.Sqrt(t) // make small contributions visible
	var r, g, b float64
	if phi >= 0 {
		r, g, b = 255-t*(255-200), 255-t*(255-30), 255-t*(255-40)
	} else {
		r, g, b = 255-t*(255-30), 255-t*(255-90), 255-t*(255-200)
	}
	return fmt.Sprintf("#%02x%02x%02x", int(r), int(g), int(b))
}

func probColor(p, threshold float64) string {
	switch {
	case threshold > 0 && p >= threshold:
		return "#c81e28"
	case threshold > 0 && p >= threshold/2:
		return "#e8a33d"
	default:
		return "#3a9a5b"
	}
}

// chart is the entity page's probability-over-time plot.
type chart struct {
	Points       []chartPoint
	Polyline     string
	ThresholdY   float64
	Threshold    float64
	HasThreshold bool
	// ThresholdLabel is the threshold line's label, drawn at LabelX,
	// LabelY (its baseline) with the text-anchor LabelAnchor
	// (placeThresholdLabel).
	ThresholdLabel string
	LabelX, LabelY float64
	LabelAnchor    string
	Width, Height  float64
	PlotX, PlotY   float64
	PlotW, PlotH   float64
	XTicks         []tick
	YTicks         []yTick
	// YMax is the probability at the top of the y axis (chartTop): 1, or
	// less when the span's probabilities and its threshold are all small.
	YMax  float64
	Empty bool
	// Above is the number of predictions at or over their threshold.
	Above int
	// Narrow is the same chart laid out for a phone's width (nil in
	// Narrow itself): the entity page shows it instead below 640 px.
	Narrow *chart
}

// chartGeom is a chart's width, its plot's width (the y axis's labels
// may take some of it) and the number of intervals between its time
// ticks.
type chartGeom struct {
	width, plotW float64
	xTicks       int
}

type chartPoint struct {
	T         int64
	Prob      float64
	Threshold float64
	// Above: at or over its threshold (the alert rule's side).
	Above bool
	X, Y  float64
}

type yTick struct {
	Y     float64
	Label string
}

// maxMarkers is the number of predictions up to which the chart marks
// each one with a circle (with its time and value); those at or over
// their threshold are marked whatever their number, in red: on a 0–1
// axis a probability just under a threshold of 0.9935 cannot be told
// from one just over it by its height.
const maxMarkers = 240

// buildChart lays out the chart of ps (by time), and its narrow layout.
func buildChart(ps []api.Prediction) chart {
	c := layoutChart(ps, chartGeom{width: 760, plotW: 690, xTicks: 4})
	n := layoutChart(ps, chartGeom{width: 360, plotW: 290, xTicks: 2})
	c.Narrow = &n
	return c
}

// layoutChart lays out the chart of ps in geometry g.
func layoutChart(ps []api.Prediction, g chartGeom) chart {
	c := chart{Width: g.width, Height: 240, PlotX: 46, PlotY: 12, PlotW: g.plotW, PlotH: 190}
	hi := 0.0
	for _, p := range ps {
		hi = math.Max(hi, finiteOr0(p.Probability))
	}
	if len(ps) > 0 {
		hi = math.Max(hi, finiteOr0(ps[len(ps)-1].Threshold))
	}
	top, yts := chartTop(hi)
	c.YMax = top
	pct := make([]float64, len(yts))
	for i, v := range yts {
		pct[i] = 100 * v
	}
	labels := make([]string, len(yts))
	longest := 0
	for i := range yts {
		labels[i] = tickLabel(pct[i], pct) + "%"
		longest = max(longest, len(labels[i]))
	}
	// Room left of the plot for the longest tick label (0.0002%).
	if w := math.Ceil(float64(longest)*hmCharW) + 12; w > c.PlotX {
		c.PlotW -= w - c.PlotX
		c.PlotX = w
	}
	for i, v := range yts {
		c.YTicks = append(c.YTicks, yTick{Y: c.PlotY + c.PlotH*(1-v/top), Label: labels[i]})
	}
	if len(ps) == 0 {
		c.Empty = true
		return c
	}
	t0, t1 := ps[0].T, ps[len(ps)-1].T
	sx := func(t int64) float64 {
		if t1 == t0 {
			return c.PlotX + c.PlotW/2
		}
		return c.PlotX + c.PlotW*float64(t-t0)/float64(t1-t0)
	}
	sy := func(p float64) float64 { return c.PlotY + c.PlotH*(1-math.Max(0, math.Min(top, p))/top) }
	var pts strings.Builder
	for i, p := range ps {
		x, y := sx(p.T), sy(p.Probability)
		above := p.Threshold > 0 && p.Probability >= p.Threshold
		if above {
			c.Above++
		}
		if len(ps) <= maxMarkers || above {
			c.Points = append(c.Points, chartPoint{T: p.T, Prob: p.Probability, Threshold: p.Threshold, Above: above, X: x, Y: y})
		}
		if i > 0 {
			pts.WriteByte(' ')
		}
		pts.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
		pts.WriteByte(',')
		pts.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
	}
	c.Polyline = pts.String()
	last := ps[len(ps)-1]
	if last.Threshold > 0 {
		c.HasThreshold, c.Threshold, c.ThresholdY = true, last.Threshold, sy(last.Threshold)
		xs, ys := make([]float64, len(ps)), make([]float64, len(ps))
		for i, p := range ps {
			xs[i], ys[i] = sx(p.T), sy(p.Probability)
		}
		c.placeThresholdLabel(xs, ys)
	}
	for i := 0; i <= g.xTicks; i++ {
		t := t0 + (t1-t0)*int64(i)/int64(g.xTicks)
		c.XTicks = append(c.XTicks, tick{X: sx(t), Label: time.UnixMilli(t).UTC().Format("15:04:05")})
		if t1 == t0 {
			break
		}
	}
	return c
}

// Threshold label geometry: the width of a character and the label's
// height over and under its baseline (11px text, as hmCharW), and the
// room kept around the probability line (its red markers' radius).
const (
	labelCharW  = hmCharW
	labelAscent = 9
	labelDesc   = 2
	labelMargin = 3.5
)

// placeThresholdLabel places the threshold's label where it does not
// cover the probability line (xs, ys: its points): over the threshold
// line at the right, as before, else under it, else at the left (over,
// then under), all inside the plot, else over the plot (at the right,
// else at the left), where no point is drawn but a marker near 100 %. A threshold on the x axis (0.035 % on a
// 0–100 % axis, for a series peaking near 100 %) had its label over the
// points lying on the axis at the right.
func (c *chart) placeThresholdLabel(xs, ys []float64) {
	c.ThresholdLabel = "threshold " + alert.Percents(c.Threshold)[0]
	w := float64(utf8.RuneCountInString(c.ThresholdLabel)) * labelCharW
	right, left := c.PlotX+c.PlotW, c.PlotX+4
	over, under := c.ThresholdY-4, c.ThresholdY+4+labelAscent
	for i, p := range []struct {
		x, y   float64
		anchor string
	}{{right, over, "end"}, {right, under, "end"}, {left, over, "start"}, {left, under, "start"}} {
		x0 := p.x
		if p.anchor == "end" {
			x0 -= w
		}
		y0, y1 := p.y-labelAscent, p.y+labelDesc
		// The first place is the usual one, over the plot's top for a
		// threshold near it; the others must be inside the plot.
		inside := i == 0 || y0 >= c.PlotY && y1 <= c.PlotY+c.PlotH
		if inside && !lineCrosses(xs, ys, x0-labelMargin, y0-labelMargin, x0+w+labelMargin, y1+labelMargin) {
			c.LabelX, c.LabelY, c.LabelAnchor = p.x, p.y, p.anchor
			return
		}
	}
	// Over the plot: at the right unless the line's markers reach up
	// there (a probability near 100 %), else at the left.
	c.LabelX, c.LabelY, c.LabelAnchor = right, c.PlotY-2, "end"
	if lineCrosses(xs, ys, right-w-labelMargin, 0, right+labelMargin, c.PlotY+labelMargin) {
		c.LabelX, c.LabelAnchor = c.PlotX, "start"
	}
}

// lineCrosses reports whether the polyline of points xs, ys (x
// increasing) has a point or a segment in the box x0, y0 – x1, y1.
func lineCrosses(xs, ys []float64, x0, y0, x1, y1 float64) bool {
	in := func(ya, yb float64) bool { return max(ya, yb) >= y0 && min(ya, yb) <= y1 }
	for i := range xs {
		if i == 0 {
			if xs[0] >= x0 && xs[0] <= x1 && in(ys[0], ys[0]) {
				return true
			}
			continue
		}
		xa, ya, xb, yb := xs[i-1], ys[i-1], xs[i], ys[i]
		if xb < x0 || xa > x1 {
			continue
		}
		if xb == xa {
			if in(ya, yb) {
				return true
			}
			continue
		}
		at := func(x float64) float64 { return ya + (yb-ya)*(x-xa)/(xb-xa) }
		if in(at(max(xa, x0)), at(min(xb, x1))) {
			return true
		}
	}
	return false
}

// chartFullFrom is the headroom-added top from which the chart's y axis
// is the whole 0–100 %: zooming in further would gain little.
const chartFullFrom = 0.75

// chartTop is the top of the entity chart's y axis and its ticks (from 0)
// for hi, the highest of the span's probabilities and its threshold. A
// calibrated failure probability is mostly 0.001–0.1 and its threshold
// can be 0.05: on a fixed 0–100 % axis the line lay flat on the bottom
// and the threshold line on top of it. The axis stays linear from 0 (a
// height still reads as a probability, twice as high is twice as
// likely), but ends at hi plus 15 % headroom, rounded up to a round
// step: so the threshold line, which hi includes, is always inside the
// plot, with room for its label above it. From chartFullFrom (and for
// no positive value) it is the whole 0–100 % in quarters, as before.
func chartTop(hi float64) (top float64, ticks []float64) {
	full := []float64{0, 0.25, 0.5, 0.75, 1}
	h := 1.15 * hi
	if !(h > 0) || h >= chartFullFrom {
		return 1, full
	}
	ts := niceTicks(0, h, 4)
	if len(ts) < 2 {
		return 1, full
	}
	step := ts[1] - ts[0]
	n := int(math.Ceil(h/step - 1e-9))
	for i := range n + 1 {
		ticks = append(ticks, float64(i)*step)
	}
	return ticks[n], ticks
}

// graph is a dependency neighbourhood laid out around its centre node.
type graph struct {
	Nodes         []graphNode
	Edges         []graphEdge
	Width, Height float64
	// AnomalyThreshold is the scale of the nodes' evidence (0: none),
	// Legend the colour scale's swatches.
	AnomalyThreshold float64
	Legend           []legendItem
}

// legendItem is a swatch of the graph's colour scale.
type legendItem struct {
	Color, Label string
}

// nodeRisk is a node's failure risk: the highest P(failure) over its
// threshold of its current entities (Has: it has one), and whether one of
// them is at or over its threshold (Failing) or has a firing alert.
type nodeRisk struct {
	Has             bool
	Ratio           float64
	Prob, Threshold float64
	Failing, Firing bool
}

// failRed is the firing red of the badges.
const failRed = "#c81e28"

// riskLevel is a node's colour level: the larger of its evidence over the
// anomaly threshold and its P(failure) over its failure threshold, in
// [0, 1]; 1 (failRed) for a node at or over either, or with a firing
// alert. ok is false when neither scale applies.
func riskLevel(ev, anomalyThreshold float64, r nodeRisk) (level float64, ok bool) {
	if anomalyThreshold > 0 && !math.IsNaN(ev) {
		level, ok = ev/anomalyThreshold, true
	}
	if r.Has {
		level, ok = math.Max(level, r.Ratio), true
	}
	if r.Failing || r.Firing {
		level, ok = 1, true
	}
	return math.Max(0, math.Min(1, level)), ok
}

// riskColor is the colour of a risk level: white at 0, deepening to a
// light red toward 1, the firing red at 1; grey when unknown.
func riskColor(level float64, ok bool) string {
	switch {
	case !ok:
		return "#e4e7ec"
	case level >= 1:
		return failRed
	}
	r, g, b := 255-level*(255-232), 255-level*(255-120), 255-level*(255-128)
	return fmt.Sprintf("#%02x%02x%02x", int(r), int(g), int(b))
}

type graphNode struct {
	Name     string
	Link     string // the UI page of the node's worst entity, "" for none
	Evidence float64
	Risk     nodeRisk
	// Level is the colour's risk level (riskLevel).
	Level   float64
	X, Y, R float64
	Color   string
	Centre  bool
	// LabelY is the label's baseline: below the node, or above it for a
	// node in the upper half, away from the centre its edges come from.
	LabelY float64
}

type graphEdge struct {
	From, To       string
	Weight         float64
	X1, Y1, X2, Y2 float64
}

// buildGraph lays out n. A node's colour is its risk on absolute scales
// (riskLevel): its evidence against anomalyThreshold, the model's anomaly
// threshold (0: none), and its entities' P(failure) against their
// threshold (risks, by node name), not against the neighbourhood's
// highest, which would paint the highest node the firing red when
// everything is quiet. A node failing (P at or over its threshold, or a
// firing alert) is the firing red whatever its anomaly score: with evidence
// alone, a firing pod of P 99.49% and a small anomaly score was white.
func buildGraph(n api.Neighbourhood, anomalyThreshold float64, risks map[string]nodeRisk) graph {
	g := graph{Width: 520, Height: 360, AnomalyThreshold: anomalyThreshold}
	cx, cy, radius := g.Width/2, 170.0, 120.0
	for _, l := range []struct {
		level float64
		label string
	}{{0, "0"}, {0.5, "0.5"}, {0.99, "< 1"}, {1, "failing"}} {
		g.Legend = append(g.Legend, legendItem{Color: riskColor(l.level, true), Label: l.label})
	}
	pos := map[string][2]float64{}
	var others []api.Node
	for _, v := range n.Nodes {
		if v.Name != n.Node {
			others = append(others, v)
		}
	}
	add := func(v api.Node, x, y float64, centre bool) {
		pos[v.Name] = [2]float64{x, y}
		r := 16.0
		if centre {
			r = 22
		}
		link := ""
		if e := api.NodeEntity(v); e != "" {
			link = api.EntityUIPath(e)
		}
		// Labels keep clear of the arrowheads (the last 14px of an
		// edge, ending 4px off the circle): an outer node's goes on
		// its outer side, away from the centre its edges mostly come
		// from; the centre's, which edges reach from every side, goes
		// below the reach of the arrowheads. A halo (the template)
		// keeps a label legible over an edge's line.
		labelY := y + r + 13
		switch {
		case centre:
			labelY = y + r + 31
		case y < cy-1:
			labelY = y - r - 6
		}
		risk := risks[v.Name]
		level, ok := riskLevel(v.Evidence, anomalyThreshold, risk)
		g.Nodes = append(g.Nodes, graphNode{Name: v.Name, Link: link, Evidence: v.Evidence, Risk: risk, Level: level, X: x, Y: y, R: r,
			Color: riskColor(level, ok), Centre: centre, LabelY: labelY})
	}
	for _, v := range n.Nodes {
		if v.Name == n.Node {
			add(v, cx, cy, true)
		}
	}
	for i, v := range others {
		a := -math.Pi/2 + 2*math.Pi*float64(i)/float64(len(others))
		add(v, cx+radius*1.5*math.Cos(a), cy+radius*math.Sin(a), false)
	}
	rOf := map[string]float64{}
	for _, v := range g.Nodes {
		rOf[v.Name] = v.R
	}
	for _, e := range n.Edges {
		p, ok1 := pos[e.From]
		q, ok2 := pos[e.To]
		if !ok1 || !ok2 {
			continue
		}
		dx, dy := q[0]-p[0], q[1]-p[1]
		d := math.Hypot(dx, dy)
		if d == 0 {
			continue
		}
		ux, uy := dx/d, dy/d
		g.Edges = append(g.Edges, graphEdge{From: e.From, To: e.To, Weight: e.Weight,
			X1: p[0] + ux*rOf[e.From], Y1: p[1] + uy*rOf[e.From],
			X2: q[0] - ux*(rOf[e.To]+4), Y2: q[1] - uy*(rOf[e.To]+4)})
	}
	return g
}
