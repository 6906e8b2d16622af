package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// newUnexplainedAlerter is an alerter whose explanations fail: the
// predictions handed to process are not the scorer's (it never saw them).
func newUnexplainedAlerter(t *testing.T) (*alerter, *store.Store) {
	t.Helper()
	p := newAlertPipeline(t, alertPipelineOptions{explain: true})
	return p.al, p.st
}

func unexplainedPrediction(entity string, t int64) prediction {
	return prediction{Prediction: store.Prediction{ID: store.PredictionID(entity, t), Entity: entity, T: t,
		Prob: 0.9, Threshold: 0.5, ModelVersion: "v1"}, Labels: map[string]string{"namespace": "shop", "pod": "cart-1"}}
}

// TestExplanationStoredForFiredAlertsOnly: an explanation (here a note:
// the explanation failed) is stored under an alert's fingerprint only once
// that alert fired on the prediction explained. One computed for an alert
// that then did not fire (a reload changing For, Close, a cancelled step)
// is not stored, nor is the note stored under the prediction's id (which
// stays free for an explanation on demand), nor a shutdown's cancellation
// as an alert's explanation.
func TestExplanationStoredForFiredAlertsOnly(t *testing.T) {
	const entity = "shop/cart-1"
	ts := time.Now().Add(-time.Hour).UnixMilli()
	notFound := func(t *testing.T, st *store.Store, id string) {
		t.Helper()
		if doc, err := st.Explanation(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("explanation stored under %s: %s, %v", id, doc, err)
		}
	}

	t.Run("explained for an alert that did not fire", func(t *testing.T) {
		al, st := newUnexplainedAlerter(t)
		p := unexplainedPrediction(entity, ts)
		// What the Manager does when it explains an alert expected to fire.
		_, err := alertExplainer{al}.Explain(context.Background(), alert.Prediction{ID: p.ID, Entity: entity,
			Labels: p.Labels, T: time.UnixMilli(ts), Prob: 0.9, Threshold: 0.5, AlertFingerprint: "f00dfeed"})
		if err == nil {
			t.Fatal("explanation of a prediction the scorer never saw: no error")
		}
		al.process(context.Background(), ts, nil, nil) // the alert did not fire
		notFound(t, st, "f00dfeed")
		notFound(t, st, p.ID)
	})

	// The fingerprint the alert fires under (fixed by its labels).
	var fp string
	t.Run("fired", func(t *testing.T) {
		al, st := newUnexplainedAlerter(t)
		var fired []alert.Alert
		for k := 0; k < 5 && len(fired) == 0; k++ {
			p := unexplainedPrediction(entity, ts+int64(k)*5000)
			al.process(context.Background(), p.T, []prediction{p}, nil)
			fired = al.Alerts()
		}
		if len(fired) != 1 {
			t.Fatalf("alerts %+v, want one", fired)
		}
		fp = fired[0].Fingerprint
		doc, err := st.Explanation(fp)
		if err != nil {
			t.Fatal(err)
		}
		x, err := api.DecodeExplanation(doc)
		if err != nil || x.PredictionID != fired[0].PredictionID || !strings.HasPrefix(x.Error, "no explanation: ") {
			t.Errorf("document under the fired alert's fingerprint: %+v, %v", x, err)
		}
		notFound(t, st, fired[0].PredictionID)
	})

	t.Run("steps cancelled while explaining (stopping)", func(t *testing.T) {
		al, st := newUnexplainedAlerter(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for k := range 5 {
			p := unexplainedPrediction(entity, ts+int64(k)*5000)
			al.process(ctx, p.T, []prediction{p}, nil)
			notFound(t, st, p.ID)
		}
		for _, a := range al.Alerts() {
			t.Errorf("alert %s %s after cancelled steps", a.Fingerprint, a.State)
		}
		if fp == "" {
			t.Fatal("no fingerprint")
		}
		notFound(t, st, fp)
	})
}

// TestExplainNowReplacesNote: explaining on demand the prediction an alert
// fired on without explanation replaces the note stored under the alert's
// fingerprint (which its links name after the alert state is dropped).
func TestExplainNowReplacesNote(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01, explain: true}) // everything alerts
	st, s, ex, al := p.st, p.s, p.ex, p.al
	ctx := context.Background()
	ts := time.Now().Add(-time.Hour).UnixMilli() / p.step * p.step
	var fired []alert.Alert
	for k := 0; k < 10 && len(fired) == 0; k++ {
		p.appendPods(ts, pods(0, 1), k)
		p.e.evaluate(ctx, ts)
		ts += p.step
		fired = p.al.Alerts()
	}
	if len(fired) != 1 {
		t.Fatalf("%d alerts fired, want 1", len(fired))
	}
	fa := fired[0]
	// As if its explanation had failed when it fired.
	note, err := json.Marshal(Explanation{PredictionID: fa.PredictionID, Entity: fa.Entity, Error: "no explanation: test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutExplanation(fa.Fingerprint, note); err != nil {
		t.Fatal(err)
	}
	a := &App{scorer: s, explainer: ex, alerts: al}
	x, err := a.explainEntity(ctx, fa.Entity)
	if err != nil || x.PredictionID != fa.PredictionID {
		t.Fatalf("explain %s now: %s, %v; want prediction %s", fa.Entity, x.PredictionID, err, fa.PredictionID)
	}
	doc, err := st.Explanation(fa.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	got, err := api.DecodeExplanation(doc)
	if err != nil || got.Error != "" || got.PredictionID != fa.PredictionID || len(got.Attribution.Groups) == 0 {
		t.Errorf("under the alert's fingerprint after explain now: %+v, %v", got, err)
	}
}
