package intmath

import (
	"math"
	"testing"
)

func TestFloorDiv(t *testing.T) {
	tests := []struct{ a, b, want int64 }{
		{a: 0, b: 1000, want: 0},
		{a: 999, b: 1000, want: 0},
		{a: 1000, b: 1000, want: 1},
		{a: -1, b: 1000, want: -1},
		{a: -1000, b: 1000, want: -1},
		{a: -1001, b: 1000, want: -2},
		{a: math.MinInt64, b: 1_000_000, want: math.MinInt64/1_000_000 - 1},
		{a: math.MinInt64 + 1, b: 2, want: math.MinInt64 / 2},
	}
	for _, tt := range tests {
		if got := FloorDiv(tt.a, tt.b); got != tt.want {
			t.Errorf("FloorDiv(%d, %d) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
