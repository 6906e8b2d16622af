package app

import (
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/testenv"
)

// TestAlertmanagerUntrustedCAWithoutSettings: an alerting.alertmanagers
// entry without tls_config, basic_auth or authorization whose
// Alertmanager's certificate a private CA issued (not one of the
// system's) fails its check with an error naming the certificate, its
// issuer and what it was checked against, as a prometheus entry without
// settings does (TestPollerUntrustedCAWithoutSettings); it gave the bare
// "x509: certificate signed by unknown authority" (the alert pipeline's
// default client). Real Alertmanager 0.25 with TLS from the private CA.
func TestAlertmanagerUntrustedCAWithoutSettings(t *testing.T) {
	sw := testenv.NewSecuredWeb(t, t.TempDir(), "omen-test-private-ca", "127.0.0.1", "omen", "omen", "r1ght-pw")
	am := testenv.AlertmanagerWeb(t, sw.Web)
	cfg := testConfig(t)
	cfg.Alerting.Alertmanagers = []config.AlertmanagerConfig{{URL: am}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	logs := &testenv.SyncBuffer{}
	startApp(t, t.TempDir(), func(o *Options) {
		o.Config = cfg
		o.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(os.Stderr, logs), &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	var line string
	waitFor(t, "the Alertmanager's check", 30*time.Second, func() bool {
		for l := range strings.Lines(logs.String()) {
			if strings.Contains(l, "alertmanager check failed") {
				line = l
				return true
			}
		}
		return false
	})
	for _, want := range []string{"certificate signed by unknown authority", `the server's certificate \"CN=127.0.0.1\"`,
		`issued by \"CN=omen-test-private-ca\"`, "checked against the system's CAs"} {
		if !strings.Contains(line, want) {
			t.Errorf("check's WARN lacks %q: %s", want, line)
		}
	}
}
