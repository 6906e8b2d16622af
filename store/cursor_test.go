package store

import (
	"math"
	"testing"
)

// TestStepCursor: a new store has no step cursor; PutStepCursor overwrites
// it (negative and extreme times round-trip), and it survives a reopen.
func TestStepCursor(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Path: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.StepCursor(); err != nil || ok {
		t.Fatalf("new store: ok %v, err %v; want no cursor", ok, err)
	}
	for _, want := range []int64{1_700_000_015_000, -15_000, math.MinInt64, math.MaxInt64, 1_700_000_030_000} {
		if err := s.PutStepCursor(want); err != nil {
			t.Fatal(err)
		}
		if got, ok, err := s.StepCursor(); err != nil || !ok || got != want {
			t.Fatalf("StepCursor() = %d, %v, %v; want %d", got, ok, err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.StepCursor(); err == nil {
		t.Error("StepCursor after Close: no error")
	}
	s = openTest(t, Options{Path: dir})
	if got, ok, err := s.StepCursor(); err != nil || !ok || got != 1_700_000_030_000 {
		t.Errorf("after reopen: %d, %v, %v; want 1700000030000", got, ok, err)
	}
}

// BenchmarkPutStepCursor is the evaluator's per-step cost of the cursor:
// one small fsync'd transaction on disk.
func BenchmarkPutStepCursor(b *testing.B) {
	s := openTest(b, Options{})
	t := int64(1_700_000_000_000)
	b.ReportAllocs()
	for b.Loop() {
		t += 15_000
		if err := s.PutStepCursor(t); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPutVectorsStepCursor: the cursor is written with the vectors.
func TestPutVectorsStepCursor(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	vs := []Vector{{Entity: "a", T: 30_000, Values: []float64{1}}, {Entity: "b", T: 30_000, Values: []float64{2}}}
	if err := s.PutVectorsStepCursor(vs, 15_000); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.StepCursor(); err != nil || !ok || got != 15_000 {
		t.Errorf("StepCursor() = %d, %v, %v; want 15000", got, ok, err)
	}
	n := 0
	if err := s.Vectors("b", 0, 1<<40, func(Vector) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("vectors of b: %d, %v; want 1", n, err)
	}
}

// BenchmarkVectorsStepCursor: a step's vectors (100 entities, 20
// features) on disk, without and with the step cursor in their
// transaction.
func BenchmarkVectorsStepCursor(b *testing.B) {
	for _, with := range []bool{false, true} {
		name := "without"
		if with {
			name = "with"
		}
		b.Run(name, func(b *testing.B) {
			s := openTest(b, Options{})
			vs := make([]Vector, 100)
			for i := range vs {
				vs[i] = Vector{Entity: "ns/pod-" + string(rune('a'+i%26)) + string(rune('a'+i/26)), Values: make([]float64, 20)}
			}
			t := int64(1_700_000_000_000)
			b.ReportAllocs()
			for b.Loop() {
				t += 15_000
				for i := range vs {
					vs[i].T = t
				}
				var err error
				if with {
					err = s.PutVectorsStepCursor(vs, t-15_000)
				} else {
					err = s.PutVectors(vs)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
