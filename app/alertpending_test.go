package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestAPIListsPendingAlerts: the daemon's /api/v1/alerts?state=pending
// lists the alert pipeline's pending alerts (a reviewer saw
// omen_alerts{state="pending"} 1 and an empty list).
func TestAPIListsPendingAlerts(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{})
	ts := time.Now().Add(-time.Hour).UnixMilli()
	pr := prediction{Prediction: store.Prediction{ID: store.PredictionID("shop/cart-0", ts), Entity: "shop/cart-0",
		T: ts, Prob: 0.99, Threshold: 0.5}, Labels: map[string]string{"namespace": "shop", "pod": "cart-0"}}
	p.al.process(context.Background(), ts, []prediction{pr}, nil) // alerting.for is 2: pending
	a := &App{opts: Options{ListenAddress: "127.0.0.1:0"}, logger: slog.New(slog.DiscardHandler),
		reg: prometheus.NewRegistry(), store: p.st, alerts: p.al}
	s, err := a.newAPI()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	resp, err := srv.Client().Get(srv.URL + "/api/v1/alerts?state=pending")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Data []api.Alert `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	if len(r.Data) != 1 || r.Data[0].State != api.AlertPending || r.Data[0].Entity != "shop/cart-0" || r.Data[0].ActiveAt == 0 {
		t.Fatalf("pending alerts: %s; want shop/cart-0's", body)
	}
}
