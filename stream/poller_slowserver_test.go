package stream

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// hangingProm is a fake Prometheus that accepts every connection and
// never answers the instant queries whose expression is in hang (until
// the test ends); it answers the others with one sample. It records the
// expressions queried, in order, and calls onRequest (when set) with each
// before answering.
type hangingProm struct {
	hang      map[string]bool
	unblock   chan struct{}
	onRequest func(expr string)
	mu        sync.Mutex
	exprs     []string
}

// newHangingProm starts a hangingProm on 127.0.0.1, unblocked and closed
// at t's end.
func newHangingProm(t *testing.T, hang ...string) (*hangingProm, *httptest.Server) {
	t.Helper()
	h := &hangingProm{hang: map[string]bool{}, unblock: make(chan struct{})}
	for _, e := range hang {
		h.hang[e] = true
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(h.unblock) }) // before srv.Close: its handlers return
	return h, srv
}

func (h *hangingProm) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	expr := ""
	if err := r.ParseForm(); err == nil {
		expr = r.Form.Get("query")
	}
	h.mu.Lock()
	h.exprs = append(h.exprs, expr)
	h.mu.Unlock()
	if h.onRequest != nil {
		h.onRequest(expr)
	}
	if h.hang[expr] {
		select {
		case <-r.Context().Done():
		case <-h.unblock:
		}
		return
	}
	jsonResponse(200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000,"1"]}]}}`)(w)
}

// count returns how many requests queried expr.
func (h *hangingProm) count(expr string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, e := range h.exprs {
		if e == expr {
			n++
		}
	}
	return n
}

// distinctQueries are five queries polled in name order (a to e), each
// with its own expression (qa to qe) for a server to tell apart.
var distinctQueries = map[string]string{"a": "qa", "b": "qb", "c": "qc", "d": "qd", "e": "qe"}

// TestPollerSlowServerFailsFast: against a server that accepts
// connections and never answers, a query that timed out once sent after
// its retries is followed by one attempt of the next; when that times out
// too, the poll's other queries are not sent (they fail at once, counted
// as errors). Every query was sent and retried in turn: 5 queries x 4
// attempts x 1.5 x Timeout a poll (about an hour at the defaults, with 20
// queries). One slow query on a server that answers the others stops
// none; the one after it is sent without retries.
//
// A query answered counts as answered only within its deadline (1.5 x
// Timeout): a Timeout of a second leaves the local server 1.5 s, which a
// loaded machine does not miss (at 250 ms, 375 ms); one retry (MaxRetries
// 1) and the rows run in parallel keep the test's time to the longest
// row's four deadlines.
func TestPollerSlowServerFailsFast(t *testing.T) {
	verifyNoLeaks(t) // once the parallel rows have ended
	for _, tc := range []struct {
		name string
		hang []string
		want map[string]int // requests by expression
	}{
		{name: "server not answering", hang: []string{"qa", "qb", "qc", "qd", "qe"},
			want: map[string]int{"qa": 2, "qb": 1, "qc": 0, "qd": 0, "qe": 0}},
		{name: "one slow query", hang: []string{"qa"},
			want: map[string]int{"qa": 2, "qb": 1, "qc": 1, "qd": 1, "qe": 1}},
		{name: "two slow queries apart", hang: []string{"qa", "qc"},
			want: map[string]int{"qa": 2, "qb": 1, "qc": 2, "qd": 1, "qe": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, srv := newHangingProm(t, tc.hang...)
			reg := prometheus.NewRegistry()
			p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Queries: distinctQueries, RoundTripper: newCountingTransport(t),
				MaxRetries: 1, RetryBackoff: time.Millisecond, Timeout: time.Second}, reg, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Eval(context.Background(), time.Unix(1700000000, 0))
			for expr, want := range tc.want {
				if n := h.count(expr); n != want {
					t.Errorf("%s: %d requests, want %d", expr, n, want)
				}
			}
			if v := counterValue(t, reg, "omen_prometheus_queries_total", "outcome", "error"); v != float64(len(tc.hang)) {
				t.Errorf("omen_prometheus_queries_total{outcome=\"error\"} = %v, want %d", v, len(tc.hang))
			}
			if len(tc.hang) == 5 && (err == nil || !strings.Contains(err.Error(), `query "c" at 2023-11-14T22:13:20Z: not sent, the server not answering (queries "a" and "b" timed out once sent): prometheus `)) {
				t.Errorf("Eval error %v: want the queries after b not sent, naming a and b", err)
			}
		})
	}
}

// TestPollerNoRetryPastStep: in Run's poll, a query whose retry would
// start after the poll's step has ended is not retried: it fails with its
// error and is caught up at its next successful poll. Each attempt may
// last 1.5 x Timeout: retried past its step, a query that timed out
// delayed the next poll by as much again at each retry (at the defaults,
// 30 s timeout and 15 s step, one query took 3 min a poll).
func TestPollerNoRetryPastStep(t *testing.T) {
	verifyNoLeaks(t)
	h, srv := newHangingProm(t, "qa")
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "qa"}, RoundTripper: newCountingTransport(t),
		MaxRetries: 3, RetryBackoff: time.Millisecond, Timeout: 100 * time.Millisecond}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	// The step ends before the first attempt's 150 ms deadline.
	_, failed := p.instant(context.Background(), p.queries.Load(), time.Unix(1700000000, 0), time.Now().Add(50*time.Millisecond), nil)
	if n := h.count("qa"); n != 1 {
		t.Errorf("%d requests, want 1: no retry past the step", n)
	}
	if failed["a"] == nil {
		t.Error("query a did not fail")
	}
}

// TestPollerSlowServerWarnsAtFailure: Run logs a query's first failure
// as soon as it fails, before the poll's next query is sent, and against
// a server that never answers the poll sends no query after the second
// that timed out. The WARN came when the whole poll ended (138 s after
// the first attempt with a 4 s timeout, 5 queries), and every query was
// sent and retried.
func TestPollerSlowServerWarnsAtFailure(t *testing.T) {
	verifyNoLeaks(t)
	h, srv := newHangingProm(t, "qa", "qb", "qc", "qd", "qe")
	logs := newCaptureHandler()
	var mu sync.Mutex
	warnedBeforeB := -1 // a's WARN records when b's first request came
	h.onRequest = func(expr string) {
		mu.Lock()
		defer mu.Unlock()
		if expr == "qb" && warnedBeforeB < 0 {
			warnedBeforeB = len(logs.byQuery("a")[slog.LevelWarn])
		}
	}
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Queries: distinctQueries, RoundTripper: newCountingTransport(t), Step: time.Second,
		MaxRetries: 3, RetryBackoff: time.Millisecond, Timeout: 100 * time.Millisecond}, prometheus.NewRegistry(), slog.New(logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// The first poll has ended once e's failure is logged.
	for deadline := time.Now().Add(30 * time.Second); len(logs.byQuery("e")[slog.LevelWarn]) == 0; {
		if time.Now().After(deadline) {
			t.Error("no WARN of query e within 30 s")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if warnedBeforeB != 1 {
		t.Errorf("%d WARN records of query a when b was sent, want 1: logged as a failed", warnedBeforeB)
	}
	for _, expr := range []string{"qc", "qd", "qe"} {
		if n := h.count(expr); n != 0 {
			t.Errorf("%s: %d requests, want none: the server does not answer", expr, n)
		}
	}
}
