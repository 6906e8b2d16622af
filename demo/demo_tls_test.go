package demo

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/app"
	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/training"
)

// TestRunBannerScheme: the demo's first line names the web UI and the
// metrics with https when the web server serves TLS; it printed http://,
// which the HTTPS server answers 400 (docs-walkthrough reviewer).
func TestRunBannerScheme(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testenv.WriteCert(t, certFile, keyFile, "omen")
	for _, tc := range []struct {
		name      string
		cert, key string
		scheme    string
	}{
		{"plain", "", "", "http://"},
		{"tls", certFile, keyFile, "https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			out := &cancelWriter{at: "simulated fleet:", cancel: cancel}
			err := Run(ctx, Options{
				Seed: 1, History: 3 * time.Hour, Live: time.Hour, Out: out,
				Train: training.TrainOptions{Epochs: 1, Hidden: 4},
				App: app.Options{ListenAddress: "127.0.0.1:0", NATSListenAddress: "127.0.0.1:0", StoragePath: t.TempDir(),
					TLSCertFile: tc.cert, TLSKeyFile: tc.key, Logger: slog.New(slog.DiscardHandler)},
			})
			if err != nil {
				t.Fatalf("Run = %v, output:\n%s", err, out)
			}
			first, _, _ := strings.Cut(out.String(), "\n")
			if !strings.HasPrefix(first, "omen demo: web UI "+tc.scheme+"127.0.0.1:") ||
				!strings.Contains(first, "metrics "+tc.scheme+"127.0.0.1:") {
				t.Fatalf("first line %q, want the web UI and metrics under %s", first, tc.scheme)
			}
		})
	}
}
