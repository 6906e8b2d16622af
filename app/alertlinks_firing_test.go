package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestAlertLinksPerFiring: an alert that fires, resolves and fires again
// with the same labels (so the same fingerprint) on another prediction has
// links of its own at each firing: the first notification's
// explanation_api_url, explanation_url and generatorURL still show the
// first firing's prediction after the second fired, while the alert is
// listed and once it is not. They named the fingerprint, whose stored
// explanation is the latest firing's: an old notification showed a later
// firing's explanation (reviewer's finding). The fingerprint's own links
// keep showing the latest firing.
func TestAlertLinksPerFiring(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01, explain: true}) // everything alerts
	st, al := p.st, p.al
	listed := true
	srv := apiServer(t, api.StoreOptions{Store: st, Alerts: func() []alert.Alert {
		if !listed {
			return nil
		}
		return al.Alerts()
	}}, p.reg)
	get := func(link string) (int, string) {
		t.Helper()
		path := strings.TrimPrefix(link, "http://127.0.0.1:1")
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	ctx := context.Background()
	ts := time.Now().Add(-time.Hour).UnixMilli() / p.step * p.step
	k := 0
	fire := func() alert.Alert {
		t.Helper()
		for range 10 {
			p.appendPods(ts, pods(0, 1), k)
			p.e.evaluate(ctx, ts)
			ts += p.step
			k++
			if as := al.Alerts(); len(as) == 1 && as[0].State == store.AlertFiring {
				return as[0]
			}
		}
		t.Fatalf("no alert fired: %+v", al.Alerts())
		return alert.Alert{}
	}
	first := fire()
	// No predictions: it resolves after the missing steps.
	for range 5 {
		al.process(ctx, ts, nil, nil)
		ts += p.step
	}
	if as := al.Alerts(); len(as) != 1 || as[0].State != store.AlertResolved {
		t.Fatalf("alerts %+v, want the alert resolved", as)
	}
	second := fire()
	if second.Fingerprint != first.Fingerprint || second.PredictionID == first.PredictionID {
		t.Fatalf("second firing %s on %s, first %s on %s: want the same alert on another prediction",
			second.Fingerprint, second.PredictionID, first.Fingerprint, first.PredictionID)
	}
	if second.GeneratorURL == first.GeneratorURL {
		t.Errorf("both firings link to %s", first.GeneratorURL)
	}
	for _, l := range []bool{true, false} {
		listed = l
		for _, tc := range []struct {
			name string
			al   alert.Alert
			link string
		}{
			{"first explanation_api_url", first, first.Annotations["explanation_api_url"]},
			{"second explanation_api_url", second, second.Annotations["explanation_api_url"]},
			{"fingerprint (latest firing)", second, api.ExplanationPath(first.Fingerprint)},
		} {
			code, body := get(tc.link)
			var doc struct {
				Data api.Explanation `json:"data"`
			}
			if code != http.StatusOK || json.Unmarshal([]byte(body), &doc) != nil || doc.Data.PredictionID != tc.al.PredictionID {
				t.Errorf("listed %v: %s %s: %d %.300s; want prediction %s", l, tc.name, tc.link, code, body, tc.al.PredictionID)
			}
		}
		for _, tc := range []struct {
			name string
			al   alert.Alert
			link string
		}{
			{"first generatorURL", first, first.GeneratorURL},
			{"first explanation_url", first, first.Annotations["explanation_url"]},
			{"second generatorURL", second, second.GeneratorURL},
		} {
			code, body := get(tc.link)
			if code != http.StatusOK || !strings.Contains(body, tc.al.PredictionID) {
				t.Errorf("listed %v: %s %s: %d, want the page of prediction %s", l, tc.name, tc.link, code, tc.al.PredictionID)
			}
			other := second
			if tc.al.PredictionID == second.PredictionID {
				other = first
			}
			if strings.Contains(body, ">"+other.PredictionID+"<") {
				t.Errorf("listed %v: %s %s shows the other firing's prediction %s", l, tc.name, tc.link, other.PredictionID)
			}
		}
	}
}
