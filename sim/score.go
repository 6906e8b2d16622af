package sim

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/omen-sre/omen/internal/entityid"
)

// DedupWindow is how close in time alerts on one entity must follow each
// other to count as one alert in Score.
const DedupWindow = 10 * time.Minute

// Alert is a prediction to score: an alert omen fired for an entity, with
// its causes ranked best first.
type Alert struct {
	Entity  map[string]string `json:"entity"`
	FiredAt time.Time         `json:"fired_at"`
	// ResolvedAt is when the alert stopped firing (the end of the run for
	// one still firing). Zero means resolution is not tracked: the alert
	// counts as firing only at FiredAt.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	TopCauses  []string  `json:"top_causes"`
}

// activeIn reports whether a fired in [from, to) or was still firing at
// from.
func (a Alert) activeIn(from, to time.Time) bool {
	if !a.FiredAt.Before(to) {
		return false
	}
	if !a.FiredAt.Before(from) {
		return true
	}
	return !a.ResolvedAt.IsZero() && a.ResolvedAt.After(from)
}

// Report is the result of Score. Ratios without a denominator are 0.
type Report struct {
	// Scenarios is the number of truths, Failures those that fail,
	// FalseAlarmBait those whose precursor fades without a failure.
	Scenarios      int `json:"scenarios"`
	Failures       int `json:"failures"`
	FalseAlarmBait int `json:"false_alarm_bait"`
	// Predicted failures had an alert for their entity within the horizon
	// before FailureAt.
	Predicted int `json:"predicted"`
	// Alerts is the number of alerts given; AlertGroups the number after
	// merging alerts on one entity that follow each other within
	// DedupWindow. A group is a true positive when it predicted a failure,
	// late when it only fired while the failure lasted (neither true nor
	// false), a false positive otherwise.
	Alerts         int `json:"alerts"`
	AlertGroups    int `json:"alert_groups"`
	TruePositives  int `json:"true_positives"`
	FalsePositives int `json:"false_positives"`
	LateAlerts     int `json:"late_alerts"`
	// Precision is TruePositives/(TruePositives+FalsePositives); Recall is
	// Predicted/Failures.
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// LeadTimeMedianS is the median, over predicted failures, of the time
	// from the first alert to the failure, in simulated seconds.
	LeadTimeMedianS float64 `json:"lead_time_median_s"`
	// Top1Cause and Top3Cause are the fractions of predicted failures with
	// a precursor whose first alert ranked the true cause first, or among
	// the first three.
	Top1Cause float64 `json:"top1_cause"`
	Top3Cause float64 `json:"top3_cause"`
	// ByScenario breaks failures down per scenario kind.
	ByScenario map[string]KindReport `json:"by_scenario"`
	// FalseAlerts describes each false-positive group by its first
	// alert, in firing order (Pool concatenates them run by run), so that
	// a low precision can be traced to what the model mistook for a
	// precursor.
	FalseAlerts []FalseAlert `json:"false_alerts"`
	// Late describes each late group (LateAlerts), in firing order (Pool
	// concatenates them run by run): when it fired after its failure
	// began, how long it fired, and whether the failure was predicted
	// anyway, so that late alerts can be told from missed predictions.
	Late []LateAlert `json:"late,omitempty"`
	// Outcomes holds one entry per failure, in the order of the truth, so
	// that figures can be pooled over runs (the median lead of several
	// seeds together, say); Pool concatenates them run by run, and IDs
	// repeat across runs.
	Outcomes []Outcome `json:"outcomes"`
}

// Outcome is what became of one failure.
type Outcome struct {
	ID        string    `json:"id"`
	Scenario  string    `json:"scenario"`
	FailureAt time.Time `json:"failure_at"`
	Predicted bool      `json:"predicted"`
	// LeadS is FailureAt − the first predicting alert, in seconds; 0 when
	// not predicted.
	LeadS float64 `json:"lead_s"`
	// Cause is the injected cause; TopCauses the first predicting alert's.
	// Only failures with a precursor count towards Top1Cause and
	// Top3Cause.
	Cause        string   `json:"cause"`
	HasPrecursor bool     `json:"has_precursor"`
	TopCauses    []string `json:"top_causes,omitempty"`
}

// FalseAlert is the first alert of a false-positive group.
type FalseAlert struct {
	Entity    map[string]string `json:"entity"`
	FiredAt   time.Time         `json:"fired_at"`
	TopCauses []string          `json:"top_causes"`
	// Near names the scenario on the alert's entity whose time the alert
	// falls closest to: "bait" when it fired during a false-alarm
	// precursor, "early" before a scenario's onset, "precursor" during a
	// failure's precursor (an alert that resolved before the horizon),
	// "failing" during a failure (grouped with alerts outside it),
	// "after" once the entity recovered; empty when no scenario touched
	// the entity.
	Near     string `json:"near,omitempty"`
	Scenario string `json:"scenario,omitempty"`
	// OffsetS is FiredAt − the scenario's onset, in seconds (negative
	// when the alert fired before it).
	OffsetS float64 `json:"offset_s,omitempty"`
}

// LateAlert is a late group: alerts on an entity that fired only while
// one of its failures lasted.
type LateAlert struct {
	Entity    map[string]string `json:"entity"`
	Scenario  string            `json:"scenario"`
	FiredAt   time.Time         `json:"fired_at"`
	TopCauses []string          `json:"top_causes"`
	// AfterFailureS is FiredAt − the failure's FailureAt, in seconds.
	AfterFailureS float64 `json:"after_failure_s"`
	// FiringS is how long the group fired: from its first alert to the
	// last one's resolution (0 when resolutions are not tracked);
	// FailureS how long the failure lasted (FailureAt to EndAt).
	FiringS  float64 `json:"firing_s"`
	FailureS float64 `json:"failure_s"`
	// Predicted says whether another alert predicted the failure.
	Predicted bool `json:"predicted"`
}

// KindReport is the part of a Report for one scenario kind.
type KindReport struct {
	Failures        int     `json:"failures"`
	Predicted       int     `json:"predicted"`
	FalseAlarmBait  int     `json:"false_alarm_bait"`
	BaitAlerted     int     `json:"bait_alerted"`
	LeadTimeMedianS float64 `json:"lead_time_median_s"`
}

// Matches reports whether an alert's entity designates the truth's: every
// label the two share among namespace, pod and service is equal, and they
// share pod or service.
func Matches(alert, truth map[string]string) bool {
	shared := false
	for _, k := range []string{"namespace", "pod", "service"} {
		av, aok := alert[k]
		tv, tok := truth[k]
		if !aok || !tok {
			continue
		}
		if av != tv {
			return false
		}
		if k != "namespace" {
			shared = true
		}
	}
	return shared
}

// EntityName joins the values of entityLabels in m with "/", as the
// features package names entities (e.g. "boutique/cartservice-7d9f8c6b5-xk2p1"
// for ["namespace", "pod"]; a value's "/" is written "%2F", its "%" "%25").
func EntityName(m map[string]string, entityLabels []string) string {
	var b strings.Builder
	for i, l := range entityLabels {
		if i > 0 {
			b.WriteByte(entityid.Sep)
		}
		entityid.Append(&b, m[l])
	}
	return b.String()
}

func entityKey(m map[string]string) string {
	keys := slices.Sorted(maps.Keys(m))
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(m[k])
		b.WriteByte(0)
	}
	return b.String()
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Score compares alerts with the ground truth. A failure counts as
// predicted when an alert matching its entity (Matches) fired before
// FailureAt, no earlier than the precursor's onset (or FailureAt−horizon
// when that is earlier), and was firing at some time in
// [FailureAt−horizon, FailureAt): an alert that fires when the precursor
// starts and keeps firing until the failure predicts it, one that fired
// before the precursor began does not. Its lead time and causes are those
// of the earliest such alert. Alerts on a failing entity during [FailureAt, EndAt]
// are late, not false. Every other alert group is a false positive, among
// them those on false-alarm bait.
func Score(truth []Truth, alerts []Alert, horizon time.Duration) Report {
	r := Report{Scenarios: len(truth), Alerts: len(alerts), ByScenario: map[string]KindReport{}}
	order := make([]int, len(alerts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return alerts[order[a]].FiredAt.Before(alerts[order[b]].FiredAt) })

	// Group alerts per entity and time.
	group := make([]int, len(alerts))
	lastOf := map[string]struct {
		g    int
		last time.Time
	}{}
	for _, i := range order {
		k := entityKey(alerts[i].Entity)
		if prev, ok := lastOf[k]; ok && alerts[i].FiredAt.Sub(prev.last) <= DedupWindow {
			group[i] = prev.g
			lastOf[k] = struct {
				g    int
				last time.Time
			}{prev.g, alerts[i].FiredAt}
			continue
		}
		group[i] = r.AlertGroups
		lastOf[k] = struct {
			g    int
			last time.Time
		}{r.AlertGroups, alerts[i].FiredAt}
		r.AlertGroups++
	}
	const (
		gFalse = iota
		gLate
		gTrue
	)
	gstate := make([]int, r.AlertGroups)
	late := make([]bool, len(alerts))
	lateOf := make([]int, len(alerts)) // the truth a late alert fired during

	predicted := make([]bool, len(truth))
	for ti, tr := range truth {
		kr := r.ByScenario[tr.Scenario]
		if !tr.Fails {
			r.FalseAlarmBait++
			kr.FalseAlarmBait++
			for _, i := range order {
				a := alerts[i]
				if Matches(a.Entity, tr.Entity) && !a.FiredAt.Before(tr.Onset) && !a.FiredAt.After(tr.EndAt) {
					kr.BaitAlerted++
					break
				}
			}
			r.ByScenario[tr.Scenario] = kr
			continue
		}
		r.Failures++
		kr.Failures++
		first := -1
		for _, i := range order {
			a := alerts[i]
			if !Matches(a.Entity, tr.Entity) {
				continue
			}
			earliest := tr.Onset
			if h := tr.FailureAt.Add(-horizon); h.Before(earliest) {
				earliest = h
			}
			switch {
			case !a.FiredAt.Before(earliest) && a.activeIn(tr.FailureAt.Add(-horizon), tr.FailureAt):
				if first < 0 {
					first = i
				}
				gstate[group[i]] = gTrue
			case !a.FiredAt.Before(tr.FailureAt) && !a.FiredAt.After(tr.EndAt):
				late[i], lateOf[i] = true, ti
			}
		}
		oc := Outcome{ID: tr.ID, Scenario: tr.Scenario, FailureAt: tr.FailureAt, Cause: tr.Cause, HasPrecursor: tr.HasPrecursor}
		if first >= 0 {
			oc.Predicted = true
			oc.LeadS = tr.FailureAt.Sub(alerts[first].FiredAt).Seconds()
			oc.TopCauses = alerts[first].TopCauses
			predicted[ti] = true
			r.Predicted++
			kr.Predicted++
		}
		r.Outcomes = append(r.Outcomes, oc)
		r.ByScenario[tr.Scenario] = kr
	}
	// A group that predicted nothing but fired only during failures is late.
	allLate := make([]bool, r.AlertGroups)
	for g := range allLate {
		allLate[g] = true
	}
	for i := range alerts {
		if !late[i] {
			allLate[group[i]] = false
		}
	}
	firstOf := make([]int, r.AlertGroups)
	for g := range firstOf {
		firstOf[g] = -1
	}
	for _, i := range order {
		if firstOf[group[i]] < 0 {
			firstOf[group[i]] = i
		}
	}
	for g, st := range gstate {
		switch {
		case st == gTrue:
			r.TruePositives++
		case allLate[g]:
			r.LateAlerts++
			r.Late = append(r.Late, describeLate(g, group, order, alerts, truth[lateOf[firstOf[g]]], predicted[lateOf[firstOf[g]]]))
		default:
			r.FalsePositives++
			r.FalseAlerts = append(r.FalseAlerts, describeFalse(alerts[firstOf[g]], truth))
		}
	}
	sort.SliceStable(r.FalseAlerts, func(a, b int) bool { return r.FalseAlerts[a].FiredAt.Before(r.FalseAlerts[b].FiredAt) })
	sort.SliceStable(r.Late, func(a, b int) bool { return r.Late[a].FiredAt.Before(r.Late[b].FiredAt) })
	r.ratios()
	return r
}

// describeLate describes the late group g (alerts i with group[i] == g,
// in firing order) that fired during the failure tr; predicted says
// whether an alert predicted tr.
func describeLate(g int, group, order []int, alerts []Alert, tr Truth, predicted bool) LateAlert {
	la := LateAlert{Scenario: tr.Scenario, FailureS: tr.EndAt.Sub(tr.FailureAt).Seconds(), Predicted: predicted}
	var end time.Time
	for _, i := range order {
		if group[i] != g {
			continue
		}
		a := alerts[i]
		if la.Entity == nil {
			la.Entity, la.FiredAt, la.TopCauses = a.Entity, a.FiredAt, a.TopCauses
			la.AfterFailureS = a.FiredAt.Sub(tr.FailureAt).Seconds()
		}
		if a.ResolvedAt.After(end) {
			end = a.ResolvedAt
		}
	}
	if !end.IsZero() {
		la.FiringS = end.Sub(la.FiredAt).Seconds()
	}
	return la
}

// ratios sets precision and recall from the counts, and the lead-time
// medians and cause ranks from the Outcomes.
func (r *Report) ratios() {
	r.Precision = ratio(r.TruePositives, r.TruePositives+r.FalsePositives)
	r.Recall = ratio(r.Predicted, r.Failures)
	var leads []float64
	kindLeads := map[string][]float64{}
	causeN, top1, top3 := 0, 0, 0
	for _, o := range r.Outcomes {
		if !o.Predicted {
			continue
		}
		leads = append(leads, o.LeadS)
		kindLeads[o.Scenario] = append(kindLeads[o.Scenario], o.LeadS)
		if o.HasPrecursor {
			causeN++
			if len(o.TopCauses) > 0 && o.TopCauses[0] == o.Cause {
				top1++
			}
			if slices.Contains(o.TopCauses[:min(3, len(o.TopCauses))], o.Cause) {
				top3++
			}
		}
	}
	r.LeadTimeMedianS = median(leads)
	r.Top1Cause = ratio(top1, causeN)
	r.Top3Cause = ratio(top3, causeN)
	for k, kr := range r.ByScenario {
		kr.LeadTimeMedianS = median(kindLeads[k])
		r.ByScenario[k] = kr
	}
}

// describeFalse places a false alert against the scenario on its entity
// nearest to it in time.
func describeFalse(a Alert, truth []Truth) FalseAlert {
	fa := FalseAlert{Entity: a.Entity, FiredAt: a.FiredAt, TopCauses: a.TopCauses}
	best := time.Duration(math.MaxInt64)
	for _, tr := range truth {
		if !Matches(a.Entity, tr.Entity) {
			continue
		}
		var near string
		var dist time.Duration
		switch {
		case a.FiredAt.Before(tr.Onset):
			near, dist = "early", tr.Onset.Sub(a.FiredAt)
		case a.FiredAt.After(tr.EndAt):
			near, dist = "after", a.FiredAt.Sub(tr.EndAt)
		case !tr.Fails:
			near = "bait"
		case a.FiredAt.Before(tr.FailureAt):
			near = "precursor" // but resolved before the horizon
		default:
			near = "failing"
		}
		if dist < best {
			best = dist
			fa.Near, fa.Scenario = near, tr.Scenario
			fa.OffsetS = a.FiredAt.Sub(tr.Onset).Seconds()
		}
	}
	return fa
}

// Pool combines the reports of several runs (other seeds of the fleet,
// say) into one: counts are summed, precision and recall recomputed from
// the sums, and the lead-time median and cause ranks taken over the
// failures of every run (their Outcomes), not averaged over runs.
func Pool(reports ...Report) Report {
	r := Report{ByScenario: map[string]KindReport{}}
	for _, x := range reports {
		r.Scenarios += x.Scenarios
		r.Failures += x.Failures
		r.FalseAlarmBait += x.FalseAlarmBait
		r.Predicted += x.Predicted
		r.Alerts += x.Alerts
		r.AlertGroups += x.AlertGroups
		r.TruePositives += x.TruePositives
		r.FalsePositives += x.FalsePositives
		r.LateAlerts += x.LateAlerts
		r.FalseAlerts = append(r.FalseAlerts, x.FalseAlerts...)
		r.Late = append(r.Late, x.Late...)
		r.Outcomes = append(r.Outcomes, x.Outcomes...)
		for k, kr := range x.ByScenario {
			p := r.ByScenario[k]
			p.Failures += kr.Failures
			p.Predicted += kr.Predicted
			p.FalseAlarmBait += kr.FalseAlarmBait
			p.BaitAlerted += kr.BaitAlerted
			r.ByScenario[k] = p
		}
	}
	r.ratios()
	return r
}
