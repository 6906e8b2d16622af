package stream

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// connCounter counts a test server's open connections (accepted, not
// closed yet).
type connCounter struct {
	mu   sync.Mutex
	open map[net.Conn]bool
}

func (c *connCounter) state(conn net.Conn, s http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open == nil {
		c.open = map[net.Conn]bool{}
	}
	switch s {
	case http.StateNew:
		c.open[conn] = true
	case http.StateClosed, http.StateHijacked:
		delete(c.open, conn)
	}
}

func (c *connCounter) n() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

// TestPollerClosesIdleConnectionsAtStop: once Run has returned, the
// poller's keep-alive connections to Prometheus are closed, with its
// default transport (a shared one whose connections stayed open for its
// 90 s idle timeout, the client's reading goroutines with them) and with
// the caller's (omen's per-entry transport, kept for 5 minutes).
func TestPollerClosesIdleConnectionsAtStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		rt   func() http.RoundTripper
	}{
		{"default transport", func() http.RoundTripper { return nil }},
		{"the caller's transport", func() http.RoundTripper { return &http.Transport{IdleConnTimeout: time.Hour} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifyNoLeaks(t)
			var conns connCounter
			var polled atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				polled.Add(1)
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
			}))
			srv.Config.ConnState = conns.state
			srv.Start()
			t.Cleanup(srv.Close)
			p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "up", "b": "vector(1)"},
				Step: 200 * time.Millisecond, RoundTripper: tc.rt()}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- p.Run(ctx) }()
			waitFor(t, "two polls", func() bool { return polled.Load() >= 4 })
			if n := conns.n(); n == 0 {
				t.Fatal("no connection open while the poller runs: the test proves nothing")
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for conns.n() > 0 && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if n := conns.n(); n > 0 {
				t.Fatalf("%d connections still open 10 s after Run returned", n)
			}
		})
	}
}
