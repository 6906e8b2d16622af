package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestReconfigure: a reload changes thresholds, the resend delay and the
// Alertmanager set live, keeping the alert states: an Alertmanager added
// receives the current alerts at once, one removed stops receiving and
// loses its pending notifications; an invalid reload changes nothing.
func TestReconfigure(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am1 := testenv.Alertmanager(t)
	am2 := testenv.Alertmanager(t)
	px := newProxy(t, am1)
	st := openStore(t, t.TempDir())
	m, err := New(testOptions(st, px.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	sc := &scenario{t: t, m: m, probs: map[string]float64{}}
	sc.step(map[string]float64{"a": 0.8})
	sc.steps(1)
	wantActive(t, am1, "a")

	bad := Reload{Alertmanagers: []string{am2, am2}, For: 1}
	if err := m.CheckReload(bad); err == nil {
		t.Fatal("CheckReload accepted a duplicate Alertmanager")
	}
	if err := m.Reconfigure(bad); err == nil {
		t.Fatal("Reconfigure accepted a duplicate Alertmanager")
	}
	if m.hyst.For != 2 || len(m.targets) != 1 {
		t.Fatalf("an invalid reload changed the manager: for %d, %d targets", m.hyst.For, len(m.targets))
	}

	// The first Alertmanager goes down with notifications pending, then
	// is replaced by the second; the threshold now fires at once.
	px.down()
	sc.steps(6) // past the 200ms resend delay
	if len(pending(t, st, px.URL())) == 0 {
		t.Fatal("nothing pending for the Alertmanager that is down")
	}
	r := Reload{Alertmanagers: []string{am2}, For: 1, ResendDelay: 300 * time.Millisecond, EvalInterval: time.Hour,
		ExternalURL: "http://omen2.example"}
	if err := m.CheckReload(r); err != nil {
		t.Fatal(err)
	}
	if err := m.Reconfigure(r); err != nil {
		t.Fatal(err)
	}
	got := wantActive(t, am2, "a") // without a step: sent on reload
	for _, a := range got {
		if !strings.HasPrefix(a.GeneratorURL, "http://omen2.example/ui/alerts/") {
			t.Errorf("generatorURL %q after the external URL changed", a.GeneratorURL)
		}
	}
	if n := len(pending(t, st, px.URL())); n != 0 {
		t.Errorf("%d items still pending for the removed Alertmanager", n)
	}
	sc.step(map[string]float64{"b": 0.8}) // For 1: fires at its first step
	wantActive(t, am2, "a", "b")
	if as := m.Alerts(); len(as) != 2 {
		t.Errorf("alerts after the reload: %+v", as)
	}
}

// TestReconfigurePasswordChange: a reload that only changes an
// Alertmanager's password keeps its (redacted) metric series.
func TestReconfigurePasswordChange(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	am := testenv.Alertmanager(t)
	withPass := func(p string) string { return strings.Replace(am, "http://", "http://omen:"+p+"@", 1) }
	st := openStore(t, t.TempDir())
	reg := prometheus.NewRegistry()
	o := testOptions(st, withPass("old"))
	o.Registerer = reg
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	startRun(t, m)
	r := Reload{Alertmanagers: []string{withPass("new")}, For: 2, ResendDelay: 200 * time.Millisecond, EvalInterval: time.Hour}
	if err := m.Reconfigure(r); err != nil {
		t.Fatal(err)
	}
	n, err := testutil.GatherAndCount(reg, "omen_notifications_queue_length")
	if err != nil || n != 1 {
		t.Fatalf("queue length series after a password change: %d (%v), want 1", n, err)
	}
}
