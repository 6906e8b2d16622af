package stream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

// TestPollerLatePollsKeepEveryQuery: every poll is late (one query's
// instant query takes 1.5 steps) and that query's range query outlives
// the step the catch-up has: the queries after it get no time for theirs.
// Each still appends its live value every poll, its missed steps counted
// lost (code review: they were skipped, left behind with nothing
// appended, at every late poll: 2 samples in 4 s against 20 steps).
func TestPollerLatePollsKeepEveryQuery(t *testing.T) {
	defer goleak.VerifyNone(t)
	const step = 200 * time.Millisecond
	fp := &outageProm{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.FormValue("query") == "slow" {
			if strings.HasSuffix(r.URL.Path, "/query_range") {
				select {
				case <-time.After(3 * step / 2):
				case <-r.Context().Done():
					return
				}
			} else {
				time.Sleep(3 * step / 2)
			}
		}
		fp.ServeHTTP(w, r)
	}))
	defer srv.Close()
	app := &recordingAppender{}
	reg := prometheus.NewRegistry()
	p, err := NewPoller(app, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "slow", "b": "up", "c": "up2"}, Step: step,
		CatchUp: 10 * time.Second, RetryBackoff: time.Millisecond, MaxRetries: 1, Timeout: 2 * time.Second}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.RunAfter(ctx, FloorStep(time.Now(), step)) }()
	time.Sleep(4 * time.Second)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	app.mu.Lock()
	defer app.mu.Unlock()
	// A poll about every 500 ms (the slow instant query, then the step the
	// catch-up has): 8 samples each on a quiet machine; at least 5 leaves
	// room for load and is still far from the bug's 2.
	for _, n := range []string{"b", "c"} {
		if got := len(app.times[n]); got < 5 {
			t.Errorf("%s: %d samples stored in 4 s of 200 ms steps with late polls, want at least 5: %v", n, got, app.times[n])
		}
	}
}
