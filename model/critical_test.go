package model

import (
	"os"
	"testing"
)

// TestCriticalProbability: a model's critical probability lies midway
// between its failure threshold and the highest validation probability,
// but at least a quarter of the threshold's distance to 0 or 1, whichever
// is nearer (CriticalSeparation), away from it, as the shortest decimal strictly between them;
// none for a model that never alerts. A highest just over the threshold
// does not collapse the critical probability onto it.
func TestCriticalProbability(t *testing.T) {
	for _, tc := range []struct {
		failure, highest, want float64
	}{
		{0.2, 0.6, 0.4},
		{0.985, 0.999, 0.992},
		{0.5, 0.4, 0.625}, // validation never over the threshold: the least separation
		{0.5, 0.5, 0.625},
		{0.5, 0.5000001, 0.625}, // was 0.50000005
		{0.5, 0.51, 0.625},      // was 0.505
		{0.5, 0.75, 0.625},
		{0.5, 0.8, 0.65},
		{0.5, 1, 0.75},
		{0.5, -1, 0.75}, // not measured: midway to 1
		{0.9996, 1, 0.9998},
		{0.9996, 0.9996, 0.9997},
		{0.01, 0.01, 0.0125}, // a quarter of the way to 0, not to 1
		{0.01, 0.011, 0.0125},
		{0.01, 0.02, 0.015},
		{0.2, 0.2, 0.25},
		{1, 1, 0},
		{0, 0.5, 0},
	} {
		if got := CriticalProbability(tc.failure, tc.highest); got != tc.want {
			t.Errorf("CriticalProbability(%g, %g) = %g, want %g", tc.failure, tc.highest, got, tc.want)
		}
	}
}

// TestCriticalProbabilityMonotone: for each failure threshold, the
// critical probability never falls as the highest validation probability
// rises over [0, 1], and stays under 1 and about CriticalSeparation away
// from the threshold at least (the shortest decimal may round a little
// under).
func TestCriticalProbabilityMonotone(t *testing.T) {
	for _, failure := range []float64{0.001, 0.02, 0.2, 0.5, 0.9, 0.999} {
		prev := 0.0
		for i := 0; i <= 2000; i++ {
			h := float64(i) / 2000
			c := CriticalProbability(failure, h)
			floor := failure + CriticalSeparation*min(failure, 1-failure)
			if c < prev || !(c < 1) || c < failure+0.75*(floor-failure) {
				t.Fatalf("failure %g highest %g: critical %g (previous %g, floor %g)", failure, h, c, prev, floor)
			}
			prev = c
		}
	}
}

// TestFileCritical: the model file carries the critical probability in
// its thresholds, and a file written before it was recorded (the demo's
// e2e model) still loads, without one (0: the daemon applies 0.9 then,
// unless alerting.critical_probability is set).
func TestFileCritical(t *testing.T) {
	m := testModel(t, 3, 4, 5, 2, 0.1, 21)
	m.SetThresholds(Thresholds{Failure: 0.2, Critical: 0.4, Anomaly: 3.5, Method: "f1-max"})
	data, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(data)
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Thresholds().Critical; c != 0.4 {
		t.Errorf("critical %g after a round trip, want 0.4", c)
	}
	old, err := os.ReadFile("../demo/testdata/e2e-model.omen")
	if err != nil {
		t.Fatal(err)
	}
	om, err := Unmarshal(old)
	if err != nil {
		t.Fatalf("a model file of before: %v", err)
	}
	if th := om.Thresholds(); th.Critical != 0 || !(th.Failure > 0 && th.Failure < 1) {
		t.Errorf("old file's thresholds %+v: want a failure threshold and no critical", th)
	}
}

// TestFileCriticalChecked: a model file whose critical probability is not
// strictly between its failure threshold and 1 loads without one (0), as
// a file written before it was recorded; a valid one is kept.
func TestFileCriticalChecked(t *testing.T) {
	for _, tc := range []struct {
		failure, critical, want float64
	}{
		{0.2, 0.4, 0.4},
		{0.2, 0.2, 0},
		{0.2, 0.1, 0},
		{0.2, 1, 0},
		{0.2, 1.5, 0},
		{0.2, -0.3, 0},
		{1, 1, 0},
	} {
		m := testModel(t, 3, 4, 5, 2, 0.1, 21)
		m.SetThresholds(Thresholds{Failure: tc.failure, Critical: tc.critical, Anomaly: 3.5, Method: "f1-max"})
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := Unmarshal(data)
		if err != nil {
			t.Fatal(err)
		}
		if c := got.Thresholds().Critical; c != tc.want {
			t.Errorf("failure %g critical %g: loaded critical %g, want %g", tc.failure, tc.critical, c, tc.want)
		}
	}
}
