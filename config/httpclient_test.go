package config

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestHTTPClientConfigLoadErrors: the prometheus and alertmanager
// entries' tls_config, basic_auth and authorization keys given together
// when they must not be, or alone when they need a pair, are errors at
// their line naming the key; no password is shown.
func TestHTTPClientConfigLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name, entry string
		alerting    bool
		want        string
	}{
		{"cert without key", "url: https://p:9090\n    tls_config: {cert_file: /c.pem}", false,
			"prometheus[0].tls_config.cert_file is set without tls_config.key_file"},
		{"key without cert", "url: https://p:9090\n    tls_config: {key_file: /k.pem}", false,
			"prometheus[0].tls_config.key_file is set without tls_config.cert_file"},
		{"password and password_file", "url: https://p:9090\n    basic_auth: {username: omen, password: s3cret-pw, password_file: /pw}", false,
			"prometheus[0].basic_auth has both password and password_file"},
		{"no username", "url: https://p:9090\n    basic_auth: {password_file: /pw}", false,
			"prometheus[0].basic_auth.username is empty"},
		{"basic_auth and authorization", "url: https://p:9090\n    basic_auth: {username: omen, password_file: /pw}\n    authorization: {credentials_file: /t}", false,
			"prometheus[0].basic_auth and authorization are both set"},
		{"authorization without credentials", "url: https://p:9090\n    authorization: {type: Bearer}", false,
			"prometheus[0].authorization needs credentials_file (or credentials)"},
		{"credentials and credentials_file", "url: https://p:9090\n    authorization: {credentials: s3cret-pw, credentials_file: /t}", false,
			"prometheus[0].authorization has both credentials and credentials_file"},
		{"authorization type Basic", "url: https://p:9090\n    authorization: {type: Basic, credentials_file: /t}", false,
			`prometheus[0].authorization.type "Basic": use basic_auth`},
		{"tls_config on http", "url: http://p:9090\n    tls_config: {ca_file: /ca.pem}", false,
			"prometheus[0].tls_config is set but the url is http://"},
		{"credentials in the URL too", "url: https://omen:s3cret-pw@p:9090\n    basic_auth: {username: omen, password_file: /pw}", false,
			"prometheus[0].url holds user information"},
		{"unknown key", "url: https://p:9090\n    tls_config: {ca_fil: /ca.pem}", false,
			`unknown key "ca_fil" in prometheus[0].tls_config (did you mean "ca_file"?)`},
		{"alertmanager password and password_file", "url: https://am:9093\n      basic_auth: {username: omen, password: s3cret-pw, password_file: /pw}", true,
			"alerting.alertmanagers[0].basic_auth has both password and password_file"},
		{"alertmanager cert without key", "url: https://am:9093\n      tls_config: {cert_file: /c.pem}", true,
			"alerting.alertmanagers[0].tls_config.cert_file is set without tls_config.key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := "prometheus:\n  - " + tc.entry + "\n"
			if tc.alerting {
				yml = "alerting:\n  alertmanagers:\n    - " + tc.entry + "\n"
			}
			_, err := Load("omen.yml", []byte(yml))
			if err == nil {
				t.Fatalf("loaded:\n%s", yml)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || !strings.HasPrefix(msg, "omen.yml:") || strings.HasPrefix(msg, "omen.yml: ") {
				t.Errorf("error %q, want %q at a line", msg, tc.want)
			}
			if strings.Contains(msg, "s3cret-pw") {
				t.Errorf("error shows the password: %s", msg)
			}
		})
	}
}

// TestHTTPClientConfigFiles: a file of tls_config, basic_auth or
// authorization that does not read or parse is an error of CheckFiles
// naming the key and the file, without the file's content; Load does not
// read them (omen check config runs where the files may not be).
func TestHTTPClientConfigFiles(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	ca.Issue(t, cert, key, "client", false)
	otherKey := filepath.Join(dir, "other-key.pem")
	ca.Issue(t, filepath.Join(dir, "other.pem"), otherKey, "other", false)
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("s3cret-content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	for _, tc := range []struct {
		name string
		h    HTTPClientConfig
		want string // "": no error
	}{
		{"all there", HTTPClientConfig{TLSConfig: TLSConfig{CAFile: ca.File, CertFile: cert, KeyFile: key},
			BasicAuth: BasicAuth{Username: "omen", PasswordFile: notPEM}}, ""},
		{"missing ca_file", HTTPClientConfig{TLSConfig: TLSConfig{CAFile: missing}},
			fmt.Sprintf("prometheus[0].tls_config.ca_file %q: no such file or directory", missing)},
		{"ca_file not PEM", HTTPClientConfig{TLSConfig: TLSConfig{CAFile: notPEM}},
			fmt.Sprintf("prometheus[0].tls_config.ca_file %q holds no PEM certificate", notPEM)},
		{"missing cert_file", HTTPClientConfig{TLSConfig: TLSConfig{CertFile: missing, KeyFile: key}},
			fmt.Sprintf("prometheus[0].tls_config.cert_file %q: no such file or directory", missing)},
		{"key of another certificate", HTTPClientConfig{TLSConfig: TLSConfig{CertFile: cert, KeyFile: otherKey}},
			fmt.Sprintf("prometheus[0].tls_config.cert_file %q and key_file %q are no certificate and key pair", cert, otherKey)},
		{"missing password_file", HTTPClientConfig{BasicAuth: BasicAuth{Username: "omen", PasswordFile: missing}},
			fmt.Sprintf("prometheus[0].basic_auth.password_file %q: no such file or directory", missing)},
		{"missing credentials_file", HTTPClientConfig{Authorization: Authorization{CredentialsFile: missing}},
			fmt.Sprintf("prometheus[0].authorization.credentials_file %q: no such file or directory", missing)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.h.CheckFiles("prometheus[0]")
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("CheckFiles: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("CheckFiles: %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cret-content"):
				t.Fatalf("CheckFiles shows a file's content: %v", err)
			}
			yml := fmt.Sprintf("prometheus:\n  - url: https://p:9090\n    tls_config: {ca_file: %q, cert_file: %q, key_file: %q}\n    basic_auth: {username: omen, password_file: %q}\n",
				tc.h.TLSConfig.CAFile, tc.h.TLSConfig.CertFile, tc.h.TLSConfig.KeyFile, tc.h.BasicAuth.PasswordFile)
			if tc.h.TLSConfig.CertFile == "" {
				yml = fmt.Sprintf("prometheus:\n  - url: https://p:9090\n    tls_config: {ca_file: %q}\n", tc.h.TLSConfig.CAFile)
			}
			if tc.h.TLSConfig.CAFile == "" && tc.h.TLSConfig.CertFile == "" {
				yml = "prometheus:\n  - url: https://p:9090\n"
			}
			if _, err := Load("omen.yml", []byte(yml)); err != nil {
				t.Errorf("Load reads the files: %v", err)
			}
		})
	}
}

// TestSecretNotPrinted: an inline password or token prints as xxxxx,
// with the configuration printed whole (%v, %+v, %#v).
func TestSecretNotPrinted(t *testing.T) {
	p := PollerConfig{URL: "https://p:9090", HTTPClientConfig: HTTPClientConfig{
		BasicAuth:     BasicAuth{Username: "omen", Password: "s3cret-pw"},
		Authorization: Authorization{Credentials: "t0ken-value"},
	}}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, p)
		if strings.Contains(out, "s3cret-pw") || strings.Contains(out, "t0ken-value") || !strings.Contains(out, "xxxxx") {
			t.Errorf("%s: %s", verb, out)
		}
	}
}

// TestLoadHTTPClientConfigFile: a file of Prometheus's HTTP client
// configuration is read into an HTTPClientConfig, its relative paths
// resolved against the file's directory (as promtool does), absolute
// ones kept; the URL's checks apply (tls_config on http://).
func TestLoadHTTPClientConfigFile(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	ca.Issue(t, filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem"), "client", false)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "http.yml")
	yml := fmt.Sprintf("tls_config: {ca_file: ca.pem, cert_file: ./client.pem, key_file: client-key.pem, server_name: prom}\nbasic_auth: {username: omen, password_file: %s}\n", pw)
	if err := os.WriteFile(f, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := LoadHTTPClientConfigFile(f, "https://p:9090")
	if err != nil {
		t.Fatal(err)
	}
	want := HTTPClientConfig{
		TLSConfig: TLSConfig{CAFile: ca.File, CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem"), ServerName: "prom"},
		BasicAuth: BasicAuth{Username: "omen", PasswordFile: pw},
	}
	if h != want {
		t.Errorf("LoadHTTPClientConfigFile = %+v, want %+v", h, want)
	}
	_, err = LoadHTTPClientConfigFile(f, "http://p:9090")
	if want := f + ":1:13: tls_config is set but the url is http://"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("with an http URL: %v, want %q…", err, want)
	}
}

// TestPlainRoundTripperAsksForGzip: the transport of zero client
// settings (a prometheus entry without tls_config, basic_auth or
// authorization) asks for gzip-compressed answers, as client_golang's
// default transport does; the library's transport of zero settings
// disabled compression, so a large query answer came uncompressed.
func TestPlainRoundTripperAsksForGzip(t *testing.T) {
	testenv.VerifyNoLeaks(t)
	encodings := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encodings <- r.Header.Get("Accept-Encoding")
	}))
	t.Cleanup(srv.Close)
	rt, err := HTTPClientConfig{}.RoundTripper("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.(interface{ CloseIdleConnections() }).CloseIdleConnections)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if got := <-encodings; got != "gzip" {
		t.Errorf("Accept-Encoding %q; want gzip", got)
	}
}
