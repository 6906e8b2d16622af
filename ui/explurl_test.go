package ui_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/store"
)

// TestAlertExplanationURLIsPage: the explanation_url an alert.Manager sends
// with a live alert opens the explanation in the UI (an HTML page with the
// waterfall), and its explanation_api_url answers the same explanation as
// JSON. explanation_url was <external_url>/api/v1/explanations/<fingerprint>:
// an SRE following it from Alertmanager got JSON, while the README said it
// was the explanation in omen's UI.
func TestAlertExplanationURLIsPage(t *testing.T) {
	const ext = "http://omen.example:9464"
	b := apitest.Backend()
	fixture := b.Explanations[cartT0]
	if fixture.Attribution.Groups == nil {
		t.Fatal("fixture explanation has no attribution")
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// The explainer stores the explanation under the prediction's id (which
	// the alert's links name: per firing) and the alert's fingerprint, as
	// the daemon's does.
	explainer := alert.ExplainerFunc(func(_ context.Context, p alert.Prediction) (alert.Explanation, error) {
		b.Lock()
		defer b.Unlock()
		b.Explanations[p.ID] = fixture
		b.Explanations[p.AlertFingerprint] = fixture
		return alert.Explanation{TopCauses: []alert.Cause{{Name: "memory_working_set_ratio", Kind: "metric", Entity: p.Entity, Share: 0.6}}}, nil
	})
	m, err := alert.New(alert.Options{Store: st, For: 1, EvalInterval: time.Minute, ExternalURL: ext,
		Explainer: explainer, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	now := time.Now()
	p := alert.Prediction{ID: fixture.PredictionID, Entity: apitest.CartEntity,
		Labels: map[string]string{"namespace": "shop", "pod": "cart-7d9f8b6c4-x2k9p"}, T: now,
		Prob: 0.93, Anomaly: 2.5, Threshold: 0.7, Horizon: 15 * time.Minute, ModelVersion: "v1"}
	if err := m.Process(context.Background(), now, []alert.Prediction{p}); err != nil {
		t.Fatal(err)
	}
	as := m.Alerts()
	if len(as) != 1 || as[0].State != "firing" {
		t.Fatalf("alerts %+v, want one firing", as)
	}
	a := as[0]
	b.Lock()
	b.AlertList = append(b.AlertList, api.FromAlert(a))
	b.Unlock()
	srv := newServer(t, b)
	path := func(name string) string {
		t.Helper()
		u := a.Annotations[name]
		if !strings.HasPrefix(u, ext+"/") {
			t.Fatalf("%s %q is not under %s", name, u, ext)
		}
		return strings.TrimPrefix(u, ext)
	}

	c, body, h := fetch(t, srv.URL+path("explanation_url"))
	if c != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("explanation_url %s: %d %s, want 200 text/html", a.Annotations["explanation_url"], c, h.Get("Content-Type"))
	}
	// The page of the prediction it fired on, naming the alert.
	for _, w := range []string{`id="waterfall"`, `data-fingerprint="` + a.Fingerprint + `"`, `href="` + api.ExplanationPath(p.ID) + `"`} {
		if !strings.Contains(body, w) {
			t.Errorf("explanation_url page lacks %s", w)
		}
	}

	c, body, h = fetch(t, srv.URL+path("explanation_api_url"))
	if c != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("explanation_api_url %s: %d %s, want 200 application/json", a.Annotations["explanation_api_url"], c, h.Get("Content-Type"))
	}
	var resp struct {
		Data api.Explanation `json:"data"`
	}
	err = json.Unmarshal([]byte(body), &resp)
	if x := resp.Data; err != nil || x.PredictionID != fixture.PredictionID {
		t.Errorf("explanation_api_url: %v, fingerprint %q prediction %q; want %s, %s", err, resp.Data.AlertFingerprint, resp.Data.PredictionID, a.Fingerprint, fixture.PredictionID)
	}
}
