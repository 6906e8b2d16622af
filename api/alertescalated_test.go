package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
)

// TestFromAlertEscalatedAt: the API tells when a firing alert escalated
// from warning to critical (the alert state's EscalatedAt), in ms as its
// other times, and leaves escalated_at out when it did not escalate; it
// showed the severity label alone.
func TestFromAlertEscalatedAt(t *testing.T) {
	started := time.UnixMilli(1764000000000)
	escalated := started.Add(45 * time.Second)
	for _, tc := range []struct {
		name string
		a    alert.Alert
		want string // "": no escalated_at
	}{
		{"escalated", alert.Alert{Fingerprint: "f", State: "firing", Severity: alert.SeverityCritical,
			Labels: map[string]string{"severity": alert.SeverityCritical}, StartsAt: started, EscalatedAt: escalated},
			`"active_at":1764000000000,"escalated_at":1764000045000`},
		{"fired critical", alert.Alert{Fingerprint: "f", State: "firing", Severity: alert.SeverityCritical,
			Labels: map[string]string{"severity": alert.SeverityCritical}, StartsAt: started}, ""},
		{"warning", alert.Alert{Fingerprint: "f", State: "firing", Severity: alert.SeverityWarning,
			Labels: map[string]string{"severity": alert.SeverityWarning}, StartsAt: started}, ""},
		{"escalated, then resolved", alert.Alert{Fingerprint: "f", State: "resolved", Severity: alert.SeverityCritical,
			StartsAt: started, EscalatedAt: escalated, ResolvedAt: escalated.Add(time.Minute)},
			`"resolved_at":1764000105000,"escalated_at":1764000045000`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := FromAlert(tc.a)
			b, err := json.Marshal(x)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if x.EscalatedAt != 0 || strings.Contains(string(b), "escalated_at") {
					t.Errorf("not escalated, yet %s", b)
				}
				return
			}
			if !strings.Contains(string(b), tc.want) {
				t.Errorf("%s does not contain %s", b, tc.want)
			}
		})
	}
}
