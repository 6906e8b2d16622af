package stream

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// TestPollerCatchUpRetryAfterHoldsPolls: a catch-up range query answered
// with a 429 asking for 2 s (the poll's step: 200 ms) holds the server's
// queries as a live poll's does: neither the poll's other catch-up nor the
// next polls send anything before the Retry-After has passed. The
// catch-up ignored it: the other query's range query went out at once,
// and the next poll's instant queries 200 ms later.
func TestPollerCatchUpRetryAfterHoldsPolls(t *testing.T) {
	defer goleak.VerifyNone(t)
	type request struct {
		at     time.Time
		kind   string // instant or range
		status int
	}
	var mu sync.Mutex
	var reqs []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rq := request{at: time.Now(), kind: "instant", status: http.StatusOK}
		if strings.HasSuffix(r.URL.Path, "/query_range") {
			rq.kind, rq.status = "range", http.StatusTooManyRequests
		}
		mu.Lock()
		reqs = append(reqs, rq)
		mu.Unlock()
		if rq.status != http.StatusOK {
			w.Header().Set("Retry-After", "2")
			http.Error(w, "slow down", rq.status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%s,"1"]}]}}`, r.Form.Get("time"))
	}))
	defer srv.Close()

	const step = 200 * time.Millisecond
	p, reg := catchUpPoller(t, &MemAppender{}, srv.URL, map[string]string{"a": "up", "b": "up"}, step)
	ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
	defer cancel()
	// Both queries behind from the first poll: its live queries succeed,
	// then each fetches its missed steps.
	if err := p.RunAfter(ctx, FloorStep(time.Now(), step).Add(-5*step)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	held := 0
	for i, r := range reqs {
		if r.status != http.StatusTooManyRequests {
			continue
		}
		held++
		for _, later := range reqs[i+1:] {
			if d := later.at.Sub(r.at); d < 2*time.Second {
				t.Errorf("%s query %v after a catch-up's 429 asking for 2 s", later.kind, d)
			}
		}
	}
	if held == 0 {
		t.Fatalf("no catch-up range query in 3.5 s; requests %+v", reqs)
	}
	if v := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", lostError); v == 0 {
		t.Error("the steps of the held catch-up not counted as lost (error)")
	}
}

// TestPollerCatchUpWaitsShortRetryAfter: a catch-up's Retry-After that
// ends well within the poll's time for its range queries (1 s of a 3 s
// step) is waited for, and the poll's other catch-up is sent after it:
// every later catch-up of the poll was given up, its steps lost
// (reviewer's finding: 6 steps lost for a hold that ended 2 s before the
// time ran out).
func TestPollerCatchUpWaitsShortRetryAfter(t *testing.T) {
	defer goleak.VerifyNone(t)
	var mu sync.Mutex
	ranges := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/query_range") {
			mu.Lock()
			ranges++
			first := ranges == 1
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "slow down", http.StatusTooManyRequests)
				return
			}
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{"pod":"a"},"values":[[%s,"1"]]}]}}`, r.Form.Get("start"))
			return
		}
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[%s,"1"]}]}}`, r.Form.Get("time"))
	}))
	defer srv.Close() // before goleak's check
	const step = 3 * time.Second
	p, reg := catchUpPoller(t, &MemAppender{}, srv.URL, map[string]string{"a": "up", "b": "up"}, step)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	if err := p.RunAfter(ctx, FloorStep(time.Now(), step).Add(-3*step)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if ranges < 2 {
		t.Errorf("%d range queries sent: the other catch-up was given up for a 1 s hold within a 3 s step", ranges)
	}
	// The held query's own missed steps are lost (at most 3: the poller
	// starts 3 steps back), not the other's too.
	if lost := counterValue(t, reg, "omen_prometheus_catch_up_lost_steps_total", "reason", lostError); lost > 3 {
		t.Errorf("%v steps lost (error), want at most the held query's 3", lost)
	}
}
