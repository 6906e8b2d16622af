package mapshrink

import (
	"reflect"
	"testing"
)

func TestCompact(t *testing.T) {
	tests := []struct {
		name      string
		peak, len int
		rebuilt   bool
	}{
		{name: "below the least peak", peak: Min - 1, len: 0},
		{name: "shrunk by less than the factor", peak: 1000, len: 251},
		{name: "shrunk by the factor", peak: 1000, len: 250, rebuilt: true},
		{name: "emptied", peak: Min, len: 0, rebuilt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := map[int]int{}
			var p Peak
			for i := range tt.peak {
				m[i] = i
			}
			p.Note(len(m))
			for i := tt.len; i < tt.peak; i++ {
				delete(m, i)
			}
			p.Note(len(m)) // a smaller length does not lower the peak
			c := Compact(m, &p)
			if rebuilt := reflect.ValueOf(c).UnsafePointer() != reflect.ValueOf(m).UnsafePointer(); rebuilt != tt.rebuilt {
				t.Fatalf("rebuilt %v, want %v", rebuilt, tt.rebuilt)
			}
			wantPeak := tt.peak
			if tt.rebuilt {
				wantPeak = tt.len
			}
			if int(p) != wantPeak || len(c) != tt.len {
				t.Errorf("peak %d, %d entries, want %d, %d", p, len(c), wantPeak, tt.len)
			}
		})
	}
}
