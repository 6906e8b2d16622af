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

// CriticalProbability is the critical probability (Thresholds.Critical)
// of a model whose failure threshold is failure and whose validation
// probabilities reached highest at most: midway between the two (Between),
// so that its alerts fire as warnings just over the threshold and
// escalate to critical when their probability rises halfway to the
// highest the model gave on data it was not trained on. A calibrated
// probability of failure within a short horizon may never come near 1,
// so a fixed critical probability (0.9) may be one it never reaches;
// midway to 1 applies when highest is not over failure (not measured).
// 0 (none) for a failure threshold outside (0, 1), whose model never
// alerts.
func CriticalProbability(failure, highest float64) float64 {
	if !(failure > 0 && failure < 1) {
		return 0
	}
	if !(highest > failure && highest <= 1) {
		highest = 1
	}
	p, err := strconv.ParseFloat(Between(failure, highest), 64)
	if err != nil || !(p > failure && p < 1) {
		return 0
	}
	return p
}
