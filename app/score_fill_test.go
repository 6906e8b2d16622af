package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// fillFixture runs scorer s over steps [from, to) of entities a and b
// (gone after step 3) and c, storing their vectors and sightings as the
// evaluator does; it returns the predictions of the last step by entity.
type fillFixture struct {
	t     *testing.T
	cfg   *config.Config
	st    *store.Store
	names []string
	step  int64
	rng   *rand.Rand
}

func (f *fillFixture) vectors(k int64) []features.Vector {
	var vs []features.Vector
	for _, pod := range []string{"a", "b", "c"} {
		if pod == "b" && k > 3 {
			continue
		}
		vals := make([]float64, len(f.names))
		for i := range vals {
			vals[i] = f.rng.NormFloat64()
		}
		vs = append(vs, features.Vector{Entity: "shop/" + pod, Labels: map[string]string{"namespace": "shop", "pod": pod},
			T: k * f.step, Values: vals, Failure: make([]bool, len(f.cfg.LabelNames()))})
	}
	return vs
}

// run stores and scores steps [from, to) with the scorers, each getting
// the same vectors; it returns each scorer's predictions of the last step.
func (f *fillFixture) run(from, to int64, ss ...*scorer) []map[string]prediction {
	f.t.Helper()
	out := make([]map[string]prediction, len(ss))
	for k := from; k < to; k++ {
		vs := f.vectors(k)
		recs := make([]store.Vector, len(vs))
		seen := make([]store.EntityInfo, len(vs))
		for i, v := range vs {
			recs[i] = store.Vector{Entity: v.Entity, T: v.T, Values: v.Values, Failure: v.Failure}
			seen[i] = store.EntityInfo{ID: v.Entity, Labels: v.Labels, FirstSeen: v.T, LastSeen: v.T}
		}
		if err := f.st.PutEntities(seen); err != nil {
			f.t.Fatal(err)
		}
		if err := f.st.PutVectors(recs); err != nil {
			f.t.Fatal(err)
		}
		for i, s := range ss {
			preds, _, err := s.score(context.Background(), k*f.step, vs)
			if err != nil {
				f.t.Fatal(err)
			}
			out[i] = map[string]prediction{}
			for _, p := range preds {
				out[i][p.Entity] = p
			}
		}
	}
	return out
}

// TestScorerFillsWindowsFromStore: a scorer that starts (a restart) or
// gets a model with a longer window (a promotion) fills the windows from
// the vectors in the store and scores every present entity at its first
// step, exactly as a scorer that saw every step; an entity gone longer
// than the window is not filled. Before, a restart scored nothing for
// W+1 steps (reviewer's finding), and a promotion of a longer window as
// long.
func TestScorerFillsWindowsFromStore(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	check := func(t *testing.T, got, want map[string]prediction) {
		t.Helper()
		if len(got) != 2 || len(want) != 2 {
			t.Fatalf("predictions of %d and %d entities, want a and c by both", len(got), len(want))
		}
		for id, w := range want {
			if g, ok := got[id]; !ok || math.Abs(g.Prob-w.Prob) > 1e-6 || math.Abs(g.Anomaly-w.Anomaly) > 1e-4 {
				t.Errorf("%s: prob %v anomaly %v, want %v and %v (scored with every step)", id, g.Prob, g.Anomaly, w.Prob, w.Anomaly)
			}
		}
	}

	t.Run("restart", func(t *testing.T) {
		s1, st := newTestScorer(t, cfg, testModel(t, names, 6, 8, 1), prometheus.NewRegistry())
		t.Cleanup(func() { _ = st.Close() })
		if err := st.PutSchema(names, cfg.LabelNames()); err != nil {
			t.Fatal(err)
		}
		f := &fillFixture{t: t, cfg: cfg, st: st, names: names, step: time.Duration(cfg.Step).Milliseconds(), rng: rand.New(rand.NewPCG(61, 1))}
		f.run(0, 12, s1)
		s2, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		got := f.run(12, 13, s1, s2)
		check(t, got[1], got[0])
		if _, ok := s2.windows["shop/b"]; ok {
			t.Error("b, gone for 8 steps (window 6), was filled")
		}
	})

	t.Run("promotion of a longer window", func(t *testing.T) {
		s1, st := newTestScorer(t, cfg, testModel(t, names, 2, 8, 1), prometheus.NewRegistry())
		t.Cleanup(func() { _ = st.Close() })
		if err := st.PutSchema(names, cfg.LabelNames()); err != nil {
			t.Fatal(err)
		}
		f := &fillFixture{t: t, cfg: cfg, st: st, names: names, step: time.Duration(cfg.Step).Milliseconds(), rng: rand.New(rand.NewPCG(62, 1))}
		f.run(0, 12, s1)
		long := testModel(t, names, 8, 8, 2)
		data, err := long.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (registryAdmin{st: st, s: s1, source: "test"}).AddModel(context.Background(), data, api.AddOptions{Promote: true}); err != nil {
			t.Fatal(err)
		}
		// A scorer that saw every step with the long model.
		ref, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		f2 := &fillFixture{t: t, cfg: cfg, st: st, names: names, step: f.step, rng: rand.New(rand.NewPCG(62, 1))}
		ref.fill = false
		f2.st, _ = store.Open(store.Options{InMemory: true}) // replays the same vectors into a scratch store
		t.Cleanup(func() { _ = f2.st.Close() })
		if err := f2.st.PutSchema(names, cfg.LabelNames()); err != nil {
			t.Fatal(err)
		}
		f2.run(0, 12, ref)
		got := f.run(12, 13, s1)
		want := f2.run(12, 13, ref)
		check(t, got[0], want[0])
	})
}

// TestScoreReportsStoreFailure: predictions that cannot be stored are
// returned with an error, which the evaluator counts in
// omen_evaluator_step_failures_total. Before, the error was only logged
// (reviewer's finding: the metric's help says it counts scoring failures).
func TestScoreReportsStoreFailure(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	m := testModel(t, names, 2, 4, 1)
	s, st := newTestScorer(t, cfg, m, prometheus.NewRegistry())
	f := &fillFixture{t: t, cfg: cfg, st: st, names: names, step: time.Duration(cfg.Step).Milliseconds(), rng: rand.New(rand.NewPCG(63, 1))}
	for k := range int64(4) {
		if _, _, err := s.score(context.Background(), k*f.step, f.vectors(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	before := testutil.ToFloat64(s.scored)
	preds, _, err := s.score(context.Background(), 4*f.step, f.vectors(4))
	if !errors.Is(err, store.ErrClosed) || len(preds) != 2 {
		t.Errorf("scoring with the store closed: %d predictions, %v; want 2 and store.ErrClosed", len(preds), err)
	}
	if n := testutil.ToFloat64(s.scored) - before; n != 2 {
		t.Errorf("omen_predictions_total grew by %v, want 2 (the predictions were made)", n)
	}
}

// TestFillWindowsGaps: an entity absent at some steps (its vectors dropped
// as absent) gets, filled from the store, the rows its live window holds
// (the last W, whatever their spacing), and is scored as by a scorer that
// saw every step. Before, the fill read the last W+1 steps of time only,
// and with two gaps in them the entity was not scored (reviewer's
// finding).
func TestFillWindowsGaps(t *testing.T) {
	// storeAbsent: the steps the entity is absent at are stored with a
	// failure label set and no value (an absent entity whose failure
	// label fires: stored, not scored live); the filled window leaves
	// them out as the live one does.
	for _, storeAbsent := range []bool{false, true} {
		t.Run(fmt.Sprint("absent stored ", storeAbsent), func(t *testing.T) { fillWindowsGaps(t, storeAbsent) })
	}
}

func fillWindowsGaps(t *testing.T, storeAbsent bool) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	m := testModel(t, names, 6, 4, 1)
	s1, st := newTestScorer(t, cfg, m, prometheus.NewRegistry())
	if err := st.PutSchema(names, cfg.LabelNames()); err != nil {
		t.Fatal(err)
	}
	step := time.Duration(cfg.Step).Milliseconds()
	labels := map[string]string{"namespace": "ns", "pod": "a"}
	run := func(k int64, ss ...*scorer) []map[string]prediction {
		var vs []features.Vector
		if k == 14 || k == 16 { // absent at these steps
			if storeAbsent {
				vals := make([]float64, len(names))
				for i := range vals {
					vals[i] = math.NaN()
				}
				failure := make([]bool, len(cfg.LabelNames()))
				failure[0] = true
				if err := st.PutVectors([]store.Vector{{Entity: "ns/a", T: k * step, Values: vals, Failure: failure}}); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			vals := make([]float64, len(names))
			for i := range vals {
				vals[i] = float64(k%7) + float64(i)/10
			}
			v := features.Vector{Entity: "ns/a", Labels: labels, T: k * step, Values: vals, Failure: make([]bool, len(cfg.LabelNames()))}
			vs = append(vs, v)
			if err := st.PutEntities([]store.EntityInfo{{ID: v.Entity, Labels: labels, FirstSeen: v.T, LastSeen: v.T}}); err != nil {
				t.Fatal(err)
			}
			if err := st.PutVectors([]store.Vector{{Entity: v.Entity, T: v.T, Values: v.Values, Failure: v.Failure}}); err != nil {
				t.Fatal(err)
			}
		}
		var out []map[string]prediction
		for _, s := range ss {
			preds, _, err := s.score(context.Background(), k*step, vs)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]prediction{}
			for _, p := range preds {
				byID[p.Entity] = p
			}
			out = append(out, byID)
		}
		return out
	}
	for k := range int64(19) {
		run(k, s1)
	}
	s2, err := newScorer(scorerOptions{Store: st, Config: cfg, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	got := run(19, s1, s2)
	live, filled := got[0]["ns/a"], got[1]["ns/a"]
	if live.ID == "" || filled.ID == "" || math.Abs(live.Prob-filled.Prob) > 1e-6 {
		t.Errorf("at step 19: live scorer %+v, restarted %+v; want the same prediction", live.Prediction, filled.Prediction)
	}
}

// TestBackgroundMapsSchemas: the explanation background reads stored
// vectors into the model's features by name: vectors of an older schema
// with two features swapped are read with their columns in place. Before,
// they were read by length only, the columns swapped (reviewer's
// finding).
func TestBackgroundMapsSchemas(t *testing.T) {
	cfg := config.Default()
	names := features.Names(cfg.Config)
	m := testModel(t, names, 2, 4, 1)
	s, st := newTestScorer(t, cfg, m, prometheus.NewRegistry())
	lbl := cfg.LabelNames()
	old := append([]string{names[1], names[0]}, names[2:]...)
	if err := st.PutSchema(old, lbl); err != nil {
		t.Fatal(err)
	}
	step := time.Duration(cfg.Step).Milliseconds()
	for k := range int64(20) {
		vals := make([]float64, len(names))
		vals[0] = 1 // names[1] in the old layout
		vals[1] = 2 // names[0]
		if err := st.PutVectors([]store.Vector{{Entity: "ns/a", T: k * step, Values: vals, Failure: make([]bool, len(lbl))}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.PutSchema(names, lbl); err != nil {
		t.Fatal(err)
	}
	bg := newExplainer(st, s, cfg).background(m, prediction{Prediction: store.Prediction{Entity: "ns/a", T: 30 * step}})
	if len(bg) < 4 || bg[0][0] != 2 || bg[0][1] != 1 {
		t.Errorf("%d background windows, first row %v; want %q = 2 and %q = 1 (stored under the old schema)", len(bg), bg[0][:2], names[0], names[1])
	}
}
