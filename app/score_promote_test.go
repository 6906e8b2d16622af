package app

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
)

// TestPromotionDropsStalePredictions: after a promotion to a model with a
// longer window (whose windows fill from live vectors: none are stored
// here), omen_failure_probability does not export the old model's last
// value while the new model's windows fill. Before, it did for every
// entity until then (reviewer's finding).
func TestPromotionDropsStalePredictions(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	mA := testModel(t, names, 4, 8, 1)
	reg := prometheus.NewRegistry()
	s, st := newTestScorer(t, cfg, mA, reg)
	t.Cleanup(func() { _ = st.Close() })
	step := time.Duration(cfg.Step).Milliseconds()
	vec := func(i int64) features.Vector {
		vals := make([]float64, len(names))
		for k := range vals {
			vals[k] = float64((k+int(i))%5) * 0.3
		}
		return features.Vector{Entity: "shop/a", Labels: map[string]string{"namespace": "shop", "pod": "a"}, T: i * step, Values: vals}
	}
	i := int64(0)
	var last float64
	for ; i < 6; i++ {
		ps, _, _ := s.score(context.Background(), i*step, []features.Vector{vec(i)})
		if len(ps) == 1 {
			last = ps[0].Prob
		}
	}
	mB := testModel(t, names, 20, 8, 2)
	data, err := mB.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (registryAdmin{st: st, s: s, source: "t"}).AddModel(context.Background(), data, api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	frozen := 0
	for ; i < 20; i++ {
		ps, _, _ := s.score(context.Background(), i*step, []features.Vector{vec(i)})
		if len(ps) != 0 {
			break
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "omen_failure_probability" && len(mf.Metric) == 1 && mf.Metric[0].GetGauge().GetValue() == last {
				frozen++
			}
		}
	}
	if frozen > 0 {
		t.Errorf("omen_failure_probability exported the old model's stale prediction for %d steps after the promotion", frozen)
	}
}
