package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestStoreBackendExplanationByFingerprint: an alert fingerprint resolves
// through the alert's prediction id while the alert is current, and to the
// explanation stored under the fingerprint otherwise (the alert state is
// gone, or its prediction has no explanation).
func TestStoreBackendExplanationByFingerprint(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	put := func(key, entity string) {
		doc, _ := json.Marshal(map[string]any{"prediction_id": key, "entity": entity,
			"attribution": map[string]any{"baseline": 0.1, "value": 0.6}, "window": [][]any{}, "features": []string{}, "step_ms": 15000})
		if err := st.PutExplanation(key, doc); err != nil {
			t.Fatal(err)
		}
	}
	put("a@1", "a")
	put("00000000000000bb", "b")
	var alerts []alert.Alert
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Alerts: func() []alert.Alert { return alerts }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	alerts = []alert.Alert{{Fingerprint: "00000000000000aa", PredictionID: "a@1"}, {Fingerprint: "00000000000000bb", PredictionID: "b@9"}}
	for id, want := range map[string]string{"00000000000000aa": "a", "00000000000000bb": "b"} {
		if x, err := b.Explanation(ctx, id); err != nil || x.Entity != want {
			t.Errorf("current alert %s: %+v %v", id, x, err)
		}
	}
	alerts = nil // dropped
	if x, err := b.Explanation(ctx, "00000000000000bb"); err != nil || x.Entity != "b" {
		t.Errorf("dropped alert: %+v %v", x, err)
	}
	if _, err := b.Explanation(ctx, "00000000000000aa"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("dropped alert without a stored copy: %v", err)
	}
}
