package threshold

import (
	"fmt"
	"math"
	"slices"
)

// SPOTResult is the outcome of SPOT over a stream.
type SPOTResult struct {
	// Alarm[i] reports whether stream[i] reached the threshold in force
	// when it arrived (score ≥ threshold, as metrics.Threshold flags).
	Alarm []bool
	// Threshold[i] is the threshold stream[i] was compared with.
	Threshold []float64
	// Init is the calibration result the stream started from.
	Init POTResult
}

// SPOT is the streaming POT of Siffer et al. (KDD 2017, algorithm SPOT):
// the tail is first fitted to the calibration scores as by POT (robust:
// RobustPOT's median-scaled exponential; otherwise a GPD by maximum
// likelihood); then every stream score, in order, is compared with the
// current threshold z. A score at or above z is an alarm (the same ≥ as
// metrics.Threshold applies to a fixed threshold) and leaves the model
// unchanged; any other score counts towards n and, if it exceeds the initial
// threshold t, its excess joins the peaks and the tail is refitted (the GPD
// each time the peaks have grown by 1 %), so z follows the level of the
// unflagged stream. No label is used. A +Inf stream score (a residual too
// large to hold) is an alarm, as it is for metrics.Threshold, and, like
// every alarm, stays out of the tail fit; NaN and -Inf stream scores are
// never alarms and are skipped (they count towards neither n nor the
// peaks).
func SPOT(calib, stream []float64, opts POTOptions, robust bool) (SPOTResult, error) {
	fit := POT
	if robust {
		fit = RobustPOT
	}
	init, err := fit(calib, opts)
	if err != nil {
		return SPOTResult{}, fmt.Errorf("spot: %w", err)
	}
	_ = opts.defaults()
	res := SPOTResult{Alarm: make([]bool, len(stream)), Threshold: make([]float64, len(stream)), Init: init}
	t, z := init.Initial, init.Threshold
	n := init.N
	var peaks []float64 // sorted excesses
	for _, v := range finite(calib) {
		if v > t {
			peaks = append(peaks, v-t)
		}
	}
	slices.Sort(peaks)
	gamma, sigma := init.Fit.Gamma, init.Fit.Sigma
	ok := init.Fit.Method != NoFit
	// refit re-estimates the tail from the peaks: the median at every new
	// peak, the GPD (maximum likelihood, the costly part) whenever the
	// peaks have grown by 1 % since its last fit; threshold recomputes z for
	// the current n and N_t.
	fitted := len(peaks)
	refit := func() {
		if len(peaks) < 5 {
			return
		}
		if robust {
			gamma, sigma, ok = 0, quantileSorted(peaks, 0.5)/math.Ln2, true
			return
		}
		if len(peaks) < fitted+max(1, fitted/100) {
			return
		}
		fitted = len(peaks)
		if g, err := FitGPD(peaks); err == nil {
			gamma, sigma, ok = g.Gamma, g.Sigma, true
		}
	}
	threshold := func() {
		if !ok || len(peaks) < 5 {
			return
		}
		r := opts.Risk * float64(n) / float64(len(peaks))
		var nz float64
		if math.Abs(gamma) < 1e-9 {
			nz = t - sigma*math.Log(r)
		} else {
			nz = t + sigma/gamma*(math.Pow(r, -gamma)-1)
		}
		if !math.IsNaN(nz) && !math.IsInf(nz, 0) {
			z = aboveInitial(nz, t)
		}
	}
	for i, v := range stream {
		res.Threshold[i] = z
		if math.IsNaN(v) || math.IsInf(v, -1) {
			continue
		}
		if v >= z {
			res.Alarm[i] = true
			continue
		}
		n++
		if v > t {
			e := v - t
			j, _ := slices.BinarySearch(peaks, e)
			peaks = slices.Insert(peaks, j, e)
			refit()
		}
		threshold()
	}
	return res, nil
}
