package nezha

import (
	"math"
	"sort"
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
