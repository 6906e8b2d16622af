package app

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestPollerConnectionsClosedAtStop: when the daemon's sources stop, the
// pollers' keep-alive connections to Prometheus are closed, through the
// transport of omen's client settings (every entry has one): they stayed
// open for its 5-minute idle timeout.
func TestPollerConnectionsClosedAtStop(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	var (
		mu    sync.Mutex
		open  = map[net.Conn]bool{}
		asked atomic.Int64
	)
	openConns := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(open)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/query_range") {
			_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"matrix","result":[]}}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	src := pollerSources(t, config.PollerConfig{URL: srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.run(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for asked.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if asked.Load() == 0 || openConns() == 0 {
		cancel()
		<-done
		t.Fatalf("%d queries, %d connections open: the poller did not reach the server", asked.Load(), openConns())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for openConns() > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openConns(); n > 0 {
		t.Fatalf("%d connections to Prometheus still open 10 s after the sources stopped", n)
	}
}
