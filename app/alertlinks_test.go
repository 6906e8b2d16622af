package app

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/ui"
)

// TestAlertLinksResolve: an alert's fingerprint (its explanation_url and
// generatorURL) resolves to the explanation of the prediction it fired on
// at every later step, and through the copy stored under the fingerprint
// once the alert is no longer listed.
func TestAlertLinksResolve(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01, explain: true}) // everything alerts
	st, al, e := p.st, p.al, p.e

	var listed bool
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Alerts: func() []alert.Alert {
		if !listed {
			return nil
		}
		return al.Alerts()
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour).UnixMilli() / p.step * p.step
	fired := map[string]string{} // fingerprint → prediction id at the first look
	for k := range 10 {
		p.appendPods(ts, pods(0, 2), k)
		e.evaluate(ctx, ts)
		ts += p.step
		for _, a := range al.Alerts() {
			if id, ok := fired[a.Fingerprint]; ok && id != a.PredictionID {
				t.Fatalf("alert %s: prediction %s, was %s", a.Fingerprint, a.PredictionID, id)
			}
			fired[a.Fingerprint] = a.PredictionID
		}
	}
	if len(fired) != 2 {
		t.Fatalf("%d alerts fired, want 2", len(fired))
	}
	for _, l := range []bool{true, false} {
		listed = l
		for fp, id := range fired {
			x, err := b.Explanation(ctx, fp)
			if err != nil || x.PredictionID != id {
				t.Errorf("explanation of alert %s (listed %v): %+v, %v; want prediction %s", fp, l, x.PredictionID, err, id)
			}
		}
	}
}

// TestUnexplainedAlertLinks: an alert whose explanation failed (here: its
// prediction is not the entity's latest, the scorer never saw it) fires
// without causes, and its links (explanation_url, which falls back to
// generatorURL, and the API's explanation by fingerprint) answer 200 with
// the prediction and why it has no attributions, instead of 404.
func TestUnexplainedAlertLinks(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{explain: true})
	st, al, reg := p.st, p.al, p.reg
	log := slog.New(slog.DiscardHandler)
	b, err := api.NewStoreBackend(api.StoreOptions{Store: st, Alerts: al.Alerts})
	if err != nil {
		t.Fatal(err)
	}
	u, err := ui.New(ui.Options{Backend: b, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Backend: b, ListenAddress: "127.0.0.1:0", UI: u, Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)

	const entity = "shop/cart-1"
	ts := time.Now().Add(-time.Hour).UnixMilli()
	var fired []alert.Alert
	for k := 0; k < 5 && len(fired) == 0; k++ {
		tk := ts + int64(k)*5000
		p := prediction{Prediction: store.Prediction{ID: store.PredictionID(entity, tk), Entity: entity, T: tk,
			Prob: 0.9, Threshold: 0.5, ModelVersion: "v1"}, Labels: map[string]string{"namespace": "shop", "pod": "cart-1"}}
		al.process(context.Background(), tk, []prediction{p}, nil)
		fired = al.Alerts()
	}
	if len(fired) != 1 || fired[0].Explanation != nil {
		t.Fatalf("alerts %+v, want one without explanation", fired)
	}
	fa := fired[0]
	links := map[string]string{
		"explanation_url":    fa.Annotations["explanation_url"],
		"generatorURL":       fa.GeneratorURL,
		"API by fingerprint": api.ExplanationPath(fa.Fingerprint),
	}
	for name, link := range links {
		path := strings.TrimPrefix(link, "http://127.0.0.1:1")
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s %s: %s", name, link, resp.Status)
			continue
		}
		for _, want := range []string{"no explanation: prediction " + fa.PredictionID, "cart-1"} {
			if !strings.Contains(string(body), want) && !strings.Contains(html.UnescapeString(string(body)), want) {
				t.Errorf("%s %s: body lacks %q:\n%s", name, link, want, body)
			}
		}
	}
	x, err := b.Explanation(context.Background(), fa.Fingerprint)
	if err != nil || x.PredictionID != fa.PredictionID || x.Probability != 0.9 || x.Error == "" || len(x.Attribution.Groups) != 0 {
		t.Errorf("explanation of the unexplained alert: %+v, %v", x, err)
	}
}

// apiServer serves the API and UI over the store backend of o, its
// metrics registered with reg, until the test ends.
func apiServer(t *testing.T, o api.StoreOptions, reg prometheus.Registerer) *httptest.Server {
	t.Helper()
	b, err := api.NewStoreBackend(o)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	u, err := ui.New(ui.Options{Backend: b, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Backend: b, ListenAddress: "127.0.0.1:0", UI: u, Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	return srv
}
