package app

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
)

// TestExplainUsesScoringModel: a promotion between latestPrediction and
// explainer.explain (the API's explainEntity, alertExplainer.explain)
// does not change the model the prediction is explained with: model A's
// prediction is explained with A and labelled A, its attributions adding
// up to its probability. Before, it was explained with model B and
// labelled B (reviewer's finding).
func TestExplainUsesScoringModel(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	mA := testModel(t, names, 4, 8, 1)
	s, st := newTestScorer(t, cfg, mA, prometheus.NewRegistry())
	t.Cleanup(func() { _ = st.Close() })
	step := time.Duration(cfg.Step).Milliseconds()
	for i := int64(0); i < 6; i++ {
		vals := make([]float64, len(names))
		for k := range vals {
			vals[k] = float64((k+int(i))%5) * 0.3
		}
		s.score(context.Background(), i*step, []features.Vector{{Entity: "shop/a", Labels: map[string]string{"namespace": "shop", "pod": "a"}, T: i * step, Values: vals}})
	}
	_, vA := s.Model()
	p, ok := s.latestPrediction("shop/a")
	if !ok {
		t.Fatal("no latest prediction")
	}
	// Promotion by the API meanwhile.
	mB := testModel(t, names, 4, 8, 7)
	data, err := mB.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (registryAdmin{st: st, s: s, source: "t"}).AddModel(context.Background(), data, api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	x, err := newExplainer(st, s, cfg).explain(context.Background(), p)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	if x.ModelVersion != p.ModelVersion || math.Abs(x.Attribution.Value-p.Prob) > 1e-4 {
		t.Errorf("explanation of %s's prediction (scored by %s) was computed with model %s", p.ID, vA, x.ModelVersion)
	}
}
