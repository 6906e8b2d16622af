package intmath

// FloorDiv is a / b rounded towards −∞ (b > 0), where Go's / truncates
// towards zero: FloorDiv(-1, 1000) is -1, not 0.
func FloorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}
