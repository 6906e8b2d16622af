package alert

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestCancelledStepNotApplied: the caller's ctx (the app's Stop cancels it
// before Close) cancelled while the alerts firing at a step are explained
// is treated like Close: the step is not applied, Process returns ctx's
// error, nothing is enqueued, and at the next step the alerts fire with
// their explanations (instead of firing now without them, for good).
func TestCancelledStepNotApplied(t *testing.T) {
	const n = 6
	m, st, b, t0 := newBlockedManager(t, n)
	before := len(pending(t, st, fakeAM))

	b.block.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	t1 := t0.Add(time.Minute)
	done := make(chan error, 1)
	go func() { done <- m.Process(ctx, t1, firingStep(t1, n)) }()
	for range explainWorkers {
		<-b.started
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Process with its ctx cancelled while explaining: %v, want context.Canceled", err)
	}
	if as := m.Alerts(); len(as) != 1 || as[0].Entity != "old" {
		t.Errorf("Alerts() = %+v, want only the old alert (the step is not applied)", as)
	}
	if got := len(pending(t, st, fakeAM)); got != before {
		t.Errorf("%d outbox items, want %d (nothing enqueued)", got, before)
	}
	if c := testutil.ToFloat64(m.explainErrs); c != 0 {
		t.Errorf("%g explain errors counted for a cancelled step", c)
	}

	b.block.Store(false)
	t2 := t1.Add(time.Minute)
	if err := m.Process(context.Background(), t2, firingStep(t2, n)); err != nil {
		t.Fatal(err)
	}
	as := m.Alerts()
	if len(as) != n+1 {
		t.Fatalf("%d alerts at the next step, want %d", len(as), n+1)
	}
	for _, a := range as {
		if a.Explanation == nil || len(a.Explanation.TopCauses) == 0 {
			t.Errorf("alert of %s fired without explanation", a.Entity)
		}
	}
}
