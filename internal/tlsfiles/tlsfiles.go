package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
)

// ErrNoCertificate is CheckCA's error for a file that reads but holds no
// PEM certificate (empty, or something else).
var ErrNoCertificate = errors.New("no PEM certificate")

// CheckCA reads the CA file at path and refuses one without a PEM
// certificate: its error is the read's (an *fs.PathError, naming path)
// or ErrNoCertificate.
func CheckCA(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return ErrNoCertificate
	}
	return nil
}

// KeyPairError is CheckKeyPair's error. Its message is that of the first
// of CertErr, KeyErr and PairErr set, as tls.LoadX509KeyPair's.
type KeyPairError struct {
	// CertErr and KeyErr are the errors reading the certificate and the
	// key file (an *fs.PathError, naming the file); nil for a file read.
	CertErr, KeyErr error
	// PairErr is tls.X509KeyPair's, when both files read: they are no
	// PEM certificate and its key.
	PairErr error
}

func (e *KeyPairError) Error() string { return e.first().Error() }

// Unwrap returns the errors set.
func (e *KeyPairError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.CertErr, e.KeyErr, e.PairErr} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

func (e *KeyPairError) first() error {
	switch {
	case e.CertErr != nil:
		return e.CertErr
	case e.KeyErr != nil:
		return e.KeyErr
	default:
		return e.PairErr
	}
}

// CheckKeyPair reads the client certificate and key files and refuses
// them, with a *KeyPairError, when either does not read or they are no
// certificate and its key.
func CheckKeyPair(certFile, keyFile string) error {
	certPEM, cerr := os.ReadFile(certFile)
	keyPEM, kerr := os.ReadFile(keyFile)
	if cerr != nil || kerr != nil {
		return &KeyPairError{CertErr: cerr, KeyErr: kerr}
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return &KeyPairError{PairErr: err}
	}
	return nil
}
