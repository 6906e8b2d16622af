package app

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// TestLateEventDuringItsStep: an event that arrives after its step's
// features were evaluated but before the step's vectors are stored is
// late, finds no vector at first, and is set on the vector once the step
// stored it (it was counted no_vector and lost from the history training
// reads; r6 finding 3).
func TestLateEventDuringItsStep(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config.Labels = append(o.Config.Labels, features.LabelDef{Name: "backoff_failure", Reasons: []string{"BackOff"}})
	})
	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	target := start.Add(100 * time.Second).UnixMilli()
	var once sync.Once
	applied := make(chan struct{})
	hook := func(point string) {
		if point != "evaluated" || a.eval.next != target {
			return
		}
		once.Do(func() {
			// The ingest path runs beside the evaluator, which holds the
			// step's layout lock here, its vectors not yet stored.
			go func() {
				defer close(applied)
				b := telemetry.Batch{Events: []telemetry.Event{{T: target - 2000, Source: "kubernetes", Reason: "BackOff", Type: "Warning", Count: 1,
					Labels: labels.FromStrings("namespace", "shop", "pod", "cart-1"), UID: "e1"}}}
				a.ingest.advance(a.ingest.apply(&b, true))
			}()
			// Until the event counts late and its label has looked for
			// the vector (and, fixed, waits for the step).
			deadline := time.Now().Add(5 * time.Second)
			for testutil.ToFloat64(a.ingest.lateEvents) < 1 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond)
		})
	}
	a.eval.testHook.Store(&hook)
	var payloads [][]byte
	for r := range 40 {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 3))
	}
	for i := 0; i < len(payloads); i += 4 {
		publish(t, a.NATSURL(), "omen.metrics.influx", payloads[i:i+4]...)
		waitFor(t, "vectors", 30*time.Second, func() bool {
			_, last := countVectors(t, a.Store(), "shop/cart-1")
			return last.T >= start.Add(time.Duration(i+2)*5*time.Second).UnixMilli()
		})
	}
	select {
	case <-applied:
	case <-time.After(30 * time.Second):
		t.Fatal("the late event was not applied")
	}
	label := slices.Index(a.Config().LabelNames(), "backoff_failure")
	var set, found bool
	if err := a.Store().Vectors("shop/cart-1", target, target, func(v store.Vector) error {
		found, set = true, v.Failure[label]
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	stored, missing := testutil.ToFloat64(a.ingest.lateFailures.WithLabelValues("stored")), testutil.ToFloat64(a.ingest.lateFailures.WithLabelValues("no_vector"))
	if !found || !set || stored != 1 || missing != 0 {
		t.Errorf("vector at the event's step found %v, backoff_failure %v; late labels stored %v, no_vector %v; want true, true, 1, 0", found, set, stored, missing)
	}
}
