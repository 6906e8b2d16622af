package alert

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omen-sre/omen/store"
)

// hookLogs is recordLogs calling hook with each record first.
type hookLogs struct {
	*recordLogs
	hook func(slog.Record)
}

func (h hookLogs) Handle(ctx context.Context, r slog.Record) error {
	h.hook(r)
	return h.recordLogs.Handle(ctx, r)
}

func (h hookLogs) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h hookLogs) WithGroup(string) slog.Handler      { return h }

// TestOutboxFailuresLoggedOnceAMinute: while the store refuses the
// delivery loop's outbox writes (its disk below half the reserve: the
// acknowledgement of a delivered POST, the compaction of a backlog), the
// failure is logged at ERROR at once, then once a minute of the Manager's
// clock (Options.Now, advanced 10 s at each failure; the retries' backoff
// is milliseconds) with since when and how many attempts failed, and its
// end once at INFO; the alert is then delivered and acknowledged. Every
// retry logged an ERROR (30 of them) and the end nothing.
func TestOutboxFailuresLoggedOnceAMinute(t *testing.T) {
	for _, tc := range []struct {
		op      string
		backlog bool // two items pending: more than MaxBatch (1), compacted first
	}{
		{op: "acknowledge outbox items"},
		{op: "compact outbox", backlog: true},
	} {
		t.Run(tc.op, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the other cleanups
			const fails, tick = 30, 10 * time.Second
			const reserve = 100 << 20
			var free atomic.Uint64
			free.Store(1 << 30)
			st, err := store.Open(store.Options{Path: t.TempDir(), NoSync: true, DiskReserve: reserve,
				DiskFree: func(string) (uint64, error) { return free.Load(), nil }})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })

			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			// The clock stands at t0 until the delivery loop runs; then each
			// reading, one per failed attempt (and one at its end), advances
			// it a tick.
			var ticking atomic.Bool
			now := tickingClock(t0, tick, &ticking)
			var posts atomic.Int64
			am := httptest.NewServer(answerStatus(func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(am.Close)
			logs := &recordLogs{}
			// The record of the fails-th failure, at whatever level, frees
			// the disk before the next attempt.
			var failures atomic.Int64
			opts := testOptions(st, am.URL)
			opts.Now = now
			opts.ResendDelay = time.Hour // no resends
			opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 2*time.Millisecond
			opts.Logger = slog.New(hookLogs{logs, func(r slog.Record) {
				if strings.HasPrefix(r.Message, tc.op) && failures.Add(1) == fails {
					free.Store(1 << 30)
				}
			}})
			if tc.backlog {
				opts.MaxBatch = 1
			}
			m, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			fireOne(t, m, t0)
			items, err := st.Pending(am.URL, 0)
			if err != nil || len(items) != 1 {
				t.Fatalf("%d items pending (%v), want 1", len(items), err)
			}
			if tc.backlog {
				// A second item, as another Manager on the store (an
				// earlier process) leaves: the enqueue's compaction
				// would have made it one.
				it := items[0]
				it.ID, it.Created = 0, it.Created+1
				if err := st.Enqueue([]store.OutboxItem{it}); err != nil {
					t.Fatal(err)
				}
			}

			free.Store(10 << 20) // below half the reserve: outbox writes refused
			eventually(t, 30*time.Second, "the store refusing outbox writes", func() error {
				if err := st.Enqueue([]store.OutboxItem{{Created: t0.UnixMilli(), Targets: []string{"probe"}, Payload: []byte("[]")}}); err == nil {
					return fmt.Errorf("an outbox item enqueued")
				}
				return nil
			})
			ticking.Store(true)
			startRun(t, m)
			eventually(t, 30*time.Second, "the alerts delivered", func() error {
				if items, _ := st.Pending(am.URL, 0); len(items) != 0 {
					return fmt.Errorf("%d items pending, %d POSTs", len(items), posts.Load())
				}
				return nil
			})

			if n := len(logs.matching(slog.LevelError, "")); n != 5 {
				t.Errorf("%d ERROR records over %d failures in %s, want 5: the first and one a minute", n, fails, (fails-1)*tick)
			}
			at := func(k int) string { return t0.Add(time.Duration(k) * tick).Format(time.RFC3339) }
			first := logs.matching(slog.LevelError, tc.op+"; will retry")
			if len(first) != 1 || !strings.Contains(first[0].attrs["err"], "disk full") {
				t.Fatalf("ERROR %q records %v, want 1 naming the full disk", tc.op+"; will retry", first)
			}
			var got, want []string
			for _, r := range logs.matching(slog.LevelError, tc.op+" still failing") {
				got = append(got, r.attrs["failed_attempts"]+"@"+r.attrs["failing_for"]+" since "+r.attrs["failing_since"])
			}
			for _, k := range []int{7, 13, 19, 25} {
				want = append(want, fmt.Sprintf("%d@%s since %s", k, time.Duration(k-1)*tick, at(1)))
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("still-failing ERRORs %v, want %v", got, want)
			}
			if n := len(logs.matching(slog.LevelWarn, "")); n != 0 {
				t.Errorf("%d WARN records, want none: %v", n, logs.matching(slog.LevelWarn, ""))
			}
			rec := logs.matching(slog.LevelInfo, tc.op+" works again")
			if len(rec) != 1 {
				t.Fatalf("%d INFO %q records, want 1", len(rec), tc.op+" works again")
			}
			wantRec := map[string]string{
				"failing_since": at(1), "failed_for": (fails * tick).String(), "failed_attempts": fmt.Sprint(fails), "alertmanager": am.URL,
			}
			for k, v := range wantRec {
				if rec[0].attrs[k] != v {
					t.Errorf("recovery record's %s = %q, want %q (%v)", k, rec[0].attrs[k], v, rec[0].attrs)
				}
			}
		})
	}
}

// TestRemovedWhileFailingLogged: an Alertmanager that a reload removes
// while its POSTs fail is logged once at INFO as removed while failing,
// with what failed, since when, for how long and how many attempts, which closes the
// failure its first WARN opened (there was only "alertmanager removed");
// one that answers is logged as removed, as before.
func TestRemovedWhileFailingLogged(t *testing.T) {
	for _, tc := range []struct {
		name    string
		failing bool
	}{
		{"failing", true},
		{"answering", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // after the other cleanups
			const tick = 10 * time.Second
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			// The clock stands at t0 until the delivery loop runs; then each
			// reading, one per failed POST and one at the removal, advances
			// it a tick.
			var ticking atomic.Bool
			now := tickingClock(t0, tick, &ticking)
			var posts atomic.Int64
			am := httptest.NewServer(answerStatus(func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				if tc.failing {
					http.Error(w, "alertmanager is starting", http.StatusServiceUnavailable)
					return
				}
				w.WriteHeader(http.StatusOK)
			}))
			t.Cleanup(am.Close)
			logs := &recordLogs{}
			opts := testOptions(openStore(t, ""), am.URL)
			opts.Now = now
			opts.ResendDelay = time.Hour
			opts.MinBackoff, opts.MaxBackoff = time.Millisecond, 2*time.Millisecond
			opts.Logger = slog.New(logs)
			m, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(m.Close)
			fireOne(t, m, t0)
			ticking.Store(true)
			startRun(t, m)
			eventually(t, 30*time.Second, "the POSTs", func() error {
				if n := posts.Load(); tc.failing && n < 3 {
					return fmt.Errorf("%d POSTs", n)
				}
				if items, _ := m.opts.Store.Pending(am.URL, 0); !tc.failing && len(items) != 0 {
					return fmt.Errorf("%d items pending", len(items))
				}
				return nil
			})
			if err := m.Reconfigure(Reload{For: 2, ResendDelay: time.Hour, EvalInterval: time.Hour}); err != nil {
				t.Fatal(err)
			}
			removed := logs.matching(slog.LevelInfo, "alertmanager removed")
			if len(removed) != 1 {
				t.Fatalf("%d INFO removal records, want 1: %v", len(removed), removed)
			}
			r := removed[0]
			if !tc.failing {
				if r.msg != "alertmanager removed" || r.attrs["failing"] != "" {
					t.Fatalf("removal record %q %v, want alertmanager removed without a failure", r.msg, r.attrs)
				}
				return
			}
			// The loop has returned: every POST failed, but one the removal
			// may have cut short. The removal read the clock after the
			// failures' readings.
			n := posts.Load()
			attempts := atoi(r.attrs["failed_attempts"])
			if r.msg != "alertmanager removed while failing" || r.attrs["failing"] != "send alerts" || r.attrs["alertmanager"] != am.URL ||
				attempts < 2 || attempts > int(n) || r.attrs["failing_since"] != t0.Add(tick).Format(time.RFC3339) ||
				r.attrs["failing_for"] != (time.Duration(attempts)*tick).String() {
				t.Fatalf("removal record %q %v after %d POSTs, want alertmanager removed while failing, failing %q, since the first failure, for a tick per failed attempt, 2 to %d of them",
					r.msg, r.attrs, n, "send alerts", n)
			}
		})
	}
}

// tickingClock is a Manager's clock (Options.Now) that stands at t0 until
// ticking is set, then advances by tick at each reading.
func tickingClock(t0 time.Time, tick time.Duration, ticking *atomic.Bool) func() time.Time {
	var readings atomic.Int64
	return func() time.Time {
		if !ticking.Load() {
			return t0
		}
		return t0.Add(time.Duration(readings.Add(1)) * tick)
	}
}
