package training

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training/dataset"
)

// TestAbsentFailingHeld (reviewer r8): an entity whose metrics are gone
// while its failure label fires has its vector stored by the daemon,
// which hands it to the alerts unscored: its alert keeps firing through
// the outage (one alert, predicting the onset). Training made those steps
// missing predictions, so the alert resolved at the 4th and fired again
// after it: two alert groups, one false. The steps are now held.
func TestAbsentFailingHeld(t *testing.T) {
	const w = 3
	n := 20
	x := make([]bool, n)
	s := &dataset.Series{Entity: "a", Features: []string{"f"}, Values: make([]float64, n), Labels: make([]bool, n), Present: x}
	for k := range n {
		x[k] = k < 8 || k >= 13
		s.Values[k] = float64(k)
		if !x[k] {
			s.Values[k] = math.NaN()
			s.Labels[k] = true // absent, failure label fires
		}
	}
	win, err := MakeWindows(s, WindowOptions{Window: w, Horizon: 1})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.New(model.Config{Features: []string{"f"}, Window: w, Horizon: 1, Hidden: 4, Layers: 1, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	seqs, err := probSeqs(context.Background(), m, []*Windows{win}, []*dataset.Series{s})
	if err != nil {
		t.Fatal(err)
	}
	// Steps 2-18: scored 2-7 and 16-18 (the window restarted at 13 after
	// 5 missing rows, first scored 3 steps later), held 8-12 (absent,
	// failing) and 13-15 (present, window filling).
	seq := seqs[0]
	if len(seq.Held) != len(seq.Prob) || len(seq.Prob) != 17 {
		t.Fatalf("%d probabilities, %d held flags; want 17 of each", len(seq.Prob), len(seq.Held))
	}
	for k, p := range seq.Prob {
		step := k + w - 1
		scored := step < 8 || step >= 16
		if scored == math.IsNaN(p) || seq.Held[k] == scored {
			t.Errorf("step %d: probability %v, held %v; want scored %v", step, p, seq.Held[k], scored)
		}
		if seq.Failing[k] != (step >= 8 && step < 13) {
			t.Errorf("step %d: failing %v", step, seq.Failing[k])
		}
	}

	// The reviewer's sequence: over the threshold from 1 (the alert fires
	// at 2), absent and failing 8-12, back over it 13-15.
	nan := math.NaN()
	prob := []float64{.1, .9, .9, .9, .9, .9, .9, .9, nan, nan, nan, nan, nan, .9, .9, .9, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1, .1}
	fail := make([]bool, len(prob))
	held := make([]bool, len(prob))
	for k := 8; k < 13; k++ {
		fail[k], held[k] = true, true
	}
	rule := AlertRule{For: 2, ResolveRatio: .8, Lookback: 9}
	got := EpisodeScore([]ProbSeq{{Prob: prob, Failing: fail, Held: held}}, .5, 3, rule)
	want := EpisodeStats{Threshold: .5, Episodes: 1, Predicted: 1, AlertGroups: 1, TruePositives: 1, Precision: 1, Recall: 1, F1: 1, LeadMedian: 6}
	if got != want {
		t.Errorf("held: got  %+v\nwant %+v", got, want)
	}
	// The same steps without a vector at all are missing predictions.
	got = EpisodeScore([]ProbSeq{{Prob: prob, Failing: fail}}, .5, 3, rule)
	if got.AlertGroups != 2 || got.TruePositives != 1 || got.FalsePositives != 1 {
		t.Errorf("missing: got %+v, want 2 alert groups, 1 true, 1 false", got)
	}
	// And the daemon's alert rule agrees.
	if a, e := managerFiring(t, ProbSeq{Prob: prob, Held: held}, .5, rule), spanFiring(ProbSeq{Prob: prob, Held: held}, .5, rule); a != e {
		t.Errorf("firing steps: alert.Manager %q, EpisodeScore %q", a, e)
	}
}

// TestEpisodeScoreHeldSteps: a held step leaves the alert rule's state as
// it is, the pending count and the missing count too.
func TestEpisodeScoreHeldSteps(t *testing.T) {
	nan := math.NaN()
	f, T := false, true
	cases := []struct {
		name       string
		prob       []float64
		held, fail []bool
		want       EpisodeStats
		firing     string // the steps the alert fires at
	}{
		{
			// 1 over, 2-6 held, 7 over: the alert fires at 7, predicting
			// the onset at 9 (held 5 steps: missing ones dropped the
			// count at the 4th).
			name:   "pending across held steps",
			prob:   []float64{.1, .9, nan, nan, nan, nan, nan, .9, .9, .1},
			held:   []bool{f, f, T, T, T, T, T, f, f, f},
			fail:   []bool{f, f, f, f, f, f, f, f, f, T},
			want:   EpisodeStats{Threshold: .5, Episodes: 1, Predicted: 1, AlertGroups: 1, TruePositives: 1, LeadMedian: 2},
			firing: ".......FF.",
		},
		{
			// Fired at 2; missing 3, 4, held 5, missing 6, 7: the held
			// step does not start the missing count over, nor counts:
			// the 4th missing step (7) resolves the alert, which was
			// firing at 5-6, in the horizon of the onset at 8 ([5, 8)).
			name:   "missing count across a held step",
			prob:   []float64{.1, .9, .9, nan, nan, nan, nan, nan, .1, .1, .1},
			held:   []bool{f, f, f, f, f, T, f, f, f, f, f},
			fail:   []bool{f, f, f, f, f, f, f, f, T, f, f},
			want:   EpisodeStats{Threshold: .5, Episodes: 1, Predicted: 1, AlertGroups: 1, TruePositives: 1, LeadMedian: 6},
			firing: "..FFFFF....",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule := AlertRule{For: 2, ResolveRatio: .8, Lookback: 9}
			got := EpisodeScore([]ProbSeq{{Prob: c.prob, Failing: c.fail, Held: c.held}}, .5, 3, rule)
			got.Precision, got.Recall, got.F1 = 0, 0, 0
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			s := ProbSeq{Prob: c.prob, Held: c.held}
			if got := spanFiring(s, .5, rule); got != c.firing {
				t.Errorf("firing steps %q, want %q", got, c.firing)
			}
			if got := managerFiring(t, s, .5, rule); got != c.firing {
				t.Errorf("alert.Manager's firing steps %q, want %q", got, c.firing)
			}
		})
	}
}

// TestAlertSpansMatchManager: the alert rule EpisodeScore plays gives the
// daemon's alerts (alert.Manager) on random sequences of predictions,
// missing steps (no prediction) and held ones (the entity unscored).
func TestAlertSpansMatchManager(t *testing.T) {
	for _, resolveFor := range []int{1, 2, 3} {
		r := rand.New(rand.NewPCG(8, 1))
		rule := AlertRule{For: 2, ResolveRatio: .8, ResolveFor: resolveFor, Lookback: 9}
		for i := range 20 {
			n := 60
			s := ProbSeq{Prob: make([]float64, n), Held: make([]bool, n)}
			for k := range n {
				switch u := r.Float64(); {
				case u < .2:
					s.Prob[k] = math.NaN()
				case u < .4:
					s.Prob[k], s.Held[k] = math.NaN(), true
				default:
					s.Prob[k] = r.Float64()
				}
			}
			if a, e := managerFiring(t, s, .5, rule), spanFiring(s, .5, rule); a != e {
				t.Errorf("resolve_for %d, sequence %d: firing steps\nalert.Manager %q\nEpisodeScore  %q", resolveFor, i, a, e)
			}
		}
	}
}

// spanFiring is, step by step, whether an alert of alertSpans fires
// there ('F') or not ('.').
func spanFiring(s ProbSeq, th float64, rule AlertRule) string {
	rule.defaults(1)
	out := make([]byte, len(s.Prob))
	for i := range out {
		out[i] = '.'
	}
	for _, a := range alertSpans(s, len(s.Prob), th, rule) {
		for i := a.fired; i < a.resolved; i++ {
			out[i] = 'F'
		}
	}
	return string(out)
}

// managerFiring runs s through alert.Manager at threshold th, as app
// hands it a step: a prediction, the entity unscored (held), or nothing
// (missing); and returns whether its alert is firing after each step.
func managerFiring(t *testing.T, s ProbSeq, th float64, rule AlertRule) string {
	t.Helper()
	rule.defaults(1)
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := alert.New(alert.Options{Store: st, For: rule.For, ResolveRatio: rule.ResolveRatio, ResolveFor: rule.ResolveFor, MissingSteps: rule.MissingSteps,
		EvalInterval: time.Hour, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	labels := map[string]string{"pod": "a"}
	out := make([]byte, len(s.Prob))
	for i, p := range s.Prob {
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		var in []alert.Prediction
		switch {
		case i < len(s.Held) && s.Held[i]:
			in = []alert.Prediction{{Entity: "a", Labels: labels, T: at, Unscored: true}}
		case !math.IsNaN(p):
			in = []alert.Prediction{{ID: store.PredictionID("a", at.UnixMilli()), Entity: "a", Labels: labels, T: at,
				Prob: p, Threshold: th, Horizon: time.Minute, ModelVersion: "v1"}}
		}
		if err := m.Process(ctx, at, in); err != nil {
			t.Fatal(err)
		}
		out[i] = '.'
		for _, a := range m.Alerts() {
			if a.Entity == "a" && a.State == store.AlertFiring {
				out[i] = 'F'
			}
		}
	}
	return string(out)
}
