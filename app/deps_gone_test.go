package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
)

// TestDependenciesOfGonePod: a pod the scorer has dropped (no vector for
// more than the alert's missing steps: a rolling deploy replaced it) still
// maps to its service's node through the labels the store keeps, so its
// pages show the service's neighbourhood; before, only the scorer's latest
// predictions mapped it, and the UI said "no dependency graph for this
// entity" while /api/v1/entities/frontend/dependencies answered 200 (UI
// reviewer's finding 6).
func TestDependenciesOfGonePod(t *testing.T) {
	cfg := config.Default()
	cfg.Dependencies = []config.Dependency{{Source: "frontend", Target: "cart"}}
	names := features.Names(cfg.Config)
	s, st := newTestScorer(t, cfg, testModel(t, names, 4, 8, 1), prometheus.NewRegistry())
	ex := newExplainer(st, s, cfg)
	a := &App{scorer: s, explainer: ex, store: st, logger: slog.New(slog.DiscardHandler)}
	step := time.Duration(cfg.Step).Milliseconds()
	const old, repl = "shop/frontend-6f7c9d8b4-q2w3e", "shop/frontend-5b8d7c6f9-z9y8x"
	labels := func(e string) map[string]string {
		return map[string]string{"namespace": "shop", "pod": e[len("shop/"):]}
	}
	vec := func(e string, i int64) features.Vector {
		vals := make([]float64, len(names))
		for k := range vals {
			vals[k] = float64((k+int(i))%5) * 0.3
		}
		return features.Vector{Entity: e, Labels: labels(e), T: i * step, Values: vals}
	}
	ctx := context.Background()
	n := int64(6)
	for i := range n {
		s.score(ctx, i*step, []features.Vector{vec(old, i)})
	}
	if err := st.PutEntity(old, labels(old), (n-1)*step); err != nil {
		t.Fatal(err)
	}
	if got, err := a.dependencies(ctx, old); err != nil || got.Node != "frontend" {
		t.Fatalf("live pod: node %q, %v; want frontend", got.Node, err)
	}
	// The deploy: the old pod sends nothing any more.
	for i := n; i < n+int64(alert.DefaultMissingSteps)+3; i++ {
		s.score(ctx, i*step, []features.Vector{vec(repl, i)})
	}
	if _, ok := s.latestPrediction(old); ok {
		t.Fatal("the scorer still holds the old pod")
	}
	got, err := a.dependencies(ctx, old)
	if err != nil || got.Node != "frontend" {
		t.Errorf("gone pod: node %q, %v; want frontend (its stored labels' service)", got.Node, err)
	}
}
