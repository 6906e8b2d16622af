package config

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	commoncfg "github.com/prometheus/common/config"
	"gopkg.in/yaml.v3"

	"github.com/omen-sre/omen/internal/httptransport"
	"github.com/omen-sre/omen/internal/tlsfiles"
)

// HTTPClientConfig is how omen connects to a Prometheus server (a
// prometheus entry) or an Alertmanager (an alerting.alertmanagers entry):
// TLS with a private CA and a client certificate, and credentials, with
// the keys of Prometheus's own configuration. The zero value connects as
// before: the system's CAs, no client certificate, credentials only in
// the URL. It is applied with github.com/prometheus/common/config, which
// reads the credentials files at every request and the CA, certificate
// and key files again when they change: rotating one needs no reload. A
// relative path is resolved against the working directory, as model.file
// (Prometheus resolves them against its configuration file's directory).
type HTTPClientConfig struct {
	TLSConfig     TLSConfig     `yaml:"tls_config"`
	BasicAuth     BasicAuth     `yaml:"basic_auth"`
	Authorization Authorization `yaml:"authorization"`
}

// TLSConfig configures TLS to the server, as Prometheus's tls_config.
type TLSConfig struct {
	// CAFile holds the PEM certificates of the CAs the server's
	// certificate is checked against, instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the client certificate (PEM) and its key
	// presented to a server that asks for one; both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name the server's certificate must hold, when it
	// is not the URL's host (SNI too).
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify accepts any server certificate: for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// BasicAuth configures HTTP basic authentication, as Prometheus's
// basic_auth: a username and at most one of password and password_file.
type BasicAuth struct {
	Username string `yaml:"username"`
	// Password in the configuration file: prefer PasswordFile.
	Password Secret `yaml:"password"`
	// PasswordFile holds the password (whitespace around it, a trailing
	// newline, is not part of it); it is read at every request.
	PasswordFile string `yaml:"password_file"`
}

// Authorization sends an Authorization header of Type (default Bearer)
// and credentials, as Prometheus's authorization: exactly one of
// Credentials and CredentialsFile.
type Authorization struct {
	Type string `yaml:"type"`
	// Credentials in the configuration file: prefer CredentialsFile.
	Credentials Secret `yaml:"credentials"`
	// CredentialsFile holds the credentials (a token; whitespace around
	// it is not part of it), read at every request.
	CredentialsFile string `yaml:"credentials_file"`
}

// Secret is a password or token given in the configuration file: it
// prints as xxxxx, as passwords in URLs are shown.
type Secret string

// String returns xxxxx for a set secret, "" for an empty one.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "xxxxx"
}

// GoString is String: %#v shows no secret either.
func (s Secret) GoString() string { return s.String() }

// IsZero reports whether h sets nothing: the connection is made as
// without it.
func (h HTTPClientConfig) IsZero() bool { return h == HTTPClientConfig{} }

// keyError is a problem of a key of an HTTPClientConfig (its path below
// the entry: tls_config, ca_file).
type keyError struct {
	key []any
	msg string
}

// problems returns h's problems for an entry of URL u: the keys given
// together that must not be, the ones missing their pair, tls_config on
// an http URL and credentials given in u's user information too. Load
// refuses them; the files are checked apart (fileProblems), as they
// depend on where omen runs.
func (h HTTPClientConfig) problems(u string) []keyError {
	var out []keyError
	add := func(msg string, key ...any) { out = append(out, keyError{key, msg}) }
	t := h.TLSConfig
	if t != (TLSConfig{}) {
		if pu, err := url.Parse(u); err == nil && pu.Scheme == "http" {
			add("tls_config is set but the url is http://: use https:// (the settings would not be used)", "tls_config")
		}
	}
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		add("tls_config.cert_file is set without tls_config.key_file: give both (the client certificate and its key) or neither", "tls_config", "cert_file")
	case t.KeyFile != "" && t.CertFile == "":
		add("tls_config.key_file is set without tls_config.cert_file: give both (the client certificate and its key) or neither", "tls_config", "key_file")
	}
	b := h.BasicAuth
	if b != (BasicAuth{}) {
		if b.Username == "" {
			add("basic_auth.username is empty", "basic_auth")
		}
		if b.Password != "" && b.PasswordFile != "" {
			add("basic_auth has both password and password_file: give one (password_file keeps the password out of the configuration)", "basic_auth", "password")
		}
	}
	a := h.Authorization
	if a != (Authorization{}) {
		if b != (BasicAuth{}) {
			add("basic_auth and authorization are both set: give one", "authorization")
		}
		if strings.EqualFold(strings.TrimSpace(a.Type), "basic") {
			add(`authorization.type "Basic": use basic_auth`, "authorization", "type")
		}
		switch {
		case a.Credentials != "" && a.CredentialsFile != "":
			add("authorization has both credentials and credentials_file: give one (credentials_file keeps them out of the configuration)", "authorization", "credentials")
		case a.Credentials == "" && a.CredentialsFile == "":
			add("authorization needs credentials_file (or credentials)", "authorization")
		}
	}
	if b != (BasicAuth{}) || a != (Authorization{}) {
		if pu, err := url.Parse(u); err == nil && pu.User != nil {
			add("url holds user information (user:password@) and basic_auth or authorization is set too: give the credentials once", "url")
		}
	}
	if len(out) == 0 {
		// What the library refuses beyond the above (none expected).
		c := h.common()
		if err := c.Validate(); err != nil {
			add("HTTP client settings: " + err.Error())
		}
	}
	return out
}

// fileProblems returns the problems of the files h names: one that does
// not read, a CA file without a PEM certificate, a certificate and key
// that are no pair. Each names its key and the file; none holds a file's
// content.
func (h HTTPClientConfig) fileProblems() []string {
	var out []string
	t := h.TLSConfig
	if t.CAFile != "" {
		switch err := tlsfiles.CheckCA(t.CAFile); {
		case errors.Is(err, tlsfiles.ErrNoCertificate):
			out = append(out, fmt.Sprintf("tls_config.ca_file %q holds no PEM certificate", t.CAFile))
		case err != nil:
			out = append(out, fmt.Sprintf("tls_config.ca_file %q: %v", t.CAFile, readError(err)))
		}
	}
	if t.CertFile != "" && t.KeyFile != "" {
		var pe *tlsfiles.KeyPairError
		if err := tlsfiles.CheckKeyPair(t.CertFile, t.KeyFile); errors.As(err, &pe) {
			if pe.CertErr != nil {
				out = append(out, fmt.Sprintf("tls_config.cert_file %q: %v", t.CertFile, readError(pe.CertErr)))
			}
			if pe.KeyErr != nil {
				out = append(out, fmt.Sprintf("tls_config.key_file %q: %v", t.KeyFile, readError(pe.KeyErr)))
			}
			if pe.PairErr != nil {
				out = append(out, fmt.Sprintf("tls_config.cert_file %q and key_file %q are no certificate and key pair: %v", t.CertFile, t.KeyFile, pe.PairErr))
			}
		}
	}
	for _, f := range []struct{ key, file string }{
		{"basic_auth.password_file", h.BasicAuth.PasswordFile},
		{"authorization.credentials_file", h.Authorization.CredentialsFile},
	} {
		if f.file == "" {
			continue
		}
		if _, err := os.ReadFile(f.file); err != nil {
			out = append(out, fmt.Sprintf("%s %q: %v", f.key, f.file, readError(err)))
		}
	}
	return out
}

// readError is err of reading a file without the file's name (the
// message names it, with its key).
func readError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check returns the errors Load gives for h, the connection settings of
// an entry of URL u, each prefixed with what (prometheus[0],
// alerting.alertmanagers[1]) and naming its key: a configuration not
// read by Load (App.Apply's) is checked with it.
func (h HTTPClientConfig) Check(what, u string) error {
	var errs []error
	for _, p := range h.problems(u) {
		errs = append(errs, fmt.Errorf("%s.%s", what, p.msg))
	}
	return errors.Join(errs...)
}

// CheckFiles returns an error for each file h names that does not read
// or does not parse (a CA file without a PEM certificate, a certificate
// and key that are no pair), prefixed with what and naming the key and
// the file. They depend on where omen runs, as model.file: Load does not
// read them; omen run and a reload refuse a configuration CheckFiles
// fails, and omen check config warns.
func (h HTTPClientConfig) CheckFiles(what string) error {
	var errs []error
	for _, msg := range h.fileProblems() {
		errs = append(errs, fmt.Errorf("%s.%s", what, msg))
	}
	return errors.Join(errs...)
}

// common returns h as Prometheus's client configuration: redirects are
// followed and the proxy environment variables (HTTP_PROXY, HTTPS_PROXY,
// NO_PROXY) honoured, as by the clients omen makes without it.
func (h HTTPClientConfig) common() commoncfg.HTTPClientConfig {
	c := commoncfg.HTTPClientConfig{
		TLSConfig: commoncfg.TLSConfig{
			CAFile: h.TLSConfig.CAFile, CertFile: h.TLSConfig.CertFile, KeyFile: h.TLSConfig.KeyFile,
			ServerName: h.TLSConfig.ServerName, InsecureSkipVerify: h.TLSConfig.InsecureSkipVerify,
		},
		FollowRedirects: true,
		EnableHTTP2:     true,
		ProxyConfig:     commoncfg.ProxyConfig{ProxyFromEnvironment: true},
	}
	if b := h.BasicAuth; b != (BasicAuth{}) {
		c.BasicAuth = &commoncfg.BasicAuth{Username: b.Username, Password: commoncfg.Secret(b.Password), PasswordFile: b.PasswordFile}
	}
	if a := h.Authorization; a != (Authorization{}) {
		typ := strings.TrimSpace(a.Type)
		if typ == "" {
			typ = "Bearer"
		}
		c.Authorization = &commoncfg.Authorization{Type: typ, Credentials: commoncfg.Secret(a.Credentials), CredentialsFile: a.CredentialsFile}
	}
	return c
}

// RoundTripper returns the HTTP transport h configures; name (no secret
// in it) labels its connections in the library's own metrics, which omen
// does not serve. It reads the CA, certificate and key files. The zero h
// gets plainRoundTripper: a connection as without settings, its errors
// worded alike.
func (h HTTPClientConfig) RoundTripper(name string) (http.RoundTripper, error) {
	if h.IsZero() {
		return plainRoundTripper(), nil
	}
	rt, err := commoncfg.NewRoundTripperFromConfig(h.common(), name)
	if err != nil {
		return nil, fmt.Errorf("HTTP client settings: %w", err)
	}
	return httptransport.Explain(rt, h.TLSConfig.CAFile), nil
}

// plainRoundTripper is the transport of a server without client
// settings: httptransport.Prometheus (client_golang's
// api.DefaultRoundTripper: the system's CAs, the proxy from the
// environment, gzip-compressed answers, HTTP/1.1), as omen's clients
// without settings used, its errors worded by httptransport.Explain. (The
// library's transport of zero settings asks for no compression and
// negotiates HTTP/2.)
func plainRoundTripper() http.RoundTripper {
	return httptransport.Explain(httptransport.Prometheus(), "")
}

// Client is an http.Client with RoundTripper's transport.
func (h HTTPClientConfig) Client(name string) (*http.Client, error) {
	rt, err := h.RoundTripper(name)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: rt}, nil
}

// prometheusOnlyKeys are keys of Prometheus's HTTP client configuration
// that omen does not take.
var prometheusOnlyKeys = []string{"bearer_token", "bearer_token_file", "oauth2", "proxy_url", "no_proxy",
	"proxy_from_environment", "proxy_connect_header", "follow_redirects", "enable_http2", "http_headers"}

// LoadHTTPClientConfigFile reads the file at path, in the format of
// Prometheus's HTTP client configuration (promtool's --http.config.file):
// the tls_config, basic_auth and authorization keys of a prometheus
// entry, for the server at URL u. It refuses what Load refuses of an
// entry's keys, at their lines, an empty file, and the files it names
// that CheckFiles refuses. A relative path in it is resolved against the
// file's directory, as promtool does. No error holds a secret.
func LoadHTTPClientConfigFile(path, u string) (HTTPClientConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return HTTPClientConfig{}, fmt.Errorf("read %q: %w", path, readError(err))
	}
	var h HTTPClientConfig
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // positions only; decodeStrict reports syntax errors
	if err := decodeStrict(path, data, &h, &root); err != nil {
		errs := Unjoin(err)
		for i, e := range errs {
			var ce *Error
			if !errors.As(e, &ce) {
				continue
			}
			for _, k := range prometheusOnlyKeys {
				if ce.unknownKey == k {
					errs[i] = &Error{File: ce.File, Line: ce.Line, Column: ce.Column,
						Msg: k + " is a key of Prometheus's HTTP client configuration that omen does not take: it takes tls_config, basic_auth and authorization"}
				}
			}
		}
		return HTTPClientConfig{}, errors.Join(errs...)
	}
	if h.IsZero() {
		return HTTPClientConfig{}, &Error{File: path, Msg: "no tls_config, basic_auth or authorization in it"}
	}
	var errs []error
	for _, p := range h.problems(u) {
		e := &Error{File: path, Msg: p.msg}
		if len(p.key) > 0 && p.key[0] != "url" { // the URL is not the file's
			e.Line, e.Column = position(&root, p.key)
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		return HTTPClientConfig{}, errors.Join(errs...)
	}
	dir := filepath.Dir(path)
	for _, f := range []*string{&h.TLSConfig.CAFile, &h.TLSConfig.CertFile, &h.TLSConfig.KeyFile,
		&h.BasicAuth.PasswordFile, &h.Authorization.CredentialsFile} {
		if *f != "" && !filepath.IsAbs(*f) {
			*f = filepath.Join(dir, *f)
		}
	}
	for _, msg := range h.fileProblems() {
		errs = append(errs, &Error{File: path, Msg: msg})
	}
	if len(errs) > 0 {
		return HTTPClientConfig{}, errors.Join(errs...)
	}
	return h, nil
}
