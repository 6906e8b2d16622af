package app

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
)

// TestUIBackendEntityExplanation: the UI finds an entity's newest stored
// explanation in a span of its predictions (an alert's, after the alert
// left the list) straight from the store.
func TestUIBackendEntityExplanation(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	const e, step = "shop/cart-7d9f8c6b5-xk2p1", int64(15000)
	var ps []store.Prediction
	for i := range int64(10) {
		ps = append(ps, store.Prediction{Entity: e, T: i * step, Prob: 0.5, Threshold: 0.9, ModelVersion: "v1"})
	}
	if err := st.PutPredictions(ps); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int64{2, 5} {
		id := store.PredictionID(e, i*step)
		if err := st.PutExplanation(id, fmt.Appendf(nil, `{"prediction_id":%q,"entity":%q,"t":%d}`, id, e, i*step)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	u := uiBackend{b, st}
	ctx := context.Background()
	tests := []struct {
		from, to int64
		want     int64 // step of the explanation found; -1: none
	}{
		{0, 9 * step, 5}, {0, 4 * step, 2}, {3 * step, 4 * step, -1}, {6 * step, 9 * step, -1}, {5 * step, 5 * step, 5},
	}
	for _, tc := range tests {
		x, err := u.EntityExplanation(ctx, e, tc.from, tc.to)
		switch {
		case tc.want < 0 && !errors.Is(err, api.ErrNotFound):
			t.Errorf("[%d, %d]: %+v, %v; want ErrNotFound", tc.from, tc.to, x, err)
		case tc.want >= 0 && (err != nil || x.T != tc.want*step || x.PredictionID != store.PredictionID(e, tc.want*step)):
			t.Errorf("[%d, %d]: %+v, %v; want the explanation of step %d", tc.from, tc.to, x, err, tc.want)
		}
	}
}

// TestUIBackendModelVersionInfo: the UI reads the thresholds of any
// registered version (the one that scored a prediction), not only the
// active model's; an unknown version is ErrNotFound.
func TestUIBackendModelVersionInfo(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	names := []string{"a", "b"}
	want := map[string]model.Thresholds{"v1": {Failure: 0.3, Anomaly: 19.25}, "v2": {Failure: 0.6, Anomaly: 1269.77}}
	for _, v := range []string{"v1", "v2"} {
		m, err := model.New(model.Config{Features: names, Window: 4, Hidden: 4, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		m.SetMeta(model.Meta{Version: v})
		m.SetThresholds(want[v])
		data, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutModel(v, data, store.ModelMeta{Version: v, Description: "model " + v}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Promote("v2"); err != nil {
		t.Fatal(err)
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	u := uiBackend{b, st}
	for v, th := range want {
		mi, err := u.ModelVersionInfo(context.Background(), v)
		if err != nil || mi.Version != v || mi.Threshold != th.Failure || mi.AnomalyThreshold != th.Anomaly ||
			mi.Description != "model "+v || mi.Window != 4 || len(mi.Features) != 2 {
			t.Errorf("%s: %+v, %v; want thresholds %+v", v, mi, err, th)
		}
	}
	if mi, err := u.ModelVersionInfo(context.Background(), "v0"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unregistered version: %+v, %v; want ErrNotFound", mi, err)
	}
}
