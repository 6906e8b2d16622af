package explain

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/omen-sre/omen/telemetry"
	"github.com/prometheus/prometheus/model/labels"
)

// shop is a small call graph: frontend calls checkout, cart and ads;
// checkout calls payment and cart.
func shop(t *testing.T) *Graph {
	t.Helper()
	g := NewGraph()
	for _, e := range []Edge{
		{"frontend", "checkout", 1}, {"frontend", "cart", 1}, {"frontend", "ads", 1},
		{"checkout", "payment", 1}, {"checkout", "cart", 1},
	} {
		if err := g.AddEdge(e.From, e.To, e.Weight); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

func TestRankLeafFaultPropagatingUp(t *testing.T) {
	g := shop(t)
	tests := []struct {
		name     string
		g        *Graph
		evidence map[string]float64
		want     string
	}{
		{"leaf fault seen upstream", g,
			map[string]float64{"payment": 6, "checkout": 4.5, "frontend": 4, "cart": 0.3, "ads": 0.2}, "payment"},
		{"graph breaks a tie toward the anomalous chain", g,
			map[string]float64{"payment": 3, "ads": 3, "checkout": 2.5, "frontend": 0.1, "cart": 0.1}, "payment"},
		{"no graph: evidence alone", nil,
			map[string]float64{"payment": 1, "checkout": 2, "frontend": 0.5}, "checkout"},
		{"NaN evidence counts as zero", nil,
			map[string]float64{"a": math.NaN(), "b": 0.5}, "b"},
		{"entity outside the graph", g,
			map[string]float64{"payment": 0.1, "batch-job": 9}, "batch-job"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			causes, err := Rank(tc.g, tc.evidence, RankOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if causes[0].Entity != tc.want {
				t.Errorf("top cause %q, want %q (%+v)", causes[0].Entity, tc.want, causes)
			}
			var sum float64
			for i, c := range causes {
				sum += c.Score
				if i > 0 && c.Score > causes[i-1].Score {
					t.Errorf("causes not sorted: %+v", causes)
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("scores sum to %v", sum)
			}
			if _, err := json.Marshal(causes); err != nil {
				t.Errorf("causes do not marshal: %v", err)
			}
		})
	}
}

func TestRankValidationAndEdges(t *testing.T) {
	g := NewGraph()
	if err := g.AddEdge("a", "a", 1); err == nil {
		t.Error("self-loop accepted")
	}
	if err := g.AddEdge("a", "b", 0); err == nil {
		t.Error("zero weight accepted")
	}
	if err := g.AddEdge("a", "b", 2); err != nil {
		t.Fatal(err)
	}
	if err := g.AddEdge("a", "b", 1); err != nil {
		t.Fatal(err)
	}
	if es := g.Edges(); len(es) != 1 || es[0].Weight != 3 || g.NumEdges() != 1 {
		t.Errorf("edges %+v", es)
	}
	if _, err := Rank(g, map[string]float64{"a": -1}, RankOptions{}); err == nil {
		t.Error("negative evidence accepted")
	}
	if _, err := Rank(g, nil, RankOptions{Damping: 1}); err == nil {
		t.Error("damping 1 accepted")
	}
	// No evidence at all: every score is zero, order by name.
	causes, err := Rank(g, map[string]float64{}, RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(causes) != 2 || causes[0].Entity != "a" || causes[0].Score != 0 {
		t.Errorf("causes without evidence: %+v", causes)
	}
}

func TestLearnGraph(t *testing.T) {
	up := []float64{1, 2, 3, 4, 5, 6}
	series := map[string][]float64{
		"a": up, "b": {2, 4, 6, 8, 10, 12}, "c": {3, 1, 4, 1, 5, 9}, "flat": {1, 1, 1, 1, 1, 1},
	}
	g, err := LearnGraph(series, 0.9)
	if err != nil {
		t.Fatal(err)
	}
	es := g.Edges()
	if len(es) != 2 || es[0].From != "a" || es[0].To != "b" || es[1].From != "b" {
		t.Errorf("learned edges %+v", es)
	}
	if len(g.Nodes()) != 4 {
		t.Errorf("nodes %v", g.Nodes())
	}
	if _, err := LearnGraph(series, 0); err == nil {
		t.Error("minCorr 0 accepted")
	}
}

func TestCauses(t *testing.T) {
	attr := Attribution{Groups: []GroupAttribution{
		{Name: "latency", Kind: KindMetric, Phi: -0.4, Share: 0.4},
		{Name: "cpu", Kind: KindMetric, Phi: 0.3, Share: 0.3},
		{Name: "cart", Kind: KindEntity, Phi: 0.2, Share: 0.2},
		{Name: "dns", Kind: KindMetric, Phi: 0.1, Share: 0.1},
	}}
	rc, err := Causes(attr, shop(t), map[string]float64{"checkout": 1, "cart": 0.9, "frontend": 0.5}, 2, RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// latency has the largest |φ| but lowers the risk: no cause.
	if len(rc.Metrics) != 2 || rc.Metrics[0].Name != "cpu" || rc.Metrics[1].Name != "dns" {
		t.Errorf("metric causes %+v, want cpu, dns (the groups with φ > 0)", rc.Metrics)
	}
	if len(rc.Entities) != 2 || rc.Entities[0].Entity != "cart" {
		t.Errorf("entity causes %+v (attribution to cart should lift it)", rc.Entities)
	}
}

func TestGraphFromCallSamples(t *testing.T) {
	mk := func(src, dst string, v float64) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings("__name__", "istio_requests_total", IstioSourceLabel, src, IstioDestinationLabel, dst), V: v}
	}
	samples := []telemetry.Sample{
		mk("frontend", "cart", 2), mk("frontend", "cart", 1), mk("frontend", "ads", 0.5),
		mk("checkout", "checkout", 4), mk("frontend", "", 1), mk("cart", "redis", math.NaN()),
		mk("cart", "redis", math.Inf(1)), mk("cart", "redis", 0),
	}
	g, err := GraphFromCallSamples(nil, samples, "", "")
	if err != nil {
		t.Fatal(err)
	}
	es := g.Edges()
	if len(es) != 2 || es[0] != (Edge{"frontend", "ads", 0.5}) || es[1] != (Edge{"frontend", "cart", 3}) {
		t.Errorf("edges %+v", es)
	}
	if _, err := GraphFromCallSamples(nil, samples, "a", "a"); err == nil {
		t.Error("equal labels accepted")
	}
}
