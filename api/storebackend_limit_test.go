package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// A range query with a limit used to load each entity's whole history
// before checking the limit (?from=0&limit=1 read every prediction ever
// stored). It now reads newest first and stops at the limit, returning
// what the API lists first (by entity, newest first).
func TestStoreBackendRangeLimitStopsEarly(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const t0 = int64(1764000000000)
	const n = 20000
	for _, id := range []string{"a/x", "b/y"} {
		if err := st.PutEntity(id, map[string]string{"namespace": id[:1]}, t0); err != nil {
			t.Fatal(err)
		}
		ps := make([]store.Prediction, n)
		for k := range ps {
			ps[k] = store.Prediction{Entity: id, T: t0 - int64(k)*15000, Prob: 0.5, ModelVersion: "v1"}
		}
		if err := st.PutPredictions(ps); err != nil {
			t.Fatal(err)
		}
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	q := api.PredictionQuery{From: time.UnixMilli(1), Limit: 3}
	got, err := b.Predictions(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	api.SortPredictions(got)
	if len(got) != 3 || got[0].Entity != "a/x" || got[0].T != t0 || got[1].T != t0-15000 || got[2].T != t0-30000 {
		t.Fatalf("got %d predictions (want the 3 newest of a/x)", len(got))
	}
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := b.Predictions(ctx, api.PredictionQuery{From: time.UnixMilli(1), Limit: 1}); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 2000 {
		t.Errorf("limit 1 over %d predictions: %.0f allocations, the whole history was read", n, allocs)
	}
	t.Logf("limit 1 over 2×%d predictions: %.0f allocations", n, allocs)
	// A limit spanning entities continues with the next one, newest first.
	got, err = b.Predictions(ctx, api.PredictionQuery{From: time.UnixMilli(t0 - 15000), Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	api.SortPredictions(got)
	if len(got) != 3 || got[2].Entity != "b/y" || got[2].T != t0 {
		t.Fatalf("across entities: %d predictions, want 3", len(got))
	}
}
