package stream

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
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
	nc, err := nats.Connect(url, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // not on stderr
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if nc.IsConnected() {
		t.Fatalf("connected to %s before the server started", url)
	}
	return nc
}

// runLate runs c.Run on a goroutine with a context cancelled when the
// test ends, and returns where Run's error arrives.
func runLate(t *testing.T, c *NATSConsumer) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return done
}

// runError waits up to d for Run's error from done and fails the test
// unless it contains every one of want; after says what Run answers.
func runError(t *testing.T, done <-chan error, d time.Duration, after string, want ...string) {
	t.Helper()
	select {
	case err := <-done:
		for _, w := range want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("Run = %v, want an error with %q (%s)", err, w, after)
			}
		}
	case <-time.After(d):
		t.Fatalf("Run did not return within %v of %s", d, after)
	}
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
// starts still waits after longer than a JetStream request's timeout (5s;
// Run failed then), returns promptly when its context is cancelled, and
// leaves no goroutine behind.
func TestNATSConsumerStopWhileWaiting(t *testing.T) {
	verifyNoLeaks(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", testenv.StablePort(t))
	nc := lateConn(t, url)
	c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case err := <-done:
		cancel()
		t.Fatalf("Run returned while it should wait for the server: %v", err)
	case <-time.After(lateServerDelay):
	}
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
	done := runLate(t, newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry()))
	time.Sleep(500 * time.Millisecond)
	nc.Close()
	runError(t, done, 10*time.Second, "the connection's close", "closed before it reached a server")
}

// TestNATSConsumerLateServerRefusesCredentials: a server that, once it
// answers, refuses the connection's credentials ends Run with the
// authorization error (the daemon then exits 1, as at a start with the
// server up), rather than a wait for ever.
func TestNATSConsumerLateServerRefusesCredentials(t *testing.T) {
	verifyNoLeaks(t)
	port := testenv.StablePort(t)
	nc := lateConn(t, fmt.Sprintf("nats://omen:wr0ng@127.0.0.1:%d", port))
	done := runLate(t, newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry()))
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

// TestNATSConsumerLateServerDeniesJetStream: a server that, once it
// answers, does not let the connection's user publish to the JetStream
// API ($JS.API.>) ends Run with an error naming the permissions
// violation, as a start with the server up does (after the request's 5s
// timeout; its error said only "context deadline exceeded"). Run retried
// a late one for ever: the violation arrives on its own and Setup saw
// only its request time out.
func TestNATSConsumerLateServerDeniesJetStream(t *testing.T) {
	conf := filepath.Join(t.TempDir(), "nats.conf")
	if err := os.WriteFile(conf, []byte(`authorization { users = [ { user: omen, password: s3cret, permissions: { publish: { deny: ["$JS.API.>"] } } } ] }`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, late := range []bool{true, false} {
		t.Run(fmt.Sprintf("late=%v", late), func(t *testing.T) {
			verifyNoLeaks(t)
			port := testenv.StablePort(t)
			url := fmt.Sprintf("nats://omen:s3cret@127.0.0.1:%d", port)
			var nc *nats.Conn
			if late {
				nc = lateConn(t, url)
			} else {
				// nats-server takes the last -p.
				testenv.NATSServer(t, "-c", conf, "-p", strconv.Itoa(port))
				var err error
				if nc, err = nats.Connect(url, nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(nc.Close)
			}
			done := runLate(t, newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry()))
			if late {
				time.Sleep(500 * time.Millisecond)
				testenv.NATSServer(t, "-c", conf, "-p", strconv.Itoa(port))
			}
			runError(t, done, 20*time.Second, "a server denying the JetStream API", "permissions violation", "$JS.API")
		})
	}
}

// TestNATSConsumerLateServerRefusesTLS: a tls:// connection to a server,
// started after Run, that has no TLS, or whose certificate the client
// does not trust, ends Run with the client's error rather than a wait for
// ever: nats.go retries such a server without end and calls no handler.
func TestNATSConsumerLateServerRefusesTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.WriteCert(t, cert, key, "nats")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no TLS", nil, "secure connection not available"},
		{"untrusted certificate", []string{"--tls", "--tlscert", cert, "--tlskey", key}, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			verifyNoLeaks(t)
			port := testenv.StablePort(t)
			nc := lateConn(t, fmt.Sprintf("tls://127.0.0.1:%d", port))
			done := runLate(t, newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry()))
			time.Sleep(500 * time.Millisecond)
			testenv.NATSServer(t, append([]string{"-p", strconv.Itoa(port)}, tc.args...)...)
			runError(t, done, 20*time.Second, "the server's refusal", "refused the connection", tc.want)
		})
	}
}

// TestNATSConsumerWaitWarnNamesLastError: while Run waits for a server
// that is reached but closes each connection before it speaks (a proxy
// without a backend), its periodic WARN names the connection's last error
// (EOF); it said only that NATS was unreachable.
func TestNATSConsumerWaitWarnNamesLastError(t *testing.T) {
	verifyNoLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-accepted
	})
	nc := lateConn(t, "nats://"+ln.Addr().String())
	logs := &testenv.SyncBuffer{}
	c, err := NewNATSConsumer(nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry(), slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.waitWarnEvery = 300 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	waitFor(t, "a WARN naming the last error", func() bool {
		return strings.Contains(logs.String(), "NATS still unreachable") && strings.Contains(logs.String(), "last_err=EOF")
	})
}

// TestNATSConsumerRefusedAfterConnectWaits: a connection that connected
// once, after the consumer was created (a late server), and that the
// server then refuses at a reconnect (restarted with the password
// rotated, omen's file not yet) is waited for by awaitConnection, as
// nats.go keeps reconnecting: a refusal ends Run only before the first
// connect. It ended Run (omen exit 1) whenever the connection was down
// then: Setup failing with the connection lost, or a connection lost
// before Run.
func TestNATSConsumerRefusedAfterConnectWaits(t *testing.T) {
	verifyNoLeaks(t)
	port := testenv.StablePort(t)
	start := func(pass string) *testenv.Process {
		p := testenv.Start(t, "nats-server", testenv.NATSServerBin, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "--user", "omen", "--pass", pass)
		waitFor(t, "nats-server listening", func() bool {
			c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				_ = c.Close()
			}
			return err == nil
		})
		return p
	}
	nc, err := nats.Connect(fmt.Sprintf("nats://omen:s3cret@127.0.0.1:%d", port), nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.IgnoreAuthErrorAbort(), // as the daemon's
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // not on stderr
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	c := newConsumer(t, nc, &MemAppender{}, testNATSOptions(), prometheus.NewRegistry())
	srv := start("s3cret")
	waitFor(t, "the connection up", nc.IsConnected)
	srv.Stop(t)
	start("rotated")
	waitFor(t, "the server's refusal", func() bool { return !nc.IsConnected() && AuthRefused(nc.LastError()) })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.awaitConnection(ctx, time.Now()); err != nil {
		t.Errorf("awaitConnection = %v, want a wait until ctx is done (the connection connected once)", err)
	}
}
