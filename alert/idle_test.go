package alert

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestNoFiringResendBeforeResolution: the idle steps after a stall run at
// once; the first of them must not re-send the alert as firing when a
// later one resolves it (its entity has no prediction). Only the
// resolution is enqueued.
func TestNoFiringResendBeforeResolution(t *testing.T) {
	st := openStore(t, "")
	m, err := New(Options{Store: st, Alertmanagers: []string{"http://127.0.0.1:1"}, Registerer: prometheus.NewRegistry(), MaxBatch: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ctx := context.Background()
	t0 := time.Unix(1764000000, 0)
	for i := 0; i <= 2; i++ { // fires at t0+1m, re-sent at t0+2m
		ts := t0.Add(time.Duration(i) * time.Minute)
		if err := m.Process(ctx, ts, []Prediction{pred("p", ts, 0.8)}); err != nil {
			t.Fatal(err)
		}
	}
	before, err := st.Pending("http://127.0.0.1:1", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Idle steps at once, 90s after the last send (past the resend delay).
	idle := t0.Add(3*time.Minute + 30*time.Second)
	for i := 0; i <= DefaultMissingSteps; i++ {
		if err := m.Process(ctx, idle.Add(time.Duration(i)*time.Millisecond), nil); err != nil {
			t.Fatal(err)
		}
	}
	after, err := st.Pending("http://127.0.0.1:1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []bool
	for _, it := range after[len(before):] {
		var qs []queued
		if err := json.Unmarshal(it.Payload, &qs); err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			got = append(got, q.Resolved)
		}
	}
	if len(got) != 1 || !got[0] {
		t.Fatalf("idle steps enqueued versions resolved=%v, want only the resolution", got)
	}
}
