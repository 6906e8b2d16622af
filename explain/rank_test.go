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

// TestRankFromStart: with a start entity (the alerting one) only it and
// the entities it depends on are ranked, and the walk from it decays over
// the calls: an entity the alerting one does not call is no cause of its
// alert, however anomalous.
func TestRankFromStart(t *testing.T) {
	g := shop(t)
	if err := g.AddEdge("batch", "payment", 1); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		start    string
		evidence map[string]float64
		want     []string // the ranked entities with score > 0, in order
	}{
		{"leaf fault seen at the frontend", "frontend",
			map[string]float64{"payment": 6, "checkout": 4.5, "frontend": 4, "cart": 0.3, "ads": 0.2, "batch": 9},
			[]string{"payment", "checkout", "frontend", "cart", "ads"}},
		// The fleet-wide walk ranks payment first here (see below): its
		// evidence is close to the frontend's and it sits deep in the
		// graph; from the frontend it is two hops away behind a quiet
		// checkout.
		{"the frontend's own fault", "frontend",
			map[string]float64{"frontend": 1.65, "payment": 1.49, "checkout": 0.29, "cart": 0.1, "batch": 3},
			[]string{"frontend", "payment", "checkout", "cart"}},
		{"a leaf ranks itself alone", "cart",
			map[string]float64{"payment": 6, "checkout": 4.5, "cart": 0.3},
			[]string{"cart"}},
		{"callers are no causes", "checkout",
			map[string]float64{"frontend": 8, "checkout": 1, "payment": 0.5, "ads": 3},
			[]string{"checkout", "payment"}},
		{"start outside the graph", "etcd",
			map[string]float64{"payment": 6, "etcd": 0.2},
			[]string{"etcd"}},
		{"start without evidence", "frontend",
			map[string]float64{"payment": 1, "checkout": 0.5},
			[]string{"payment", "checkout"}},
		// As everywhere in the walk, a callee is reached through callers
		// with evidence: a fault propagates up the calls, and one behind
		// a quiet checkout did not reach the frontend that way.
		{"a dependency behind a quiet one", "frontend",
			map[string]float64{"frontend": 1, "payment": 6},
			[]string{"frontend"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			causes, err := Rank(g, tc.evidence, RankOptions{Start: tc.start})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var sum float64
			for _, c := range causes {
				sum += c.Score
				if c.Score > 0 {
					got = append(got, c.Entity)
				}
				if c.Entity == "batch" {
					t.Errorf("batch (calls payment, not called by %s) ranked: %+v", tc.start, causes)
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ranked %v, want %v (%+v)", got, tc.want, causes)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("ranked %v, want %v (%+v)", got, tc.want, causes)
				}
			}
			if math.Abs(sum-1) > 1e-9 {
				t.Errorf("scores sum to %v", sum)
			}
		})
	}
	// The fleet-wide ranking of the second case, for contrast: payment.
	causes, err := Rank(g, map[string]float64{"frontend": 1.65, "payment": 1.49, "checkout": 0.29, "cart": 0.1}, RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("fleet-wide: %+v", causes)
}

// TestCausesListsOnlyCauses: metric groups whose φ is a rounding error of
// the positive attribution, and entities with score 0, are not listed; the
// lists are [] rather than null when nothing qualifies.
func TestCausesListsOnlyCauses(t *testing.T) {
	attr := Attribution{Groups: []GroupAttribution{
		{Name: "memory", Kind: KindMetric, Phi: 0.99},
		{Name: "errors", Kind: KindMetric, Phi: 2e-6},
		{Name: "rate", Kind: KindMetric, Phi: 1e-9},
		{Name: "cpu", Kind: KindMetric, Phi: -0.01},
	}}
	rc, err := Causes(attr, shop(t), map[string]float64{"frontend": 1, "checkout": 0.5}, 5, RankOptions{Start: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rc.Metrics) != 1 || rc.Metrics[0].Name != "memory" {
		t.Errorf("metric causes %+v, want memory alone", rc.Metrics)
	}
	if len(rc.Entities) != 2 || rc.Entities[0].Entity != "frontend" {
		t.Errorf("entity causes %+v, want frontend, checkout (the others have no evidence)", rc.Entities)
	}
	attr.Groups = attr.Groups[3:]
	rc, err = Causes(attr, nil, nil, 5, RankOptions{Start: "frontend"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(rc)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"metrics":[],"entities":[]}`; string(b) != want {
		t.Errorf("causes without any %s, want %s", b, want)
	}
}
