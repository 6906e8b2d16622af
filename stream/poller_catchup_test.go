package stream

import (
	"context"
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

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/telemetry"
)

// outageProm answers instant and range queries with one series (pod a)
// whose value at a time is the time, except while down (503, as a
// Prometheus behind a proxy that lost it) and for the query "bad", which
// Prometheus refuses (bad_data). It counts the range queries.
type outageProm struct {
	down   atomic.Bool
	ranges atomic.Int64
}

func (f *outageProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.down.Load() {
		http.Error(w, "prometheus unreachable", http.StatusServiceUnavailable)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Form.Get("query") == "bad" {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"bad_data","error":"parse error"}`))
		return
	}
	sec := func(k string) float64 {
		v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
		return v
	}
	if !strings.HasSuffix(r.URL.Path, "/query_range") {
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%.3f,"%.3f"]}]}}`, sec("time"), sec("time"))
		return
	}
	f.ranges.Add(1)
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[%s]}]}}`, rangePoints(r))
}

// TestPollerCatchesUpAfterOutage: once Prometheus answers again after an
// outage, Run fetches the steps it missed with a range query before its
// next live poll, so that every step on the grid between the first poll
// and the last has its own value (the time, here), the gap's appended
// before the live poll after it. Before, the gap's steps had no polled
// value and the daemon evaluated them on the last values polled before the
// outage, carried forward for the lookback delta (rate and deriv frozen
// into the stored history). A bad query is not fetched again: it fails
// every time, and the live polls go on without range queries.
func TestPollerCatchesUpAfterOutage(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	cases := []struct {
		name       string
		queries    map[string]string
		outage     bool
		wantRanges bool
	}{
		{name: "outage", queries: map[string]string{"q": "up"}, outage: true, wantRanges: true},
		{name: "bad query", queries: map[string]string{"q": "up", "b": "bad"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fp := &outageProm{}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			var mu sync.Mutex
			var appends [][]int64 // the sample times of each Append, in order
			app := AppenderFunc(func(_ context.Context, bs []telemetry.Batch) error {
				var ts []int64
				for _, b := range bs {
					for _, s := range b.Samples {
						if float64(s.T)/1000 != s.V {
							return fmt.Errorf("sample at %d has value %v", s.T, s.V)
						}
						ts = append(ts, s.T)
					}
				}
				mu.Lock()
				appends = append(appends, ts)
				mu.Unlock()
				return nil
			})
			n := func() int {
				mu.Lock()
				defer mu.Unlock()
				return len(appends)
			}
			reg := prometheus.NewRegistry()
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: tc.queries, Step: step, CatchUp: 10 * time.Second,
				RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, reg, nil)
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
						t.Fatalf("timed out waiting for %s", what)
					}
				}
			}
			wait("3 polls", func() bool { return n() >= 3 })
			if tc.outage {
				fp.down.Store(true)
				time.Sleep(6 * step)
				fp.down.Store(false)
			}
			after := n()
			wait("3 more appends", func() bool { return n() >= after+3 })
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			mu.Lock()
			defer mu.Unlock()
			var all []int64
			prevMax := int64(0)
			for i, ts := range appends {
				if len(ts) == 0 {
					continue
				}
				if mx := slices.Max(ts); mx <= prevMax {
					t.Errorf("append %d's newest sample %d not after the previous append's %d: the catch-up came after the live poll", i, mx, prevMax)
				} else {
					prevMax = mx
				}
				all = append(all, ts...)
			}
			slices.Sort(all)
			all = slices.Compact(all)
			for i, ts := range all {
				if ts%step.Milliseconds() != 0 {
					t.Fatalf("sample at %d off the %v grid", ts, step)
				}
				if i > 0 && ts != all[i-1]+step.Milliseconds() {
					t.Errorf("no sample between %d and %d: steps missed and never fetched", all[i-1], ts)
				}
			}
			if got := fp.ranges.Load() > 0; got != tc.wantRanges {
				t.Errorf("range queries made: %v, want %v", got, tc.wantRanges)
			}
			if got, want := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()) > 0, tc.wantRanges; got != want {
				t.Errorf("omen_prometheus_caught_up_steps_total > 0: %v, want %v", got, want)
			}
		})
	}
}

// queryProm answers instant and range queries as outageProm does (one
// series, pod a, whose value at a time is the time), except that it
// answers 503 timeout (the error Prometheus gives when an expression
// outlives its query timeout) where fail says so. It counts the instant and
// range queries by expression.
type queryProm struct {
	fail func(query string, instant bool, n int64) bool // n: the query's instant or range queries so far, this one included

	mu               sync.Mutex
	instants, ranges map[string]int64
}

func (f *queryProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	query := r.Form.Get("query")
	instant := !strings.HasSuffix(r.URL.Path, "/query_range")
	f.mu.Lock()
	if f.instants == nil {
		f.instants, f.ranges = map[string]int64{}, map[string]int64{}
	}
	counts := f.ranges
	if instant {
		counts = f.instants
	}
	counts[query]++
	n := counts[query]
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if f.fail(query, instant, n) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`))
		return
	}
	sec := func(k string) float64 {
		v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
		return v
	}
	if instant {
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%.3f,"%.3f"]}]}}`, sec("time"), sec("time"))
		return
	}
	fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[%s]}]}}`, rangePoints(r))
}

// rangePoints returns the points of the range query r (start, end and
// step in seconds), each [t, "t"], on integer milliseconds: accumulating a
// float step drifts past end by more than any tolerance near 1.8e9 s and
// drops the last point.
func rangePoints(r *http.Request) string {
	ms := func(k string) int64 {
		v, _ := strconv.ParseFloat(r.Form.Get(k), 64)
		return int64(math.Round(v * 1000))
	}
	start, end, step := ms("start"), ms("end"), ms("step")
	var pts []string
	for ts := start; step > 0 && ts <= end; ts += step {
		pts = append(pts, fmt.Sprintf(`[%d.%03d,"%d.%03d"]`, ts/1000, ts%1000, ts/1000, ts%1000))
	}
	return strings.Join(pts, ",")
}

func (f *queryProm) count(query string, instant bool) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	if instant {
		return f.instants[query]
	}
	return f.ranges[query]
}

// recordingAppender records the samples appended, by query name, in
// append order, and counts each (series, time) appended.
type recordingAppender struct {
	mu      sync.Mutex
	appends [][]telemetry.Sample
	times   map[string][]int64 // by query name
	seen    map[string]int     // by series@time
}

func (a *recordingAppender) Append(_ context.Context, bs []telemetry.Batch) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.times == nil {
		a.times, a.seen = map[string][]int64{}, map[string]int{}
	}
	var ss []telemetry.Sample
	for _, b := range bs {
		for _, s := range b.Samples {
			if float64(s.T)/1000 != s.V {
				return fmt.Errorf("sample at %d has value %v", s.T, s.V)
			}
			name := s.Labels.Get("__name__")
			a.times[name] = append(a.times[name], s.T)
			a.seen[fmt.Sprintf("%s@%d", s.Labels, s.T)]++
			ss = append(ss, s)
		}
	}
	a.appends = append(a.appends, ss)
	return nil
}

func (a *recordingAppender) stored(name string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.times[name])
}

// TestPollerFailingQueryKeepsOthersPolled: a query that fails every poll
// (its expression outlives the timeout, a 503 after the retries) neither
// stops the live polls of the others nor costs range queries. Before, the
// step was caught up only when every query was stored: every poll first
// fetched the missed steps again, that failed on the same expression, and
// the live poll was skipped — with CatchUp, one sample of the healthy
// query stored in 2 s, 20 without.
func TestPollerFailingQueryKeepsOthersPolled(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	for _, catchUp := range []time.Duration{0, 10 * time.Second} {
		t.Run(fmt.Sprintf("catch-up %s", catchUp), func(t *testing.T) {
			fp := &queryProm{fail: func(query string, _ bool, _ int64) bool { return query == "heavy" }}
			srv := httptest.NewServer(fp)
			defer srv.Close()
			app := &recordingAppender{}
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "up", "h": "heavy"}, Step: step,
				CatchUp: catchUp, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: time.Second}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
			const want = 8
			deadline := time.Now().Add(5 * time.Second)
			for app.stored("q") < want && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if got := app.stored("q"); got < want {
				t.Errorf("samples of the healthy query stored in 5 s (50 steps): %d, want at least %d; instant queries of it: %d",
					got, want, fp.count("up", true))
			}
			if n := fp.count("heavy", false); n != 0 {
				t.Errorf("range queries of the failing query: %d, want 0", n)
			}
		})
	}
}

// TestPollerCatchesUpOnlyMissedSteps: when one query fails a few polls
// (retries exhausted), only its missed steps are fetched again, once it
// answers: every step of each query is appended once, with no gap, the
// gap's before the newer live polls. Before, a step was caught up only
// when every query was stored, and the catch-up fetched every query's
// steps since: the healthy query's stored steps were appended again.
func TestPollerCatchesUpOnlyMissedSteps(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	// With MaxRetries 1, a poll makes two attempts: the 2nd and 3rd polls
	// of "flaky" fail.
	fp := &queryProm{fail: func(query string, instant bool, n int64) bool {
		return query == "flaky" && instant && n >= 3 && n <= 6
	}}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	app := &recordingAppender{}
	p, reg := catchUpPoller(t, app, srv.URL, map[string]string{"q": "up", "f": "flaky"}, step)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
	deadline := time.Now().Add(10 * time.Second)
	for (fp.count("flaky", false) == 0 || app.stored("q") < 8) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fp.count("flaky", false) == 0 {
		t.Fatal("the failing query's missed steps were never fetched")
	}

	app.mu.Lock()
	defer app.mu.Unlock()
	for k, n := range app.seen {
		if n > 1 {
			t.Errorf("appended %d times: %s", n, k)
		}
	}
	for _, name := range []string{"q", "f"} {
		ts := slices.Clone(app.times[name])
		slices.Sort(ts)
		for i := 1; i < len(ts); i++ {
			if ts[i] > ts[i-1]+step.Milliseconds() {
				t.Errorf("query %s: no sample between %d and %d: steps missed and never fetched", name, ts[i-1], ts[i])
			}
		}
	}
	prevMax := int64(0)
	for i, ss := range app.appends {
		mx := int64(0)
		for _, s := range ss {
			mx = max(mx, s.T)
		}
		if mx == 0 {
			continue
		}
		// The failing query's missed steps come after the other's live
		// polls of the same steps, but before any newer one.
		if mx < prevMax {
			t.Errorf("append %d's newest sample %d before the previous appends' %d: the catch-up came after a newer live poll", i, mx, prevMax)
		}
		prevMax = max(prevMax, mx)
	}
	if got := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()); got < 2 {
		t.Errorf("omen_prometheus_caught_up_steps_total = %v, want at least 2 (the failing query's two polls; more if a timer was late)", got)
	}
}

// TestPollerSlowCatchUpKeepsPollsOnTime: a query whose catch-up range
// query outlives Prometheus' timeout (longer than a step) delays neither
// the other query's live polls nor the next poll, and its steps are given
// up once, not fetched again at every poll. Before, the catch-up ran
// before the live batch was stored, each poll was late by the timeout,
// the late timer added skipped steps to every query's span and the failing
// query's span never aged out: with CatchUp 1s, 24 live polls of the
// healthy query in 6 s instead of 59, and 17 range queries of it.
func TestPollerSlowCatchUpKeepsPollsOnTime(t *testing.T) {
	defer goleak.VerifyNone(t)
	const (
		step    = 200 * time.Millisecond
		timeout = 500 * time.Millisecond
		run     = 4 * time.Second
	)
	for _, catchUp := range []time.Duration{0, 2 * time.Second} {
		t.Run(fmt.Sprintf("catch-up %s", catchUp), func(t *testing.T) {
			// "heavy" answers its instant queries, except at its 3rd poll
			// (with its retry); its range queries outlive the timeout.
			fp := &queryProm{fail: func(query string, instant bool, n int64) bool {
				return query == "heavy" && (!instant || n == 5 || n == 6)
			}}
			var heavyRanges atomic.Int64 // fp does not see those cancelled
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/query_range") && r.FormValue("query") == "heavy" {
					heavyRanges.Add(1)
					select {
					case <-time.After(timeout):
					case <-r.Context().Done():
						return
					}
				}
				fp.ServeHTTP(w, r)
			}))
			defer srv.Close()
			app := &recordingAppender{}
			reg := prometheus.NewRegistry()
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "up", "h": "heavy"}, Step: step,
				CatchUp: catchUp, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: timeout}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
			time.Sleep(run)
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			steps := int64(run / step)
			if got, want := fp.count("up", true), steps*8/10; got < want {
				t.Errorf("live polls of the healthy query in %v (%d steps): %d, want at least %d", run, steps, got, want)
			}
			// A poll more than a step late (a loaded machine) costs a
			// range query of each query.
			if got := fp.count("up", false); got > 1 {
				t.Errorf("range queries of the healthy query: %d, want at most 1", got)
			}
			want := int64(1) // the 3rd poll's step, given up
			if catchUp == 0 {
				want = 0
			}
			if got := heavyRanges.Load(); got < want || got > want+1 {
				t.Errorf("range queries of the query whose catch-up fails: %d, want %d", got, want)
			}
			if got := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", "error"); got < float64(want) {
				t.Errorf("omen_prometheus_catch_up_lost_steps_total{reason=\"error\"} = %v, want at least %d", got, want)
			}
		})
	}
}

// TestPollerAppendsEachStepOnceInOrder: a query's steps are appended once
// each, and never older than one of its series already has, whichever of
// its live polls and catch-ups fail. The query's polls: 1 ok, 2 failed, 3
// ok with its catch-up (step 2) failing, 4 failed, 5 ok with its catch-up
// (step 4) succeeding. Before, the catch-up kept step 2 after the failure
// and fetched the hull [2, 4] at poll 5: step 3, stored live, appended
// twice (the head drops it as a duplicate, or as out of order when the
// value changed), and step 2 after step 3, when a consumer evaluating
// steps as the data passes them had evaluated step 2 already.
func TestPollerAppendsEachStepOnceInOrder(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	fp := &queryProm{fail: func(_ string, instant bool, n int64) bool {
		if instant { // two attempts a poll (MaxRetries 1)
			return n == 3 || n == 4 || n == 6 || n == 7
		}
		return n == 1
	}}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	app := &recordingAppender{}
	p, reg := catchUpPoller(t, app, srv.URL, map[string]string{"q": "up"}, step)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
	deadline := time.Now().Add(10 * time.Second)
	for (fp.count("up", false) < 2 || app.stored("q") < 6) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := fp.count("up", false); n < 2 {
		t.Fatalf("range queries: %d, want 2 (the failed catch-up and the next)", n)
	}

	app.mu.Lock()
	defer app.mu.Unlock()
	for k, n := range app.seen {
		if n > 1 {
			t.Errorf("appended %d times: %s", n, k)
		}
	}
	newest := map[string]int64{} // by series
	for i, ss := range app.appends {
		for _, s := range ss {
			k := s.Labels.String()
			if s.T <= newest[k] {
				t.Errorf("append %d: %s at %d after one at %d", i, k, s.T, newest[k])
			}
			newest[k] = max(newest[k], s.T)
		}
	}
	if got := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", "error"); got < 1 {
		t.Errorf("omen_prometheus_catch_up_lost_steps_total{reason=\"error\"} = %v, want at least 1 (step 2)", got)
	}
	if got := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()); got < 1 {
		t.Errorf("omen_prometheus_caught_up_steps_total = %v, want at least 1 (step 4)", got)
	}
}

// TestPollerFakeRangePoints: the fake Prometheus servers of these tests
// answer a range query with every step of it, the last one included.
// Before, they accumulated the step in float seconds and dropped the last
// point near 1.8e9 s at 200 ms steps.
func TestPollerFakeRangePoints(t *testing.T) {
	defer goleak.VerifyNone(t)
	const points = 50
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{name: "outageProm", h: &outageProm{}},
		{name: "queryProm", h: &queryProm{fail: func(string, bool, int64) bool { return false }}},
	} {
		for _, step := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 15 * time.Second} {
			t.Run(fmt.Sprintf("%s step %s", tc.name, step), func(t *testing.T) {
				srv := httptest.NewServer(tc.h)
				defer srv.Close()
				client, err := api.NewClient(api.Config{Address: srv.URL})
				if err != nil {
					t.Fatal(err)
				}
				start := time.UnixMilli(1_800_000_000_123)
				val, _, _, err := v1.NewAPI(client).QueryRange(context.Background(), "up",
					v1.Range{Start: start, End: start.Add((points - 1) * step), Step: step})
				if err != nil {
					t.Fatal(err)
				}
				m, ok := val.(model.Matrix)
				if !ok || len(m) != 1 {
					t.Fatalf("result %v, want one series", val)
				}
				if got := len(m[0].Values); got != points {
					t.Errorf("points %d, want %d", got, points)
				}
				for i, sp := range m[0].Values {
					if want := start.Add(time.Duration(i) * step).UnixMilli(); int64(sp.Timestamp) != want {
						t.Fatalf("point %d at %d, want %d", i, sp.Timestamp, want)
					}
				}
			})
		}
	}
}

// TestPollerCountsStepsPerQuery: omen_prometheus_caught_up_steps_total
// counts each query's steps fetched again: two queries failing the same
// two polls count four, as many as the samples caught up. Before, the
// steps of one poll were counted once whichever queries missed them, and
// per query across polls.
func TestPollerCountsStepsPerQuery(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 100 * time.Millisecond
	// With MaxRetries 1, a poll makes two attempts: the 2nd and 3rd polls
	// of each query fail.
	fp := &queryProm{fail: func(_ string, instant bool, n int64) bool { return instant && n >= 3 && n <= 6 }}
	srv := httptest.NewServer(fp)
	defer srv.Close()
	app := &recordingAppender{}
	p, reg := catchUpPoller(t, app, srv.URL, map[string]string{"a": "a_expr", "b": "b_expr"}, step)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
	deadline := time.Now().Add(5 * time.Second)
	for (fp.count("a_expr", false) == 0 || fp.count("b_expr", false) == 0 || app.stored("b") < 6) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	app.mu.Lock()
	defer app.mu.Unlock()
	caught := 0 // per query, the samples of an Append older than its newest one there
	for _, ss := range app.appends {
		newest := map[string]int64{}
		for _, s := range ss {
			n := s.Labels.Get("__name__")
			newest[n] = max(newest[n], s.T)
		}
		for _, s := range ss {
			if s.T < newest[s.Labels.Get("__name__")] {
				caught++
			}
		}
	}
	if caught < 4 {
		t.Fatalf("samples caught up: %d, want at least 4 (2 steps of each query)", caught)
	}
	if got := counterValue(t, reg, "omen_prometheus_caught_up_steps_total", "source", p.Source()); got != float64(caught) {
		t.Errorf("omen_prometheus_caught_up_steps_total = %v, want %d (the samples caught up, per query)", got, caught)
	}
}
