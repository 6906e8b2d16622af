package errclass

import "testing"

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{`found duplicate series for the match group {pod="a"} on the right hand-side of the operation: [{pod="a", x="1"}, {pod="a", x="2"}];many-to-many matching not allowed`,
			`found duplicate series for the match group {pod="b"} on the right hand-side of the operation: [{pod="b", x="3"}, {pod="b", x="4"}];many-to-many matching not allowed`, true},
		{"Scalar value 1e+300 overflows int64", "Scalar value -Inf overflows int64", true},
		{"parse error: unexpected end of input", "parse error: unexpected end of input", true},
		{"parse error: unexpected end of input", "vector cannot contain metrics with the same labelset", false},
		// The API client's errors of an answer without Prometheus's JSON:
		// the status is the cause (all were "client error: _").
		{"client error: 404", "client error: 429", false},
		{"server error: 502", "server error: 503", false},
		{"client error: 404", "client error: 404", true},
	} {
		if got := Of(tc.a) == Of(tc.b); got != tc.same {
			t.Errorf("Of(%q) == Of(%q): %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}
