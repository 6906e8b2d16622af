package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
)

// TestAlertLinksResolve: an alert's fingerprint (its explanation_url and
// generatorURL) resolves to the explanation of the prediction it fired on
// at every later step, and through the copy stored under the fingerprint
// once the alert is no longer listed.
func TestAlertLinksResolve(t *testing.T) {
	cfg := testConfig(t)
	m, err := model.New(model.Config{Features: features.Names(cfg.Config), Window: 2, Hidden: 4, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	m.SetThresholds(model.Thresholds{Failure: 0.01}) // everything alerts
	reg := prometheus.NewRegistry()
	s, st := newTestScorer(t, cfg, m, reg)
	t.Cleanup(func() { _ = st.Close() })
	log := slog.New(slog.DiscardHandler)
	head, err := features.NewHead(features.HeadOptions{Lookback: time.Duration(cfg.Lookback), MaxSeries: cfg.MaxSeries, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: cfg.Config, Head: head, Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	in := newIngester(st, head, ex, reg, log)
	al, err := newAlerter(alerterOptions{Store: st, Config: cfg, ListenAddress: "127.0.0.1:1", Step: time.Duration(cfg.Step),
		Explainer: newExplainer(st, s, cfg), Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(al.close)
	e := newEvaluator(evaluatorOptions{Extractor: ex, Store: st, Ingest: in, Scorer: s, Alerts: al, Step: time.Duration(cfg.Step),
		Registerer: reg, Logger: log})
	p := &stalePipeline{t: t, reg: reg, s: s, in: in, al: al, e: e, step: time.Duration(cfg.Step).Milliseconds()}

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
