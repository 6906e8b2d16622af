package alert

import "strconv"

// Between is the shortest decimal (3 significant digits or more) of the
// midpoint of lo and hi that lies strictly between them: a critical
// probability to suggest, or set, for a model whose failure threshold lo
// is at or above the one in force (hi 1), so that severity separates its
// alerts. Printed with too few digits it read as 1 for a threshold of
// 0.9996.
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
