package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// TestAlertResolvedAsFailureBegins: the evaluator hands the step's failure
// labels to the alerts (markFailing, alert.Prediction.Failing): an alert
// whose entity's failure label (crashloop) fires resolves with the
// outcome failure_began, and OnResolve (the demo's RESOLVED line) gets
// the step the failure began at; the others resolve as before. Without
// it the pager got "Resolved: omen no longer predicts a module-load
// failure" as the failure began (reviewer's finding). A pod crash-looping
// from the start (its failure label set before its alert fired) resolves
// as fired_during_failure, and OnResolve has no FailureBegan for it: the
// demo's line "the predicted failure is under way" would misstate it.
func TestAlertResolvedAsFailureBegins(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	var mu sync.Mutex
	resolved := map[string]FiredAlert{}
	p.al.opts.OnResolve = func(fa FiredAlert) {
		mu.Lock()
		defer mu.Unlock()
		resolved[fa.Entity] = fa
	}
	ctx := context.Background()
	ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
	ps := pods(0, 3)
	crashLoop := func(ts int64, pod string) {
		p.seq++
		if err := p.in.Append(ctx, []telemetry.Batch{{Source: "test", Seq: p.seq, Received: ts, Events: []telemetry.Event{{
			T: ts, Source: telemetry.SourceKubernetes, Reason: "CrashLoopBackOff", Type: "Warning", Count: 1,
			Labels: labels.FromStrings("namespace", "shop", "pod", pod),
		}}}}); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 6 {
		p.appendPods(ts, ps, k)
		crashLoop(ts, ps[2]) // failing from the start
		p.e.evaluate(ctx, ts)
		ts += p.step
	}
	if l := p.live(); l.firing != 3 {
		t.Fatalf("%+v, want 3 firing", l)
	}
	// The first pod crash-loops: its failure label is set at this step.
	p.appendPods(ts, ps, 6)
	crashLoop(ts, ps[0])
	crashLoop(ts, ps[2])
	began := ts
	p.e.evaluate(ctx, ts)
	ts += p.step
	// No prediction any more: both resolve after the missing steps.
	for range 5 {
		p.al.process(ctx, ts, nil, nil)
		ts += p.step
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.al.close(cctx); err != nil {
		t.Fatal(err)
	}
	outcome := map[string]string{}
	for _, a := range p.al.Alerts() {
		if a.State != store.AlertResolved {
			t.Errorf("alert of %s %s, want resolved", a.Entity, a.State)
		}
		outcome[a.Entity] = a.Annotations["outcome"]
	}
	mu.Lock()
	defer mu.Unlock()
	for i, pod := range ps {
		e := "shop/" + pod
		want, wantOutcome := time.Time{}, alert.OutcomeEntityGone
		switch i {
		case 0:
			want, wantOutcome = time.UnixMilli(began), alert.OutcomeFailureBegan
		case 2:
			wantOutcome = alert.OutcomeFiredDuringFailure
		}
		fa, ok := resolved[e]
		if !ok {
			t.Errorf("%s: no OnResolve", e)
			continue
		}
		if !fa.FailureBegan.Equal(want) {
			t.Errorf("%s: OnResolve FailureBegan %v, want %v", e, fa.FailureBegan, want)
		}
		if outcome[e] != wantOutcome || fa.Outcome != wantOutcome {
			t.Errorf("%s: outcome annotation %q, OnResolve Outcome %q, want %q", e, outcome[e], fa.Outcome, wantOutcome)
		}
	}
}

// TestMarkFailing: a prediction is failing when its entity's vector of the
// step has a failure label set.
func TestMarkFailing(t *testing.T) {
	preds := []prediction{{Prediction: store.Prediction{Entity: "a"}}, {Prediction: store.Prediction{Entity: "b"}}, {Prediction: store.Prediction{Entity: "c"}}}
	vs := []features.Vector{{Entity: "a", Failure: []bool{false, true}}, {Entity: "b", Failure: []bool{false, false}}, {Entity: "c"}}
	markFailing(preds, vs)
	for i, want := range []bool{true, false, false} {
		if preds[i].Failing != want {
			t.Errorf("%s: Failing %v, want %v", preds[i].Entity, preds[i].Failing, want)
		}
	}
}
