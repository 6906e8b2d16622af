package threshold

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// GPD is a fitted generalized Pareto distribution of excesses.
type GPD struct {
	Gamma, Sigma float64
	// LogLik is the log-likelihood of the fit.
	LogLik float64
	// Method is "mle" or "moments" (POT), "exp-median" (robust), or
	// NoFit: too few excesses over the initial threshold for a tail, the
	// threshold being the calibration maximum.
	Method string
}

// NoFit is GPD.Method when too few excesses were fitted: no tail.
const NoFit = "none"

// POTOptions configure POT.
type POTOptions struct {
	// Risk q is the target exceedance probability of the returned
	// threshold (default 1e-3). Must lie in (0, 1−Level).
	Risk float64
	// Level is the empirical quantile used as the initial threshold
	// (default 0.98). Must lie in (0, 1).
	Level float64
}

func (o *POTOptions) defaults() error {
	if o.Risk == 0 {
		o.Risk = 1e-3
	}
	if o.Level == 0 {
		o.Level = 0.98
	}
	if !(o.Level > 0 && o.Level < 1) {
		return fmt.Errorf("level %v outside (0, 1)", o.Level)
	}
	if !(o.Risk > 0 && o.Risk < 1-o.Level) {
		return fmt.Errorf("risk %v outside (0, 1-level=%v)", o.Risk, 1-o.Level)
	}
	return nil
}

// POTResult is a POT threshold with the intermediate values.
type POTResult struct {
	Threshold float64
	Initial   float64 // t
	Peaks     int     // N_t
	N         int     // calibration sample size
	Fit       GPD
}

// POT returns the POT threshold of scores (NaN scores are ignored). It is
// always above the initial threshold t: when the tail formula gives z_q ≤ t
// (ties at t leave fewer than q·n excesses) it is the next float above t, so
// a test score ≥ it is exactly one above t.
func POT(scores []float64, opts POTOptions) (POTResult, error) {
	res, peaks, done, err := excesses(scores, &opts, "pot")
	if done || err != nil {
		return res, err
	}
	t, n := res.Initial, res.N
	fit, err := FitGPD(peaks)
	if err != nil {
		return res, fmt.Errorf("pot: %w", err)
	}
	res.Fit = fit
	r := opts.Risk * float64(n) / float64(len(peaks))
	if math.Abs(fit.Gamma) < 1e-9 {
		res.Threshold = t - fit.Sigma*math.Log(r)
	} else {
		res.Threshold = t + fit.Sigma/fit.Gamma*(math.Pow(r, -fit.Gamma)-1)
	}
	if math.IsNaN(res.Threshold) || math.IsInf(res.Threshold, 0) {
		return res, fmt.Errorf("pot: threshold %v from fit %+v", res.Threshold, fit)
	}
	res.Threshold = aboveInitial(res.Threshold, t)
	return res, nil
}

// aboveInitial returns z, or the next float above the initial threshold t
// when z is not above it. With scores tied at t, the excesses N_t can be
// fewer than q·n, so the tail formula puts z_q below t (even below 0); a
// threshold applied as score ≥ z would then flag the whole tied mass. The
// floor flags exactly the scores above t: the tail model says every one of
// them is rarer than q.
func aboveInitial(z, t float64) float64 {
	if z > t {
		return z
	}
	return math.Nextafter(t, math.Inf(1))
}

// MinScores is the fewest finite scores POT (and RobustPOT) fits a
// threshold to: fewer are an error.
const MinScores = 20

// excesses applies the defaults to opts and validates it, sorts the finite scores, takes the initial
// threshold at opts.Level and returns the excesses over it (sorted), with
// res.Initial, Peaks and N set. With fewer than 5 excesses there is no
// tail to fit: res holds the calibration maximum as the threshold, the
// most conservative label-free choice, and done is true. what names the
// caller in errors.
func excesses(scores []float64, opts *POTOptions, what string) (res POTResult, peaks []float64, done bool, err error) {
	if err := opts.defaults(); err != nil {
		return res, nil, false, fmt.Errorf("%s options: %w", what, err)
	}
	x := finite(scores)
	if len(x) < MinScores {
		return res, nil, false, fmt.Errorf("%s: %d finite scores, want at least %d", what, len(x), MinScores)
	}
	slices.Sort(x)
	t := quantileSorted(x, opts.Level)
	for _, v := range x {
		if v > t {
			peaks = append(peaks, v-t)
		}
	}
	res = POTResult{Initial: t, Peaks: len(peaks), N: len(x)}
	if len(peaks) < 5 {
		// The calibration maximum; above t also when the top 1 − Level
		// of the scores are tied at the maximum (no peaks at all).
		res.Threshold = aboveInitial(x[len(x)-1], t)
		res.Fit = GPD{Method: NoFit}
		return res, peaks, true, nil
	}
	return res, peaks, false, nil
}

// FitGPD fits a GPD to positive excesses y by maximum likelihood
// (Grimshaw's reduction to the roots of w(x) = u(x)·v(x) − 1, x = γ/σ).
// The candidates are the exponential (γ = 0), every root found and the
// method of moments; the one with the highest log-likelihood wins, so a
// root the search misses can only cost likelihood against those
// alternatives, never return a worse fit than theirs. Roots are searched on
// a grid that is linear (200 steps) and log-spaced (20 points a decade, from
// 1e-6/mean on, where w is still above rounding noise) over both the
// negative range (−1/max(y), 0) and the positive range (0, 2(ȳ−min)/min²]:
// the positive root of a heavy tail lies near γ/σ ≈ γ/ȳ, which a linear grid
// over a range set by a small min(y) steps over.
func FitGPD(y []float64) (GPD, error) {
	if len(y) < 2 {
		return GPD{}, errors.New("fit gpd: fewer than 2 excesses")
	}
	ymin, ymax, mean := math.Inf(1), 0.0, 0.0
	for _, v := range y {
		if !(v > 0) {
			return GPD{}, fmt.Errorf("fit gpd: excess %v is not positive", v)
		}
		ymin = min(ymin, v)
		ymax = max(ymax, v)
		mean += v
	}
	mean /= float64(len(y))

	// Candidates: the exponential (γ = 0), every root of w and the moments.
	best := GPD{Gamma: 0, Sigma: mean, LogLik: logLik(y, 0, mean), Method: "mle"}
	consider := func(x float64) {
		g := vfun(y, x) - 1
		if x == 0 {
			return
		}
		s := g / x
		if !(s > 0) {
			return
		}
		ll := logLik(y, g, s)
		if ll > best.LogLik {
			best = GPD{Gamma: g, Sigma: s, LogLik: ll, Method: "mle"}
		}
	}
	w := func(x float64) float64 { return ufun(y, x)*vfun(y, x) - 1 }
	const eps = 1e-8
	small := 1e-6 / mean // |x| below which w is rounding noise
	// Negative range (−1/ymax, 0): linear grid plus |x| log-spaced.
	lo := -1/ymax + eps
	neg := linGrid(lo, -eps, 200)
	for _, a := range logGrid(small, 1/ymax-eps/ymax) {
		neg = append(neg, -a)
	}
	for _, r := range roots(w, neg) {
		consider(r)
	}
	// Positive range (0, hi]: linear up to 2(ȳ−min)/(ȳ·min), log-spaced up
	// to Grimshaw's bound 2(ȳ−min)/min².
	hi := 2 * (mean - ymin) / (mean * ymin)
	if hi <= eps {
		hi = 1 / ymin
	}
	pos := append(linGrid(eps, hi, 200), logGrid(small, max(hi, 2*(mean-ymin)/(ymin*ymin)))...)
	for _, r := range roots(w, pos) {
		consider(r)
	}
	if mm, err := moments(y); err == nil && mm.Sigma > 0 && mm.LogLik > best.LogLik {
		best = mm
	}
	if math.IsInf(best.LogLik, 0) || math.IsNaN(best.LogLik) {
		return moments(y)
	}
	return best, nil
}

// linGrid returns steps+1 evenly spaced points over [a, b] (none when b ≤ a).
func linGrid(a, b float64, steps int) []float64 {
	if !(b > a) {
		return nil
	}
	out := make([]float64, 0, steps+1)
	h := (b - a) / float64(steps)
	for i := range steps + 1 {
		out = append(out, a+float64(i)*h)
	}
	return out
}

// logGrid returns points log-spaced at 20 a decade over [a, b], a > 0, with
// b itself last (none when b ≤ a).
func logGrid(a, b float64) []float64 {
	if !(a > 0) || !(b > a) || math.IsInf(b, 0) {
		return nil
	}
	const perDecade = 20
	k := int(math.Ceil(perDecade * math.Log10(b/a)))
	out := make([]float64, 0, k+1)
	for i := range k {
		out = append(out, a*math.Pow(10, float64(i)/perDecade))
	}
	return append(out, b)
}

func ufun(y []float64, x float64) float64 {
	s := 0.0
	for _, v := range y {
		s += 1 / (1 + x*v)
	}
	return s / float64(len(y))
}

func vfun(y []float64, x float64) float64 {
	s := 0.0
	for _, v := range y {
		s += math.Log(1 + x*v)
	}
	return 1 + s/float64(len(y))
}

func logLik(y []float64, g, s float64) float64 {
	n := float64(len(y))
	if math.Abs(g) < 1e-12 {
		sum := 0.0
		for _, v := range y {
			sum += v
		}
		return -n*math.Log(s) - sum/s
	}
	sum := 0.0
	for _, v := range y {
		z := 1 + g*v/s
		if z <= 0 {
			return math.Inf(-1)
		}
		sum += math.Log(z)
	}
	return -n*math.Log(s) - (1+1/g)*sum
}

// roots finds sign changes of f between consecutive points of grid (sorted
// first; duplicates are skipped) and refines each by bisection.
func roots(f func(float64) float64, grid []float64) []float64 {
	if len(grid) < 2 {
		return nil
	}
	slices.Sort(grid)
	var out []float64
	x0, f0 := grid[0], f(grid[0])
	for _, x1 := range grid[1:] {
		if !(x1 > x0) {
			continue
		}
		f1 := f(x1)
		if !math.IsNaN(f0) && !math.IsNaN(f1) && (f0 == 0 || f0*f1 < 0) {
			lo, hi, flo := x0, x1, f0
			for range 60 {
				mid := (lo + hi) / 2
				fm := f(mid)
				if (fm < 0) == (flo < 0) {
					lo, flo = mid, fm
				} else {
					hi = mid
				}
			}
			out = append(out, (lo+hi)/2)
		}
		x0, f0 = x1, f1
	}
	return out
}

func moments(y []float64) (GPD, error) {
	n := float64(len(y))
	m, v := 0.0, 0.0
	for _, x := range y {
		m += x
	}
	m /= n
	for _, x := range y {
		v += (x - m) * (x - m)
	}
	v /= n - 1
	if v == 0 {
		return GPD{}, errors.New("fit gpd: excesses have zero variance")
	}
	g := 0.5 * (1 - m*m/v)
	s := 0.5 * m * (m*m/v + 1)
	return GPD{Gamma: g, Sigma: s, LogLik: logLik(y, g, s), Method: "moments"}, nil
}

// Quantile returns the empirical p-quantile (linear interpolation) of the
// finite scores; NaN when there are none.
func Quantile(scores []float64, p float64) float64 {
	x := finite(scores)
	if len(x) == 0 {
		return math.NaN()
	}
	slices.Sort(x)
	return quantileSorted(x, p)
}

func quantileSorted(x []float64, p float64) float64 {
	if p <= 0 {
		return x[0]
	}
	if p >= 1 {
		return x[len(x)-1]
	}
	pos := p * float64(len(x)-1)
	i := int(pos)
	if i+1 >= len(x) {
		return x[len(x)-1]
	}
	f := pos - float64(i)
	return x[i]*(1-f) + x[i+1]*f
}

func finite(s []float64) []float64 {
	out := make([]float64, 0, len(s))
	for _, v := range s {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			out = append(out, v)
		}
	}
	return out
}
