package alert

import (
	"context"
	"testing"
	"time"
)

// TestCriticalProbabilityReload: the severity label follows
// Options.CriticalProbability, also after a Reconfigure (alerting.
// critical_probability in the configuration; it was fixed at 0.9, so a
// model whose threshold is over 0.9 sent only critical alerts).
func TestCriticalProbabilityReload(t *testing.T) {
	tests := []struct {
		name     string
		critical float64 // 0: the default
		reload   float64 // 0: no Reconfigure
		want     string
	}{
		{"default", 0, 0, SeverityCritical},
		{"option", 0.99, 0, SeverityWarning},
		{"reloaded", 0, 0.99, SeverityWarning},
		{"reloaded to default", 0.99, -1, SeverityCritical},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = 1
			o.CriticalProbability = tc.critical
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			if tc.reload != 0 {
				r := Reload{Alertmanagers: []string{fakeAM}, ResendDelay: o.ResendDelay, EvalInterval: o.EvalInterval,
					For: o.For, ResolveRatio: o.ResolveRatio, ExternalURL: o.ExternalURL, CriticalProbability: max(tc.reload, 0)}
				if err := m.Reconfigure(r); err != nil {
					t.Fatal(err)
				}
			}
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			if err := m.Process(context.Background(), t0, []Prediction{pred("checkout-7f9c", t0, 0.93)}); err != nil {
				t.Fatal(err)
			}
			got := pending(t, st, fakeAM)
			if len(got) != 1 || len(got[0]) != 1 {
				t.Fatalf("outbox holds %v, want one firing alert", got)
			}
			if s := got[0][0].Labels["severity"]; s != tc.want {
				t.Errorf("severity %q at probability 0.93, want %q", s, tc.want)
			}
		})
	}
}
