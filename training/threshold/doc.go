// Package threshold chooses alarm thresholds from unlabelled scores.
//
// POT (peaks over threshold, Siffer et al., "Anomaly Detection in Streams
// with Extreme Value Theory", KDD 2017) takes a calibration sample of
// anomaly scores that contains no test data, sets an initial threshold t at
// a high empirical quantile (Level, e.g. 0.98), fits a generalized Pareto
// distribution (GPD) to the excesses over t by maximum likelihood
// (Grimshaw's reduction to a one-dimensional root search, with the
// exponential γ = 0 case as a candidate; method of moments as a fallback),
// and returns the score whose exceedance probability is Risk (q):
//
//	z_q = t + σ/γ · ((q·n/N_t)^(−γ) − 1)   (γ ≠ 0)
//	z_q = t − σ · ln(q·n/N_t)             (γ = 0)
//
// Both never return a threshold at or below t (ties at t can leave fewer
// excesses than q·n, putting z_q below t): it is then the next float above
// t, so that "score ≥ threshold" flags exactly the scores above t.
//
// RobustPOT keeps the exponential tail (γ = 0) and estimates its scale from
// the median excess, σ = median/ln 2, so that a few abnormal stretches in
// the calibration sample (fewer than half the excesses) cannot make the
// tail heavy and the threshold huge. Quantile is the plain empirical
// alternative. None of them ever sees labels.
package threshold
