package app

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestAlertLinksTLS: without alerting.external_url, an HTTPS server's
// alert links (generatorURL, explanation_url, runbook_url) use https. They
// were http://, which the HTTPS server answers 400 (docs-walkthrough
// reviewer). A runbook link built from the external URL is served.
func TestAlertLinksTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	cert := testenv.WriteCert(t, certFile, keyFile, "omen")
	for _, tc := range []struct {
		name   string
		tls    bool
		scheme string
	}{
		{"plain", false, "http://"},
		{"tls", true, "https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, filepath.Join(t.TempDir(), "data"), func(o *Options) {
				o.ListenAddress = "127.0.0.1:0"
				if tc.tls {
					o.TLSCertFile, o.TLSKeyFile = certFile, keyFile
				}
			})
			ext := a.alerts.m.ExternalURL()
			if want := tc.scheme + a.Addr(); ext != want {
				t.Fatalf("external URL %q, want %q", ext, want)
			}
			pool := x509.NewCertPool()
			pool.AddCert(cert)
			c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
				DisableKeepAlives: true, TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			}}
			resp, err := c.Get(ext + "/docs/runbooks/module-load-failure")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET runbook link under %s: %d", ext, resp.StatusCode)
			}
		})
	}
}
