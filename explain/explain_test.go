package explain

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// fnPredictor scores each window with fn over its cells.
func fnPredictor(size int, fn func(x []float32) float64) Predictor {
	return PredictorFunc(func(x []float32, n int, out []float64) error {
		for i := 0; i < n; i++ {
			out[i] = fn(x[i*size : (i+1)*size])
		}
		return nil
	})
}

// oneCellGroups puts each cell in its own group.
func oneCellGroups(size int) []Group {
	gs := make([]Group, size)
	for i := range gs {
		gs[i] = Group{Name: string(rune('a' + i)), Kind: KindCustom, Cells: []int{i}}
	}
	return gs
}

func phiOf(a Attribution) []float64 {
	v := make([]float64, len(a.Groups))
	for i, g := range a.Groups {
		v[i] = g.Phi
	}
	return v
}

func TestExactHandChecked(t *testing.T) {
	zero := [][]float32{{0, 0, 0}}
	tests := []struct {
		name string
		fn   func(x []float32) float64
		x    []float32
		bg   [][]float32
		want []float64
	}{
		{"additive", func(x []float32) float64 { return 2*float64(x[0]) + 3*float64(x[1]) - float64(x[2]) },
			[]float32{1, 2, 3}, zero, []float64{2, 6, -3}},
		{"additive two backgrounds", func(x []float32) float64 { return float64(x[0]) + float64(x[1])*float64(x[1]) + 5 },
			[]float32{1, 2, 0}, [][]float32{{0, 0, 0}, {2, 2, 2}}, []float64{0, 2, 0}},
		{"interaction split equally", func(x []float32) float64 { return float64(x[0]) * float64(x[1]) },
			[]float32{2, 3, 7}, zero, []float64{3, 3, 0}},
		{"constant", func(x []float32) float64 { return 4.2 },
			[]float32{5, 6, 7}, zero, []float64{0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := fnPredictor(3, tc.fn)
			a, err := Exact{}.Explain(context.Background(), p, tc.x, tc.bg, oneCellGroups(3))
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range tc.want {
				if math.Abs(a.Groups[i].Phi-w) > 1e-9 {
					t.Errorf("phi[%d] = %v, want %v", i, a.Groups[i].Phi, w)
				}
			}
			if a.EfficiencyError > 1e-9 || a.Method != "exact" {
				t.Errorf("efficiency error %g method %q", a.EfficiencyError, a.Method)
			}
		})
	}
}

// randomFunction returns a random polynomial with pairwise and triple
// interactions and a nonlinearity over m inputs, with inputs listed in
// dummies left out.
func randomFunction(rng *rand.Rand, m int, dummies map[int]bool) func(x []float32) float64 {
	type term struct {
		idx []int
		c   float64
	}
	var terms []term
	for k := 0; k < 3*m; k++ {
		deg := 1 + rng.IntN(3)
		var idx []int
		for len(idx) < deg {
			i := rng.IntN(m)
			if !dummies[i] {
				idx = append(idx, i)
			}
		}
		terms = append(terms, term{idx, rng.NormFloat64()})
	}
	return func(x []float32) float64 {
		var s float64
		for _, t := range terms {
			v := t.c
			for _, i := range t.idx {
				v *= float64(x[i])
			}
			s += v
		}
		return math.Tanh(s / 3)
	}
}

func randWindow(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

func TestShapleyAxioms(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(42, 1))
	for trial := 0; trial < 20; trial++ {
		m := 2 + rng.IntN(6)
		dummy := rng.IntN(m)
		f := randomFunction(rng, m, map[int]bool{dummy: true})
		g := randomFunction(rng, m, nil)
		x := randWindow(rng, m)
		bg := [][]float32{randWindow(rng, m), randWindow(rng, m), randWindow(rng, m)}
		groups := oneCellGroups(m)
		pf, pg := fnPredictor(m, f), fnPredictor(m, g)
		af, err := Exact{}.Explain(ctx, pf, x, bg, groups)
		if err != nil {
			t.Fatal(err)
		}
		ag, err := Exact{}.Explain(ctx, pg, x, bg, groups)
		if err != nil {
			t.Fatal(err)
		}
		// Efficiency.
		var sum float64
		for _, v := range phiOf(af) {
			sum += v
		}
		if math.Abs(sum-(af.Value-af.Baseline)) > 1e-9 {
			t.Errorf("trial %d: efficiency: Σφ=%v, f(x)-E f(bg)=%v", trial, sum, af.Value-af.Baseline)
		}
		// Dummy.
		if math.Abs(af.Groups[dummy].Phi) > 1e-12 {
			t.Errorf("trial %d: dummy %d has φ=%v", trial, dummy, af.Groups[dummy].Phi)
		}
		// Linearity: φ(2f + 3g) = 2φ(f) + 3φ(g).
		ph := fnPredictor(m, func(x []float32) float64 { return 2*f(x) + 3*g(x) })
		ah, err := Exact{}.Explain(ctx, ph, x, bg, groups)
		if err != nil {
			t.Fatal(err)
		}
		for i := range groups {
			want := 2*af.Groups[i].Phi + 3*ag.Groups[i].Phi
			if math.Abs(ah.Groups[i].Phi-want) > 1e-9 {
				t.Errorf("trial %d: linearity: φ_%d = %v, want %v", trial, i, ah.Groups[i].Phi, want)
			}
		}
		// Symmetry: a function symmetric in inputs 0 and 1 with x0 == x1
		// and equal backgrounds in them gives them equal φ.
		sym := fnPredictor(m, func(x []float32) float64 {
			y := append([]float32(nil), x...)
			y[0], y[1] = x[1], x[0]
			return f(x) + f(y)
		})
		xs := append([]float32(nil), x...)
		xs[1] = xs[0]
		bgs := make([][]float32, len(bg))
		for i, b := range bg {
			bgs[i] = append([]float32(nil), b...)
			bgs[i][1] = bgs[i][0]
		}
		as, err := Exact{}.Explain(ctx, sym, xs, bgs, groups)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(as.Groups[0].Phi-as.Groups[1].Phi) > 1e-9 {
			t.Errorf("trial %d: symmetry: φ0=%v φ1=%v", trial, as.Groups[0].Phi, as.Groups[1].Phi)
		}
	}
}

func TestKernelEnumeratesToExact(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(7, 7))
	for _, m := range []int{2, 3, 5, 8, 11} {
		f := randomFunction(rng, m, nil)
		p := fnPredictor(m, f)
		x := randWindow(rng, m)
		bg := [][]float32{randWindow(rng, m), randWindow(rng, m)}
		ex, err := Exact{}.Explain(ctx, p, x, bg, oneCellGroups(m))
		if err != nil {
			t.Fatal(err)
		}
		k, err := Kernel{Samples: 1 << 20}.Explain(ctx, p, x, bg, oneCellGroups(m))
		if err != nil {
			t.Fatal(err)
		}
		if k.Samples != 1<<m-2 {
			t.Errorf("m=%d: kernel evaluated %d coalitions, want %d", m, k.Samples, 1<<m-2)
		}
		for i := range ex.Groups {
			if d := math.Abs(ex.Groups[i].Phi - k.Groups[i].Phi); d > 1e-9 {
				t.Errorf("m=%d: φ_%d kernel %v exact %v", m, i, k.Groups[i].Phi, ex.Groups[i].Phi)
			}
		}
	}
}

func TestKernelConverges(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 9))
	const m = 12
	f := randomFunction(rng, m, nil)
	p := fnPredictor(m, f)
	x := randWindow(rng, m)
	bg := [][]float32{randWindow(rng, m), randWindow(rng, m)}
	ex, err := Exact{}.Explain(ctx, p, x, bg, oneCellGroups(m))
	if err != nil {
		t.Fatal(err)
	}
	errAt := func(samples int) float64 {
		var worst float64
		for seed := int64(0); seed < 5; seed++ {
			k, err := Kernel{Samples: samples, Seed: seed}.Explain(ctx, p, x, bg, oneCellGroups(m))
			if err != nil {
				t.Fatal(err)
			}
			if k.EfficiencyError > 1e-9 {
				t.Errorf("samples %d: efficiency error %g", samples, k.EfficiencyError)
			}
			var e float64
			for i := range ex.Groups {
				e += math.Abs(ex.Groups[i].Phi - k.Groups[i].Phi)
			}
			worst = math.Max(worst, e)
		}
		return worst
	}
	e100, e1000, e4000 := errAt(100), errAt(1000), errAt(3500)
	t.Logf("L1 error vs exact: 100→%.4g 1000→%.4g 3500→%.4g", e100, e1000, e4000)
	if !(e1000 < e100 && e4000 < e1000) {
		t.Errorf("kernel does not converge: %g, %g, %g", e100, e1000, e4000)
	}
	if e4000 > 0.05*sumAbs(phiOf(ex)) {
		t.Errorf("kernel with 3500 of 4094 coalitions: L1 error %g too large", e4000)
	}
}

func sumAbs(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += math.Abs(x)
	}
	return s
}

func TestMethodsEfficiencyAndAgreement(t *testing.T) {
	ctx := context.Background()
	p, err := NewSyntheticLSTM(8, 6, 8, 5)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 2))
	x, bg := benchCase(rng, 8, 6, 8)
	groups, err := GroupsByMetric(8, 6, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Exact{}.Explain(ctx, p, x, bg, groups)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Explainer{
		Kernel{}, Kernel{Samples: 40, Rotate: true}, Kernel{Samples: 30, MaxBackground: 2},
		Permutation{Permutations: 40}, Permutation{Permutations: 60, Rotate: true}, Auto{}, Fast{}, Fast{Budget: 9},
	} {
		a, err := e.Explain(ctx, p, x, bg, groups)
		if err != nil {
			t.Fatal(err)
		}
		if a.EfficiencyError > 1e-6 || math.Abs(a.Value-ex.Value) > 1e-12 || math.Abs(a.Baseline-ex.Baseline) > 1e-12 {
			t.Errorf("%T: efficiency error %g value %v baseline %v", e, a.EfficiencyError, a.Value, a.Baseline)
		}
		if rho := Spearman(phiOf(ex), phiOf(a)); rho < 0.6 {
			t.Errorf("%+v: spearman vs exact %.3f", e, rho)
		}
	}
}

func TestGroupsAndValidation(t *testing.T) {
	ctx := context.Background()
	p := fnPredictor(6, func(x []float32) float64 { return float64(x[0] + x[5]) })
	x := []float32{1, 1, 1, 1, 1, 1}
	bg := [][]float32{make([]float32, 6)}
	// Groups covering only part of the window get a rest group.
	a, err := Exact{}.Explain(ctx, p, x, bg, []Group{{Name: "first", Cells: []int{0}}})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Groups) != 2 || a.Groups[1].Name != restName || math.Abs(a.Groups[0].Phi-1) > 1e-12 || math.Abs(a.Groups[1].Phi-1) > 1e-12 {
		t.Errorf("rest group: %+v", a.Groups)
	}
	if top := a.Top(1); len(top) != 1 {
		t.Errorf("Top(1) = %v", top)
	}
	bad := []struct {
		name   string
		groups []Group
		bg     [][]float32
	}{
		{"overlap", []Group{{Name: "a", Cells: []int{0, 1}}, {Name: "b", Cells: []int{1}}}, bg},
		{"out of range", []Group{{Name: "a", Cells: []int{6}}}, bg},
		{"empty group", []Group{{Name: "a"}}, bg},
		{"no groups", nil, bg},
		{"no background", []Group{{Name: "a", Cells: []int{0}}}, nil},
		{"short background", []Group{{Name: "a", Cells: []int{0}}}, [][]float32{{0}}},
	}
	for _, tc := range bad {
		if _, err := (Auto{}).Explain(ctx, p, x, tc.bg, tc.groups); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	// Helpers: shapes and coverage.
	w, f := 4, 3
	for name, mk := range map[string]func() ([]Group, error){
		"metric": func() ([]Group, error) { return GroupsByMetric(w, f, []string{"a", "b", "c"}) },
		"entity": func() ([]Group, error) { return GroupsByEntity(w, f, []string{"s1", "s2", "s1"}) },
		"time":   func() ([]Group, error) { return GroupsByTimeSegment(w, f, 3) },
	} {
		gs, err := mk()
		if err != nil {
			t.Fatal(err)
		}
		full, err := partition(w*f, gs)
		if err != nil || len(full) != len(gs) {
			t.Errorf("%s groups do not partition the window: %v", name, err)
		}
	}
	if gs, _ := GroupsByEntity(w, f, []string{"s1", "s2", "s1"}); len(gs) != 2 || len(gs[0].Cells) != 8 {
		t.Errorf("entity groups: %+v", gs)
	}
	if _, err := GroupsByMetric(w, f, []string{"a"}); err == nil {
		t.Error("metric names of wrong length accepted")
	}
	if _, err := GroupsByTimeSegment(w, f, 5); err == nil {
		t.Error("more segments than steps accepted")
	}
	if _, err := (Exact{}).Explain(ctx, fnPredictor(20, func([]float32) float64 { return 0 }), make([]float32, 20), [][]float32{make([]float32, 20)}, oneCellGroups(20)); err == nil {
		t.Error("exact accepted 20 groups")
	}
}

func TestSpearman(t *testing.T) {
	tests := []struct {
		a, b []float64
		want float64
	}{
		{[]float64{1, 2, 3}, []float64{10, 20, 30}, 1},
		{[]float64{1, 2, 3}, []float64{3, 2, 1}, -1},
		{[]float64{1, 1, 1}, []float64{1, 1, 1}, 1},
		{[]float64{1, 2, 3}, []float64{5, 5, 5}, 0},
	}
	for _, tc := range tests {
		if got := Spearman(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Spearman(%v,%v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestPredictorErrorsAndCancellation(t *testing.T) {
	const m = 11
	rng := rand.New(rand.NewPCG(1, 1))
	x := randWindow(rng, m)
	bg := [][]float32{randWindow(rng, m), randWindow(rng, m)}
	calls := 0
	failing := PredictorFunc(func(x []float32, n int, out []float64) error {
		calls++
		if calls > 1 {
			return errors.New("model unloaded")
		}
		return nil
	})
	for _, e := range []Explainer{Exact{Workers: 1}, Kernel{Workers: 1}, Permutation{Workers: 1}, Fast{Workers: 1}} {
		calls = 0
		if _, err := e.Explain(context.Background(), failing, x, bg, oneCellGroups(m)); err == nil || !strings.Contains(err.Error(), "model unloaded") {
			t.Errorf("%T: error %v, want the predictor's", e, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := fnPredictor(m, func(x []float32) float64 { return float64(x[0]) })
	if _, err := (Exact{Workers: 2}).Explain(ctx, p, x, bg, oneCellGroups(m)); err == nil {
		t.Error("cancelled context: no error")
	}
}
