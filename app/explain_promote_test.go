package app

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
)

// stepScorer returns a function that scores entity shop/a's next vector
// (of the features names, steps of step from 0) with s.
func stepScorer(t *testing.T, s *scorer, names []string, step time.Duration) func() {
	i := int64(0)
	return func() {
		t.Helper()
		vals := make([]float64, len(names))
		for k := range vals {
			vals[k] = float64((k+int(i))%5) * 0.3
		}
		ms := i * step.Milliseconds()
		v := features.Vector{Entity: "shop/a", Labels: map[string]string{"namespace": "shop", "pod": "a"}, T: ms, Values: vals}
		if _, _, err := s.score(context.Background(), ms, []features.Vector{v}); err != nil {
			t.Fatal(err)
		}
		i++
	}
}

// TestExplainNowAfterModelChange: explain-now right after a promotion or
// a rollback explains the entity's latest prediction (the one the API
// lists) with the model that scored it, until the new model's first step
// replaces the predictions. Before, it answered 404 "entity … has no
// current prediction" for up to a step (reviewer's finding). The
// promoted model has a longer window than the ring holds, so the window
// must be the scoring model's.
func TestExplainNowAfterModelChange(t *testing.T) {
	tests := []struct {
		name string
		// rollback: B scores a step, then A is made active again; the
		// latest predictions are B's.
		rollback bool
		windowB  int
	}{
		{"promote", false, 6},
		{"rollback", true, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			names := features.Names(cfg.Config)
			s, st := newTestScorer(t, cfg, testModel(t, names, 4, 8, 1), prometheus.NewRegistry())
			t.Cleanup(func() { _ = st.Close() })
			ctx := context.Background()
			scoreStep := stepScorer(t, s, names, time.Duration(cfg.Step))
			for range 6 {
				scoreStep()
			}
			_, vA := s.Model()
			admin := registryAdmin{st: st, s: s, source: "t"}
			data, err := testModel(t, names, tc.windowB, 8, 7).MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := admin.AddModel(ctx, data, api.AddOptions{Promote: true}); err != nil {
				t.Fatal(err)
			}
			if tc.rollback {
				scoreStep()
				if _, err := admin.SetActive(ctx, vA); err != nil {
					t.Fatal(err)
				}
			}
			s.mu.RLock()
			want := s.latest["shop/a"]
			s.mu.RUnlock()
			if want.ID == "" || (want.ModelVersion == vA) == tc.rollback {
				t.Fatalf("latest prediction %s of model %s (A is %s): not the previous model's", want.ID, want.ModelVersion, vA)
			}
			a := &App{scorer: s, explainer: newExplainer(st, s, cfg)}
			x, err := a.explainEntity(ctx, "shop/a")
			if err != nil {
				t.Fatalf("explain now after the model change: %v", err)
			}
			if x.PredictionID != want.ID || x.ModelVersion != want.ModelVersion || math.Abs(x.Attribution.Value-want.Prob) > 1e-4 {
				t.Errorf("explained %s with model %s (f(x) %v), want %s scored by %s (%v)",
					x.PredictionID, x.ModelVersion, x.Attribution.Value, want.ID, want.ModelVersion, want.Prob)
			}
		})
	}
}

// TestExplainNowWhileWindowFills: once a promoted model with a longer
// window has scored its first step, an entity whose window is still
// filling is not explained yet: explain-now answers 503 (ErrUnavailable)
// with when to retry (the steps left), not 404 "no current prediction"
// of an entity that exists and is explained once scored. An entity
// omen does not hold is still 404.
func TestExplainNowWhileWindowFills(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	s, st := newTestScorer(t, cfg, testModel(t, names, 4, 8, 1), prometheus.NewRegistry())
	t.Cleanup(func() { _ = st.Close() })
	ctx := context.Background()
	step := time.Duration(cfg.Step)
	scoreStep := stepScorer(t, s, names, step)
	for range 6 {
		scoreStep()
	}
	data, err := testModel(t, names, 12, 8, 7).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (registryAdmin{st: st, s: s, source: "t"}).AddModel(ctx, data, api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	scoreStep() // the new model's first step: the entity's window fills
	a := &App{scorer: s, explainer: newExplainer(st, s, cfg)}
	_, err = a.explainEntity(ctx, "shop/a")
	var ra *api.RetryAfterError
	if !errors.Is(err, api.ErrUnavailable) || !errors.As(err, &ra) {
		t.Fatalf("explain now while the window fills: %v, want ErrUnavailable with a Retry-After", err)
	}
	held, need, ok := s.filling("shop/a")
	if !ok || need != 13 || held >= need {
		t.Fatalf("filling: %d of %d (%v)", held, need, ok)
	}
	if want := time.Duration(need-held) * step; ra.After != want {
		t.Errorf("retry after %v, want %v (%d steps left)", ra.After, want, need-held)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("holds %d of the %d steps", held, need)) {
		t.Errorf("error %q does not say how full the window is", err)
	}
	if _, err := a.explainEntity(ctx, "shop/none"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("explain now of an unknown entity: %v, want ErrNotFound", err)
	}
	// Once the window is full, explained.
	for range need - held {
		scoreStep()
	}
	if _, err := a.explainEntity(ctx, "shop/a"); err != nil {
		t.Errorf("explain now once the window is full: %v", err)
	}
}
