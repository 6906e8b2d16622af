package demo

import (
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/sim"
)

// TestPrintAlertProbability: the printed probability has the alert's
// annotation digits, so it never reads below the threshold printed with
// 3 decimals after training (it printed p=0.99 after "threshold 0.993").
func TestPrintAlertProbability(t *testing.T) {
	for _, tc := range []struct {
		a    app.FiredAlert
		want string
	}{
		{app.FiredAlert{Entity: "boutique/cart-1", Prob: 0.99348, Annotations: map[string]string{"probability": "0.99348"}}, "p=0.99348 "},
		{app.FiredAlert{Entity: "boutique/cart-1", Prob: 0.9934}, "p=0.993 "},
		// The severity (the demo sets a critical probability above the
		// threshold, so that both show).
		{app.FiredAlert{Entity: "boutique/cart-1", Prob: 0.9934, Labels: map[string]string{"severity": "warning"}}, "p=0.993 (warning) "},
	} {
		var b strings.Builder
		tc.a.T = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
		printAlert(&b, tc.a, nil)
		if !strings.Contains(b.String(), "ALERT boutique/cart-1  "+tc.want) {
			t.Errorf("printed %q, want %q", b.String(), tc.want)
		}
	}
}

// TestAlertPrinterEscalationAndResolution: the demo prints an alert's
// escalation to critical and its resolution, a line each after the alert
// (it printed the alerts as they fired only: an alert escalated or
// resolved silently).
func TestAlertPrinterEscalationAndResolution(t *testing.T) {
	var b strings.Builder
	var o app.Options
	newAlertPrinter(&b, func() []sim.Truth { return nil }).install(&o)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	labels := func(sev string) map[string]string { return map[string]string{"pod": "cart-1", "severity": sev} }
	if o.OnAlert == nil || o.OnEscalate == nil || o.OnResolve == nil {
		t.Fatal("the demo does not set OnAlert, OnEscalate and OnResolve")
	}
	o.OnAlert(app.FiredAlert{Fingerprint: "fp", Entity: "boutique/cart-1", T: t0, Prob: 0.9934, Labels: labels("warning")})
	o.OnEscalate(app.FiredAlert{Fingerprint: "fp", Entity: "boutique/cart-1", T: t0.Add(3 * time.Minute), Prob: 0.9971,
		Labels: labels("critical"), Annotations: map[string]string{"probability": "0.9971"}})
	o.OnResolve(app.FiredAlert{Fingerprint: "fp", Entity: "boutique/cart-1", T: t0.Add(12 * time.Minute), Labels: labels("critical")})
	if out := b.String(); strings.Contains(out, "failure began") {
		t.Errorf("output %q: a resolution without a failure says a failure began", out)
	}
	// A resolution as the predicted failure begins says so.
	o.OnAlert(app.FiredAlert{Fingerprint: "fp2", Entity: "boutique/cart-2", T: t0.Add(13 * time.Minute), Prob: 0.8, Labels: labels("warning")})
	o.OnResolve(app.FiredAlert{Fingerprint: "fp2", Entity: "boutique/cart-2", T: t0.Add(16 * time.Minute), Labels: labels("warning"),
		FailureBegan: t0.Add(16 * time.Minute)})
	out := b.String()
	if want := "\nRESOLVED boutique/cart-2 (warning)  at 12:16:00  after 3m0s\n  failure began at 12:16:00 (the predicted failure is under way, not over)\n"; !strings.Contains(out, want) {
		t.Errorf("output %q, want %q", out, want)
	}
	// The other failure outcomes say what happened too.
	o.OnAlert(app.FiredAlert{Fingerprint: "fp3", Entity: "boutique/cart-3", T: t0.Add(17 * time.Minute), Prob: 0.8, Labels: labels("warning")})
	o.OnResolve(app.FiredAlert{Fingerprint: "fp3", Entity: "boutique/cart-3", T: t0.Add(40 * time.Minute), Labels: labels("warning"), Outcome: alert.OutcomeFailureEnded})
	o.OnAlert(app.FiredAlert{Fingerprint: "fp4", Entity: "boutique/cart-4", T: t0.Add(41 * time.Minute), Prob: 0.8, Labels: labels("warning")})
	o.OnResolve(app.FiredAlert{Fingerprint: "fp4", Entity: "boutique/cart-4", T: t0.Add(45 * time.Minute), Labels: labels("warning"), Outcome: alert.OutcomeFiredDuringFailure})
	out = b.String()
	for _, want := range []string{
		"\nRESOLVED boutique/cart-3 (warning)  at 12:40:00  after 23m0s\n  the predicted failure began while it fired and is over\n",
		"\nRESOLVED boutique/cart-4 (warning)  at 12:45:00  after 4m0s\n  it fired during the failure, not ahead of it\n",
		"\nALERT boutique/cart-1  p=0.993 (warning)  at 12:00:00\n",
		"\nESCALATED boutique/cart-1  p=0.9971 (critical)  at 12:03:00\n",
		"\nRESOLVED boutique/cart-1 (critical)  at 12:12:00  after 12m0s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output %q, want %q", out, want)
		}
	}
	if i, j, k := strings.Index(out, "ALERT"), strings.Index(out, "ESCALATED"), strings.Index(out, "RESOLVED"); i >= j || j >= k {
		t.Errorf("output %q: want the alert, its escalation, then its resolution", out)
	}
}

// TestPrintAlertFalseAlarmVerdict: an alert that predicts no scenario
// says what it was nearest to on its pod, as `omen eval sim` places a
// false alert (it said "no failure scheduled for this pod" of an alert
// that fired after the pod had failed and recovered).
func TestPrintAlertFalseAlarmVerdict(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	pod := map[string]string{"namespace": "boutique", "pod": "cart-1", "service": "cart"}
	truth := []sim.Truth{
		{Scenario: "crashloop", Entity: pod, Onset: t0, FailureAt: t0.Add(10 * time.Minute), EndAt: t0.Add(20 * time.Minute), Fails: true},
		{Scenario: "memory", Entity: pod, Onset: t0.Add(3 * time.Hour), FailureAt: t0.Add(3*time.Hour + 10*time.Minute), EndAt: t0.Add(3*time.Hour + 20*time.Minute), Fails: true},
		{Scenario: "config", Entity: map[string]string{"namespace": "boutique", "pod": "cart-2", "service": "cart"},
			Onset: t0.Add(30 * time.Minute), FailureAt: t0.Add(40 * time.Minute), EndAt: t0.Add(50 * time.Minute), Fails: true},
	}
	for _, tc := range []struct {
		name string
		pod  string
		at   time.Duration
		want string
	}{
		{"after recovery", "cart-1", 32 * time.Minute, "false alarm, 12m0s after the pod recovered from a crashloop failure"},
		{"before the next precursor", "cart-1", 2*time.Hour + 30*time.Minute, "false alarm, 30m0s before the precursor of a memory failure begins"},
		{"no scenario on the pod", "cart-9", 32 * time.Minute, "no failure scheduled for this pod (false alarm)"},
		{"predicted", "cart-1", 5 * time.Minute, "crashloop failure in 5m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			a := app.FiredAlert{Entity: "boutique/" + tc.pod, T: t0.Add(tc.at), Prob: 0.9,
				Labels: map[string]string{"namespace": "boutique", "pod": tc.pod}}
			printAlert(&b, a, truth)
			if !strings.Contains(b.String(), "  truth:  "+tc.want) {
				t.Errorf("printed %q, want truth %q", b.String(), tc.want)
			}
		})
	}
}
