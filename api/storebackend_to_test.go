package api_test

import (
	"context"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestRangeWithoutTo: a range query without to has no upper bound. The
// predictions' times are data times, which run ahead of the wall clock in
// omen demo (a reviewer's from=<recent> answered [] with no warning: to
// defaulted to now).
func TestRangeWithoutTo(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ahead := time.Now().Add(30 * time.Minute).Truncate(time.Minute).UnixMilli()
	if err := st.PutEntity("shop/cart-1", map[string]string{"namespace": "shop"}, ahead); err != nil {
		t.Fatal(err)
	}
	var ps []store.Prediction
	for k := int64(0); k < 3; k++ {
		ps = append(ps, store.Prediction{Entity: "shop/cart-1", T: ahead - k*60000, Prob: 0.1, Threshold: 0.5})
	}
	if err := st.PutPredictions(ps); err != nil {
		t.Fatal(err)
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		q    api.PredictionQuery
		want int
	}{
		{"from only", api.PredictionQuery{From: time.UnixMilli(ahead - 60000)}, 2},
		{"from and to", api.PredictionQuery{From: time.UnixMilli(ahead - 120000), To: time.UnixMilli(ahead - 60000)}, 2},
		{"to only", api.PredictionQuery{To: time.UnixMilli(ahead - 120000)}, 1},
	} {
		got, err := b.Predictions(context.Background(), tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("%s: %d predictions (%v), want %d", tc.name, len(got), err, tc.want)
		}
	}
}
