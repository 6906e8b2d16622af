package model

import (
	"math"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

func featureNames(f int) []string {
	names := make([]string, f)
	for i := range names {
		names[i] = "f" + string(rune('a'+i%26)) + string(rune('0'+i/26))
	}
	return names
}

// testModel returns a model with random weights (larger than the default
// init so that gates saturate somewhere) and a random normalisation.
func testModel(t testing.TB, f, h, w, layers int, dropout float64, seed uint64) *Model {
	t.Helper()
	m, err := New(Config{Features: featureNames(f), Window: w, Hidden: h, Layers: layers, Dropout: dropout, Seed: int64(seed)})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range m.w {
		m.w[i] = float32(rng.NormFloat64() * 0.4)
	}
	mean := make([]float32, f)
	std := make([]float32, f)
	for i := range mean {
		mean[i] = float32(rng.NormFloat64())
		std[i] = float32(0.5 + rng.Float64())
	}
	if err := m.SetNormalization(mean, std); err != nil {
		t.Fatal(err)
	}
	return m
}

func randWindows(rng *rand.Rand, n, w, f int, nanFrac float64) []float32 {
	x := make([]float32, n*w*f)
	for i := range x {
		if rng.Float64() < nanFrac {
			x[i] = float32(math.NaN())
		} else {
			x[i] = float32(rng.NormFloat64() * 1.5)
		}
	}
	return x
}

func TestFastForwardMatchesGorgonia(t *testing.T) {
	cases := []struct {
		name               string
		f, h, w, layers, n int
	}{
		{"tiny", 3, 4, 5, 1, 2},
		{"stacked", 5, 8, 7, 2, 3},
		{"three layers", 4, 6, 4, 3, 1},
		{"chunked batch", 6, 16, 9, 1, 70},
		{"wide", 38, 64, 32, 1, 4},
	}
	for _, tc := range cases {
		for _, asm := range []bool{true, false} {
			if asm && !useAsm {
				continue
			}
			name := tc.name + "/pure-go"
			if asm {
				name = tc.name + "/asm"
			}
			t.Run(name, func(t *testing.T) {
				saved := useAsm
				useAsm = asm
				t.Cleanup(func() { useAsm = saved })
				checkFastForward(t, tc.f, tc.h, tc.w, tc.layers, tc.n)
			})
		}
	}
}

func checkFastForward(t *testing.T, f, h, w, layers, n int) {
	t.Helper()
	m := testModel(t, f, h, w, layers, 0.3, 11)
	rng := rand.New(rand.NewPCG(3, 4))
	x := randWindows(rng, n, w, f, 0.05)
	p1 := make([]float64, n)
	f1 := make([]float32, n*f)
	p2 := make([]float64, n)
	f2 := make([]float32, n*f)
	if err := m.Forecast(x, n, p1, f1); err != nil {
		t.Fatal(err)
	}
	if err := m.GorgoniaForecast(x, n, p2, f2); err != nil {
		t.Fatal(err)
	}
	var maxP, maxF float64
	for i := range p1 {
		maxP = math.Max(maxP, math.Abs(p1[i]-p2[i]))
	}
	for i := range f1 {
		// Compare in normalised units, which is what the network computes.
		j := i % f
		d := float64((f1[i] - f2[i]) / m.std[j])
		maxF = math.Max(maxF, math.Abs(d))
	}
	if maxP > 1e-5 || maxF > 1e-5 {
		t.Errorf("fast vs gorgonia: max |Δprob| = %.3g, max |Δforecast| = %.3g, want ≤ 1e-5", maxP, maxF)
	}
	t.Logf("max |Δprob| = %.3g, max |Δforecast| = %.3g", maxP, maxF)
}

// randBatch builds a training batch with some missing targets and labels.
func randBatch(rng *rand.Rand, n, w, f int) (x, next, label []float32) {
	x = randWindows(rng, n, w, f, 0.03)
	next = randWindows(rng, n, 1, f, 0.1)
	label = make([]float32, n)
	for i := range label {
		switch {
		case i%5 == 4:
			label[i] = float32(math.NaN())
		case rng.Float64() < 0.4:
			label[i] = 1
		}
	}
	return x, next, label
}

func TestGorgoniaGradientFiniteDifferences(t *testing.T) {
	cases := []struct {
		name               string
		f, h, w, layers, n int
		delta              float64 // pseudo-Huber δ (LossHuber); 0: MSE
	}{
		{"one layer", 3, 4, 4, 1, 3, 0},
		{"two layers", 2, 3, 3, 2, 2, 0},
		{"one layer huber", 3, 4, 4, 1, 3, 0.3},
		{"two layers huber", 2, 3, 3, 2, 2, 0.3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := testModel(t, tc.f, tc.h, tc.w, tc.layers, 0, 5)
			opts := TrainOptions{PosWeight: 2.5, ForecastWeight: 0.7}
			if tc.delta > 0 {
				opts.Loss, opts.HuberDelta = LossHuber, tc.delta
			}
			tr, err := NewTrainer(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(9, 9))
			x, next, label := randBatch(rng, tc.n, tc.w, tc.f)
			b, err := tr.prepare(x, next, label, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			gr, err := newGraph(m, tc.n, tensor.Float64, true, b.delta)
			if err != nil {
				t.Fatal(err)
			}
			if err := gr.setBatch(b, nil); err != nil {
				t.Fatal(err)
			}
			if err := gr.run(); err != nil {
				t.Fatal(err)
			}
			grad, err := gr.grads()
			if err != nil {
				t.Fatal(err)
			}
			flat := toF64(m.w)
			lossAt := func(p []float64) float64 {
				gr.loadFlat(p)
				if err := gr.run(); err != nil {
					t.Fatal(err)
				}
				l, _, _ := gr.losses()
				return l
			}
			const eps = 1e-6
			for i := range flat {
				orig := flat[i]
				flat[i] = orig + eps
				lp := lossAt(flat)
				flat[i] = orig - eps
				lm := lossAt(flat)
				flat[i] = orig
				fd := (lp - lm) / (2 * eps)
				if d := math.Abs(fd - grad[i]); d > 1e-6+1e-5*math.Abs(fd) {
					t.Errorf("param %d: gorgonia grad %.9g, finite difference %.9g", i, grad[i], fd)
				}
			}
		})
	}
}

func TestFastGradientMatchesGorgoniaAndFiniteDifferences(t *testing.T) {
	cases := []struct {
		name               string
		f, h, w, layers, n int
		dropout            float64
		delta              float64 // pseudo-Huber δ (LossHuber); 0: MSE
	}{
		{"one layer", 3, 4, 4, 1, 3, 0, 0},
		{"two layers dropout", 4, 5, 3, 2, 4, 0.4, 0},
		{"three layers parallel", 3, 4, 3, 3, 40, 0.2, 0},
		{"one layer huber", 3, 4, 4, 1, 3, 0, 0.3},
		{"two layers dropout huber", 4, 5, 3, 2, 4, 0.4, 0.3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := testModel(t, tc.f, tc.h, tc.w, tc.layers, tc.dropout, 6)
			m.SetParallelism(2)
			opts := TrainOptions{PosWeight: 3, ForecastWeight: 0.5, Seed: 2}
			if tc.delta > 0 {
				opts.Loss, opts.HuberDelta = LossHuber, tc.delta
			}
			tr, err := NewTrainer(m, opts)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			x, next, label := randBatch(rng, tc.n, tc.w, tc.f)
			b, err := tr.prepare(x, next, label, tc.n)
			if err != nil {
				t.Fatal(err)
			}
			mask := tr.dropoutMask(tc.n)
			fastLoss, _, _ := tr.run(b, mask, true)
			fast := tr.gradient()

			gr, err := newGraph(m, tc.n, tensor.Float64, true, b.delta)
			if err != nil {
				t.Fatal(err)
			}
			if err := gr.setBatch(b, mask); err != nil {
				t.Fatal(err)
			}
			if err := gr.run(); err != nil {
				t.Fatal(err)
			}
			ref, err := gr.grads()
			if err != nil {
				t.Fatal(err)
			}
			refLoss, _, _ := gr.losses()
			if d := math.Abs(refLoss - fastLoss); d > 1e-5*math.Max(1, math.Abs(refLoss)) {
				t.Errorf("loss: fast %.7g, gorgonia float64 %.7g", fastLoss, refLoss)
			}
			var scale float64
			for _, v := range ref {
				scale = math.Max(scale, math.Abs(v))
			}
			for i := range ref {
				if d := math.Abs(float64(fast[i]) - ref[i]); d > 1e-4*scale+1e-4*math.Abs(ref[i]) {
					t.Errorf("param %d: fast grad %.7g, gorgonia float64 %.7g", i, fast[i], ref[i])
				}
			}
			// Finite differences of the fast (float32) loss: coarse step, loose tolerance.
			const eps = 5e-3
			for i := range m.w {
				orig := m.w[i]
				m.w[i] = orig + eps
				lp, _, _ := tr.run(b, mask, false)
				m.w[i] = orig - eps
				lm, _, _ := tr.run(b, mask, false)
				m.w[i] = orig
				fd := (lp - lm) / (2 * eps)
				if d := math.Abs(fd - ref[i]); d > 2e-3*scale+2e-2*math.Abs(ref[i]) {
					t.Errorf("param %d: finite difference of fast loss %.6g, analytic %.6g", i, fd, ref[i])
				}
			}
		})
	}
}

func TestWeightsRoundTrip(t *testing.T) {
	m, err := New(Config{Features: []string{"a", "b"}, Window: 4, Hidden: 3, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	w := m.Weights()
	if len(w) != m.NumParams() {
		t.Fatalf("%d weights for %d parameters", len(w), m.NumParams())
	}
	x := make([]float32, 4*2)
	for i := range x {
		x[i] = float32(i) / 8
	}
	p := make([]float64, 1)
	if err := m.Predict(x, 1, p); err != nil {
		t.Fatal(err)
	}
	w[0] += 1 // a copy: the model does not change
	q := make([]float64, 1)
	if err := m.Predict(x, 1, q); err != nil || q[0] != p[0] {
		t.Fatalf("Weights returned the model's own slice (%v, %v)", q, err)
	}
	for i := range w {
		w[i] = 0
	}
	if err := m.SetWeights(w); err != nil {
		t.Fatal(err)
	}
	if err := m.Predict(x, 1, q); err != nil || q[0] != 0.5 {
		t.Fatalf("zero weights predict %v (%v), want 0.5", q, err)
	}
	if err := m.SetWeights(w[1:]); err == nil {
		t.Fatal("short weights accepted")
	}
}

// TestPseudoHuberSmallErrors: for forecast errors far below δ the
// pseudo-Huber loss is the squared error, in both engines, also in the
// gorgonia graph's float32 (√(1 + q²) − 1 written as a difference lost
// 4.6 % of it at q = 1e-3, all of it below q ≈ 3e-4).
func TestPseudoHuberSmallErrors(t *testing.T) {
	const f, h, w, n, eps = 3, 4, 4, 5, 1e-3
	m := testModel(t, f, h, w, 1, 0, 11)
	rng := rand.New(rand.NewPCG(11, 11))
	x := randWindows(rng, n, w, f, 0.03)
	fc := make([]float32, n*f)
	if err := m.Forecast(x, n, nil, fc); err != nil {
		t.Fatal(err)
	}
	// The next step is the forecast moved by eps training standard
	// deviations: every normalised error is eps.
	next := make([]float32, n*f)
	for i := range next {
		next[i] = fc[i] + float32(eps)/m.invStd[i%f]
	}
	label := make([]float32, n)
	for i := range label {
		label[i] = float32(math.NaN())
	}
	want := 2 * eps * eps / (math.Sqrt(1+eps*eps) + 1) // δ = 1
	for _, engine := range []string{EngineFast, EngineGorgonia} {
		tr, err := NewTrainer(m, TrainOptions{Loss: LossHuber, Engine: engine})
		if err != nil {
			t.Fatal(err)
		}
		_, got, _, err := tr.Loss(x, next, label, n)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 0.01*want {
			t.Errorf("engine %s: forecast loss %.6g, want %.6g (±1 %%)", engine, got, want)
		}
	}
}
