package explain

import (
	"context"
	"math"
	"testing"
)

// TestNullPlayersGetZero: a group whose cells equal the background's in
// every window (a feature that is 0 across the whole window and the
// background, as most event counters are) changes no coalition's value, so
// its exact Shapley value is 0 (the null-player axiom). Every method must
// give it 0, also Permutation with Rotate when its orders do not cover the
// background evenly (their chains telescope to f(x) − mean f(bg) over the
// windows used, not to the baseline over all of them), while Σφ stays
// f(x) − baseline.
func TestNullPlayersGetZero(t *testing.T) {
	const m = 8 // cells 0–2 vary, cells 3–7 are 0 everywhere
	f := func(x []float32) float64 {
		return 1 / (1 + math.Exp(-float64(2*x[0]-x[1]+x[0]*x[2]-1)))
	}
	p := fnPredictor(m, f)
	x := make([]float32, m)
	x[0], x[1], x[2] = 2, -1, 0.5
	// Background windows far apart in f, so that a rotation that does not
	// cover them evenly leaves a large gap to the baseline.
	var bg [][]float32
	for _, v := range [][3]float32{{0, 0, 0}, {3, -2, 1}, {-1, 1, 0}, {2.5, 0, 2}, {0.5, 0.5, -1}} {
		b := make([]float32, m)
		copy(b, v[:])
		bg = append(bg, b)
	}
	null := map[int]bool{3: true, 4: true, 5: true, 6: true, 7: true}
	methods := []struct {
		name string
		e    Explainer
	}{
		{"exact", Exact{}},
		{"permutation", Permutation{Permutations: 4}},
		{"permutation rotate, 1 order pair", Permutation{Permutations: 2, Rotate: true}},
		{"permutation rotate, 3 order pairs", Permutation{Permutations: 6, Rotate: true, Seed: 3}},
		{"fast", Fast{}},
		{"fast, small budget", Fast{Budget: 14}},
		{"fast, covering the background", Fast{Budget: 14, CoverBackground: true}},

		{"kernel", Kernel{}},
		{"kernel rotate", Kernel{Samples: 40, Rotate: true}},
		{"kernel sampled", Kernel{Samples: 40}},
	}
	for _, tc := range methods {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.e.Explain(context.Background(), p, x, bg, oneCellGroups(m))
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for i, g := range a.Groups {
				sum += g.Phi
				if null[i] && math.Abs(g.Phi) > 1e-9 {
					t.Errorf("null group %s: φ = %g, want 0", g.Name, g.Phi)
				}
			}
			if d := math.Abs(sum - (a.Value - a.Baseline)); d > 1e-9 {
				t.Errorf("Σφ = %v, f(x) − baseline = %v", sum, a.Value-a.Baseline)
			}
			if want := 1 + len(bg) + 2*len(bg)*(m-1); tc.name == "fast, covering the background" && a.Evaluations != want {
				t.Errorf("%d model evaluations, want %d (one order pair per background window)", a.Evaluations, want)
			}
			if a.Groups[0].Phi <= 0 {
				t.Errorf("φ of cell 0 (which raises f) is %v, want > 0", a.Groups[0].Phi)
			}
		})
	}
	// x equal to the only window the rotation uses: no group moves the
	// prediction along the chain, and the whole gap to the baseline goes
	// to the groups that differ from some background window (cells 0–2).
	t.Run("rotation on a window equal to x", func(t *testing.T) {
		a, err := Permutation{Permutations: 2, Rotate: true}.Explain(context.Background(), p, bg[0], bg, oneCellGroups(m))
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for i, g := range a.Groups {
			sum += g.Phi
			if null[i] != (g.Phi == 0) {
				t.Errorf("group %s: φ = %g", g.Name, g.Phi)
			}
		}
		if d := math.Abs(sum - (a.Value - a.Baseline)); d > 1e-9 || a.Value == a.Baseline {
			t.Errorf("Σφ = %v, f(x) − baseline = %v", sum, a.Value-a.Baseline)
		}
	})
}
