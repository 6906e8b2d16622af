package app

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestAlertCallbacksEscalation: a firing warning alert that escalates to
// critical is reported to OnEscalate, between its OnAlert and OnResolve,
// with its critical labels, and OnResolve reports the labels it resolved
// with (critical). Escalations were not reported at all, and OnResolve
// gave the labels it fired with (severity warning).
func TestAlertCallbacksEscalation(t *testing.T) {
	p := newAlertPipeline(t, alertPipelineOptions{})
	type call struct {
		what string
		fa   FiredAlert
	}
	var mu sync.Mutex
	var calls []call
	record := func(what string) func(FiredAlert) {
		return func(fa FiredAlert) {
			mu.Lock()
			defer mu.Unlock()
			calls = append(calls, call{what, fa})
		}
	}
	p.al.opts.OnAlert, p.al.opts.OnEscalate, p.al.opts.OnResolve = record("alert"), record("escalate"), record("resolve")

	// alerting.for is 2 and critical_probability the default 0.9: fires
	// warning at the 2nd step, escalates at the 3rd, resolves at the 4th.
	t0 := time.Now().Add(-time.Hour).Truncate(time.Minute).UnixMilli()
	step := time.Minute.Milliseconds()
	probs := []float64{0.6, 0.6, 0.95, 0.1}
	for i, prob := range probs {
		ts := t0 + int64(i)*step
		pr := prediction{Prediction: store.Prediction{ID: store.PredictionID("shop/cart-0", ts), Entity: "shop/cart-0",
			T: ts, Prob: prob, Threshold: 0.5}, Labels: map[string]string{"namespace": "shop", "pod": "cart-0"}}
		p.al.process(context.Background(), ts, []prediction{pr}, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.al.close(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []struct {
		what, severity string
		t              int64
	}{{"alert", "warning", t0 + step}, {"escalate", "critical", t0 + 2*step}, {"resolve", "critical", t0 + 3*step}}
	if len(calls) != len(want) {
		t.Fatalf("calls %+v, want %d: alert, escalate, resolve", calls, len(want))
	}
	for i, w := range want {
		c := calls[i]
		if c.what != w.what || c.fa.Labels["severity"] != w.severity || c.fa.T.UnixMilli() != w.t || c.fa.Fingerprint != calls[0].fa.Fingerprint {
			t.Errorf("call %d: %s %+v; want %s with severity %s at %d, fingerprint %s", i, c.what, c.fa, w.what, w.severity, w.t, calls[0].fa.Fingerprint)
		}
	}
	if e := calls[1].fa; e.Prob != 0.95 || e.Annotations["summary"] == "" {
		t.Errorf("escalation reported with probability %g, annotations %v; want 0.95 and the critical alert's", e.Prob, e.Annotations)
	}
}
