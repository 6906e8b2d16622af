package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
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

// TestNewestPrediction: the newest of the latest predictions, kept in
// memory after one read of them all, equals LatestPredictions' newest
// through puts (older, newer, of new entities) and retention deleting it.
func TestNewestPrediction(t *testing.T) {
	const h = int64(3600 * 1000)
	s := openTest(t, Options{Path: t.TempDir(), Retention: 10 * time.Hour, NoSync: true})
	check := func(step string) {
		t.Helper()
		want, n := newestOfLatest(t, s)
		got, err := s.NewestPrediction()
		if n == 0 {
			if !errors.Is(err, ErrNotFound) {
				t.Fatalf("%s: %d, %v; want ErrNotFound", step, got, err)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("%s: %d, %v; want %d", step, got, err, want)
		}
	}
	put := func(ps ...Prediction) {
		t.Helper()
		if err := s.PutPredictions(ps); err != nil {
			t.Fatal(err)
		}
	}
	check("empty")
	put(Prediction{Entity: "ns/a", T: 20 * h}, Prediction{Entity: "ns/b", T: 30 * h})
	check("first")
	put(Prediction{Entity: "ns/b", T: 25 * h}) // older: ns/b's latest stays
	check("older")
	put(Prediction{Entity: "ns/c", T: 40 * h}, Prediction{Entity: "ns/a", T: 35 * h})
	check("newer")
	put(Prediction{Entity: "ns/c", T: 45 * h})
	check("newer of the newest")
	// Retention at 52h deletes latest predictions before 42h: all but
	// ns/c's; at 60h, ns/c's too.
	for _, now := range []int64{52 * h, 60 * h} {
		if _, err := s.RunRetention(context.Background(), time.UnixMilli(now)); err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("retention at %dh", now/h))
	}
	put(Prediction{Entity: "ns/d", T: 44 * h})
	check("after retention deleted all")
	put(Prediction{Entity: "ns/e", T: 61 * h})
	if _, err := s.RunRetention(context.Background(), time.UnixMilli(60*h)); err != nil {
		t.Fatal(err)
	}
	check("retention deleted an older one")
	// A read of them all each time is what this avoids.
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := s.NewestPrediction(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 100 {
		t.Errorf("NewestPrediction: %.0f allocations a call", allocs)
	}
}

// newestOfLatest returns the newest T of s's latest predictions
// (LatestPredictions) and how many there are: what NewestPrediction
// must answer.
func newestOfLatest(t *testing.T, s *Store) (newest int64, n int) {
	t.Helper()
	ps, err := s.LatestPredictions()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		newest = max(newest, p.T)
	}
	return newest, len(ps)
}
