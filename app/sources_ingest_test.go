package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

func newTestIngester(t *testing.T) (*ingester, *store.Store) {
	t.Helper()
	return newTestIngesterOn(t, store.Options{InMemory: true})
}

// newTestIngesterOn returns an ingester over a store opened with opts, a
// new head and the default features.
func newTestIngesterOn(tb testing.TB, opts store.Options) (*ingester, *store.Store) {
	tb.Helper()
	st, err := store.Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	head, err := features.NewHead(features.HeadOptions{ImmutableLabels: true})
	if err != nil {
		tb.Fatal(err)
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{Config: features.DefaultConfig(), Head: head})
	if err != nil {
		tb.Fatal(err)
	}
	return newIngester(st, head, ex, prometheus.NewRegistry(), slog.New(slog.DiscardHandler)), st
}

func testBatch(seq uint64, t0 int64) telemetry.Batch {
	return telemetry.Batch{Source: "test", Seq: seq, Received: t0, Samples: []telemetry.Sample{{
		Labels: labels.FromStrings("__name__", "m", "namespace", "ns", "pod", fmt.Sprintf("p%d", seq%50)),
		T:      t0 + int64(seq), V: float64(seq),
	}}}
}

// stalledLog is an ingest log whose commits wait for release (a stalled
// disk), then go to the real store.
type stalledLog struct {
	ingestLog
	entered chan struct{}
	release chan struct{}
}

func (s *stalledLog) AppendNew(bs []telemetry.Batch) ([]int, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.ingestLog.AppendNew(bs)
}

// TestIngesterAppendHonoursContext: Append returns when its context ends
// while the store is stalled (so the remote-write receiver's AppendTimeout
// holds), with an error wrapping the context's; the commit finishes in the
// background and its batches are applied then, exactly once.
func TestIngesterAppendHonoursContext(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	in, _ := newTestIngester(t)
	sl := &stalledLog{ingestLog: in.log, entered: make(chan struct{}, 1), release: make(chan struct{})}
	in.log = sl
	t0 := time.Now().UnixMilli()
	batches := []telemetry.Batch{testBatch(1, t0), testBatch(2, t0)}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- in.Append(ctx, batches) }()
	select {
	case err := <-errc:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Append on a stalled store returned %v, want a DeadlineExceeded error", err)
		}
	case <-time.After(5 * time.Second):
		close(sl.release)
		<-errc
		t.Fatal("Append on a stalled store still blocked 5s after its 100ms deadline")
	}
	<-sl.entered
	if n := in.applied.Load(); n != 0 {
		t.Fatalf("%d samples applied before the commit", n)
	}
	close(sl.release) // the disk recovers
	deadline := time.Now().Add(10 * time.Second)
	for in.applied.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := in.applied.Load(); n != 2 {
		t.Fatalf("%d samples applied after the background commit, want 2", n)
	}
	// A retry by the source is a duplicate: nothing is applied twice.
	if err := in.Append(context.Background(), batches); err != nil {
		t.Fatal(err)
	}
	if n := in.applied.Load(); n != 2 {
		t.Fatalf("%d samples applied after the retry, want 2", n)
	}
	// A context already done stores nothing.
	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if err := in.Append(done, []telemetry.Batch{testBatch(3, t0)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with a cancelled context returned %v", err)
	}
	if n := in.applied.Load(); n != 2 {
		t.Fatalf("%d samples applied, want 2", n)
	}
}

// cancellingLog cancels a context after the replay has handed out `after`
// batches.
type cancellingLog struct {
	ingestLog
	after  int
	cancel context.CancelFunc
	handed int
}

func (c *cancellingLog) ReplayBatches(since int64, fn func(telemetry.Batch) error) error {
	return c.ingestLog.ReplayBatches(since, func(b telemetry.Batch) error {
		c.handed++
		if c.handed == c.after {
			c.cancel()
		}
		return fn(b)
	})
}

// TestIngesterReplayHonoursContext: a replay stops with ctx.Err() once
// its context ends, and replays everything otherwise.
func TestIngesterReplayHonoursContext(t *testing.T) {
	_, st := newTestIngester(t)
	const n = 1000
	t0 := time.Now().UnixMilli()
	var bs []telemetry.Batch
	for i := range n {
		bs = append(bs, testBatch(uint64(i+1), t0))
	}
	if _, err := st.AppendBatches(bs); err != nil {
		t.Fatal(err)
	}
	replayed := func(ctx context.Context, log ingestLog) (int64, error) {
		fresh, _ := newTestIngester(t)
		fresh.log = log
		err := fresh.replay(ctx, time.Hour)
		return fresh.applied.Load(), err
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if got, err := replayed(cancelled, st); !errors.Is(err, context.Canceled) || got != 0 {
		t.Fatalf("replay with a cancelled context: %d batches applied, err %v; want 0 and context.Canceled", got, err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, err := replayed(ctx, &cancellingLog{ingestLog: st, after: 100, cancel: cancel})
	if !errors.Is(err, context.Canceled) || got < 100 || got > 100+replayCheckEvery {
		t.Fatalf("replay cancelled after 100 batches: %d applied, err %v; want 100..%d and context.Canceled", got, err, 100+replayCheckEvery)
	}

	if got, err := replayed(context.Background(), st); err != nil || got != n {
		t.Fatalf("full replay: %d batches applied, err %v; want %d", got, err, n)
	}
}

// TestIngesterBoundsBackgroundCommits: while the store is stalled, a
// source retrying after each deadline (remote-write after AppendTimeout)
// does not pile up background commits holding their batches: at most
// maxCommits commits are in flight, and the Appends beyond them fail with
// their context's error without starting one.
func TestIngesterBoundsBackgroundCommits(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	in, _ := newTestIngester(t)
	const k, n = 3, 40
	in.commits = make(chan struct{}, k)
	sl := &stalledLog{ingestLog: in.log, entered: make(chan struct{}, n), release: make(chan struct{})}
	in.log = sl
	released := false
	release := func() {
		if !released {
			released = true
			close(sl.release)
		}
	}
	t.Cleanup(func() {
		release()
		in.waitCommits()
	})
	base := runtime.NumGoroutine()
	t0 := time.Now().UnixMilli()
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		err := in.Append(ctx, []telemetry.Batch{testBatch(uint64(i+1), t0)})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("append %d on a stalled store returned %v, want a DeadlineExceeded error", i, err)
		}
	}
	// Let started commits reach the store.
	time.Sleep(50 * time.Millisecond)
	if got := len(sl.entered); got > k {
		t.Fatalf("%d commits started on a stalled store after %d timed-out appends, want at most %d", got, n, k)
	}
	// The ingester's commit goroutines only: the process's others come
	// and go (nats-server's process sampler runs every second from its
	// init, and a loaded machine caught it in a count of all of them).
	buf := make([]byte, 1<<20)
	commits := strings.Count(string(buf[:runtime.Stack(buf, true)]), "app.(*ingester).AppendStored.func1")
	if commits > k || commits == 0 {
		t.Fatalf("%d background commits after %d timed-out appends on a stalled store (%d goroutines more in all), want 1 to %d",
			commits, n, runtime.NumGoroutine()-base, k)
	}
	release() // the disk recovers: the started commits finish and free their slots
	in.waitCommits()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := in.Append(ctx, []telemetry.Batch{testBatch(n+1, t0)}); err != nil {
		t.Fatalf("append after the store recovered: %v", err)
	}
}

// waitCommits waits until no commit is in flight.
func (in *ingester) waitCommits() {
	for range cap(in.commits) {
		in.commits <- struct{}{}
	}
	for range cap(in.commits) {
		<-in.commits
	}
}
