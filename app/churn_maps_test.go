package app

import (
	"context"
	"log/slog"
	"maps"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// churnEntities churned through, churnKeep left after the churn.
const churnEntities, churnKeep = 50_000, 100

// liveHeapBytes returns the bytes of live heap objects after a collection.
func liveHeapBytes() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// heldBeyond is how many bytes of live heap replacing the maps with copies
// of their entries (replace) frees: what the maps keep of entries deleted
// since they were made.
func heldBeyond(replace func()) int64 {
	before := liveHeapBytes()
	replace()
	return int64(before) - int64(liveHeapBytes())
}

// copyMap is a map of m's entries made for them (maps.Clone may keep
// m's capacity).
func copyMap[M ~map[K]V, K comparable, V any](m M) M {
	c := make(M, len(m))
	maps.Copy(c, m)
	return c
}

// churnVectors are the vectors of n entities named prefix-i at t.
func churnVectors(prefix string, n, nf int, t int64) []features.Vector {
	vs := make([]features.Vector, n)
	for i := range vs {
		pod := prefix + "-" + strconv.Itoa(i)
		vals := make([]float64, nf)
		for k := range vals {
			vals[k] = float64((i+k)%5) * 0.1
		}
		vs[i] = features.Vector{Entity: "shop/" + pod, Labels: map[string]string{"namespace": "shop", "pod": pod}, T: t, Values: vals}
	}
	return vs
}

// After a churn (50,000 entities scored once, then gone) the scorer's
// windows and latest predictions of the 100 entities left hold about what
// maps made for them do: a Go map keeps the buckets of deleted entries,
// so the scorer kept its largest population's maps.
func TestScorerMapsShrinkAfterChurn(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	const w = 4
	s, _ := newTestScorer(t, cfg, testModel(t, names, w, 8, 1), prometheus.NewRegistry())
	step := time.Duration(cfg.Step).Milliseconds()
	ctx := context.Background()
	// The churned entities are scored once (at their W+1-th step), the
	// kept ones go on; the churned are gone after their window.
	for k := int64(0); k < 20; k++ {
		vs := churnVectors("keep", churnKeep, len(names), k*step)
		if k <= w {
			vs = append(vs, churnVectors("churn", churnEntities, len(names), k*step)...)
		}
		preds, _, err := s.score(ctx, k*step, vs)
		if err != nil {
			t.Fatal(err)
		}
		if k == w && len(preds) != churnKeep+churnEntities {
			t.Fatalf("%d predictions at step %d, want %d", len(preds), k, churnKeep+churnEntities)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.windows) != churnKeep || len(s.latest) != churnKeep {
		t.Fatalf("%d windows and %d latest predictions, want %d", len(s.windows), len(s.latest), churnKeep)
	}
	held := heldBeyond(func() {
		s.windows, s.latest = copyMap(s.windows), copyMap(s.latest)
	})
	t.Logf("windows and latest predictions of %d entities after %d churned: %d bytes more than copies", churnKeep, churnEntities, held)
	if held > 256<<10 {
		t.Errorf("after the churn the scorer's maps hold %d bytes more than maps of the %d entities left", held, churnKeep)
	}
}

// After a churn (50,000 entities seen once, forgotten after
// 2×entityRefresh) the evaluator's known entities hold about what a map
// made for the 100 entities left does.
func TestEvaluatorKnownShrinksAfterChurn(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := newEvaluator(evaluatorOptions{Store: st, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	step := time.Minute.Milliseconds()
	t0 := 1000 * step
	steps := (2*entityRefresh + 2*forgetEvery).Milliseconds() / step
	for k := int64(0); k <= steps; k++ {
		ts := t0 + k*step
		vs := churnVectors("keep", churnKeep, 1, ts)
		if k == 0 {
			vs = append(vs, churnVectors("churn", churnEntities, 1, ts)...)
		}
		if !e.store(ts, vs) {
			t.Fatalf("step %d not stored", k)
		}
		e.forget(ts)
		if k == 0 && len(e.known) != churnKeep+churnEntities {
			t.Fatalf("%d entities known, want %d", len(e.known), churnKeep+churnEntities)
		}
	}
	if len(e.known) != churnKeep {
		t.Fatalf("%d entities known, want %d", len(e.known), churnKeep)
	}
	held := heldBeyond(func() { e.known = copyMap(e.known) })
	t.Logf("known entities of %d after %d churned: %d bytes more than a copy", churnKeep, churnEntities, held)
	if held > 256<<10 {
		t.Errorf("after the churn the evaluator's known entities hold %d bytes more than a map of the %d left", held, churnKeep)
	}
}
