package httptransport

import (
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestExplainCertificate: Explain's wording of a TLS failure, through a
// real handshake with a server on 127.0.0.1. A certificate of an unknown
// authority says what it was checked against; one for another host's
// name or expired does not (it said "checked against the system's CAs"
// for them too, which suggested a CA was missing), an expired one says
// when it expired. IsCertificate holds for these three and not for a
// failure of the handshake that is no server certificate not verifying.
func TestExplainCertificate(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "omen-test-ca")
	other := testenv.NewCA(t, dir, "omen-test-other-ca")
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	pair := func(name string, expired bool) tls.Certificate {
		certFile, keyFile := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
		if expired {
			ca.IssueExpired(t, certFile, keyFile, name)
		} else {
			ca.Issue(t, certFile, keyFile, name, true)
		}
		p, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	valid, expired := pair("omen-test-server", false), pair("omen-test-expired", true)
	otherPool := x509.NewCertPool()
	otherPool.AddCert(other.Cert)
	expiredAt := func() string {
		c, err := x509.ParseCertificate(expired.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		return "expired at " + c.NotAfter.UTC().Format(time.RFC3339)
	}()

	for _, tc := range []struct {
		name   string
		server *tls.Config // nil: plain HTTP
		client *tls.Config // nil: Prometheus()'s transport (the system's CAs)
		caFile string
		cert   bool
		want   []string // in the error
		not    []string // not in the error
	}{
		{name: "unknown authority, the system's CAs", server: &tls.Config{Certificates: []tls.Certificate{valid}},
			cert: true, want: []string{"x509: certificate signed by unknown authority", `the server's certificate "CN=omen-test-server"`,
				`issued by "CN=omen-test-ca"`, "checked against the system's CAs"}},
		{name: "unknown authority, a ca_file", server: &tls.Config{Certificates: []tls.Certificate{valid}},
			client: &tls.Config{RootCAs: otherPool}, caFile: other.File,
			cert: true, want: []string{"unknown authority", `issued by "CN=omen-test-ca"`, "checked against the CAs of tls_config.ca_file " + `"` + other.File + `"`}},
		{name: "another host's name", server: &tls.Config{Certificates: []tls.Certificate{valid}},
			client: &tls.Config{RootCAs: pool, ServerName: "other.example"}, caFile: ca.File,
			cert: true, want: []string{"wanted to match other.example", `the server's certificate "CN=omen-test-server"`}, not: []string{"checked against", "expired at"}},
		{name: "expired", server: &tls.Config{Certificates: []tls.Certificate{expired}},
			client: &tls.Config{RootCAs: pool}, caFile: ca.File,
			cert: true, want: []string{"certificate has expired", `the server's certificate "CN=omen-test-expired"`, expiredAt}, not: []string{"checked against"}},
		{name: "client certificate required", server: &tls.Config{Certificates: []tls.Certificate{valid}, ClientAuth: tls.RequireAnyClientCert},
			client: &tls.Config{RootCAs: pool}, caFile: ca.File,
			want: []string{"certificate required"}, not: []string{"the server's certificate", "checked against"}},
		{name: "protocol version", server: &tls.Config{Certificates: []tls.Certificate{valid}, MinVersion: tls.VersionTLS13},
			client: &tls.Config{RootCAs: pool, MaxVersion: tls.VersionTLS12}, caFile: ca.File,
			want: []string{"protocol version not supported"}, not: []string{"the server's certificate", "checked against"}},
		{name: "HTTP server", client: &tls.Config{RootCAs: pool}, caFile: ca.File,
			want: []string{"server gave HTTP response to HTTPS client"}, not: []string{"the server's certificate", "checked against"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the handshakes refused
			if tc.server != nil {
				srv.TLS = tc.server
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close)
			rt := Prometheus()
			if tc.client != nil {
				rt = &http.Transport{TLSClientConfig: tc.client}
			}
			rt = Explain(rt, tc.caFile)
			t.Cleanup(rt.(interface{ CloseIdleConnections() }).CloseIdleConnections)
			// A client: "server gave HTTP response to HTTPS client" is
			// http.Client's wording of the transport's error.
			resp, err := (&http.Client{Transport: rt}).Get("https://" + srv.Listener.Addr().String() + "/")
			if err == nil {
				_ = resp.Body.Close()
				t.Fatal("request succeeded, want an error")
			}
			if got := IsCertificate(err); got != tc.cert {
				t.Errorf("IsCertificate(%q) = %v, want %v", err, got, tc.cert)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q, want %q in it", err, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error %q, want no %q in it", err, n)
				}
			}
		})
	}
}
