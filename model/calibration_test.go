package model

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// ShiftFailureLogit(d) multiplies the odds of every P(failure) by e^d in
// batch inference, in the streaming steps and in the saved model, and
// leaves the forecast alone; it refuses an ensemble and a non-finite d.
func TestShiftFailureLogit(t *testing.T) {
	const w, f, n, d = 6, 3, 5, -math.Ln2 * 3 // odds ÷ 8
	m, err := New(Config{Features: []string{"a", "b", "c"}, Window: w, Horizon: 2, Hidden: 8, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*w*f)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	before, fcBefore := make([]float64, n), make([]float32, n*f)
	if err := m.Forecast(x, n, before, fcBefore); err != nil {
		t.Fatal(err)
	}
	if err := m.ShiftFailureLogit(d); err != nil {
		t.Fatal(err)
	}
	after, fcAfter := make([]float64, n), make([]float32, n*f)
	if err := m.Forecast(x, n, after, fcAfter); err != nil {
		t.Fatal(err)
	}
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	odds := func(p float64) float64 { return p / (1 - p) }
	for i := range n {
		if got := odds(after[i]) / odds(before[i]); math.Abs(got-math.Exp(d)) > 1e-4 {
			t.Errorf("window %d: P %.6f → %.6f, odds × %.5f, want × %.5f", i, before[i], after[i], got, math.Exp(d))
		}
		st := loaded.NewState()
		var q float64
		for k := range w {
			q = loaded.Step(st, x[i*w*f+k*f:i*w*f+(k+1)*f])
		}
		if math.Abs(q-after[i]) > 1e-5 {
			t.Errorf("window %d: the loaded model's streaming P %.6f, batch %.6f", i, q, after[i])
		}
	}
	for i := range fcBefore {
		if fcAfter[i] != fcBefore[i] {
			t.Fatalf("forecast %d changed: %v → %v", i, fcBefore[i], fcAfter[i])
		}
	}

	for _, bad := range []float64{math.NaN(), math.Inf(-1)} {
		if err := m.ShiftFailureLogit(bad); err == nil {
			t.Errorf("shift %v accepted", bad)
		}
	}
	m2, err := New(Config{Features: []string{"a", "b", "c"}, Window: w, Horizon: 2, Hidden: 8, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEnsemble(m, m2)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ShiftFailureLogit(d); err == nil || !strings.Contains(err.Error(), "ensemble") {
		t.Errorf("ensemble: error %v, want it refused", err)
	}
}
