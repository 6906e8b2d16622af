package app

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/telemetry"
)

// TestLateEventWithoutVectorDoesNotWait: a late event of an entity with
// no vector at an already stored step is counted no_vector at once; it
// does not wait for the step the evaluator is working on (it waited up to
// a whole step, holding up the Append that carried it; r8 finding 2).
func TestLateEventWithoutVectorDoesNotWait(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config.Labels = append(o.Config.Labels, features.LabelDef{Name: "backoff_failure", Reasons: []string{"BackOff"}})
	})
	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	var payloads [][]byte
	for r := range 12 {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 3))
	}
	publish(t, a.NATSURL(), "omen.metrics.influx", payloads...)
	waitFor(t, "vectors", 30*time.Second, func() bool {
		_, last := countVectors(t, a.Store(), "shop/cart-1")
		return last.T >= start.Add(9*5*time.Second).UnixMilli()
	})
	// The evaluator is busy with a step (its lock held) for 2 s.
	a.eval.layoutMu.Lock()
	release := time.AfterFunc(2*time.Second, a.eval.layoutMu.Unlock)
	defer release.Stop()
	t0 := time.Now()
	b := telemetry.Batch{Events: []telemetry.Event{{T: start.Add(20 * time.Second).UnixMilli(), Source: "kubernetes", Reason: "BackOff", Type: "Warning", Count: 1,
		Labels: labels.FromStrings("namespace", "other", "pod", "never-scraped"), UID: "e-nv"}}}
	a.ingest.advance(a.ingest.apply(&b, true))
	if d := time.Since(t0); d > time.Second {
		t.Errorf("applying a late event without a vector took %v: it waited for the evaluator's step", d)
	}
	if late, nv := testutil.ToFloat64(a.ingest.lateEvents), testutil.ToFloat64(a.ingest.lateFailures.WithLabelValues("no_vector")); late != 1 || nv != 1 {
		t.Errorf("late events %v, no_vector %v; want 1, 1", late, nv)
	}
}
