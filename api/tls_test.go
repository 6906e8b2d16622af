package api_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/internal/testenv"
)

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := api.TLSConfig(certFile, keyFile); err == nil {
		t.Fatal("TLSConfig without files: no error")
	}
	if _, err := api.TLSConfig(certFile, ""); err == nil {
		t.Fatal("TLSConfig without a key file: no error")
	}
	first := testenv.WriteCert(t, certFile, keyFile, "omen-1")
	cfg, err := api.TLSConfig(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	a, err := api.New(api.Options{Backend: apitest.Backend(), ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler(), TLSConfig: cfg, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	url := "https://" + ln.Addr().String() + "/api/v1/model"
	client := func(c *x509.Certificate) *http.Client {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
	}
	resp, err := client(first).Get(url)
	if err != nil {
		t.Fatalf("https with the first certificate: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("status %d, TLS %+v", resp.StatusCode, resp.TLS)
	}
	if _, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(url); err == nil {
		t.Error("a client that does not trust the certificate connected")
	}

	// Rotation: new files are picked up without a restart.
	time.Sleep(1100 * time.Millisecond) // the reloader stats the files at most once a second
	second := testenv.WriteCert(t, certFile, keyFile, "omen-2")
	now := time.Now().Add(time.Second)
	_ = os.Chtimes(certFile, now, now)
	_ = os.Chtimes(keyFile, now, now)
	resp, err = client(second).Get(url)
	if err != nil {
		t.Fatalf("https after rotation: %v", err)
	}
	resp.Body.Close()
	if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "omen-2" {
		t.Errorf("served %q after rotation, want omen-2", cn)
	}
}
