package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClientHints: the commands that call a daemon (--url) say the remedy
// of the usual failures: an https daemon whose certificate's CA the
// system does not know names --ca-file (it said only "x509: certificate
// signed by unknown authority"), a wrong --ca-file says so, and a refused
// connection names --url and that the daemon must be running. With the
// right --ca-file the call succeeds.
func TestClientHints(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"success","data":[]}`))
	}))
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(dir, "other.pem")
	if err := os.WriteFile(otherCA, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)}), 0o600); err != nil {
		t.Fatal(err)
	}
	// A loopback port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	_ = ln.Close()

	for _, tc := range []struct {
		name string
		args []string
		rc   int
		want []string
	}{
		{"unknown CA", []string{"model", "list", "--url", srv.URL}, 1,
			[]string{"certificate signed by unknown authority", "(give --ca-file with the certificate of the daemon's CA)"}},
		{"unknown CA, explain", []string{"explain", "--url", srv.URL, "foo"}, 1,
			[]string{"certificate signed by unknown authority", "give --ca-file"}},
		{"wrong CA file", []string{"model", "list", "--url", srv.URL, "--ca-file", otherCA}, 1,
			[]string{"--ca-file " + otherCA + " does not hold the certificate of the CA"}},
		{"right CA file", []string{"model", "list", "--url", srv.URL, "--ca-file", ca}, 0, nil},
		{"refused, explain", []string{"explain", "--url", closed, "foo"}, 1,
			[]string{"connection refused", "is omen running", "--url gives its API address"}},
		{"refused, model list", []string{"model", "list", "--url", closed}, 1,
			[]string{"connection refused", "is omen running", "--url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			rc := dispatch(tc.args, &out, &errb)
			if rc != tc.rc {
				t.Errorf("exit %d, want %d; stderr:\n%s", rc, tc.rc, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}

// selfSigned returns a new self-signed CA certificate (DER) for
// 127.0.0.1.
func selfSigned(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestClientHintHostname: a daemon certificate that does not name --url's
// host says to give a host name it names.
func TestClientHintHostname(t *testing.T) {
	cert, err := x509.ParseCertificate(selfSigned(t))
	if err != nil {
		t.Fatal(err)
	}
	err = hintTransport{}.hint(&url.Error{Op: "Get", URL: "https://omen.example:9464", Err: x509.HostnameError{Certificate: cert, Host: "omen.example"}}, "omen.example:9464")
	if !strings.Contains(err.Error(), "give --url a host name the daemon's certificate names") {
		t.Errorf("hint of a certificate for another host: %v", err)
	}
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Errorf("the hint hides the error: %#v", err)
	}
}

// TestClientCAFileKeepsTransportDefaults: --ca-file changes only the CAs
// of the client's transport: it keeps the standard transport's proxy
// from the environment and its dial and handshake timeouts (a bare
// http.Transport had none, so a --url behind HTTPS_PROXY was dialled
// directly).
func TestClientCAFileKeepsTransportDefaults(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: selfSigned(t)}), 0o600); err != nil {
		t.Fatal(err)
	}
	url, token, caFile := "https://127.0.0.1:1", "", ca
	cl, err := (&clientFlags{url: &url, tokenFile: &token, caFile: &caFile}).client()
	if err != nil {
		t.Fatal(err)
	}
	ht, ok := cl.HTTPClient.Transport.(hintTransport)
	if !ok {
		t.Fatalf("transport %T, want hintTransport", cl.HTTPClient.Transport)
	}
	tr, ok := ht.base.(*http.Transport)
	if !ok {
		t.Fatalf("base transport %T, want *http.Transport", ht.base)
	}
	if tr.Proxy == nil || tr.TLSHandshakeTimeout == 0 || tr.DialContext == nil || !tr.ForceAttemptHTTP2 {
		t.Errorf("transport with --ca-file: proxy set %v, TLS handshake timeout %v, dialer set %v, HTTP/2 %v; want the standard transport's",
			tr.Proxy != nil, tr.TLSHandshakeTimeout, tr.DialContext != nil, tr.ForceAttemptHTTP2)
	}
	if tr.TLSClientConfig == nil || tr.TLSClientConfig.RootCAs == nil {
		t.Error("transport with --ca-file has no CA pool")
	}
}
