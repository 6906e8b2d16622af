package model

import (
	"os"
	"testing"
)

// TestCriticalProbability: a model's critical probability lies midway
// between its failure threshold and the highest validation probability
// (or 1 when that is not over the threshold), as the shortest decimal
// strictly between them; none for a model that never alerts.
func TestCriticalProbability(t *testing.T) {
	for _, tc := range []struct {
		failure, highest, want float64
	}{
		{0.2, 0.6, 0.4},
		{0.985, 0.999, 0.992},
		{0.5, 0.4, 0.75}, // validation never over the threshold: midway to 1
		{0.5, 0, 0.75},   // not measured
		{0.9996, 1, 0.9998},
		{1, 1, 0},
		{0, 0.5, 0},
	} {
		if got := CriticalProbability(tc.failure, tc.highest); got != tc.want {
			t.Errorf("CriticalProbability(%g, %g) = %g, want %g", tc.failure, tc.highest, got, tc.want)
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
