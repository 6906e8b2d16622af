package app

import (
	"context"
	"testing"
	"time"
)

// TestStaleUnscoredKeepsAlerts: while present entities get vectors but no
// prediction (here: no model), their firing alerts stay firing, and the
// alerts of entities that vanished at the same time resolve.
func TestStaleUnscoredKeepsAlerts(t *testing.T) {
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
	p.s.mu.Lock()
	m := p.s.model
	p.s.model = nil
	p.s.mu.Unlock()
	// The leaving pods' samples stay within PromQL's lookback for 5m: run
	// past it.
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
		if state[pod] != "firing" {
			t.Errorf("%s, present but unscored for %d steps: %q, want firing", pod, steps, state[pod])
		}
	}
	for _, pod := range leave {
		if state[pod] != "resolved" {
			t.Errorf("%s, gone for %d steps: %q, want resolved", pod, steps, state[pod])
		}
	}
	p.s.mu.Lock()
	p.s.model = m
	p.s.mu.Unlock()
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
