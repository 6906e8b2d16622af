package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/telemetry"
)

// TestRetentionStops: RunRetention stops when its context ends, before the
// next step or value-log GC pass (it ran every step and up to 16 GC passes
// whatever happened, holding Close, and so the daemon's shutdown, off),
// and the run is counted under none of its results.
func TestRetentionStops(t *testing.T) {
	const units = 9 + 1 // the steps, deduplication keys; then GC passes
	for _, cancelAt := range []int{1, 4, units, units + 1} {
		t.Run(fmt.Sprintf("cancelled at unit %d", cancelAt), func(t *testing.T) {
			s := openTest(t, Options{Path: t.TempDir(), NoSync: true, DiskReserve: -1})
			if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("r", 1, 1)}); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			calls := 0
			s.testRetentionHook = func() {
				calls++
				if calls == cancelAt {
					cancel()
				}
			}
			_, err := s.RunRetention(ctx, time.Now().Add(24*time.Hour))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("RunRetention = %v, want an error wrapping context.Canceled", err)
			}
			if calls != cancelAt {
				t.Fatalf("went on for %d more units after its context ended", calls-cancelAt)
			}
			for _, r := range []string{"success", "error", "refused"} {
				if v := testutil.ToFloat64(s.m.runs.WithLabelValues(r)); v != 0 {
					t.Fatalf("retention_runs_total{result=%q} = %v, want 0", r, v)
				}
			}
		})
	}
}

// TestCloseContextBounded: CloseContext returns when its context ends
// although a call (a retention run held between two GC passes) is in
// flight; calls made meanwhile fail with ErrClosed at once instead of
// queueing behind Close; the call in flight finishes on an open database
// and closes it as it returns, after which Close reports success.
func TestCloseContextBounded(t *testing.T) {
	s := openTest(t, Options{Path: t.TempDir(), NoSync: true, DiskReserve: -1})
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("r", 1, 1)}); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	calls := 0
	s.testRetentionHook = func() {
		calls++
		if calls == 11 { // before the first GC pass
			close(entered)
			<-release
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.RunRetention(context.Background(), time.Now())
		done <- err
	}()
	<-entered

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown deadline has passed
	if err := s.CloseContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("CloseContext with a call in flight = %v, want an error wrapping context.Canceled", err)
	}
	if _, err := s.Checkpoint("r"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint while closing = %v, want ErrClosed", err)
	}
	if _, err := s.AppendBatches([]telemetry.Batch{smallBatch("r", 2, 2)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("AppendBatches while closing = %v, want ErrClosed", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("retention run in flight during Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close after the last call returned: %v", err)
	}
	if _, err := s.Checkpoint("r"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Checkpoint after Close = %v, want ErrClosed", err)
	}
}
