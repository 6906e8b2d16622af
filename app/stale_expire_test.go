package app

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/model"
)

// TestStaleUnscoredKeepsAlerts: while present entities get vectors but no
// prediction because the model's window is still filling (here: a model
// with a longer window put in place without filling), their firing alerts
// stay firing, and the alerts of entities that vanished at the same time
// resolve. With no model at all (unloaded by a reload, reviewer's
// finding) no prediction is coming: the alerts resolve after their
// missing steps instead of firing, re-sent, for as long as the entity
// has data.
func TestStaleUnscoredKeepsAlerts(t *testing.T) {
	tests := []struct {
		name string
		// window of the model put in place; 0: no model.
		window    int
		wantStay  string
		wantLeave string
	}{
		{name: "window filling", window: 100, wantStay: "firing", wantLeave: "resolved"},
		{name: "no model", window: 0, wantStay: "resolved", wantLeave: "resolved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
			ctx := context.Background()
			ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
			stay, leave := pods(0, 5), pods(1, 5)
			for k := range 6 {
				p.appendPods(ts, append(append([]string(nil), stay...), leave...), k)
				p.e.evaluate(ctx, ts)
				ts += p.step
			}
			if l := p.live(); l.firing != 10 {
				t.Fatalf("before: %+v, want 10 firing", l)
			}
			var m *model.Model
			if tt.window > 0 {
				var err error
				m, err = model.New(model.Config{Features: p.s.currentFeatures(), Window: tt.window, Hidden: 4, Seed: 1})
				if err != nil {
					t.Fatal(err)
				}
				m.SetThresholds(model.Thresholds{Failure: 0.01})
			}
			p.s.mu.Lock()
			p.s.model = m
			p.s.mu.Unlock()
			// The leaving pods' samples stay within PromQL's lookback for
			// 5m: run past it (72 steps, under the window of 100).
			steps := int(6 * time.Minute / (time.Duration(p.step) * time.Millisecond))
			for k := range steps {
				p.appendPods(ts, stay, 6+k)
				p.e.evaluate(ctx, ts)
				ts += p.step
			}
			state := map[string]string{}
			for _, a := range p.al.Alerts() {
				state[a.Labels["pod"]] = a.State
			}
			for _, pod := range stay {
				if state[pod] != tt.wantStay {
					t.Errorf("%s, present but unscored for %d steps: %q, want %s", pod, steps, state[pod], tt.wantStay)
				}
			}
			for _, pod := range leave {
				if state[pod] != tt.wantLeave {
					t.Errorf("%s, gone for %d steps: %q, want %s", pod, steps, state[pod], tt.wantLeave)
				}
			}
		})
	}
}

// TestStaleWallClockExpiry: with WallClock, when no step is evaluated for
// idleAfter of wall time (every source stopped), idle steps expire the
// predictions and alerts; data that comes back is evaluated as before.
func TestStaleWallClockExpiry(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	ctx := context.Background()
	now := time.Now()
	p.e.WallClock = true
	p.e.clock = func() time.Time { return now }
	ts := now.Add(-24*time.Hour).UnixMilli() / p.step * p.step
	live := pods(0, 10)
	for k := range 6 {
		p.appendPods(ts, live, k)
		p.e.evaluate(ctx, ts)
		ts += p.step
	}
	p.e.next = ts // the evaluator's next step; the watermark is at ts − step
	if l := p.live(); l.firing != 10 || l.probSeries != 10 {
		t.Fatalf("before: %+v, want 10 firing alerts and predictions", l)
	}
	now = now.Add(time.Duration(p.e.idleAfter())*time.Millisecond - time.Second)
	p.e.tick(ctx)
	if l := p.live(); l.firing != 10 || l.probSeries != 10 || l.windows != 10 {
		t.Fatalf("%v without a step: %+v, want everything kept", time.Duration(p.e.idleAfter())*time.Millisecond-time.Second, l)
	}
	now = now.Add(2 * time.Second)
	p.e.tick(ctx)
	if l := p.live(); l.firing != 0 || l.firingGauge != 0 || l.probSeries != 0 || l.latest != 0 || l.windows != 0 {
		t.Fatalf("%v without a step: %+v, want no prediction, window or firing alert", time.Duration(p.e.idleAfter())*time.Millisecond+time.Second, l)
	}
	if got := p.e.done.Load(); got != ts-p.step {
		t.Errorf("idle steps moved the last evaluated step to %d, want %d", got, ts-p.step)
	}
	// The data comes back (e.g. a consumer catching up): its steps are
	// evaluated, predictions come back and the alerts fire again.
	for k := range 8 {
		p.appendPods(ts, live, 6+k)
		p.e.tick(ctx)
		ts += p.step
	}
	if l := p.live(); l.firing != 10 || l.probSeries != 10 {
		t.Fatalf("after the data came back: %+v, want 10 firing alerts and predictions", l)
	}
	if got := p.e.done.Load(); got != ts-2*p.step {
		t.Errorf("last evaluated step %d, want %d", got, ts-2*p.step)
	}
}

// TestRestoredAlertsNotReportedAgain: alerts restored firing by a new
// alerter on the same store (a restart) are not reported to OnAlert
// again; their resolution is reported to OnResolve. Before, every
// restored firing alert was reported as firing anew (reviewer's finding).
func TestRestoredAlertsNotReportedAgain(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	ctx := context.Background()
	ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
	stay := pods(0, 3)
	for k := range 6 {
		p.appendPods(ts, stay, k)
		p.e.evaluate(ctx, ts)
		ts += p.step
	}
	if l := p.live(); l.firing != 3 {
		t.Fatalf("before: %+v, want 3 firing", l)
	}
	var fired, resolved atomic.Int64
	al, err := newAlerter(alerterOptions{Store: p.st, Config: testConfig(t), ListenAddress: "127.0.0.1:1", Step: time.Duration(p.step) * time.Millisecond,
		OnAlert: func(FiredAlert) { fired.Add(1) }, OnResolve: func(FiredAlert) { resolved.Add(1) },
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = al.close(context.Background()) })
	// No prediction: they resolve after the missing steps.
	for range 7 {
		al.process(ctx, ts, nil, nil)
		ts += p.step
	}
	waitFor(t, "OnResolve calls", 10*time.Second, func() bool { return resolved.Load() == 3 })
	if n := fired.Load(); n != 0 {
		t.Errorf("OnAlert called %d times for alerts restored firing, want 0", n)
	}
}

// TestRestartStepNotCountedTwice: a daemon restarted after a crash may
// evaluate the step its predecessor evaluated last once more (the step
// cursor is written with the next step's vectors and at a clean stop, so
// a crash between a step's vectors and the next step leaves the cursor a
// step behind); with its windows filled from the store it scores that
// step again, and the restored pending alert must not count it twice
// (with for: 2, one step over the threshold must not fire). Reviewer's
// reproduction of a regression of the windows filled from the store.
func TestRestartStepNotCountedTwice(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	ctx := context.Background()
	ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
	stay := pods(0, 1)
	if err := p.st.PutSchema(p.e.Extractor.FeatureNames(), p.e.Extractor.LabelNames()); err != nil {
		t.Fatal(err)
	}
	// Steps until the first prediction: the alert is then pending.
	var last int64
	for k := 0; ; k++ {
		if k == 10 {
			t.Fatal("no prediction in 10 steps")
		}
		p.appendPods(ts, stay, k)
		p.e.evaluate(ctx, ts)
		last = ts
		ts += p.step
		if len(p.s.latest) > 0 {
			break
		}
	}
	if l := p.live(); l.firing != 0 {
		t.Fatalf("before the restart: %+v, want the alert pending", l)
	}
	// The restart: a new scorer (filled from the store), alerter and
	// evaluator over the same store and head, evaluating the last step again.
	s2, err := newScorer(scorerOptions{Store: p.st, Config: testConfig(t), Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	al2, err := newAlerter(alerterOptions{Store: p.st, Config: testConfig(t), ListenAddress: "127.0.0.1:1", Step: time.Duration(p.step) * time.Millisecond,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = al2.close(context.Background()) })
	e2 := newEvaluator(evaluatorOptions{Extractor: p.e.Extractor, Store: p.st, Ingest: p.in, Scorer: s2, Alerts: al2, Step: p.e.Step,
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	e2.evaluate(ctx, last)
	if len(s2.latest) == 0 {
		t.Fatal("the re-evaluated step was not scored: the windows were not filled")
	}
	for _, a := range al2.Alerts() {
		if a.State == "firing" {
			t.Errorf("%s fired on one step of data counted twice (for: 2)", a.Labels["pod"])
		}
	}
}
