package store

import (
	"context"
	"fmt"
	"maps"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// latestEntryOf is what EachLatest gives of one entity.
type latestEntryOf struct {
	p      Prediction
	labels map[string]string
}

// eachLatest collects EachLatest's entities.
func eachLatest(t *testing.T, s *Store) map[string]latestEntryOf {
	t.Helper()
	got := map[string]latestEntryOf{}
	err := s.EachLatest(func(p *Prediction, labels map[string]string) bool {
		if _, dup := got[p.Entity]; dup {
			t.Errorf("EachLatest: %s twice", p.Entity)
		}
		got[p.Entity] = latestEntryOf{*p, labels}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// listedLatest is what EachLatest must give: LatestPredictions with the
// labels of Entities.
func listedLatest(t *testing.T, s *Store) map[string]latestEntryOf {
	t.Helper()
	ps, err := s.LatestPredictions()
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.Entities()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]map[string]string{}
	for _, e := range es {
		labels[e.ID] = e.Labels
	}
	want := map[string]latestEntryOf{}
	for _, p := range ps {
		want[p.Entity] = latestEntryOf{p, labels[p.Entity]}
	}
	return want
}

// sameLatest reports the differences of EachLatest from the listing.
func sameLatest(t *testing.T, s *Store, when string) {
	t.Helper()
	got, want := eachLatest(t, s), listedLatest(t, s)
	if len(got) != len(want) {
		t.Errorf("%s: EachLatest gives %d entities, the listing %d", when, len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		switch {
		case !ok:
			t.Errorf("%s: EachLatest misses %s", when, id)
		case g.p != w.p:
			t.Errorf("%s: EachLatest's %s is %+v, want %+v", when, id, g.p, w.p)
		case !maps.Equal(g.labels, w.labels):
			t.Errorf("%s: EachLatest's labels of %s are %v, want %v", when, id, g.labels, w.labels)
		}
	}
}

// TestEachLatest: the in-memory latest predictions and labels stay those
// the store lists (LatestPredictions, Entities) after new predictions
// (newer, older, of a new entity), label changes and retention's deletes.
func TestEachLatest(t *testing.T) {
	const h = int64(3600 * 1000)
	s := openTest(t, Options{InMemory: true, Retention: 10 * time.Hour})
	put := func(ps ...Prediction) {
		t.Helper()
		if err := s.PutPredictions(ps); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 6 {
		id := fmt.Sprintf("ns/pod-%d", i)
		if err := s.PutEntity(id, map[string]string{"pod": id[3:], "app": fmt.Sprint("svc", i%2)}, int64(i)*h); err != nil {
			t.Fatal(err)
		}
		put(Prediction{Entity: id, T: int64(i) * h, Prob: 0.1 * float64(i), Threshold: 0.5, ModelVersion: "v1"})
	}
	// A prediction of an entity without a record: no labels.
	put(Prediction{Entity: "ns/unlabelled", T: 5 * h, Prob: 0.3})
	sameLatest(t, s, "built")

	put(Prediction{Entity: "ns/pod-1", T: 7 * h, Prob: 0.9, Threshold: 0.5, ModelVersion: "v2"}, // newer
		Prediction{Entity: "ns/pod-2", T: h, Prob: 0.8},     // older than its latest: kept
		Prediction{Entity: "ns/pod-9", T: 8 * h, Prob: 0.4}) // new
	if err := s.PutEntities([]EntityInfo{
		{ID: "ns/pod-3", Labels: map[string]string{"pod": "pod-3", "app": "moved"}, LastSeen: 8 * h},
		{ID: "ns/pod-4", Labels: map[string]string{"pod": "old"}, LastSeen: h}, // older sighting: labels kept
		{ID: "ns/unlabelled", Labels: map[string]string{"pod": "unlabelled"}, LastSeen: 8 * h},
	}); err != nil {
		t.Fatal(err)
	}
	sameLatest(t, s, "after puts")
	if got := eachLatest(t, s)["ns/pod-3"].labels["app"]; got != "moved" {
		t.Errorf("ns/pod-3's app label %q after its change, want moved", got)
	}

	// Cutoff at 2.5h: pod-0's and pod-2's latest predictions (0h, 2h)
	// and records go, pod-1's record (last seen 1h) but not its latest
	// prediction (7h).
	if _, err := s.RunRetention(context.Background(), time.UnixMilli(12*h+h/2)); err != nil {
		t.Fatal(err)
	}
	sameLatest(t, s, "after retention")
	got := eachLatest(t, s)
	if _, ok := got["ns/pod-0"]; ok {
		t.Errorf("ns/pod-0 listed after retention deleted it")
	}
	if e, ok := got["ns/pod-1"]; !ok || e.labels != nil {
		t.Errorf("ns/pod-1 after retention deleted its record but not its latest prediction: %+v, %v", e, ok)
	}

	// Stopping early.
	n := 0
	if err := s.EachLatest(func(*Prediction, map[string]string) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("EachLatest stopped by fn: %d calls, %v", n, err)
	}
}

// TestEachLatestConcurrent: puts, label changes and retention running
// while EachLatest builds and reads its index leave it equal to the
// store's listing (-race: no unguarded access).
func TestEachLatestConcurrent(t *testing.T) {
	const h = int64(3600 * 1000)
	for round := range 8 {
		s := openTest(t, Options{Path: t.TempDir(), Retention: 10 * time.Hour, NoSync: true})
		var wg sync.WaitGroup
		for g := range 3 {
			wg.Go(func() {
				r := rand.New(rand.NewSource(int64(g + round*10)))
				for range 150 {
					id := fmt.Sprintf("ns/e%d", r.Intn(30))
					at := int64(r.Intn(100)) * h / 4
					_ = s.PutPredictions([]Prediction{{Entity: id, T: at, Prob: r.Float64()}})
					_ = s.PutEntity(id, map[string]string{"v": fmt.Sprint(r.Intn(3))}, at)
				}
			})
		}
		wg.Go(func() {
			for range 100 {
				_ = s.EachLatest(func(*Prediction, map[string]string) bool { return true })
			}
		})
		wg.Go(func() {
			for i := range 15 {
				_, _ = s.RunRetention(context.Background(), time.UnixMilli(int64(i)*2*h))
			}
		})
		wg.Wait()
		sameLatest(t, s, fmt.Sprintf("round %d", round))
	}
}

// TestEachLatestWritesDuringBuild: what is written while EachLatest reads
// every entity (after its snapshot) is in the index it keeps; a retention
// delete meanwhile has the index read again by the next call.
func TestEachLatestWritesDuringBuild(t *testing.T) {
	const h = int64(3600 * 1000)
	s := openTest(t, Options{InMemory: true, Retention: 10 * time.Hour})
	for i := range 3 {
		id := fmt.Sprintf("ns/pod-%d", i)
		if err := s.PutEntity(id, map[string]string{"pod": id[3:]}, int64(i)*5*h); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPredictions([]Prediction{{Entity: id, T: int64(i) * 5 * h, Prob: 0.5}}); err != nil {
			t.Fatal(err)
		}
	}
	s.testIndexScan = func() {
		s.testIndexScan = nil
		if err := s.PutPredictions([]Prediction{{Entity: "ns/pod-1", T: 11 * h, Prob: 0.9}, {Entity: "ns/new", T: 11 * h}}); err != nil {
			t.Error(err)
		}
		if err := s.PutEntity("ns/new", map[string]string{"pod": "new"}, 11*h); err != nil {
			t.Error(err)
		}
	}
	eachLatest(t, s) // builds
	sameLatest(t, s, "writes during the build")

	s.index.mu.Lock()
	s.index.invalidate()
	s.index.mu.Unlock()
	s.testIndexScan = func() {
		s.testIndexScan = nil
		// Cutoff 1h: pod-0 goes.
		if _, err := s.RunRetention(context.Background(), time.UnixMilli(11*h)); err != nil {
			t.Error(err)
		}
	}
	if _, ok := eachLatest(t, s)["ns/pod-0"]; !ok {
		t.Error("the build's snapshot misses ns/pod-0, deleted after it was taken")
	}
	sameLatest(t, s, "retention during the build")
}
