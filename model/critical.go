package model

import "strconv"

// Between is the shortest decimal (3 significant digits or more) of the
// midpoint of lo and hi that lies strictly between them. Printed with too
// few digits, the midpoint of a threshold of 0.9996 and 1 read as 1.
func Between(lo, hi float64) string {
	mid := lo + (hi-lo)/2
	for prec := 3; prec < 17; prec++ {
		s := strconv.FormatFloat(mid, 'g', prec, 64)
		if v, err := strconv.ParseFloat(s, 64); err == nil && v > lo && v < hi {
			return s
		}
	}
	return strconv.FormatFloat(mid, 'g', -1, 64)
}

// CriticalSeparation is the least separation of a model's critical
// probability from its failure threshold, as a fraction of the
// threshold's distance to 0 or to 1, whichever is nearer: at least a
// quarter of the way to 1 for a threshold over 0.5, at least 1.25 times
// the threshold under it (a calibrated probability of failure within a
// short horizon may stay near 1 %, where a quarter of the way to 1 would
// never be reached). A model whose highest validation probability lies
// just over its threshold (or under it) still has warnings before its
// alerts are critical.
const CriticalSeparation = 0.25

// CriticalProbability is the critical probability (Thresholds.Critical)
// of a model whose failure threshold is failure and whose validation
// probabilities reached highest at most: failure + max((highest -
// failure)/2, CriticalSeparation·min(failure, 1 - failure)), midway
// between the threshold and the highest but not closer to the threshold
// than CriticalSeparation says, as the shortest decimal of it (Between),
// always under 1. Its alerts fire as warnings just over the threshold and
// escalate to critical when their probability rises that far. A
// calibrated probability of failure within a short horizon may never come
// near 1, so a fixed critical probability (0.9) may be one it never
// reaches. highest at or under failure (validation never reached the
// threshold) counts as failure: the least separation; highest outside
// [0, 1] (not measured) as 1: midway to 1. It never decreases as highest
// rises. 0 (none) for a failure threshold outside (0, 1), whose model
// never alerts.
func CriticalProbability(failure, highest float64) float64 {
	if !(failure > 0 && failure < 1) {
		return 0
	}
	if !(highest >= 0 && highest <= 1) {
		highest = 1
	}
	sep := max((max(highest, failure)-failure)/2, CriticalSeparation*min(failure, 1-failure))
	p, err := strconv.ParseFloat(Between(failure, min(failure+2*sep, 1)), 64)
	if err != nil || !(p > failure && p < 1) {
		return 0
	}
	return p
}

// ValidCritical is th.Critical when it lies strictly between the failure
// threshold and 1, else 0 (none: the daemon falls back as for a model
// file written before it was recorded).
func ValidCritical(th Thresholds) float64 {
	if th.Critical > th.Failure && th.Critical < 1 {
		return th.Critical
	}
	return 0
}
