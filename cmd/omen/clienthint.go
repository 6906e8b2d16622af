package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/omen-sre/omen/internal/redact"
)

// checkAPIURL returns an error when s is not the base URL of omen's API,
// which the client appends /api/v1/… to: not http(s) or without a host
// (localhost:9464 parses as the scheme "localhost"), with a query or a
// fragment (the client's paths would land in them), or with a path
// holding /api/v1 (http://HOST:9464/api/v1 doubled it: omen answered
// "no API route GET /api/v1/api/v1/…"). A path itself is accepted (omen
// behind a reverse proxy). The error shows s with its secrets hidden
// (redact.URL) and the form to give.
func checkAPIURL(s string) error {
	const form = "give the base URL of omen's API, http(s)://HOST:PORT (its --web.listen-address, e.g. http://127.0.0.1:9464), with the path a reverse proxy serves it under, if any"
	u, err := url.Parse(s)
	switch {
	case s == "":
		return fmt.Errorf("empty: %s", form)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "":
		return fmt.Errorf("%q is not an http(s) URL: %s", redact.URL(s), form)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(s, "#"):
		return fmt.Errorf("%q has a query or a fragment: %s", redact.URL(s), form)
	}
	segs := strings.Split(u.Path, "/")
	for i := 0; i+1 < len(segs); i++ {
		if segs[i] == "api" && segs[i+1] == "v1" {
			base := *u
			base.Path, base.RawPath = strings.Join(segs[:i], "/"), ""
			return fmt.Errorf("%q holds the API's path /api/v1: give the base URL, %q (omen adds /api/v1/…)", redact.URL(s), redact.URL(base.String()))
		}
	}
	return nil
}

// hintTransport is the transport of the commands that call a daemon's
// API (clientFlags): an error that has a usual remedy says it — a
// certificate of an unknown authority names --ca-file, a refused
// connection names --url and that the daemon must be running.
type hintTransport struct {
	base   http.RoundTripper
	caFile string // the --ca-file given, or ""
}

// RoundTrip implements http.RoundTripper.
func (t hintTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, t.hint(err, req.URL.Host)
	}
	return resp, nil
}

// hint adds the remedy of err, if it has a usual one, to err.
func (t hintTransport) hint(err error, host string) error {
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	switch {
	case errors.As(err, &unknownCA) && t.caFile == "":
		return fmt.Errorf("%w (give --ca-file with the certificate of the daemon's CA)", err)
	case errors.As(err, &unknownCA):
		return fmt.Errorf("%w (--ca-file %s does not hold the certificate of the CA that signed the daemon's certificate)", err, t.caFile)
	case errors.As(err, &hostname):
		return fmt.Errorf("%w (give --url a host name the daemon's certificate names)", err)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w (nothing listens at %s: is omen running (omen run, omen demo)? --url gives its API address, its --web.listen-address)", err, host)
	}
	return err
}
