package app

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
)

// TestCatchUpSkipsCounted: when the watermark jumps more than maxCatchUp
// steps (a NATS backlog drained after an outage), the evaluator evaluates
// the newest maxCatchUp steps (no more than the in-memory window holds,
// lookback/step) and counts the older ones it skips in
// omen_evaluator_skipped_steps_total, with a warning. Before, nothing in
// any metric or log said so (reviewer's finding).
func TestCatchUpSkipsCounted(t *testing.T) {
	tests := []struct {
		name     string
		lookback func(step time.Duration) time.Duration
		want     float64 // steps evaluated
		why      string  // in the warning
	}{
		{name: "no window bound", lookback: func(time.Duration) time.Duration { return 0 }, want: maxCatchUp, why: "one catch-up evaluates at most the newest 64 steps"},
		// A window of 1,800 steps (a 500 ms step, 15 m lookback): the
		// skipped steps are in it; the warning said they were not.
		{name: "window larger than a catch-up", lookback: func(step time.Duration) time.Duration { return 1800 * step }, want: maxCatchUp, why: "one catch-up evaluates at most the newest 64 steps"},
		// Steps older than the in-memory window would be evaluated on
		// samples it no longer holds (reviewer's finding: empty steps).
		{name: "window of 10 steps", lookback: func(step time.Duration) time.Duration { return 10 * step }, want: 10, why: "out of the in-memory window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			reg := prometheus.NewRegistry()
			st, ex, in, sc := newEvaluatorDeps(t, cfg, reg)
			step := time.Duration(cfg.Step)
			logs := &testenv.SyncBuffer{}
			e := newEvaluator(evaluatorOptions{Extractor: ex, Store: st, Ingest: in, Scorer: sc, Step: step, Lookback: tt.lookback(step), Registerer: reg,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			base := int64(1_700_000_000_000) / step.Milliseconds() * step.Milliseconds()
			in.watermark.Store(base + 2*step.Milliseconds())
			e.tick(context.Background())
			before := testutil.ToFloat64(e.steps)
			// The backlog of 200 steps arrives at once.
			in.watermark.Store(base + 202*step.Milliseconds())
			e.tick(context.Background())
			got, skipped := testutil.ToFloat64(e.steps)-before, testutil.ToFloat64(e.skipped)
			if got != tt.want || skipped != 200-tt.want {
				t.Errorf("of 200 steps: %v evaluated, %v counted skipped; want %v and %v", got, skipped, tt.want, 200-tt.want)
			}
			if out := logs.String(); !strings.Contains(out, "steps skipped") || !strings.Contains(out, tt.why) {
				t.Errorf("no warning logged saying %q: %q", tt.why, out)
			}
		})
	}
}

// newEvaluatorDeps makes, over a new in-memory store (closed at the end of
// the test) and on reg, what an evaluator of cfg takes: its extractor over
// a new head, its ingester and its scorer.
func newEvaluatorDeps(t *testing.T, cfg *config.Config, reg *prometheus.Registry) (*store.Store, *features.Extractor, *ingester, *scorer) {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	head, err := features.NewHead(features.HeadOptions{Lookback: time.Duration(cfg.Lookback), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: cfg.Config, Head: head, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	in := newIngester(st, head, ex, reg, slog.New(slog.DiscardHandler))
	sc, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return st, ex, in, sc
}
