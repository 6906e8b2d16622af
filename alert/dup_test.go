package alert

import (
	"context"
	"testing"
	"time"
)

// TestSamePredictionCountedOnce: a prediction a state has already taken
// (the same ID: a restarted daemon evaluates its predecessor's last step
// again) does not count again, also for a manager restored from the
// store; the next step's prediction does. With For 2, one step over the
// threshold seen twice must not fire. Before, the restored pending alert
// fired on the repeated step (reviewer's finding).
func TestSamePredictionCountedOnce(t *testing.T) {
	st := openStore(t, "")
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m, err := New(testOptions(st))
	if err != nil {
		t.Fatal(err)
	}
	p := pred("a", t0, 0.9)
	if err := m.Process(ctx, t0, []Prediction{p}); err != nil {
		t.Fatal(err)
	}
	m.Close()
	// A restart: the same store, the same step again.
	m2, err := New(testOptions(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	// state is the alert's state, "" while pending (Alerts lists firing
	// and resolved alerts only).
	state := func() string {
		t.Helper()
		as := m2.Alerts()
		if len(as) == 0 {
			return ""
		}
		return as[0].State
	}
	for i := range 2 {
		if err := m2.Process(ctx, t0.Add(time.Duration(i)*time.Second), []Prediction{p}); err != nil {
			t.Fatal(err)
		}
		if s := state(); s != "" {
			t.Fatalf("after the same prediction %d more times: %q, want still pending", i+1, s)
		}
	}
	if err := m2.Process(ctx, t0.Add(time.Minute), []Prediction{pred("a", t0.Add(time.Minute), 0.9)}); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != "firing" {
		t.Errorf("after the next step's prediction: %q, want firing", s)
	}
}
