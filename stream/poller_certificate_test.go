package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/internal/httptransport"
	"github.com/omen-sre/omen/internal/testenv"
)

// untrustedServer starts a Prometheus-like HTTPS server whose certificate
// (for 127.0.0.1) a private CA issued, which is not one of the system's
// CAs, and returns it, the CA's certificate and the count of the TLS
// handshakes clients started with it.
func untrustedServer(t *testing.T) (*httptest.Server, *x509.Certificate, *atomic.Int64) {
	t.Helper()
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "omen-test-private-ca")
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	ca.Issue(t, certFile, keyFile, "prometheus.test", true)
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
	return srv, ca.Cert, &hellos
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
