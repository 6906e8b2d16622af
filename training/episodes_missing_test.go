package training

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/training/dataset"
	"github.com/omen-sre/omen/training/threshold"
)

// TestProbSeqsUnscoredSteps: the validation sequences the failure
// threshold is chosen on follow the steps as the daemon's alert rule sees
// them: a window ending at a step the daemon does not score has no
// probability (NaN, no prediction), nor has a step no window ends at (a
// gap), and the failing flags are the steps' own (a failure stored for
// the absent entity at step 5 is an onset there). They gave a window
// ending at a step without a vector a probability, and put the windows
// either side of a gap next to each other.
func TestProbSeqsUnscoredSteps(t *testing.T) {
	const w = 3
	x := []bool{true, true, true, true, false, false, true, true, true, false, false, false, false, true, true, true, true, true}
	n := len(x)
	s := &dataset.Series{Entity: "a", Features: []string{"f"}, Values: make([]float64, n), Labels: make([]bool, n), Present: x}
	for k := range n {
		s.Values[k] = float64(k)
		if !x[k] {
			s.Values[k] = math.NaN()
		}
	}
	s.Labels[5] = true
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
	// Windows end at 2 3 5 6 7 8 15 16 (TestMakeWindowsPresent); the
	// daemon scores 2 3 6 7 8 16.
	scored := map[int]bool{2: true, 3: true, 6: true, 7: true, 8: true, 16: true}
	// Of the others, the daemon has a vector at 5 (stored for the
	// absent entity's failure) and 13-15 (the window filling): held;
	// none at 4 and 9-12: missing.
	held := map[int]bool{5: true, 13: true, 14: true, 15: true}
	seq := seqs[0]
	if len(seq.Held) != len(seq.Prob) {
		t.Fatalf("%d held flags for %d steps", len(seq.Held), len(seq.Prob))
	}
	for k, h := range seq.Held {
		if h != held[k+2] {
			t.Errorf("step %d: held %v", k+2, h)
		}
	}
	if len(seq.Prob) != 15 || len(seq.Failing) != 15 {
		t.Fatalf("%d probabilities, %d failing flags; want one per step 2-16", len(seq.Prob), len(seq.Failing))
	}
	for k, p := range seq.Prob {
		step := k + 2
		if scored[step] == math.IsNaN(p) {
			t.Errorf("step %d: probability %v, want a number only where the daemon scores", step, p)
		}
		if seq.Failing[k] != (step == 5) {
			t.Errorf("step %d: failing %v", step, seq.Failing[k])
		}
	}
}

// TestEpisodeScoreMissing: a step without a prediction (NaN) counts as
// the daemon's alert rule counts it (package alert): the state holds for
// MissingSteps steps, then a firing alert resolves and a pending count
// starts over. A NaN counted as at or over the threshold.
func TestEpisodeScoreMissing(t *testing.T) {
	nan := math.NaN()
	f, T := false, true
	cases := []struct {
		name string
		prob []float64
		fail []bool
		want EpisodeStats
	}{
		{
			// Nothing but missing steps: no alert.
			name: "all missing",
			prob: []float64{.1, nan, nan, nan, nan, nan, .1, .1, .1},
			fail: []bool{f, f, f, f, f, f, f, f, T},
			want: EpisodeStats{Threshold: .5, Episodes: 1},
		},
		{
			// 1 and 3 over, 2 missing: the count goes on, the alert
			// fires at 3 and predicts the onset at 5.
			name: "pending across a missing step",
			prob: []float64{.1, .9, nan, .9, .9, .9, .1, .1, .1},
			fail: []bool{f, f, f, f, f, T, f, f, f},
			want: EpisodeStats{Threshold: .5, Episodes: 1, Predicted: 1, AlertGroups: 1, TruePositives: 1, LeadMedian: 2},
		},
		{
			// 1 over, 4 missing steps (more than 3): the count starts
			// over, and 6-7 fire at 7, the onset: a late alert.
			name: "pending dropped",
			prob: []float64{.1, .9, nan, nan, nan, nan, .9, .9, .1},
			fail: []bool{f, f, f, f, f, f, f, T, f},
			want: EpisodeStats{Threshold: .5, Episodes: 1, AlertGroups: 1},
		},
		{
			// Fired at 1; 3 missing steps keep it firing into the
			// horizon of the onset at 7 ([4, 7)).
			name: "firing across missing steps",
			prob: []float64{.9, .9, .9, nan, nan, nan, .9, .9, .9},
			fail: []bool{f, f, f, f, f, f, f, T, T},
			want: EpisodeStats{Threshold: .5, Episodes: 1, Predicted: 1, AlertGroups: 1, TruePositives: 1, LeadMedian: 6},
		},
		{
			// Fired at 1; the 4th missing step (5) resolves it: it was
			// not firing within the horizon of the onset at 10 ([7, 10));
			// 6-7 fire again at 7, predicting it.
			name: "resolved by missing steps",
			prob: []float64{.9, .9, nan, nan, nan, nan, .9, .9, .9, .9, .1},
			fail: []bool{f, f, f, f, f, f, f, f, f, f, T},
			want: EpisodeStats{Threshold: .5, Episodes: 1, Predicted: 1, AlertGroups: 2, TruePositives: 1, FalsePositives: 1, LeadMedian: 3},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := EpisodeScore([]ProbSeq{{Prob: c.prob, Failing: c.fail}}, .5, 3, AlertRule{For: 2, ResolveRatio: .8, Lookback: 9})
			got.Precision, got.Recall, got.F1 = 0, 0, 0
			if got != c.want {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}
}

// TestTrainFailureThresholdUnscored: without a failure in validation the
// failure threshold is fitted (POT) to the probabilities of the
// validation windows that end at steps the daemon scores; those ending
// at a step without a vector, which the daemon never predicts at, were
// fitted too.
func TestTrainFailureThresholdUnscored(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var src memSource
	held := 0
	for _, name := range []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7"} {
		const n = 300
		val := heldOut(name, 0.3)
		if val {
			held++
		}
		s := &dataset.Series{Entity: name, Features: []string{"x", "y"}, Values: make([]float64, 2*n), Labels: make([]bool, n), Present: make([]bool, n)}
		for k := range n {
			s.Present[k] = k%4 != 1
			s.Labels[k] = !val && k%40 >= 30 && k%40 < 35
			for j := range 2 {
				s.Values[2*k+j] = math.NaN()
				if s.Present[k] {
					s.Values[2*k+j] = r.NormFloat64()
					if s.Labels[k] {
						s.Values[2*k+j] += 2
					}
				}
			}
		}
		src = append(src, s)
	}
	if held == 0 || held == len(src) {
		t.Fatalf("%d of %d entities held out", held, len(src))
	}
	o := TrainOptions{Source: src, Window: 6, Horizon: 2, Hidden: 4, Epochs: 1, Seed: 1, ValSplit: "entity", ValFraction: 0.3}
	m, rep, err := Train(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Positives == 0 {
		t.Fatal("no failure in training")
	}
	vaw := valWindows(t, src, &o)
	prob, err := predictAll(context.Background(), m, vaw)
	if err != nil {
		t.Fatal(err)
	}
	want := func(p []float64) float64 {
		pot, err := threshold.POT(p, threshold.POTOptions{Risk: o.Risk, Level: o.Level})
		if err != nil {
			return threshold.Quantile(p, 1-o.Risk)
		}
		return math.Min(pot.Threshold, 1)
	}
	var scored []float64
	for i, p := range prob {
		if vaw.Scored(i) {
			scored = append(scored, p)
		}
	}
	if len(scored) == len(prob) {
		t.Fatal("every validation window ends at a scored step")
	}
	got, all := m.Thresholds().Failure, want(prob)
	if w := want(scored); math.Abs(got-w) > 1e-9 {
		t.Errorf("failure threshold %v, want %v (POT on the %d probabilities at scored steps of %d windows; on all of them: %v)", got, w, len(scored), len(prob), all)
	}
	if got == all {
		t.Errorf("failure threshold %v: the one of every window's probability", got)
	}
}
