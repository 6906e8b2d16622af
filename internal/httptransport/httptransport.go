package httptransport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	promapi "github.com/prometheus/client_golang/api"

	"github.com/omen-sre/omen/internal/clientsettings"
)

// Prometheus returns a clone of client_golang's api.DefaultRoundTripper
// (the system's CAs, the proxy from the environment, gzip-compressed
// answers, HTTP/1.1), the transport omen's Prometheus clients without
// client settings use. A clone: closing its idle connections closes no
// other client's.
func Prometheus() http.RoundTripper {
	rt := promapi.DefaultRoundTripper
	if t, ok := rt.(*http.Transport); ok {
		rt = t.Clone()
	}
	return rt
}

// Explain returns rt with two of its errors worded better: a server
// certificate that does not verify gets the certificate's subject and
// issuer, and, when its authority is unknown, what it was checked
// against, the CAs of caFile (a tls_config.ca_file) or, when caFile is
// "", the system's (Go's says "certificate signed by unknown authority"
// alone), when it expired, its NotAfter (its NotBefore when not yet
// valid); a failure of
// github.com/prometheus/common/config's transport to read or use its
// settings' files (a password_file moved away) becomes a
// clientsettings.Error, which says it is omen's settings, not the
// server, that fail. Its CloseIdleConnections closes rt's.
func Explain(rt http.RoundTripper, caFile string) http.RoundTripper {
	return errorTransport{rt: rt, caFile: caFile}
}

// IsCertificate reports whether err holds a server certificate that did
// not verify (an unknown authority, another host's name, an expired
// certificate): the client's or the server's configuration, not a
// transient failure.
func IsCertificate(err error) bool {
	return errors.As(err, new(*tls.CertificateVerificationError))
}

// errorTransport is Explain's transport.
type errorTransport struct {
	rt     http.RoundTripper
	caFile string
}

func (t errorTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	var ve *tls.CertificateVerificationError
	switch {
	case err == nil:
	case errors.As(err, &ve) && len(ve.UnverifiedCertificates) > 0:
		c := ve.UnverifiedCertificates[0]
		var why string
		var invalid x509.CertificateInvalidError
		switch {
		case errors.As(err, new(x509.UnknownAuthorityError)):
			why = ", checked against the system's CAs"
			if t.caFile != "" {
				why = fmt.Sprintf(", checked against the CAs of tls_config.ca_file %q", t.caFile)
			}
		case errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil:
			// Reason Expired is also a certificate not yet valid.
			if time.Now().Before(invalid.Cert.NotBefore) {
				why = ", valid from " + invalid.Cert.NotBefore.UTC().Format(time.RFC3339)
			} else {
				why = ", expired at " + invalid.Cert.NotAfter.UTC().Format(time.RFC3339)
			}
		}
		err = fmt.Errorf("%w (the server's certificate %q, issued by %q%s)", err, c.Subject.String(), c.Issuer.String(), why)
	case clientsettings.FromLibrary(err):
		err = &clientsettings.Error{Err: err}
	}
	return resp, err
}

// CloseIdleConnections closes the transport's idle connections.
func (t errorTransport) CloseIdleConnections() {
	if c, ok := t.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
