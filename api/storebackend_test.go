package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/explain"
	"github.com/omen-sre/omen/store"
)

func TestStoreBackend(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const t0 = int64(1764000000000)
	ents := map[string]map[string]string{
		"shop/cart-1": {"namespace": "shop", "service": "cart"},
		"infra/db-0":  {"namespace": "infra", "service": "db"},
	}
	var ps []store.Prediction
	for id, l := range ents {
		if err := st.PutEntity(id, l, t0); err != nil {
			t.Fatal(err)
		}
		for k := 0; k < 10; k++ {
			ps = append(ps, store.Prediction{Entity: id, T: t0 - int64(k)*15000, Prob: 0.1 * float64(k), Anomaly: math.NaN(), Threshold: 0.5, ModelVersion: "v1"})
		}
	}
	if err := st.PutPredictions(ps); err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(map[string]any{"prediction_id": store.PredictionID("shop/cart-1", t0), "entity": "shop/cart-1",
		"attribution": map[string]any{"groups": []map[string]any{{"name": "restarts", "kind": "metric", "phi": 0.5, "share": 1}}, "baseline": 0.1, "value": 0.6},
		"window":      [][]any{{1, nil}}, "features": []string{"restarts", "cpu"}, "step_ms": 15000})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutExplanation(store.PredictionID("shop/cart-1", t0), doc); err != nil {
		t.Fatal(err)
	}
	g := explain.NewGraph()
	_ = g.AddEdge("frontend", "cart", 1)
	_ = g.AddEdge("cart", "db", 1)
	_ = g.AddEdge("frontend", "search", 1)
	b, err := api.NewStoreBackend(api.StoreOptions{
		Store: st,
		Alerts: func() []alert.Alert {
			return []alert.Alert{{Fingerprint: "f00d", State: "firing", Entity: "shop/cart-1", Labels: ents["shop/cart-1"],
				PredictionID: store.PredictionID("shop/cart-1", t0), Probability: 0.9, StartsAt: time.UnixMilli(t0)}}
		},
		Dependencies: func(_ context.Context, entity string) (api.Neighbourhood, error) {
			return api.NeighbourhoodOf(g, entity, ents[entity]["service"], map[string]float64{"cart": 2, "db": math.Inf(1)})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	latest, err := b.Predictions(ctx, api.PredictionQuery{})
	if err != nil || len(latest) != 2 {
		t.Fatalf("latest: %v %v", latest, err)
	}
	for _, p := range latest {
		if p.T != t0 || p.Labels["namespace"] == "" || p.AnomalyScore != 0 {
			t.Errorf("latest %+v", p)
		}
	}
	rng, err := b.Predictions(ctx, api.PredictionQuery{Matchers: map[string]string{"namespace": "infra"}, From: time.UnixMilli(t0 - 4*15000)})
	if err != nil || len(rng) != 5 {
		t.Fatalf("range: %d %v", len(rng), err)
	}
	lim, err := b.Predictions(ctx, api.PredictionQuery{From: time.UnixMilli(0), Limit: 3})
	if err != nil || len(lim) != 3 || lim[0].Entity != "infra/db-0" || lim[0].T != t0 || lim[2].T != t0-30000 {
		t.Fatalf("limited range: %d predictions (want the first entity's 3 newest) %v", len(lim), err)
	}
	as, err := b.Alerts(ctx, api.AlertQuery{State: "firing"})
	if err != nil || len(as) != 1 || as[0].ActiveAt != t0 {
		t.Fatalf("alerts %+v %v", as, err)
	}
	for _, id := range []string{"f00d", store.PredictionID("shop/cart-1", t0)} {
		x, err := b.Explanation(ctx, id)
		if err != nil || x.Entity != "shop/cart-1" || len(x.Window) != 1 || !math.IsNaN(x.Window[0][1]) {
			t.Errorf("explanation %s: %+v %v", id, x, err)
		}
	}
	if _, err := b.Explanation(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown explanation: %v", err)
	}
	if _, err := b.ExplainEntity(ctx, "shop/cart-1"); !errors.Is(err, api.ErrUnavailable) {
		t.Errorf("explain without a hook: %v", err)
	}
	if _, err := b.ModelInfo(ctx); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("model without a registry entry: %v", err)
	}
	n, err := b.Dependencies(ctx, "shop/cart-1")
	if err != nil || n.Node != "cart" || len(n.Nodes) != 3 || len(n.Edges) != 2 {
		t.Fatalf("neighbourhood %+v %v", n, err)
	}
	if _, err := json.Marshal(n); err != nil {
		t.Errorf("neighbourhood with infinite evidence does not encode: %v", err)
	}
	if _, err := api.NeighbourhoodOf(nil, "x", "x", nil); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("nil graph: %v", err)
	}
	if _, err := api.NeighbourhoodOf(g, "x", "x", nil); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown node: %v", err)
	}
}
