package alert

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
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

// TestEscalation: a firing warning alert whose probability reaches
// CriticalProbability becomes critical. Alertmanager identifies alerts by
// their labels, so the step sends the critical alert firing (from the
// escalation) and the warning one resolved, both linking to the alert's
// page under the fingerprint it fired with; it stays critical (a lower
// probability, a higher CriticalProbability, a restart) until it
// resolves, and a new episode fires warning again. Before, the severity
// was fixed at fire time: with For 2 always just over the threshold, an
// alert was never critical.
func TestEscalation(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	wall := t0
	o.Now = func() time.Time { return wall }
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	ctx := context.Background()
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	sent := 0
	// step runs step i at prob and returns the versions it sent, by
	// severity.
	step := func(i int, prob float64) map[string]postableAlert {
		t.Helper()
		wall = at(i)
		if err := m.Process(ctx, at(i), []Prediction{pred("checkout-7f9c", at(i), prob)}); err != nil {
			t.Fatal(err)
		}
		items := pending(t, st, fakeAM)
		if len(items) != sent+1 {
			t.Fatalf("step %d: %d outbox items, want %d", i, len(items), sent+1)
		}
		sent++
		out := map[string]postableAlert{}
		for _, a := range items[len(items)-1] {
			sev := a.Labels["severity"]
			if _, dup := out[sev]; dup {
				t.Fatalf("step %d: two %s versions in %+v", i, sev, items[len(items)-1])
			}
			out[sev] = a
		}
		return out
	}
	resolved := func(a postableAlert, i int) bool { return !a.EndsAt.After(at(i)) }

	got := step(0, 0.75)
	w, ok := got[SeverityWarning]
	if len(got) != 1 || !ok || resolved(w, 0) {
		t.Fatalf("step 0 sent %+v, want the warning alert firing", got)
	}
	fp := fingerprint(w.Labels)
	link := "http://omen.example:9090/ui/alerts/" + alertLink(t, m, "checkout-7f9c")
	if w.GeneratorURL != link || alertFP(t, m, "checkout-7f9c") != fp {
		t.Fatalf("warning alert links to %s, omen's fingerprint %s; want %s", w.GeneratorURL, alertFP(t, m, "checkout-7f9c"), fp)
	}

	got = step(1, 0.95) // escalates
	c, w := got[SeverityCritical], got[SeverityWarning]
	if len(got) != 2 || resolved(c, 1) || !resolved(w, 1) {
		t.Fatalf("step 1 sent %+v, want the critical alert firing and the warning one resolved", got)
	}
	if !c.StartsAt.Equal(at(1)) || !w.StartsAt.Equal(at(0)) || !w.EndsAt.Equal(at(1)) {
		t.Errorf("critical starts at %v, warning %v–%v; want %v, %v–%v", c.StartsAt, w.StartsAt, w.EndsAt, at(1), at(0), at(1))
	}
	if c.GeneratorURL != link || w.GeneratorURL != link || c.Annotations["explanation_url"] != link {
		t.Errorf("links %s, %s, %s after escalation; want %s (the alert's page under the fingerprint it fired with)",
			c.GeneratorURL, w.GeneratorURL, c.Annotations["explanation_url"], link)
	}
	if !strings.HasPrefix(w.Annotations["summary"], "Escalated to critical:") || !strings.Contains(c.Annotations["description"], "It became critical at 95.00%.") {
		t.Errorf("warning summary %q, critical description %q", w.Annotations["summary"], c.Annotations["description"])
	}
	if w.Annotations["outcome"] != OutcomeEscalated || c.Annotations["outcome"] != "" {
		t.Errorf("outcome: warning %q, critical %q; want %q and none (firing)", w.Annotations["outcome"], c.Annotations["outcome"], OutcomeEscalated)
	}
	as := m.Alerts()
	if len(as) != 1 || as[0].Fingerprint != fp || as[0].Severity != SeverityCritical || as[0].Labels["severity"] != SeverityCritical ||
		!as[0].StartsAt.Equal(at(0)) || !as[0].EscalatedAt.Equal(at(1)) {
		t.Fatalf("Alerts() = %+v, want the alert %s critical, started %v, escalated %v", as, fp, at(0), at(1))
	}

	// No flapping back: below the critical probability, or with a
	// higher one reloaded, it stays critical; nor does a restart change it.
	r := Reload{Alertmanagers: []string{fakeAM}, ResendDelay: o.ResendDelay, EvalInterval: o.EvalInterval,
		For: o.For, ResolveRatio: o.ResolveRatio, ExternalURL: o.ExternalURL, CriticalProbability: 0.99}
	if err := m.Reconfigure(r); err != nil {
		t.Fatal(err)
	}
	got = step(2, 0.6)
	if c := got[SeverityCritical]; len(got) != 2 || resolved(c, 2) || !c.StartsAt.Equal(at(1)) || !resolved(got[SeverityWarning], 2) {
		t.Fatalf("step 2 sent %+v, want the critical alert firing (and the warning one resolved, re-sent)", got)
	}
	m.Close()
	o.Registerer = prometheus.NewRegistry()
	if m, err = New(o); err != nil {
		t.Fatal(err)
	}
	if as := m.Alerts(); len(as) != 1 || as[0].Fingerprint != fp || as[0].Severity != SeverityCritical || !as[0].EscalatedAt.Equal(at(1)) {
		t.Fatalf("after a restart Alerts() = %+v, want the alert %s critical, escalated %v", as, fp, at(1))
	}

	got = step(3, 0.3) // resolves
	if c := got[SeverityCritical]; !resolved(c, 3) || !c.StartsAt.Equal(at(1)) || !c.EndsAt.Equal(at(3)) || !resolved(got[SeverityWarning], 3) {
		t.Fatalf("step 3 sent %+v, want the critical alert resolved (%v–%v)", got, at(1), at(3))
	}

	// Past the retention, a new episode fires warning.
	got = step(30, 0.75)
	if w, ok := got[SeverityWarning]; len(got) != 1 || !ok || resolved(w, 30) || !w.StartsAt.Equal(at(30)) {
		t.Fatalf("step 30 sent %+v, want only the warning alert firing again", got)
	}
	if as := m.Alerts(); len(as) != 1 || as[0].Severity != SeverityWarning || !as[0].EscalatedAt.IsZero() {
		t.Errorf("Alerts() = %+v, want the warning alert, not escalated", as)
	}
}

// TestEscalatedWarningResentWhileCritical: the escalated alert's warning
// version (resolved) is re-sent for as long as the alert fires critical,
// and for ResolvedRetention after it resolved; also to an Alertmanager
// added by a reload. With an inhibit rule (critical mutes the warning of
// the same entity) Alertmanager notifies the warning's resolution only
// once the critical alert resolved: omen stopped re-sending it
// ResolvedRetention after the escalation, so after a longer critical
// episode the warning's receiver never heard that it resolved.
func TestEscalatedWarningResentWhileCritical(t *testing.T) {
	const am2 = "http://am2.example:9093"
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	o.ResolvedRetention = 15 * time.Minute
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	wall := t0
	o.Now = func() time.Time { return wall }
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	// versions returns the versions of the newest outbox item for target
	// by severity, with whether each is resolved at step i (nil when the
	// step sent nothing).
	seen := map[string]int{}
	versions := func(target string, i int) map[string]bool {
		t.Helper()
		items := pending(t, st, target)
		if len(items) == seen[target] {
			return nil
		}
		seen[target] = len(items)
		out := map[string]bool{}
		for _, a := range items[len(items)-1] {
			out[a.Labels["severity"]] = !a.EndsAt.After(at(i))
		}
		return out
	}
	step := func(i int, prob float64) {
		t.Helper()
		wall = at(i)
		if err := m.Process(context.Background(), at(i), []Prediction{pred("checkout-7f9c", at(i), prob)}); err != nil {
			t.Fatal(err)
		}
	}
	both := func(critResolved bool) map[string]bool {
		return map[string]bool{SeverityCritical: critResolved, SeverityWarning: true}
	}
	tests := []struct {
		i      int
		prob   float64
		reload bool // add am2 after the step
		want   map[string]bool
	}{
		{0, 0.75, false, map[string]bool{SeverityWarning: false}},
		{1, 0.95, false, both(false)}, // escalates
		{10, 0.8, false, both(false)},
		{20, 0.8, true, both(false)}, // past the retention after the escalation
		{40, 0.8, false, both(false)},
		{41, 0.3, false, both(true)}, // resolves
		{56, 0.3, false, both(true)}, // the retention after the resolution
		{57, 0.3, false, nil},        // past it: dropped
	}
	for _, tc := range tests {
		step(tc.i, tc.prob)
		if got := versions(fakeAM, tc.i); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("step %d (p %.2f) sent severity→resolved %v, want %v", tc.i, tc.prob, got, tc.want)
		}
		if !tc.reload {
			continue
		}
		r := Reload{Alertmanagers: []string{fakeAM, am2}, ResendDelay: o.ResendDelay, EvalInterval: o.EvalInterval,
			For: o.For, ResolveRatio: o.ResolveRatio, ExternalURL: o.ExternalURL}
		if err := m.Reconfigure(r); err != nil {
			t.Fatal(err)
		}
		if got := versions(am2, tc.i); fmt.Sprint(got) != fmt.Sprint(both(false)) {
			t.Errorf("Alertmanager added at step %d got severity→resolved %v, want %v", tc.i, got, both(false))
		}
	}
}

// TestCriticalProbabilityGauge: omen_alerting_critical_probability is the
// CriticalProbability in force, from New and after each Reconfigure, so
// that Prometheus rules compare with it (the example critical rule had a
// literal 0.9, whatever alerting.critical_probability said).
func TestCriticalProbabilityGauge(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	gauge := func() float64 {
		t.Helper()
		v, ok := testenv.GaugeValue(t, reg, "omen_alerting_critical_probability")
		if !ok {
			t.Fatal("no omen_alerting_critical_probability")
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		reload float64 // -1: none
		want   float64
	}{
		{"default", -1, DefaultCriticalProbability},
		{"reloaded", 0.7, 0.7},
		{"reloaded to the default", 0, DefaultCriticalProbability},
		{"invalid reload", 1.5, DefaultCriticalProbability},
	} {
		if tc.reload >= 0 {
			r := Reload{Alertmanagers: []string{fakeAM}, ResendDelay: o.ResendDelay, EvalInterval: o.EvalInterval,
				For: o.For, ResolveRatio: o.ResolveRatio, ExternalURL: o.ExternalURL, CriticalProbability: tc.reload}
			if err := m.Reconfigure(r); (err != nil) != (tc.reload > 1) {
				t.Fatalf("%s: Reconfigure: %v", tc.name, err)
			}
		}
		if got := gauge(); got != tc.want {
			t.Errorf("%s: omen_alerting_critical_probability %g, want %g", tc.name, got, tc.want)
		}
	}
}

// TestCriticalFollowsModel: with CriticalProbability 0 (alerting.
// critical_probability unset) the severity follows the model's critical
// probability, which each prediction carries (Prediction.Critical, the
// model file's), at fire time and for the escalation of a firing
// warning, and omen_alerting_critical_probability says it; a model
// without one (0) gets 0.9, and a configured value applies whatever the
// model says. Store-trained models' calibrated probabilities never reach
// 0.9 (0.33-0.60 at most on validation), so their alerts never paged with
// the fixed default.
func TestCriticalFollowsModel(t *testing.T) {
	for _, tc := range []struct {
		name                string
		configured, model   float64
		fire, later         float64 // probabilities at steps 0 and 1
		wantFire, wantLater string
		wantGauge           float64
		threshold           float64 // the model's failure threshold; 0.3 when 0
	}{
		{"model's, fires warning, escalates", 0, 0.4, 0.35, 0.45, SeverityWarning, SeverityCritical, 0.4, 0},
		{"model's, fires critical", 0, 0.4, 0.5, 0.5, SeverityCritical, SeverityCritical, 0.4, 0},
		{"no model critical: 0.9", 0, 0, 0.75, 0.85, SeverityWarning, SeverityWarning, DefaultCriticalProbability, 0},
		{"configured over the model's", 0.9, 0.4, 0.75, 0.85, SeverityWarning, SeverityWarning, 0.9, 0},
		// A model without a critical probability whose threshold is over
		// 0.9 (0.9 would make its every alert critical): midway to 1.
		{"no model critical, threshold 0.95: 0.975", 0, 0, 0.96, 0.98, SeverityWarning, SeverityCritical, 0.975, 0.95},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openStore(t, "")
			o := testOptions(st, fakeAM)
			o.For = 1
			o.CriticalProbability = tc.configured
			reg := prometheus.NewRegistry()
			o.Registerer = reg
			m, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
			for i, prob := range []float64{tc.fire, tc.later} {
				at := t0.Add(time.Duration(i) * time.Minute)
				p := pred("checkout-7f9c", at, prob)
				p.Threshold, p.Critical = 0.3, tc.model
				if tc.threshold > 0 {
					p.Threshold = tc.threshold
				}
				if err := m.Process(context.Background(), at, []Prediction{p}); err != nil {
					t.Fatal(err)
				}
				want := []string{tc.wantFire, tc.wantLater}[i]
				if as := m.Alerts(); len(as) != 1 || as[0].Labels["severity"] != want {
					t.Fatalf("step %d at probability %g (model's critical %g, configured %g): alerts %+v, want one %s",
						i, prob, tc.model, tc.configured, as, want)
				}
			}
			if v, ok := testenv.GaugeValue(t, reg, "omen_alerting_critical_probability"); !ok || v != tc.wantGauge {
				t.Errorf("omen_alerting_critical_probability %g (%v), want %g", v, ok, tc.wantGauge)
			}
		})
	}
}

// TestCriticalKeptOnReload: following the model (critical_probability
// unset), omen_alerting_critical_probability stays at the model's after
// a Reconfigure that leaves it unset (one about anything else, or bind's
// link change): it went back to 0.9 until the next step, and the shipped
// critical rule compares with it, so a model at 0.4 flipped its critical
// alert to warning and back (each flip pages). The severity stays too;
// setting it applies, unsetting it again returns to the model's.
func TestCriticalKeptOnReload(t *testing.T) {
	st := openStore(t, "")
	o := testOptions(st, fakeAM)
	o.For = 1
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	gauge := func(when string, want float64) {
		t.Helper()
		if v, ok := testenv.GaugeValue(t, reg, "omen_alerting_critical_probability"); !ok || v != want {
			t.Errorf("%s: omen_alerting_critical_probability %g (%v), want %g", when, v, ok, want)
		}
	}
	gauge("before the first step", DefaultCriticalProbability)
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	// Several entities, so that the choice of the model's is not one of
	// map order (one model: all agree).
	var preds []Prediction
	for _, e := range []string{"a-1", "b-2", "c-3"} {
		p := pred(e, t0, 0.5)
		p.Threshold, p.Critical = 0.3, 0.4
		preds = append(preds, p)
	}
	if err := m.Process(context.Background(), t0, preds); err != nil {
		t.Fatal(err)
	}
	gauge("after a step", 0.4)
	reload := func(critical float64, ext string) {
		t.Helper()
		r := Reload{Alertmanagers: []string{fakeAM}, ResendDelay: o.ResendDelay, EvalInterval: o.EvalInterval,
			For: o.For, ResolveRatio: o.ResolveRatio, ExternalURL: ext, CriticalProbability: critical}
		if err := m.Reconfigure(r); err != nil {
			t.Fatal(err)
		}
	}
	reload(0, "http://omen.example:9090")
	gauge("after a reload not touching alerting.critical_probability", 0.4)
	for _, a := range m.Alerts() {
		if a.Labels["severity"] != SeverityCritical {
			t.Errorf("after a reload: alert %+v, want critical", a)
		}
	}
	reload(0.95, "http://omen.example:9090")
	gauge("set", 0.95)
	reload(0, "http://omen.example:9090")
	gauge("unset again", 0.4)
}
