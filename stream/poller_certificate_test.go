package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"

	"github.com/omen-sre/omen/internal/httptransport"
	"github.com/omen-sre/omen/internal/testenv"
)

// untrustedServer starts a Prometheus-like HTTPS server whose certificate
// (for 127.0.0.1) a private CA issued, which is not one of the system's
// CAs, and returns it, the CA's certificate and the count of the TLS
// handshakes clients started with it.
func untrustedServer(t *testing.T) (*httptest.Server, *x509.Certificate, *atomic.Int64) {
	t.Helper()
	ca := testenv.NewCA(t, t.TempDir(), "omen-test-private-ca")
	srv, hellos := tlsServer(t, ca, "prometheus.test")
	return srv, ca.Cert, hellos
}

// tlsServer starts a Prometheus-like HTTPS server (each query's answer an
// empty vector) whose certificate for 127.0.0.1, named cn, ca issued, and
// returns it and the count of the TLS handshakes clients started with it.
func tlsServer(t *testing.T, ca *testenv.CA, cn string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	ca.Issue(t, certFile, keyFile, cn, true)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var hellos atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) { hellos.Add(1); return nil, nil }}
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the handshakes the poller refuses
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv, &hellos
}

// roundRobinProxy listens on a random port of 127.0.0.1 and forwards its
// i-th connection to backends[i % len(backends)] (host:port), as a TCP
// load balancer does (TLS passes through); it returns its address.
func roundRobinProxy(t *testing.T, backends ...string) string {
	return tcpProxy(t, func(i int) string { return backends[i%len(backends)] }, nil)
}

// tcpProxy listens on a random port of 127.0.0.1 and forwards its i-th
// connection to backend(i) (host:port): the server's bytes as they come,
// the client's through up (io.Copy when nil), which returns when the
// connection is to end (both sides are then closed). Connections are
// closed and its goroutines waited for at the test's cleanup. It returns
// its address.
func tcpProxy(t *testing.T, backend func(i int) string, up func(dst, src net.Conn)) string {
	t.Helper()
	if up == nil {
		up = func(dst, src net.Conn) { _, _ = io.Copy(dst, src) }
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	keep := func(cs ...net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, cs...)
		return !closed
	}
	wg.Go(func() {
		for i := 0; ; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend(i))
			if err != nil {
				_ = c.Close()
				continue
			}
			if !keep(c, b) {
				_, _ = c.Close(), b.Close()
				return
			}
			wg.Go(func() {
				defer func() { _, _ = c.Close(), b.Close() }()
				up(b, c)
			})
			wg.Go(func() {
				defer func() { _, _ = c.Close(), b.Close() }()
				_, _ = io.Copy(c, b)
			})
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// TestPollerCertificateNotRetried: a query to a server whose certificate
// does not verify (a private CA omen was not given) fails at once, not
// retried, with an error naming the certificate, and the poll's other
// queries fail unsent with it: the certificate is omen's or the server's
// configuration, as omen's client settings that do not read. It was
// retried MaxRetries times (3.5 s at the defaults) and then counted as
// the server failing; then each other query did its own failing
// handshake (40 queries: 40 handshakes a poll, each in the server's
// log): 3 handshakes for a poll of 3 queries, not 1.
func TestPollerCertificateNotRetried(t *testing.T) {
	verifyNoLeaks(t)
	srv, _, hellos := untrustedServer(t)
	reg := prometheus.NewRegistry()
	p, err := NewPoller(&MemAppender{}, PollerOptions{URL: srv.URL, Queries: map[string]string{"a": "up", "b": "vector(1)", "c": "vector(2)"},
		MaxRetries: 3, RetryBackoff: 50 * time.Millisecond}, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.closeIdleConnections)
	err = p.Eval(context.Background(), time.Now())
	if err == nil {
		t.Fatal("poll of a server whose certificate does not verify: no error")
	}
	for _, want := range []string{"certificate signed by unknown authority", `the server's certificate "CN=prometheus.test"`,
		`issued by "CN=omen-test-private-ca"`, "checked against the system's CAs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	for _, name := range []string{`"a"`, `"b"`, `"c"`} {
		if !strings.Contains(err.Error(), "query "+name) {
			t.Errorf("no error for query %s: %v", name, err)
		}
	}
	if n := strings.Count(err.Error(), "not sent, the server's certificate does not verify"); n != 2 {
		t.Errorf("%d queries not sent after the first's certificate error, want 2: %v", n, err)
	}
	if n := hellos.Load(); n != 1 {
		t.Errorf("%d TLS handshakes for a poll of 3 queries, want 1 (the first query's; the others fail unsent)", n)
	}
	if n := testutil.ToFloat64(p.queryCount.WithLabelValues("instant", "retry")); n != 0 {
		t.Errorf("%g retries", n)
	}
	if n := testutil.ToFloat64(p.queryCount.WithLabelValues("instant", "error")); n != 3 {
		t.Errorf("%g query errors, want 3", n)
	}
}

// switchTransport sends its first fail requests with untrusted (which
// does not trust the server's CA), moving the poller's clock 10 s on at
// each; then with trusted.
type switchTransport struct {
	untrusted, trusted *http.Transport
	fail               int64
	sent               atomic.Int64
	offset             *atomic.Int64
}

func (s *switchTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.sent.Add(1) <= s.fail {
		s.offset.Add(int64(10 * time.Second))
		return s.untrusted.RoundTrip(r)
	}
	return s.trusted.RoundTrip(r)
}

func (s *switchTransport) CloseIdleConnections() {
	s.untrusted.CloseIdleConnections()
	s.trusted.CloseIdleConnections()
}

// TestPollerCertificateLogThrottled: while the server's certificate does
// not verify, each poll's queries fail; that is logged once for the poll
// as it starts (not once per query), then at most once a minute (by the
// poller's clock) while it goes on, and at INFO once when a query is
// answered again (the CA given), as omen's client settings that do not
// read are (TestPollerClientSettingsLogThrottled). It made a WARN per
// query at its start, then debug records only, and an INFO per query.
func TestPollerCertificateLogThrottled(t *testing.T) {
	verifyNoLeaks(t)
	srv, ca, _ := untrustedServer(t)
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	var offset atomic.Int64
	const polls = 20 // of 3 queries, 30 s of the poller's clock each: 10 minutes
	sw := &switchTransport{untrusted: &http.Transport{},
		trusted: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}},
		fail:    3 * polls, offset: &offset}
	t.Cleanup(sw.CloseIdleConnections)
	checkThrottledLog(t, runThrottled(t, srv.URL, httptransport.Explain(sw, ""), &offset, "verifies again"), throttledLog{
		polls:    polls,
		first:    `msg="queries failed: the server's certificate does not verify (while it does not, logged again once a minute)"`,
		names:    "omen-test-private-ca",
		reminder: `still does not verify"`,
		info:     `msg="the server's certificate verifies again: queries answered"`,
	})
}

// TestPollerCertificateProbe: behind a load balancer whose replicas'
// certificates do not all verify (one replica's replaced by a CA omen
// does not trust, mid-rotation), a query whose connection reached the bad
// replica fails with its certificate error, and the poll's next query is
// sent as a probe, on another connection: it reaches a good replica and
// the poll goes on, when the certificate has verified before. Once the
// probe's certificate does not verify either (every replica bad), the
// queries after it fail unsent, and the next polls, the certificate not
// having verified since, send one query: one handshake a poll
// (TestPollerCertificateNotRetried). Since a certificate error stopped
// the poll's other queries unsent, a poll whose first connection reached
// the bad replica failed whole, where each query had dialled again.
func TestPollerCertificateProbe(t *testing.T) {
	verifyNoLeaks(t)
	dir := t.TempDir()
	ca, other := testenv.NewCA(t, dir, "omen-test-ca"), testenv.NewCA(t, dir, "omen-test-other-ca")
	for _, tc := range []struct {
		name string
		// bad[i]: the proxy's connection i (round robin) goes to the
		// replica whose certificate omen does not trust.
		bad []bool
		// Per poll after a first one that succeeds (each on new
		// connections): the queries that fail, the ones of them unsent,
		// and the bad replica's handshakes so far.
		polls []certPoll
	}{
		{
			name: "one replica of two bad",
			bad:  []bool{false, true},
			polls: []certPoll{
				{failed: []string{"a"}, hellos: 1},
				{failed: []string{"a"}, hellos: 2},
			},
		},
		{
			name: "every replica bad after the first connection",
			bad:  []bool{false, true, true, true, true, true},
			polls: []certPoll{
				{failed: []string{"a", "b", "c"}, unsent: []string{"c"}, hellos: 2},
				{failed: []string{"a", "b", "c"}, unsent: []string{"b", "c"}, hellos: 3},
				{failed: []string{"a", "b", "c"}, unsent: []string{"b", "c"}, hellos: 4},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good, _ := tlsServer(t, ca, "prometheus-0")
			bad, badHellos := tlsServer(t, other, "prometheus-1")
			var backends []string
			for _, b := range tc.bad {
				if b {
					backends = append(backends, bad.Listener.Addr().String())
				} else {
					backends = append(backends, good.Listener.Addr().String())
				}
			}
			lb := roundRobinProxy(t, backends...)
			rt, err := commoncfg.NewRoundTripperFromConfig(commoncfg.HTTPClientConfig{TLSConfig: commoncfg.TLSConfig{CAFile: ca.File}}, "test")
			if err != nil {
				t.Fatal(err)
			}
			p, err := NewPoller(&MemAppender{}, PollerOptions{URL: "https://" + lb, Queries: map[string]string{"a": "up", "b": "vector(1)", "c": "vector(2)"},
				MaxRetries: 3, RetryBackoff: 50 * time.Millisecond, RoundTripper: httptransport.Explain(rt, ca.File)}, prometheus.NewRegistry(), nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.closeIdleConnections)
			if err := p.Eval(context.Background(), time.Now()); err != nil {
				t.Fatalf("first poll, through the good replica: %v", err)
			}
			for i, want := range tc.polls {
				p.closeIdleConnections() // the poll's queries on new connections
				err := p.Eval(context.Background(), time.Now())
				if err == nil {
					t.Fatalf("poll %d: no error", i+2)
				}
				var got certPoll
				for _, name := range []string{"a", "b", "c"} {
					if strings.Contains(err.Error(), fmt.Sprintf("query %q at", name)) {
						got.failed = append(got.failed, name)
					}
					if unsentQuery(err.Error(), name) {
						got.unsent = append(got.unsent, name)
					}
				}
				got.hellos = badHellos.Load()
				if !slices.Equal(got.failed, want.failed) || !slices.Equal(got.unsent, want.unsent) || got.hellos != want.hellos {
					t.Errorf("poll %d: failed %q, unsent %q, %d handshakes with the bad replica; want %q, %q, %d:\n%v",
						i+2, got.failed, got.unsent, got.hellos, want.failed, want.unsent, want.hellos, err)
				}
				if !strings.Contains(err.Error(), `issued by "CN=omen-test-other-ca"`) {
					t.Errorf("poll %d: error does not name the bad certificate: %v", i+2, err)
				}
			}
		})
	}
}

// certPoll is a poll's outcome in TestPollerCertificateProbe.
type certPoll struct {
	failed, unsent []string
	hellos         int64
}

// unsentQuery reports whether Eval's error text errs says the query name
// was not sent for a certificate error.
func unsentQuery(errs, name string) bool {
	for l := range strings.Lines(errs) {
		if strings.HasPrefix(l, fmt.Sprintf("query %q at ", name)) && strings.Contains(l, ": not sent, the server's certificate does not verify") {
			return true
		}
	}
	return false
}
