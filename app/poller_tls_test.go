package app

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestPollerUntrustedCAWithoutSettings: a prometheus entry without
// tls_config, basic_auth or authorization whose server's certificate a
// private CA issued (not one of the system's) fails its queries with an
// error naming the server's certificate, its issuer and what it was
// checked against, as an entry with tls_config does; it gave the bare
// "x509: certificate signed by unknown authority". No request reaches the
// server.
func TestPollerUntrustedCAWithoutSettings(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "omen-test-private-ca")
	certFile, keyFile := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
	ca.Issue(t, certFile, keyFile, serverCN, true)
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var handled atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		handled.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the handshakes omen refuses
	srv.StartTLS()
	t.Cleanup(srv.Close)

	src := pollerSources(t, config.PollerConfig{URL: srv.URL, Name: "private-ca"})
	t.Cleanup(src.nc.Close)
	err = src.pollers[0].Eval(context.Background(), time.Now())
	if err == nil {
		t.Fatal("poll of a server whose CA is not trusted: no error")
	}
	t.Logf("poll: %v", err)
	for _, want := range []string{"certificate signed by unknown authority", "the server's certificate", serverCN,
		"issued by", "omen-test-private-ca", "checked against the system's CAs"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if n := handled.Load(); n != 0 {
		t.Errorf("%d requests handled", n)
	}
}

// TestPollerPlainEntryAsksForGzip: a prometheus entry without client
// settings asks for gzip-compressed answers, as the poller's default
// transport did; the one of the library's zero settings disabled
// compression (config.HTTPClientConfig.RoundTripper).
func TestPollerPlainEntryAsksForGzip(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	var encodings sync.Map // Accept-Encoding seen
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings.Store(r.Header.Get("Accept-Encoding"), true)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"success","data":{"resultType":"vector","result":[]}}`)
	}))
	t.Cleanup(srv.Close)
	src := pollerSources(t, config.PollerConfig{URL: srv.URL, Name: "plain"})
	t.Cleanup(src.nc.Close)
	if err := src.pollers[0].Eval(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	var got []string
	encodings.Range(func(k, _ any) bool { got = append(got, k.(string)); return true })
	if len(got) != 1 || got[0] != "gzip" {
		t.Errorf("Accept-Encoding of the poller's requests: %q; want gzip", got)
	}
}

// pollerSources is the daemon's sources for the test config with the one
// prometheus entry e (and an embedded NATS server), not started.
func pollerSources(t *testing.T, e config.PollerConfig) *sources {
	t.Helper()
	cfg := testConfig(t)
	cfg.Prometheus = []config.PollerConfig{e}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	src, err := newSources(sourceOptions{Config: cfg, NATSURL: startEmbeddedNATS(t), Appender: &sampleRecorder{},
		Registerer: prometheus.NewRegistry(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return src
}
