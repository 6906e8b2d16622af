package app

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestAlertCallbacksOrderedAndWaited: OnAlert and OnResolve are called one
// at a time in the order the steps reported them (an alert's OnResolve
// after its OnAlert returned), and closing the alerter (Stop) waits for
// them. They ran on a goroutine each: a slow OnAlert returned after its
// alert's OnResolve, and both could run after Stop returned.
func TestAlertCallbacksOrderedAndWaited(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{failure: 0.01}) // everything alerts
	var mu sync.Mutex
	var calls []string // "alert fp" once OnAlert returns, "resolve fp"
	record := func(what, fp string) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, what+" "+fp)
	}
	p.al.opts.OnAlert = func(fa FiredAlert) {
		time.Sleep(200 * time.Millisecond) // a slow receiver (a terminal, a chat hook)
		record("alert", fa.Fingerprint)
	}
	p.al.opts.OnResolve = func(fa FiredAlert) { record("resolve", fa.Fingerprint) }

	ctx := context.Background()
	ts := time.Now().Add(-24*time.Hour).UnixMilli() / p.step * p.step
	for k := range 6 {
		p.appendPods(ts, pods(0, 3), k)
		p.e.evaluate(ctx, ts)
		ts += p.step
	}
	if l := p.live(); l.firing != 3 {
		t.Fatalf("%+v, want 3 firing", l)
	}
	// No prediction: they resolve after the missing steps.
	for range 7 {
		p.al.process(ctx, ts, nil, nil)
		ts += p.step
	}
	if l := p.live(); l.firing != 0 {
		t.Fatalf("%+v, want none firing", l)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := p.al.close(cctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	mu.Lock()
	got := slices.Clone(calls)
	mu.Unlock()
	if len(got) != 6 {
		t.Fatalf("calls done when close returned: %q, want 3 alerts and 3 resolutions", got)
	}
	for i, c := range got {
		if i < 3 && c[:6] != "alert " || i >= 3 && c[:8] != "resolve " {
			t.Errorf("calls in order %q, want the 3 alerts, then the 3 resolutions", got)
			break
		}
	}
}

// TestAlertCallbacksCloseBounded: closing waits for a callback that does
// not return only until its context ends, and says so; calls reported
// after close are dropped.
func TestAlertCallbacksCloseBounded(t *testing.T) {
	var c callbacks
	release := make(chan struct{})
	returned := make(chan struct{})
	c.push(func() { <-release; close(returned) })
	c.push(func() {})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c.close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("close with a callback blocked = %v, want the deadline", err)
	}
	ran := make(chan struct{}, 1)
	c.push(func() { ran <- struct{}{} })
	close(release)
	<-returned
	if err := c.close(context.Background()); err != nil {
		t.Errorf("close once the callbacks returned: %v", err)
	}
	select {
	case <-ran:
		t.Error("a call reported after close ran")
	default:
	}
}
