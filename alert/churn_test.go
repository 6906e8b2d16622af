package alert

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// After a churn (20,000 entities over the threshold once, their pending
// states dropped after the missing steps) the alert states of the 100
// entities left hold about what a map made for them does: the states of
// the entities gone were deleted, but a Go map keeps the buckets of its
// deleted entries, so the manager kept its largest population's map.
func TestStatesShrinkAfterChurn(t *testing.T) {
	const churn, keep = 20_000, 100
	m, err := New(testOptions(openStore(t, "")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for k := range 2 + DefaultMissingSteps {
		ts := t0.Add(time.Duration(k) * time.Minute)
		var preds []Prediction
		for i := range keep {
			preds = append(preds, pred("keep-"+strconv.Itoa(i), ts, 0.9))
		}
		if k == 0 {
			for i := range churn {
				preds = append(preds, pred("churn-"+strconv.Itoa(i), ts, 0.9))
			}
		}
		if err := m.Process(ctx, ts, preds); err != nil {
			t.Fatal(err)
		}
		if k == 0 && len(m.states) != keep+churn {
			t.Fatalf("%d states after the first step, want %d", len(m.states), keep+churn)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.states) != keep {
		t.Fatalf("%d states, want the %d kept", len(m.states), keep)
	}
	held := testenv.HeldBeyond(func() { m.states = testenv.CopyMap(m.states) })
	t.Logf("states of %d entities after %d churned: %d bytes more than a copy", keep, churn, held)
	if held > 256<<10 {
		t.Errorf("after the churn the alert states hold %d bytes more than a map of the %d left", held, keep)
	}
}
