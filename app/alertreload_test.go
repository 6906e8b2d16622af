package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestReloadAppliesAlerting: a reload applies the alerting section (the
// Alertmanager set here, through the notification metrics' labels) and
// one the alerting pipeline refuses fails, changing nothing.
func TestReloadAppliesAlerting(t *testing.T) {
	cfgFile := filepath.Join(t.TempDir(), "omen.yml")
	write := func(alerting string) {
		if err := os.WriteFile(cfgFile, []byte(testConfigYAML+alerting), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("alerting:\n  alertmanagers:\n    - url: http://127.0.0.1:1\n")
	reg := prometheus.NewRegistry()
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config, o.ConfigFile = nil, cfgFile
		o.Registerer, o.Gatherer = reg, reg
	})
	targets := func() []string {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if mf.GetName() != "omen_notifications_queue_length" {
				continue
			}
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "alertmanager" {
						out = append(out, l.GetValue())
					}
				}
			}
		}
		slices.Sort(out)
		return out
	}
	if got := targets(); !slices.Equal(got, []string{"http://127.0.0.1:1"}) {
		t.Fatalf("alertmanagers at start %v", got)
	}
	write("alerting:\n  for: 1\n  resend_delay: 30s\n  alertmanagers:\n    - url: http://127.0.0.1:2\n    - url: http://omen:pw@127.0.0.1:3\n")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := targets(); !slices.Equal(got, []string{"http://127.0.0.1:2", "http://omen:xxxxx@127.0.0.1:3"}) {
		t.Fatalf("alertmanagers after the reload %v", got)
	}
	// Unset: 0, the model's critical probability (0.9 without one).
	if r := reloadOf(a.alerts.opts, a.cfg.Load()); r.CriticalProbability != 0 {
		t.Errorf("alerting.critical_probability reaches the alert pipeline as %g, want 0 (unset: the model's)", r.CriticalProbability)
	}
	if a.alerts.m.CheckReload(reloadOf(a.alerts.opts, a.cfg.Load())) != nil {
		t.Fatal("the applied configuration does not check")
	}
	write("alerting:\n  alertmanagers:\n    - url: http://127.0.0.1:4\n    - url: http://127.0.0.1:4\n")
	err := a.Reload()
	if err == nil || !strings.Contains(err.Error(), "alerting") {
		t.Fatalf("a reload with a duplicate Alertmanager: %v, want an alerting error", err)
	}
	if got := targets(); !slices.Equal(got, []string{"http://127.0.0.1:2", "http://omen:xxxxx@127.0.0.1:3"}) {
		t.Fatalf("alertmanagers after a refused reload %v", got)
	}
}
