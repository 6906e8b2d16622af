package model

import (
	"math"
	"testing"
)

// TestAnomalyScoresFarFromMean: a value that fits float32 but lies far
// from the mean is a huge finite score, not +Inf (the squared residual
// overflowed float32 from about 1.8e19 standard deviations on), for one
// network and for an ensemble; its per-feature residual is capped at the
// largest float32.
func TestAnomalyScoresFarFromMean(t *testing.T) {
	m, err := New(Config{Features: []string{"a", "b"}, Window: 4, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEnsemble(m, m)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 4*2) // mean 0, std 1: raw units are normalised ones
	for _, tc := range []struct {
		name    string
		model   *Model
		v       float32
		perHuge bool // the per-feature residual is capped
	}{
		{"1e18", m, 1e18, false},
		{"1e20", m, 1e20, true},
		{"-1e20", m, -1e20, true},
		{"1e30", m, 1e30, true},
		{"largest float32", m, math.MaxFloat32, true},
		{"ensemble 1e30", e, 1e30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			score := make([]float64, 1)
			per := make([]float32, 2)
			if err := tc.model.AnomalyScores(x, []float32{tc.v, 0.25}, 1, score, per); err != nil {
				t.Fatal(err)
			}
			// The forecast is of order 1: the score is about v²/2.
			want := float64(tc.v) * float64(tc.v) / 2
			if math.IsInf(score[0], 0) || math.Abs(score[0]-want) > 1e-6*want {
				t.Errorf("score %g, want about %g", score[0], want)
			}
			if math.IsInf(float64(per[0]), 0) || (per[0] == math.MaxFloat32) != tc.perHuge || !(per[0] > per[1]) {
				t.Errorf("per-feature %v, want finite, capped %v, the first above the second", per, tc.perHuge)
			}
		})
	}
}
