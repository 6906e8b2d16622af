package explain

import (
	"context"
	"math"
	"testing"
)

// TestNoAttributionOfRoundingNoise: a window that scores as its
// background does (the background is three copies of x: the baseline is
// f(x) to one ulp, 0.1 against 0.10000000000000002) is attributed to no
// group: every φ and share is 0 and Causes names no metric, with every
// method; efficiency still holds (Baseline + Σφ = Value to rounding).
// Before, the ulp was split over the groups (φ ≈ 1e-18, share 1/M each:
// every group a cause, a feature missing in every row included).
func TestNoAttributionOfRoundingNoise(t *testing.T) {
	const m = 30
	x := make([]float32, m)
	x[0] = 1
	for i := 1; i < m; i++ {
		x[i] = float32(i) / 7
	}
	x[m-1] = float32(math.NaN()) // a feature missing in every row
	bg := [][]float32{x, x, x}
	p := fnPredictor(m, func(w []float32) float64 { return 0.1 * float64(w[0]) })
	tests := []struct {
		name string
		e    Explainer
	}{
		{"exact", Exact{}},
		{"kernel", Kernel{}},
		{"permutation", Permutation{}},
		{"fast (the daemon's, ForGroups(30))", ForGroups(m)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			groups := oneCellGroups(m)
			if _, ok := tc.e.(Exact); ok {
				groups = groups[:exactMaxM-1] // the rest go to "(rest)"
			}
			a, err := tc.e.Explain(context.Background(), p, x, bg, groups)
			if err != nil {
				t.Fatal(err)
			}
			if a.Value == a.Baseline {
				t.Fatalf("value %v = baseline: the test no longer has rounding noise to attribute", a.Value)
			}
			var sum float64
			for _, g := range a.Groups {
				if g.Phi != 0 || g.Share != 0 {
					t.Errorf("group %s: phi %g share %g, want 0 (rounding noise)", g.Name, g.Phi, g.Share)
				}
				sum += g.Phi
			}
			if d := math.Abs(a.Baseline + sum - a.Value); d > float64(len(a.Groups))*NoiseEpsilon*a.Value || a.EfficiencyError != d {
				t.Errorf("baseline %v + Σφ %v = value %v off by %g (efficiency error %g)", a.Baseline, sum, a.Value, d, a.EfficiencyError)
			}
			rc, err := Causes(a, nil, nil, 5, RankOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(rc.Metrics) != 0 {
				t.Errorf("metric causes %+v, want none", rc.Metrics)
			}
		})
	}
}
