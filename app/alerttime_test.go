package app

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// TestAlertTimesAreDataTimes: an alert's active_at and resolved_at are the
// data times of the steps it fired and resolved at, the clock of its
// predictions (a reviewer saw, in the demo running ahead of the wall clock,
// an alert resolve 9 minutes before the prediction it fired on, and
// /api/v1/alerts?from=…&to= over the predictions' window answer []).
func TestAlertTimesAreDataTimes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset time.Duration // data time − wall time
	}{
		{"behind the wall clock", -3 * time.Hour},
		{"ahead of the wall clock", 20 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newAlertPipeline(t, alertPipelineOptions{})
			t0 := time.Now().Add(tc.offset).Truncate(time.Minute).UnixMilli()
			step := time.Minute.Milliseconds()
			probs := []float64{0.99, 0.99, 0.1} // alerting.for is 2: fires at the 2nd step, resolves at the 3rd
			for i, prob := range probs {
				ts := t0 + int64(i)*step
				pr := prediction{Prediction: store.Prediction{ID: store.PredictionID("shop/cart-0", ts), Entity: "shop/cart-0",
					T: ts, Prob: prob, Threshold: 0.5}, Labels: map[string]string{"namespace": "shop", "pod": "cart-0"}}
				p.al.process(context.Background(), ts, []prediction{pr}, nil)
			}
			as := p.al.listed()
			if len(as) != 1 {
				t.Fatalf("alerts %+v, want one", as)
			}
			x := api.FromAlert(as[0])
			if x.State != api.AlertResolved || x.ActiveAt != t0+step || x.ResolvedAt != t0+2*step {
				t.Errorf("alert %s active_at %d resolved_at %d, want resolved, %d and %d (the steps' data times)",
					x.State, x.ActiveAt, x.ResolvedAt, t0+step, t0+2*step)
			}
			// Selected by the time range of its predictions.
			q := api.AlertQuery{From: time.UnixMilli(t0), To: time.UnixMilli(t0 + 2*step)}
			if !q.Match(x) {
				t.Errorf("alert %+v not selected by its predictions' range [%d, %d]", x, t0, t0+2*step)
			}
		})
	}
}

// TestModelInfoAnomalyThreshold: /api/v1/model's model tells its anomaly
// threshold (the model file has it; the API did not show it).
func TestModelInfoAnomalyThreshold(t *testing.T) {
	cfg := config.Default()
	m := testModel(t, features.Names(cfg.Config), 4, 8, 1)
	m.SetThresholds(model.Thresholds{Failure: 0.5, Anomaly: 12.5})
	s, st := newTestScorer(t, cfg, m, prometheus.NewRegistry())
	t.Cleanup(func() { _ = st.Close() })
	a := &App{scorer: s, store: st}
	info, err := a.modelInfo(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Threshold != 0.5 || info.AnomalyThreshold != 12.5 {
		t.Errorf("model info thresholds %v and %v, want 0.5 and 12.5", info.Threshold, info.AnomalyThreshold)
	}
}
