package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

func TestScore(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ent := func(pod, svc string) map[string]string {
		return map[string]string{"namespace": "shop", "pod": pod, "service": svc}
	}
	truth := []Truth{
		{ID: "a", Scenario: "memory_growth_oom", Entity: ent("a-1", "a"), Cause: "memory_limit_ratio", Onset: at(40), FailureAt: at(60), EndAt: at(70), HasPrecursor: true, Fails: true},
		{ID: "b", Scenario: "connection_exhaustion", Entity: ent("b-1", "b"), Cause: "connection_pool_usage_ratio", Onset: at(100), FailureAt: at(120), EndAt: at(130), HasPrecursor: true, Fails: true},
		{ID: "c", Scenario: "image_conflict", Entity: ent("c-1", "c"), Cause: "events_module_load_error", Onset: at(200), FailureAt: at(200), EndAt: at(210), Fails: true},
		{ID: "d", Scenario: "memory_growth_oom", Entity: ent("d-1", "d"), Cause: "memory_limit_ratio", Onset: at(300), FailureAt: at(320), EndAt: at(325), HasPrecursor: true},
		{ID: "e", Scenario: "cross_zone_latency", Entity: ent("e-1", "e"), Cause: "dependency_latency_p99_seconds", Onset: at(400), FailureAt: at(420), EndAt: at(430), HasPrecursor: true, Fails: true},
	}
	pod := func(p string) map[string]string { return map[string]string{"namespace": "shop", "pod": p} }
	alerts := []Alert{
		// a: predicted 10 min ahead, true cause second; repeated alerts
		// form one group.
		{Entity: pod("a-1"), FiredAt: at(50), TopCauses: []string{"cpu_usage_cores", "memory_limit_ratio"}},
		{Entity: pod("a-1"), FiredAt: at(55), TopCauses: []string{"memory_limit_ratio"}},
		{Entity: pod("a-1"), FiredAt: at(58), TopCauses: []string{"memory_limit_ratio"}},
		// b: predicted 4 min ahead by service-level entity, true cause first.
		{Entity: map[string]string{"service": "b"}, FiredAt: at(116), TopCauses: []string{"connection_pool_usage_ratio"}},
		// c: only late alerts (during the failure).
		{Entity: pod("c-1"), FiredAt: at(201), TopCauses: []string{"container_restarts_10m"}},
		// d: false-alarm bait alerted: a false positive.
		{Entity: pod("d-1"), FiredAt: at(318), TopCauses: []string{"memory_limit_ratio"}},
		// e: too early (outside a 15 min horizon): a false positive, and e
		// is missed.
		{Entity: pod("e-1"), FiredAt: at(400), TopCauses: []string{"dependency_latency_p99_seconds"}},
		// an alert on an unrelated pod: false positive.
		{Entity: pod("z-9"), FiredAt: at(10)},
		// same namespace, other pod of the same name prefix: no match.
		{Entity: pod("a-2"), FiredAt: at(59)},
	}
	r := Score(truth, alerts, 15*time.Minute)
	want := Report{
		Scenarios: 5, Failures: 4, FalseAlarmBait: 1, Predicted: 2,
		Alerts: 9, AlertGroups: 7, TruePositives: 2, FalsePositives: 4, LateAlerts: 1,
		Precision: 2.0 / 6, Recall: 0.5, LeadTimeMedianS: (600 + 240) / 2.0,
		Top1Cause: 0.5, Top3Cause: 1,
	}
	check := func(name string, got, want float64) {
		if math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("scenarios", float64(r.Scenarios), float64(want.Scenarios))
	check("failures", float64(r.Failures), float64(want.Failures))
	check("bait", float64(r.FalseAlarmBait), float64(want.FalseAlarmBait))
	check("predicted", float64(r.Predicted), float64(want.Predicted))
	check("alerts", float64(r.Alerts), float64(want.Alerts))
	check("groups", float64(r.AlertGroups), float64(want.AlertGroups))
	check("tp", float64(r.TruePositives), float64(want.TruePositives))
	check("fp", float64(r.FalsePositives), float64(want.FalsePositives))
	check("late", float64(r.LateAlerts), float64(want.LateAlerts))
	check("precision", r.Precision, want.Precision)
	check("recall", r.Recall, want.Recall)
	check("lead", r.LeadTimeMedianS, want.LeadTimeMedianS)
	check("top1", r.Top1Cause, want.Top1Cause)
	check("top3", r.Top3Cause, want.Top3Cause)
	if k := r.ByScenario["memory_growth_oom"]; k.Failures != 1 || k.Predicted != 1 || k.FalseAlarmBait != 1 || k.BaitAlerted != 1 || k.LeadTimeMedianS != 600 {
		t.Errorf("memory_growth_oom breakdown %+v", k)
	}
	wantFalse := []struct {
		pod, near, scenario string
		at                  int
		offsetS             float64
	}{
		{"z-9", "", "", 10, 0},
		{"a-2", "", "", 59, 0},
		{"d-1", "bait", "memory_growth_oom", 318, 18 * 60},
		{"e-1", "precursor", "cross_zone_latency", 400, 0},
	}
	if len(r.FalseAlerts) != len(wantFalse) {
		t.Fatalf("false alerts %+v, want %d", r.FalseAlerts, len(wantFalse))
	}
	for i, w := range wantFalse {
		fa := r.FalseAlerts[i]
		if fa.Entity["pod"] != w.pod || fa.Near != w.near || fa.Scenario != w.scenario || !fa.FiredAt.Equal(at(w.at)) || fa.OffsetS != w.offsetS {
			t.Errorf("false alert %d = %+v, want %+v", i, fa, w)
		}
	}
	var oc []string
	for _, o := range r.Outcomes {
		oc = append(oc, fmt.Sprintf("%s %v %.0f", o.ID, o.Predicted, o.LeadS))
	}
	if got, want := strings.Join(oc, "; "), "a true 600; b true 240; c false 0; e false 0"; got != want {
		t.Errorf("outcomes %q, want %q", got, want)
	}
	// Pooling a report with itself doubles the counts and keeps every
	// ratio; pooling it alone changes nothing.
	for _, c := range []struct {
		in []Report
		k  int
	}{{[]Report{r}, 1}, {[]Report{r, r}, 2}} {
		p := Pool(c.in...)
		if p.TruePositives != c.k*r.TruePositives || p.FalsePositives != c.k*r.FalsePositives || p.Failures != c.k*r.Failures ||
			p.Scenarios != c.k*r.Scenarios || len(p.Outcomes) != c.k*len(r.Outcomes) || len(p.FalseAlerts) != c.k*len(r.FalseAlerts) {
			t.Errorf("pool of %d: %+v", c.k, p)
		}
		check("pooled precision", p.Precision, r.Precision)
		check("pooled recall", p.Recall, r.Recall)
		check("pooled lead", p.LeadTimeMedianS, r.LeadTimeMedianS)
		check("pooled top1", p.Top1Cause, r.Top1Cause)
		check("pooled top3", p.Top3Cause, r.Top3Cause)
		if k := p.ByScenario["memory_growth_oom"]; k.Failures != c.k || k.BaitAlerted != c.k || k.LeadTimeMedianS != 600 {
			t.Errorf("pooled memory_growth_oom %+v", k)
		}
	}
	// The pooled lead is the median over every failure, not of the runs'
	// medians.
	lead := func(ls ...float64) Report {
		var x Report
		for i, l := range ls {
			x.Outcomes = append(x.Outcomes, Outcome{ID: fmt.Sprint(i), Predicted: true, LeadS: l})
		}
		return x
	}
	if got := Pool(lead(100, 200, 900), lead(300, 400)).LeadTimeMedianS; got != 300 {
		t.Errorf("pooled lead median %v, want 300", got)
	}
	early := Score(truth[:1], []Alert{{Entity: pod("a-1"), FiredAt: at(20)}, {Entity: pod("a-1"), FiredAt: at(90)}}, 15*time.Minute)
	if len(early.FalseAlerts) != 2 || early.FalseAlerts[0].Near != "early" || early.FalseAlerts[0].OffsetS != -20*60 ||
		early.FalseAlerts[1].Near != "after" || early.FalseAlerts[1].OffsetS != 50*60 {
		t.Errorf("early/after false alerts %+v", early.FalseAlerts)
	}

	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]any
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenarios", "precision", "recall", "lead_time_median_s", "top1_cause", "top3_cause"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, b)
		}
	}

	if got := EntityName(truth[0].Entity, []string{"namespace", "pod"}); got != "shop/a-1" {
		t.Errorf("EntityName %q", got)
	}

	empty := Score(nil, nil, time.Minute)
	if empty.Precision != 0 || empty.Recall != 0 || empty.Scenarios != 0 {
		t.Errorf("empty report %+v", empty)
	}
}

func TestMatches(t *testing.T) {
	truth := map[string]string{"namespace": "ns", "pod": "p", "service": "s"}
	cases := []struct {
		alert map[string]string
		want  bool
	}{
		{map[string]string{"namespace": "ns", "pod": "p"}, true},
		{map[string]string{"service": "s"}, true},
		{map[string]string{"namespace": "ns", "pod": "p", "container": "x"}, true},
		{map[string]string{"namespace": "other", "pod": "p"}, false},
		{map[string]string{"namespace": "ns"}, false},
		{map[string]string{"namespace": "ns", "pod": "q", "service": "s"}, false},
		{nil, false},
	}
	for _, c := range cases {
		if got := Matches(c.alert, truth); got != c.want {
			t.Errorf("Matches(%v) = %v, want %v", c.alert, got, c.want)
		}
	}
}

// TestScoreFiringThroughHorizon: an alert that fires when the precursor
// starts and is still firing inside the horizon predicts the failure (its
// lead time runs from when it fired); one that fired before the precursor
// began does not, even if it is still firing.
func TestScoreFiringThroughHorizon(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ent := map[string]string{"namespace": "shop", "pod": "e-1", "service": "e"}
	truth := []Truth{{ID: "e", Scenario: "cross_zone_latency", Entity: ent, Cause: "dependency_latency_p99_seconds",
		Onset: at(400), FailureAt: at(420), EndAt: at(430), HasPrecursor: true, Fails: true}}
	pod := map[string]string{"namespace": "shop", "pod": "e-1"}
	cases := []struct {
		name      string
		alert     Alert
		predicted int
		lead      float64
	}{
		{"fired at onset, firing into the horizon", Alert{Entity: pod, FiredAt: at(401), ResolvedAt: at(410)}, 1, 19 * 60},
		{"fired at onset, resolved before the horizon", Alert{Entity: pod, FiredAt: at(401), ResolvedAt: at(404)}, 0, 0},
		{"fired at onset, resolution not tracked", Alert{Entity: pod, FiredAt: at(401)}, 0, 0},
		{"fired before the precursor, still firing", Alert{Entity: pod, FiredAt: at(390), ResolvedAt: at(425)}, 0, 0},
		{"fired inside the horizon", Alert{Entity: pod, FiredAt: at(412), ResolvedAt: at(413)}, 1, 8 * 60},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Score(truth, []Alert{c.alert}, 15*time.Minute)
			if r.Predicted != c.predicted || r.LeadTimeMedianS != c.lead {
				t.Errorf("predicted %d lead %v, want %d %v", r.Predicted, r.LeadTimeMedianS, c.predicted, c.lead)
			}
			if c.predicted == 1 && (r.TruePositives != 1 || r.FalsePositives != 0) {
				t.Errorf("TP %d FP %d, want 1 0", r.TruePositives, r.FalsePositives)
			}
		})
	}
}

// TestScoreLate: a late group (alerts that fired only while a failure
// lasted) is described: how long after the failure began it fired, how
// long it fired, the failure's length, and whether another alert
// predicted the failure. Store-trained models' late alerts were counted
// (late_alerts) but how long they lasted was never known.
func TestScoreLate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	ent := func(pod string) map[string]string {
		return map[string]string{"namespace": "shop", "pod": pod, "service": "s"}
	}
	pod := func(p string) map[string]string { return map[string]string{"namespace": "shop", "pod": p} }
	truth := []Truth{
		{ID: "a", Scenario: "image_conflict", Entity: ent("a-1"), Onset: at(100), FailureAt: at(100), EndAt: at(110), Fails: true},
		{ID: "b", Scenario: "memory_growth_oom", Entity: ent("b-1"), Onset: at(180), FailureAt: at(200), EndAt: at(230), HasPrecursor: true, Fails: true},
	}
	alerts := []Alert{
		// a: missed; two alerts during the failure, one group, firing
		// from minute 102 to 107.
		{Entity: pod("a-1"), FiredAt: at(102), ResolvedAt: at(104), TopCauses: []string{"pod_not_ready"}},
		{Entity: pod("a-1"), FiredAt: at(105), ResolvedAt: at(107)},
		// b: predicted, resolved at the onset; a second group 12
		// minutes into its 30-minute failure.
		{Entity: pod("b-1"), FiredAt: at(195), ResolvedAt: at(200)},
		{Entity: pod("b-1"), FiredAt: at(212), ResolvedAt: at(213)},
	}
	r := Score(truth, alerts, 10*time.Minute)
	if r.LateAlerts != 2 || len(r.Late) != 2 || r.TruePositives != 1 || r.FalsePositives != 0 {
		t.Fatalf("late %d, %+v; true %d, false %d: want 2 late groups, 1 true, 0 false", r.LateAlerts, r.Late, r.TruePositives, r.FalsePositives)
	}
	for i, w := range []LateAlert{
		{Scenario: "image_conflict", FiredAt: at(102), AfterFailureS: 120, FiringS: 300, FailureS: 600},
		{Scenario: "memory_growth_oom", FiredAt: at(212), AfterFailureS: 720, FiringS: 60, FailureS: 1800, Predicted: true},
	} {
		g := r.Late[i]
		if g.Scenario != w.Scenario || !g.FiredAt.Equal(w.FiredAt) || g.AfterFailureS != w.AfterFailureS || g.FiringS != w.FiringS || g.FailureS != w.FailureS || g.Predicted != w.Predicted {
			t.Errorf("late group %d = %+v, want %+v", i, g, w)
		}
	}
	if p := Pool(r, r); len(p.Late) != 4 || p.LateAlerts != 4 {
		t.Errorf("pooled: %d late, %d described, want 4", p.LateAlerts, len(p.Late))
	}
}
