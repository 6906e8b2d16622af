package app

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestEscalatedAlertFingerprints: an alert that fired warning and
// escalated to critical is known to Alertmanager by two label sets; both
// fingerprints, computed as Alertmanager computes them
// (model.LabelSet.Fingerprint of the labels sent), resolve to the alert in
// the API (/api/v1/explanations/FP), the UI (/ui/alerts/FP) and omen
// explain (api.Client.Explain), while the alert is listed and, through the
// documents stored under each, once it no longer is. /api/v1/alerts lists
// it under the critical fingerprint (its labels'), with the warning's as
// fired_fingerprint. Before, the critical fingerprint was a 404 everywhere
// and the list gave the warning's beside the critical labels.
func TestEscalatedAlertFingerprints(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{explain: true})
	st, al := p.st, p.al
	const entity = "shop/cart-1"
	labels := map[string]string{"namespace": "shop", "pod": "cart-1"}
	// alerting.for is 2, critical_probability 0.9: fires warning at the
	// 2nd step, escalates at the 3rd.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute).UnixMilli()
	step := time.Minute.Milliseconds()
	for i, prob := range []float64{0.6, 0.6, 0.95} {
		ts := t0 + int64(i)*step
		al.process(context.Background(), ts, []prediction{{Prediction: store.Prediction{ID: store.PredictionID(entity, ts),
			Entity: entity, T: ts, Prob: prob, Threshold: 0.5, ModelVersion: "v1"}, Labels: labels}}, nil)
	}
	firedOn := store.PredictionID(entity, t0+step)

	// The fingerprints Alertmanager gives the two alerts omen sent.
	amFP := func(severity string) string {
		return model.LabelSet{"alertname": "ModuleLoadFailurePredicted", "namespace": "shop", "pod": "cart-1",
			"severity": model.LabelValue(severity)}.Fingerprint().String()
	}
	warnFP, critFP := amFP(alert.SeverityWarning), amFP(alert.SeverityCritical)

	listed := true
	srv := apiServer(t, api.StoreOptions{Store: st, Alerts: func() []alert.Alert {
		if !listed {
			return nil
		}
		return al.listed()
	}}, p.reg)
	ctx := context.Background()
	get := func(path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(body)
	}

	code, body := get("/api/v1/alerts")
	var list struct {
		Data []api.Alert `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); code != http.StatusOK || err != nil || len(list.Data) != 1 {
		t.Fatalf("/api/v1/alerts: %d %s (%v), want one alert", code, body, err)
	}
	if x := list.Data[0]; x.Fingerprint != critFP || x.FiredFingerprint != warnFP || x.Labels["severity"] != alert.SeverityCritical ||
		x.EscalatedAt != t0+2*step {
		t.Errorf("/api/v1/alerts lists %+v; want fingerprint %s (the critical labels') and fired_fingerprint %s", x, critFP, warnFP)
	}

	c := &api.Client{URL: srv.URL}
	for _, l := range []bool{true, false} {
		listed = l
		for _, fp := range []string{warnFP, critFP} {
			code, body := get(api.ExplanationPath(fp))
			var x struct {
				Data api.Explanation `json:"data"`
			}
			if err := json.Unmarshal([]byte(body), &x); code != http.StatusOK || err != nil ||
				x.Data.PredictionID != firedOn || x.Data.AlertFingerprint != fp {
				t.Errorf("listed %v: API explanation of %s: %d %s; want prediction %s", l, fp, code, body, firedOn)
			}
			code, body = get(api.AlertUIPath(fp))
			if code != http.StatusOK || !strings.Contains(body, `data-fingerprint="`+fp+`"`) && !strings.Contains(body, `data-fired-fingerprint="`+fp+`"`) {
				t.Errorf("listed %v: UI page of %s: %d", l, fp, code)
			}
			if want := `Alert <span class="badge firing">`; l && !strings.Contains(body, want) {
				t.Errorf("listed %v: UI page of %s does not show the firing alert (%s)", l, fp, want)
			}
			if x, _, err := c.Explain(ctx, fp); err != nil || x.PredictionID != firedOn || x.AlertFingerprint != fp {
				t.Errorf("listed %v: omen explain %s: %+v, %v", l, fp, x.PredictionID, err)
			}
		}
	}
}
