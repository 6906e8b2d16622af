package alert

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestPendingListed: Pending lists a pending alert (over the threshold for
// fewer than For steps), since the step it started pending at, with its
// newest prediction and without severity, also after a restart; it fires
// under another fingerprint (with severity). A reviewer saw
// omen_alerts{state="pending"} 1 while /api/v1/alerts?state=pending
// answered [].
func TestPendingListed(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st)
	o.For = 3
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	step := time.Minute
	var last Prediction
	for i, prob := range []float64{0.5, 0.8, 0.85} {
		last = pred("checkout-7f9c", t0.Add(time.Duration(i)*step), prob)
		if err := m.Process(ctx, last.T, []Prediction{last}); err != nil {
			t.Fatal(err)
		}
	}
	check := func(m *Manager, when string) string {
		t.Helper()
		if as := m.Alerts(); len(as) != 0 {
			t.Fatalf("%s: Alerts %+v, want none firing or resolved", when, as)
		}
		as := m.Pending()
		if len(as) != 1 {
			t.Fatalf("%s: Pending %+v, want one", when, as)
		}
		a := as[0]
		if a.State != store.AlertPending || !a.StartsAt.Equal(t0.Add(step)) || a.PredictionID != last.ID ||
			a.Probability != 0.85 || a.Threshold != 0.7 || a.FiredProbability != 0 {
			t.Errorf("%s: %+v; want pending since %s on %s at 0.85", when, a, t0.Add(step), last.ID)
		}
		if _, ok := a.Labels["severity"]; ok || a.Severity != "" || a.GeneratorURL != "" || a.Explanation != nil {
			t.Errorf("%s: a pending alert with severity, links or causes: %+v", when, a)
		}
		if a.Fingerprint != fingerprint(a.Labels) {
			t.Errorf("%s: fingerprint %s is not its labels' %s", when, a.Fingerprint, fingerprint(a.Labels))
		}
		d := a.Annotations["description"]
		if !strings.HasPrefix(d, "Pending: ") || !strings.Contains(d, "85.00%") || !strings.Contains(d, "2 of the 3 steps") {
			t.Errorf("%s: description %q", when, d)
		}
		return a.Fingerprint
	}
	fp := check(m, "running")
	m.Close()
	o.Registerer = nil
	m2, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m2.Close)
	check(m2, "restarted")
	next := pred("checkout-7f9c", t0.Add(3*step), 0.9)
	if err := m2.Process(ctx, next.T, []Prediction{next}); err != nil {
		t.Fatal(err)
	}
	as := m2.Alerts()
	if len(m2.Pending()) != 0 || len(as) != 1 || as[0].State != store.AlertFiring || as[0].Fingerprint == fp || !as[0].StartsAt.Equal(next.T) {
		t.Fatalf("after the 3rd step over the threshold: %+v, want it firing since %s", as, next.T)
	}
}
