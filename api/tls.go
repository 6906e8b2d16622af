package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// TLSConfig returns a server TLS configuration (TLS 1.2 or later) serving
// the certificate and key in certFile and keyFile (PEM). The pair is loaded
// now, so a bad pair is reported at start-up, and reloaded on a handshake
// when either file's modification time has changed (certificate rotation
// without a restart); a pair that fails to reload keeps the previous one.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("tls: both a certificate file and a key file are required")
	}
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
	}, nil
}

type certReloader struct {
	certFile, keyFile string

	mu       sync.Mutex
	cert     *tls.Certificate
	modCert  time.Time
	modKey   time.Time
	lastStat time.Time
}

func (r *certReloader) mtimes() (time.Time, time.Time, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("tls: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("tls: %w", err)
	}
	return c.ModTime(), k.ModTime(), nil
}

func (r *certReloader) load() error {
	mc, mk, err := r.mtimes()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: load key pair %q, %q: %w", r.certFile, r.keyFile, err)
	}
	r.cert, r.modCert, r.modKey = &cert, mc, mk
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastStat) >= time.Second {
		r.lastStat = now
		if mc, mk, err := r.mtimes(); err == nil && (!mc.Equal(r.modCert) || !mk.Equal(r.modKey)) {
			_ = r.load() // keep the previous pair on error
		}
	}
	return r.cert, nil
}
