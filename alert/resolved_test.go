package alert

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestResolvedDescription: a resolved alert's description says it is
// resolved and why (the probability fell, or the entity had no prediction
// any more), to Alertmanager and in Alerts (the UI), instead of the firing
// text "omen predicts a module-load failure … with probability 0%". The
// reason and probability are those of the resolution, whatever comes
// after it: the entity disappearing, or its probability over the
// threshold again (not yet for For steps). A state persisted before the
// resolution was kept (legacy) is rendered as then, from the last
// prediction.
func TestResolvedDescription(t *testing.T) {
	tests := []struct {
		name string
		For  int
		// next are the probabilities of the steps after the firing one
		// (NaN-free; -1: no prediction at that step).
		next    []float64
		legacy  bool
		want    []string
		notWant []string
	}{
		{"probability fell", 1, []float64{0.2}, false, []string{
			"Resolved: omen no longer predicts a module-load failure of checkout-7f9c (probability 20.00% when it resolved, threshold 70.00%, resolved below 56.00%, model v1",
			"Top causes when it fired: memory_working_set_ratio 62%",
		}, nil},
		{"no prediction", 1, []float64{-1, -1, -1, -1}, false, []string{
			"Resolved: omen no longer predicts a module-load failure of checkout-7f9c: it has had no prediction for more than 3 steps",
			"its last probability was 93.00% (threshold 70.00%, model v1)",
		}, nil},
		{"probability fell, then no prediction", 1, []float64{0.2, -1, -1, -1, -1, -1}, false, []string{
			"(probability 20.00% when it resolved, threshold 70.00%, resolved below 56.00%, model v1",
		}, []string{"no prediction"}},
		{"probability fell, then over the threshold again", 3, []float64{0.93, 0.93, 0.2, 0.95}, false, []string{
			"(probability 20.00% when it resolved, threshold 70.00%, resolved below 56.00%, model v1",
		}, []string{"95.00%"}},
		{"legacy state, probability fell", 1, []float64{0.2}, true, []string{
			"Resolved: omen no longer predicts a module-load failure of checkout-7f9c (probability now 20.00%, threshold 70.00%, resolved below 56.00%, model v1",
		}, nil},
		{"legacy state, no prediction", 1, []float64{-1, -1, -1, -1}, true, []string{
			"it has had no prediction for more than 3 steps", "its last probability was 93.00% (threshold 70.00%, model v1)",
		}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = tc.For
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var clk stepClock
			clk.use(&o, t0)
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			ctx := context.Background()
			if err := m.Process(ctx, t0, []Prediction{pred("checkout-7f9c", t0, 0.93)}); err != nil {
				t.Fatal(err)
			}
			// The first step fires at For = 1; with a larger For the next
			// ones do.
			for i, p := range tc.next {
				ts := t0.Add(time.Duration(i+1) * time.Minute)
				clk.set(ts)
				var ps []Prediction
				if p >= 0 {
					ps = []Prediction{pred("checkout-7f9c", ts, p)}
				}
				if err := m.Process(ctx, ts, ps); err != nil {
					t.Fatal(err)
				}
			}
			if tc.legacy {
				// As persisted before the resolution was kept, and
				// loaded by a restart.
				m.mu.Lock()
				for _, s := range m.states {
					s.Resolution = nil
					if err := errFirst(m.persist([]*entityState{s})); err != nil {
						t.Fatal(err)
					}
				}
				m.mu.Unlock()
				m.Close()
				o.Registerer = prometheus.NewRegistry()
				if m, err = New(o); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(m.Close)
				// A resend renders the loaded state.
				ts := t0.Add(time.Duration(len(tc.next)+1) * time.Minute)
				clk.set(ts)
				if err := m.Process(ctx, ts, nil); err != nil {
					t.Fatal(err)
				}
			}
			items := pending(t, st, fakeAM)
			last := items[len(items)-1]
			as := m.Alerts()
			if len(last) != 1 || len(as) != 1 || as[0].State != "resolved" {
				t.Fatalf("last outbox item %+v, alerts %+v: want one resolved alert", last, as)
			}
			for where, d := range map[string]string{"sent": last[0].Annotations["description"], "Alerts": as[0].Annotations["description"]} {
				for _, w := range tc.want {
					if !strings.Contains(d, w) {
						t.Errorf("%s: description %q does not contain %q", where, d, w)
					}
				}
				for _, w := range tc.notWant {
					if strings.Contains(d, w) {
						t.Errorf("%s: description %q contains %q", where, d, w)
					}
				}
				if strings.Contains(d, "omen predicts") {
					t.Errorf("%s: resolved description %q still predicts a failure", where, d)
				}
			}
			// The probability annotation agrees with the description: the
			// resolution's, not a later prediction's (reviewer's finding:
			// 0.950 beside "20.00% when it resolved").
			if strings.Contains(tc.name, "over the threshold again") {
				for where, p := range map[string]string{"sent": last[0].Annotations["probability"], "Alerts": as[0].Annotations["probability"]} {
					if p != "0.200" {
						t.Errorf("%s: probability annotation %q, want 0.200 (when it resolved)", where, p)
					}
				}
				// And so do the API's figures (probability 0.95, the
				// later prediction's, beside the annotation's 0.200).
				if as[0].Probability != 0.2 || as[0].Threshold != 0.7 {
					t.Errorf("Alerts: probability %v, threshold %v, want 0.2 and 0.7 (when it resolved)", as[0].Probability, as[0].Threshold)
				}
			}
		})
	}
}
