package explain

import (
	"context"
	"math"
	"math/rand/v2"
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

// TestNullPlayersGetZeroMaxBackground: with MaxBackground the coalition
// values average over a subsample of the background while the baseline
// averages over all of it. A null player (metric 3, 0 in x and in every
// background window) must still get φ = 0 and Σφ must stay
// f(x) − baseline, for Permutation with and without Rotate and for
// Kernel. Without Rotate, Permutation's chains used to start at the whole
// background's baseline, so the first group of each order (also a null
// player) took the subsample mean's difference to it.
func TestNullPlayersGetZeroMaxBackground(t *testing.T) {
	const w, f, null = 4, 20, 3
	rng := rand.New(rand.NewPCG(3, 4))
	p := PredictorFunc(func(x []float32, n int, out []float64) error {
		for i := range n {
			v := x[i*w*f : (i+1)*w*f]
			s := 0.0
			for j, c := range v {
				s += math.Sin(float64(c)*float64(j%7+1)) * float64(j%5)
			}
			out[i] = 1 / (1 + math.Exp(-s/10+float64(v[0]*v[5])+float64(v[13]*v[17])))
		}
		return nil
	})
	bg := make([][]float32, 16)
	for i := range bg {
		bg[i] = make([]float32, w*f)
		for j := range bg[i] {
			bg[i][j] = float32(rng.NormFloat64())
		}
	}
	x := make([]float32, w*f)
	for j := range x {
		x[j] = float32(rng.NormFloat64() * 3)
	}
	for t0 := range w {
		x[t0*f+null] = 0
		for i := range bg {
			bg[i][t0*f+null] = 0
		}
	}
	names := make([]string, f)
	for i := range names {
		names[i] = string(rune('a' + i))
	}
	groups, err := GroupsByMetric(w, f, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		e    Explainer
	}{
		{"permutation, 60 orders", Permutation{Permutations: 60, MaxBackground: 5}},
		{"permutation, 2 orders", Permutation{Permutations: 2, MaxBackground: 5, Seed: 7}},
		{"permutation rotate", Permutation{Permutations: 40, MaxBackground: 5, Rotate: true}},
		{"permutation rotate, 2 orders", Permutation{Permutations: 2, MaxBackground: 3, Rotate: true, Seed: 7}},
		{"kernel", Kernel{Samples: 200, MaxBackground: 5}},
		{"kernel rotate", Kernel{Samples: 200, MaxBackground: 5, Rotate: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := tc.e.Explain(context.Background(), p, x, bg, groups)
			if err != nil {
				t.Fatal(err)
			}
			var sum float64
			for _, g := range a.Groups {
				sum += g.Phi
			}
			if d := math.Abs(sum - (a.Value - a.Baseline)); d > 1e-9 {
				t.Errorf("Σφ = %v, f(x) − baseline = %v", sum, a.Value-a.Baseline)
			}
			if phi := a.Groups[null].Phi; math.Abs(phi) > 1e-12 {
				t.Errorf("null group %s: φ = %g, want 0", a.Groups[null].Name, phi)
			}
		})
	}
}
