package store

import (
	"slices"
	"testing"
)

func TestColumns(t *testing.T) {
	tests := []struct {
		from, to []string
		want     []int
	}{
		{from: []string{"a", "b", "c"}, to: []string{"c", "a", "d"}, want: []int{1, -1, 0}},
		{from: nil, to: []string{"a"}, want: []int{}},
		{from: []string{"a"}, to: nil, want: []int{-1}},
	}
	for _, tt := range tests {
		if got := Columns(tt.from, tt.to); !slices.Equal(got, tt.want) {
			t.Errorf("Columns(%q, %q) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
