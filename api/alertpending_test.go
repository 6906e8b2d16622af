package api_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestAlertsStatePending: /api/v1/alerts?state=pending lists the pending
// alerts of the alert pipeline, with active_at the step they started
// pending at (it answered [] while omen_alerts{state="pending"} was 1).
func TestAlertsStatePending(t *testing.T) {
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
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range 2 {
		ts := t0.Add(time.Duration(i) * time.Minute)
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
	srv := newServer(t, b, api.Options{})
	for _, q := range []string{"", "?state=pending"} {
		code, body := get(t, "GET", srv.URL+"/api/v1/alerts"+q, "")
		var resp struct {
			Data []api.Alert `json:"data"`
		}
		if code != 200 || json.Unmarshal(body, &resp) != nil {
			t.Fatalf("alerts%s: %d %s", q, code, body)
		}
		if len(resp.Data) != 1 || resp.Data[0].State != api.AlertPending || resp.Data[0].ActiveAt != t0.UnixMilli() ||
			resp.Data[0].Entity != "shop/cart-0" {
			t.Errorf("alerts%s: %s; want one pending alert of shop/cart-0 active at %d", q, body, t0.UnixMilli())
		}
	}
	code, body := get(t, "GET", srv.URL+"/api/v1/alerts?state=firing", "")
	if code != 200 || string(body) != `{"status":"success","data":[]}`+"\n" && string(body) != `{"status":"success","data":[]}` {
		t.Errorf("alerts?state=firing: %d %s, want none", code, body)
	}
}
