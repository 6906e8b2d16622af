package store

import (
	"math"
	"slices"
	"sync"
	"testing"
)

func TestSetFailures(t *testing.T) {
	s := openTestMem(t)
	if err := s.PutSchema([]string{"f"}, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	old := Vector{Entity: "n/old", T: 1000, Values: []float64{1}, Failure: []bool{false, false}}
	if err := s.PutVectors([]Vector{
		{Entity: "n/p", T: 1000, Values: []float64{math.NaN()}, Failure: []bool{false, false}},
		{Entity: "n/p", T: 2000, Values: []float64{2.5}, Failure: []bool{false, true}},
		old,
	}); err != nil {
		t.Fatal(err)
	}
	// A new layout: the vector of n/old keeps its schema, whose labels
	// are a, b; the current one's are b, c.
	if err := s.PutSchema([]string{"f"}, []string{"b", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVectors([]Vector{{Entity: "n/new", T: 1000, Values: []float64{3}, Failure: []bool{false, false}}}); err != nil {
		t.Fatal(err)
	}
	set, err := s.SetFailures([]FailureMark{
		{Entity: "n/p", T: 1000, Label: "b"},
		{Entity: "n/p", T: 1000, Label: "a"},
		{Entity: "n/p", T: 1000, Label: "b"},   // twice in one call
		{Entity: "n/p", T: 2000, Label: "b"},   // set already
		{Entity: "n/p", T: 3000, Label: "a"},   // no vector
		{Entity: "n/old", T: 1000, Label: "c"}, // not in its schema
		{Entity: "n/new", T: 1000, Label: "c"},
		{Entity: "", T: 1000, Label: "a"}, // invalid entity
	})
	if err != nil {
		t.Fatal(err)
	}
	if set != 5 {
		t.Errorf("set = %d, want 5", set)
	}
	tests := []struct {
		entity string
		t      int64
		values []float64
		want   []bool
	}{
		{"n/p", 1000, []float64{math.NaN()}, []bool{true, true}},
		{"n/p", 2000, []float64{2.5}, []bool{false, true}},
		{"n/old", 1000, []float64{1}, []bool{false, false}},
		{"n/new", 1000, []float64{3}, []bool{false, true}},
	}
	for _, tt := range tests {
		var got []Vector
		if err := s.Vectors(tt.entity, tt.t, tt.t, func(v Vector) error { got = append(got, v); return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 {
			t.Fatalf("%s at %d: %d vectors, want 1", tt.entity, tt.t, len(got))
		}
		if !slices.Equal(got[0].Failure, tt.want) {
			t.Errorf("%s at %d: failure %v, want %v", tt.entity, tt.t, got[0].Failure, tt.want)
		}
		if !slices.EqualFunc(got[0].Values, tt.values, func(a, b float64) bool { return a == b || a != a && b != b }) {
			t.Errorf("%s at %d: values %v, want %v", tt.entity, tt.t, got[0].Values, tt.values)
		}
	}
	var none int
	if err := s.Vectors("n/p", 3000, 3000, func(Vector) error { none++; return nil }); err != nil || none != 0 {
		t.Errorf("n/p at 3000: %d vectors (err %v), want none created", none, err)
	}
}

// Concurrent calls that set different labels of one vector all keep
// theirs: each reads and rewrites the vector in one transaction.
func TestSetFailuresConcurrent(t *testing.T) {
	s := openTestMem(t)
	labels := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}
	if err := s.PutSchema([]string{"f"}, labels); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVectors([]Vector{{Entity: "n/p", T: 1000, Values: []float64{1}, Failure: make([]bool, len(labels))}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, l := range labels {
		wg.Go(func() {
			if _, err := s.SetFailures([]FailureMark{{Entity: "n/p", T: 1000, Label: l}}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var got Vector
	if err := s.Vectors("n/p", 1000, 1000, func(v Vector) error { got = v; return nil }); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(got.Failure, false) {
		t.Errorf("failure %v, want every label set", got.Failure)
	}
}
