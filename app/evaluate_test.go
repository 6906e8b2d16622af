package app

import (
	"log/slog"
	"math"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

func TestDropAbsent(t *testing.T) {
	nan := math.NaN()
	vs := []features.Vector{
		{Entity: "live", Values: []float64{1, 5, 0}, Failure: []bool{false}},
		{Entity: "gone", Values: []float64{nan, 5, 0}, Failure: []bool{false}}, // only the range feature and the event count remain
		{Entity: "starting", Values: []float64{0, nan, 0}, Failure: []bool{false}},
		// A target down: its metrics are gone and its label 1 - up fires.
		{Entity: "down", Values: []float64{nan, nan, 0}, Failure: []bool{true}},
	}
	got, failing := dropAbsent(vs, []bool{true, false})
	if len(got) != 2 || got[0].Entity != "live" || got[1].Entity != "starting" {
		t.Errorf("kept %v, want live and starting", got)
	}
	if len(failing) != 1 || failing[0].Entity != "down" {
		t.Errorf("failing %v, want down (absent, its failure label set)", failing)
	}
	// Without instant features, any PromQL value keeps an entity.
	vs = []features.Vector{{Entity: "a", Values: []float64{nan, 5, 0}}, {Entity: "b", Values: []float64{nan, nan, 3}}}
	got, failing = dropAbsent(vs, []bool{false, false})
	if len(got) != 1 || got[0].Entity != "a" || len(failing) != 0 {
		t.Errorf("kept %v and failing %v, want a and none", got, failing)
	}
}

// A step with one entity the store cannot key (a NUL byte from a label
// value) stores the vectors and sightings of the others, and counts no
// step failure.
func TestEvaluatorStoreSkipsInvalidEntity(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := newEvaluator(evaluatorOptions{Store: st, Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	vs := []features.Vector{
		{Entity: "shop/cart-0", T: 60000, Values: []float64{1}},
		{Entity: "shop/bad\x00pod", T: 60000, Values: []float64{1}},
		{Entity: "shop/cart-1", T: 60000, Values: []float64{1}},
	}
	e.store(60000, vs)
	if n := testutil.ToFloat64(e.failures); n != 0 {
		t.Errorf("%v step failures, want 0", n)
	}
	es, err := st.Entities()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Errorf("%d entities stored, want 2: %+v", len(es), es)
	}
	for _, ent := range []string{"shop/cart-0", "shop/cart-1"} {
		n := 0
		if err := st.Vectors(ent, math.MinInt64, math.MaxInt64, func(store.Vector) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("%s: %d vectors stored, want 1", ent, n)
		}
	}
}
