package app

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestStartChecksWebFilesFirst: an empty token file or a certificate that
// does not match its key was reported only after the store was opened and
// NATS connected (a durable consumer created on an external server). Start
// now refuses them before it creates anything: the storage path stays
// empty (no store, no embedded NATS data).
func TestStartChecksWebFilesFirst(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.WriteCert(t, certFile, keyFile, "omen")
	otherKey := filepath.Join(dir, "other-key.pem")
	testenv.WriteCert(t, filepath.Join(dir, "other-cert.pem"), otherKey, "omen")
	emptyToken := filepath.Join(dir, "token")
	if err := os.WriteFile(emptyToken, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mut  func(*Options)
		want string
	}{
		{"empty token file", func(o *Options) { o.TokenFile = emptyToken }, "is empty"},
		{"missing token file", func(o *Options) { o.TokenFile = filepath.Join(dir, "none") }, "read token file"},
		{"mismatched TLS pair", func(o *Options) { o.TLSCertFile, o.TLSKeyFile = certFile, otherKey }, "TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storage := filepath.Join(t.TempDir(), "data")
			o := Options{Config: testConfig(t), ListenAddress: "127.0.0.1:0", StoragePath: storage,
				NATSListenAddress: "127.0.0.1:0", Logger: slog.New(slog.DiscardHandler)}
			tc.mut(&o)
			a, err := New(o)
			if err != nil {
				t.Fatal(err)
			}
			err = a.Start(context.Background())
			if err == nil {
				_ = a.Stop(context.Background())
				t.Fatal("Start: no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Start: %v, want it to mention %q", err, tc.want)
			}
			if _, serr := os.Stat(storage); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("the storage path exists after the refused start (%v): the store or NATS started first", serr)
			}
		})
	}
}

// TestTLSHandshakeErrorsLogged: the HTTP server's own errors ("http: TLS
// handshake error from …") went to Go's default logger, in its format,
// amid the structured log. They go to the structured log now, at debug,
// with component=web.
func TestTLSHandshakeErrorsLogged(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.WriteCert(t, certFile, keyFile, "omen")
	var logs testenv.SyncBuffer
	a := startApp(t, filepath.Join(dir, "data"), func(o *Options) {
		o.TLSCertFile, o.TLSKeyFile = certFile, keyFile
		o.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	// Plain HTTP to the HTTPS port: a failed handshake.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	if resp, err := c.Get("http://" + a.Addr() + "/-/healthy"); err == nil {
		resp.Body.Close()
	}
	waitFor(t, "the handshake error in the structured log", 10*time.Second, func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "TLS handshake error") && strings.Contains(l, "level=DEBUG") && strings.Contains(l, "component=web") {
				return true
			}
		}
		return false
	})
}

// TestServerErrorLogLevels: the HTTP server's errors other than TLS
// handshakes (a handler's panic, accept errors) are logged at error; all
// went to debug, below the default level, so a handler's panic left no
// trace (code reviewer's finding).
func TestServerErrorLogLevels(t *testing.T) {
	var logs testenv.SyncBuffer
	l := slog.NewLogLogger(serverErrorHandler{slog.NewTextHandler(&logs, nil)}, slog.LevelError) // info and above, as --log.level's default
	l.Printf("http: TLS handshake error from 127.0.0.1:5: EOF")
	l.Printf("http: panic serving 127.0.0.1:6: boom\ngoroutine 1 [running]:")
	l.Printf("http: Accept error: too many open files; retrying in 5ms")
	out := logs.String()
	if strings.Contains(out, "TLS handshake") || !strings.Contains(out, `level=ERROR msg="http: panic serving 127.0.0.1:6: boom\ngoroutine 1 [running]:"`) ||
		!strings.Contains(out, "level=ERROR msg=\"http: Accept error") {
		t.Fatalf("logged:\n%s\nwant the panic and the accept error at error, the handshake below info", out)
	}
}
