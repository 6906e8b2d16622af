package alert

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// TestCompactedSurvivesRetention: through an Alertmanager outage longer
// than the store's retention, the item compaction replaces the backlog
// with is enqueued now, so retention (which goes by Created) does not
// delete it with the notifications of the outage's last steps; it keeps
// the time of the oldest notification it replaces as Since, which
// omen_notifications_oldest_pending_age_seconds reads.
func TestCompactedSurvivesRetention(t *testing.T) {
	s, err := store.Open(store.Options{Path: t.TempDir(), Retention: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	// A notification from 2h ago, still pending: the outage began then.
	old := time.Now().Add(-2 * time.Hour)
	oldAlert := `[{"labels":{"alertname":"x","entity":"old"},"annotations":{},"startsAt":"2026-11-25T10:00:00Z",` +
		`"endsAt":"2026-11-25T10:04:00Z","generatorURL":"http://x"}]`
	if err := s.Enqueue([]store.OutboxItem{{Created: old.UnixMilli(), Targets: []string{fakeAM}, Payload: []byte(oldAlert)}}); err != nil {
		t.Fatal(err)
	}
	o := testOptions(s, fakeAM)
	o.For = 1
	t0 := time.Now()
	var clk stepClock
	clk.use(&o, t0)
	m, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	ctx := context.Background()
	// Run is not running: nothing is delivered, the backlog is compacted.
	for i := range 3 * DefaultMaxBatch {
		ts := t0.Add(time.Duration(i) * time.Minute)
		clk.set(ts)
		if err := m.Process(ctx, ts, []Prediction{pred("p", ts, 0.9)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RunRetention(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	items, err := s.Pending(fakeAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	entities := map[string]bool{}
	for _, it := range items {
		var as []queued
		if err := json.Unmarshal(it.Payload, &as); err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			entities[a.Labels["entity"]+a.Labels["pod"]] = true
		}
	}
	for _, e := range []string{"old", "p"} {
		if !entities[e] {
			t.Errorf("after retention, no pending notification of %q (pending: %v in %d items): the compacted item was expired", e, entities, len(items))
		}
	}
	if since := oldestSince(items); since == 0 || time.Since(time.UnixMilli(since)) < 2*time.Hour {
		t.Errorf("oldest pending notification undelivered since %v, want at least 2h ago", time.UnixMilli(since))
	}
}
