package apitest

import (
	"fmt"
	"math"
	"math/rand"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
)

// Fleet returns a backend of n entities (namespace ns<i%4>, pod pod-<i>)
// whose latest predictions at T0 each have an explanation over f metric
// groups and a W×f window, plus history steps earlier predictions per
// entity, one firing alert per entity at or over the threshold and a ring
// call graph: the size of a real fleet, for benchmarks.
func Fleet(n, f, w, history int, seed int64) *api.MemBackend {
	rng := rand.New(rand.NewSource(seed))
	features := make([]string, f)
	for j := range features {
		features[j] = fmt.Sprintf("metric_%02d", j)
	}
	m := &api.MemBackend{Explanations: map[string]api.Explanation{}, Service: map[string]string{}, Evidence: map[string]float64{},
		Model: &api.ModelInfo{Version: "bench", Created: T0, Features: features, Window: w, StepMs: Step, HorizonMs: 600000, Threshold: 0.5}}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("ns%d/pod-%d", i%4, i)
		svc := fmt.Sprintf("svc-%d", i)
		labels := map[string]string{"namespace": fmt.Sprintf("ns%d", i%4), "pod": fmt.Sprintf("pod-%d", i), "service": svc}
		m.Service[id] = svc
		m.Evidence[svc] = 3 * rng.Float64()
		m.Edges = append(m.Edges, explain.Edge{From: svc, To: fmt.Sprintf("svc-%d", (i+1)%n), Weight: 1})
		prob := rng.Float64()
		for k := history; k >= 0; k-- {
			t := T0 - int64(k)*Step
			m.PredictionList = append(m.PredictionList, api.Prediction{ID: fmt.Sprintf("%s@%d", id, t), Entity: id, Labels: labels,
				T: t, Probability: prob * math.Exp(-float64(k)/10), Threshold: 0.5, ModelVersion: "bench"})
		}
		groups := make([]explain.GroupAttribution, f)
		abs, sum := 0.0, 0.0
		for j := range groups {
			phi := (rng.Float64() - 0.3) * prob / float64(f)
			groups[j] = explain.GroupAttribution{Name: features[j], Kind: explain.KindMetric, Phi: phi}
			abs += math.Abs(phi)
			sum += phi
		}
		for j := range groups {
			groups[j].Share = math.Abs(groups[j].Phi) / abs
		}
		attr := explain.Attribution{Groups: groups, Baseline: 0.1, Value: 0.1 + sum, Method: "permutation", Background: 16}
		win := make([][]float64, w)
		for t := range win {
			win[t] = make([]float64, f)
			for j := range win[t] {
				win[t][j] = rng.NormFloat64()
			}
		}
		x := api.Explanation{PredictionID: fmt.Sprintf("%s@%d", id, T0), Entity: id, Labels: labels, T: T0,
			Probability: prob, Threshold: 0.5, ModelVersion: "bench", Attribution: attr, Features: features, Window: win, Step: Step}
		for _, g := range attr.Top(5) {
			x.Causes.Metrics = append(x.Causes.Metrics, api.MetricCause{Name: g.Name, Kind: g.Kind, Phi: g.Phi, Share: g.Share})
		}
		x.Causes.Entities = []api.EntityCause{{Entity: svc, Score: 0.6, Evidence: 2}, {Entity: fmt.Sprintf("svc-%d", (i+1)%n), Score: 0.4, Evidence: 1}}
		m.Explanations[x.PredictionID] = x
		if prob >= 0.5 {
			m.AlertList = append(m.AlertList, api.Alert{Fingerprint: fmt.Sprintf("%016x", rng.Uint64()), State: api.AlertFiring,
				Entity: id, Labels: labels, PredictionID: x.PredictionID, Probability: prob, Threshold: 0.5, ActiveAt: T0})
		}
	}
	return m
}
