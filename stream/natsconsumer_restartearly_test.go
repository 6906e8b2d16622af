package stream

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerServerRestartDuringSetup: a NATS server that restarts
// a few milliseconds after Run starts, while Setup creates the stream,
// OMEN_DLQ and the durable on a connection that was up, fails Setup with
// a timeout (the request went to the server that stopped). Run ended
// with that error ("create stream \"OMEN\": context deadline exceeded"),
// and the daemon with it, in every run with Debian nats-server 2.9
// (3 of 3 subtests' pairs before the fix);
// since 8d8e162 it retries Setup (TestNATSConsumerSetupConnectionLost
// cuts the connection with a proxy; this is a real server's restart), as for a server that was not up yet, with a
// WARN, and ingests what is published after the restart. The restart
// is immediate or after 1s down.
func TestNATSConsumerServerRestartDuringSetup(t *testing.T) {
	for _, ns := range restartableServers {
		if ns.name != "debian" {
			// The embedded server shut down while it creates a stream
			// leaves two of its goroutines running (nats-server
			// v2.15.2's fileStore.flushStreamStateLoop, ats.Register),
			// which verifyNoLeaks reports; Debian's is a process.
			continue
		}
		for _, down := range []time.Duration{0, time.Second} {
			t.Run(fmt.Sprintf("%s/down %v", ns.name, down), func(t *testing.T) {
				verifyNoLeaks(t)
				srv := ns.new(t)
				srv.start(t)
				nc, js := reconnecting(t, srv.url)
				app := &MemAppender{}
				logs := &testenv.SyncBuffer{}
				c, err := NewNATSConsumer(nc, app, testNATSOptions(), prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
				if err != nil {
					t.Fatal(err)
				}
				c.heartbeat = 500 * time.Millisecond
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- c.Run(ctx) }()
				stopped := false
				t.Cleanup(func() {
					cancel()
					if !stopped {
						<-done
					}
				})
				time.Sleep(5 * time.Millisecond) // Setup's requests in flight
				srv.stop(t)
				time.Sleep(down)
				srv.start(t)
				publishRetry(t, js, "omen.metrics", fmt.Sprintf("a,i=0 v=1 %d", time.Now().UnixNano()))
				waitFor(t, "the message published after the restart, or Run's end", func() bool {
					if s, _, _ := app.Counts(); s >= 1 {
						return true
					}
					select {
					case err := <-done:
						stopped = true
						t.Fatalf("Run ended after the server's restart: %v\n%s", err, logs.String())
					default:
					}
					return false
				})
			})
		}
	}
}
