package alert_test

import (
	"testing"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
)

// TestProbabilityAsProbText: omen explain's table prints P(failure) with
// alert.Probability and the baseline and f(x) with api.ProbText (3
// decimals asked): the same value reads the same in both, also below 1e-8
// (alert.Probability rendered 5e-9 as 0.00000001, ProbText as 5.0e-09).
func TestProbabilityAsProbText(t *testing.T) {
	for _, v := range []float64{0, 1e-12, 4e-10, 5e-9, 9.99e-9, 1e-8, 5e-8, 6.3e-7, 0.00037, 0.0088, 0.012, 0.5, 0.955, 1} {
		if got, want := alert.Probability(v), api.ProbText(v, 3); got != want {
			t.Errorf("Probability(%g) = %q, api.ProbText = %q", v, got, want)
		}
	}
}
