package threshold

import (
	"math"
)

// RobustPOT is POT with an exponential tail (γ = 0) whose scale is
// estimated from the median excess, σ = median(excess)/ln 2, instead of by
// maximum likelihood: z_q = t + σ·ln(N_t/(q·n)). The median ignores the few
// very large excesses that abnormal stretches in a calibration sample add
// (they would make an MLE fit heavy-tailed and move z_q by orders of
// magnitude) as long as they are fewer than half the excesses, i.e. under
// (1−Level)/2 of the sample (1 % at Level 0.98); the price is that a genuinely heavy (γ > 0) tail gets a lower
// threshold than POT's. Fit.Method is "exp-median". With fewer than 5
// excesses the threshold is the calibration maximum, as in POT; like POT's,
// the threshold is never at or below t (see aboveInitial).
func RobustPOT(scores []float64, opts POTOptions) (POTResult, error) {
	res, peaks, done, err := excesses(scores, &opts, "robust pot")
	if done || err != nil {
		return res, err
	}
	t := res.Initial
	// peaks is sorted (x is).
	sigma := quantileSorted(peaks, 0.5) / math.Ln2
	res.Fit = GPD{Gamma: 0, Sigma: sigma, LogLik: logLik(peaks, 0, sigma), Method: "exp-median"}
	res.Threshold = aboveInitial(t-sigma*math.Log(opts.Risk*float64(res.N)/float64(len(peaks))), t)
	return res, nil
}
