package store

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// One record with an invalid entity (a NUL byte from a label value, or a
// name too long for a key) used to fail the whole call, so every step
// lost the vectors, sightings and predictions of every entity. It is now
// skipped and counted; the others are stored.
func TestInvalidEntitySkipped(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	bad := []string{"shop/a\x00b", "", strings.Repeat("p", MaxEntityLen+1)}
	for _, b := range bad {
		if err := ValidEntity(b); err == nil {
			t.Errorf("ValidEntity(%.20q) = nil", b)
		}
	}
	if err := ValidEntity("shop/cart-0"); err != nil {
		t.Fatal(err)
	}
	var vs []Vector
	var es []EntityInfo
	var ps []Prediction
	for _, e := range append([]string{"shop/cart-0"}, append(bad, "shop/cart-1")...) {
		vs = append(vs, Vector{Entity: e, T: 1000, Values: []float64{1}, Failure: []bool{false}})
		es = append(es, EntityInfo{ID: e, LastSeen: 1000})
		ps = append(ps, Prediction{Entity: e, T: 1000, Prob: 0.5})
	}
	if err := s.PutVectors(vs); err != nil {
		t.Fatalf("PutVectors: %v", err)
	}
	if err := s.PutEntities(es); err != nil {
		t.Fatalf("PutEntities: %v", err)
	}
	if err := s.PutPredictions(ps); err != nil {
		t.Fatalf("PutPredictions: %v", err)
	}
	if es[1].ID != bad[0] {
		t.Errorf("PutEntities modified the caller's slice: %q", es[1].ID)
	}
	for _, e := range []string{"shop/cart-0", "shop/cart-1"} {
		nv, np := 0, 0
		if err := s.Vectors(e, math.MinInt64, math.MaxInt64, func(Vector) error { nv++; return nil }); err != nil {
			t.Fatal(err)
		}
		if err := s.Predictions(e, math.MinInt64, math.MaxInt64, func(Prediction) error { np++; return nil }); err != nil {
			t.Fatal(err)
		}
		if nv != 1 || np != 1 {
			t.Errorf("%s: %d vectors, %d predictions stored, want 1 and 1", e, nv, np)
		}
	}
	got, err := s.Entities()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "shop/cart-0" || got[1].ID != "shop/cart-1" {
		t.Errorf("Entities = %+v, want the two valid ones", got)
	}
	latest, err := s.LatestPredictions()
	if err != nil {
		t.Fatal(err)
	}
	if len(latest) != 2 {
		t.Errorf("%d latest predictions, want 2", len(latest))
	}
	for _, k := range []string{"vector", "entity", "prediction"} {
		if n := testutil.ToFloat64(s.m.invalid.WithLabelValues(k)); n != float64(len(bad)) {
			t.Errorf("invalid_records_total{kind=%q} = %v, want %d", k, n, len(bad))
		}
	}
}

func TestPredictionsNewestFirst(t *testing.T) {
	s := openTest(t, Options{InMemory: true})
	var ps []Prediction
	for _, e := range []string{"a", "a/b", "b"} {
		for k := int64(1); k <= 5; k++ {
			ps = append(ps, Prediction{Entity: e, T: k * 1000, Prob: float64(k) / 10})
		}
	}
	if err := s.PutPredictions(ps); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, to int64
		want     []int64
	}{
		{math.MinInt64, math.MaxInt64, []int64{5000, 4000, 3000, 2000, 1000}},
		{2000, 4000, []int64{4000, 3000, 2000}},
		{2500, 3500, []int64{3000}},
		{6000, 7000, nil},
		{4000, 2000, nil},
	} {
		var got []int64
		if err := s.PredictionsNewestFirst("a", tc.from, tc.to, func(p Prediction) error {
			if p.Entity != "a" {
				t.Errorf("prediction of %q", p.Entity)
			}
			got = append(got, p.T)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("[%d, %d]: %v, want %v", tc.from, tc.to, got, tc.want)
		}
	}
	stop := errors.New("stop")
	n := 0
	err := s.PredictionsNewestFirst("b", math.MinInt64, math.MaxInt64, func(Prediction) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("stop: %v after %d", err, n)
	}
}
