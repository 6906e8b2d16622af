package training

import (
	"math"
	"testing"

	"github.com/omen-sre/omen/training/metrics"
)

// TestEWMANonFinite: a +Inf score is an alarm at its own step and the
// steps after it are smoothed from the step before it (one +Inf made every
// later score +Inf, an alarm at every step); NaN and -Inf are not alarms
// and do not reset the average either; a leading non-finite value leaves
// the average to start at the first finite one.
func TestEWMANonFinite(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	tests := []struct {
		name    string
		x, want []float64
		f       int
	}{
		// span 3: α = 0.5
		{"+Inf", []float64{2, 4, inf, 4, 0}, []float64{2, 3, inf, 3.5, 1.75}, 1},
		{"NaN and -Inf", []float64{2, nan, 4, math.Inf(-1), 6}, []float64{2, nan, 3, math.Inf(-1), 4.5}, 1},
		{"leading +Inf", []float64{inf, 2, 4}, []float64{inf, 2, 3}, 1},
		{"two features", []float64{2, 1, inf, 3, 4, inf}, []float64{2, 1, inf, 2, 3, inf}, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x := append([]float64(nil), tc.x...)
			ewma(x, tc.f, 3)
			for i, v := range x {
				if !(v == tc.want[i] || math.IsNaN(v) && math.IsNaN(tc.want[i])) {
					t.Fatalf("ewma(%v) = %v, want %v", tc.x, x, tc.want)
				}
			}
		})
	}
	// The flags a fixed threshold gives: the +Inf step only.
	x := []float64{0.1, 0.2, inf, 0.1, 0.1, 0.1}
	ewma(x, 1, 5)
	for i, flagged := range metrics.Threshold(x, 10) {
		if flagged != (i == 2) {
			t.Fatalf("flags %v for %v, want the +Inf step only", metrics.Threshold(x, 10), x)
		}
	}
	y := []float32{1, float32(inf), 3}
	ewma(y, 1, 3)
	if y[1] != float32(inf) || y[2] != 2 {
		t.Fatalf("float32 ewma %v, want [1 +Inf 2]", y)
	}
}
