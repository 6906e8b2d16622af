package app

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestAlertingResolveForAndCriticalGauge: alerting.resolve_for reaches the
// alert pipeline and the history settings (omen train --url reads the
// daemon's alert rule there), and omen_alerting_critical_probability
// follows alerting.critical_probability, at start and through Apply (the
// example critical rule compares with it); an invalid resolve_for is
// refused, changing nothing.
func TestAlertingResolveForAndCriticalGauge(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := testConfig(t)
	cfg.Alerting.ResolveFor, cfg.Alerting.CriticalProbability = 2, 0.8
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config = cfg
		o.Registerer, o.Gatherer = reg, reg
	})
	gauge := func() float64 {
		t.Helper()
		v, ok := testenv.GaugeValue(t, reg, "omen_alerting_critical_probability")
		if !ok {
			t.Fatal("no omen_alerting_critical_probability")
		}
		return v
	}
	check := func(when string, resolveFor int, critical float64) {
		t.Helper()
		if got := gauge(); got != critical {
			t.Errorf("%s: omen_alerting_critical_probability %g, want %g", when, got, critical)
		}
		if r := reloadOf(a.alerts.opts, a.cfg.Load()); r.ResolveFor != resolveFor {
			t.Errorf("%s: the alert pipeline's resolve_for %d, want %d", when, r.ResolveFor, resolveFor)
		}
		if hs := (historyReader{a.store, a}).HistorySettings(); hs.AlertResolveFor != resolveFor {
			t.Errorf("%s: history settings' resolve_for %d, want %d", when, hs.AlertResolveFor, resolveFor)
		}
	}
	check("at start", 2, 0.8)
	c := *a.Config()
	c.Alerting.ResolveFor, c.Alerting.CriticalProbability = 3, 0.7
	if err := a.Apply(&c); err != nil {
		t.Fatalf("apply: %v", err)
	}
	check("applied", 3, 0.7)
	bad := c
	bad.Alerting.ResolveFor, bad.Alerting.CriticalProbability = -1, 0.75
	if err := a.Apply(&bad); err == nil {
		t.Error("apply of resolve_for -1: no error")
	}
	check("after a refused apply", 3, 0.7)
}
