package nezha

import (
	"math"
	"sort"
	"time"
)

// robust returns the median and a robust scale of the non-NaN values: the
// IQR/1.349, else 1.4826·MAD when the IQR is zero, else the standard
// deviation (for quantised metrics that sit on one value most of the time).
func robust(v []float64) (med, scale float64, n int) {
	x := make([]float64, 0, len(v))
	for _, a := range v {
		if !math.IsNaN(a) {
			x = append(x, a)
		}
	}
	if len(x) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(x)
	med = quant(x, .5)
	scale = (quant(x, .75) - quant(x, .25)) / 1.349
	if scale == 0 {
		d := make([]float64, len(x))
		for i, a := range x {
			d[i] = math.Abs(a - med)
		}
		sort.Float64s(d)
		scale = 1.4826 * quant(d, .5)
	}
	if scale == 0 {
		var m, ss float64
		for _, a := range x {
			m += a
		}
		m /= float64(len(x))
		for _, a := range x {
			ss += (a - m) * (a - m)
		}
		scale = math.Sqrt(ss / float64(len(x)))
	}
	return med, scale, len(x)
}

func quant(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	i := int(pos)
	if i+1 >= len(sorted) {
		return sorted[len(sorted)-1]
	}
	f := pos - float64(i)
	return sorted[i]*(1-f) + sorted[i+1]*f
}

// window returns the row range [lo, hi) of times in [from, to).
func window(times []int64, from, to int64) (int, int) {
	lo := sort.Search(len(times), func(i int) bool { return times[i] >= from })
	hi := sort.Search(len(times), func(i int) bool { return times[i] >= to })
	return lo, hi
}

// scorer computes column scores at one inject time t0.
type scorer struct {
	t0, win int64
	// base is the clean baseline length wanted (seconds), lookback how
	// far before t0 it may be gathered, span how long a fault's effects
	// last (its own window is never baseline).
	base, lookback, span int64
	minBase              int
	persist              int
	noiseQ               float64
	noiseWin             bool
	// skip lists [from, to) intervals (other faults' windows) left out of
	// the baseline.
	skip [][2]int64
}

func newScorer(day *Day, fi int, o Options) *scorer {
	t0 := day.Faults[fi].Time.Unix()
	sc := &scorer{t0: t0, win: int64(o.Window / time.Second), base: int64(o.Baseline / time.Second),
		lookback: int64(o.Lookback / time.Second), span: int64(o.FaultSpan / time.Second),
		minBase: o.MinBaseline, persist: o.Persist, noiseQ: o.NoiseQuantile, noiseWin: !o.NoiseQuantileMode}
	if !o.KeepFaultWindows {
		for j, f := range day.Faults {
			if j != fi {
				ft := f.Time.Unix()
				sc.skip = append(sc.skip, [2]int64{ft, ft + sc.span})
			}
		}
	}
	return sc
}

func (sc *scorer) clean(t int64) bool {
	for _, k := range sc.skip {
		if t >= k[0] && t < k[1] {
			return false
		}
	}
	return true
}

// baseline returns the baseline values of a column: the clean samples
// (outside the other faults' windows) of the last base seconds of clean
// time before t0, looking back at most lookback seconds. Data files may
// start shortly before their first fault (a deployment would have hours of
// history); when fewer than minBase samples are found, clean samples after
// the fault's own span are added up to the same count.
func (sc *scorer) baseline(times []int64, v []float64) []float64 {
	lo, hi := window(times, sc.t0-sc.lookback, sc.t0)
	step := sampleStep(times)
	want := int(sc.base / step)
	if want < 1 {
		want = 1
	}
	var bv []float64
	for i := hi - 1; i >= lo && len(bv) < want; i-- {
		if sc.clean(times[i]) && !math.IsNaN(v[i]) {
			bv = append(bv, v[i])
		}
	}
	if len(bv) < sc.minBase {
		plo, _ := window(times, sc.t0+sc.span, math.MaxInt64)
		for i := plo; i < len(times) && len(bv) < want; i++ {
			if sc.clean(times[i]) && !math.IsNaN(v[i]) {
				bv = append(bv, v[i])
			}
		}
	}
	return bv
}

// sampleStep is the median spacing of times (60 s when unknown).
func sampleStep(times []int64) int64 {
	if len(times) < 2 {
		return 60
	}
	d := make([]float64, 0, min(len(times)-1, 64))
	for i := 1; i < len(times) && len(d) < cap(d); i++ {
		d = append(d, float64(times[i]-times[i-1]))
	}
	sort.Float64s(d)
	if s := int64(quant(d, .5)); s > 0 {
		return s
	}
	return 60
}

// colScore is one column's anomaly at t0: up and down are the robust
// z-scores of rises and drops (see columnScore), rel the relative change
// of the window median against the baseline median.
type colScore struct{ up, down, rel float64 }

func (c colScore) max() float64 { return math.Max(c.up, c.down) }

func (sc *scorer) score(times []int64, v []float64) colScore {
	alo, ahi := window(times, sc.t0, sc.t0+sc.win)
	if ahi == alo {
		return colScore{}
	}
	bv := sc.baseline(times, v)
	var up, down float64
	if sc.noiseWin {
		up, down = windowScore(bv, v[alo:ahi], sc.persist)
	} else {
		up, down = columnScore(bv, v[alo:ahi], sc.persist, sc.noiseQ)
	}
	var rel float64
	mb, _, nb := robust(bv)
	mw, _, nw := robust(v[alo:ahi])
	if nb > 0 && nw > 0 {
		rel = math.Abs(mw-mb) / (math.Abs(mb) + 1e-9)
	}
	return colScore{up, down, rel}
}

// columnScore returns the persist-th largest (x−median)/scale (up) and
// (median−x)/scale (down) over the window, each divided by the
// noiseQ-quantile of |x−median|/scale over the baseline when that exceeds
// 1, so that metrics that are spiky in normal operation weigh less. The
// scale is robust (see robust), at least 1% of the median.
func columnScore(base, win []float64, persist int, noiseQ float64) (up, down float64) {
	med, scale, n := robust(base)
	if n < 2 {
		return 0, 0
	}
	scale = math.Max(scale, 0.01*math.Abs(med)+1e-9)
	ups := make([]float64, 0, len(win))
	downs := make([]float64, 0, len(win))
	for _, v := range win {
		if !math.IsNaN(v) {
			ups = append(ups, math.Max(0, (v-med)/scale))
			downs = append(downs, math.Max(0, (med-v)/scale))
		}
	}
	if len(ups) < persist {
		// Fewer valid samples than the persistence asks for: a single
		// sample is no evidence (and latency histograms are NaN while a
		// pod serves nothing).
		return 0, 0
	}
	k := persist - 1
	sort.Sort(sort.Reverse(sort.Float64Slice(ups)))
	sort.Sort(sort.Reverse(sort.Float64Slice(downs)))
	up, down = ups[k], downs[k]
	if noiseQ > 0 {
		bz := make([]float64, 0, len(base))
		for _, v := range base {
			if !math.IsNaN(v) {
				bz = append(bz, math.Abs(v-med)/scale)
			}
		}
		sort.Float64s(bz)
		if q := quant(bz, noiseQ); q > 1 {
			up, down = up/q, down/q
		}
	}
	return up, down
}

// windowScore is columnScore with a contamination-robust noise
// normalisation: the window's scores are divided by the median, over all
// runs of len(win) consecutive baseline samples, of the same statistic
// (the persist-th largest |x−median|/scale of the run) when that exceeds
// 1. A metric that is spiky in normal operation has high typical run
// scores and weighs less; an unlabelled incident inside the baseline
// touches only a minority of the runs and does not silence the metric the
// way a high quantile of single samples does.
func windowScore(base, win []float64, persist int) (up, down float64) {
	up, down = columnScore(base, win, persist, 0)
	med, scale, n := robust(base)
	m := 0
	for _, v := range win {
		if !math.IsNaN(v) {
			m++
		}
	}
	if n < 2 || m < persist || len(base) < m {
		return up, down
	}
	scale = math.Max(scale, 0.01*math.Abs(med)+1e-9)
	k := persist - 1
	runs := make([]float64, 0, len(base)-m+1)
	z := make([]float64, m)
	for i := 0; i+m <= len(base); i++ {
		for j := 0; j < m; j++ {
			z[j] = math.Abs(base[i+j]-med) / scale
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(z)))
		runs = append(runs, z[k])
	}
	sort.Float64s(runs)
	if q := quant(runs, .5); q > 1 {
		up, down = up/q, down/q
	}
	return up, down
}
