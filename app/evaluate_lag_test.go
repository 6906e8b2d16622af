package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestEvaluatorBehind: steps that take longer than the step interval,
// while the data keeps coming at the wall clock's pace, make
// omen_evaluator_behind_steps rise and one warning (naming the step's
// wall time against the step interval) appear; once the steps are fast
// again the evaluator catches up, the gauge returns to 0 and an INFO says
// so. Before, a daemon whose last evaluated step trailed the wall clock by
// two minutes said nothing in its log or metrics (reviewer r1 finding 1).
func TestEvaluatorBehind(t *testing.T) {
	// Without WallClock (the demo, simulations) the data runs ahead of
	// the wall clock by design: the gauge counts, nothing is logged.
	for _, wallClock := range []bool{true, false} {
		t.Run(fmt.Sprintf("wall clock %v", wallClock), func(t *testing.T) {
			wantWarns := 0
			if wallClock {
				wantWarns = 1
			}
			cfg := config.Default()
			reg := prometheus.NewRegistry()
			st, ex, in, sc := newEvaluatorDeps(t, cfg, reg)
			const step = 15 * time.Second
			logs := &testenv.SyncBuffer{}
			e := newEvaluator(evaluatorOptions{Extractor: ex, Store: st, Ingest: in, Scorer: sc, Step: step, Registerer: reg, WallClock: wallClock,
				Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
			now := time.UnixMilli(1_700_000_000_000 / step.Milliseconds() * step.Milliseconds())
			e.clock = func() time.Time { return now }
			in.watermark.Store(now.UnixMilli() + 2*step.Milliseconds())
			// A slow step takes two step intervals, during which the data
			// moves on as much.
			slow := true
			hook := func(point string) {
				if point != "evaluated" || !slow {
					return
				}
				now = now.Add(2 * step)
				in.watermark.Add(2 * step.Milliseconds())
			}
			e.testHook.Store(&hook)
			behind := func() float64 { return testutil.ToFloat64(e.behindG) }
			warns := func() int { return strings.Count(logs.String(), "the evaluator falls behind") }

			most := 0.0
			for range 4 {
				e.tick(context.Background())
				most = max(most, behind())
			}
			if most < behindWarnSteps {
				t.Errorf("omen_evaluator_behind_steps reached %v while every step took two step intervals, want at least %d", most, behindWarnSteps)
			}
			if n := warns(); n != wantWarns {
				t.Fatalf("%d warnings that the evaluator falls behind, want %d:\n%s", n, wantWarns, logs.String())
			}
			if wallClock && !strings.Contains(logs.String(), "step_duration_avg=30s step=15s") {
				t.Errorf("the warning does not name the step's wall time against the step interval:\n%s", logs.String())
			}
			if n := testutil.CollectAndCount(e.stepDur); n != 1 || testutil.ToFloat64(e.steps) == 0 {
				t.Errorf("omen_evaluator_step_duration_seconds not collected (%d) or no step evaluated", n)
			}
			if strings.Contains(logs.String(), "caught up") {
				t.Errorf("caught up while still behind:\n%s", logs.String())
			}

			slow = false
			e.tick(context.Background())
			if got := behind(); got != 0 {
				t.Errorf("omen_evaluator_behind_steps %v once the evaluator caught up, want 0", got)
			}
			if caught := strings.Contains(logs.String(), "the evaluator caught up"); caught != wallClock {
				t.Errorf("INFO that the evaluator caught up: %v, want %v:\n%s", caught, wallClock, logs.String())
			}
			// Quick steps, a few at a time, are not warned of.
			for range 3 {
				in.watermark.Add(6 * step.Milliseconds())
				now = now.Add(6 * step)
				e.tick(context.Background())
			}
			if n := warns(); n != wantWarns {
				t.Errorf("%d warnings after fast steps, want still %d:\n%s", n, wantWarns, logs.String())
			}
			if got := behind(); got != 0 {
				t.Errorf("omen_evaluator_behind_steps %v after fast steps, want 0", got)
			}
		})
	}
}
