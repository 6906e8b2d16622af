package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// TLSOptions configure NewTLSConfig.
type TLSOptions struct {
	// CertFile and KeyFile hold the certificate and key (PEM). Required.
	CertFile, KeyFile string
	// Logger receives a warning when a changed pair fails to load, and an
	// info line when one is reloaded (default: discard).
	Logger *slog.Logger
	// Registerer receives omen_web_tls_reload_failures_total (default:
	// none registered).
	Registerer prometheus.Registerer
}

// TLSConfig returns NewTLSConfig's configuration for certFile and keyFile,
// without a logger or metrics.
func TLSConfig(certFile, keyFile string) (*tls.Config, error) {
	return NewTLSConfig(TLSOptions{CertFile: certFile, KeyFile: keyFile})
}

// NewTLSConfig returns a server TLS configuration (TLS 1.2 or later)
// serving the certificate and key in o.CertFile and o.KeyFile (PEM). The
// pair is loaded now, so a bad pair is reported at start-up, and reloaded
// on a handshake when either file's modification time has changed
// (certificate rotation without a restart). A pair that fails to reload
// (a certificate that does not match the key, a file half written) keeps
// the previous one; it is logged as a warning and counted in
// omen_web_tls_reload_failures_total once per change of the files, and
// retried at the next handshake a second later or more.
func NewTLSConfig(o TLSOptions) (*tls.Config, error) {
	if o.CertFile == "" || o.KeyFile == "" {
		return nil, errors.New("tls: both a certificate file and a key file are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	r := &certReloader{certFile: o.CertFile, keyFile: o.KeyFile, logger: o.Logger}
	if err := r.load(); err != nil {
		return nil, err
	}
	r.failures = promauto.With(o.Registerer).NewCounter(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "web", Name: "tls_reload_failures_total",
		Help: "Changes of the TLS certificate or key file that failed to load (the previous pair is served), once per change.",
	})
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
	}, nil
}

type certReloader struct {
	certFile, keyFile string
	logger            *slog.Logger
	failures          prometheus.Counter

	mu       sync.Mutex
	cert     *tls.Certificate
	modCert  time.Time
	modKey   time.Time
	lastStat time.Time
	// failCert and failKey are the modification times of the last pair
	// that failed to load, reported once.
	failCert, failKey time.Time
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
			if err := r.load(); err != nil {
				// The previous pair is kept. Reported once per change:
				// the reload is retried at every handshake (a file
				// still being written loads a second later).
				if !mc.Equal(r.failCert) || !mk.Equal(r.failKey) {
					r.failCert, r.failKey = mc, mk
					r.failures.Inc()
					r.logger.Warn("TLS certificate changed but does not load: serving the previous one", "err", err)
				}
			} else {
				r.logger.Info("TLS certificate reloaded", "cert_file", r.certFile, "key_file", r.keyFile)
			}
		}
	}
	return r.cert, nil
}
