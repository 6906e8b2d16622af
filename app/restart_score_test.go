package app

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// TestRestartScoresAtOnce: a restarted daemon scores every entity at the
// first steps it evaluates, its windows filled from the vectors stored
// before the stop. Before, it scored nothing for W+1 steps after every
// restart (reviewer's finding): here every step after the restart would
// have lacked its predictions.
func TestRestartScoresAtOnce(t *testing.T) {
	dir := t.TempDir()
	natsPort := testenv.StablePort(t)
	mut := func(o *Options) { o.NATSListenAddress = fmt.Sprintf("127.0.0.1:%d", natsPort) }
	a := startApp(t, dir, mut)
	ctx := context.Background()
	file := modelFileOf(t, model.Config{Features: a.FeatureNames(), Window: 8, Hidden: 4, Seed: 1}, "w8")
	if _, err := a.Registry("test").AddModel(ctx, file, api.AddOptions{Promote: true}); err != nil {
		t.Fatal(err)
	}
	const entity = "shop/cart-0"
	start := time.Now().Add(-3 * time.Minute).Truncate(5 * time.Second)
	rounds := func(from, to int) [][]byte {
		var out [][]byte
		for r := from; r < to; r++ {
			out = append(out, podLines(r, start.Add(time.Duration(r)*5*time.Second), 2))
		}
		return out
	}
	// lastPrediction is the time of the entity's newest prediction (0: none).
	lastPrediction := func(st *store.Store) int64 {
		var last int64
		if err := st.Predictions(entity, math.MinInt64, math.MaxInt64, func(p store.Prediction) error { last = p.T; return nil }); err != nil {
			t.Fatal(err)
		}
		return last
	}
	// The evaluator starts at the newest step: the first rounds, then
	// the others, which it evaluates step by step.
	publish(t, a.NATSURL(), "omen.metrics.influx", rounds(0, 3)...)
	waitFor(t, "the first step", 30*time.Second, func() bool { n, _ := countVectors(t, a.Store(), entity); return n > 0 })
	publish(t, a.NATSURL(), "omen.metrics.influx", rounds(3, 20)...)
	waitFor(t, "predictions before the stop", 30*time.Second, func() bool {
		return lastPrediction(a.Store()) >= start.Add(18*5*time.Second).UnixMilli()
	})
	predicted := lastPrediction(a.Store())
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	b := startApp(t, dir, mut)
	publish(t, b.NATSURL(), "omen.metrics.influx", rounds(20, 24)...)
	waitFor(t, "vectors after the restart", 30*time.Second, func() bool {
		_, last := countVectors(t, b.Store(), entity)
		return last.T >= start.Add(22*5*time.Second).UnixMilli()
	})
	preds := map[int64]bool{}
	if err := b.Store().Predictions(entity, predicted+1, math.MaxInt64, func(p store.Prediction) error { preds[p.T] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	steps := 0
	err := b.Store().Vectors(entity, predicted+1, math.MaxInt64, func(v store.Vector) error {
		steps++
		if !preds[v.T] {
			t.Errorf("step %v, evaluated after the restart, has no prediction", time.UnixMilli(v.T).UTC())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if steps == 0 {
		t.Fatal("no step evaluated after the restart")
	}
}
