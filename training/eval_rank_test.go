package training

import (
	"context"
	"math"
	"strings"
	"testing"
)

func TestPeakHold(t *testing.T) {
	x := []float32{8, 1, 0, 1, 0, 4, 2, 0}
	peakHold(x, 2, 1) // half-life 1: each step halves the envelope
	want := []float32{8, 1, 4, 1, 2, 4, 2, 2}
	for i := range x {
		if math.Abs(float64(x[i]-want[i])) > 1e-6 {
			t.Fatalf("peakHold = %v, want %v", x, want)
		}
	}
	y := []float32{1, 0}
	peakHold(y, 1, 0)
	if y[1] != 0 {
		t.Fatalf("half-life 0 changed the series: %v", y)
	}
}

// constScorer reports per-feature residuals equal to next (so the tests
// choose them directly).
type constScorer struct{}

func (constScorer) AnomalyScores(x, next []float32, n int, score []float64, per []float32) error {
	copy(per, next)
	return nil
}

func TestTailScorerSurprise(t *testing.T) {
	// Feature 0: validation residuals 1..1000; feature 1: all zero (no tail).
	const n = 1000
	vals := make([]float64, 0, 2*n)
	for i := range n {
		vals = append(vals, float64(i+1), 0)
	}
	// Windows of one step: the residual of window i is step i+1.
	ts, err := newTailScorer(context.Background(), constScorer{}, oneStepWindows(t, vals, 2), 0.9, false)
	if err != nil {
		t.Fatal(err)
	}
	if s := ts.surprise(0, 0.5); s != 0 {
		t.Errorf("surprise below every validation residual = %v, want 0", s)
	}
	// The level quantile has probability 1−level of being reached.
	if s, want := ts.surprise(0, ts.u[0]+1e-9), -math.Log(0.1); math.Abs(s-want) > 0.05 {
		t.Errorf("surprise at the level quantile = %v, want ≈ %v", s, want)
	}
	// Beyond it, an exponential tail: one σ more is one nat more.
	a, b := ts.surprise(0, ts.u[0]+10), ts.surprise(0, ts.u[0]+10+ts.sigma[0])
	if math.Abs(b-a-1) > 1e-9 {
		t.Errorf("tail: %v then %v, want 1 nat apart", a, b)
	}
	for r := 1.0; r < 2000; r *= 1.5 {
		if ts.surprise(0, r) > ts.surprise(0, r*1.5) {
			t.Fatalf("surprise not monotone at %v", r)
		}
	}
	// A feature that never missed in validation: any miss is very surprising.
	if s0, s1 := ts.surprise(0, 900), ts.surprise(1, 1); s1 <= s0 {
		t.Errorf("miss of 1 on the quiet feature %v, want above %v (a large miss on the noisy one)", s1, s0)
	}
	score := make([]float64, 1)
	per := make([]float32, 2)
	if err := ts.AnomalyScores(make([]float32, 2), []float32{2000, 0}, 1, score, per); err != nil {
		t.Fatal(err)
	}
	if math.Abs(score[0]-float64(per[0]+per[1])/2) > 1e-4 || per[0] <= per[1] {
		t.Errorf("score %v per-feature %v", score, per)
	}
}

// oneStepWindows makes one-step windows over values (time-major, f features).
func oneStepWindows(t *testing.T, values []float64, f int) *Windows {
	t.Helper()
	s := series(len(values)/f, f, "")
	copy(s.Values, values)
	w, err := MakeWindows(s, WindowOptions{Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// A long level shift: the one-step residual fades inside the segment, so
// without holding the ranking the shifted feature loses its rank; the
// peak-hold envelope keeps it.
func TestEvalDatasetRankHold(t *testing.T) {
	dir := t.TempDir()
	writeShifted(t, dir, "a", 1, [][2]int{{300, 450}}, 0.25)
	opts := EvalOptions{Dir: dir, Window: 8, Hidden: 8, Epochs: 5, LearningRate: 5e-3, Seed: 1}
	plain, err := EvalDataset(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	opts.RankHold = 200
	held, err := EvalDataset(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("HR@100 plain %v held %v", plain.Mean.HitRate100, held.Mean.HitRate100)
	if held.Mean.HitRate100 < plain.Mean.HitRate100+0.1 || held.Mean.HitRate100 < 0.9 {
		t.Fatalf("HR@100 with rank hold %v, without %v", held.Mean.HitRate100, plain.Mean.HitRate100)
	}
	if held.Mean.F1PA != plain.Mean.F1PA {
		t.Errorf("rank hold changed detection: PA-F1 %v vs %v", held.Mean.F1PA, plain.Mean.F1PA)
	}
	if held.Options["rank_hold"] != 200 {
		t.Errorf("options %v", held.Options)
	}
}

func TestScaledScorerSecond(t *testing.T) {
	next := []float32{9, 1, 4, 2 /* step 2: */, 0, 0, 7, 0}
	score := make([]float64, 2)
	per := make([]float32, 8)
	for _, tc := range []struct {
		sc   scaledScorer
		want []float64
	}{
		{scaledScorer{s: constScorer{}, weight: []float32{1, 1, 1, 1}}, []float64{4, 1.75}},
		{scaledScorer{s: constScorer{}, weight: []float32{1, 1, 1, 1}, max: true}, []float64{9, 7}},
		{scaledScorer{s: constScorer{}, weight: []float32{1, 1, 1, 1}, second: true}, []float64{4, 0}},
		{scaledScorer{s: constScorer{}, weight: []float32{1, 1, 1, 0.5}, second: true}, []float64{4, 0}},
	} {
		if err := tc.sc.AnomalyScores(nil, next, 2, score, per); err != nil {
			t.Fatal(err)
		}
		if score[0] != tc.want[0] || score[1] != tc.want[1] {
			t.Errorf("max %v second %v: scores %v, want %v", tc.sc.max, tc.sc.second, score, tc.want)
		}
	}
	// A residual near the float32 maximum, weighted up, stays finite
	// (it was multiplied in float32: +Inf).
	big := []float32{3e38, 1, 0, 0}
	sc := scaledScorer{s: constScorer{}, weight: []float32{2, 1, 1, 1}}
	if err := sc.AnomalyScores(nil, big, 1, score[:1], per[:4]); err != nil {
		t.Fatal(err)
	}
	if want := (6e38 + 1) / 4; math.IsInf(score[0], 0) || math.Abs(score[0]-want) > 1e-6*want || math.IsInf(float64(per[0]), 0) {
		t.Errorf("weighted huge residual: score %v (want %v), per-feature %v", score[0], want, per[0])
	}
	if _, err := EvalDataset(context.Background(), EvalOptions{Dir: t.TempDir(), Aggregate: "median"}); err == nil {
		t.Error("unknown aggregation accepted")
	}
}

// An invalid size names the option and its value (it used to print the
// window, hidden size and layers whatever was wrong); a combination the
// scorers do not implement is refused.
func TestEvalOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		o    EvalOptions
		want string
	}{
		{EvalOptions{MaxTrainSteps: -1}, "MaxTrainSteps -1, want at least 0"},
		{EvalOptions{MaxTestSteps: -5}, "MaxTestSteps -5"},
		{EvalOptions{Epochs: -1}, "Epochs -1, want at least 1"},
		{EvalOptions{Window: 1}, "Window 1, want at least 2"},
		{EvalOptions{Gap: -1}, "Gap -1"},
		// The tail scale aggregates by mean or max: "second" ran the
		// mean while the report said "second" (reviewer's finding).
		{EvalOptions{Scale: ScaleValTail, Aggregate: AggregateSecond}, `aggregation "second" does not work with residual scale "val-tail"`},
	} {
		tc.o.Dir = t.TempDir()
		if _, err := EvalDataset(context.Background(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.o, err, tc.want)
		}
	}
}

// pickRanker ranks feature pick first at every window and counts windows.
type pickRanker struct {
	pick, f int
	windows *int
}

func (p pickRanker) RankScores(x, next []float32, n int, out []float32) error {
	*p.windows += n
	clear(out[:n*p.f])
	for i := range n {
		out[i*p.f+p.pick] = 1
	}
	return nil
}

// EvalOptions.NewRanker replaces the ranking at the interpreted steps
// (and the smoothing's lead-in before them), and only there.
func TestEvalDatasetNewRanker(t *testing.T) {
	dir := t.TempDir()
	writeShifted(t, dir, "a", 1, [][2]int{{300, 350}, {600, 640}}, 0.25) // cause: feature 1
	for _, tc := range []struct {
		pick int
		want float64
	}{{1, 1}, {0, 0}} {
		var windows int
		var in RankerInput
		opts := EvalOptions{Dir: dir, Window: 8, Hidden: 8, Epochs: 2, Seed: 1, RankSmooth: 5,
			NewRanker: func(ri RankerInput) (DimensionRanker, error) {
				in = ri
				return pickRanker{pick: tc.pick, f: ri.F, windows: &windows}, nil
			}}
		rep, err := EvalDataset(context.Background(), opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := rep.Mean.HitRate100; got != tc.want {
			t.Errorf("ranker picking feature %d: HR@100 %v, want %v", tc.pick, got, tc.want)
		}
		if in.W != 8 || in.F != 3 || in.Scorer == nil || in.Model == nil {
			t.Errorf("ranker input W %d F %d scorer %v model %v", in.W, in.F, in.Scorer != nil, in.Model != nil)
		}
		k := len(in.BackgroundNext) / 3
		if k < 1 || k > rankerBackground || len(in.BackgroundX) != k*8*3 {
			t.Errorf("background: %d windows, %d values", k, len(in.BackgroundX))
		}
		if want := 50 + 40 + 2*15; windows != want {
			t.Errorf("ranker ran on %d windows, want %d (interpreted steps and 3 × 5 before each segment)", windows, want)
		}
		if rep.Options["ranker"] != "custom" {
			t.Errorf("options %v, want ranker custom", rep.Options)
		}
	}
}
