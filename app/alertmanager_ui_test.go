package app

import (
	"testing"

	"github.com/omen-sre/omen/config"
)

// TestAlertmanagerUI: the UI's alert pages link to
// alerting.alertmanager_ui_url, else to the first Alertmanager omen sends
// alerts to, of the configuration as last reloaded (its
// alerting.alertmanagers first, then --alertmanager.url), none without
// one (whatever alertmanager_ui_url says).
func TestAlertmanagerUI(t *testing.T) {
	withAMs := func(urls ...string) *config.Config {
		c := config.Default()
		for _, u := range urls {
			c.Alerting.Alertmanagers = append(c.Alerting.Alertmanagers, config.AlertmanagerConfig{URL: u})
		}
		return c
	}
	withUI := func(c *config.Config, ui string) *config.Config {
		c.Alerting.AlertmanagerUIURL = ui
		return c
	}
	for _, tc := range []struct {
		name  string
		cfg   *config.Config
		flags []string
		want  string
	}{
		{"none", withAMs(), nil, ""},
		{"config", withAMs("http://am-1:9093", "http://am-2:9093"), []string{"http://flag:9093"}, "http://am-1:9093"},
		{"flag", withAMs(), []string{"http://flag:9093", "http://flag-2:9093"}, "http://flag:9093"},
		{"ui url", withUI(withAMs("http://am-1:9093"), "https://am.example.com"), []string{"http://flag:9093"}, "https://am.example.com"},
		{"ui url and flag", withUI(withAMs(), "https://am.example.com"), []string{"http://flag:9093"}, "https://am.example.com"},
		// No Alertmanager holds the alert: no link, whatever the UI URL.
		{"ui url only", withUI(withAMs(), "https://am.example.com"), nil, ""},
	} {
		a := &App{opts: Options{AlertmanagerURLs: tc.flags}}
		a.cfg.Store(tc.cfg)
		if got := a.alertmanagerUI(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	// A reload's configuration.
	a := &App{}
	a.cfg.Store(withAMs("http://old:9093"))
	a.cfg.Store(withAMs("http://new:9093"))
	if got := a.alertmanagerUI(); got != "http://new:9093" {
		t.Errorf("after a reload: %q, want http://new:9093", got)
	}
	a.cfg.Store(withUI(withAMs("http://new:9093"), "https://am.example.com"))
	if got := a.alertmanagerUI(); got != "https://am.example.com" {
		t.Errorf("after a reload that sets alertmanager_ui_url: %q, want https://am.example.com", got)
	}
}
