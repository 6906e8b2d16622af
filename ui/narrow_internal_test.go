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
