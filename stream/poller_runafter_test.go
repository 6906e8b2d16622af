package stream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

// failingAppender records the samples it stores as recordingAppender
// does, after asking fail whether to fail the call (calls counts the
// Appends so far, this one included).
type failingAppender struct {
	recordingAppender
	fail  func(calls int, bs []telemetry.Batch) error
	calls atomic.Int64
}

func (a *failingAppender) Append(ctx context.Context, bs []telemetry.Batch) error {
	if err := a.fail(int(a.calls.Add(1)), bs); err != nil {
		return err
	}
	return a.recordingAppender.Append(ctx, bs)
}

// checkAppendOrder reports an Append holding a sample older than the
// newest of an earlier Append (the evaluator had passed that step) and a
// step of a query appended twice.
func checkAppendOrder(t *testing.T, a *recordingAppender) {
	t.Helper()
	newest := int64(0)
	for i, ss := range a.appends {
		for _, s := range ss {
			if s.T < newest {
				t.Errorf("append %d: %s at %d after a sample at %d was appended", i, s.Labels, s.T, newest)
			}
		}
		for _, s := range ss {
			newest = max(newest, s.T)
		}
	}
	for k, n := range a.seen {
		if n > 1 {
			t.Errorf("appended %d times: %s", n, k)
		}
	}
}

// gaps returns the steps missing between the oldest and the newest
// sample of query name.
func gaps(a *recordingAppender, name string, step time.Duration) []int64 {
	ts := slices.Clone(a.times[name])
	slices.Sort(ts)
	var missing []int64
	for i := 1; i < len(ts); i++ {
		for m := ts[i-1] + step.Milliseconds(); m < ts[i]; m += step.Milliseconds() {
			missing = append(missing, m)
		}
	}
	return missing
}

// TestPollerAppendFailures: the store fails the Appends holding the third
// poll's sample of query r. Refused for good (ErrInvalid, as the daemon's
// store refuses a sample too large), r's step is given up (counted,
// reason refused) and q's of the same poll, appended again alone, is
// stored: the live polls of both go on. Unavailable (a retryable error,
// retries exhausted), the steps are missed and caught up once the store
// takes them: no gap. Before, a refused Append left every query's stored
// step as it was, each next poll caught them all up in one Append that
// the store refused again, and nothing was stored until the step fell out
// of CatchUp (10 s here): 2 samples of each query in 3 s.
func TestPollerAppendFailures(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	cases := []struct {
		name        string
		err         error
		failures    int // calls failed, the first one included (0: every one holding the sample)
		wantRefused bool
	}{
		{name: "refused", err: fmt.Errorf("sample too large: %w", ErrInvalid), wantRefused: true},
		{name: "unavailable", err: errors.New("store unavailable"), failures: 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := &outageProm{}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			var bad atomic.Int64 // the time of r's sample to fail
			var mu sync.Mutex
			first := 0 // the call that failed first
			app := &failingAppender{fail: func(call int, bs []telemetry.Batch) error {
				mu.Lock()
				defer mu.Unlock()
				if first > 0 && tc.failures > 0 {
					if call < first+tc.failures {
						return tc.err
					}
					return nil
				}
				for _, b := range bs {
					for _, s := range b.Samples {
						if s.Labels.Get("__name__") != "r" {
							continue
						}
						if bad.Load() == 0 && call >= 3 {
							bad.Store(s.T)
							first = call
						}
						if s.T == bad.Load() {
							return tc.err
						}
					}
				}
				return nil
			}}
			p, reg := catchUpPoller(t, app, srv.URL, map[string]string{"q": "up", "r": "up"}, step)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
			const want = 12
			deadline := time.Now().Add(3 * time.Second)
			for (app.stored("q") < want || app.stored("r") < want) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if bad.Load() == 0 {
				t.Fatal("no Append failed")
			}

			app.mu.Lock()
			defer app.mu.Unlock()
			if q, r := len(app.times["q"]), len(app.times["r"]); q < want || r < want {
				t.Fatalf("samples stored in 3 s (30 steps): q %d, r %d, want at least %d each", q, r, want)
			}
			checkAppendOrder(t, &app.recordingAppender)
			if g := gaps(&app.recordingAppender, "q", step); len(g) > 0 {
				t.Errorf("steps of q missing: %v", g)
			}
			var wantGaps []int64
			if tc.wantRefused {
				wantGaps = []int64{bad.Load()}
			}
			if g := gaps(&app.recordingAppender, "r", step); !slices.Equal(g, wantGaps) {
				t.Errorf("steps of r missing: %v, want %v", g, wantGaps)
			}
			got := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", "refused")
			if want := float64(len(wantGaps)); got != want {
				t.Errorf(`omen_prometheus_catch_up_lost_steps_total{reason="refused"} = %v, want %v`, got, want)
			}
		})
	}
}

// TestPollerAddedQueryAppendedWithCatchUp: a query SetQueries adds while
// Prometheus is down (never stored, so nothing to catch up) has its first
// value appended with the other query's catch-up, not before it. Before,
// its live value was appended alone first: the ingester's watermark passed
// the other query's missed steps before they arrived, and the evaluator
// evaluated them without their values.
func TestPollerAddedQueryAppendedWithCatchUp(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	// The instant queries at the times in [downFrom, downTo) fail, as
	// Prometheus unreachable: every query of a poll alike.
	var downFrom, downTo atomic.Int64
	fp := &outageProm{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/query_range") {
			sec, _ := strconv.ParseFloat(r.FormValue("time"), 64)
			if ms := int64(math.Round(sec * 1000)); ms >= downFrom.Load() && ms < downTo.Load() {
				http.Error(w, "prometheus unreachable", http.StatusServiceUnavailable)
				return
			}
		}
		fp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	app := &recordingAppender{}
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "up"}, Step: step,
		CatchUp: 10 * time.Second, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
	wait := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	wait("2 polls", func() bool { return app.stored("q") >= 2 })
	f := FloorStep(time.Now(), step)
	downTo.Store(f.Add(7 * step).UnixMilli())
	downFrom.Store(f.Add(step).UnixMilli()) // the polls of the steps 1 to 6 from now fail
	time.Sleep(time.Until(f.Add(3*step + step/2)))
	if err := p.SetQueries(map[string]string{"q": "up", "n": "up"}); err != nil {
		t.Fatal(err)
	}
	wait("2 polls of the added query", func() bool { return app.stored("n") >= 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	app.mu.Lock()
	defer app.mu.Unlock()
	if fp.ranges.Load() == 0 {
		t.Error("the missed steps of q were not fetched")
	}
	checkAppendOrder(t, app)
	if g := gaps(app, "q", step); len(g) > 0 {
		t.Errorf("steps of q missing: %v", g)
	}
}

// TestPollerClockStepsBack: when the wall clock steps back (an NTP step,
// a VM restored), the polls go on at the steps of the new time, but a
// query's values at or before the newest step it stored are not appended
// (the store holds newer ones) until the clock passes that step again or
// steps forward: each series' samples are appended in time order, once,
// with no gap. Before 107e6e7, the next poll stayed at the old time's
// next step (an hour away); before the fix, the polls after a step back
// of more than a step appended the steps already stored again, samples
// older than stored ones, and moved the stored step back.
func TestPollerClockStepsBack(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	cases := []struct {
		name    string
		back    time.Duration
		forward bool // step forward again once 4 polls at the old time were made
	}{
		{name: "back 1.5 steps", back: 3 * step / 2},
		{name: "back 10 steps", back: 10 * step},
		{name: "back an hour then forward", back: time.Hour, forward: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := &outageProm{}
			var mu sync.Mutex
			var polled []int64 // the times of the instant queries
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !strings.HasSuffix(r.URL.Path, "/query_range") {
					sec, _ := strconv.ParseFloat(r.FormValue("time"), 64)
					mu.Lock()
					polled = append(polled, int64(math.Round(sec*1000)))
					mu.Unlock()
				}
				fp.ServeHTTP(w, r)
			}))
			defer srv.Close()
			app := &recordingAppender{}
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "up"}, Step: step,
				CatchUp: 10 * time.Second, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var offset atomic.Int64
			p.now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
			deadline := time.Now().Add(5 * time.Second)
			wait := func(what string, cond func() bool) {
				t.Helper()
				for ; !cond(); time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						cancel()
						<-done
						t.Fatalf("timed out waiting for %s", what)
					}
				}
			}
			wait("3 polls", func() bool { return app.stored("q") >= 3 })
			mu.Lock()
			n0 := len(polled)
			mu.Unlock()
			offset.Store(int64(-tc.back))
			jump := time.Now().Add(-tc.back / 2).UnixMilli()
			if tc.forward {
				wait("4 polls at the old time", func() bool {
					mu.Lock()
					defer mu.Unlock()
					n := 0
					for _, ts := range polled[n0:] {
						if ts < jump {
							n++
						}
					}
					return n >= 4
				})
				offset.Store(0)
			}
			before := app.stored("q")
			wait("3 more samples", func() bool { return app.stored("q") >= before+3 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			app.mu.Lock()
			defer app.mu.Unlock()
			checkAppendOrder(t, app)
			if g := gaps(app, "q", step); len(g) > 0 {
				t.Errorf("steps of q missing: %v", g)
			}
		})
	}
}

// TestPollerCatchesUpAfterSlowPolls: when a poll's instant queries
// outlast a step (one query slower than a step, within Timeout), the
// steps the late polls skip are fetched with range queries. Before, the
// range queries were bounded by the poll's next step, already past: none
// was sent, and every query's skipped steps were counted lost (reason
// error).
func TestPollerCatchesUpAfterSlowPolls(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 200 * time.Millisecond
	fp := &outageProm{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("query") == "slow" && !strings.HasSuffix(r.URL.Path, "/query_range") {
			time.Sleep(3 * step / 2)
		}
		fp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	app := &recordingAppender{}
	reg := prometheus.NewRegistry()
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "slow", "b": "up"}, Step: step,
		CatchUp: 10 * time.Second, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: 2 * time.Second}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
	deadline := time.Now().Add(5 * time.Second)
	for (fp.ranges.Load() < 2 || app.stored("b") < 10) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	app.mu.Lock()
	defer app.mu.Unlock()
	if fp.ranges.Load() == 0 {
		t.Error("no range query sent")
	}
	for _, name := range []string{"a", "b"} {
		if g := gaps(app, name, step); len(g) > 0 {
			t.Errorf("steps of %s missing: %v", name, g)
		}
	}
	if got := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", "error"); got != 0 {
		t.Errorf(`omen_prometheus_catch_up_lost_steps_total{reason="error"} = %v, want 0`, got)
	}
}

// TestPollerCatchesUpFromFirstPoll: a query's steps missed from its first
// poll on are caught up once Prometheus answers: with Run (no Backfill)
// started while Prometheus is down, and for a query SetQueries adds while
// it is down. Before, the query had no stored step until its first
// successful poll and counted as up to date: those steps were neither
// fetched nor counted.
func TestPollerCatchesUpFromFirstPoll(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	for _, added := range []bool{false, true} {
		t.Run(fmt.Sprintf("added by SetQueries %v", added), func(t *testing.T) {
			fp := &outageProm{}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			app := &recordingAppender{}
			p, reg := catchUpPoller(t, app, srv.URL, map[string]string{"q": "up"}, step)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			deadline := time.Now().Add(5 * time.Second)
			wait := func(what string, cond func() bool) {
				t.Helper()
				for ; !cond(); time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						cancel()
						<-done
						t.Fatalf("timed out waiting for %s", what)
					}
				}
			}
			name := "q"
			if !added {
				fp.down.Store(true)
			}
			start := time.Now()
			go func() { done <- p.Run(ctx) }()
			if added {
				wait("2 polls", func() bool { return app.stored("q") >= 2 })
				fp.down.Store(true)
				name, start = "n", time.Now()
				if err := p.SetQueries(map[string]string{"q": "up", "n": "up"}); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(5 * step)
			fp.down.Store(false)
			wait("3 samples", func() bool { return app.stored(name) >= 3 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			app.mu.Lock()
			defer app.mu.Unlock()
			// Its first poll is at the step after start's (the one after
			// when the step ends meanwhile).
			first := slices.Min(app.times[name])
			if limit := FloorStep(start, step).Add(2 * step).UnixMilli(); first > limit {
				t.Errorf("first sample of %s at %d, want at most %d (%d steps later): the steps missed from its first poll on were not fetched",
					name, first, limit, (first-limit)/step.Milliseconds())
			}
			for _, n := range []string{"q", name} {
				if g := gaps(app, n, step); len(g) > 0 {
					t.Errorf("steps of %s missing: %v", n, g)
				}
			}
			if got := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()); got < 3 {
				t.Errorf("omen_prometheus_caught_up_steps_total = %v, want at least 3", got)
			}
		})
	}
}

// TestPollerCatchUpSpan: the steps missed before the first poll are
// fetched as far back as CatchUp, inclusive, as a start-up Backfill of it
// is: the newest CatchUp/Step steps, those before given up as too old.
// Before, one step fewer, and none with CatchUp one step.
func TestPollerCatchUpSpan(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	cases := []struct {
		catchUp time.Duration
		want    int64 // steps fetched
	}{
		{catchUp: step, want: 1},
		{catchUp: 2 * step, want: 2},
		{catchUp: 5*step + step/2, want: 5},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("catch-up %s", tc.catchUp), func(t *testing.T) {
			fp := &outageProm{}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			app := &recordingAppender{}
			reg := prometheus.NewRegistry()
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "up"}, Step: step,
				CatchUp: tc.catchUp, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			last := FloorStep(time.Now(), step).Add(-8 * step) // at least 8 steps missed before the first poll
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunAfter(ctx, last) }()
			deadline := time.Now().Add(3 * time.Second)
			for app.stored("q") == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			app.mu.Lock()
			defer app.mu.Unlock()
			if len(app.appends) == 0 {
				t.Fatal("nothing appended in 3 s")
			}
			var ts []int64
			for _, s := range app.appends[0] {
				ts = append(ts, s.T)
			}
			poll := slices.Max(ts)
			var wantTs []int64
			for i := tc.want; i >= 0; i-- {
				wantTs = append(wantTs, poll-i*step.Milliseconds())
			}
			if !slices.Equal(ts, wantTs) {
				t.Errorf("first Append's sample times: %v, want %v (the %d newest missed steps and the poll)", ts, wantTs, tc.want)
			}
			missed := (poll-last.UnixMilli())/step.Milliseconds() - 1
			if got := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", "too_old"); got != float64(missed-tc.want) {
				t.Errorf(`omen_prometheus_catch_up_lost_steps_total{reason="too_old"} = %v, want %d (%d missed)`, got, missed-tc.want, missed)
			}
			if got := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()); got != float64(tc.want) {
				t.Errorf("omen_prometheus_caught_up_steps_total = %v, want %d", got, tc.want)
			}
		})
	}
}
