package app

import (
	"math"
	"strings"
	"testing"
	"time"
)

// reloadMetrics is what a's /metrics says of its configuration reloads:
// the series of omen_config_reloads_total by result (absent: not in the
// map), omen_config_last_reload_successful and
// omen_config_last_reload_success_timestamp_seconds and
// omen_config_restart_required (NaN when absent).
type reloadMetrics struct {
	results          map[string]float64
	ok, ts, restarts float64
}

func gatherReloadMetrics(t *testing.T, a *App) reloadMetrics {
	t.Helper()
	mfs, err := a.opts.Gatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	m := reloadMetrics{results: map[string]float64{}, ok: math.NaN(), ts: math.NaN(), restarts: math.NaN()}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "omen_config_reloads_total":
			for _, s := range mf.GetMetric() {
				for _, l := range s.GetLabel() {
					if l.GetName() == "result" {
						m.results[l.GetValue()] = s.GetCounter().GetValue()
					}
				}
			}
		case "omen_config_last_reload_successful":
			m.ok = mf.GetMetric()[0].GetGauge().GetValue()
		case "omen_config_last_reload_success_timestamp_seconds":
			m.ts = mf.GetMetric()[0].GetGauge().GetValue()
		case "omen_config_restart_required":
			m.restarts = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	return m
}

// seconds is t as SetToCurrentTime exports it.
func seconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// TestConfigReloadMetrics: right after start both series of
// omen_config_reloads_total exist at 0 (the failure one appeared only with
// the first failure, at 1), omen_config_last_reload_successful is 1 and
// omen_config_last_reload_success_timestamp_seconds is the start's; a
// refused reload (a typo in the file, then a change that needs a restart)
// sets the gauge to 0 and leaves the timestamp; a reload that applies sets
// it to 1 and advances the timestamp. Neither gauge existed: after two
// failed reloads /metrics showed only the failure count, nothing that says
// the file on disk is not the configuration in force.
func TestConfigReloadMetrics(t *testing.T) {
	file, write := configFileWriter(t)
	write(testConfigYAML)
	before := time.Now()
	a := startApp(t, t.TempDir(), func(o *Options) { o.Config, o.ConfigFile = nil, file })
	started := time.Now()

	m := gatherReloadMetrics(t, a)
	for _, result := range []string{"success", "failure"} {
		if v, ok := m.results[result]; !ok || v != 0 {
			t.Errorf("after start: omen_config_reloads_total{result=%q} = %v (present %v), want a series at 0", result, v, ok)
		}
	}
	if m.ok != 1 {
		t.Errorf("after start: omen_config_last_reload_successful = %v, want 1", m.ok)
	}
	if !(m.ts >= seconds(before) && m.ts <= seconds(started)) {
		t.Errorf("after start: omen_config_last_reload_success_timestamp_seconds = %v, want the start's, in [%v, %v]",
			m.ts, seconds(before), seconds(started))
	}
	startTS := m.ts

	refused := []struct {
		name, yml, want string
	}{
		{"typo", "step: [15s\n" + testConfigYAML, "did not find expected"},
		{"needs a restart", strings.Replace(testConfigYAML, "step: 5s", "step: 10s", 1), "need a restart"},
	}
	for i, r := range refused {
		write(r.yml)
		if err := a.Reload(); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Fatalf("%s: reload = %v, want an error saying %q", r.name, err, r.want)
		}
		m = gatherReloadMetrics(t, a)
		if m.ok != 0 {
			t.Errorf("%s: omen_config_last_reload_successful = %v, want 0", r.name, m.ok)
		}
		if m.ts != startTS {
			t.Errorf("%s: omen_config_last_reload_success_timestamp_seconds = %v, want the start's %v", r.name, m.ts, startTS)
		}
		if got, want := m.results["failure"], float64(i+1); got != want {
			t.Errorf("%s: %v failed reloads counted, want %v", r.name, got, want)
		}
		if got := m.results["success"]; got != 0 {
			t.Errorf("%s: %v successful reloads counted, want 0", r.name, got)
		}
	}

	write(testConfigYAML)
	mid := time.Now()
	if err := a.Reload(); err != nil {
		t.Fatalf("reload: %v", err)
	}
	m = gatherReloadMetrics(t, a)
	if m.ok != 1 {
		t.Errorf("after a good reload: omen_config_last_reload_successful = %v, want 1", m.ok)
	}
	if !(m.ts > startTS && m.ts >= seconds(mid)) {
		t.Errorf("after a good reload: omen_config_last_reload_success_timestamp_seconds = %v, want the reload's (at least %v, after the start's %v)",
			m.ts, seconds(mid), startTS)
	}
	if m.results["success"] != 1 || m.results["failure"] != 2 {
		t.Errorf("after a good reload: reloads by result %v, want 1 success and 2 failures", m.results)
	}
}

// TestConfigRestartRequired: omen_config_restart_required is 0 at start,
// 1 after a reload that changed a key applied only at a restart (it was
// accepted, with a warning, and the daemon keeps the start-time value),
// still 1 after a refused reload (the configuration in force did not
// change), and 0 again once a reload puts the start-time value back.
// Without the gauge only the reload's logged warning said that the
// configuration in force was not the file's.
func TestConfigRestartRequired(t *testing.T) {
	a, write, _ := reloadableApp(t, "")
	steps := []struct {
		name, extra string
		refused     bool
		want        float64
	}{
		{name: "start", want: 0},
		{name: "reloadable change only", extra: "alerting:\n  for: 7\n", want: 0},
		{name: "restart-only change", extra: "max_series: 5000\nalerting:\n  for: 7\n", want: 1},
		{name: "refused reload", extra: "max_series: [", refused: true, want: 1},
		{name: "another restart-only change", extra: "runtime:\n  gogc: 50\n", want: 1},
		{name: "start-time values back", extra: "", want: 0},
	}
	for i, s := range steps {
		if i > 0 {
			write(s.extra)
			if err := a.Reload(); (err != nil) != s.refused {
				t.Fatalf("%s: reload = %v, want refused %v", s.name, err, s.refused)
			}
		}
		if got := gatherReloadMetrics(t, a).restarts; got != s.want {
			t.Errorf("%s: omen_config_restart_required = %v, want %v", s.name, got, s.want)
		}
	}
}
