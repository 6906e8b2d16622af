package alert

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/store"
)

// gauge returns the value of the series of metric name with label
// alertmanager=am in reg, and whether there is one.
func gauge(t *testing.T, reg *prometheus.Registry, name, am string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "alertmanager" && l.GetValue() == am {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestOldestPendingAge: omen_notifications_oldest_pending_age_seconds is
// the age of the oldest notification an Alertmanager has not accepted: it
// counts a notification left over from before a restart, keeps growing
// through an outage (compaction keeps the queue length bounded, and the
// oldest notification's age), and drops to 0 once everything is
// delivered. The queue length alone cannot tell an outage's length.
func TestOldestPendingAge(t *testing.T) {
	var up atomic.Bool
	srv := httptest.NewServer(answerStatus(func(w http.ResponseWriter, _ *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	am := srv.URL
	const name = "omen_notifications_oldest_pending_age_seconds"

	st := openStore(t, t.TempDir())
	// Left over from before a restart, an hour ago.
	hourAgo := time.Now().Add(-time.Hour)
	if err := st.Enqueue([]store.OutboxItem{{Created: hourAgo.UnixMilli(), Targets: []string{am}, Payload: []byte("[]")}}); err != nil {
		t.Fatal(err)
	}
	o := testOptions(st, am)
	reg := prometheus.NewRegistry()
	o.Registerer = reg
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	atLeastHour := func(when string) {
		t.Helper()
		age, ok := gauge(t, reg, name, am)
		if !ok || age < time.Hour.Seconds() {
			t.Fatalf("%s: %s = %g (present %v), want at least 3600", when, name, age, ok)
		}
	}
	atLeastHour("after a restart")

	// An outage (Run not running: nothing is delivered) with an alert
	// re-sent at every step: far more notifications than MaxBatch.
	ctx := context.Background()
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	for i := range 4 * DefaultMaxBatch {
		ts := t0.Add(time.Duration(i) * time.Minute)
		if err := m.Process(ctx, ts, []Prediction{pred("p", ts, 0.9)}); err != nil {
			t.Fatal(err)
		}
	}
	if q, _ := gauge(t, reg, "omen_notifications_queue_length", am); q > float64(DefaultMaxBatch+1) {
		t.Errorf("queue length %g through the outage, want at most %d (compacted)", q, DefaultMaxBatch+1)
	}
	atLeastHour("through the outage, compacted")

	// The Alertmanager is back: everything is delivered.
	up.Store(true)
	startRun(t, m)
	eventually(t, 10*time.Second, "delivery", func() error {
		if age, _ := gauge(t, reg, name, am); age != 0 {
			return fmt.Errorf("%s = %g", name, age)
		}
		if q, _ := gauge(t, reg, "omen_notifications_queue_length", am); q != 0 {
			return fmt.Errorf("queue length %g", q)
		}
		return nil
	})
}
