package alert

import (
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestDataStallKeepsAlertsFiring: when no step runs (a data stall), firing
// alerts are re-sent on a wall-clock schedule, so Alertmanager does not
// time them out (endsAt) and they do not flap when data returns.
func TestDataStallKeepsAlertsFiring(t *testing.T) {
	am := testenv.Alertmanager(t)
	st := openStore(t, t.TempDir())
	o := testOptions(st, am)
	o.EvalInterval = 100 * time.Millisecond
	// endsAt = send + 4 s (4 × the resend delay); resends every 1–1.5 s:
	// a resend can be 2.5 s late on a loaded machine before the alert
	// times out (with 250 ms and 1 s, a CI run once saw it expire).
	o.ResendDelay = time.Second
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	sc := &scenario{t: t, m: m, probs: map[string]float64{}}
	sc.step(map[string]float64{"a": 0.8})
	sc.steps(1)
	first := wantActive(t, am, "a")
	// Stall for 10 s (2.5 × endsAt's lead): the alert must stay active
	// in Alertmanager throughout, with the same startsAt.
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		got := amAlerts(t, am)
		if len(got) != 1 {
			t.Fatalf("during the stall Alertmanager shows %d alerts, want the firing one", len(got))
		}
		for fp, a := range got {
			if a.Status.State != "active" || !a.StartsAt.Equal(first[fp].StartsAt) {
				t.Fatalf("during the stall: %+v", a)
			}
		}
	}
	// Data returns and the alert resolves by the rules.
	sc.step(map[string]float64{"a": 0.1})
	wantActive(t, am)
}
