package app

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/storesource"
)

// gapRun is one entity's history for the gap tests: vectors at steps
// present (value of feature i at step k: k + i/100), and at steps absent
// an absent entity's vector, stored for its failure label (no instant
// feature has a value; the others have) and not scored.
type gapRun struct {
	cfg     *config.Config
	names   []string
	m       *model.Model
	step    int64
	present []int64
	absent  []int64
}

func newGapRun(t *testing.T, w int, present, absent []int64) *gapRun {
	t.Helper()
	cfg := config.Default()
	r := &gapRun{cfg: cfg, names: features.Names(cfg.Config), step: time.Duration(cfg.Step).Milliseconds(), present: present, absent: absent}
	r.m = testModel(t, r.names, w, 4, 1)
	return r
}

func (r *gapRun) vector(k int64) features.Vector {
	vals := make([]float64, len(r.names))
	for i := range vals {
		vals[i] = float64(k) + float64(i)/100
	}
	failure := make([]bool, len(r.cfg.LabelNames()))
	if slices.Contains(r.absent, k) {
		for i, in := range features.PresenceMask(r.cfg.InstantFeatures()) {
			if in {
				vals[i] = math.NaN()
			}
		}
		failure[0] = true
	}
	return features.Vector{Entity: "ns/a", Labels: map[string]string{"namespace": "ns", "pod": "a"}, T: k * r.step, Values: vals, Failure: failure}
}

// live stores the vectors of steps [0, to) and scores the present ones
// with s as the evaluator does (absent ones are stored, not scored); it
// returns the predictions by step.
func (r *gapRun) live(t *testing.T, s *scorer, st *store.Store, from, to int64) map[int64]prediction {
	t.Helper()
	out := map[int64]prediction{}
	for k := from; k < to; k++ {
		var vs []features.Vector
		if slices.Contains(r.present, k) || slices.Contains(r.absent, k) {
			v := r.vector(k)
			if err := st.PutEntities([]store.EntityInfo{{ID: v.Entity, Labels: v.Labels, FirstSeen: v.T, LastSeen: v.T}}); err != nil {
				t.Fatal(err)
			}
			if err := st.PutVectors([]store.Vector{{Entity: v.Entity, T: v.T, Values: v.Values, Failure: v.Failure}}); err != nil {
				t.Fatal(err)
			}
			if slices.Contains(r.present, k) {
				vs = append(vs, v)
			}
		}
		preds, _, err := s.score(context.Background(), k*r.step, vs)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range preds {
			out[k] = p
		}
	}
	return out
}

// training loads the stored history as omen train does and cuts it into
// windows; steps of the windows are counted from step 0.
func (r *gapRun) training(t *testing.T, st *store.Store, to int64) (*training.Windows, int64) {
	t.Helper()
	src := &storesource.Source{Store: st, From: 0, To: to * r.step, Step: r.step, Presence: PresenceFeatures(r.cfg)}
	ss, err := src.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("%d series, want 1", len(ss))
	}
	w, err := training.MakeWindows(ss[0], training.WindowOptions{Window: r.m.Config().Window, Horizon: 1})
	if err != nil {
		t.Fatal(err)
	}
	return w, ss[0].Start / r.step
}

// sameRows reports whether two windows hold the same values, NaN where
// the other has NaN.
func sameRows(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return true
}

// TestScoreGapWindowsMatchTraining: the daemon scores an entity with
// missing steps on the windows training cuts from the stored history, and
// training labels no window the daemon does not score. A missing step is
// a row of NaN on both sides (the daemon appended the vectors as they
// came: its window at step 8 of an entity with vectors at steps 0–3 and
// 6–8 was the rows of steps 3, 6, 7, 8, training's 5–8 with 5 missing),
// training uses no window ending at a step without a vector (it labelled
// those ending at 4 and 5, which the daemon never scores), and an absent
// entity's vector stored for its failure label is a missing row on both
// sides (training read its values). The anomaly score of a step is the
// residual of the forecast from the window ending at the step before on
// both sides, also after a gap.
func TestScoreGapWindowsMatchTraining(t *testing.T) {
	const w = 4
	tests := []struct {
		name            string
		present, absent []int64
		// scored are the steps the daemon scores.
		scored []int64
	}{
		{name: "two steps missing", present: []int64{0, 1, 2, 3, 6, 7, 8, 9}, scored: []int64{6, 7, 8}},
		{name: "absent stored for its failure", present: []int64{0, 1, 2, 3, 5, 6, 7, 8, 9}, absent: []int64{4}, scored: []int64{5, 6, 7, 8}},
		// More than W steps missing: the window starts afresh at 10 and
		// holds W+1 rows at 14.
		{name: "window starts afresh", present: []int64{0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 15, 16}, scored: []int64{4, 14, 15}},
		{name: "W steps missing", present: []int64{0, 1, 2, 3, 4, 9, 10, 11}, scored: []int64{4, 9, 10}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newGapRun(t, w, tc.present, tc.absent)
			s, st := newTestScorer(t, r.cfg, r.m, prometheus.NewRegistry())
			if err := st.PutSchema(r.names, r.cfg.LabelNames()); err != nil {
				t.Fatal(err)
			}
			last := slices.Max(tc.present)
			preds := r.live(t, s, st, 0, last+1)
			var got []int64
			for k := range preds {
				if k < last { // training has no target after the last step
					got = append(got, k)
				}
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.scored) {
				t.Errorf("daemon scored steps %v, want %v", got, tc.scored)
			}
			win, first := r.training(t, st, last)
			nf := len(r.names)
			x := make([]float32, w*nf)
			next := make([]float32, nf)
			label := make([]float32, 1)
			byEnd := map[int64]int{}
			for i := range win.N() {
				end := first + int64(win.End[i])
				byEnd[end] = i
				win.Gather([]int{i}, x, next, label)
				if label[0] == label[0] && end >= first+w && !slices.Contains(tc.scored, end) {
					t.Errorf("training labels the window ending at step %d, which the daemon does not score", end)
				}
			}
			for _, k := range tc.scored {
				i, ok := byEnd[k]
				if !ok {
					t.Errorf("training has no window ending at step %d, which the daemon scores", k)
					continue
				}
				win.Gather([]int{i}, x, next, label)
				p := preds[k]
				if !sameRows(p.Window, x) {
					t.Errorf("window ending at step %d: daemon %v, training %v", k, p.Window, x)
				}
				if label[0] != label[0] {
					t.Errorf("training's window ending at step %d is not labelled", k)
				}
				prob := make([]float64, 1)
				if err := r.m.Predict(x, 1, prob); err != nil {
					t.Fatal(err)
				}
				if math.Abs(prob[0]-p.Prob) > 1e-6 {
					t.Errorf("probability at step %d: daemon %v, training's window %v", k, p.Prob, prob[0])
				}
				// The anomaly score: the forecast from the window ending
				// at the step before.
				j, ok := byEnd[k-1]
				if !ok || !win.HasTarget(j) {
					t.Errorf("training does not forecast step %d (window ending at %d: %v)", k, k-1, ok)
					continue
				}
				win.Gather([]int{j}, x, next, nil)
				anom := make([]float64, 1)
				if err := r.m.AnomalyScores(x, next, 1, anom, nil); err != nil {
					t.Fatal(err)
				}
				if math.Abs(anom[0]-p.Anomaly) > 1e-6 {
					t.Errorf("anomaly at step %d: daemon %v, training's forecast %v", k, p.Anomaly, anom[0])
				}
			}
		})
	}
}

// TestScoreGapRestart: a scorer started on the store fills an entity's
// window with missing steps as an uninterrupted one holds it (the steps
// on the grid, a missing one NaN), and scores the same.
func TestScoreGapRestart(t *testing.T) {
	const w = 4
	tests := []struct {
		present, absent []int64
		at              int64
	}{
		{present: []int64{0, 1, 2, 3, 6, 7, 8}, at: 8},
		{present: []int64{0, 1, 2, 3, 6, 7, 8}, at: 7},
		{present: []int64{0, 1, 2, 3, 5, 6, 7, 8}, absent: []int64{4}, at: 8},
		{present: []int64{0, 1, 2, 3, 4, 10, 11, 12, 13, 14}, at: 14},
		{present: []int64{0, 1, 2, 3, 4, 9}, at: 9}, // W steps missing: the window goes on
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.present, tc.absent, tc.at), func(t *testing.T) {
			r := newGapRun(t, w, tc.present, tc.absent)
			s1, st := newTestScorer(t, r.cfg, r.m, prometheus.NewRegistry())
			if err := st.PutSchema(r.names, r.cfg.LabelNames()); err != nil {
				t.Fatal(err)
			}
			r.live(t, s1, st, 0, tc.at)
			s2, err := newScorer(scorerOptions{Store: st, Config: r.cfg, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			// The step's vector is stored once; both scorers score it.
			live := r.live(t, s1, st, tc.at, tc.at+1)[tc.at]
			v := r.vector(tc.at)
			preds, _, err := s2.score(context.Background(), tc.at*r.step, []features.Vector{v})
			if err != nil {
				t.Fatal(err)
			}
			if live.ID == "" || len(preds) != 1 {
				t.Fatalf("at step %d: live %+v, restarted %d predictions; want both scored", tc.at, live.Prediction, len(preds))
			}
			got := preds[0]
			if !sameRows(live.Window, got.Window) || math.Abs(live.Prob-got.Prob) > 1e-6 || math.Abs(live.Anomaly-got.Anomaly) > 1e-6 {
				t.Errorf("at step %d:\nlive      %v p=%v a=%v\nrestarted %v p=%v a=%v", tc.at, live.Window, live.Prob, live.Anomaly, got.Window, got.Prob, got.Anomaly)
			}
			h1, h2 := s1.windows["ns/a"], s2.windows["ns/a"]
			if h1.n != h2.n || h1.last != h2.last {
				t.Errorf("history: live %d rows to %d, restarted %d rows to %d", h1.n, h1.last, h2.n, h2.last)
			}
			for k := range min(h1.n, h2.n) {
				if !sameRows(h1.row(k), h2.row(k)) {
					t.Errorf("history row %d: live %v, restarted %v", k, h1.row(k), h2.row(k))
				}
			}
		})
	}
}
