package httptransport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

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
// issuer and what it was checked against, the CAs of caFile (a
// tls_config.ca_file) or, when caFile is "", the system's (Go's says
// "certificate signed by unknown authority" alone); a failure of
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
		against := "the system's CAs"
		if t.caFile != "" {
			against = fmt.Sprintf("the CAs of tls_config.ca_file %q", t.caFile)
		}
		err = fmt.Errorf("%w (the server's certificate %q, issued by %q, checked against %s)", err, c.Subject.String(), c.Issuer.String(), against)
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
