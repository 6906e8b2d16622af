package training

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// AlertRule is the daemon's alert rule as Train's episode threshold sees
// it: an alert fires after For consecutive steps at or over the threshold
// and resolves after ResolveFor consecutive steps below ResolveRatio ×
// threshold (package alert's hysteresis).
type AlertRule struct {
	// For is the number of consecutive steps (default 2).
	For int
	// ResolveRatio is in (0, 1] (default 0.8).
	ResolveRatio float64
	// ResolveFor is the number of consecutive steps below ResolveRatio ×
	// threshold that resolve a firing alert (alerting.resolve_for;
	// default 1: the first such step).
	ResolveFor int
	// Lookback is how many steps before a failure onset an alert may fire
	// and still count as predicting it, provided it is still firing within
	// the horizon (default 3 × horizon): an alert that fired long before
	// is about something else.
	Lookback int
	// Margin, in logits (log-odds), makes EpisodeThreshold choose the
	// threshold whose worst F1 over every candidate within Margin of it is
	// best, rather than the best F1 itself: the failure head's
	// probabilities crowd near 1, where the validation F1 falls off a
	// cliff just above its maximum, and a fleet the model has not seen
	// shifts the probabilities by a fraction of a logit. Default 0.25;
	// negative disables it.
	Margin float64
	// MinLead, in steps, is the least validation median lead the chosen
	// threshold must give (EpisodeStats.LeadMedian): when the F1 choice
	// gives less, the threshold is lowered to the highest one that
	// reaches MinLead (LeadFloor), trading precision for warning time,
	// provided the F1 choice predicts at least MinLeadFloorOnsets
	// validation failures. 0 disables it.
	MinLead int
	// MissingSteps is how many consecutive steps without a prediction (a
	// NaN probability: a step the daemon does not score) keep the alert's
	// state: at the next one a firing alert resolves and a pending count
	// starts over (alert.Options.MissingSteps). Default 3
	// (alert.DefaultMissingSteps).
	MissingSteps int
}

func (r *AlertRule) defaults(horizon int) {
	if r.For < 1 {
		r.For = 2
	}
	if !(r.ResolveRatio > 0 && r.ResolveRatio <= 1) {
		r.ResolveRatio = 0.8
	}
	if r.ResolveFor < 1 {
		r.ResolveFor = 1
	}
	if r.Lookback < horizon {
		r.Lookback = 3 * horizon
	}
	if r.Margin == 0 {
		r.Margin = 0.25
	}
	if r.MissingSteps < 1 {
		r.MissingSteps = 3
	}
}

// ProbSeq is one entity's failure probabilities at consecutive steps and
// whether each step is failing. A NaN probability is a step without a
// prediction: a missing one (AlertRule.MissingSteps), unless Held.
type ProbSeq struct {
	Prob    []float64
	Failing []bool
	// Held, when not nil, marks the steps without a prediction where the
	// daemon has a vector of the entity but does not score it (its window
	// filling, or the entity absent with its failure label stored): the
	// alert rule leaves the alert's state as it is, neither a prediction
	// nor a missing step (package alert's Prediction.Unscored).
	Held []bool
}

// held reports whether step i of s is Held.
func (s *ProbSeq) held(i int) bool { return i < len(s.Held) && s.Held[i] }

// EpisodeStats is the alert rule's event-level result at one threshold.
type EpisodeStats struct {
	Threshold float64 `json:"threshold"`
	// Episodes are failure onsets (a failing step after a non-failing
	// one, or the first step); Predicted those an alert predicted.
	Episodes  int `json:"episodes"`
	Predicted int `json:"predicted"`
	// AlertGroups merge an entity's alerts that fire within a horizon of
	// the previous one; a group is a true positive when one of its alerts
	// predicted an onset, late when all fired while failing, false
	// otherwise.
	AlertGroups    int     `json:"alert_groups"`
	TruePositives  int     `json:"true_positives"`
	FalsePositives int     `json:"false_positives"`
	Precision      float64 `json:"precision"`
	Recall         float64 `json:"recall"`
	F1             float64 `json:"f1"`
	// LeadMedian is the median, over predicted onsets, of the steps from
	// the earliest predicting alert to the onset.
	LeadMedian float64 `json:"lead_median_steps"`
}

// EpisodeScore plays the alert rule over every sequence at threshold th
// and scores it against the failure onsets: an onset at step o is
// predicted by an alert that fired in [o−Lookback, o) and was firing at
// some step of [o−horizon, o).
func EpisodeScore(seqs []ProbSeq, th float64, horizon int, rule AlertRule) EpisodeStats {
	rule.defaults(horizon)
	st := EpisodeStats{Threshold: th}
	var leads []float64
	for _, s := range seqs {
		n := min(len(s.Prob), len(s.Failing))
		var onsets []int
		for i := 0; i < n; i++ {
			if s.Failing[i] && (i == 0 || !s.Failing[i-1]) {
				onsets = append(onsets, i)
			}
		}
		st.Episodes += len(onsets)
		spans := alertSpans(s, n, th, rule)
		// Match alerts with onsets.
		predicted := make([]bool, len(onsets))
		lead := make([]int, len(onsets)) // of the earliest predicting alert
		kind := make([]int, len(spans))  // 0 false, 1 late, 2 true
		for j, a := range spans {
			if s.Failing[a.fired] {
				kind[j] = 1
			}
			for k, o := range onsets {
				if a.fired < o && a.fired >= o-rule.Lookback && a.resolved > o-horizon {
					predicted[k] = true
					lead[k] = max(lead[k], o-a.fired)
					kind[j] = 2
				}
			}
		}
		for k, p := range predicted {
			if p {
				st.Predicted++
				leads = append(leads, float64(lead[k]))
			}
		}
		// Groups: alerts firing within a horizon of the previous one.
		for j := 0; j < len(spans); {
			g, late := 0, true
			k := j
			for ; k < len(spans) && (k == j || spans[k].fired-spans[k-1].fired <= horizon); k++ {
				g = max(g, kind[k])
				late = late && kind[k] == 1
			}
			st.AlertGroups++
			switch {
			case g == 2:
				st.TruePositives++
			case late:
			default:
				st.FalsePositives++
			}
			j = k
		}
	}
	if st.TruePositives+st.FalsePositives > 0 {
		st.Precision = float64(st.TruePositives) / float64(st.TruePositives+st.FalsePositives)
	}
	if st.Episodes > 0 {
		st.Recall = float64(st.Predicted) / float64(st.Episodes)
	}
	if st.Precision+st.Recall > 0 {
		st.F1 = 2 * st.Precision * st.Recall / (st.Precision + st.Recall)
	}
	if n := len(leads); n > 0 {
		slices.Sort(leads)
		st.LeadMedian = (leads[(n-1)/2] + leads[n/2]) / 2
	}
	return st
}

// alertSpan is an alert of the rule: it fires at step fired and resolves
// at step resolved (the sequence's length when it does not).
type alertSpan struct{ fired, resolved int } // [fired, resolved)

// alertSpans plays the alert rule (rule with its defaults applied) at
// threshold th over the first n steps of s, as package alert's
// hysteresis does: For consecutive steps at or over th fire, ResolveFor
// consecutive steps below ResolveRatio × th resolve (a step at or over it
// starts that count again; a missing one neither counts nor resets it); a
// NaN step is a missing prediction (the
// state holds for MissingSteps of them in a row, then a firing alert
// resolves and a pending count starts over) unless Held (the state holds,
// the missing count too).
func alertSpans(s ProbSeq, n int, th float64, rule AlertRule) []alertSpan {
	var spans []alertSpan
	firing, count, missing := false, 0, 0
	for i := 0; i < n; i++ {
		p := s.Prob[i]
		if s.held(i) {
			continue // the state as it is, the missing count too
		}
		if math.IsNaN(p) {
			// No prediction: the state holds for MissingSteps
			// steps, then a firing alert resolves and a pending
			// one is dropped (package alert).
			if missing++; missing > rule.MissingSteps {
				if firing {
					firing = false
					spans[len(spans)-1].resolved = i
				}
				count = 0
			}
			continue
		}
		missing = 0
		if firing {
			// count is the steps below the resolve threshold in a row.
			if p >= rule.ResolveRatio*th {
				count = 0
				continue
			}
			if count++; count >= rule.ResolveFor {
				firing, count = false, 0
				spans[len(spans)-1].resolved = i
			}
			continue
		}
		if p < th {
			count = 0
			continue
		}
		if count++; count >= rule.For {
			firing, count = true, 0
			spans = append(spans, alertSpan{fired: i, resolved: n})
		}
	}
	return spans
}

// EpisodeThreshold chooses the failure threshold whose alerts give the
// best event-level F1 (EpisodeScore) on the sequences: the quantity an SRE
// sees, alerts before failures against alerts for nothing, rather than
// the F1 of single windows. Candidates are the probabilities just before
// each onset, a grid of quantiles over the upper tail and a grid in
// logits. Each candidate is judged by its worst F1 within rule.Margin
// logits (so that the threshold keeps its distance from the cliff where
// recall collapses), and of the candidates within 0.01 of the best, the
// lowest is returned: it alerts earliest. It returns ok false when the
// sequences hold no onset.
func EpisodeThreshold(seqs []ProbSeq, horizon int, rule AlertRule) (EpisodeStats, bool) {
	rule.defaults(horizon)
	return chooseThreshold(EpisodeCurve(seqs, horizon, rule), rule)
}

// chooseThreshold is EpisodeThreshold's choice on the curve stats of
// EpisodeCurve; rule has its defaults applied.
func chooseThreshold(stats []EpisodeStats, rule AlertRule) (EpisodeStats, bool) {
	if len(stats) == 0 {
		return EpisodeStats{}, false
	}
	// robust[i] is the worst F1 within rule.Margin logits of threshold i.
	robust := make([]float64, len(stats))
	lo := 0
	for i := range stats {
		robust[i] = stats[i].F1
		if rule.Margin < 0 {
			continue
		}
		zi := logit(stats[i].Threshold)
		for lo < i && zi-logit(stats[lo].Threshold) > rule.Margin {
			lo++
		}
		for j := lo; j < len(stats) && logit(stats[j].Threshold)-zi <= rule.Margin; j++ {
			robust[i] = math.Min(robust[i], stats[j].F1)
		}
	}
	best := -1.0
	for _, r := range robust {
		best = math.Max(best, r)
	}
	// The lowest threshold within 0.01 of the best: of thresholds that do
	// equally well on validation, it alerts earliest.
	for i, r := range robust {
		if r >= best-0.01 {
			return stats[i], true
		}
	}
	return stats[len(stats)-1], true
}

// logit is log(p/(1−p)), with p kept within [1e-15, 1−1e-15] so that
// saturated probabilities (exactly 0 or 1 in float32) stay finite.
func logit(p float64) float64 {
	p = min(max(p, 1e-15), 1-1e-15)
	return math.Log(p) - math.Log1p(-p)
}

// EpisodeCurve scores the alert rule (EpisodeScore) at every candidate
// threshold of EpisodeThreshold, in increasing order of threshold; it is
// empty when the sequences hold no onset.
func EpisodeCurve(seqs []ProbSeq, horizon int, rule AlertRule) []EpisodeStats {
	rule.defaults(horizon)
	var all []float64
	cands := map[float64]bool{}
	for _, s := range seqs {
		n := min(len(s.Prob), len(s.Failing))
		for i := 0; i < n; i++ {
			if p := s.Prob[i]; !math.IsNaN(p) {
				all = append(all, p)
			}
			if s.Failing[i] && (i == 0 || !s.Failing[i-1]) {
				// The highest level held for rule.For predictions in a
				// row before the onset (steps without one skipped, up to
				// MissingSteps missing ones in a row, held ones not
				// counted, as the alert rule does).
				var run []float64
				gap := 0
				for k := max(0, i-horizon); k < i; k++ {
					p := s.Prob[k]
					if s.held(k) {
						continue
					}
					if math.IsNaN(p) {
						if gap++; gap > rule.MissingSteps {
							run = run[:0]
						}
						continue
					}
					gap = 0
					run = append(run, p)
					if len(run) < rule.For {
						continue
					}
					lo := math.Inf(1)
					for _, q := range run[len(run)-rule.For:] {
						lo = math.Min(lo, q)
					}
					if !math.IsInf(lo, 0) {
						cands[lo] = true
					}
				}
			}
		}
	}
	if len(all) == 0 {
		return nil
	}
	slices.Sort(all)
	const grid = 200
	for i := range grid {
		q := 0.9 + 0.1*float64(i)/grid
		cands[all[min(int(q*float64(len(all))), len(all)-1)]] = true
	}
	// And a grid in logits from the 0.9 quantile to the top, so that
	// EpisodeThreshold's margin finds candidates between sparse levels.
	// (logit keeps both ends finite: at most about 1,400 candidates.)
	for z, z1 := logit(all[int(0.9*float64(len(all)-1))]), logit(all[len(all)-1]); z < z1; z += 0.05 {
		cands[1/(1+math.Exp(-z))] = true
	}
	ths := make([]float64, 0, len(cands))
	for c := range cands {
		if c > 0 {
			ths = append(ths, c)
		}
	}
	slices.Sort(ths)
	stats := make([]EpisodeStats, len(ths))
	for i, th := range ths {
		stats[i] = EpisodeScore(seqs, th, horizon, rule)
	}
	if len(ths) == 0 || stats[0].Episodes == 0 {
		return nil
	}
	return stats
}

// LeadSteps converts a lead floor to whole steps of length step, rounding
// up (AlertRule.MinLead); 0 for a non-positive lead or step.
func LeadSteps(lead, step time.Duration) int {
	if lead <= 0 || step <= 0 {
		return 0
	}
	return int((lead + step - 1) / step)
}

// MinLeadFloorOnsets is the fewest validation failures the F1 choice
// must predict for Train to apply the lead floor (AlertRule.MinLead):
// below it the validation median lead is too noisy to act on.
const MinLeadFloorOnsets = 10

// applyLeadFloor lowers the F1 choice es with LeadFloor when es predicts
// at least MinLeadFloorOnsets validation failures, and returns the
// threshold with a note for the thresholds' method ("" when the floor
// did not bind); tooFew reports that the floor would have lowered it but
// es predicts too few failures.
func applyLeadFloor(curve []EpisodeStats, es EpisodeStats, minLead int) (_ EpisodeStats, note string, tooFew bool) {
	lowered, ok := LeadFloor(curve, es, minLead)
	switch {
	case !ok:
		return es, "", false
	case es.Predicted < MinLeadFloorOnsets:
		// A median of a handful of leads says little, and lowering the
		// threshold for it can cost many false alerts.
		return es, fmt.Sprintf(", lead floor not applied: %d predicted validation failures, fewer than %d", es.Predicted, MinLeadFloorOnsets), true
	}
	return lowered, fmt.Sprintf(", lowered from %.5g to a median lead of %d steps", es.Threshold, minLead), false
}

// LeadFloor returns chosen when its validation median lead reaches
// minLead steps (or minLead is 0), else the highest threshold of the
// curve below chosen's that predicts something and reaches minLead; ok
// reports whether it lowered the threshold. When no threshold reaches
// minLead, chosen stands.
func LeadFloor(curve []EpisodeStats, chosen EpisodeStats, minLead int) (EpisodeStats, bool) {
	if minLead <= 0 || chosen.LeadMedian >= float64(minLead) {
		return chosen, false
	}
	best, found := chosen, false
	for _, e := range curve {
		if e.Threshold < chosen.Threshold && e.Predicted > 0 && e.LeadMedian >= float64(minLead) && (!found || e.Threshold > best.Threshold) {
			best, found = e, true
		}
	}
	return best, found
}
