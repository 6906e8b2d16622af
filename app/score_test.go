package app

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// TestPredictionMetrics: the scorer exports omen_failure_probability and
// omen_anomaly_score per live entity with its entity labels, and removes
// an entity's series when it disappears.
func TestPredictionMetrics(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := config.Default()
	names := features.Names(cfg.Config)
	m, err := model.New(model.Config{Features: names, Window: 4, Hidden: 8, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.SetThresholds(model.Thresholds{Failure: 0.5})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	v, err := RegisterModel(st, m, data, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Promote(v); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	step := time.Duration(cfg.Step).Milliseconds()
	vec := func(pod string, t int64) features.Vector {
		vals := make([]float64, len(names))
		for i := range vals {
			vals[i] = float64(i%3) * 0.1
		}
		return features.Vector{Entity: "shop/" + pod, Labels: map[string]string{"namespace": "shop", "pod": pod}, T: t, Values: vals}
	}
	var preds []prediction
	for i := int64(0); i < 6; i++ {
		preds = s.score(context.Background(), i*step, []features.Vector{vec("a", i*step), vec("b", i*step)})
	}
	if len(preds) != 2 {
		t.Fatalf("%d predictions, want 2", len(preds))
	}
	if n := testutil.CollectAndCount(reg, "omen_failure_probability"); n != 2 {
		t.Fatalf("omen_failure_probability has %d series, want 2", n)
	}
	want := "# HELP omen_failure_probability Predicted probability of a module-load failure within the model's horizon.\n# TYPE omen_failure_probability gauge\n" +
		"omen_failure_probability{namespace=\"shop\",pod=\"a\"} " + fmtFloat(preds[0].Prob) + "\n" +
		"omen_failure_probability{namespace=\"shop\",pod=\"b\"} " + fmtFloat(preds[1].Prob) + "\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "omen_failure_probability"); err != nil {
		t.Error(err)
	}
	// Pod b disappears: after the window it is gone from the exposition.
	for i := int64(6); i < 20; i++ {
		s.score(context.Background(), i*step, []features.Vector{vec("a", i*step)})
	}
	if n := testutil.CollectAndCount(reg, "omen_anomaly_score"); n != 1 {
		t.Fatalf("omen_anomaly_score has %d series after pod b disappeared, want 1", n)
	}
}

func fmtFloat(f float64) string { return strings.TrimSpace(prometheusFloat(f)) }

func prometheusFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}
