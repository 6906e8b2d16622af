package alert

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestResolvedDescription: a resolved alert's description says it is
// resolved and why (the probability fell, or the entity had no prediction
// any more), to Alertmanager and in Alerts (the UI), instead of the firing
// text "omen predicts a module-load failure … with probability 0%".
func TestResolvedDescription(t *testing.T) {
	tests := []struct {
		name string
		// next are the probabilities of the steps after the firing one
		// (NaN-free; -1: no prediction at that step).
		next []float64
		want []string
	}{
		{"probability fell", []float64{0.2}, []string{
			"Resolved: omen no longer predicts a module-load failure of checkout-7f9c (probability now 20%, threshold 70%, resolved below 56%, model v1",
			"Top causes when it fired: memory_working_set_ratio 62%",
		}},
		{"no prediction", []float64{-1, -1, -1, -1}, []string{
			"Resolved: omen no longer predicts a module-load failure of checkout-7f9c: it has had no prediction for more than 3 steps",
			"its last probability was 93% (threshold 70%, model v1)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = 1
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			ctx := context.Background()
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			if err := m.Process(ctx, t0, []Prediction{pred("checkout-7f9c", t0, 0.93)}); err != nil {
				t.Fatal(err)
			}
			for i, p := range tc.next {
				ts := t0.Add(time.Duration(i+1) * time.Minute)
				var ps []Prediction
				if p >= 0 {
					ps = []Prediction{pred("checkout-7f9c", ts, p)}
				}
				if err := m.Process(ctx, ts, ps); err != nil {
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
				if strings.Contains(d, "omen predicts") {
					t.Errorf("%s: resolved description %q still predicts a failure", where, d)
				}
			}
		})
	}
}
