package stream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// fiveQueries are the queries of the fail-fast tests, polled in name order.
var fiveQueries = map[string]string{"a": "up", "b": "up", "c": "up", "d": "up", "e": "up"}

// TestPollerPollFailsFast: once a query of a poll has used its retries on
// an error saying the server is down or limiting the poller (unreachable,
// a 5xx, a 429), the poll's other queries are not sent: they fail at once
// with that error, counted as errors. Each query was retried in turn: 5
// queries against a server that is down made 20 requests (and at the
// default back-off a poll took 17.5 s), a 429 got 5 times the traffic. An
// error of the query itself (Prometheus's query timeout, a bad query)
// stops nothing.
func TestPollerPollFailsFast(t *testing.T) {
	answer := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { jsonResponse(code, body)(w) }
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc // nil: nothing listens
		want    int              // requests
	}{
		{name: "unreachable", want: 4},
		{name: "503", handler: answer(503, `{"status":"error","errorType":"unavailable","error":"overloaded"}`), want: 4},
		{name: "502 from a proxy", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "bad gateway", http.StatusBadGateway) }, want: 4},
		{name: "429", handler: func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "slow down", http.StatusTooManyRequests) }, want: 4},
		// Each query's own trouble: every query is sent and retried.
		{name: "query timeout", handler: answer(503, `{"status":"error","errorType":"timeout","error":"query timed out in expression evaluation"}`), want: 20},
		{name: "bad data", handler: answer(400, `{"status":"error","errorType":"bad_data","error":"parse error"}`), want: 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				t.Cleanup(srv.Close)
				u = srv.URL
			}
			tr := newCountingTransport(t)
			reg := prometheus.NewRegistry()
			p, err := NewPoller(&MemAppender{}, PollerOptions{URL: u, Queries: fiveQueries, RoundTripper: tr, MaxRetries: 3, RetryBackoff: time.Millisecond}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Eval(context.Background(), time.Unix(1700000000, 0))
			if n := tr.count("/api/v1/query"); n != tc.want {
				t.Errorf("%d requests, want %d", n, tc.want)
			}
			for name := range fiveQueries {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("query %q at", name)) {
					t.Errorf("Eval error %v lacks query %q", err, name)
				}
			}
			if tc.want == 4 && !strings.Contains(err.Error(), `query "b" at 2023-11-14T22:13:20Z: not sent, the server failing (query "a" failed after its retries): prometheus `) {
				t.Errorf("Eval error %v: want the queries after a not sent, naming a's error", err)
			}
			if v := counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error"); v != 5 {
				t.Errorf("omen_prometheus_queries_total{outcome=\"error\"} = %v, want 5", v)
			}
		})
	}
}

// TestPollerRetryAfter: a 429 or 503 answer's Retry-After (seconds) is the
// retry's back-off (30s at most for Eval); one beyond the end of the
// poll's step (Run's) fails the query at once and holds back the queries
// until it has passed: none is sent then, each fails. The back-off was
// RetryBackoff whatever the server asked, then a Retry-After beyond the
// step was cut to the step's end, the retry landing with the next poll's
// first query.
func TestPollerRetryAfter(t *testing.T) {
	ok := jsonResponse(200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000,"1"]}]}}`)
	limited := func(code int, after string) func(http.ResponseWriter) {
		return func(w http.ResponseWriter) {
			w.Header().Set("Retry-After", after)
			http.Error(w, "later", code)
		}
	}
	for _, tc := range []struct {
		name     string
		first    func(http.ResponseWriter)
		left     time.Duration // the time left in the step; 0: Eval, none
		min, max time.Duration // the wait
		calls    int32
		held     bool // the next poll sends nothing
	}{
		{name: "429 Retry-After 1", first: limited(429, "1"), min: 900 * time.Millisecond, max: 5 * time.Second, calls: 2},
		{name: "503 Retry-After 1", first: limited(503, "1"), min: 900 * time.Millisecond, max: 5 * time.Second, calls: 2},
		{name: "beyond the step", first: limited(429, "60"), left: 300 * time.Millisecond, max: 200 * time.Millisecond, calls: 1, held: true},
		{name: "503 beyond the step", first: limited(503, "2"), left: time.Second, max: 200 * time.Millisecond, calls: 1, held: true},
		{name: "within the step", first: limited(429, "1"), left: 2 * time.Second, min: 900 * time.Millisecond, max: 1900 * time.Millisecond, calls: 2},
		{name: "no time left", first: limited(429, "1"), left: -time.Millisecond, max: time.Second, calls: 1, held: true},
		{name: "HTTP date ignored", first: limited(429, "Wed, 21 Oct 2015 07:28:00 GMT"), max: 500 * time.Millisecond, calls: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				if calls.Add(1) == 1 {
					tc.first(w)
					return
				}
				ok(w)
			}))
			t.Cleanup(srv.Close)
			app := &MemAppender{}
			p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"q": "up"}, RetryBackoff: time.Millisecond}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			var until time.Time
			if tc.left != 0 {
				until = time.Now().Add(tc.left)
			}
			start := time.Now()
			samples, failed := p.instant(context.Background(), p.queries.Load(), time.Unix(1700000000, 0), until, nil)
			took := time.Since(start)
			if took < tc.min || took > tc.max {
				t.Errorf("took %v, want %v to %v", took, tc.min, tc.max)
			}
			if c := calls.Load(); c != tc.calls {
				t.Errorf("%d calls, want %d", c, tc.calls)
			}
			if (len(samples["q"]) == 1) != (tc.calls == 2) || (len(failed) == 1) != (tc.calls == 1) {
				t.Errorf("samples %v, failed %v", samples, failed)
			}
			// The next poll, at once.
			_, failed = p.instant(context.Background(), p.queries.Load(), time.Unix(1700000015, 0), time.Now().Add(time.Second), nil)
			if c := calls.Load(); tc.held && (c != tc.calls || failed["q"] == nil || !strings.Contains(failed["q"].Error(), "not sent, held back until ")) {
				t.Errorf("next poll: %d calls (want %d), error %v: want it held back", c, tc.calls, failed["q"])
			} else if !tc.held && c != tc.calls+1 {
				t.Errorf("next poll: %d calls, want %d", c, tc.calls+1)
			}
		})
	}
}

// TestPollerSlowQueryFailsAlone: a query that outlives the client's
// deadline (Prometheus answers its own query timeout late: 6-7 s for a
// 1-2 s timeout) is that query's trouble, not the server's: the poll's
// other queries are sent and stored at every poll. The client's deadline
// counted as the server failing, so one slow query stopped every query
// after it, at every poll, on a healthy server.
func TestPollerSlowQueryFailsAlone(t *testing.T) {
	ok := jsonResponse(200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000,"1"]}]}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err == nil && r.Form.Get("query") == "slow" {
			select { // past the client's deadline
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		}
		ok(w)
	}))
	t.Cleanup(srv.Close)
	app := &MemAppender{}
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "slow", "b": "up"},
		Timeout: 100 * time.Millisecond, MaxRetries: 1, RetryBackoff: time.Millisecond}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for poll := range 3 {
		err := p.Eval(context.Background(), time.Unix(1700000000+int64(poll)*15, 0))
		if err == nil || !strings.Contains(err.Error(), `query "a" at`) || strings.Contains(err.Error(), `query "b" at`) {
			t.Errorf("poll %d: Eval error %v, want a's alone", poll, err)
		}
		if n := len(app.Samples()); n != poll+1 {
			t.Errorf("poll %d: %d samples stored, want b's at every poll (%d)", poll, n, poll+1)
		}
	}
}

// TestPollerRetryAfterHoldsPolls: against a server answering every query
// with a 429 asking for 2 s, Run with a 1 s step sends one query every 2 to
// 3 s (the polls before the Retry-After has passed send nothing, their
// queries counted as errors): it sent two a step, the retry cut to the
// step's end landing with the next poll's first query.
func TestPollerRetryAfterHoldsPolls(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
		w.Header().Set("Retry-After", "2")
		http.Error(w, "slow down", http.StatusTooManyRequests)
	}))
	t.Cleanup(srv.Close)
	reg := prometheus.NewRegistry()
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Step: time.Second, Queries: map[string]string{"a": "up", "b": "up"}}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5500*time.Millisecond)
	defer cancel()
	if err := p.Run(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(at) < 1 || len(at) > 3 {
		t.Errorf("%d requests in 5.5 s, want 1 to 3", len(at))
	}
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 2*time.Second {
			t.Errorf("requests %d and %d %v apart, want the Retry-After's 2 s", i-1, i, d)
		}
	}
	// Every query of every poll (5) failed.
	if v := counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error"); v < 8 {
		t.Errorf("omen_prometheus_queries_total{outcome=\"error\"} = %v, want each query of each poll", v)
	}
}
