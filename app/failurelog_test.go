package app

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// TestFailureLog: a run of failures of an operation is logged at ERROR
// at its first failure, then at most once a minute with since when and
// how many attempts failed (debug records in between), and at INFO when
// it works again; operations are independent.
func TestFailureLog(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	l := failureLog{logger: slog.New(slog.NewTextHandler(logs, nil)), now: func() time.Time { return now }}
	for range 10 { // a step every 15 s for 2m15s
		l.failed("store feature vectors", store.ErrDiskFull, "t", 1)
		now = now.Add(15 * time.Second)
	}
	l.failed("score the step", store.ErrDiskFull)
	l.worked("store feature vectors")
	l.worked("store feature vectors")

	got := logs.String()
	for _, want := range []string{
		`level=ERROR msg="store feature vectors (while it fails, logged again once a minute)" t=1 err="store disk full"`,
		`level=ERROR msg="store feature vectors still failing" t=1 failing_since=2026-11-27T12:00:00Z failing_for=1m0s failed_attempts=5`,
		`level=ERROR msg="store feature vectors still failing" t=1 failing_since=2026-11-27T12:00:00Z failing_for=2m0s failed_attempts=9`,
		`level=ERROR msg="score the step (while it fails, logged again once a minute)" err="store disk full"`,
		`level=INFO msg="store feature vectors works again" failing_since=2026-11-27T12:00:00Z failed_for=2m30s failed_attempts=10`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\n"); n != 5 {
		t.Errorf("%d records logged, want 5:\n%s", n, got)
	}
}

// TestEvaluatorDiskFullLoggedOnce: while the store refuses writes (its
// disk below the reserve), the evaluator's steps fail to store their
// vectors at every step; that is logged once at ERROR (the store logs the
// low disk itself), and once at INFO when the disk has room again and a
// step's vectors are stored. It logged an ERROR per step: a line every
// step (15 s by default) for the whole outage.
func TestEvaluatorDiskFullLoggedOnce(t *testing.T) {
	var free atomic.Uint64
	free.Store(1 << 40)
	st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, Registerer: prometheus.NewRegistry(),
		DiskReserve: 100 << 20, DiskFree: func(string) (uint64, error) { return free.Load(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	r := &inputsRig{t: t, st: st, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), expr: "max by (${entity}) (m)"}
	r.start()
	logs := &testenv.SyncBuffer{}
	r.e.Logger = slog.New(slog.NewTextHandler(logs, nil))
	r.e.failing.logger = r.e.Logger

	base := r.now.UnixMilli() / r.step * r.step
	v := func(int64) float64 { return 1 }
	// A step is evaluated once a sample passed it. The first: the
	// evaluator starts at the newest.
	r.send("a", []int64{base, base + r.step}, v)
	// Ten more steps arrive, then the disk fills up before they are evaluated.
	b := telemetry.Batch{Source: "remote-write", Received: r.now.UnixMilli()}
	for _, ts := range times(base+2*r.step, base+11*r.step, r.step) {
		b.Samples = append(b.Samples, telemetry.Sample{Labels: labels.FromStrings("__name__", "m", "namespace", "ns", "pod", "a"), T: ts, V: 1})
	}
	if err := r.in.Append(context.Background(), []telemetry.Batch{b}); err != nil {
		t.Fatal(err)
	}
	// The store re-reads free space for a write when its last read is
	// older than 100 ms.
	free.Store(0)
	time.Sleep(200 * time.Millisecond)
	r.e.tick(context.Background())
	if got := len(r.vectors("a")); got != 1 {
		t.Fatalf("%d steps stored while the disk is full, want the first one only", got)
	}
	free.Store(1 << 40)
	time.Sleep(200 * time.Millisecond)
	r.now = r.now.Add(3 * time.Second)
	r.send("a", []int64{base + 12*r.step}, v) // evaluates the step at 11
	if got := len(r.vectors("a")); got != 2 {
		t.Fatalf("%d steps stored after the disk has room again, want 2", got)
	}

	out := logs.String()
	if n := strings.Count(out, `level=ERROR msg="store feature vectors`); n != 1 {
		t.Errorf("%d ERROR records of 'store feature vectors' for 10 failed steps, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `level=INFO msg="store feature vectors works again"`) || !strings.Contains(out, "failed_attempts=10") {
		t.Errorf("no INFO record saying the vectors are stored again after 10 failed attempts:\n%s", out)
	}
}
