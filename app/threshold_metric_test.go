package app

import (
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// modelThreshold returns the value of omen_model_failure_threshold on reg
// and whether it is exported (one series, no labels).
func modelThreshold(t *testing.T, reg prometheus.Gatherer) (float64, bool) {
	t.Helper()
	return testenv.GaugeValue(t, reg, "omen_model_failure_threshold")
}

// TestModelFailureThresholdMetric: omen_model_failure_threshold is the
// loaded model's failure threshold (the calibrated probability it alerts
// at, which dashboards and rules compare omen_failure_probability with),
// follows a promotion when the model is reloaded, and is absent without a
// model.
func TestModelFailureThresholdMetric(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)

	t.Run("no model", func(t *testing.T) {
		st, err := store.Open(store.Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		reg := prometheus.NewRegistry()
		if _, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: reg, Logger: slog.New(slog.DiscardHandler)}); err != nil {
			t.Fatal(err)
		}
		if v, ok := modelThreshold(t, reg); ok {
			t.Fatalf("omen_model_failure_threshold %v without a model, want absent", v)
		}
	})

	t.Run("reload", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		first := testModel(t, names, 4, 8, 1)
		th := first.Thresholds()
		th.Failure = 0.43
		first.SetThresholds(th)
		s, st := newTestScorer(t, cfg, first, reg)
		if v, ok := modelThreshold(t, reg); !ok || v != 0.43 {
			t.Fatalf("omen_model_failure_threshold %v (exported %v), want 0.43", v, ok)
		}
		for i, want := range []float64{0.061, 0.002, 0.8} {
			m := testModel(t, names, 4, 8, int64(i+2))
			th := m.Thresholds()
			th.Failure = want
			m.SetThresholds(th)
			v, _ := promoteTestModel(t, st, m)
			if err := s.reloadModel(); err != nil {
				t.Fatalf("reload %s: %v", v, err)
			}
			if got, ok := modelThreshold(t, reg); !ok || got != want {
				t.Fatalf("after promoting %s: omen_model_failure_threshold %v (exported %v), want %v", v, got, ok, want)
			}
		}
	})
}
