package demo

import (
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/training"
)

// TestAlertRule: the threshold of a model the demo or omen eval sim
// trains is chosen for the daemon's alert rule, alerting.resolve_for
// included (it was left out: the choice played resolve_for 1).
func TestAlertRule(t *testing.T) {
	cfg := config.Default()
	cfg.Alerting.For, cfg.Alerting.ResolveRatio, cfg.Alerting.ResolveFor = 3, 0.7, 4
	cfg.Alerting.MinLead = pmodel.Duration(10 * Step)
	got := *alertRule(cfg)
	want := training.AlertRule{For: 3, ResolveRatio: 0.7, ResolveFor: 4, MinLead: 10}
	if got != want {
		t.Errorf("alertRule = %+v, want %+v", got, want)
	}
	cfg.Alerting.MinLead = 0
	if got, want := alertRule(cfg).MinLead, training.LeadSteps(DefaultMinLead, Step); got != want || DefaultMinLead < time.Minute {
		t.Errorf("MinLead %d steps, want the demo's floor %d", got, want)
	}
}
