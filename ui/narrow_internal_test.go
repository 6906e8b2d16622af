package ui

import (
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
)

// TestNarrowLayoutsSameFigures: the narrow waterfall and chart (a phone's
// width) draw the figures of the wide ones, inside their width.
func TestNarrowLayoutsSameFigures(t *testing.T) {
	a := explain.Attribution{Baseline: 0.08, Value: 0.91, Method: "exact", Groups: []explain.GroupAttribution{
		{Name: "dns_errors", Phi: 0.41, Share: 0.4}, {Name: "a_group_name_of_forty_runes_or_more_cut_here", Phi: 0.5, Share: 0.5},
		{Name: "oom_events", Phi: -0.08, Share: 0.1},
	}}
	w := buildWaterfall(a)
	n := w.Narrow
	if n == nil || n.Narrow != nil || len(n.Bars) != len(w.Bars) || n.Width > 360 {
		t.Fatalf("narrow waterfall %+v of the wide %+v", n, w)
	}
	for i, b := range n.Bars {
		wb := w.Bars[i]
		if b.Name != wb.Name || b.Label != wb.Label || b.Phi != wb.Phi || b.Start != wb.Start || b.End != wb.End {
			t.Errorf("narrow bar %d %+v, wide %+v", i, b, wb)
		}
		if b.X < n.PlotX || b.X+b.W > n.PlotRight+1e-9 || b.TextX+8*hmCharW > n.Width || b.LabelY >= b.Y {
			t.Errorf("narrow bar %d %+v outside its plot [%v, %v] of width %v, or its name not above it", i, b, n.PlotX, n.PlotRight, n.Width)
		}
	}
	// A title that would cross the narrow plot's edge is set against it
	// ("E[f(X)] = 0.00000063" centred on a baseline at the left edge).
	tiny := buildWaterfall(explain.Attribution{Baseline: 6.3e-7, Value: 6.3e-7 + 0.0239, Groups: []explain.GroupAttribution{
		{Name: "memory_limit_ratio", Phi: 0.02}, {Name: "memory_working_set_bytes", Phi: 0.0039},
	}}).Narrow
	for _, tc := range []struct {
		title string
		at    textPos
	}{{"f(x) = " + api.ProbText(tiny.Value, 4), tiny.ValueText}, {"E[f(X)] = " + api.ProbText(tiny.Baseline, 4), tiny.BaseText}} {
		w := float64(len(tc.title)) * titleCharW
		lo := map[string]float64{"start": tc.at.X, "middle": tc.at.X - w/2, "end": tc.at.X - w}[tc.at.Anchor]
		if lo < 0 || lo+w > tiny.Width {
			t.Errorf("%q at %+v spans %.0f..%.0f, outside 0..%.0f", tc.title, tc.at, lo, lo+w, tiny.Width)
		}
	}
	if tiny.BaseText.Anchor != "start" {
		t.Errorf("E[f(X)] = 0.00000063 at %+v (x of the baseline %.1f), want set against the left edge", tiny.BaseText, tiny.BaseX)
	}
	var ps []api.Prediction
	for i := range int64(30) {
		ps = append(ps, api.Prediction{T: i * 15000, Probability: float64(i) / 30, Threshold: 0.5})
	}
	c := buildChart(ps)
	nc := c.Narrow
	if nc == nil || nc.Narrow != nil || len(nc.Points) != len(c.Points) || nc.Width > 360 || nc.Threshold != c.Threshold || nc.Above != c.Above {
		t.Fatalf("narrow chart %+v of the wide %+v", nc, c)
	}
	for i, p := range nc.Points {
		if p.T != c.Points[i].T || p.Prob != c.Points[i].Prob || p.X < nc.PlotX || p.X > nc.PlotX+nc.PlotW {
			t.Errorf("narrow point %d %+v, wide %+v", i, p, c.Points[i])
		}
	}
}
