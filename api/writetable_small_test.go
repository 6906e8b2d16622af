package api_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
)

// TestWriteTableSmallProbabilities: a calibrated failure probability is
// often far below 1 %; omen explain printed it, its baseline and every φ
// with fixed decimals as 0 ("P(failure) 0.000", "baseline 0.0000 -> f(x)
// 0.0000", "+0.0000"). They keep two significant digits.
func TestWriteTableSmallProbabilities(t *testing.T) {
	x := api.Explanation{PredictionID: "shop/cart-1@1764000000000", Entity: "shop/cart-1", T: 1764000000000,
		Probability: 0.000054, Threshold: 0.408, AnomalyScore: 1.2, ModelVersion: "v1",
		Attribution: explain.Attribution{Baseline: 6.3e-07, Value: 0.000054, Method: "exact", Evaluations: 8,
			Groups: []explain.GroupAttribution{
				{Name: "restarts", Kind: "metric", Phi: 0.0000417, Share: 0.78},
				{Name: "memory", Kind: "metric", Phi: 0.0000123, Share: 0.22},
				{Name: "cpu", Kind: "metric", Phi: -2.4e-09, Share: 0.00005},
			}}}
	var b bytes.Buffer
	if err := api.WriteTable(&b, x, 2); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"P(failure) 0.000054 (threshold 0.408)", "baseline 0.00000063 -> f(x) 0.000054",
		"+4.2e-05", "+1.2e-05", "-2.4e-09"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "0.0000 ") || strings.Contains(out, "0.000 ") {
		t.Errorf("output prints a probability or φ as 0:\n%s", out)
	}
}

func TestProbPhiText(t *testing.T) {
	for _, tc := range []struct {
		v         float64
		prob, phi string
	}{
		{0.41234, "0.4123", "+0.4123"},
		{0.0021, "0.0021", "+0.0021"},
		{0.00099, "0.00099", "+9.9e-04"},
		{6.3e-07, "0.00000063", "+6.3e-07"},
		{-6.3e-07, "-0.00000063", "-6.3e-07"},
		{6.3e-11, "6.3e-11", "+6.3e-11"},
		{0, "0.0000", "+0.0000"},
		{1, "1.0000", "+1.0000"},
	} {
		if got := api.ProbText(tc.v, 4); got != tc.prob {
			t.Errorf("ProbText(%g, 4) = %q, want %q", tc.v, got, tc.prob)
		}
		if got := api.PhiText(tc.v); got != tc.phi {
			t.Errorf("PhiText(%g) = %q, want %q", tc.v, got, tc.phi)
		}
	}
}
