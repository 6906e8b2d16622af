package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"
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

// errAfter is a context whose Err reports Canceled from its n-th call on.
type errAfter struct {
	context.Context
	calls, n int
}

func (c *errAfter) Err() error {
	c.calls++
	if c.calls >= c.n {
		return context.Canceled
	}
	return nil
}

// TestRetentionStopMidScanCounts: a run stopped within a step's scan
// deletes what the step found so far and counts it (returned and in
// omen_store_retention_deleted_total): what is gone is what is counted.
// Before, the step's write batch had already committed part of its
// deletes on its own (Badger's transaction limit, here a 1 MiB memtable)
// and the run reported none of them (reviewer's finding).
func TestRetentionStopMidScanCounts(t *testing.T) {
	s := openTest(t, Options{Path: t.TempDir(), NoSync: true, DiskReserve: -1, MemTableSize: 1 << 20})
	if err := s.PutSchema([]string{"f"}, nil); err != nil {
		t.Fatal(err)
	}
	var vs []Vector
	for i := range 5000 {
		vs = append(vs, Vector{Entity: fmt.Sprintf("e%05d", i), T: int64(1000 + i), Values: []float64{1}})
	}
	for i := 0; i < len(vs); i += 500 {
		if err := s.PutVectors(vs[i : i+500]); err != nil {
			t.Fatal(err)
		}
	}
	count := func() int {
		n := 0
		if err := s.db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{pVector}})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	// Err is called at the start, before steps 1 and 2, then every 1024
	// keys of the vectors' scan: stopped at its 3,072nd key.
	n, err := s.RunRetention(&errAfter{Context: context.Background(), n: 6}, time.Now())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("RunRetention = %d, %v; want stopped", n, err)
	}
	gone := before - count()
	counted := testutil.ToFloat64(s.m.retention.WithLabelValues("vector"))
	if gone == 0 || gone == before || n != gone || int(counted) != gone {
		t.Errorf("of %d vectors %d deleted, %d returned, %v counted; want some but not all deleted, all of them returned and counted", before, gone, n, counted)
	}
}

// TestCloseContextDoneNoCalls: with no call in flight the store closes at
// once, so CloseContext succeeds even with a context already done.
// Before, it picked at random between "closed" and the context's error
// (27 of 40 calls failed in the reviewer's run).
func TestCloseContextDoneNoCalls(t *testing.T) {
	for range 40 {
		s, err := Open(Options{InMemory: true})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.CloseContext(ctx); err != nil {
			t.Fatalf("CloseContext with no call in flight: %v", err)
		}
	}
}
