package alert

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestResolvedAsFailureBegins: when the entity's failure labels are set
// (Prediction.Failing) while its alert fires, the predicted failure began:
// the model's probability then collapses and the alert resolves, and the
// resolution must say the failure began (summary, description, outcome
// annotation failure_began, Alert.FailureBeganAt), not "omen no longer
// predicts a module-load failure", an all-clear sent to the pager as the
// failure starts (reviewer's finding, 3 of 3 failures in omen demo). It
// holds whether the failure began at the resolving step or before it,
// for an entity present but unscored, across a restart, and when the
// entity then goes; resolutions without a failure say why they resolved
// (outcome no_longer_predicted, entity_gone).
func TestResolvedAsFailureBegins(t *testing.T) {
	type step struct {
		prob     float64 // -1: no scored prediction
		failing  bool
		unscored bool // present, not scored
		restart  bool // restart the Manager before this step
	}
	tests := []struct {
		name    string
		steps   []step // after the firing step t0
		outcome string
		began   int // index of the step the failure began at (1-based: t0+began min); 0: none
	}{
		{"failure begins as it resolves", []step{{prob: 0.05, failing: true}}, OutcomeFailureBegan, 1},
		{"failure began while firing", []step{{prob: 0.9, failing: true}, {prob: 0.6, failing: true}, {prob: 0.1}}, OutcomeFailureBegan, 1},
		{"failing while unscored, then gone", []step{{prob: -1, unscored: true, failing: true}, {prob: -1}, {prob: -1}, {prob: -1}, {prob: -1}}, OutcomeFailureBegan, 1},
		{"failure began before a restart", []step{{prob: 0.95, failing: true}, {prob: 0.1, restart: true}}, OutcomeFailureBegan, 1},
		{"no failure", []step{{prob: 0.1}}, OutcomeNoLongerPredicted, 0},
		{"gone without failure", []step{{prob: -1}, {prob: -1}, {prob: -1}, {prob: -1}}, OutcomeEntityGone, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = 1
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var clk stepClock
			clk.use(&o, t0)
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			ctx := context.Background()
			if err := m.Process(ctx, t0, []Prediction{pred("checkout-7f9c", t0, 0.93)}); err != nil {
				t.Fatal(err)
			}
			for i, sp := range tc.steps {
				ts := t0.Add(time.Duration(i+1) * time.Minute)
				clk.set(ts)
				if sp.restart {
					m.Close()
					o.Registerer = prometheus.NewRegistry()
					if m, err = New(o); err != nil {
						t.Fatal(err)
					}
				}
				var ps []Prediction
				switch {
				case sp.unscored:
					p := pred("checkout-7f9c", ts, 0)
					ps = []Prediction{{Entity: p.Entity, Labels: p.Labels, T: ts, Unscored: true, Failing: sp.failing}}
				case sp.prob >= 0:
					p := pred("checkout-7f9c", ts, sp.prob)
					p.Failing = sp.failing
					ps = []Prediction{p}
				}
				if err := m.Process(ctx, ts, ps); err != nil {
					t.Fatal(err)
				}
				if as := m.Alerts(); len(as) == 1 && as[0].State == "firing" && tc.began > 0 && i+1 >= tc.began {
					if want := t0.Add(time.Duration(tc.began) * time.Minute); !as[0].FailureBeganAt.Equal(want) {
						t.Errorf("step %d: firing alert's FailureBeganAt %v, want %v", i+1, as[0].FailureBeganAt, want)
					}
				}
			}
			items := pending(t, st, fakeAM)
			last := items[len(items)-1]
			as := m.Alerts()
			if len(last) != 1 || len(as) != 1 || as[0].State != "resolved" {
				t.Fatalf("last outbox item %+v, alerts %+v: want one resolved alert", last, as)
			}
			var wantBegan time.Time
			if tc.began > 0 {
				wantBegan = t0.Add(time.Duration(tc.began) * time.Minute)
			}
			if !as[0].FailureBeganAt.Equal(wantBegan) {
				t.Errorf("FailureBeganAt %v, want %v", as[0].FailureBeganAt, wantBegan)
			}
			for where, an := range map[string]map[string]string{"sent": last[0].Annotations, "Alerts": as[0].Annotations} {
				if an["outcome"] != tc.outcome {
					t.Errorf("%s: outcome annotation %q, want %q", where, an["outcome"], tc.outcome)
				}
				sum, desc := an["summary"], an["description"]
				if !strings.HasPrefix(sum, "Resolved") || !strings.HasPrefix(desc, "Resolved") {
					t.Errorf("%s: summary %q, description %q: want them to start with Resolved", where, sum, desc)
				}
				if tc.outcome != OutcomeFailureBegan {
					if strings.Contains(sum+desc, "failure began") {
						t.Errorf("%s: summary %q, description %q say a failure began", where, sum, desc)
					}
					continue
				}
				at := wantBegan.Format(time.RFC3339)
				for _, w := range []string{"failure began", at} {
					if !strings.Contains(sum, w) || !strings.Contains(desc, w) {
						t.Errorf("%s: summary %q, description %q: want %q in both", where, sum, desc, w)
					}
				}
				if strings.Contains(desc, "no longer predicts") {
					t.Errorf("%s: description %q reads as an all-clear", where, desc)
				}
			}
		})
	}
}
