package alert

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestResolvedFailureOutcomes: a resolution says a failure is under way
// (failure_began, "under way, not over") only when the failure labels
// were set at the entity's last ResolveFor+1 steps seen. A failure that
// began while the alert fired and ended long before it resolved (an hour
// later) is failure_ended, "… is over" (it said "under way, not over"),
// across a restart too. Failure labels set while the alert was pending
// (or at the step it fired) are its FailureBeganAt (it was the firing
// step), and the resolution is fired_during_failure, without the
// "omen predicts failures before they start" of a predicted failure
// (reviewer's findings); a pending run that dropped forgets its failure.
func TestResolvedFailureOutcomes(t *testing.T) {
	type step struct {
		prob    float64
		failing bool
		restart bool // restart the Manager before this step
	}
	const failedOnce, quiet = 1, 60
	long := func(restartAt int) []step {
		s := []step{{prob: 0.93}}
		for i := 1; i <= quiet+1; i++ {
			s = append(s, step{prob: 0.9, failing: i == failedOnce, restart: i == restartAt})
		}
		s[len(s)-1].prob = 0.1
		return s
	}
	tests := []struct {
		name    string
		forN    int
		steps   []step // from t0, a step a minute
		outcome string
		began   int // step index the failure began at; -1: none
		want    []string
		notWant []string
	}{
		{"failure over long before resolve", 1, long(0), OutcomeFailureEnded, failedOnce,
			[]string{"Resolved, failure ended", "at 2026-11-25T12:01:00Z", "the failure is over"},
			[]string{"under way", "predicts failures before"}},
		{"failure over, restarted as it resolves", 1, long(quiet + 1), OutcomeFailureEnded, failedOnce,
			[]string{"Resolved, failure ended", "the failure is over"}, []string{"under way"}},
		{"failing while pending", 2, []step{{0.93, true, false}, {0.93, true, false}, {0.93, true, false}, {0.1, true, false}},
			OutcomeFiredDuringFailure, 0,
			[]string{"Resolved, fired during failure", "set from 2026-11-25T12:00:00Z", "fired at 2026-11-25T12:01:00Z", "under way, not over"},
			[]string{"predicts failures before", "failure began"}},
		{"failing as it fires", 1, []step{{0.93, true, false}, {0.1, true, false}},
			OutcomeFiredDuringFailure, 0, []string{"Resolved, fired during failure"}, []string{"predicts failures before"}},
		{"failing while pending, over before resolve", 2, []step{{0.93, true, false}, {0.93, false, false}, {0.93, false, false}, {0.93, false, false}, {0.1, false, false}},
			OutcomeFiredDuringFailure, 0,
			[]string{"Resolved, fired during failure", "last set at 2026-11-25T12:00:00Z", "the failure is over"},
			[]string{"under way, not over", "predicts failures before"}},
		{"failing in a pending run that dropped", 2, []step{{0.93, true, false}, {0.1, false, false}, {0.93, false, false}, {0.93, false, false}, {0.1, false, false}},
			OutcomeNoLongerPredicted, -1, []string{"Resolved: omen no longer predicts"}, []string{"failure labels", "failure began"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = tc.forN
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			var clk stepClock
			clk.use(&o, t0)
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			ctx := context.Background()
			for i, sp := range tc.steps {
				ts := t0.Add(time.Duration(i) * time.Minute)
				clk.set(ts)
				if sp.restart {
					m.Close()
					o.Registerer = prometheus.NewRegistry()
					if m, err = New(o); err != nil {
						t.Fatal(err)
					}
				}
				p := pred("checkout-7f9c", ts, sp.prob)
				p.Failing = sp.failing
				if err := m.Process(ctx, ts, []Prediction{p}); err != nil {
					t.Fatal(err)
				}
			}
			as := m.Alerts()
			if len(as) != 1 || as[0].State != "resolved" {
				t.Fatalf("alerts %+v: want one resolved", as)
			}
			var wantBegan time.Time
			if tc.began >= 0 {
				wantBegan = t0.Add(time.Duration(tc.began) * time.Minute)
			}
			if !as[0].FailureBeganAt.Equal(wantBegan) {
				t.Errorf("FailureBeganAt %v, want %v", as[0].FailureBeganAt, wantBegan)
			}
			an := as[0].Annotations
			if an["outcome"] != tc.outcome {
				t.Errorf("outcome %q, want %q", an["outcome"], tc.outcome)
			}
			sum, desc := an["summary"], an["description"]
			for _, w := range tc.want {
				if !strings.Contains(desc, w) {
					t.Errorf("description %q: want %q", desc, w)
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(sum+" "+desc, w) {
					t.Errorf("summary %q, description %q: want no %q", sum, desc, w)
				}
			}
			if !strings.HasPrefix(sum, strings.SplitN(tc.want[0], ":", 2)[0]) {
				t.Errorf("summary %q: want it to start with %q", sum, strings.SplitN(tc.want[0], ":", 2)[0])
			}
		})
	}
}
