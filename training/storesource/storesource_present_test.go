package storesource

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestLoadPresent: a step without a vector, and a step whose vector has
// no value in the Presence features (an absent entity's, stored by the
// daemon for its failure label only), are missing rows (NaN, not
// Present); the latter keeps its label. The daemon's windows have no row
// of either (app's scorer). Presence names none of the schema's features:
// every vector is a row (not every vector dropped).
func TestLoadPresent(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		presence []string
		present  []bool
		values   []float64 // feature cpu by step
	}{
		{presence: nil, present: []bool{true, false, true, true}, values: []float64{0, nan, nan, 3}},
		{presence: []string{"cpu"}, present: []bool{true, false, false, true}, values: []float64{0, nan, nan, 3}},
		{presence: []string{"other"}, present: []bool{true, false, true, true}, values: []float64{0, nan, nan, 3}},
		{presence: []string{"cpu", "restarts"}, present: []bool{true, false, true, true}, values: []float64{0, nan, nan, 3}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.presence), func(t *testing.T) {
			now := time.UnixMilli(1_000_000)
			st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if err := st.PutSchema([]string{"cpu", "restarts"}, []string{"down"}); err != nil {
				t.Fatal(err)
			}
			const step = 60_000
			base := now.UnixMilli() - 10*step
			vs := []store.Vector{
				{Entity: "ns/a", T: base, Values: []float64{0, 0}, Failure: []bool{false}},
				// Step 1 missing; at step 2 absent, failing.
				{Entity: "ns/a", T: base + 2*step, Values: []float64{nan, 5}, Failure: []bool{true}},
				{Entity: "ns/a", T: base + 3*step, Values: []float64{3, 0}, Failure: []bool{false}},
			}
			if err := st.PutVectors(vs); err != nil {
				t.Fatal(err)
			}
			if err := st.PutEntity("ns/a", map[string]string{"pod": "a"}, base); err != nil {
				t.Fatal(err)
			}
			src := &Source{Store: st, From: base, To: now.UnixMilli(), Step: step, Presence: tc.presence}
			got, err := src.Load(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			s := got[0]
			if !slices.Equal(s.Present, tc.present) {
				t.Errorf("present %v, want %v", s.Present, tc.present)
			}
			if want := []bool{false, false, true, false}; !slices.Equal(s.Labels, want) {
				t.Errorf("labels %v, want %v", s.Labels, want)
			}
			for k, want := range tc.values {
				if x := s.Row(k)[0]; x != want && !(math.IsNaN(x) && math.IsNaN(want)) {
					t.Errorf("step %d: cpu %v, want %v", k, x, want)
				}
			}
			// The absent vector's other values are missing too.
			if x := s.Row(2)[1]; tc.present[2] != !math.IsNaN(x) {
				t.Errorf("step 2: restarts %v with present %v", x, tc.present[2])
			}
		})
	}
}

// TestLoadBorn: an entity first seen within the range read is Born (the
// daemon's window of it started empty at its first vector, and scores it
// first W steps later); one first seen before it is not, its history
// going on before the range. With a list of entities none is (their
// FirstSeen is not read).
func TestLoadBorn(t *testing.T) {
	now := time.UnixMilli(10_000_000)
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Retention: 1000 * time.Hour, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.PutSchema([]string{"cpu"}, []string{"down"}); err != nil {
		t.Fatal(err)
	}
	const step = 60_000
	from := now.UnixMilli() - 20*step
	var vs []store.Vector
	for k := range 30 {
		ts := from - 10*step + int64(k)*step
		vs = append(vs, store.Vector{Entity: "ns/old", T: ts, Values: []float64{1}, Failure: []bool{false}})
		if ts >= from+2*step {
			vs = append(vs, store.Vector{Entity: "ns/new", T: ts, Values: []float64{1}, Failure: []bool{false}})
		}
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	if err := st.PutEntity("ns/old", map[string]string{"pod": "old"}, from-10*step); err != nil {
		t.Fatal(err)
	}
	if err := st.PutEntity("ns/new", map[string]string{"pod": "new"}, from+2*step); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		entities []string
		born     map[string]bool
	}{
		{entities: nil, born: map[string]bool{"ns/new": true, "ns/old": false}},
		{entities: []string{"ns/new", "ns/old"}, born: map[string]bool{"ns/new": false, "ns/old": false}},
	} {
		src := &Source{Store: st, Entities: tc.entities, From: from, To: now.UnixMilli(), Step: step}
		got, err := src.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d series, want 2", len(got))
		}
		for _, s := range got {
			if s.Born != tc.born[s.Entity] {
				t.Errorf("entities %v: %s born %v, want %v", tc.entities, s.Entity, s.Born, tc.born[s.Entity])
			}
			if s.Slice(1, s.Steps()).Born {
				t.Errorf("%s: a slice after its first step is born", s.Entity)
			}
		}
	}
}
