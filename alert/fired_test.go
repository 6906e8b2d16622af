package alert

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestFiredProbability: an alert tells the probability of the prediction
// it fired on (FiredProbability, PredictionID's) apart from the newest one
// (Probability), also after a restart; its description shows both with
// enough digits to tell them from a threshold of 0.9947 (a reviewer saw
// "probability 95% (threshold 99%)" and a prediction_id whose explanation
// had another probability than the alert).
func TestFiredProbability(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st)
	o.For = 1
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var clk stepClock
	clk.use(&o, t0)
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	p0, p1 := pred("checkout-7f9c", t0, 0.9951), pred("checkout-7f9c", t0.Add(time.Minute), 0.955)
	p0.Threshold, p1.Threshold = 0.9947, 0.9947
	for i, p := range []Prediction{p0, p1} {
		clk.set(p.T)
		if err := m.Process(ctx, p.T, []Prediction{p}); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	check := func(m *Manager, when string) {
		t.Helper()
		as := m.Alerts()
		if len(as) != 1 || as[0].State != "firing" {
			t.Fatalf("%s: alerts %+v, want one firing", when, as)
		}
		a := as[0]
		if a.PredictionID != p0.ID || a.FiredProbability != 0.9951 || a.Probability != 0.955 || a.Threshold != 0.9947 {
			t.Errorf("%s: prediction %s fired at %g, probability %g threshold %g; want %s fired at 0.9951, probability 0.955 threshold 0.9947",
				when, a.PredictionID, a.FiredProbability, a.Probability, a.Threshold, p0.ID)
		}
		d := a.Annotations["description"]
		for _, w := range []string{"with probability 95.50% (threshold 99.47%", "It fired at 99.51%"} {
			if !strings.Contains(d, w) {
				t.Errorf("%s: description %q does not contain %q", when, d, w)
			}
		}
		if got := a.Annotations["probability"]; got != "0.955" {
			t.Errorf("%s: probability annotation %q, want the newest 0.955", when, got)
		}
	}
	check(m, "running")
	m.Close()
	m2, err := New(testOptions(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	check(m2, "restarted")
}

func TestPercents(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want string
	}{
		{[]float64{0.95, 0.9947}, "95.00% 99.47%"},
		{[]float64{0.99471, 0.99474}, "99.471% 99.474%"},
		{[]float64{0.994712, 0.994712, 0.8}, "99.47% 99.47% 80.00%"},
		{[]float64{0.99470001, 0.9947}, "99.470001% 99.470000%"},
		{[]float64{0.9, 0.9 + 1e-12}, "90.000000% 90.000000%"}, // at most 6 decimals
		// Calibrated probabilities far below 1 %: two significant digits.
		{[]float64{0.00037, 0.00042}, "0.037% 0.042%"},
		{[]float64{0.0000123, 0.9}, "0.0012% 90.0000%"},
	} {
		if got := strings.Join(Percents(tc.in...), " "); got != tc.want {
			t.Errorf("Percents(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestProbability: the probability annotation has 3 decimals, more when
// it would read as equal to a threshold it differs from (a resolved
// alert's "0.795" beside "79.47% … resolved below 79.48%").
func TestProbability(t *testing.T) {
	for _, tc := range []struct {
		p        float64
		compared []float64
		want     string
	}{
		{0.955, []float64{0.9947}, "0.955"},
		{0.955, []float64{0.9947, 0.9951}, "0.955"}, // thresholds alike among themselves: no matter
		{0.7947, []float64{0.99, 0.7948}, "0.7947"},
		{0.9951, []float64{0.9951}, "0.995"}, // equal: no clash
		{0.5, nil, "0.500"},
		{0.9, []float64{0.9 + 1e-12}, "0.90000000"}, // at most 8 decimals
		// Calibrated probabilities far below 1 %: two significant digits.
		{0.00037, nil, "0.00037"},
		{0.0004, []float64{0.00037}, "0.00040"},
		{0.012, nil, "0.012"},
		{5e-8, nil, "0.000000050"},
		// Below 1e-8, scientific notation (4e-10 read 0.00000000, 5e-9
		// 0.00000001), with more digits only where a compared value
		// would read the same.
		{1e-12, nil, "1.0e-12"},
		{4e-10, []float64{0.3}, "4.0e-10"},
		{5e-9, nil, "5.0e-09"},
		{5.01e-9, []float64{5.04e-9}, "5.01e-09"},
		{9.99e-9, []float64{1e-8}, "9.99e-09"},
		{1e-8, []float64{9.99e-9}, "0.000000010"},
		{0, []float64{4e-10}, "0.000"},
	} {
		if got := Probability(tc.p, tc.compared...); got != tc.want {
			t.Errorf("Probability(%v, %v) = %q, want %q", tc.p, tc.compared, got, tc.want)
		}
	}
}
