package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// A constant feature at a large value gets std 1 (the one-pass
// E[x²] − E[x]² gave 0.064 for 123456.7 over 20,000 rows and 102.8 for 5e7
// over 200,000), and a large offset does not change a feature's spread.
func TestFitNormalizationLargeValues(t *testing.T) {
	for _, tc := range []struct {
		c float32
		n int
	}{{0.1, 1000}, {123456.7, 20000}, {5e7, 200000}, {5e7 + 3, 200000}, {3.3e9, 20000}, {2.5e10, 200000}} {
		m, err := New(Config{Features: []string{"a"}, Window: 1})
		if err != nil {
			t.Fatal(err)
		}
		x := make([]float32, tc.n)
		for i := range x {
			x[i] = tc.c
		}
		if err := m.FitNormalization(x, tc.n); err != nil {
			t.Fatal(err)
		}
		mu, sd := m.Normalization()
		if mu[0] != tc.c || sd[0] != 1 {
			t.Errorf("constant %g × %d: mean %g std %g, want %g and 1", tc.c, tc.n, mu[0], sd[0], tc.c)
		}
	}
	// 1e6 + N(0, 3²): the offset must not leak into the std.
	const n = 100000
	r := rand.New(rand.NewPCG(5, 6))
	x := make([]float32, 2*n)
	for i := range n {
		v := 3 * r.NormFloat64()
		x[2*i], x[2*i+1] = float32(1e6+v), float32(v)
	}
	m, err := New(Config{Features: []string{"off", "raw"}, Window: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.FitNormalization(x, n); err != nil {
		t.Fatal(err)
	}
	_, sd := m.Normalization()
	if math.Abs(float64(sd[0]-sd[1])) > 0.01*float64(sd[1]) || math.Abs(float64(sd[1])-3) > 0.05 {
		t.Errorf("std with offset %g, without %g, want both about 3", sd[0], sd[1])
	}
}
