package app

import (
	"strings"
	"testing"
	"time"

	pmodel "github.com/prometheus/common/model"
)

// TestApply: a daemon without a configuration file takes a configuration
// from its caller as a reload does (omen demo sets the critical
// probability for the model it trained): the alerting section applies and
// is served with the history settings; a change a reload refuses (the
// step) is refused, the configuration in force staying.
func TestApply(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	c := *a.Config()
	c.Alerting.CriticalProbability = 0.995
	if err := a.Apply(&c); err != nil {
		t.Fatalf("apply: %v", err)
	}
	if got := a.Config().Alerting.CriticalProbability; got != 0.995 {
		t.Errorf("critical probability in force %g, want 0.995", got)
	}
	if hs := (historyReader{a.store, a}).HistorySettings(); hs.AlertCriticalProbability == nil || *hs.AlertCriticalProbability != 0.995 {
		t.Errorf("history settings' critical probability %v, want 0.995", hs.AlertCriticalProbability)
	}
	step := c
	step.Step = pmodel.Duration(time.Duration(c.Step) * 2)
	step.Alerting.CriticalProbability = 0.5
	if err := a.Apply(&step); err == nil || !strings.Contains(err.Error(), "step") {
		t.Errorf("apply of another step: %v, want it refused", err)
	}
	if got := a.Config().Alerting.CriticalProbability; got != 0.995 {
		t.Errorf("critical probability after a refused apply %g, want 0.995", got)
	}
	bad := c
	bad.Alerting.CriticalProbability = 1.5
	if err := a.Apply(&bad); err == nil {
		t.Error("apply of critical probability 1.5: no error")
	}
}

// TestHistorySettingsCriticalUnset: with alerting.critical_probability
// unset, the history settings leave alert_critical_probability out (an
// omen train of before models carried a critical probability read 0 as
// set, and warned that every alert was critical) and say that the
// model's applies; set, they carry it.
func TestHistorySettingsCriticalUnset(t *testing.T) {
	a := startApp(t, t.TempDir(), nil)
	if c := a.Config().Alerting.CriticalProbability; c != 0 {
		t.Fatalf("default critical probability %g, want 0 (unset)", c)
	}
	hs := (historyReader{a.store, a}).HistorySettings()
	if hs.AlertCriticalProbability != nil || !hs.AlertCriticalFromModel {
		t.Errorf("unset: history settings' critical probability %v, from the model %v; want none, true", hs.AlertCriticalProbability, hs.AlertCriticalFromModel)
	}
	c := *a.Config()
	c.Alerting.CriticalProbability = 0.7
	if err := a.Apply(&c); err != nil {
		t.Fatalf("apply: %v", err)
	}
	hs = (historyReader{a.store, a}).HistorySettings()
	if hs.AlertCriticalProbability == nil || *hs.AlertCriticalProbability != 0.7 || hs.AlertCriticalFromModel {
		t.Errorf("set: history settings' critical probability %v, from the model %v; want 0.7, false", hs.AlertCriticalProbability, hs.AlertCriticalFromModel)
	}
}
