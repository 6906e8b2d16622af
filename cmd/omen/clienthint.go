package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"syscall"
)

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
