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
			checkFromAlertTime(t, tc.a, "escalated_at", tc.want, func(x Alert) int64 { return x.EscalatedAt })
		})
	}
}

// checkFromAlertTime checks one optional time of FromAlert(a) as JSON:
// that it holds want, or, want "", that key is absent and field gives 0.
func checkFromAlertTime(t *testing.T, a alert.Alert, key, want string, field func(Alert) int64) {
	t.Helper()
	x := FromAlert(a)
	b, err := json.Marshal(x)
	if err != nil {
		t.Fatal(err)
	}
	if want == "" {
		if field(x) != 0 || strings.Contains(string(b), key) {
			t.Errorf("no %s wanted, yet %s", key, b)
		}
		return
	}
	if !strings.Contains(string(b), want) {
		t.Errorf("%s does not contain %s", b, want)
	}
}
