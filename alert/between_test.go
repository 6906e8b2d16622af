package alert

import "testing"

// TestBetween: the suggested critical probability lies strictly between
// the threshold and 1 as printed (it read "e.g. 1" for 0.9991).
func TestBetween(t *testing.T) {
	for _, tc := range []struct {
		lo   float64
		want string
	}{
		{0.5, "0.75"},
		{0.9991, "0.9995"},
		{0.9996, "0.9998"},
		{0.99999993, "0.99999996"},
	} {
		if got := Between(tc.lo, 1); got != tc.want {
			t.Errorf("Between(%g, 1) = %s, want %s", tc.lo, got, tc.want)
		}
	}
}
