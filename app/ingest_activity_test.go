package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/telemetry"
)

// TestActivityClock: the activity clock runs with the wall clock while
// data arrives and counts at most activityGap of a pause.
func TestActivityClock(t *testing.T) {
	const s = int64(1000)
	var c activityClock
	gap := activityGap.Milliseconds()
	steps := []struct {
		wall    int64
		arrival bool
		want    int64
	}{
		{wall: 100 * s, arrival: true, want: 100 * s},
		{wall: 105 * s, arrival: true, want: 105 * s},
		{wall: 110 * s, want: 110 * s},
		{wall: 105*s + 6*60*s, want: 105*s + gap}, // a 6-minute pause
		{wall: 105*s + 6*60*s, arrival: true, want: 105*s + gap},
		{wall: 106*s + 6*60*s, arrival: true, want: 106*s + gap},
		{wall: 100 * s, arrival: true, want: 106*s + gap}, // the clock went back
	}
	for i, st := range steps {
		var got int64
		if st.arrival {
			got = c.at(st.wall)
		} else {
			got = c.now(st.wall)
		}
		if got != st.want {
			t.Errorf("step %d (wall %d, arrival %v): %d, want %d", i, st.wall, st.arrival, got, st.want)
		}
	}
}

// TestReplayKeepsSeriesLive: after a restart 6 minutes long, the series
// that were sending before the stop (replayed from the ingest log at
// their receipt times) still count as sending, so that a backlog of one
// of them arriving first does not leave the others behind.
func TestReplayKeepsSeriesLive(t *testing.T) {
	in, st := newTestIngester(t)
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	in.clock = func() time.Time { return t0 }
	sample := func(pod string, ts int64) telemetry.Sample {
		return telemetry.Sample{Labels: labels.FromStrings("__name__", "m", "namespace", "ns", "pod", pod), T: ts, V: 1}
	}
	data := t0.UnixMilli()
	if err := in.Append(context.Background(), []telemetry.Batch{{Source: "remote-write", Received: t0.UnixMilli(), Samples: []telemetry.Sample{
		sample("a", data-15_000), sample("b", data-15_000), sample("a", data), sample("b", data),
	}}}); err != nil {
		t.Fatal(err)
	}
	// The restart: a new head, the ingest log replayed.
	head, err := features.NewHead(features.HeadOptions{ImmutableLabels: true})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: features.DefaultConfig(), Head: head})
	if err != nil {
		t.Fatal(err)
	}
	re := newIngester(st, head, ex, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	if err := re.replay(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	now := t0.Add(6 * time.Minute)
	re.clock = func() time.Time { return now }
	if err := re.Append(context.Background(), []telemetry.Batch{{Source: "remote-write", Received: now.UnixMilli(), Samples: []telemetry.Sample{
		sample("a", data+15_000), sample("a", data+30_000),
	}}}); err != nil {
		t.Fatal(err)
	}
	got, lset, ok := head.Progress(re.liveSince(now.UnixMilli(), settleTime), nil)
	if want := data + 15_000 - 15_000/8; !ok || got != want || lset.Get("pod") != "b" {
		t.Errorf("Progress = %d of %s (%v), want %d of pod b", got, lset, ok, want)
	}
}
