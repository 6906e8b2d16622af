package api

import (
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
)

// TestFromAlertFailureBeganAt: the API tells when the entity's failure
// labels were first set since the alert started pending (the alert
// manager's FailureBeganAt: the predicted failure began, or, at or before
// active_at, the alert fired during it), in ms as its other times, and
// leaves failure_began_at out when they were not set; /api/v1/alerts did
// not give it, though the resolved alert's outcome annotation names it.
func TestFromAlertFailureBeganAt(t *testing.T) {
	started := time.UnixMilli(1764000000000)
	began := started.Add(2 * time.Minute)
	for _, tc := range []struct {
		name string
		a    alert.Alert
		want string // "": no failure_began_at
	}{
		{"firing, failure began", alert.Alert{Fingerprint: "f", State: "firing", StartsAt: started, FailureBeganAt: began},
			`"active_at":1764000000000,"failure_began_at":1764000120000`},
		{"resolved as the failure began", alert.Alert{Fingerprint: "f", State: "resolved", StartsAt: started,
			ResolvedAt: began, FailureBeganAt: began,
			Annotations: map[string]string{"outcome": alert.OutcomeFailureBegan}},
			`"resolved_at":1764000120000,"failure_began_at":1764000120000`},
		{"fired during the failure", alert.Alert{Fingerprint: "f", State: "firing", StartsAt: started,
			FailureBeganAt: started.Add(-time.Minute)},
			`"active_at":1764000000000,"failure_began_at":1763999940000`},
		{"firing, no failure", alert.Alert{Fingerprint: "f", State: "firing", StartsAt: started}, ""},
		{"resolved, no longer predicted", alert.Alert{Fingerprint: "f", State: "resolved", StartsAt: started,
			ResolvedAt: began, Annotations: map[string]string{"outcome": alert.OutcomeNoLongerPredicted}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkFromAlertTime(t, tc.a, "failure_began_at", tc.want, func(x Alert) int64 { return x.FailureBeganAt })
		})
	}
}
