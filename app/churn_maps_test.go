package app

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// churnEntities churned through, churnKeep left after the churn.
const churnEntities, churnKeep = 50_000, 100

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
	held := testenv.HeldBeyond(func() {
		s.windows, s.latest = testenv.CopyMap(s.windows), testenv.CopyMap(s.latest)
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
	held := testenv.HeldBeyond(func() { e.known = testenv.CopyMap(e.known) })
	t.Logf("known entities of %d after %d churned: %d bytes more than a copy", churnKeep, churnEntities, held)
	if held > 256<<10 {
		t.Errorf("after the churn the evaluator's known entities hold %d bytes more than a map of the %d left", held, churnKeep)
	}
}

// After a churn of lagging series (50,000 excluded from the wait for
// inputs, then stopped and forgotten after excludedKeep) the evaluator's
// excluded series hold about what a map made for the 100 still lagging
// does: the sweep deleted the stopped series' entries, but the map kept
// its largest population's buckets.
func TestEvaluatorExcludedShrinksAfterChurn(t *testing.T) {
	r := newInputsRig(t, time.Hour, time.Minute)
	const scrape = 15_000
	base := int64(1_800_000_000_000) / r.step * r.step
	// appendPods appends a sample of m of the pods named prefix-0… at each
	// of ts (value v), without a tick (the evaluator would evaluate every
	// churned series).
	appendPods := func(prefix string, n int, ts []int64, v float64) {
		t.Helper()
		b := telemetry.Batch{Source: "remote-write", Received: r.now.UnixMilli()}
		for i := range n {
			ls := labels.FromStrings("__name__", "m", "namespace", "ns", "pod", prefix+"-"+strconv.Itoa(i))
			for _, ts := range ts {
				b.Samples = append(b.Samples, telemetry.Sample{Labels: ls, T: ts, V: v})
			}
		}
		if err := r.in.Append(context.Background(), []telemetry.Batch{b}); err != nil {
			t.Fatal(err)
		}
	}
	appendPods("keep", churnKeep, []int64{base, base + scrape}, 1)
	appendPods("churn", churnEntities, []int64{base, base + scrape}, 1)
	// Every series lags behind the step waited on: all are excluded.
	far := base + 24*time.Hour.Milliseconds()
	if n := r.e.scanProgress(r.now.UnixMilli(), far, far); n != churnKeep+churnEntities {
		t.Fatalf("%d series excluded, want %d", n, churnKeep+churnEntities)
	}
	// The churned pods are deleted (stale markers); the kept ones go on
	// lagging, seen at every scan, past excludedKeep.
	appendPods("churn", churnEntities, []int64{base + 2*scrape}, math.Float64frombits(value.StaleNaN))
	for k := int64(1); k*scrape <= (excludedKeep + 2*time.Minute).Milliseconds(); k++ {
		r.now = r.now.Add(scrape * time.Millisecond)
		if k%4 == 0 {
			appendPods("keep", churnKeep, []int64{base + (k+1)*scrape}, 1)
		}
		r.e.hold(far)
	}
	if len(r.e.excluded) != churnKeep {
		t.Fatalf("%d series excluded, want %d", len(r.e.excluded), churnKeep)
	}
	held := testenv.HeldBeyond(func() { r.e.excluded = testenv.CopyMap(r.e.excluded) })
	runtime.KeepAlive(r) // else its head, dead after the copy, counts as held
	t.Logf("excluded series of %d after %d churned: %d bytes more than a copy", churnKeep, churnEntities, held)
	if held > 256<<10 {
		t.Errorf("after the churn the evaluator's excluded series hold %d bytes more than a map of the %d left", held, churnKeep)
	}
}

// After a churn (50,000 alerts reported firing, then resolved: their
// entities gone) the alerter's firing alerts hold about what a map made
// for the alerts left does: report deleted the resolved ones, but the map
// kept its largest population's buckets.
func TestAlerterFiringShrinksAfterChurn(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg := testConfig(t)
	al, err := newAlerter(alerterOptions{Store: st, Config: cfg, ListenAddress: "127.0.0.1:1", Step: time.Duration(cfg.Step),
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = al.close(context.Background()) })
	// The alerts reported firing at earlier steps; none fires now.
	for i := range churnEntities {
		fp := "churn-" + strconv.Itoa(i)
		al.firing[fp] = FiredAlert{Fingerprint: fp, Entity: "shop/" + fp, Labels: map[string]string{"namespace": "shop", "pod": fp}}
	}
	al.report(time.Now().UnixMilli())
	al.mu.Lock()
	defer al.mu.Unlock()
	if len(al.firing) != 0 {
		t.Fatalf("%d alerts firing, want none", len(al.firing))
	}
	held := testenv.HeldBeyond(func() { al.firing = testenv.CopyMap(al.firing) })
	t.Logf("firing alerts after %d churned: %d bytes more than a copy", churnEntities, held)
	if held > 256<<10 {
		t.Errorf("after the churn the alerter's firing alerts hold %d bytes more than a map of the alerts left", held)
	}
}
