package store

import (
	"errors"
	"maps"
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
