package store

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

func TestPointLookups(t *testing.T) {
	s := openTestMem(t)
	if err := s.PutEntity("ns/a", map[string]string{"pod": "a"}, 1000); err != nil {
		t.Fatal(err)
	}
	if err := s.PutEntity("ns/a", map[string]string{"pod": "a", "v": "2"}, 2000); err != nil {
		t.Fatal(err)
	}
	if err := s.PutPredictions([]Prediction{{Entity: "ns/a", T: 2000, Prob: 0.7, ModelVersion: "v1"}, {Entity: "ns/a", T: 1000, Prob: 0.2}}); err != nil {
		t.Fatal(err)
	}
	e, err := s.Entity("ns/a")
	if err != nil || e.ID != "ns/a" || e.FirstSeen != 1000 || e.LastSeen != 2000 || !maps.Equal(e.Labels, map[string]string{"pod": "a", "v": "2"}) {
		t.Fatalf("Entity: %+v, %v", e, err)
	}
	p, err := s.LatestPrediction("ns/a")
	if err != nil || p.ID != PredictionID("ns/a", 2000) || p.T != 2000 || p.Prob != 0.7 || p.ModelVersion != "v1" {
		t.Fatalf("LatestPrediction: %+v, %v", p, err)
	}
	for _, id := range []string{"ns/b", "ns", ""} {
		if _, err := s.Entity(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Entity(%q): %v, want ErrNotFound", id, err)
		}
		if _, err := s.LatestPrediction(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("LatestPrediction(%q): %v, want ErrNotFound", id, err)
		}
	}
	_ = s.Close()
	if _, err := s.Entity("ns/a"); err == nil {
		t.Error("Entity after Close: no error")
	}
}

func TestEntitiesAfter(t *testing.T) {
	s := openTestMem(t)
	ids := []string{"a/1", "a/2", "b/1", "b/10", "b/2", "c/x"}
	for _, id := range ids {
		if err := s.PutEntity(id, map[string]string{"id": id}, 1000); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Entities()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		after string
		limit int
		want  []string
	}{
		{"", 0, ids},
		{"", 2, ids[:2]},
		{"a/2", 2, ids[2:4]},
		{"b", 10, ids[2:]},
		{"b/10", -1, ids[4:]},
		{"c/x", 5, nil},
		{"z", 5, nil},
	} {
		es, err := s.EntitiesAfter(tc.after, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.ID)
			if e.Labels["id"] != e.ID || e.LastSeen != 1000 {
				t.Errorf("%+v", e)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("after %q limit %d: %v, want %v", tc.after, tc.limit, got, tc.want)
		}
	}
	if es, _ := s.EntitiesAfter("", 0); !slices.EqualFunc(es, all, func(a, b EntityInfo) bool { return a.ID == b.ID && maps.Equal(a.Labels, b.Labels) }) {
		t.Errorf("every entity: %v, Entities %v", es, all)
	}
}
