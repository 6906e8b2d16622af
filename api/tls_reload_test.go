package api_test

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestTLSReloadFailureReported: a certificate written that does not match
// the key kept the previous pair without a word. Now the previous pair is
// still served, and the failure is logged as a warning and counted once
// per change of the files (not at every handshake); a good pair written
// afterwards is served.
func TestTLSReloadFailureReported(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.WriteCert(t, certFile, keyFile, "omen-1")
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	cfg, err := api.NewTLSConfig(api.TLSOptions{CertFile: certFile, KeyFile: keyFile,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	touch := func(files ...string) {
		t.Helper()
		now := time.Now().Add(time.Second)
		for _, f := range files {
			if err := os.Chtimes(f, now, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	served := func() string {
		t.Helper()
		c, err := cfg.GetCertificate(&tls.ClientHelloInfo{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.Subject.CommonName
	}
	if cn := served(); cn != "omen-1" {
		t.Fatalf("served %q, want omen-1", cn)
	}

	// A certificate of another key: the key file is unchanged.
	testenv.WriteCert(t, certFile, filepath.Join(dir, "other-key.pem"), "omen-bad")
	touch(certFile)
	for range 3 { // three handshakes over more than two seconds: one report
		time.Sleep(1100 * time.Millisecond) // the reloader stats the files at most once a second
		if cn := served(); cn != "omen-1" {
			t.Fatalf("served %q after a bad certificate, want the previous omen-1", cn)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "TLS certificate changed but does not load") {
		t.Errorf("logs:\n%s", logs.String())
	}
	want := "# HELP omen_web_tls_reload_failures_total Changes of the TLS certificate or key file that failed to load (the previous pair is served), once per change.\n# TYPE omen_web_tls_reload_failures_total counter\nomen_web_tls_reload_failures_total 1\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "omen_web_tls_reload_failures_total"); err != nil {
		t.Error(err)
	}

	// A good pair afterwards is served.
	testenv.WriteCert(t, certFile, keyFile, "omen-2")
	touch(certFile, keyFile)
	time.Sleep(1100 * time.Millisecond)
	if cn := served(); cn != "omen-2" {
		t.Fatalf("served %q after a good pair, want omen-2", cn)
	}
}
