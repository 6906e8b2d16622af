package app

import (
	"math"
	"testing"

	"github.com/omen-sre/omen/features"
)

func TestDropAbsent(t *testing.T) {
	nan := math.NaN()
	vs := []features.Vector{
		{Entity: "live", Values: []float64{1, 5, 0}},
		{Entity: "gone", Values: []float64{nan, 5, 0}}, // only the range feature and the event count remain
		{Entity: "starting", Values: []float64{0, nan, 0}},
	}
	got := dropAbsent(vs, []bool{true, false})
	if len(got) != 2 || got[0].Entity != "live" || got[1].Entity != "starting" {
		t.Errorf("kept %v, want live and starting", got)
	}
	// Without instant features, any PromQL value keeps an entity.
	vs = []features.Vector{{Entity: "a", Values: []float64{nan, 5, 0}}, {Entity: "b", Values: []float64{nan, nan, 3}}}
	got = dropAbsent(vs, []bool{false, false})
	if len(got) != 1 || got[0].Entity != "a" {
		t.Errorf("kept %v, want a", got)
	}
}
