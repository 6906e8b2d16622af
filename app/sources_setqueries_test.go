package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream"
	"github.com/omen-sre/omen/telemetry"
)

// stuckAppender's Append does not return until release is closed (a store
// that does not answer); entered gets a value at each Append.
type stuckAppender struct {
	entered chan struct{}
	release chan struct{}
}

func (a stuckAppender) Append(ctx context.Context, _ []telemetry.Batch) error {
	a.entered <- struct{}{}
	select {
	case <-a.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSetQueriesPollersAtOnce: with every poller's Append stuck (one
// store behind them all), a reload's setQueries waits for them at once,
// 5 s (stream's bound for SetQueries) in all, not 5 s a poller: the reload
// holds the evaluator's layout lock meanwhile.
func TestSetQueriesPollersAtOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"p"},"value":[%d,"1"]}]}}`, time.Now().Unix())
	}))
	t.Cleanup(srv.Close)
	app := stuckAppender{entered: make(chan struct{}, 8), release: make(chan struct{})}
	s := &sources{logger: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	const n = 3
	for i := range n {
		p, err := stream.NewPoller(app, stream.PollerOptions{Name: fmt.Sprintf("p%d", i), URL: srv.URL,
			Queries: map[string]string{"q": "old"}, Step: time.Second, Timeout: time.Second}, prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		s.pollers = append(s.pollers, pollerWithBackfill{Poller: p})
		wg.Go(func() { _ = p.Run(ctx) })
	}
	t.Cleanup(func() {
		close(app.release)
		cancel()
		wg.Wait()
	})
	for range n {
		select {
		case <-app.entered:
		case <-time.After(30 * time.Second):
			t.Fatal("the pollers did not all Append within 30 s")
		}
	}
	start := time.Now()
	if err := s.setQueries(map[string]string{"q": "new"}); err != nil {
		t.Fatal(err)
	}
	// One after the other: at least 3 × 5 s.
	if d := time.Since(start); d >= 10*time.Second {
		t.Errorf("setQueries with %d pollers' Appends stuck took %v, want about 5 s (the pollers at once)", n, d.Round(time.Millisecond))
	}
}

// TestSetQueriesLogsChanges: every reload gives the pollers the query set,
// but "Prometheus poller queries updated" is logged only when an
// expression changed (it was logged at a reload that changed only a
// restart-only key, the queries as they were).
func TestSetQueriesLogsChanges(t *testing.T) {
	var logs testenv.SyncBuffer
	s := &sources{logger: slog.New(slog.NewTextHandler(&logs, nil)), queries: map[string]string{"q": "old"}}
	p, err := stream.NewPoller(&stream.MemAppender{}, stream.PollerOptions{Name: "p", URL: "http://127.0.0.1:1",
		Queries: map[string]string{"q": "old"}, Step: time.Second, Timeout: time.Second}, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	s.pollers = append(s.pollers, pollerWithBackfill{Poller: p})
	for _, tc := range []struct {
		queries map[string]string
		logged  int // lines so far
	}{
		{map[string]string{"q": "old"}, 0},
		{map[string]string{"q": "new"}, 1},
		{map[string]string{"q": "new"}, 1},
		{map[string]string{"q": "new", "r": "up"}, 2},
	} {
		if err := s.setQueries(tc.queries); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(logs.String(), "Prometheus poller queries updated"); n != tc.logged {
			t.Errorf("after %v: %d lines, want %d:\n%s", tc.queries, n, tc.logged, logs.String())
		}
	}
}
