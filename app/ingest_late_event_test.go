package app

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/store"
)

// TestLateEventLabelsStoredVector: a Kubernetes BackOff event published
// over NATS after omen evaluated its step (events hold no step back: the
// metrics had moved the evaluator past it) sets the failure label on the
// pod's stored vector of that step, which training reads, and nowhere
// else; it counts in omen_ingest_late_events_total. Before, its label
// was lost (an evaluation labels only its own step's events) and nothing
// counted it.
func TestLateEventLabelsStoredVector(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.Config.Labels = append(o.Config.Labels, features.LabelDef{Name: "backoff_failure", Reasons: []string{"BackOff"}})
	})
	start := time.Now().Add(-4 * time.Minute).Truncate(5 * time.Second)
	// The first evaluated step is the newest the data has passed (a new
	// store); the steps after it are evaluated as the data passes them
	// (sent a few at a time: a jump of many steps evaluates the newest).
	var payloads [][]byte
	for r := range 40 {
		payloads = append(payloads, podLines(r, start.Add(time.Duration(r)*5*time.Second), 3))
	}
	for i := 0; i < len(payloads); i += 4 {
		publish(t, a.NATSURL(), "omen.metrics.influx", payloads[i:i+4]...)
		waitFor(t, "the feature vectors of the rounds sent", 30*time.Second, func() bool {
			_, last := countVectors(t, a.Store(), "shop/cart-1")
			return last.T >= start.Add(time.Duration(i+2)*5*time.Second).UnixMilli()
		})
	}
	label := slices.Index(a.Config().LabelNames(), "backoff_failure")
	if label < 0 {
		t.Fatalf("labels %v lack backoff_failure", a.Config().LabelNames())
	}
	failing := func() map[int64]bool {
		out := map[int64]bool{}
		if err := a.Store().Vectors("shop/cart-1", start.UnixMilli(), start.Add(time.Hour).UnixMilli(), func(v store.Vector) error {
			out[v.T] = v.Failure[label]
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := failing()
	for st, f := range before {
		if f {
			t.Fatalf("backoff_failure set at %v before any event", time.UnixMilli(st).UTC())
		}
	}

	// The event belongs to the step start+100s: (start+95s, start+100s].
	at := start.Add(98 * time.Second)
	step := start.Add(100 * time.Second).UnixMilli()
	if _, ok := before[step]; !ok {
		var ts []int64
		for k := range before {
			ts = append(ts, (k-start.UnixMilli())/1000)
		}
		slices.Sort(ts)
		t.Fatalf("no stored vector at %v, the event's step; vectors at start+%v s", time.UnixMilli(step).UTC(), ts)
	}
	ev := fmt.Sprintf(`{"metadata":{"uid":"e1","namespace":"shop"},"involvedObject":{"kind":"Pod","name":"cart-1","namespace":"shop"},"reason":"BackOff","type":"Warning","count":1,"lastTimestamp":%q}`,
		at.UTC().Format(time.RFC3339))
	publish(t, a.NATSURL(), "omen.events.k8s", []byte(ev))
	stored := a.ingest.lateFailures.WithLabelValues("stored")
	waitFor(t, "the late event's label recorded", 20*time.Second, func() bool {
		n := 0.0
		for _, r := range []string{"stored", "no_vector", "error"} {
			n += testutil.ToFloat64(a.ingest.lateFailures.WithLabelValues(r))
		}
		return n > 0
	})

	got := failing()
	if !got[step] {
		t.Errorf("backoff_failure of the stored vector at %v (the event's step) not set", time.UnixMilli(step).UTC())
	}
	for st, f := range got {
		if f && st != step {
			t.Errorf("backoff_failure set at %v, want only at %v", time.UnixMilli(st).UTC(), time.UnixMilli(step).UTC())
		}
	}
	if n := testutil.ToFloat64(a.ingest.lateEvents); n != 1 {
		t.Errorf("omen_ingest_late_events_total = %v, want 1", n)
	}
	if n := testutil.ToFloat64(stored); n != 1 {
		t.Errorf(`omen_ingest_late_failure_labels_total{result="stored"} = %v, want 1`, n)
	}
	if n := testutil.ToFloat64(a.ingest.lateFailures.WithLabelValues("no_vector")); n != 0 {
		t.Errorf(`omen_ingest_late_failure_labels_total{result="no_vector"} = %v, want 0`, n)
	}
}
