package apitest

import (
	"context"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// PendingStart is the step PendingBackend's alert starts pending at.
var PendingStart = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// PendingBackend returns a StoreBackend over an in-memory store whose
// alert pipeline (alerting.for 3) holds one pending alert on shop/cart-0,
// over its threshold for steps steps of a minute from PendingStart, with
// nothing explained; and the pending alert. Both are closed in t.Cleanup.
func PendingBackend(t testing.TB, steps int) (api.Backend, alert.Alert) {
	t.Helper()
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	m, err := alert.New(alert.Options{Store: st, For: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	for i := range steps {
		ts := PendingStart.Add(time.Duration(i) * time.Minute)
		p := alert.Prediction{ID: store.PredictionID("shop/cart-0", ts.UnixMilli()), Entity: "shop/cart-0",
			Labels: map[string]string{"namespace": "shop", "pod": "cart-0"}, T: ts, Prob: 0.9, Threshold: 0.8}
		if err := m.Process(context.Background(), ts, []alert.Prediction{p}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Alerts: func() []alert.Alert {
		return append(m.Alerts(), m.Pending()...)
	}})
	if err != nil {
		t.Fatal(err)
	}
	pending := m.Pending()
	if len(pending) != 1 {
		t.Fatalf("%d pending alerts, want 1", len(pending))
	}
	return b, pending[0]
}
