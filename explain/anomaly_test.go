package explain

import (
	"math"
	"testing"
)

// persistence scores the step after a window by the mean squared change
// from the window's last step (a forecaster that repeats the last value).
type persistence struct{ w, f int }

func (p persistence) AnomalyScores(x, next []float32, n int, score []float64, _ []float32) error {
	for i := range n {
		last := x[(i*p.w+p.w-1)*p.f : (i*p.w+p.w)*p.f]
		s := 0.0
		for j, v := range next[i*p.f : (i+1)*p.f] {
			d := float64(v - last[j])
			s += d * d
		}
		score[i] = s / float64(p.f)
	}
	return nil
}

func TestFeatureRanker(t *testing.T) {
	const w, f = 4, 3
	// Background: flat windows whose next step repeats the last (score 0).
	bgX := make([]float32, 2*w*f)
	bgNext := make([]float32, 2*f)
	for i := range bgX {
		bgX[i] = 1
	}
	for i := range bgNext {
		bgNext[i] = 1
	}
	r, err := NewFeatureRanker(persistence{w, f}, w, f, bgX, bgNext, Exact{})
	if err != nil {
		t.Fatal(err)
	}
	// Two windows: feature 2 jumps by 3 in the first, feature 0 by 1 and
	// feature 1 by 2 in the second.
	x := make([]float32, 2*w*f)
	for i := range x {
		x[i] = 1
	}
	next := []float32{1, 1, 4 /* window 2: */, 2, 3, 1}
	out := make([]float32, 2*f)
	if err := r.RankScores(x, next, 2, out); err != nil {
		t.Fatal(err)
	}
	// The score is additive over features, so each feature's Shapley value
	// is its own term, d²/F, and out = d².
	want := []float32{0, 0, 9, 1, 4, 0}
	for i := range want {
		if math.Abs(float64(out[i]-want[i])) > 1e-5 {
			t.Fatalf("RankScores = %v, want %v", out, want)
		}
	}
	// With the default explainer (sampling) the order is the same.
	r, err = NewFeatureRanker(persistence{w, f}, w, f, bgX, bgNext, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RankScores(x, next, 2, out); err != nil {
		t.Fatal(err)
	}
	if !(out[2] > out[0] && out[2] > out[1] && out[4] > out[3] && out[3] > out[5]) {
		t.Errorf("Fast ranking %v, want feature 2 first, then 1 > 0 > 2", out)
	}
}

func TestFeatureRankerErrors(t *testing.T) {
	ok := make([]float32, 2*3)
	for _, tc := range []struct {
		name        string
		s           AnomalyScorer
		w, f        int
		bgX, bgNext []float32
	}{
		{"nil scorer", nil, 2, 3, ok, ok[:3]},
		{"no background", persistence{2, 3}, 2, 3, nil, nil},
		{"ragged background", persistence{2, 3}, 2, 3, ok[:5], ok[:3]},
		{"zero features", persistence{2, 0}, 2, 0, nil, nil},
	} {
		if _, err := NewFeatureRanker(tc.s, tc.w, tc.f, tc.bgX, tc.bgNext, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	r, err := NewFeatureRanker(persistence{2, 3}, 2, 3, ok, ok[:3], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.RankScores(ok, ok[:3], 2, make([]float32, 6)); err == nil {
		t.Error("RankScores accepted 1 window's values for 2")
	}
}
