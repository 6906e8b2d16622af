package stream

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/internal/testenv"
)

// lateConn is a connection to url, where no server listens yet, made as
// the daemon makes it when an external server is unreachable at its
// start: it keeps trying in the background.
func lateConn(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if nc.IsConnected() {
		t.Fatalf("connected to %s before the server started", url)
	}
	return nc
}

// lateServerDelay is how long after Run the late server starts: longer
// than a JetStream request's default timeout (5s), after which Run's
// Setup failed.
const lateServerDelay = 7 * time.Second

// debianRestartable is restartableServers' Debian nats-server, not
// started.
func debianRestartable(t *testing.T) *restartableNATS {
	t.Helper()
	for _, s := range restartableServers {
		if s.name == "debian" {
			return s.new(t)
		}
	}
	t.Fatal("no debian server in restartableServers")
	return nil
}

// TestNATSConsumerWaitsForLateServer: Run on a connection that has not
// reached its server yet (Debian's nats-server 2.9, started 7s after Run)
// waits for it instead of failing, then creates the stream and the
// durable consumer and ingests a message published to the stream's
// subject, and says once at INFO that NATS was reached.
// omen_nats_consumer_last_contact_timestamp_seconds stays at Run's start
// while it waits, and moves once the pull works. Run failed after
// 5s: Setup's first JetStream request timed out.
func TestNATSConsumerWaitsForLateServer(t *testing.T) {
	verifyNoLeaks(t)
	srv := debianRestartable(t) // not started yet
	nc := lateConn(t, srv.url)
	app := &MemAppender{}
	logs := &testenv.SyncBuffer{}
	reg := prometheus.NewRegistry()
	c, err := NewNATSConsumer(nc, app, testNATSOptions(), reg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.pollEvery = 200 * time.Millisecond
	contact := func() float64 {
		v, _ := gaugeValue(t, reg, "omen_nats_consumer_last_contact_timestamp_seconds", "consumer", DefaultDurable)
		return v
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	select {
	case err := <-done:
		done <- err
		t.Fatalf("Run returned before the server started: %v", err)
	case <-time.After(lateServerDelay):
	}
	// The last contact stays at Run's start while NATS is unreachable,
	// so that OmenNATSConsumerStalled fires after 5 minutes of it.
	serverStart := time.Now()
	if got := contact(); got <= 0 || got > float64(serverStart.Add(-lateServerDelay/2).UnixNano())/1e9 {
		t.Errorf("last contact %v while waiting for NATS, want Run's start (before %v)", got, serverStart.Add(-lateServerDelay/2))
	}
	srv.start(t)
	_, js := reconnecting(t, srv.url)
	// The stream exists once Run has set it up: publishRetry retries
	// until then (no responders, no stream).
	publishRetry(t, js, "omen.metrics", fmt.Sprintf("a,i=0 v=1 %d", time.Now().UnixNano()))
	waitFor(t, "the message published once the server started", func() bool { s, _, _ := app.Counts(); return s >= 1 })
	waitFor(t, "the last contact to move once the pull works", func() bool { return contact() > float64(serverStart.UnixNano())/1e9 })
	if out := logs.String(); !strings.Contains(out, "NATS reached: jetstream stream and consumer set up") {
		t.Errorf("no INFO that NATS was reached:\n%s", out)
	}
}

// TestNATSConsumerStopWhileWaiting: Run waiting for a server that never
// starts returns promptly when its context is cancelled, and leaves no
// goroutine behind.
func TestNATSConsumerStopWhileWaiting(t *testing.T) {
	verifyNoLeaks(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", testenv.StablePort(t))
	nc := lateConn(t, url)
	c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(time.Second)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil after the cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of the cancel")
	}
}

// TestNATSConsumerClosedWhileWaiting: a connection closed before it
// reached its server (nats.go gave up) ends Run with an error, not a wait
// for ever.
func TestNATSConsumerClosedWhileWaiting(t *testing.T) {
	verifyNoLeaks(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", testenv.StablePort(t))
	nc := lateConn(t, url)
	c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry())
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	time.Sleep(500 * time.Millisecond)
	nc.Close()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "closed before it reached a server") {
			t.Errorf("Run = %v, want the connection closed before it reached a server", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of the connection's close")
	}
}

// TestNATSConsumerLateServerRefusesCredentials: a server that, once it
// answers, refuses the connection's credentials ends Run with the
// authorization error (the daemon then exits 1, as at a start with the
// server up), rather than a wait for ever.
func TestNATSConsumerLateServerRefusesCredentials(t *testing.T) {
	verifyNoLeaks(t)
	port := testenv.StablePort(t)
	nc := lateConn(t, fmt.Sprintf("nats://omen:wr0ng@127.0.0.1:%d", port))
	c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	time.Sleep(500 * time.Millisecond)
	// nats-server takes the last -p: the port the connection tries.
	testenv.NATSServer(t, "-p", strconv.Itoa(port), "--user", "omen", "--pass", "s3cret")
	select {
	case err := <-done:
		if err == nil || !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
			t.Errorf("Run = %v, want the authorization error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of a server refusing its credentials")
	}
}
