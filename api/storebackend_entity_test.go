package api_test

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/store"
)

const manyT0 = int64(1764000000000)

// manyEntities stores n entities (ns/pod-00000 …) with labels and three
// predictions each, the newest at manyT0.
func manyEntities(tb testing.TB, n int) *store.Store {
	tb.Helper()
	return apitest.EntityStore(tb, n, func(i int, id string) (store.EntityInfo, []store.Prediction) {
		e := store.EntityInfo{ID: id, Labels: map[string]string{"namespace": "ns", "pod": id[3:], "shard": fmt.Sprint(i % 7)},
			FirstSeen: manyT0 - 30000, LastSeen: manyT0}
		var ps []store.Prediction
		for k := range 3 {
			ps = append(ps, store.Prediction{Entity: id, T: manyT0 - int64(k)*15000, Prob: 0.01 * float64(i%100), Threshold: 0.5, ModelVersion: "v1"})
		}
		return e, ps
	})
}

// A query of one entity (?entity=X, the UI's entity chart) used to read
// every stored entity (all those seen within retention: 150,000 after a
// fortnight of pod churn, 0.2-1.9 s a request) to label its answer. It
// now reads that entity's records only, and answers as before.
func TestStoreBackendOneEntityReadsOnlyIt(t *testing.T) {
	const n = 5000
	st := manyEntities(t, n)
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const id = "ns/pod-01234"
	labels := map[string]string{"namespace": "ns", "pod": "pod-01234", "shard": "2"}
	pred := func(k int) api.Prediction {
		t := manyT0 - int64(k)*15000
		return api.Prediction{ID: store.PredictionID(id, t), Entity: id, Labels: labels, T: t, Probability: 0.34, Threshold: 0.5, ModelVersion: "v1"}
	}
	for _, tc := range []struct {
		name string
		q    api.PredictionQuery
		want []api.Prediction
	}{
		{"latest", api.PredictionQuery{Entity: id}, []api.Prediction{pred(0)}},
		{"latest matching", api.PredictionQuery{Entity: id, Matchers: map[string]string{"shard": "2"}}, []api.Prediction{pred(0)}},
		{"latest not matching", api.PredictionQuery{Entity: id, Matchers: map[string]string{"shard": "3"}}, nil},
		{"latest unknown", api.PredictionQuery{Entity: "ns/gone"}, nil},
		{"range", api.PredictionQuery{Entity: id, From: time.UnixMilli(manyT0 - 15000)}, []api.Prediction{pred(0), pred(1)}},
		{"range limit", api.PredictionQuery{Entity: id, From: time.UnixMilli(1), Limit: 1}, []api.Prediction{pred(0)}},
		{"range after", api.PredictionQuery{Entity: id, From: time.UnixMilli(1), After: pred(0).ID}, []api.Prediction{pred(1), pred(2)}},
		{"range not matching", api.PredictionQuery{Entity: id, From: time.UnixMilli(1), Matchers: map[string]string{"shard": "3"}}, nil},
		{"range unknown", api.PredictionQuery{Entity: "ns/gone", From: time.UnixMilli(1)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := b.Predictions(ctx, tc.q)
			if err != nil {
				t.Fatal(err)
			}
			api.SortPredictions(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			allocs := testing.AllocsPerRun(3, func() {
				if _, err := b.Predictions(ctx, tc.q); err != nil {
					t.Fatal(err)
				}
			})
			// Reading the n entities allocates several times n.
			if allocs > 500 {
				t.Errorf("one entity among %d: %.0f allocations, every entity was read", n, allocs)
			}
		})
	}
	// The fleet's latest predictions keep their labels.
	all, err := b.Predictions(ctx, api.PredictionQuery{Matchers: map[string]string{"shard": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != (n+4)/7 || all[0].Labels["shard"] != "2" {
		t.Fatalf("latest of shard 2: %d predictions, want %d", len(all), (n+4)/7)
	}
}

// BenchmarkPredictionsManyEntities asks for one entity's predictions
// (latest, and a range) among 50,000 stored entities.
func BenchmarkPredictionsManyEntities(b *testing.B) {
	st := manyEntities(b, 50000)
	be, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		q    api.PredictionQuery
	}{
		{"latest", api.PredictionQuery{Entity: "ns/pod-01234"}},
		{"range", api.PredictionQuery{Entity: "ns/pod-01234", From: time.UnixMilli(1)}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ps, err := be.Predictions(ctx, bc.q)
				if err != nil || len(ps) == 0 {
					b.Fatalf("%d predictions, %v", len(ps), err)
				}
			}
		})
	}
}
