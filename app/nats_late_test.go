package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/goleak"

	"github.com/omen-sre/omen/internal/testenv"
)

// lateNATSDelay is how long after omen's start the late NATS server
// starts: longer than a JetStream request's default timeout (5s).
const lateNATSDelay = 7 * time.Second

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestExternalNATSLate: omen run with an external NATS server that is down
// at its start (Debian's nats-server 2.9, started 7s later) starts and
// serves: /-/healthy and /-/ready answer 200, remote-write (which goes to
// the store, not through NATS) is stored, the daemon does not stop, the
// log says once that NATS is unreachable; once the server is up, omen
// creates the stream and ingests what is published to omen.metrics.influx.
// Start failed with "connect to NATS …: nats: no servers available for
// connection" (exit 1, a crash loop under Kubernetes or systemd).
func TestExternalNATSLate(t *testing.T) {
	port := testenv.StablePort(t)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = url, ""
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	})
	base := "http://" + a.Addr()
	for _, p := range []string{"/-/healthy", "/-/ready"} {
		if code := httpStatus(t, base+p); code != http.StatusOK {
			t.Errorf("GET %s while NATS is down: %d, want 200", p, code)
		}
	}
	if code, body := postRemoteWrite(t, a, rwRequest(t, 2, 3, 1)); code != http.StatusNoContent {
		t.Fatalf("remote-write while NATS is down: %d %s, want 204", code, body)
	}
	if n, _ := countBatches(t, a.Store()); n != 1 {
		t.Fatalf("batches stored from remote-write while NATS is down: %d, want 1", n)
	}
	select {
	case <-a.Done():
		t.Fatalf("omen stopped while NATS was down: %v", a.Err())
	case <-time.After(lateNATSDelay):
	}
	if code := httpStatus(t, base+"/-/ready"); code != http.StatusOK {
		t.Errorf("GET /-/ready after %v without NATS: %d, want 200", lateNATSDelay, code)
	}
	if n := strings.Count(logs.String(), "NATS server unreachable"); n != 1 {
		t.Errorf("%d WARNs that NATS is unreachable, want 1:\n%s", n, logs.String())
	}

	// nats-server takes the last -p: the port omen keeps trying.
	testenv.NATSServer(t, "-p", strconv.Itoa(port))
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "omen to create the stream on the late server", 30*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := js.Consumer(ctx, "OMEN", "omen")
		return err == nil
	})
	start := time.Now().Add(-time.Minute).Truncate(5 * time.Second)
	publish(t, url, "omen.metrics.influx", podLines(0, start, 2), podLines(1, start.Add(5*time.Second), 2))
	waitFor(t, "the messages published to the late server", 20*time.Second, func() bool {
		n, _ := countBatches(t, a.Store())
		return n == 3
	})
	if out := logs.String(); !strings.Contains(out, "NATS connected") || !strings.Contains(out, "NATS reached: jetstream stream and consumer set up") {
		t.Errorf("no INFO that NATS was connected and the stream set up:\n%s", out)
	}
	select {
	case <-a.Done():
		t.Fatalf("omen stopped: %v", a.Err())
	default:
	}
}

// TestExternalNATSStopWhileWaiting: Stop while omen still waits for an
// external NATS server that never answers returns within seconds and
// leaves no goroutine behind (the background connect and the consumer's
// wait end).
func TestExternalNATSStopWhileWaiting(t *testing.T) {
	before := goleak.IgnoreCurrent()
	a, err := New(Options{Config: testConfig(t), StoragePath: t.TempDir(), ListenAddress: "127.0.0.1:0",
		NATSURL: fmt.Sprintf("nats://127.0.0.1:%d", testenv.StablePort(t)), ShutdownTimeout: 20 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatalf("start with NATS down: %v", err)
	}
	time.Sleep(time.Second)
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("stop: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return within 10s while omen waited for NATS")
	}
	if err := a.Err(); err != nil {
		t.Errorf("Err after Stop = %v, want nil", err)
	}
	goleak.VerifyNone(t, append(leakIgnores(), before)...)
}

// closingListener accepts connections on a loopback port and closes
// each at once, as a proxy or load balancer without a backend does, until
// the test ends; it returns the address.
func closingListener(t *testing.T) string {
	t.Helper()
	return listener(t, func(c net.Conn) { _ = c.Close() })
}

// listener accepts connections on a loopback port until the test ends,
// handing each to accepted, and returns its address; connections still
// open then are closed.
func listener(t *testing.T, accepted func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			accepted(c)
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return ln.Addr().String()
}

// TestExternalNATSBehindEmptyProxy: a NATS URL whose connections are
// closed before the server says anything (a proxy or load balancer with
// no NATS behind it yet) counts as unreachable: omen starts and answers
// /-/ready. Start failed with "EOF".
func TestExternalNATSBehindEmptyProxy(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = "nats://"+closingListener(t), ""
		o.Logger = slog.New(slog.NewTextHandler(logs, nil))
	})
	if code := httpStatus(t, "http://"+a.Addr()+"/-/ready"); code != http.StatusOK {
		t.Errorf("GET /-/ready: %d, want 200", code)
	}
	if !strings.Contains(logs.String(), "NATS server unreachable") {
		t.Errorf("no WARN that NATS is unreachable:\n%s", logs.String())
	}
}

// silentListener accepts connections on a loopback port and holds them
// without a word, as a server expecting a TLS handshake first does, until
// the test ends; it returns the address.
func silentListener(t *testing.T) string {
	t.Helper()
	return listener(t, func(net.Conn) {})
}

// TestExternalNATSStartErrors: only an unreachable server is waited for. A
// URL that does not parse (without quoting its password: the NATS
// client's error quoted the URL, and a password split at a comma showed
// in part as a bad port), with a scheme the NATS client does not speak
// (it dialled any, and a server that never answers would now be waited
// for), a bad port or no URL at all fails New, before anything is opened:
// the storage directory is not made (the URL was checked at the connect,
// after the store had opened). Credentials the server refuses, a TLS URL
// for a server without TLS, and a server that accepts the connection but
// says nothing (it may expect a TLS handshake first) stay start errors.
// All are exit 1, naming the URL without its password.
func TestExternalNATSStartErrors(t *testing.T) {
	srv := testenv.NATSServer(t, "--user", "omen", "--pass", "s3cret")
	hostPort := strings.TrimPrefix(srv, "nats://")
	for _, tc := range []struct {
		name, url, want string
		atNew           bool // New's error (the URL's text), not Start's
	}{
		{"unparseable", "nats://omen:s3cret@[::1", "does not parse", true},
		{"comma in the password", "nats://omen:s3cret,x@" + hostPort, "URL 1 of the list: does not parse", true},
		{"scheme", "http://omen:s3cret@" + hostPort, `scheme "http", want one of nats, tls, ws, wss`, true},
		{"port", "nats://omen:s3cret@127.0.0.1:99999", `port "99999", want 1-65535`, true},
		{"empty list", " , ", "no server URL", true},
		{"bad password", "nats://omen:wr0ng@" + hostPort, "Authorization Violation", false},
		{"no credentials", srv, "Authorization Violation", false},
		{"tls to a plain server", "tls://omen:s3cret@" + hostPort, "secure connection not available", false},
		// A server that says nothing may want a TLS handshake first.
		{"silent server", "nats://" + silentListener(t), "i/o timeout", false},
		// Mistyped nats:// URLs: the client read them as the host
		// "nats:127.0.0.1" (too many colons) or "nats" (a name that
		// does not resolve), retried for ever.
		{"scheme without slashes", "nats:omen:s3cret@" + hostPort, `starts with "nats" but has no "://"`, true},
		{"scheme with one slash", "nats:/omen:s3cret@" + hostPort, `starts with "nats" but has no "://"`, true},
		{"scheme without colon", "nats//omen:s3cret@" + hostPort, `starts with "nats" but has no "://"`, true},
		{"scheme without slashes, no credentials", "nats:" + hostPort, `starts with "nats" but has no "://"`, true},
		{"colon in the host", "omen:s3cret@" + hostPort + ":5", "a host with a colon", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "data")
			a, err := New(Options{Config: testConfig(t), StoragePath: storage, ListenAddress: "127.0.0.1:0",
				NATSURL: tc.url, ShutdownTimeout: 5 * time.Second, Logger: slog.New(slog.DiscardHandler)})
			switch {
			case tc.atNew && err == nil:
				t.Fatal("New succeeded")
			case !tc.atNew && err != nil:
				t.Fatal(err)
			case !tc.atNew:
				if err = a.Start(context.Background()); err == nil {
					_ = a.Stop(context.Background())
					t.Fatal("start succeeded")
				}
			}
			if msg := err.Error(); !strings.Contains(strings.ToLower(msg), strings.ToLower(tc.want)) || strings.Contains(msg, "s3cret") || strings.Contains(msg, "wr0ng") {
				t.Errorf("error %q, want one with %q and no password", msg, tc.want)
			}
			if errors.Is(err, nats.ErrNoServers) {
				t.Errorf("error %q wraps nats.ErrNoServers: omen run's hint would say the server is unreachable", err)
			}
			if _, serr := os.Stat(storage); tc.atNew && !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("storage path after New refused the URL: %v, want it not made", serr)
			}
		})
	}
}

// TestCheckNATSURLAccepts: what checkNATSURL refuses as a mistyped scheme
// or a host with a colon leaves alone a host named like a scheme with a
// port, an IPv6 address in brackets, ws:// with a path and a list.
func TestCheckNATSURLAccepts(t *testing.T) {
	for _, url := range []string{
		"nats:4222", "tls:4222", "nats", "natsbox:4222", "[::1]:4222", "nats://nats:4222",
		"nats://[::1]:4222", "ws://h:8080/nats", "nats://a:4222, nats://b:4222", "NATS://h:4222",
	} {
		if err := checkNATSURL(url); err != nil {
			t.Errorf("checkNATSURL(%q) = %v, want nil", url, err)
		}
	}
}

// TestNATSUnreachable: a dial refused for the address itself (too many
// colons) is not an unreachable server, which connectNATS would retry for
// ever; a refused or unresolved dial is, and so is a TLS handshake that
// timed out (omen run refused to start).
func TestNATSUnreachable(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"too many colons", &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "too many colons in address", Addr: "nats:127.0.0.1:4222"}}, false},
		{"missing port", &net.OpError{Op: "dial", Net: "tcp", Err: &net.AddrError{Err: "missing port in address", Addr: "h"}}, false},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, true},
		{"no such host", &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "nats", IsNotFound: true}}, true},
		{"no servers", nats.ErrNoServers, true},
		{"secure connection", nats.ErrSecureConnWanted, false},
		// nats.go's error when the server closes the connection after
		// the TLS handshake: it refused the client certificate.
		{"closed after the TLS handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, io.EOF), false},
		{"reset after the TLS handshake", fmt.Errorf("%w: connection closed by remote after TLS handshake: %w", nats.ErrTLS, syscall.ECONNRESET), false},
		// A server that sends an INFO with tls_required and never
		// answers the ClientHello (a loaded one): the handshake timed
		// out, which a start waits on as a late server does.
		{"TLS handshake never answered", stalledTLSError(t), true},
	} {
		if got := natsUnreachable(tc.err); got != tc.want {
			t.Errorf("%s: natsUnreachable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// stalledTLSError is nats.go's error connecting, as omen does (the
// default 2s timeout), to a server that sends an INFO with tls_required
// and never answers the ClientHello.
func stalledTLSError(t *testing.T) error {
	t.Helper()
	nc, err := nats.Connect(testenv.NATSStalledTLS(t), nats.MaxReconnects(0))
	if err == nil {
		nc.Close()
		t.Fatal("connect to a server that never answers the TLS handshake: no error")
	}
	return err
}

// TestExternalNATSLateServerRefusesTLS: omen run with a tls:// URL for a
// server that is down at the start and, once up (7s later), has no TLS
// stops with the client's error (secure connection not available), as a
// start with the server up fails. It waited for ever, without a log line:
// nats.go retries such a server calling no handler.
func TestExternalNATSLateServerRefusesTLS(t *testing.T) {
	port := testenv.StablePort(t)
	a := startApp(t, t.TempDir(), func(o *Options) {
		o.NATSURL, o.NATSListenAddress = fmt.Sprintf("tls://127.0.0.1:%d", port), ""
	})
	select {
	case <-a.Done():
		t.Fatalf("omen stopped before the server started: %v", a.Err())
	case <-time.After(time.Second):
	}
	// nats-server takes the last -p: the port omen keeps trying.
	testenv.NATSServer(t, "-p", strconv.Itoa(port))
	select {
	case <-a.Done():
		if err := a.Err(); err == nil || !strings.Contains(err.Error(), "secure connection not available") {
			t.Errorf("omen stopped with %v, want the server's refusal of TLS", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("omen still runs 20s after a server without TLS answered its tls:// URL")
	}
}
